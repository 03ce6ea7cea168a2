//! Scenarios of the policy that keeps `io_submit` from blocking the executor: requests
//! that would block (pipes and sockets waiting for a writer, buffered reads of data not
//! in the page cache, buffered writes, reads cut short by `RWF_NOWAIT`) awaited while a
//! ticker task shares the thread, each checked byte for byte.

use super::join_all;
use crate::support::{DropLog, Fs, TIMEOUT, TempFile, Tracked, pattern, pipe};
use rawaio::probe::{ProbeOptions, probe_file};
use rawaio::reactor::Reactor;
use rawaio::{AsyncContext, AsyncPolicy, AsyncStats, Op, RwfFlags};
use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long the writers wait before they write: long enough that every read is
/// submitted first, and that a blocked executor would miss a hundred ticks.
const WRITER_DELAY: Duration = Duration::from_millis(200);

/// The ticker's period.
const TICK: Duration = Duration::from_millis(1);

/// A ticker's record: its ticks, its worst gap, and when to stop.
#[derive(Default)]
pub struct Ticks {
    count: AtomicUsize,
    worst: Mutex<Duration>,
    stop: AtomicBool,
}

impl Ticks {
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub fn worst_gap(&self) -> Duration {
        *self.worst.lock().unwrap()
    }
}

/// Ticks every [`TICK`] (with `sleep`, the runtime's timer) until told to stop: each
/// tick sleeps from the previous one's end, so an executor blocked for a while shows as
/// one long gap, not as a burst of late ticks.
pub async fn ticker<F: Future<Output = ()>>(ticks: &Ticks, sleep: impl Fn(Duration) -> F) {
    let mut last = Instant::now();
    while !ticks.stop.load(Ordering::SeqCst) {
        sleep(TICK).await;
        let now = Instant::now();
        let gap = now - last;
        last = now;
        let mut worst = ticks.worst.lock().unwrap();
        *worst = (*worst).max(gap);
        drop(worst);
        ticks.count.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs `io` next to the ticker (on the current task, both polled in turn) and asserts
/// that the ticker ticked throughout: at least 20 ticks while `io` ran, which lasts at
/// least [`WRITER_DELAY`] (200 ticks' worth). Prints the worst gap; asserts nothing about
/// it (a loaded machine may stall any thread now and then).
pub async fn while_ticking<F: Future<Output = ()>>(
    what: &str,
    sleep: impl Fn(Duration) -> F,
    io: Pin<Box<dyn Future<Output = AsyncStats> + '_>>,
) {
    let ticks = Ticks::default();
    let before = AtomicUsize::new(0);
    let during = AtomicUsize::new(0);
    let elapsed = Mutex::new(Duration::ZERO);
    let stats = Mutex::new(AsyncStats::default());
    let measured = async {
        before.store(ticks.count(), Ordering::SeqCst);
        let start = Instant::now();
        *stats.lock().unwrap() = io.await;
        *elapsed.lock().unwrap() = start.elapsed();
        during.store(
            ticks.count() - before.load(Ordering::SeqCst),
            Ordering::SeqCst,
        );
        ticks.stop.store(true, Ordering::SeqCst);
    };
    let tick = ticker(&ticks, sleep);
    let both: Vec<Pin<Box<dyn Future<Output = ()> + '_>>> =
        vec![Box::pin(measured), Box::pin(tick)];
    join_all(both).await;
    let (during, elapsed) = (during.load(Ordering::SeqCst), *elapsed.lock().unwrap());
    println!(
        "{what}: the ticker ticked {during} times in {elapsed:?} of I/O; worst gap {:?}; paths {:?}",
        ticks.worst_gap(),
        stats.lock().unwrap()
    );
    assert!(elapsed >= WRITER_DELAY, "the writers wait {WRITER_DELAY:?}");
    assert!(
        during >= 20,
        "the executor was blocked: {during} ticks in {elapsed:?}"
    );
}

/// Writes `bytes` to `fd` after [`WRITER_DELAY`], from a thread.
fn write_later(fd: impl AsFd + Send + 'static, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(WRITER_DELAY);
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = rustix::io::write(&fd, rest).expect("writer");
            rest = &rest[n..];
        }
        // Keep the descriptor open until the reader is done with it.
        std::thread::sleep(TIMEOUT);
        drop(fd);
    })
}

