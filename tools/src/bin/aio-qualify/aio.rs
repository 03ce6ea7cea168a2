//! Everything aio-qualify asks of rawaio, in one place: single requests timed from
//! submission to completion, the alignment trials, the feature probe and the cost of a
//! context. When rawaio's API changes, this module is the one to adapt.
//!
//! # Safety
//!
//! One `unsafe` block: the alignment trials hand the kernel slices of one leaked,
//! page-aligned region at chosen misalignments, one trial at a time (see
//! [`TrialMemory`]).

#![allow(unsafe_code)]

use rawaio::probe::{Features, ProbeOptions, probe_file};
use rawaio::{AlignedBuf, Completion, Context, Errno, Op, RwfFlags};
use std::fs::File;
use std::io;
use std::time::{Duration, Instant};

/// The buffer of the timed requests: heap memory aligned for direct I/O.
pub type Buf = AlignedBuf;

/// How long one request may take before it counts as stuck.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A page-aligned buffer of `len` bytes (a multiple of 512).
pub fn buffer(len: usize) -> io::Result<Buf> {
    AlignedBuf::new(len, 4096).map_err(io::Error::other)
}

/// What became of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Completed, with this many bytes (or 0 for a sync).
    Done(u64),
    /// `io_submit` refused it with this error.
    Refused(Errno),
    /// It was accepted and completed with this error.
    Failed(Errno),
}

impl Outcome {
    /// The errno of a refused or failed request.
    pub fn errno(self) -> Option<Errno> {
        match self {
            Self::Done(_) => None,
            Self::Refused(e) | Self::Failed(e) => Some(e),
        }
    }
}

/// One request, timed.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Time spent inside `io_submit`.
    pub submit: Duration,
    /// From the call to `io_submit` until the completion was reaped: the service time.
    pub total: Duration,
    pub outcome: Outcome,
}

/// A request aio-qualify times.
pub enum Request<'f> {
    Read { file: &'f File, offset: u64 },
    Write { file: &'f File, offset: u64 },
    Fdsync { file: &'f File },
}

/// A private context on which requests run one at a time, so each one's service time is
/// its own.
pub struct Timer {
    ctx: Context<Buf>,
    done: Vec<Completion<Buf>>,
}

impl Timer {
    /// A context of 8 events.
    pub fn new() -> Result<Self, Errno> {
        Ok(Self {
            ctx: Context::new(8).map_err(errno_of)?,
            done: Vec::with_capacity(1),
        })
    }

    /// Submits `req` with `flags` (reads and writes carry `buf`), waits for it, and
    /// returns its timing and the buffer.
    pub fn time(
        &mut self,
        req: Request<'_>,
        buf: Buf,
        flags: RwfFlags,
    ) -> io::Result<(Timing, Buf)> {
        let (op, keep) = match req {
            Request::Read { file, offset } => (Op::read(file, buf, offset).rw_flags(flags), None),
            Request::Write { file, offset } => (Op::write(file, buf, offset).rw_flags(flags), None),
            Request::Fdsync { file } => (Op::fdsync(file), Some(buf)),
        };
        let start = Instant::now();
        let submitted = self.ctx.submit(op);
        let submit = start.elapsed();
        if let Err(rejected) = submitted {
            let errno = rejected.error.errno().unwrap_or(Errno::INVAL);
            let buf = keep
                .or_else(|| rejected.op.into_bufs().pop())
                .expect("a buffer");
            let timing = Timing {
                submit,
                total: submit,
                outcome: Outcome::Refused(errno),
            };
            return Ok((timing, buf));
        }
        let got = self.ctx.reap(1, 1, Some(TIMEOUT), &mut self.done)?;
        let total = start.elapsed();
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("a request did not complete within {TIMEOUT:?}"),
            ));
        }
        let completion = self.done.pop().expect("one completion");
        let outcome = match completion.result() {
            Ok(n) => Outcome::Done(n),
            Err(e) => Outcome::Failed(e),
        };
        let buf = keep.or_else(|| completion.into_buf()).expect("a buffer");
        Ok((
            Timing {
                submit,
                total,
                outcome,
            },
            buf,
        ))
    }
}

/// A leaked, page-aligned region from which the alignment trials take slices at chosen
/// misalignments. The kernel may write a trial's slice until its completion is reaped;
/// the region is never freed, so no slice can outlive it.
pub struct TrialMemory {
    base: *mut u8,
    len: usize,
    /// A trial did not complete: its slice may still be in use, so no more trials.
    stuck: bool,
    ctx: Context<&'static mut [u8]>,
    done: Vec<Completion<&'static mut [u8]>>,
}

impl TrialMemory {
    /// Room for trials of up to `max_len` bytes at any misalignment below a page.
    pub fn new(max_len: usize) -> io::Result<Self> {
        let len = max_len + 4096;
        let region: &'static mut [u8] = &mut *Box::leak(Box::new(buffer(len)?));
        Ok(Self {
            base: region.as_mut_ptr(),
            len,
            stuck: false,
            ctx: Context::new(8).map_err(errno_of)?,
            done: Vec::with_capacity(1),
        })
    }

