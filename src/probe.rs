//! A feature probe: which AIO opcodes and which `RWF_*` flags the running kernel accepts
//! on a given file.
//!
//! Kernels and filesystems differ: `IOCB_CMD_POLL` arrived in Linux 4.18, each `RWF_*`
//! flag in its own release (see [`RwfFlags`]), and some flags depend on the file
//! (`RWF_NOWAIT` needs a filesystem that can avoid blocking, `RWF_ATOMIC` a device with
//! untorn writes, `RWF_DONTCACHE` a filesystem that implements it). Version numbers do
//! not tell; asking the kernel does.
//!
//! # Method
//!
//! On a private context of 8 events, [`probe_file`] submits one **zero-length** request
//! per opcode and per flag, waits for it, and classifies the answer as a [`Support`]:
//!
//! - `io_submit` accepted it, and it completed without error: [`Support::Supported`];
//! - `io_submit` refused it with `EINVAL` or `EOPNOTSUPP`, or it completed with
//!   `EOPNOTSUPP` (a filesystem may refuse a flag only when the I/O starts, as ext4 does
//!   for buffered `RWF_NOWAIT` writes): [`Support::Unsupported`];
//! - `io_submit` refused it with another error, such as `EBADF` for a write on a file
//!   opened read-only: [`Support::NotApplicable`], with the errno;
//! - it was accepted but completed with another error, or not within the timeout:
//!   [`Support::Unknown`], with the errno (`ETIMEDOUT` for the timeout).
//!
//! Each flag is probed alone, on a plain read and on a plain write (`PREAD`, `PWRITE`):
//! the kernel checks some flags per direction (`RWF_ATOMIC` is refused on reads).
//!
//! # Side effects
//!
//! None on the file's data or size: reads and writes are zero bytes long at offset 0
//! (vectored ones have a single zero-length buffer), so they transfer nothing; a
//! zero-length `RWF_APPEND` write appends nothing. The kernel returns from a zero-length
//! write before it updates the modification time; a zero-length read may update the
//! access time under the usual `relatime` rules (tmpfs does, ext4 does not; open with
//! `O_NOATIME` to avoid it). `POLL` only observes. `FSYNC` and `FDSYNC`
//! change no data either, but flush the file's dirty pages and metadata to stable storage
//! (durability only), which can take long on a busy disk: they are probed only when
//! [`ProbeOptions::sync`] is set.
//!
//! # Limits
//!
//! A zero-length request exercises the checks made at submission and the start of the
//! I/O path; a filesystem could still refuse a flag for a request of real length (for
//! instance `RWF_ATOMIC` with a size the device cannot write untorn). "Accepted" is not
//! "honoured" either: AIO accepts `RWF_HIPRI` and silently clears it, since no one polls
//! for AIO completions. A flag the running kernel knows but [`RwfFlags`] does not list
//! cannot be probed.
//!
//! # Examples
//!
//! ```
//! let features = rawaio::probe::probe_kernel()?;
//! println!("{features}");
//! if features.opcodes.poll.is_supported() {
//!     // IOCB_CMD_POLL is available (Linux 4.18+).
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # References
//!
//! - [io_submit(2)](https://man7.org/linux/man-pages/man2/io_submit.2.html), sections
//!   "aio_rw_flags" and "ERRORS"
//! - [preadv2(2)](https://man7.org/linux/man-pages/man2/preadv2.2.html), the `RWF_*`
//!   flags

use crate::eventfd::EventFd;
use crate::{AlignedBuf, Completion, Context, Error, Op, RwfFlags, Token};
use rawaio_abi::{
    IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC, IOCB_CMD_POLL, IOCB_CMD_PREAD, IOCB_CMD_PREADV,
    IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV,
};
use rustix::event::PollFlags;
use rustix::fs::OFlags;
use rustix::io::Errno;
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Events of the probe's private context: one request is in flight at a time.
const PROBE_EVENTS: u32 = 8;