/// A file on the disk whose pages are not in the page cache: written, synced, dropped
/// from the cache with `posix_fadvise(DONTNEED)`.
pub fn evicted_file(tag: &str, bytes: &[u8]) -> (TempFile, File) {
    let file = TempFile::new(Fs::Disk, tag, bytes);
    let f = file.open_rw();
    f.sync_all().expect("sync");
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
    (file, f)
}

/// Whether buffered `RWF_NOWAIT` reads of `f` are refused when they would wait (rather
/// than refused outright, or not at all): then reading evicted data must go through a
/// helper thread. Says so when they are not.
fn nowait_reads_supported(f: &File) -> bool {
    let ok = probe_file(f, ProbeOptions::default())
        .ok()
        .and_then(|features| features.flag(RwfFlags::NOWAIT))
        .is_some_and(|flag| flag.read.is_supported());
    if !ok {
        eprintln!("note: this file system refuses RWF_NOWAIT reads: not counting helper reads");
    }
    ok
}

const MIB: usize = 1 << 20;

/// What [`every_blocking_kind`] reads from and writes to, set up beforehand (writing and
/// syncing files blocks, and is not what is measured).
pub struct Blockers<R: Reactor> {
    ctx: AsyncContext<R>,
    pipe: (OwnedFd, Option<OwnedFd>),
    unix: (UnixStream, Option<UnixStream>),
    tcp: (TcpStream, Option<TcpStream>),
    efd: Arc<rawaio::EventFd>,
    disk_bytes: Vec<u8>,
    disk: (TempFile, File),
    expect_helper: bool,
    out: (TempFile, File),
}

impl<R: Reactor> Blockers<R> {
    /// Sets everything up (inside the runtime: the context registers with its reactor).
    pub fn new() -> Self {
        let (pipe_r, pipe_w) = pipe();
        let (unix_a, unix_b) = UnixStream::pair().expect("socketpair");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let tcp_client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
        let (tcp_server, _) = listener.accept().expect("accept");
        let disk_bytes = pattern(14, 4 * MIB);
        let (disk_file, disk) = evicted_file("never-block", &disk_bytes);
        let expect_helper = nowait_reads_supported(&disk);
        // Cut short: the page at 2 MiB is cached (with what readahead brings), the rest
        // of the 1 MiB after it not.
        let mut one = [0u8; 1];
        disk.read_exact_at(&mut one, 2 * MIB as u64)
            .expect("read one byte");
        Self {
            ctx: AsyncContext::<R>::new(64).expect("context"),
            pipe: (pipe_r, Some(pipe_w)),
            unix: (unix_a, Some(unix_b)),
            tcp: (tcp_server, Some(tcp_client)),
            efd: Arc::new(rawaio::EventFd::new().expect("eventfd")),
            disk_bytes,
            disk: (disk_file, disk),
            expect_helper,
            out: evicted_file("never-block-out", &vec![0u8; 64 * 1024]),
        }
    }
}

