//! Helpers shared by the `context_*` integration tests: unique temporary files, pipes,
//! bounded reaping, a watchdog that turns a hang into a failure, and a buffer that
//! records when it is dropped.
//!
//! Each test binary compiles its own copy and uses part of it.
#![allow(dead_code)]

use rawaio::{AlignedBuf, Completion, Context, IoBuf, IoBufMut};
use std::fs::{File, OpenOptions};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest any single blocking step of a test may take before it counts as a hang.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Where a temporary file lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fs {
    /// `/dev/shm`: tmpfs, which supports `O_DIRECT` (Linux 6.6+).
    Tmpfs,
    /// Cargo's per-target temporary directory, on the disk (ext4 here).
    Disk,
}

impl Fs {
    pub fn dir(self) -> &'static Path {
        match self {
            Fs::Tmpfs => Path::new("/dev/shm"),
            Fs::Disk => Path::new(env!("CARGO_TARGET_TMPDIR")),
        }
    }

    /// Whether files here can be opened with `O_DIRECT` (tmpfs: Linux 6.6 and later), as
    /// `rawaio::probe::direct_io_in` finds.
    pub fn takes_o_direct(self) -> bool {
        rawaio::probe::direct_io_in(self.dir()).expect("probing O_DIRECT")
    }

    /// For tests that need `O_DIRECT` on tmpfs in particular: false, with the reason
    /// printed, on kernels whose tmpfs refuses it.
    pub fn tmpfs_takes_o_direct_or_skip() -> bool {
        let ok = Fs::Tmpfs.takes_o_direct();
        if !ok {
            eprintln!(
                "skipped: tmpfs refuses O_DIRECT on this kernel (it takes it from Linux 6.6)"
            );
        }
        ok
    }

    /// For tests that need direct I/O on any file system: tmpfs where it takes `O_DIRECT`,
    /// else the disk (said on stderr).
    pub fn direct() -> Fs {
        if Fs::Tmpfs.takes_o_direct() {
            Fs::Tmpfs
        } else {
            eprintln!(
                "note: tmpfs refuses O_DIRECT on this kernel (before Linux 6.6): using the disk"
            );
            Fs::Disk
        }
    }
}

/// A file with a name unique to this process and call, removed on drop.
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// Creates the file with `contents`.
    pub fn new(fs: Fs, tag: &str, contents: &[u8]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = fs
            .dir()
            .join(format!("rawaio-{tag}-{}-{n}", std::process::id()));
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opened for reading and writing, buffered.
    pub fn open_rw(&self) -> File {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .expect("open read-write")
    }

    /// Opened read-only, buffered.
    pub fn open_ro(&self) -> File {
        File::open(&self.path).expect("open read-only")
    }

    /// Opened for reading and writing with `O_DIRECT`.
    pub fn open_direct(&self) -> File {
        rawaio::direct::open_direct(&self.path, OpenOptions::new().read(true).write(true))
            .unwrap_or_else(|e| panic!("O_DIRECT open of {}: {e}", self.path.display()))
    }

    /// The file's bytes, read through the page cache.
    pub fn contents(&self) -> Vec<u8> {
        std::fs::read(&self.path).expect("read back")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `len` bytes that differ from one `seed` to another and along the buffer.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A page-aligned buffer holding `bytes`.
pub fn aligned_with(bytes: &[u8]) -> AlignedBuf {
    let mut buf = AlignedBuf::new(bytes.len(), 4096).expect("layout");
    buf.copy_from_slice(bytes);
    buf
}

/// A page-aligned zeroed buffer.
pub fn aligned_zeroed(len: usize) -> AlignedBuf {
    AlignedBuf::new(len, 4096).expect("layout")
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe")
}

/// Makes the pipe readable.
pub fn write_byte(w: &OwnedFd) {
    assert_eq!(rustix::io::write(w, b"x").expect("pipe write"), 1);
}

/// Reaps exactly `n` completions into `done`, failing the test if they take longer than
/// [`TIMEOUT`]. Never asks for more than `n`, so nothing beyond them is taken.
pub fn reap_n<B: IoBuf>(ctx: &Context<B>, n: usize, done: &mut Vec<Completion<B>>) {
    let deadline = Instant::now() + TIMEOUT;
    let mut got = 0;
    while got < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out with {got} of {n} completions reaped"
        );
        got += ctx.reap(1, n - got, Some(left), done).expect("reap");
    }
    assert_eq!(got, n);
}