/// Alignment of the (zero-length, never allocated) probe buffers: a page, which satisfies
/// the memory alignment of direct I/O on every common device.
const PROBE_ALIGN: usize = 4096;

/// What the kernel answered to one probe request.
///
/// # Examples
///
/// ```
/// use rawaio::Errno;
/// use rawaio::probe::Support;
///
/// assert!(Support::Supported.is_supported());
/// let refused = Support::Unsupported(Errno::OPNOTSUPP);
/// assert!(!refused.is_supported());
/// assert_eq!(refused.errno(), Some(Errno::OPNOTSUPP));
/// assert_eq!(refused.to_string(), "unsupported (EOPNOTSUPP)");
/// assert_eq!(Support::NotApplicable(Errno::BADF).to_string(), "not applicable (EBADF)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Support {
    /// `io_submit` accepted the request and it completed without error.
    Supported,
    /// The kernel or the file does not support it: `io_submit` refused it with `EINVAL`
    /// or `EOPNOTSUPP`, or it completed with `EOPNOTSUPP`.
    Unsupported(Errno),
    /// `io_submit` refused it with another error, which says nothing about support:
    /// `EBADF` for a read on a file not open for reading (or a write on one not open for
    /// writing), `EPERM` for `RWF_NOAPPEND` on an append-only inode, and so on.
    NotApplicable(Errno),
    /// `io_submit` accepted it, but it completed with an error other than `EOPNOTSUPP`,
    /// or not within [`ProbeOptions::timeout`] (`ETIMEDOUT`).
    Unknown(Errno),
}

impl Support {
    /// Whether the request was accepted and completed without error.
    ///
    /// # Examples
    ///
    /// ```
    /// use rawaio::probe::Support;
    /// assert!(Support::Supported.is_supported());
    /// assert!(!Support::NotApplicable(rawaio::Errno::BADF).is_supported());
    /// ```
    pub fn is_supported(self) -> bool {
        self == Self::Supported
    }

    /// The errno behind the answer; `None` for [`Supported`](Self::Supported).
    ///
    /// # Examples
    ///
    /// ```
    /// use rawaio::{Errno, probe::Support};
    /// assert_eq!(Support::Supported.errno(), None);
    /// assert_eq!(Support::Unknown(Errno::TIMEDOUT).errno(), Some(Errno::TIMEDOUT));
    /// ```
    pub fn errno(self) -> Option<Errno> {
        match self {
            Self::Supported => None,
            Self::Unsupported(e) | Self::NotApplicable(e) | Self::Unknown(e) => Some(e),
        }
    }
}

impl fmt::Display for Support {
    /// `supported`, `unsupported (EOPNOTSUPP)`, `not applicable (EBADF)` or
    /// `unknown (ETIMEDOUT)`; honours width and alignment (`{:<30}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match *self {
            Self::Supported => "supported".to_owned(),
            Self::Unsupported(e) => format!("unsupported ({})", ErrnoName(e)),
            Self::NotApplicable(e) => format!("not applicable ({})", ErrnoName(e)),
            Self::Unknown(e) => format!("unknown ({})", ErrnoName(e)),
        };
        f.pad(&text)
    }
}

/// An errno by its C name (`EOPNOTSUPP`), or `errno N` for one not in the table.
struct ErrnoName(Errno);

impl fmt::Display for ErrnoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            Errno::PERM => "EPERM",
            Errno::NOENT => "ENOENT",
            Errno::INTR => "EINTR",
            Errno::IO => "EIO",
            Errno::NXIO => "ENXIO",
            Errno::BADF => "EBADF",
            Errno::AGAIN => "EAGAIN",
            Errno::NOMEM => "ENOMEM",
            Errno::ACCESS => "EACCES",
            Errno::FAULT => "EFAULT",
            Errno::BUSY => "EBUSY",
            Errno::NODEV => "ENODEV",
            Errno::ISDIR => "EISDIR",
            Errno::INVAL => "EINVAL",
            Errno::NOTTY => "ENOTTY",
            Errno::FBIG => "EFBIG",
            Errno::NOSPC => "ENOSPC",
            Errno::SPIPE => "ESPIPE",
            Errno::ROFS => "EROFS",
            Errno::PIPE => "EPIPE",
            Errno::NOSYS => "ENOSYS",
            Errno::OPNOTSUPP => "EOPNOTSUPP",
            Errno::TIMEDOUT => "ETIMEDOUT",
            Errno::CANCELED => "ECANCELED",
            e => return write!(f, "errno {}", e.raw_os_error()),
        };
        f.write_str(name)
    }
}