/// Every kind of request that blocks `io_submit` without the policy, awaited at once on
/// one context: reads of a pipe, a Unix socket, a TCP socket and an eventfd that wait for
/// a writer; buffered reads (plain and vectored) of evicted file data; a read cut short
/// by `RWF_NOWAIT` (its first pages cached); a buffered write. Checks every byte, and the
/// paths the requests took. Returns the context's counters.
pub async fn every_blocking_kind<R: Reactor>(b: &mut Blockers<R>) -> AsyncStats {
    let ctx = &b.ctx;
    let (pipe_r, unix_a, tcp_server) = (&b.pipe.0, &b.unix.0, &b.tcp.0);
    let (disk, out, disk_bytes, efd) = (&b.disk.1, &b.out.1, &b.disk_bytes, &b.efd);
    let pipe_bytes = pattern(11, 3000);
    let unix_bytes = pattern(12, 2000);
    let tcp_bytes = pattern(13, 1000);
    let written = pattern(15, 64 * 1024);
    let writers = vec![
        write_later(b.pipe.1.take().unwrap(), pipe_bytes.clone()),
        write_later(OwnedFd::from(b.unix.1.take().unwrap()), unix_bytes.clone()),
        write_later(OwnedFd::from(b.tcp.1.take().unwrap()), tcp_bytes.clone()),
    ];
    let efd_writer = {
        let efd = Arc::clone(efd);
        std::thread::spawn(move || {
            std::thread::sleep(WRITER_DELAY);
            efd.write(5).expect("eventfd write");
        })
    };

    let submit = |op| ctx.submit(op).expect("submit");
    let futures = vec![
        submit(Op::read(pipe_r, vec![0u8; 3000], 0)),
        submit(Op::read(unix_a, vec![0u8; 2000], 0)),
        submit(Op::read(tcp_server, vec![0u8; 1000], 0)),
        submit(Op::read(Arc::clone(efd), vec![0u8; 8], 0)),
        submit(Op::read(disk, vec![0u8; 256 * 1024], 0)),
        submit(Op::read(disk, vec![0u8; 256 * 1024], (3 * MIB) as u64)),
        submit(Op::readv(
            disk,
            vec![vec![0u8; 4096], vec![0u8; 60_000]],
            MIB as u64,
        )),
        submit(Op::read(disk, vec![0u8; MIB], (2 * MIB) as u64)),
        submit(Op::write(out, written.clone(), 0)),
    ];
    let mut done = join_all(futures)
        .await
        .into_iter()
        .map(|c| c.expect("completion"));
    let mut next = |len: usize| {
        let c = done.next().unwrap();
        assert_eq!(c.result().expect("result") as usize, len, "{c:?}");
        c.into_bufs()
    };
    assert_eq!(next(3000), [pipe_bytes], "pipe");
    assert_eq!(next(2000), [unix_bytes], "unix socket");
    assert_eq!(next(1000), [tcp_bytes], "tcp socket");
    assert_eq!(next(8), [5u64.to_ne_bytes().to_vec()], "eventfd");
    assert_eq!(next(256 * 1024), [&disk_bytes[..256 * 1024]], "evicted");
    let far = &disk_bytes[3 * MIB..3 * MIB + 256 * 1024];
    assert_eq!(next(256 * 1024), [far], "evicted");
    let vectored = next(64_096);
    assert_eq!(vectored[0], &disk_bytes[MIB..MIB + 4096]);
    assert_eq!(vectored[1], &disk_bytes[MIB + 4096..MIB + 64_096]);
    let short = &disk_bytes[2 * MIB..3 * MIB];
    assert_eq!(next(MIB), [short], "cut short, finished");
    assert_eq!(next(64 * 1024), [&written[..]], "buffered write");
    let mut back = vec![0u8; written.len()];
    out.read_exact_at(&mut back, 0).unwrap();
    assert_eq!(back, written, "the buffered write is on file");

    let stats = ctx.stats();
    assert_eq!(
        stats.nowait, 9,
        "every read and write carried RWF_NOWAIT: {stats:?}"
    );
    assert!(
        stats.polled >= 4,
        "pipe, sockets and eventfd waited for readiness: {stats:?}"
    );
    if b.expect_helper {
        assert!(
            stats.helper >= 3,
            "evicted reads went to helpers: {stats:?}"
        );
    }
    assert_eq!(stats.late, 0);
    assert_eq!(ctx.in_flight(), 0);
    drop((writers, efd_writer));
    stats
}