    /// Reads `len` bytes at `offset` of `file` (open with `O_DIRECT`) into memory that
    /// starts `misalign` bytes past a page boundary; returns how it ended.
    pub fn read(
        &mut self,
        file: &File,
        offset: u64,
        len: usize,
        misalign: usize,
    ) -> io::Result<Outcome> {
        assert!(
            misalign < 4096 && misalign + len <= self.len,
            "within the region"
        );
        if self.stuck {
            return Err(io::Error::other(
                "an earlier alignment trial is still in flight",
            ));
        }
        // SAFETY: `base..base + self.len` is a leaked allocation, live for the rest of the
        // process and reached by nothing else; the range is within it (asserted). Trials
        // run one at a time: this slice is the only reference into the region until its
        // completion hands it back below (or, on a timeout, the context keeps it and is
        // leaked with it), so no two references to the region coexist.
        let slice: &'static mut [u8] =
            unsafe { std::slice::from_raw_parts_mut(self.base.add(misalign), len) };
        if let Err(rejected) = self.ctx.submit(Op::read(file, slice, offset)) {
            return Ok(Outcome::Refused(
                rejected.error.errno().unwrap_or(Errno::INVAL),
            ));
        }
        if self.ctx.reap(1, 1, Some(TIMEOUT), &mut self.done)? == 0 {
            self.stuck = true;
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "an alignment trial did not complete",
            ));
        }
        let completion = self.done.pop().expect("one completion");
        Ok(match completion.result() {
            Ok(n) => Outcome::Done(n),
            Err(e) => Outcome::Failed(e),
        })
    }
}

/// The alignment the kernel reports for direct I/O on `file` (`statx` `STATX_DIOALIGN`
/// or the device's logical block size): `(memory, offset)`.
pub fn reported_alignment(file: &File) -> Option<(usize, usize)> {
    rawaio::direct::dio_align(file)
        .ok()
        .map(|a| (a.memory, a.offset))
}

/// Opens `path` with `options` plus `O_DIRECT`; `Ok(None)` when the file system refuses
/// `O_DIRECT`.
pub fn open_direct(
    path: &std::path::Path,
    options: &std::fs::OpenOptions,
) -> io::Result<Option<File>> {
    match rawaio::direct::open_direct(path, &mut options.clone()) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(None),
        Err(e) => Err(e),
    }
}

/// Which opcodes and `RWF_*` flags the kernel accepts on `file` (rawaio's probe:
/// zero-length requests that change no data); `FSYNC` and `FDSYNC` too when `sync`.
pub fn probe(file: &File, sync: bool) -> io::Result<Features> {
    probe_file(
        file,
        ProbeOptions {
            sync,
            ..ProbeOptions::default()
        },
    )
}

/// The name of a single `RWF_*` flag (`NOWAIT`).
pub fn flag_name(flag: RwfFlags) -> &'static str {
    flag.iter_names().next().map_or("?", |(name, _)| name)
}

/// A context of `nr` events, held until dropped; its ring's size in events.
pub struct HeldContext {
    ctx: Context<Buf>,
}

impl HeldContext {
    /// `io_setup(nr)`.
    pub fn new(nr: u32) -> Result<Self, Errno> {
        Ok(Self {
            ctx: Context::new(nr).map_err(errno_of)?,
        })
    }

    /// The events of the completion ring the kernel made.
    pub fn ring_events(&self) -> u32 {
        self.ctx.ring_size()
    }
}

/// An errno by its C name (`EINVAL`), or `errno N`.
/// The errno of a failed `Context::new` (a spent budget is `EAGAIN`).
fn errno_of(e: rawaio::Error) -> Errno {
    e.errno().unwrap_or(Errno::INVAL)
}

pub fn errno_name(e: Errno) -> String {
    let name = match e {
        Errno::PERM => "EPERM",
        Errno::IO => "EIO",
        Errno::BADF => "EBADF",
        Errno::AGAIN => "EAGAIN",
        Errno::NOMEM => "ENOMEM",
        Errno::ACCESS => "EACCES",
        Errno::FAULT => "EFAULT",
        Errno::INVAL => "EINVAL",
        Errno::FBIG => "EFBIG",
        Errno::NOSPC => "ENOSPC",
        Errno::ROFS => "EROFS",
        Errno::NOSYS => "ENOSYS",
        Errno::OPNOTSUPP => "EOPNOTSUPP",
        Errno::TIMEDOUT => "ETIMEDOUT",
        Errno::INTR => "EINTR",
        _ => return format!("errno {}", e.raw_os_error()),
    };
    name.to_owned()
}

/// `Errno::AGAIN`, for the checks that count it.
pub const EAGAIN: Errno = Errno::AGAIN;
/// Refusals that mean "not supported here".
pub fn means_unsupported(e: Errno) -> bool {
    e == Errno::OPNOTSUPP || e == Errno::INVAL
}
