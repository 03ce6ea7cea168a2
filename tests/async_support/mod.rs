//! Scenarios shared by the async adapters' tests (`async_tokio.rs`, `async_io.rs`),
//! written once against [`Reactor`] and run on each runtime.
#![allow(dead_code)]

pub mod backpressure;
pub mod batch;
pub mod never_block;

use crate::support::{DropCheck, DropLog, Fs, TIMEOUT, TempFile, Tracked, aligned_zeroed, pattern};
use rawaio::reactor::Reactor;
use rawaio::{AlignedBuf, AsyncContext, Completion, Op, OpFuture, PollFlags};
use std::future::{Future, poll_fn};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Awaits every future, in any order; the outputs come back in the futures' order.
pub async fn join_all<F: Future + Unpin>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Option<F>> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (slot, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match Pin::new(f).poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future resolved"))
        .collect()
}

/// Polls `future` once, with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// Reaps (never waiting) until nothing is in flight, failing after [`TIMEOUT`].
pub fn settle<R: Reactor, B: rawaio::IoBuf>(ctx: &AsyncContext<R, B>) {
    let deadline = Instant::now() + TIMEOUT;
    while ctx.in_flight() > 0 {
        ctx.reap_ready().expect("reap");
        assert!(
            Instant::now() < deadline,
            "{} requests still in flight after {TIMEOUT:?}",
            ctx.in_flight()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Reads `files` files of different sizes and contents concurrently through one
/// context, all requests in flight at once, and checks every byte.
pub async fn read_many_files<R: Reactor>(files: usize) {
    let ctx = AsyncContext::<R>::new(files as u32).expect("context");
    let made: Vec<(TempFile, Vec<u8>)> = (0..files)
        .map(|i| {
            let bytes = pattern(i as u64 + 1, 1000 + 397 * i);
            (TempFile::new(Fs::Tmpfs, "async-many", &bytes), bytes)
        })
        .collect();
    let opened: Vec<_> = made.iter().map(|(f, _)| f.open_ro()).collect();
    let futures: Vec<OpFuture<R>> = opened
        .iter()
        .zip(&made)
        .map(|(file, (_, bytes))| {
            ctx.submit(Op::read(file, vec![0u8; bytes.len() + 10], 0))
                .expect("submit")
        })
        .collect();
    assert_eq!(futures.len(), files);
    let done = join_all(futures).await;
    for (completion, (_, bytes)) in done.into_iter().zip(&made) {
        let completion = completion.expect("completion");
        assert_eq!(completion.result().expect("read") as usize, bytes.len());
        assert!(
            completion.is_short(),
            "the buffer is 10 bytes longer than the file"
        );
        let buf = completion.into_buf().expect("buffer");
        assert_eq!(&buf[..bytes.len()], &bytes[..]);
    }
    assert_eq!(ctx.in_flight(), 0);
}

/// A task of [`shared_context_jobs`]: returns how many blocks it checked.
pub type Job = Pin<Box<dyn Future<Output = usize> + Send>>;

/// `tasks` jobs (to spawn, or run on threads) share one context, each reading `rounds`
/// blocks of a disk file with direct I/O (so that completions really come later), one
/// after the other, every third round two at once; every block is checked. Each job
/// returns how many blocks it checked.
pub fn shared_context_jobs<R: Reactor>(
    tasks: usize,
    rounds: usize,
) -> (AsyncContext<R, AlignedBuf>, TempFile, Vec<Job>) {
    const BLOCK: usize = 4096;
    let blocks = 64;
    let bytes = pattern(77, BLOCK * blocks);
    let file = disk_file("async-shared", &bytes);
    let ctx = AsyncContext::<R, AlignedBuf>::new(64).expect("context");
    let jobs = (0..tasks)
        .map(|t| {
            let ctx = ctx.clone();
            let f = file.open_direct();
            let bytes = bytes.clone();
            let read = move |ctx: &AsyncContext<R, AlignedBuf>, block: usize| {
                ctx.submit(Op::read(&f, aligned_zeroed(BLOCK), (block * BLOCK) as u64))
                    .expect("submit")
            };
            let job: Job = Box::pin(async move {
                let expect = |block: usize| &bytes[block * BLOCK..(block + 1) * BLOCK];
                let mut checked = 0;
                for r in 0..rounds {
                    let b1 = (t * 7 + r * 13) % blocks;
                    let b2 = (t * 3 + r * 5 + 1) % blocks;
                    let f1 = read(&ctx, b1);
                    let got = if r % 3 == 0 {
                        let f2 = read(&ctx, b2);
                        let mut both = join_all(vec![f1, f2]).await.into_iter();
                        let c1 = both.next().unwrap().expect("completion");
                        let c2 = both.next().unwrap().expect("completion");
                        assert_eq!(&c2.into_buf().unwrap()[..], expect(b2));
                        checked += 1;
                        c1
                    } else {
                        f1.await.expect("completion")
                    };
                    assert_eq!(got.result().unwrap() as usize, BLOCK);
                    assert_eq!(&got.into_buf().unwrap()[..], expect(b1));
                    checked += 1;
                }
                checked
            });
            job
        })
        .collect();
    (ctx, file, jobs)
}

/// The disk file for direct I/O tests: written and synced first, so that direct writes
/// are overwrites, which ext4 runs asynchronously.
fn disk_file(tag: &str, bytes: &[u8]) -> TempFile {
    let file = TempFile::new(Fs::Disk, tag, bytes);
    file.open_rw().sync_all().expect("sync");
    file
}

/// Copies a file with direct I/O, `window` blocks in flight: reads, then writes from the
/// buffers the reads give back. Checks the copy byte for byte.
pub async fn direct_copy<R: Reactor>(window: usize) {
    const BLOCK: usize = 64 * 1024;
    let blocks = 48;
    let bytes = pattern(5, BLOCK * blocks);
    let src = disk_file("async-copy-src", &bytes);
    let dst = disk_file("async-copy-dst", &vec![0u8; BLOCK * blocks]);
    let (src_f, dst_f) = (src.open_direct(), dst.open_direct());
    let ctx = AsyncContext::<R, AlignedBuf>::new(2 * window as u32).expect("context");
    let mut next = 0;
    while next < blocks {
        let batch: Vec<usize> = (next..blocks.min(next + window)).collect();
        next += batch.len();
        let reads = batch
            .iter()
            .map(|&b| {
                ctx.submit(Op::read(&src_f, aligned_zeroed(BLOCK), (b * BLOCK) as u64))
                    .expect("submit read")
            })
            .collect();
        let writes: Vec<_> = join_all(reads)
            .await
            .into_iter()
            .zip(&batch)
            .map(|(read, &b)| {
                let read = read.expect("read");
                assert_eq!(read.result().expect("read") as usize, BLOCK);
                let buf = read.into_buf().unwrap();
                ctx.submit(Op::write(&dst_f, buf, (b * BLOCK) as u64))
                    .expect("submit write")
            })
            .collect();
        for write in join_all(writes).await {
            assert_eq!(
                write.expect("write").result().expect("write") as usize,
                BLOCK
            );
        }
    }
    assert_eq!(dst.contents(), bytes, "the copy differs from the source");
}

/// Waits for a socket to become readable through `IOCB_CMD_POLL`.
pub async fn poll_socket<R: Reactor>() {
    let ctx = AsyncContext::<R>::new(4).expect("context");
    let (a, mut b) = UnixStream::pair().expect("socketpair");
    let mut readable = ctx
        .submit(Op::poll(&a, PollFlags::IN))
        .expect("submit poll");
    assert!(
        poll_once(&mut readable).is_pending(),
        "nothing was written yet"
    );
    b.write_all(b"ping").expect("write");
    let done = readable.await.expect("completion");
    let mask = done.result().expect("poll result");
    assert_ne!(mask & u64::from(PollFlags::IN.bits()), 0, "mask {mask:#x}");
}

/// Dropping a poll future cancels the request: it leaves the context without the socket
/// ever becoming readable.
pub async fn dropping_a_poll_cancels_it<R: Reactor>() {
    let ctx = AsyncContext::<R>::new(4).expect("context");
    let (a, _b) = UnixStream::pair().expect("socketpair");
    let mut never = ctx.submit(Op::poll(&a, PollFlags::IN)).expect("submit");
    assert!(poll_once(&mut never).is_pending());
    let unpolled = ctx.submit(Op::poll(&a, PollFlags::IN)).expect("submit");
    assert_eq!(ctx.in_flight(), 2);
    drop(never);
    drop(unpolled);
    settle(&ctx);
    // The context still works.
    let (c, mut d) = UnixStream::pair().expect("socketpair");
    let future = ctx.submit(Op::poll(&c, PollFlags::IN)).expect("submit");
    d.write_all(b"x").expect("write");
    assert!(future.await.expect("completion").result().unwrap() > 0);
}

/// Futures dropped before their direct writes complete (unpolled, or after a poll): the
/// context keeps each buffer until its write is on file, then drops it exactly once.
/// Meanwhile other futures on the same context complete normally.
pub async fn dropped_futures_keep_their_buffers<R: Reactor>() {
    const WRITES: usize = 48;
    const LEN: usize = 64 * 1024;
    let file = disk_file("async-drop", &vec![0u8; WRITES * LEN]);
    let f = file.open_direct();
    let fill = |id: usize| (id % 251) as u8 + 1;
    let reader = file.open_ro();
    let check: DropCheck = Box::new(move |id| {
        let mut region = vec![0u8; LEN];
        reader.read_exact_at(&mut region, (id * LEN) as u64).is_ok()
            && region.iter().all(|&b| b == fill(id))
    });
    let log = DropLog::with_check(WRITES, Some(check));
    let ctx = AsyncContext::<R, Tracked>::new(WRITES as u32).expect("context");
    let mut kept = Vec::new();
    for id in 0..WRITES {
        let buf = Tracked::filled(&log, id, LEN, fill(id));
        let mut future = ctx
            .submit(Op::write(&f, buf, (id * LEN) as u64))
            .expect("submit");
        match id % 3 {
            0 => drop(future),
            1 => match poll_once(&mut future) {
                Poll::Pending => drop(future),
                Poll::Ready(done) => {
                    assert_eq!(
                        done.expect("completion").result().expect("write") as usize,
                        LEN
                    );
                }
            },
            _ => kept.push(future),
        }
    }
    let kept_n = kept.len();
    for completion in join_all(kept).await {
        let completion: Completion<Tracked> = completion.expect("completion");
        assert_eq!(completion.result().expect("write") as usize, LEN);
    }
    settle(&ctx);
    assert_eq!(
        log.total(),
        WRITES,
        "{kept_n} kept, every buffer dropped once"
    );
    assert!(log.each_once());
    assert_eq!(
        log.failed_checks(),
        0,
        "a buffer was freed before its write was on file"
    );
    assert_eq!(log.corrupted(), 0);
}

/// The last handle to the context goes while futures still own theirs; the context
/// lives until the futures go, then is destroyed, and each buffer is dropped once.
pub async fn futures_outlive_the_handle<R: Reactor>() {
    const LEN: usize = 4096;
    let log = DropLog::new(8);
    let file = TempFile::new(Fs::Tmpfs, "async-outlive", &pattern(3, 8 * LEN));
    let f = file.open_ro();
    let ctx = AsyncContext::<R, Tracked>::new(8).expect("context");
    let futures: Vec<_> = (0..8)
        .map(|id| {
            ctx.submit(Op::read(
                &f,
                Tracked::zeroed(&log, id, LEN),
                (id * LEN) as u64,
            ))
            .expect("submit")
        })
        .collect();
    drop(ctx);
    let mut futures = futures.into_iter();
    let first = futures.next().unwrap().await.expect("completion");
    assert_eq!(
        first.into_buf().unwrap().bytes(),
        &pattern(3, 8 * LEN)[..LEN]
    );
    drop(futures);
    assert_eq!(log.total(), 8);
    assert!(log.each_once());
}

/// A future that is leaked never resolves, but leaks nothing the kernel uses and does not
/// stop the context.
pub async fn a_forgotten_future_stops_nothing<R: Reactor>() {
    let file = TempFile::new(Fs::Tmpfs, "async-forget", &pattern(9, 4096));
    let f = file.open_ro();
    let ctx = AsyncContext::<R>::new(4).expect("context");
    std::mem::forget(ctx.submit(Op::read(&f, vec![0u8; 100], 0)).expect("submit"));
    for _ in 0..3 {
        let done = ctx
            .submit(Op::read(&f, vec![0u8; 100], 0))
            .expect("submit")
            .await
            .expect("completion");
        assert_eq!(done.into_buf().unwrap(), &pattern(9, 4096)[..100]);
    }
}

/// A future polled after it resolved reports an error instead of panicking.
pub async fn polling_after_completion_is_an_error<R: Reactor>() {
    let file = TempFile::new(Fs::Tmpfs, "async-twice", b"abc");
    let f = file.open_ro();
    let ctx = AsyncContext::<R>::new(2).expect("context");
    let mut future = ctx.submit(Op::read(&f, vec![0u8; 3], 0)).expect("submit");
    let first = poll_fn(|cx| Pin::new(&mut future).poll(cx)).await;
    assert_eq!(first.expect("completion").into_buf().unwrap(), b"abc");
    assert!(matches!(poll_once(&mut future), Poll::Ready(Err(_))));
}

/// The context is a handle to share between tasks and threads, its futures can be
/// spawned anywhere and moved after being polled.
pub fn assert_handle_and_future_traits<R: Reactor>() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    fn spawnable<T: Future + Send + Unpin + 'static>() {}
    shareable::<AsyncContext<R>>();
    shareable::<AsyncContext<R, AlignedBuf>>();
    spawnable::<OpFuture<R>>();
    spawnable::<OpFuture<R, AlignedBuf>>();
}

/// A readiness watch is re-armed by each wait (one poll per wait), on a socket, an
/// eventfd and a timerfd; dropping an armed watch cancels its poll.
pub async fn readiness_is_rearmed_per_wait<R: Reactor>() {
    use std::io::Read;
    let ctx = AsyncContext::<R>::new(4).expect("context");
    let (a, mut b) = UnixStream::pair().expect("socketpair");
    let mut reader = a.try_clone().unwrap();
    let mut readable = ctx.readiness(&a, PollFlags::IN);
    assert!(!readable.is_armed());
    for round in 0..50u8 {
        b.write_all(&[round]).expect("write");
        let mask = readable.ready().await.expect("ready");
        assert!(mask.contains(PollFlags::IN), "{mask:?}");
        let mut got = [0u8; 1];
        reader.read_exact(&mut got).unwrap();
        assert_eq!(got[0], round);
        assert!(!readable.is_armed(), "one poll per wait");
    }
    let efd = rawaio::EventFd::new().unwrap();
    let mut counter = ctx.readiness(&efd, PollFlags::IN);
    efd.write(3).unwrap();
    assert!(counter.ready().await.unwrap().contains(PollFlags::IN));
    let timer = rustix::time::timerfd_create(
        rustix::time::TimerfdClockId::Monotonic,
        rustix::time::TimerfdFlags::CLOEXEC | rustix::time::TimerfdFlags::NONBLOCK,
    )
    .unwrap();
    let soon = rustix::time::Itimerspec {
        it_interval: rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 5_000_000,
        },
    };
    rustix::time::timerfd_settime(&timer, rustix::time::TimerfdTimerFlags::empty(), &soon).unwrap();
    let mut expired = ctx.readiness(&timer, PollFlags::IN);
    assert!(expired.ready().await.unwrap().contains(PollFlags::IN));
    // An armed watch, dropped: its poll is cancelled and its room comes back.
    let mut never = ctx.readiness(&a, PollFlags::IN);
    assert!(poll_once(&mut Box::pin(never.ready())).is_pending());
    assert!(never.is_armed());
    assert_eq!(ctx.in_flight(), 1);
    drop(never);
    settle(&ctx);
    assert_eq!(ctx.in_flight(), 0);
}

/// No async test takes a second; a hang becomes a failure.
pub const LIMIT: Duration = Duration::from_secs(60);

/// tokio's runtimes for the tests, and a watched run on one.
#[cfg(feature = "tokio")]
pub mod on_tokio {
    use super::LIMIT;
    use crate::support::Watchdog;
    use rawaio::reactor::Reactor;
    use rawaio::{Op, PollFlags};
    use std::future::Future;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;
    use tokio::runtime::{Builder, Runtime};

    pub fn current_thread() -> Runtime {
        Builder::new_current_thread().enable_all().build().unwrap()
    }

    pub fn multi_thread() -> Runtime {
        Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Runs `test` on `rt`, failing if it takes longer than [`LIMIT`].
    pub fn run(rt: Runtime, test: impl Future<Output = ()>) {
        let _watchdog = Watchdog::new(LIMIT, "an async test on tokio");
        rt.block_on(async {
            tokio::time::timeout(LIMIT, test)
                .await
                .expect("the test hung")
        });
    }

    /// [`shared_context_jobs`](super::shared_context_jobs) spawned as `tasks` tokio tasks
    /// of `rounds` rounds each: every block is checked, and nothing stays in flight.
    pub async fn many_tasks_share_one_context<R: Reactor>(tasks: usize, rounds: usize) {
        let (ctx, _file, jobs) = super::shared_context_jobs::<R>(tasks, rounds);
        let handles: Vec<_> = jobs.into_iter().map(tokio::spawn).collect();
        let mut checked = 0;
        for h in handles {
            checked += h.await.expect("task");
        }
        // Every third round reads a second block.
        assert_eq!(checked, tasks * (rounds + rounds.div_ceil(3)));
        assert_eq!(ctx.in_flight(), 0);
    }

    /// Half the tasks time out on some of their polls (dropping the future at whatever
    /// point it was: possibly just after the reactor's wake-up went to it, or while it was
    /// the busy-polling context's poller); the others must all finish.
    pub async fn tasks_that_give_up_do_not_stall_the_others<R: Reactor>() {
        let (ctx, _file, jobs) = super::shared_context_jobs::<R>(8, 30);
        let patient: Vec<_> = jobs.into_iter().map(tokio::spawn).collect();
        let impatient: Vec<_> = (0..8u64)
            .map(|t| {
                let ctx = ctx.clone();
                let (r, w) = UnixStream::pair().unwrap();
                tokio::spawn(async move {
                    // The other end stays open: the socket never becomes readable.
                    let _w = w;
                    let mut gave_up = 0;
                    for i in 0..30u64 {
                        let poll = ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
                        let wait = Duration::from_micros(20 + (t * 31 + i * 17) % 200);
                        if tokio::time::timeout(wait, poll).await.is_err() {
                            gave_up += 1;
                        }
                    }
                    gave_up
                })
            })
            .collect();
        for h in impatient {
            assert_eq!(h.await.unwrap(), 30, "the sockets never become readable");
        }
        let mut checked = 0;
        for h in patient {
            checked += h.await.unwrap();
        }
        assert_eq!(checked, 8 * (30 + 10));
        super::settle(&ctx);
    }
}

/// Runs `test` on async-io's `block_on`, aborting the run if it takes longer than
/// [`LIMIT`].
#[cfg(feature = "async-io")]
pub fn run_on_async_io(test: impl Future<Output = ()>) {
    let _watchdog = crate::support::Watchdog::new(LIMIT, "an async test on async-io");
    async_io::block_on(test);
}
