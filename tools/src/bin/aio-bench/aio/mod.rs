//! Everything aio-bench asks of rawaio, in one place: buffers, opening for direct I/O,
//! and the three engines built on it (a [`Context`](rawaio::Context) per thread, a
//! [`FixedContext`](rawaio::FixedContext) per thread, and the
//! [`AsyncContext`](rawaio::AsyncContext) on a minimal executor). When rawaio's API
//! changes, this module is the one to adapt.

mod async_engine;
mod context;
mod fixed;

pub use async_engine::{AsyncEngine, PollReactor};
pub use context::RawaioEngine;
pub use fixed::{Awaited, FixedEngine};

use crate::engine::Dir;
use rawaio::{AlignedBuf, Completion, Errno, Op};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::time::Duration;

/// The buffer every engine uses: heap memory aligned for direct I/O.
pub type Buf = AlignedBuf;

/// The longest wait for a completion before a run is declared stuck.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// `count` buffers of `bs` bytes aligned to `align`.
pub fn alloc_bufs(count: usize, bs: usize, align: usize) -> Result<Vec<Buf>, String> {
    (0..count)
        .map(|_| AlignedBuf::new(bs, align))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("allocating {count} buffers of {bs} bytes: {e}"))
}

/// A file opened with `O_DIRECT`, and the alignments its requests must follow.
pub struct DirectFile {
    pub file: File,
    /// Of buffer addresses, in bytes.
    pub memory: usize,
    /// Of offsets and lengths, in bytes.
    pub offset: usize,
}

/// Opens `path` with `options` plus `O_DIRECT`. `Err` with
/// [`InvalidInput`](io::ErrorKind::InvalidInput) when the file system refuses
/// `O_DIRECT`. When the kernel does not report the file's alignment, assumes a page in
/// memory and 512 bytes in the file.
pub fn open_direct(path: &Path, options: &OpenOptions) -> io::Result<DirectFile> {
    let file = rawaio::direct::open_direct(path, &mut options.clone())?;
    let (memory, offset) =
        rawaio::direct::dio_align(&file).map_or((4096, 512), |a| (a.memory, a.offset));
    Ok(DirectFile {
        file,
        memory,
        offset,
    })
}

/// How many requests a `submit_batch` took. Full (EAGAIN), or a later request refused:
/// what was accepted counts, the rest is retried (and a lasting error reported) on the
/// next call.
fn accepted(submitted: &rawaio::Submitted) -> Result<usize, String> {
    match &submitted.error {
        None => Ok(submitted.accepted),
        Some(e) if e.errno() == Some(Errno::AGAIN) || submitted.accepted > 0 => {
            Ok(submitted.accepted)
        }
        Some(e) => Err(format!("io_submit: {e}")),
    }
}

/// The slots of a rawaio engine: one buffer each, which moves into the slot's [`Op`]
/// and comes back with its completion.
struct Slots<'f> {
    file: &'f File,
    /// `None` while the slot's request is queued or in flight.
    bufs: Vec<Option<Buf>>,
}

impl<'f> Slots<'f> {
    fn new(file: &'f File, qd: usize, bs: usize, align: usize) -> Result<Self, String> {
        Ok(Self {
            file,
            bufs: alloc_bufs(qd, bs, align)?.into_iter().map(Some).collect(),
        })
    }

    fn depth(&self) -> usize {
        self.bufs.len()
    }

    /// The buffer of a free slot.
    fn buf_mut(&mut self, slot: usize) -> &mut [u8] {
        self.bufs[slot]
            .as_mut()
            .expect("a free slot has its buffer")
    }

    /// The request for a free slot, which takes the slot's buffer.
    fn take_op(&mut self, slot: usize, offset: u64, dir: Dir) -> Op<'f, Buf> {
        let buf = self.bufs[slot].take().expect("a free slot has its buffer");
        match dir {
            Dir::Read => Op::read(self.file, buf, offset),
            Dir::Write => Op::write(self.file, buf, offset),
        }
    }

    /// Hands a completion's result and buffer to `done`, and the buffer back to its slot.
    fn complete(
        &mut self,
        slot: usize,
        completion: Completion<Buf>,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) {
        let result = completion.raw_result();
        let buf = completion
            .into_buf()
            .expect("reads and writes own a buffer");
        done(slot, result, &buf);
        self.bufs[slot] = Some(buf);
    }
}

/// Waits (up to [`TIMEOUT`]) until `fd` is readable; `Ok(false)` on the timeout.
fn wait_readable(fd: impl std::os::fd::AsFd) -> Result<bool, String> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let timeout = Timespec {
        tv_sec: TIMEOUT.as_secs() as _,
        tv_nsec: 0,
    };
    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::INTR) => {}
            Err(e) => return Err(format!("polling the eventfd: {e}")),
        }
    }
}