/// Under [`AsyncPolicy::as_given`] nothing carries `RWF_NOWAIT` and nothing goes to a
/// helper: direct reads complete as before, and the counters say so.
pub async fn as_given_starts_nothing<R: Reactor>() {
    let ctx = AsyncContext::<R, rawaio::AlignedBuf>::with_policy(8, AsyncPolicy::as_given())
        .expect("context");
    let bytes = pattern(21, 64 * 1024);
    let file = TempFile::new(Fs::direct(), "as-given", &bytes);
    let f = file.open_direct();
    let futures = (0..8)
        .map(|i| {
            ctx.submit(Op::read(&f, crate::support::aligned_zeroed(8192), i * 8192))
                .expect("submit")
        })
        .collect();
    for (i, c) in join_all(futures).await.into_iter().enumerate() {
        let c = c.expect("completion");
        assert_eq!(&c.into_buf().unwrap()[..], &bytes[i * 8192..(i + 1) * 8192]);
    }
    let stats = ctx.stats();
    assert_eq!((stats.nowait, stats.as_given), (0, 8), "{stats:?}");
    assert_eq!(
        stats.helper + stats.polled + stats.inline + stats.refused,
        0
    );
}

/// Without helper threads, a request only a helper could finish completes with the
/// kernel's refusal, its buffer back; one that waits for readiness still completes.
pub async fn no_helpers_means_the_refusal_is_the_answer<R: Reactor>() {
    let policy = AsyncPolicy {
        helper_threads: 0,
        ..AsyncPolicy::default()
    };
    let ctx = AsyncContext::<R>::with_policy(8, policy).expect("context");
    let bytes = pattern(22, 1 << 20);
    let (_file, f) = evicted_file("no-helpers", &bytes);
    if !nowait_reads_supported(&f) {
        return;
    }
    let c = ctx
        .submit(Op::read(&f, vec![0u8; 4096], 512 * 1024))
        .expect("submit")
        .await
        .expect("completion");
    match c.result() {
        Err(e) => assert_eq!(e, rawaio::Errno::AGAIN),
        // The NOWAIT attempt's readahead can win the race with the read: then it is a
        // plain success.
        Ok(n) => assert_eq!(n, 4096),
    }
    assert_eq!(c.into_buf().unwrap().len(), 4096, "the buffer comes back");
    let (a, mut b) = UnixStream::pair().unwrap();
    let later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        b.write_all(b"hi").unwrap();
        b
    });
    let c = ctx
        .submit(Op::read(&a, vec![0u8; 2], 0))
        .unwrap()
        .await
        .unwrap();
    assert_eq!(c.into_buf().unwrap(), b"hi");
    drop(later.join());
    let stats = ctx.stats();
    assert_eq!(stats.helper, 0, "{stats:?}");
    assert!(stats.polled >= 1);
}

/// A socket read waiting for readiness can be cancelled: it resolves with `ECANCELED`
/// and its buffer; a dropped one gives its room back.
pub async fn a_read_waiting_for_readiness_can_be_cancelled<R: Reactor>() {
    let ctx = AsyncContext::<R>::new(4).expect("context");
    let (a, _b) = UnixStream::pair().unwrap();
    let mut waiting = ctx.submit(Op::read(&a, vec![7u8; 16], 0)).expect("submit");
    assert!(
        super::poll_once(&mut waiting).is_pending(),
        "nothing written"
    );
    waiting
        .cancel()
        .expect("a read waiting for readiness can be cancelled");
    let c = waiting.await.expect("completion");
    assert_eq!(c.result(), Err(rawaio::Errno::CANCELED));
    assert_eq!(c.into_buf().unwrap(), vec![7u8; 16]);
    let dropped = ctx.submit(Op::read(&a, vec![0u8; 16], 0)).expect("submit");
    assert_eq!(ctx.in_flight(), 1);
    drop(dropped);
    super::settle(&ctx);
    assert_eq!(ctx.in_flight(), 0, "the dropped read's room is back");
}

