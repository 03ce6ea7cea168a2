//! What an [`AsyncContext`](super::AsyncContext) does about requests that would block
//! inside `io_submit`: the [`AsyncPolicy`], the counters of the path each request took
//! ([`AsyncStats`]), and the facts about a file the policy looks up when the kernel
//! refuses a request.

use crate::probe::Features;
use rawaio_abi::{IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV, RwfFlags};
use rustix::fs::{FileType, OFlags};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// How the reads (or the writes) of an [`AsyncContext`](crate::AsyncContext) are
/// submitted: see [`AsyncPolicy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RwMode {
    /// With `RWF_NOWAIT` added: the kernel refuses what would block, and the context
    /// finishes it elsewhere (waits for readiness through `IOCB_CMD_POLL`, or hands it to
    /// a helper thread). The default.
    Nowait,
    /// As given: `io_submit` runs the request in the calling thread, and waits there if
    /// the request has to (a buffered read of data not in the page cache, a read of an
    /// empty pipe). For programs that only do `O_DIRECT` I/O, whose requests queue to the
    /// device and return.
    AsGiven,
}

/// What an [`AsyncContext`](crate::AsyncContext) does about reads and writes that would
/// block inside `io_submit`, and so block the executor that polls its futures.
///
/// `io_submit` runs the start of each request in the calling thread, and for some
/// requests that start is the whole request (see
/// [`Context::submit`](crate::Context::submit)). Under the default policy
/// ([`AsyncPolicy::default`]), reads and writes go to the kernel with `RWF_NOWAIT`
/// ([`RwMode::Nowait`]), which makes a request that would wait fail at once instead
/// (`EAGAIN`, or `EOPNOTSUPP` where the file cannot tell), and the context finishes what
/// the kernel refused without blocking the caller:
///
/// | the file | refused with | then |
/// |---|---|---|
/// | a pipe, socket, character device, eventfd, timerfd | `EAGAIN` | waits for readiness with an `IOCB_CMD_POLL` on the same context, then retries |
/// | an `O_DIRECT` file, or a file on tmpfs or ramfs | `EOPNOTSUPP`; `EAGAIN` when pages of the range are cached (Linux 5.10) or dirty (later) | submitted again without `RWF_NOWAIT`: its I/O queues to the device or copies memory (after writing back the range's dirty pages) |
/// | any other regular file or block device | `EAGAIN`, `EOPNOTSUPP` | resubmitted without `RWF_NOWAIT` by a helper thread, on a context of its own |
///
/// A read or write that `RWF_NOWAIT` cuts short (a buffered read whose first pages are
/// cached and the rest not) is finished by a helper thread too, so the completion
/// reports the whole transfer, as without the flag; a short transfer on a pipe or socket,
/// or at the end of a file, is returned as is. Polls, `fsync` and `fdsync` never block
/// `io_submit` (the kernel runs a sync on a worker thread of its own) and go as given.
///
/// The kernel's answer is learnt per request: a descriptor number does not name the same
/// file for ever, so what one request taught is only used as a hint (to skip a
/// `RWF_NOWAIT` attempt a file refused before), checked against the file itself
/// (`fcntl`, `fstat`) before it is acted on.
///
/// # Examples
///
/// The default never blocks the executor; a program that only does `O_DIRECT` can turn
/// everything off and start no thread ever:
///
/// ```
/// use rawaio::{AsyncPolicy, RwMode};
///
/// let default = AsyncPolicy::default();
/// assert_eq!((default.reads, default.writes), (RwMode::Nowait, RwMode::Nowait));
/// assert_eq!(default.helper_threads, 4);
/// let direct_only = AsyncPolicy::as_given();
/// assert_eq!((direct_only.reads, direct_only.helper_threads), (RwMode::AsGiven, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AsyncPolicy {
    /// How reads (`PREAD`, `PREADV`) are submitted.
    pub reads: RwMode,
    /// How writes (`PWRITE`, `PWRITEV`) are submitted.
    pub writes: RwMode,
    /// The most helper threads the context starts (on demand; an idle one exits after
    /// a few seconds). With 0, a request only a helper could finish completes with the
    /// kernel's refusal (`EAGAIN` or `EOPNOTSUPP`) instead, for the program to handle.
    pub helper_threads: usize,
}

/// How long an idle helper thread waits for work before it exits.
pub(super) const HELPER_IDLE: std::time::Duration = std::time::Duration::from_secs(5);

