//! Helpers shared by the integration tests of the raw layer (`rawaio::sys`).
//!
//! - [`Ctx`]: an AIO context that is always destroyed (the system-wide `aio-max-nr`
//!   budget is shared with every process on the machine).
//! - [`AlignedBuf`]: a zeroed, 4096-aligned buffer for `O_DIRECT`.
//! - [`TempFile`]: a uniquely named file, removed on drop.
//! - [`tmpfs_dir`], [`ext4_dir`]: where to put them.
//! - Submit and reap helpers that never wait without a timeout.
//!
//! Declare buffers, files and pipes *before* the [`Ctx`] that uses them: locals drop in
//! reverse order, so the context is destroyed (which waits for every request in flight)
//! before the memory and descriptors its requests use go away.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use rawaio::Errno;
use rawaio::abi::{
    __kernel_old_timespec, __kernel_timespec, IOCB_CMD_POLL, aio_context_t, aio_ring, io_event,
    iocb,
};
use rawaio::sys;
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `TMPFS_MAGIC` from `linux/magic.h`.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;
/// `EXT4_SUPER_MAGIC` (also ext2 and ext3) from `linux/magic.h`.
pub const EXT4_SUPER_MAGIC: u64 = 0xEF53;
/// The block size every `O_DIRECT` buffer, length and offset is aligned to.
pub const BLOCK: usize = 4096;
/// How long any single wait for a completion may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// `POLLIN` (the same value on every Linux architecture).
pub const POLLIN: u64 = 0x0001;
/// `POLLOUT` (the same value on every architecture this crate supports).
pub const POLLOUT: u64 = 0x0004;
/// The largest context the tests may create.
pub const MAX_CTX_EVENTS: u32 = 32;

/// An AIO context, destroyed on drop.
#[derive(Debug)]
pub struct Ctx {
    id: aio_context_t,
}

impl Ctx {
    /// Sets up a context for `nr_events` (at most [`MAX_CTX_EVENTS`]) requests.
    pub fn new(nr_events: u32) -> Self {
        assert!(
            (1..=MAX_CTX_EVENTS).contains(&nr_events),
            "tests keep contexts small: nr_events {nr_events}"
        );
        let mut id: aio_context_t = 0;
        // SAFETY: `id` is a zeroed handle that io_setup may write.
        let res = unsafe { sys::io_setup(nr_events, &mut id) };
        if let Err(e) = res {
            panic!("io_setup({nr_events}) failed: {e:?} (aio-nr/aio-max-nr exhausted?)");
        }
        assert_ne!(id, 0, "io_setup succeeded but left the handle at 0");
        Self { id }
    }

    /// The raw handle.
    pub fn id(&self) -> aio_context_t {
        self.id
    }

    /// The completion ring's header, at the handle's address.
    pub fn ring(&self) -> *const aio_ring {
        self.id as *const aio_ring
    }

    /// Destroys the context now and returns what `io_destroy` said; drop then does
    /// nothing.
    pub fn destroy(mut self) -> Result<(), Errno> {
        let id = std::mem::replace(&mut self.id, 0);
        // SAFETY: `id` is a live context that nothing uses after this call; the test
        // keeps the buffers of its requests alive past it.
        unsafe { sys::io_destroy(id) }
    }

    /// Gives up ownership: the caller must destroy the handle itself.
    pub fn into_raw(mut self) -> aio_context_t {
        std::mem::replace(&mut self.id, 0)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if self.id == 0 {
            return;
        }
        // SAFETY: the context is live and owned by `self`; every buffer a request on it
        // uses was declared before the `Ctx`, so it is still alive while this waits.
        let res = unsafe { sys::io_destroy(self.id) };
        if !std::thread::panicking() {
            assert_eq!(res, Ok(()), "io_destroy on drop");
        }
    }
}

/// A zeroed, [`BLOCK`]-aligned heap buffer, freed on drop.
#[derive(Debug)]
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl AlignedBuf {
    /// A zeroed buffer of `len` (> 0) bytes.
    pub fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, BLOCK).expect("valid layout");
        assert!(len > 0);
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).expect("out of memory");
        Self { ptr, layout }
    }

    /// A buffer of `len` bytes whose byte `i` is `f(i)`.
    pub fn filled(len: usize, f: impl Fn(usize) -> u8) -> Self {
        let mut buf = Self::new(len);
        for (i, b) in buf.as_mut_slice().iter_mut().enumerate() {
            *b = f(i);
        }
        buf
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// The start, for requests that only read it.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The start, for requests that write it.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The contents.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` holds `len` initialized (zeroed at least) bytes owned by `self`;
        // the tests read only once the kernel is done with the buffer.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len()) }
    }

    /// The contents, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// A distinctive byte pattern: depends on the position, the block and a seed, so that a