/// Reaps one completion and returns it.
pub fn reap_one<B: IoBuf>(ctx: &Context<B>) -> Completion<B> {
    let mut done = Vec::new();
    reap_n(ctx, 1, &mut done);
    done.pop().expect("one completion")
}

/// Asserts that no completion arrives within `wait`.
pub fn assert_nothing_within<B: IoBuf>(ctx: &Context<B>, wait: Duration) {
    let mut done = Vec::new();
    let n = ctx.reap(1, 8, Some(wait), &mut done).expect("reap");
    assert_eq!(n, 0, "unexpected completions: {done:?}");
}

/// Aborts the whole test process if it is still alive after `limit`: for steps that
/// block without a timeout of their own (`submit_all`, `drop`, `destroy`), so that a
/// bug fails the suite loudly instead of hanging it.
pub struct Watchdog {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn new(limit: Duration, what: &'static str) -> Self {
        let (stop, wait) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                eprintln!("watchdog: {what} still blocked after {limit:?}: aborting");
                std::process::abort();
            }
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Counts, per buffer id, how many times a [`Tracked`] buffer was dropped, and how many
/// were found changed when dropped.
pub struct DropLog {
    counts: Vec<AtomicUsize>,
    corrupted: AtomicUsize,
    check: Option<DropCheck>,
    failed_checks: AtomicUsize,
}

/// Called with a buffer's id when it is dropped: whether what it was used for is over.
pub type DropCheck = Box<dyn Fn(usize) -> bool + Send + Sync>;

impl DropLog {
    pub fn new(n: usize) -> Arc<Self> {
        Self::with_check(n, None)
    }

    /// A log that also calls `check` with each buffer's id as it is dropped, counting
    /// the calls that return `false` (see [`failed_checks`](Self::failed_checks)).
    pub fn with_check(n: usize, check: Option<DropCheck>) -> Arc<Self> {
        Arc::new(Self {
            counts: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            corrupted: AtomicUsize::new(0),
            check,
            failed_checks: AtomicUsize::new(0),
        })
    }

    pub fn failed_checks(&self) -> usize {
        self.failed_checks.load(Ordering::SeqCst)
    }

    pub fn count(&self, id: usize) -> usize {
        self.counts[id].load(Ordering::SeqCst)
    }

    /// Drops recorded over all buffers.
    pub fn total(&self) -> usize {
        self.counts.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    /// Whether every buffer was dropped exactly once.
    pub fn each_once(&self) -> bool {
        self.counts.iter().all(|c| c.load(Ordering::SeqCst) == 1)
    }

    pub fn corrupted(&self) -> usize {
        self.corrupted.load(Ordering::SeqCst)
    }
}

/// A page-aligned buffer that records its drop in a [`DropLog`] and, when built with
/// [`Tracked::filled`], checks on drop that its bytes are still the fill byte.
pub struct Tracked {
    buf: AlignedBuf,
    id: usize,
    fill: Option<u8>,
    log: Arc<DropLog>,
}

impl Tracked {
    /// A buffer of `len` bytes all equal to `fill`, expected unchanged when dropped (for
    /// writes, which the kernel only reads).
    pub fn filled(log: &Arc<DropLog>, id: usize, len: usize, fill: u8) -> Self {
        let mut buf = aligned_zeroed(len);
        buf.fill(fill);
        Self {
            buf,
            id,
            fill: Some(fill),
            log: Arc::clone(log),
        }
    }

    /// A zeroed buffer of `len` bytes whose contents are not checked (for reads).
    pub fn zeroed(log: &Arc<DropLog>, id: usize, len: usize) -> Self {
        Self {
            buf: aligned_zeroed(len),
            id,
            fill: None,
            log: Arc::clone(log),
        }
    }

    pub fn id(&self) -> usize {
        self.id
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(fill) = self.fill {
            if self.buf.iter().any(|&b| b != fill) {
                self.log.corrupted.fetch_add(1, Ordering::SeqCst);
            }
        }
        if let Some(check) = &self.log.check {
            if !check(self.id) {
                self.log.failed_checks.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.log.counts[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: the bytes are an `AlignedBuf`'s heap allocation, owned by this value alone,
// which does not move when the value does and lives until the value is dropped.
unsafe impl IoBuf for Tracked {
    fn io_ptr(&self) -> *const u8 {
        self.buf.io_ptr()
    }
    fn io_len(&self) -> usize {
        self.buf.io_len()
    }
}

// SAFETY: as for `IoBuf`; `io_mut_ptr` is the same address as `io_ptr`.
unsafe impl IoBufMut for Tracked {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.buf.io_mut_ptr()
    }
}