impl Default for AsyncPolicy {
    /// `RWF_NOWAIT` on reads and writes, at most 4 helper threads: no request blocks the
    /// executor.
    fn default() -> Self {
        Self {
            reads: RwMode::Nowait,
            writes: RwMode::Nowait,
            helper_threads: 4,
        }
    }
}

impl AsyncPolicy {
    /// Every request submitted as given, no helper thread: the policy of a program that
    /// only does `O_DIRECT` (where `io_submit` queues and returns) and wants nothing in
    /// between, or that runs its executor where blocking is acceptable.
    pub const fn as_given() -> Self {
        Self {
            reads: RwMode::AsGiven,
            writes: RwMode::AsGiven,
            helper_threads: 0,
        }
    }

    /// The default policy, adjusted per direction to what [`probe`](crate::probe) found
    /// on a file: a direction whose `RWF_NOWAIT` requests the file refuses, on a file
    /// open with `O_DIRECT`, is submitted as given (the kernel would refuse every
    /// request, and direct I/O does not wait in `io_submit` but for block allocation and
    /// uncached metadata); every other direction keeps [`RwMode::Nowait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rawaio::{AsyncPolicy, RwMode};
    /// use rawaio::probe::{probe_file, ProbeOptions};
    ///
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let policy = AsyncPolicy::from_probe(&probe_file(&file, ProbeOptions::default())?);
    /// // A buffered file: whatever it refuses goes to the helper threads.
    /// assert_eq!((policy.reads, policy.writes), (RwMode::Nowait, RwMode::Nowait));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_probe(features: &Features) -> Self {
        let mode = |supported: bool| {
            if !supported && features.direct {
                RwMode::AsGiven
            } else {
                RwMode::Nowait
            }
        };
        let flag = features.flag(RwfFlags::NOWAIT);
        Self {
            reads: mode(flag.is_some_and(|f| f.read.is_supported())),
            writes: mode(flag.is_some_and(|f| f.write.is_supported())),
            ..Self::default()
        }
    }

    /// The mode for a request with `opcode`; `None` for a request that is not a read or
    /// a write (polls and syncs, always submitted as given).
    pub(super) fn mode(&self, opcode: u16) -> Option<(Dir, RwMode)> {
        match opcode {
            IOCB_CMD_PREAD | IOCB_CMD_PREADV => Some((Dir::Read, self.reads)),
            IOCB_CMD_PWRITE | IOCB_CMD_PWRITEV => Some((Dir::Write, self.writes)),
            _ => None,
        }
    }
}

/// A request's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dir {
    Read,
    Write,
}

impl Dir {
    fn bit(self) -> u32 {
        match self {
            Self::Read => 1,
            Self::Write => 2,
        }
    }
}

/// How many requests of an [`AsyncContext`](crate::AsyncContext) took each path, since
/// it was created ([`AsyncContext::stats`](crate::AsyncContext::stats)).
///
/// A request is counted once in [`nowait`](Self::nowait) or [`as_given`](Self::as_given)
/// when submitted, and once more in each path it then took; the paths are those of
/// [`AsyncPolicy`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AsyncStats {
    /// Reads and writes submitted with `RWF_NOWAIT` added by the policy.
    pub nowait: u64,
    /// Requests submitted as given: polls, syncs, requests that set `RWF_NOWAIT`
    /// themselves, and every read or write under [`RwMode::AsGiven`].
    pub as_given: u64,
    /// `RWF_NOWAIT` requests the kernel refused (`EAGAIN`, `EOPNOTSUPP`) or cut short.
    pub refused: u64,
    /// Refused requests submitted again without `RWF_NOWAIT` in the caller's thread:
    /// files that cannot take the flag but do not wait (`O_DIRECT`, tmpfs).
    pub inline: u64,
    /// Refused requests that waited for readiness (an internal `IOCB_CMD_POLL`) before
    /// they were retried: pipes, sockets, other pollable files.
    pub polled: u64,
    /// Requests handed to a helper thread.
    pub helper: u64,
    /// Of those, requests cut short by `RWF_NOWAIT` whose rest the helper transferred.
    pub continued: u64,
    /// Requests refused after `submit` had returned, whose descriptor the request only
    /// borrowed (so that it could not be resubmitted): they completed with the kernel's
    /// `EAGAIN`. Only `O_DIRECT` requests to some block devices are refused this late;
    /// an owned or shared descriptor (`File`, `Arc<File>`) lets the context retry them.
    pub late: u64,
    /// Requests that a helper would have finished, completed with the kernel's refusal
    /// because the policy has no helper threads ([`AsyncPolicy::helper_threads`] 0).
    pub unfinished: u64,
}