/// The answer for each opcode.
///
/// # Examples
///
/// ```
/// use rawaio::abi::{IOCB_CMD_FSYNC, IOCB_CMD_PREAD};
/// use rawaio::probe::{probe_file, ProbeOptions};
///
/// let file = std::fs::File::open("Cargo.toml")?;
/// let opcodes = probe_file(&file, ProbeOptions::default())?.opcodes;
/// assert!(opcodes.pread.is_supported());
/// assert_eq!(opcodes.get(IOCB_CMD_PREAD), Some(opcodes.pread));
/// // Not probed without ProbeOptions::sync.
/// assert_eq!(opcodes.fsync, None);
/// assert_eq!(opcodes.get(IOCB_CMD_FSYNC), None);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Opcodes {
    /// `IOCB_CMD_PREAD`: a zero-length read at offset 0.
    pub pread: Support,
    /// `IOCB_CMD_PWRITE`: a zero-length write at offset 0.
    pub pwrite: Support,
    /// `IOCB_CMD_FSYNC`; `None` when not probed (see [`ProbeOptions::sync`]).
    pub fsync: Option<Support>,
    /// `IOCB_CMD_FDSYNC`; `None` when not probed (see [`ProbeOptions::sync`]).
    pub fdsync: Option<Support>,
    /// `IOCB_CMD_POLL` (Linux 4.18) for [`ProbeOptions::poll_events`].
    pub poll: Support,
    /// `IOCB_CMD_PREADV`: one zero-length buffer at offset 0.
    pub preadv: Support,
    /// `IOCB_CMD_PWRITEV`: one zero-length buffer at offset 0.
    pub pwritev: Support,
}

impl Opcodes {
    /// The answer for an `IOCB_CMD_*` opcode; `None` for one not probed (an unknown
    /// opcode, or `FSYNC`/`FDSYNC` without [`ProbeOptions::sync`]).
    ///
    /// # Examples
    ///
    /// See [`Opcodes`].
    pub fn get(&self, opcode: u16) -> Option<Support> {
        self.iter()
            .find(|&(_, code, _)| code == opcode)
            .and_then(|(_, _, support)| support)
    }

    /// Every opcode with its kernel name (`"PREAD"`), its `IOCB_CMD_*` value and its
    /// answer (`None` when not probed), in opcode order.
    ///
    /// # Examples
    ///
    /// ```
    /// use rawaio::probe::{probe_file, ProbeOptions};
    ///
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let features = probe_file(&file, ProbeOptions::default())?;
    /// for (name, opcode, support) in features.opcodes.iter() {
    ///     println!("{name} ({opcode}): {support:?}");
    /// }
    /// assert_eq!(features.opcodes.iter().count(), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u16, Option<Support>)> {
        [
            ("PREAD", IOCB_CMD_PREAD, Some(self.pread)),
            ("PWRITE", IOCB_CMD_PWRITE, Some(self.pwrite)),
            ("FSYNC", IOCB_CMD_FSYNC, self.fsync),
            ("FDSYNC", IOCB_CMD_FDSYNC, self.fdsync),
            ("POLL", IOCB_CMD_POLL, Some(self.poll)),
            ("PREADV", IOCB_CMD_PREADV, Some(self.preadv)),
            ("PWRITEV", IOCB_CMD_PWRITEV, Some(self.pwritev)),
        ]
        .into_iter()
    }
}