/// Futures of requests on their way through helpers and readiness polls, dropped at any
/// point, leaked, or outliving the context's last handle: every buffer is dropped once,
/// only when no kernel holds it (AddressSanitizer checks the rest in CI).
pub async fn futures_of_refused_requests_dropped_anywhere<R: Reactor>() {
    const N: usize = 24;
    const LEN: usize = 64 * 1024;
    let bytes = pattern(23, N * LEN);
    let (_file, f) = evicted_file("drop-refused", &bytes);
    let f = Arc::new(f);
    let log = DropLog::new(N + 2);
    let ctx = AsyncContext::<R, Tracked>::new(N as u32 + 2).expect("context");
    // Kept to reap with at the end: the leaked future keeps the context alive, and with
    // it what a cancelled readiness poll leaves in the ring until someone reaps.
    let handle = ctx.clone();
    let mut kept = Vec::new();
    for id in 0..N {
        let buf = Tracked::zeroed(&log, id, LEN);
        // Held descriptors on half of them (those keep it until completion).
        let op = if id % 2 == 0 {
            Op::read(Arc::clone(&f), buf, (id * LEN) as u64)
        } else {
            Op::read(&*f, buf, (id * LEN) as u64)
        };
        let mut future = ctx.submit(op).expect("submit");
        match id % 4 {
            0 => drop(future),
            1 => {
                let _ = super::poll_once(&mut future);
                drop(future);
            }
            2 if id == 2 => std::mem::forget(future),
            _ => kept.push((id, future)),
        }
    }
    // Two socket reads that wait for readiness: one dropped, one outliving the handle.
    let (a, _b) = UnixStream::pair().unwrap();
    let waiting = ctx
        .submit(Op::read(&a, Tracked::zeroed(&log, N, 8), 0))
        .unwrap();
    let outliving = ctx
        .submit(Op::read(&a, Tracked::zeroed(&log, N + 1, 8), 0))
        .unwrap();
    drop(waiting);
    for (id, future) in kept {
        let c = future.await.expect("completion");
        assert_eq!(c.result().unwrap() as usize, LEN);
        assert_eq!(
            c.into_buf().unwrap().bytes(),
            &bytes[id * LEN..(id + 1) * LEN]
        );
    }
    drop(ctx);
    drop(outliving);
    // The leaked future's buffer is never dropped; every other one is, exactly once,
    // once its request is over (helpers finish theirs after the context is gone).
    let deadline = Instant::now() + TIMEOUT;
    while (0..N + 2)
        .filter(|&id| id != 2)
        .any(|id| log.count(id) == 0)
    {
        handle.reap_ready().expect("reap");
        assert!(
            Instant::now() < deadline,
            "buffers not dropped: {:?}",
            (0..N + 2).map(|id| log.count(id)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(log.count(2), 0, "the leaked future keeps its buffer");
    assert!((0..N + 2).all(|id| log.count(id) <= 1), "dropped twice");
    // The leaked future's request finished too: its completion waits in the table.
    assert_eq!(handle.in_flight(), 0);
}

/// What the policy prevents: under [`AsyncPolicy::as_given`], a read of a pipe whose
/// writer writes in [`WRITER_DELAY`] runs inside `submit`, which returns only then (the
/// executor's thread is blocked all that time). Under the default policy `submit`
/// returns at once: the writer, told so, writes, and the future completes.
pub async fn as_given_blocks_in_submit_and_the_default_does_not<R: Reactor>() {
    for (policy, blocks) in [
        (AsyncPolicy::as_given(), true),
        (AsyncPolicy::default(), false),
    ] {
        let ctx = AsyncContext::<R>::with_policy(4, policy).expect("context");
        let (r, w) = pipe();
        let (returned, told) = std::sync::mpsc::channel::<()>();
        // Writes once told that submit returned, or after WRITER_DELAY (as_given: submit
        // cannot return before), or after TIMEOUT (the default: it must have been told).
        let patience = if blocks { WRITER_DELAY } else { TIMEOUT };
        let writer = std::thread::spawn(move || {
            let was_told = told.recv_timeout(patience).is_ok();
            rustix::io::write(&w, b"late").expect("write");
            was_told
        });
        let start = Instant::now();
        let future = ctx.submit(Op::read(&r, vec![0u8; 4], 0)).expect("submit");
        let in_submit = start.elapsed();
        let _ = returned.send(());
        let c = future.await.expect("completion");
        assert_eq!(c.into_buf().unwrap(), b"late");
        let was_told = writer.join().unwrap();
        println!("{policy:?}: submit took {in_submit:?}");
        if blocks {
            assert!(!was_told, "submit returned only after the write");
            assert!(in_submit >= WRITER_DELAY / 2, "{in_submit:?}");
        } else {
            assert!(
                was_told,
                "submit returned before the write, waiting for nothing"
            );
        }
    }
}

/// `O_DIRECT` reads of a range whose pages are in the page cache: `RWF_NOWAIT` is refused
/// with `EAGAIN` (Linux 5.10 for any cached page, later kernels for dirty ones). The read
/// goes again as given in the caller's thread, never to a helper, and the descriptor's
/// later reads skip the attempt.
pub async fn direct_reads_of_cached_pages_go_again_inline<R: Reactor>() {
    let ctx = AsyncContext::<R, rawaio::AlignedBuf>::new(16).expect("context");
    let bytes = pattern(23, 64 * 1024);
    let file = TempFile::new(Fs::Disk, "direct-cached", &bytes);
    // The pages stay cached, and dirty: written through the page cache, not synced.
    let f = file.open_direct();
    let round = |seed: u64| {
        let bytes = pattern(seed, 64 * 1024);
        file.open_rw()
            .write_all_at(&bytes, 0)
            .expect("buffered write");
        let futures = (0..8)
            .map(|i| {
                ctx.submit(Op::read(&f, crate::support::aligned_zeroed(8192), i * 8192))
                    .expect("submit")
            })
            .collect::<Vec<_>>();
        (bytes, futures)
    };
    let check =
        |bytes: &[u8], done: Vec<std::io::Result<rawaio::Completion<rawaio::AlignedBuf>>>| {
            for (i, c) in done.into_iter().enumerate() {
                let c = c.expect("completion");
                assert_eq!(c.result(), Ok(8192));
                assert!(c.into_buf().unwrap()[..] == bytes[i * 8192..(i + 1) * 8192]);
            }
        };
    let (first, futures) = round(24);
    check(&first, join_all(futures).await);
    let after_first = ctx.stats();
    assert_eq!(after_first.helper, 0, "{after_first:?}");
    // Each refusal went again inline; so did (counted there too) the reads after it,
    // which skipped the attempt.
    assert!(after_first.inline >= after_first.refused, "{after_first:?}");
    if after_first.refused == 0 {
        eprintln!("note: this kernel took RWF_NOWAIT for O_DIRECT reads of cached pages");
    }
    let (second, futures) = round(25);
    check(&second, join_all(futures).await);
    let stats = ctx.stats();
    assert_eq!(stats.helper, 0, "{stats:?}");
    assert_eq!(
        (stats.refused, stats.nowait),
        (after_first.refused, after_first.nowait),
        "the descriptor's later reads skip RWF_NOWAIT: {stats:?}"
    );
    assert_eq!(ctx.in_flight(), 0, "the retried reads gave their room back");
    drop(bytes);
}

/// A read at the end of a file gets 0 bytes under `RWF_NOWAIT` as without it: the answer,
/// never a refusal for a helper to retry (Linux 5.10 also answers 0 for a buffered read
/// that the flag stopped before its first byte; the file's size tells the two apart).
pub async fn a_read_at_the_end_of_a_file_is_answered_at_once<R: Reactor>() {
    let ctx = AsyncContext::<R>::new(4).expect("context");
    let file = TempFile::new(Fs::Disk, "at-the-end", &pattern(26, 4096));
    let f = file.open_ro();
    for offset in [4096, 8192] {
        let c = ctx
            .submit(Op::read(&f, vec![1u8; 512], offset))
            .expect("submit")
            .await
            .expect("completion");
        assert_eq!(c.result(), Ok(0), "at {offset}");
    }
    let stats = ctx.stats();
    assert_eq!(stats.helper, 0, "{stats:?}");
    assert_eq!(ctx.in_flight(), 0);
}