/// block written to or read from the wrong offset does not match.
pub fn pattern(seed: u8, offset: usize) -> u8 {
    let block = offset / BLOCK;
    (offset as u8)
        .wrapping_mul(31)
        .wrapping_add((block as u8).wrapping_mul(101))
        .wrapping_add(seed.wrapping_mul(7))
        ^ 0x5a
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique path in `dir`: pid, a per-process counter and a tag.
pub fn unique_path(dir: &Path, tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("rawaio-test-{}-{n}-{tag}", std::process::id()))
}

/// A file created for the test, removed on drop.
#[derive(Debug)]
pub struct TempFile {
    /// The open file (read and write).
    pub file: File,
    /// Where it is.
    pub path: PathBuf,
}

impl TempFile {
    /// Creates a new file in `dir`, read-write, with `O_DIRECT` if `direct`.
    ///
    /// Fails as `open(2)` does; a file system without `O_DIRECT` support gives `EINVAL`.
    pub fn create(dir: &Path, tag: &str, direct: bool) -> io::Result<Self> {
        let path = unique_path(dir, tag);
        let flags = if direct {
            rustix::fs::OFlags::DIRECT.bits() as i32
        } else {
            0
        };
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(flags)
            .open(&path)
        {
            Ok(file) => Ok(Self { file, path }),
            Err(e) => {
                // Some file systems create the file before refusing O_DIRECT.
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Creates an `O_DIRECT` file in `dir`; `None`, with the reason printed, if the file
    /// system (kernel) does not support `O_DIRECT` there (`EINVAL`).
    pub fn create_direct(dir: &Path, tag: &str) -> Option<Self> {
        if !rawaio::probe::direct_io_in(dir).expect("probing O_DIRECT") {
            eprintln!(
                "skipped: O_DIRECT is not supported on {} ({}), as rawaio::probe::direct_io_in \
                 finds (tmpfs takes it from Linux 6.6)",
                dir.display(),
                fs_name(fs_type(dir))
            );
            return None;
        }
        match Self::create(dir, tag, true) {
            Ok(f) => Some(f),
            Err(e) if e.raw_os_error() == Some(Errno::INVAL.raw_os_error()) => {
                eprintln!(
                    "skipped: O_DIRECT is not supported on {} ({}): {e}",
                    dir.display(),
                    fs_name(fs_type(dir))
                );
                None
            }
            Err(e) => panic!("creating an O_DIRECT file in {}: {e}", dir.display()),
        }
    }

    /// The descriptor as the `aio_fildes` field wants it.
    pub fn fd(&self) -> u32 {
        self.file.as_raw_fd() as u32
    }

    /// Opens the same file again, read-only.
    pub fn open_readonly(&self) -> File {
        File::open(&self.path).expect("reopen read-only")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The `f_type` of the file system holding `path`, as an unsigned 32-bit magic.
pub fn fs_type(path: &Path) -> u64 {
    let st = rustix::fs::statfs(path).expect("statfs");
    // `f_type` is signed on some targets and unsigned on others; every magic fits in
    // 32 bits.
    (st.f_type as u64) & 0xffff_ffff
}

/// A readable name for a file-system magic.
pub fn fs_name(magic: u64) -> String {
    match magic {
        TMPFS_MAGIC => "tmpfs".into(),
        EXT4_SUPER_MAGIC => "ext4".into(),
        0x9123_683e => "btrfs".into(),
        0x5846_5342 => "xfs".into(),
        0x794c_7630 => "overlayfs".into(),
        other => format!("file system with magic {other:#x}"),
    }
}

/// `/dev/shm`, checked to be tmpfs.
pub fn tmpfs_dir() -> PathBuf {
    let dir = PathBuf::from("/dev/shm");
    let magic = fs_type(&dir);
    assert_eq!(
        magic,
        TMPFS_MAGIC,
        "/dev/shm is a {}, not tmpfs",
        fs_name(magic)
    );
    dir
}

/// Cargo's per-target temp dir, expected on ext4. Returns the directory and whether it
/// is ext4; if it is not, says on which file system the test runs instead.
pub fn ext4_dir() -> (PathBuf, bool) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).expect("create CARGO_TARGET_TMPDIR");
    let magic = fs_type(&dir);
    let is_ext4 = magic == EXT4_SUPER_MAGIC;
    if !is_ext4 {
        eprintln!(
            "note: {} is on {}, not ext4: running the ext4 test there",
            dir.display(),
            fs_name(magic)
        );
    }
    (dir, is_ext4)
}

/// A pipe: `(read end, write end)`.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe().expect("pipe")
}

/// Writes one byte to a pipe's write end.
pub fn pipe_write_byte(w: &OwnedFd) {
    assert_eq!(rustix::io::write(w, b"x"), Ok(1));
}

/// The time32-on-32-bit timespec of `io_getevents`.
pub fn old_ts(d: Duration) -> __kernel_old_timespec {
    __kernel_old_timespec {
        tv_sec: d.as_secs() as isize,
        tv_nsec: d.subsec_nanos() as isize,
    }
}

/// The 64-bit timespec of `io_pgetevents`.
pub fn ts64(d: Duration) -> __kernel_timespec {
    __kernel_timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// A read or write request (`PREAD`, `PWRITE`, `PREADV`, `PWRITEV`): `buf`/`len` are
/// the buffer (or the `iovec` array and its count).
pub fn rw_iocb(opcode: u16, fd: u32, buf: *const u8, len: usize, offset: i64, data: u64) -> iocb {
    let mut cb = iocb {
        aio_lio_opcode: opcode,
        aio_fildes: fd,
        aio_offset: offset,
        aio_data: data,
        ..iocb::default()
    };
    cb.set_buf(buf, len);
    cb
}

/// A request without a buffer (`FSYNC`, `FDSYNC`).
pub fn bare_iocb(opcode: u16, fd: u32, data: u64) -> iocb {
    iocb {
        aio_lio_opcode: opcode,
        aio_fildes: fd,
        aio_data: data,
        ..iocb::default()
    }
}

/// A `POLL` request for `events` on `fd`.
pub fn poll_iocb(fd: &impl AsRawFd, events: u64, data: u64) -> iocb {
    iocb {
        aio_lio_opcode: IOCB_CMD_POLL,
        aio_fildes: fd.as_raw_fd() as u32,
        aio_buf: events,
        aio_data: data,
        ..iocb::default()
    }
}

/// `io_submit` of the iocbs at `list`.
///
/// The caller keeps every buffer those iocbs name alive until their completions are
/// reaped or the context destroyed (declaring them before the [`Ctx`] does that).
pub fn submit(ctx: &Ctx, list: &mut [*mut iocb]) -> Result<usize, Errno> {
    // SAFETY: `list` holds `list.len()` pointers to live iocbs (the callers build it from
    // references); their buffers outlive the requests as documented above.
    unsafe { sys::io_submit(ctx.id(), list.len() as isize, list.as_mut_ptr()) }
}

/// `io_submit` of one iocb; see [`submit`].
pub fn submit_one(ctx: &Ctx, cb: &mut iocb) -> Result<usize, Errno> {
    submit(ctx, &mut [cb as *mut iocb])
}

/// One `io_getevents` call for between `min_nr` and `nr` events, with a timeout
/// (`None`: wait for ever, which the tests only use where a signal ends the wait).
pub fn getevents(
    ctx: aio_context_t,
    min_nr: isize,
    nr: usize,
    timeout: Option<Duration>,
) -> Result<Vec<io_event>, Errno> {
    let mut events = vec![io_event::default(); nr];
    let ts = timeout.map(old_ts);
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const __kernel_old_timespec);
    // SAFETY: `events` has room for `nr` events; `tsp` is null or points to `ts`.
    let n = unsafe { sys::io_getevents(ctx, min_nr, nr as isize, events.as_mut_ptr(), tsp) }?;
    assert!(n <= nr, "io_getevents returned {n} > nr {nr}");
    events.truncate(n);
    Ok(events)
}

/// Reaps exactly `n` events, waiting at most [`TIMEOUT`] in all; fails the test if they
/// do not all arrive.
pub fn reap(ctx: &Ctx, n: usize) -> Vec<io_event> {
    let deadline = Instant::now() + TIMEOUT;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out: reaped {} of {n} events",
            out.len()
        );
        let want = n - out.len();
        match getevents(ctx.id(), want as isize, want, Some(left)) {
            Ok(evs) => out.extend(evs),
            Err(Errno::INTR) => {}
            Err(e) => panic!("io_getevents: {e:?}"),
        }
    }
    out
}