/// The answers for one `RWF_*` flag, on a read and on a write.
///
/// # Examples
///
/// ```
/// use rawaio::RwfFlags;
/// use rawaio::probe::{probe_file, ProbeOptions};
///
/// let file = std::fs::File::open("Cargo.toml")?;
/// let features = probe_file(&file, ProbeOptions::default())?;
/// let atomic = features.flag(RwfFlags::ATOMIC).unwrap();
/// // The kernel accepts RWF_ATOMIC on writes only.
/// assert!(!atomic.read.is_supported());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlagSupport {
    /// The flag, a single bit of [`RwfFlags`].
    pub flag: RwfFlags,
    /// Its answer on a zero-length `PREAD`.
    pub read: Support,
    /// Its answer on a zero-length `PWRITE`.
    pub write: Support,
}

/// What [`probe_file`] or [`probe_kernel`] found.
///
/// `Display` prints a table; `Debug` the fields.
///
/// # Examples
///
/// ```
/// use rawaio::RwfFlags;
/// use rawaio::probe::{probe_file, ProbeOptions};
///
/// let file = std::fs::File::open("Cargo.toml")?;
/// let features = probe_file(&file, ProbeOptions::default())?;
/// print!("{features}");
/// assert!(!features.direct);
/// assert!(features.opcodes.pread.is_supported());
/// // Opened read-only: writes are not applicable, so no write flag counts as supported.
/// assert_eq!(features.write_flags, RwfFlags::empty());
/// assert_eq!(features.flags.len(), RwfFlags::all().iter().count());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Features {
    /// The answer for each opcode.
    pub opcodes: Opcodes,
    /// The flags a zero-length read accepted (each probed alone): those whose
    /// [`FlagSupport::read`] is [`Support::Supported`].
    pub read_flags: RwfFlags,
    /// The flags a zero-length write accepted (each probed alone): those whose
    /// [`FlagSupport::write`] is [`Support::Supported`].
    pub write_flags: RwfFlags,
    /// The detailed answer for every flag of [`RwfFlags`], in bit order.
    pub flags: Vec<FlagSupport>,
    /// Whether the probed file was open with `O_DIRECT`, on which several answers
    /// depend (ext4 accepts `RWF_NOWAIT` writes only with `O_DIRECT`, for instance).
    pub direct: bool,
}

impl Features {
    /// The answers for `flag`; `None` unless `flag` is a single bit of [`RwfFlags`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rawaio::RwfFlags;
    /// use rawaio::probe::{probe_file, ProbeOptions};
    ///
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let features = probe_file(&file, ProbeOptions::default())?;
    /// assert!(features.flag(RwfFlags::NOWAIT).is_some());
    /// assert!(features.flag(RwfFlags::DSYNC | RwfFlags::SYNC).is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn flag(&self, flag: RwfFlags) -> Option<FlagSupport> {
        self.flags.iter().find(|f| f.flag == flag).copied()
    }
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.direct { "O_DIRECT" } else { "buffered" };
        writeln!(f, "AIO opcodes ({mode}):")?;
        for (name, _, support) in self.opcodes.iter() {
            match support {
                Some(s) => writeln!(f, "  {name:<10} {s}")?,
                None => writeln!(f, "  {name:<10} not probed")?,
            }
        }
        writeln!(f, "RWF flags   {:<28} write", "read")?;
        for flag in &self.flags {
            let name = flag_name(flag.flag);
            writeln!(f, "  {name:<10} {:<28} {}", flag.read, flag.write)?;
        }
        Ok(())
    }
}

fn flag_name(flag: RwfFlags) -> &'static str {
    flag.iter_names().next().map_or("?", |(name, _)| name)
}