/// The counters behind [`AsyncStats`].
#[derive(Default)]
pub(super) struct Counters {
    pub(super) nowait: AtomicU64,
    pub(super) as_given: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) inline: AtomicU64,
    pub(super) polled: AtomicU64,
    pub(super) helper: AtomicU64,
    pub(super) continued: AtomicU64,
    pub(super) late: AtomicU64,
    pub(super) unfinished: AtomicU64,
}

impl Counters {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> AsyncStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AsyncStats {
            nowait: get(&self.nowait),
            as_given: get(&self.as_given),
            refused: get(&self.refused),
            inline: get(&self.inline),
            polled: get(&self.polled),
            helper: get(&self.helper),
            continued: get(&self.continued),
            late: get(&self.late),
            unfinished: get(&self.unfinished),
        }
    }
}

/// Descriptor numbers whose file refused `RWF_NOWAIT` with `EOPNOTSUPP` (or, `O_DIRECT`
/// and memory files, with `EAGAIN`), per direction:
/// a hint to classify the file before trying the flag again. Direct-mapped, lossy, and
/// never trusted on its own (the number may name another file by now).
pub(super) struct Hints {
    slots: [AtomicU32; 64],
}

impl Hints {
    pub(super) fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    fn key(fd: RawFd) -> Option<(usize, u32)> {
        let fd = u32::try_from(fd).ok()?;
        Some(((fd % 64) as usize, fd.wrapping_add(1) << 2))
    }

    /// Whether `fd`'s file refused `RWF_NOWAIT` in direction `dir` before.
    #[inline]
    pub(super) fn refuses(&self, fd: RawFd, dir: Dir) -> bool {
        let Some((slot, tag)) = Self::key(fd) else {
            return false;
        };
        let v = self.slots[slot].load(Ordering::Relaxed);
        v & !3 == tag && v & dir.bit() != 0
    }

    pub(super) fn learn(&self, fd: RawFd, dir: Dir) {
        if let Some((slot, tag)) = Self::key(fd) {
            let slot = &self.slots[slot];
            let v = slot.load(Ordering::Relaxed);
            let keep = if v & !3 == tag { v & 3 } else { 0 };
            slot.store(tag | keep | dir.bit(), Ordering::Relaxed);
        }
    }
}

/// What a file is, as far as the policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A regular file, of `size` bytes when classified.
    Regular { size: u64 },
    /// A block device.
    Block,
    /// A pipe, socket, character device, eventfd, timerfd...: has readiness to wait for.
    Pollable,
    /// A directory: the kernel's answer stands.
    Other,
}

/// `TMPFS_MAGIC` and `RAMFS_MAGIC` from `linux/magic.h`.
const MEMORY_FS: [u64; 2] = [0x0102_1994, 0x8584_58f6];

/// Whether the file is open with `O_DIRECT` (`fcntl(F_GETFL)`): its I/O does not wait in
/// `io_submit` even without `RWF_NOWAIT` (but for allocations and metadata).
pub(super) fn is_direct(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(rustix::fs::fcntl_getfl(fd)?.contains(OFlags::DIRECT))
}

/// What the file is (`fstat`).
pub(super) fn classify(fd: BorrowedFd<'_>) -> io::Result<Kind> {
    let st = rustix::fs::fstat(fd)?;
    Ok(match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Kind::Regular {
            size: st.st_size.max(0) as u64,
        },
        FileType::BlockDevice => Kind::Block,
        FileType::Directory => Kind::Other,
        // Pipes, sockets, character devices, and anonymous inodes (eventfd, timerfd,
        // signalfd: no file type bits).
        _ => Kind::Pollable,
    })
}

/// Whether I/O on a regular file or block device of `kind` does not wait in `io_submit`
/// even without `RWF_NOWAIT`: open with `O_DIRECT` (`fcntl`), or on a memory file system
/// (`fstatfs`).
pub(super) fn waits_for_nothing(fd: BorrowedFd<'_>, kind: Kind) -> bool {
    match kind {
        Kind::Regular { .. } | Kind::Block if is_direct(fd).unwrap_or(false) => true,
        Kind::Regular { .. } => rustix::fs::fstatfs(fd).is_ok_and(|fs| {
            #[allow(clippy::unnecessary_cast)] // the field's type differs by target
            let magic = fs.f_type as u64;
            MEMORY_FS.contains(&magic)
        }),
        _ => false,
    }
}