/// Reaps exactly one event within [`TIMEOUT`].
pub fn reap_one(ctx: &Ctx) -> io_event {
    reap(ctx, 1)[0]
}

/// Asserts that no completion is waiting: a zero-timeout `io_getevents` gets none.
pub fn assert_no_event(ctx: &Ctx) {
    let evs = getevents(ctx.id(), 0, 8, Some(Duration::ZERO)).expect("io_getevents");
    assert!(evs.is_empty(), "unexpected completions: {evs:?}");
}

/// The address the kernel reports in `io_event::obj` for this iocb.
pub fn obj_of(cb: &iocb) -> u64 {
    cb as *const iocb as usize as u64
}

/// Submits one iocb, reaps its completion within [`TIMEOUT`], checks that it is this
/// request's (`data` and `obj`) and returns it. See [`submit`] for the buffers.
pub fn submit_and_reap(ctx: &Ctx, cb: &mut iocb) -> io_event {
    assert_eq!(submit_one(ctx, cb), Ok(1), "io_submit of {cb:?}");
    let ev = reap_one(ctx);
    assert_eq!(ev.data, cb.aio_data, "event data is the iocb's aio_data");
    assert_eq!(ev.obj, obj_of(cb), "event obj is the iocb's address");
    assert_eq!(ev.obj_addr(), Some(cb as *const iocb as usize));
    ev
}