/// Options for [`probe_file`].
///
/// # Examples
///
/// ```
/// use rawaio::probe::ProbeOptions;
/// use std::time::Duration;
///
/// let options = ProbeOptions { sync: true, timeout: Duration::from_secs(1), ..Default::default() };
/// assert_eq!(options.poll_events, rawaio::PollFlags::IN | rawaio::PollFlags::OUT);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Also probe `FSYNC` and `FDSYNC` (default `false`). They change no data but flush
    /// the file's dirty data and metadata to stable storage, which may be slow.
    pub sync: bool,
    /// The events the `POLL` probe asks for (default `IN | OUT`). A regular file is
    /// always ready; on another file that is ready for none of them, the poll is
    /// cancelled after the timeout and still counts as supported.
    pub poll_events: PollFlags,
    /// How long to wait for each probe's completion (default 5 seconds).
    pub timeout: Duration,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            sync: false,
            poll_events: PollFlags::IN | PollFlags::OUT,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Probes which AIO opcodes and `RWF_*` flags the running kernel accepts on the open
/// file `fd`, with zero-length requests that change no data (see the
/// [module documentation](self) for the method and its limits).
///
/// The answers depend on the file, its filesystem and how it was opened: reads on a file
/// not open for reading, and writes on one not open for writing, are
/// [`NotApplicable`](Support::NotApplicable) (`EBADF`); open it read-write to learn
/// both. `O_DIRECT` changes what some filesystems accept (see [`Features::direct`]).
///
/// It uses a private context of 8 events and submits one request at a time; a probe
/// takes a few tens of milliseconds, most of it in `io_destroy`, which waits for an RCU
/// grace period. A request
/// still in flight after [`ProbeOptions::timeout`] (which a zero-length read or write
/// should never be) is reported as [`Unknown`](Support::Unknown)`(ETIMEDOUT)`; then the
/// private context is leaked rather than destroyed, since destroying it would wait for
/// that request.
///
/// # Errors
///
/// - `EAGAIN`: the system-wide AIO budget (`/proc/sys/fs/aio-max-nr`) is used up;
///   `ENOSYS`: the kernel has no native AIO.
/// - `EBADF` from `fcntl(F_GETFL)` when `fd` is not open.
/// - The errors of [`Context::reap`] while waiting (none are expected).
///
/// # Examples
///
/// ```
/// use rawaio::RwfFlags;
/// use rawaio::probe::{probe_file, ProbeOptions};
/// use std::fs::OpenOptions;
///
/// let path = std::env::temp_dir().join(format!("rawaio-probe-doc-{}", std::process::id()));
/// let file = OpenOptions::new().read(true).write(true).create(true).open(&path)?;
/// let features = probe_file(&file, ProbeOptions { sync: true, ..Default::default() })?;
/// std::fs::remove_file(&path)?;
/// assert!(features.opcodes.pwrite.is_supported());
/// assert!(features.opcodes.fsync.is_some_and(|s| s.is_supported()));
/// if features.write_flags.contains(RwfFlags::DSYNC) {
///     // Per-request O_DSYNC writes work here.
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # References
///
/// - [io_submit(2)](https://man7.org/linux/man-pages/man2/io_submit.2.html)
pub fn probe_file(fd: impl AsFd, options: ProbeOptions) -> io::Result<Features> {
    let fd = fd.as_fd();
    let direct = rustix::fs::fcntl_getfl(fd)?.contains(OFlags::DIRECT);
    let mut prober = Prober::new(options.timeout)?;
    let result = prober.probe_all(fd, options, direct);
    prober.finish();
    result
}