impl Kind {
    /// Whether a transfer cut short at file offset `end` is the whole answer (the end
    /// of a regular file, or a pipe's or socket's partial read), rather than the part
    /// `RWF_NOWAIT` allowed.
    pub(super) fn short_is_final(self, end: u64) -> bool {
        match self {
            Kind::Regular { size } => end >= size,
            Kind::Block => false,
            Kind::Pollable | Kind::Other => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(not(miri))]
    use std::os::fd::AsFd;

    #[test]
    fn hints_are_per_descriptor_and_direction_and_lossy() {
        let hints = Hints::new();
        assert!(!hints.refuses(5, Dir::Read));
        hints.learn(5, Dir::Write);
        assert!(hints.refuses(5, Dir::Write));
        assert!(!hints.refuses(5, Dir::Read));
        hints.learn(5, Dir::Read);
        assert!(hints.refuses(5, Dir::Read) && hints.refuses(5, Dir::Write));
        // 69 shares 5's slot: it evicts it.
        hints.learn(69, Dir::Read);
        assert!(hints.refuses(69, Dir::Read));
        assert!(!hints.refuses(5, Dir::Read) && !hints.refuses(69, Dir::Write));
        assert!(!hints.refuses(-1, Dir::Read));
        hints.learn(-1, Dir::Read);
    }

    #[test]
    fn modes_by_opcode() {
        let p = AsyncPolicy {
            writes: RwMode::AsGiven,
            ..AsyncPolicy::default()
        };
        assert_eq!(p.mode(IOCB_CMD_PREADV), Some((Dir::Read, RwMode::Nowait)));
        assert_eq!(p.mode(IOCB_CMD_PWRITE), Some((Dir::Write, RwMode::AsGiven)));
        assert_eq!(p.mode(rawaio_abi::IOCB_CMD_POLL), None);
        assert_eq!(p.mode(rawaio_abi::IOCB_CMD_FSYNC), None);
    }

    // The kernel answers these: not under Miri (see .ci/miri.sh).
    #[cfg(not(miri))]
    #[test]
    fn classification_of_common_files() {
        let (r, _w) = rustix::pipe::pipe().unwrap();
        assert_eq!(classify(r.as_fd()).unwrap(), Kind::Pollable);
        let null = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(classify(null.as_fd()).unwrap(), Kind::Pollable);
        let dir = std::fs::File::open("/").unwrap();
        assert_eq!(classify(dir.as_fd()).unwrap(), Kind::Other);
        let efd = crate::EventFd::new().unwrap();
        assert_eq!(
            classify(efd.as_fd()).unwrap(),
            Kind::Pollable,
            "an anonymous inode"
        );
        // A regular file: this test's own binary, which every machine that runs it has.
        let me = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        let kind = classify(me.as_fd()).unwrap();
        assert!(matches!(kind, Kind::Regular { size } if size > 0));
        // The file system's magic number (`f_type` differs in type by target).
        #[allow(clippy::unnecessary_cast)]
        let magic = |f: &std::fs::File| rustix::fs::fstatfs(f).unwrap().f_type as u64;
        // On a memory file system: /dev/shm, where it is tmpfs.
        let path = format!("/dev/shm/rawaio-policy-{}", std::process::id());
        if let Ok(f) = std::fs::File::create(&path) {
            let _ = std::fs::remove_file(&path);
            if MEMORY_FS.contains(&magic(&f)) {
                let kind = classify(f.as_fd()).unwrap();
                assert!(waits_for_nothing(f.as_fd(), kind), "a file on tmpfs");
            }
        }
        // Buffered on a disk: the crate's manifest, where the sources are (not in the test
        // VMs of .ci/qemu, which boot from memory; the host's run covers it).
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        match std::fs::File::open(manifest) {
            Ok(disk) if !MEMORY_FS.contains(&magic(&disk)) => {
                let kind = classify(disk.as_fd()).unwrap();
                assert!(
                    !waits_for_nothing(disk.as_fd(), kind),
                    "a buffered file on a disk"
                );
            }
            _ => eprintln!("skipped the disk case: {manifest} is not on a disk here"),
        }
        assert!(!kind.short_is_final(0) && kind.short_is_final(1 << 40));
        assert!(Kind::Pollable.short_is_final(0) && !Kind::Block.short_is_final(1 << 40));
    }
}