/// Probes what the running kernel accepts on a regular file: [`probe_file`], with
/// `FSYNC` and `FDSYNC`, on a new empty file opened read-write (without `O_DIRECT`) in
/// [`std::env::temp_dir`]; the file is unlinked as soon as it is open. `POLL` is probed
/// on an [`EventFd`] (ready for writing) rather than on the file, since a regular file
/// is always ready and does not exercise a real poll.
///
/// The flag answers are those of the filesystem holding the temporary directory: a flag
/// it refuses may still be known to the kernel (probe a file of interest with
/// [`probe_file`]).
///
/// # Errors
///
/// Those of [`probe_file`], of creating the temporary file (`EACCES`, `ENOSPC`, ...), of
/// removing it, and of creating the eventfd.
///
/// # Examples
///
/// ```
/// let features = rawaio::probe::probe_kernel()?;
/// assert!(features.opcodes.pread.is_supported());
/// assert!(features.opcodes.pwrite.is_supported());
/// print!("{features}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn probe_kernel() -> io::Result<Features> {
    let path = temp_path();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    let options = ProbeOptions {
        sync: true,
        poll_events: PollFlags::OUT,
        ..ProbeOptions::default()
    };
    let efd = EventFd::new()?;
    let mut prober = Prober::new(options.timeout)?;
    let result = prober
        .probe_all(file.as_fd(), options, false)
        .and_then(|mut features| {
            features.opcodes.poll = prober.run(Op::poll(&efd, PollFlags::OUT))?;
            Ok(features)
        });
    prober.finish();
    result
}

/// Whether the file system holding the directory `dir` accepts `O_DIRECT`: opens a new
/// file there with it (unlinked at once). tmpfs accepts it from Linux 6.6; most disk file
/// systems always have.
///
/// # Errors
///
/// Those of creating the file other than the `EINVAL` that means "no direct I/O here"
/// (`EACCES`, `ENOENT`, `ENOSPC`, ...), and of removing it.
///
/// # Examples
///
/// ```
/// let direct = rawaio::probe::direct_io_in("/dev/shm")?;
/// println!("tmpfs takes O_DIRECT: {direct}");
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "O_DIRECT")]
pub fn direct_io_in(dir: impl AsRef<Path>) -> io::Result<bool> {
    let path = temp_path_in(dir.as_ref());
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(OFlags::DIRECT.bits() as i32)
        .open(&path);
    match opened {
        Ok(file) => {
            std::fs::remove_file(&path)?;
            drop(file);
            Ok(true)
        }
        Err(e) if e.raw_os_error() == Some(Errno::INVAL.raw_os_error()) => {
            // Some file systems create the file before they refuse the flag.
            let _ = std::fs::remove_file(&path);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A fresh path in the temporary directory.
fn temp_path() -> PathBuf {
    temp_path_in(&std::env::temp_dir())
}

/// A fresh path in `dir`.
fn temp_path_in(dir: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    dir.join(format!(
        ".rawaio-probe-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A zero-length buffer: no allocation, a page-aligned address.
fn empty() -> AlignedBuf {
    AlignedBuf::new(0, PROBE_ALIGN).expect("a zero-length page-aligned layout is valid")
}

/// The private context and the completions reaped on it.
struct Prober {
    ctx: Context<AlignedBuf>,
    timeout: Duration,
    done: Vec<Completion<AlignedBuf>>,
}

impl Prober {
    fn new(timeout: Duration) -> io::Result<Self> {
        Ok(Self {
            ctx: Context::new(PROBE_EVENTS)?,
            timeout,
            done: Vec::new(),
        })
    }

    fn probe_all(
        &mut self,
        fd: BorrowedFd<'_>,
        options: ProbeOptions,
        direct: bool,
    ) -> io::Result<Features> {
        let pread = self.run(Op::read(fd, empty(), 0))?;
        let pwrite = self.run(Op::write(fd, empty(), 0))?;
        let (fsync, fdsync) = if options.sync {
            (
                Some(self.run(Op::fsync(fd))?),
                Some(self.run(Op::fdsync(fd))?),
            )
        } else {
            (None, None)
        };
        let poll = self.run(Op::poll(fd, options.poll_events))?;
        let preadv = self.run(Op::readv(fd, vec![empty()], 0))?;
        let pwritev = self.run(Op::writev(fd, vec![empty()], 0))?;
        let mut flags = Vec::new();
        let mut read_flags = RwfFlags::empty();
        let mut write_flags = RwfFlags::empty();
        for flag in RwfFlags::all().iter() {
            let read = self.run(Op::read(fd, empty(), 0).rw_flags(flag))?;
            let write = self.run(Op::write(fd, empty(), 0).rw_flags(flag))?;
            read_flags.set(flag, read.is_supported());
            write_flags.set(flag, write.is_supported());
            flags.push(FlagSupport { flag, read, write });
        }
        Ok(Features {
            opcodes: Opcodes {
                pread,
                pwrite,
                fsync,
                fdsync,
                poll,
                preadv,
                pwritev,
            },
            read_flags,
            write_flags,
            flags,
            direct,
        })
    }

    /// Submits one request, waits for it, and classifies the answer.
    fn run(&mut self, op: Op<'_, AlignedBuf>) -> io::Result<Support> {
        let token = match self.ctx.submit(op) {
            Ok(token) => token,
            Err(rejected) => {
                return match rejected.error {
                    Error::Os(e @ (Errno::INVAL | Errno::OPNOTSUPP)) => Ok(Support::Unsupported(e)),
                    Error::Os(e) => Ok(Support::NotApplicable(e)),
                    // rawaio's own checks refused a probe request: a bug here.
                    other => Err(other.into()),
                };
            }
        };
        let mut result = self.wait(token)?;
        if result.is_none() && self.ctx.cancel(token).is_ok() {
            // A poll that found nothing ready: cancelled, its completion follows.
            result = self.wait(token)?;
        }
        Ok(match result {
            Some(Ok(_)) => Support::Supported,
            Some(Err(Errno::OPNOTSUPP)) => Support::Unsupported(Errno::OPNOTSUPP),
            Some(Err(e)) => Support::Unknown(e),
            None => Support::Unknown(Errno::TIMEDOUT),
        })
    }

    /// Waits up to the timeout for `token`'s completion and returns its result.
    fn wait(&mut self, token: Token) -> io::Result<Option<Result<u64, Errno>>> {
        self.ctx
            .wait_all(&[token], Some(self.timeout), &mut self.done)?;
        let found = self.done.iter().position(|c| c.token() == token);
        let result = found.map(|i| self.done.swap_remove(i).result());
        // Completions of earlier, timed-out probes: nothing to learn from them now.
        self.done.clear();
        Ok(result)
    }

    /// Drops the context, or leaks it if a request is still in flight: destroying it
    /// would wait for that request, for ever perhaps.
    fn finish(self) {
        if self.ctx.in_flight() > 0 {
            std::mem::forget(self.ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_display_names_the_errno_and_pads() {
        assert_eq!(Support::Supported.to_string(), "supported");
        assert_eq!(
            Support::Unsupported(Errno::INVAL).to_string(),
            "unsupported (EINVAL)"
        );
        assert_eq!(
            Support::Unknown(Errno::TIMEDOUT).to_string(),
            "unknown (ETIMEDOUT)"
        );
        assert_eq!(
            Support::Unknown(Errno::from_raw_os_error(200)).to_string(),
            "unknown (errno 200)"
        );
        assert_eq!(format!("[{:<11}]", Support::Supported), "[supported  ]");
    }

    #[test]
    fn every_flag_has_a_name() {
        for flag in RwfFlags::all().iter() {
            assert_ne!(flag_name(flag), "?");
        }
        assert_eq!(flag_name(RwfFlags::NOWAIT), "NOWAIT");
    }

    #[test]
    fn opcodes_lookup() {
        let s = Support::Supported;
        let n = Support::Unsupported(Errno::INVAL);
        let ops = Opcodes {
            pread: s,
            pwrite: n,
            fsync: None,
            fdsync: Some(s),
            poll: n,
            preadv: s,
            pwritev: s,
        };
        assert_eq!(ops.get(IOCB_CMD_PWRITE), Some(n));
        assert_eq!(ops.get(IOCB_CMD_FSYNC), None);
        assert_eq!(ops.get(IOCB_CMD_FDSYNC), Some(s));
        assert_eq!(ops.get(6), None);
        assert_eq!(ops.get(99), None);
    }
}
