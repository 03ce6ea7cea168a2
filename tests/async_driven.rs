//! The async layer without an eventfd (`reactor::Driven`): an executor whose idle loop
//! parks in the context (`AsyncContext::park`, `io_getevents`), as a thread-per-core
//! runtime's does. Reads at depth, direct I/O, a park that times out, a poll request that
//! ends a park, a refused request finished through the ring, futures dropped before their
//! completions, futures polled on other threads while one thread parks, `block_on`, and a
//! `fork` child's park.

mod async_support;
mod support;

use async_support::join_all;
use rawaio::reactor::{Driven, Reactor};
use rawaio::{AlignedBuf, AsyncContext, InvalidOp, IoBuf, Op, PollFlags};
use std::future::Future;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};
use support::{DropLog, Fs, TempFile, Tracked, Watchdog, aligned_zeroed, pattern};

const LIMIT: Duration = Duration::from_secs(60);

/// A task's "woken" flag.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `future` to its end on this thread, parking in `ctx` whenever the task was not
/// woken; returns the output and how many parks reaped something.
fn run<B: IoBuf, T>(ctx: &AsyncContext<Driven, B>, future: impl Future<Output = T>) -> (T, usize) {
    let _watchdog = Watchdog::new(LIMIT, "an executor parked in its context");
    let mut future = pin!(future);
    let woken = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut parks = 0;
    loop {
        if woken.0.swap(false, Ordering::Acquire) {
            if let Poll::Ready(v) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
                return (v, parks);
            }
        } else if ctx.park(None).unwrap() > 0 {
            parks += 1;
        } else {
            // Nothing in the kernel: what the task waits for is elsewhere (a helper
            // thread), and wakes it itself.
            std::thread::yield_now();
        }
    }
}

#[test]
fn reads_many_files_concurrently() {
    let ctx = AsyncContext::<Driven>::new(16).unwrap();
    let files: Vec<TempFile> = (0..40)
        .map(|i| TempFile::new(Fs::Disk, "driven-many", &pattern(i, 3000 + i as usize)))
        .collect();
    let opened: Vec<_> = files.iter().map(TempFile::open_ro).collect();
    let (out, _) = run(&ctx, async {
        let mut futures = Vec::new();
        for (i, f) in opened.iter().enumerate() {
            let len = 3000 + i;
            futures.push(ctx.submit(Op::read(f, vec![0u8; len], 0)).unwrap());
            if futures.len() == 16 {
                break;
            }
        }
        let mut out = join_all(futures).await;
        for (i, f) in opened.iter().enumerate().skip(16) {
            let len = 3000 + i;
            out.push(ctx.submit(Op::read(f, vec![0u8; len], 0)).unwrap().await);
        }
        out
    });
    assert_eq!(out.len(), 40);
    for (i, c) in out.into_iter().enumerate() {
        let c = c.unwrap();
        assert_eq!(c.result().unwrap(), 3000 + i as u64);
        assert_eq!(c.into_buf().unwrap(), pattern(i as u64, 3000 + i));
    }
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn direct_reads_at_depth_come_back_whole() {
    let fs = Fs::direct();
    let blocks = 256;
    let data = pattern(7, blocks * 4096);
    let file = TempFile::new(fs, "driven-direct", &data);
    let f = file.open_direct();
    let ctx = AsyncContext::<Driven, AlignedBuf>::new(32).unwrap();
    let (n, _) = run(&ctx, async {
        let mut next = 0;
        let mut checked = 0;
        while next < blocks {
            let mut futures = Vec::new();
            while futures.len() < 32 && next < blocks {
                let op = Op::read(&f, aligned_zeroed(4096), (next * 4096) as u64);
                futures.push((next, ctx.submit(op).unwrap()));
                next += 1;
            }
            let (ids, futures): (Vec<_>, Vec<_>) = futures.into_iter().unzip();
            for (id, c) in ids.into_iter().zip(join_all(futures).await) {
                let c = c.unwrap();
                assert_eq!(c.result().unwrap(), 4096);
                assert_eq!(&c.into_buf().unwrap()[..], &data[id * 4096..][..4096]);
                checked += 1;
            }
        }
        checked
    });
    assert_eq!(n, blocks);
}

#[test]
fn park_returns_at_once_with_nothing_in_flight() {
    let _watchdog = Watchdog::new(LIMIT, "park with nothing in flight");
    let ctx = AsyncContext::<Driven>::new(4).unwrap();
    let start = Instant::now();
    assert_eq!(ctx.park(None).unwrap(), 0);
    assert_eq!(ctx.park(Some(Duration::from_secs(30))).unwrap(), 0);
    assert!(start.elapsed() < Duration::from_secs(10), "park waited");
}

#[test]
fn a_park_times_out_and_a_poll_request_ends_the_next() {
    let _watchdog = Watchdog::new(LIMIT, "a park ended by a poll request");
    let ctx = AsyncContext::<Driven>::new(4).unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let mut poll = pin!(ctx.submit(Op::poll(&a, PollFlags::IN)).unwrap());
    let woken = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    assert!(poll.as_mut().poll(&mut cx).is_pending());

    // Nothing completes: the park times out, reaping nothing, waking nobody.
    let start = Instant::now();
    assert_eq!(ctx.park(Some(Duration::from_millis(30))).unwrap(), 0);
    assert!(start.elapsed() >= Duration::from_millis(25));
    assert!(!woken.0.load(Ordering::Acquire));

    // Another thread makes the socket readable: the poll request completes in the ring,
    // which ends a park with no timeout and wakes the task.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        b.write_all(b"x").unwrap();
        b
    });
    assert_eq!(ctx.park(None).unwrap(), 1);
    assert!(woken.0.load(Ordering::Acquire));
    let Poll::Ready(done) = poll.as_mut().poll(&mut cx) else {
        panic!("woken, yet pending");
    };
    assert_ne!(
        done.unwrap().result().unwrap() & u64::from(PollFlags::IN.bits()),
        0
    );
    drop(writer.join().unwrap());
}

/// A reactor that watches the eventfd (and never waits: these tests do not poll it).
struct Watching;

impl Reactor for Watching {
    fn register(_eventfd: OwnedFd) -> std::io::Result<Self> {
        Ok(Self)
    }

    fn poll_read(
        &self,
        _cx: &mut Context<'_>,
        read: &mut dyn FnMut() -> std::io::Result<u64>,
    ) -> Poll<std::io::Result<u64>> {
        match read() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Poll::Pending,
            other => Poll::Ready(other),
        }
    }
}

#[test]
fn requests_go_without_the_contexts_eventfd() {
    // A request may carry its own eventfd only when the context sets none on it: refused
    // by a context whose reactor watches its eventfd, taken (and signalled) by a driven
    // one.
    let file = TempFile::new(Fs::Disk, "driven-notify", &pattern(3, 512));
    let f = file.open_ro();
    let own = rawaio::EventFd::new().unwrap();

    let watching = AsyncContext::<Watching>::new(2).unwrap();
    let refused = watching
        .submit(Op::read(&f, vec![0u8; 512], 0).notify(&own))
        .unwrap_err();
    assert!(matches!(
        refused.error,
        rawaio::Error::Invalid(InvalidOp::NotifyConflict)
    ));

    let ctx = AsyncContext::<Driven>::new(2).unwrap();
    let (c, _) = run(&ctx, async {
        ctx.submit(Op::read(&f, vec![0u8; 512], 0).notify(&own))
            .unwrap()
            .await
    });
    assert_eq!(c.unwrap().into_buf().unwrap(), pattern(3, 512));
    assert_eq!(
        own.read().unwrap(),
        1,
        "the request's own eventfd was signalled"
    );
}

#[test]
fn a_refused_read_is_finished_through_the_ring() {
    // A pipe with no data refuses a read with RWF_NOWAIT: the context waits for it with
    // an internal poll request, whose completion a park delivers, and resubmits it.
    let ctx = AsyncContext::<Driven>::new(4).unwrap();
    let (r, w) = support::pipe();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        rustix::io::write(&w, b"abc").unwrap();
        w
    });
    let (c, parks) = run(&ctx, async {
        ctx.submit(Op::read(&r, vec![0u8; 3], 0)).unwrap().await
    });
    assert_eq!(c.unwrap().into_buf().unwrap(), b"abc");
    assert!(
        parks >= 1,
        "the readiness poll's completion came through a park"
    );
    assert!(ctx.stats().polled >= 1, "{:?}", ctx.stats());
    drop(writer.join().unwrap());
}

#[test]
fn dropped_futures_buffers_are_freed_by_a_park() {
    let _watchdog = Watchdog::new(LIMIT, "dropped futures");
    let data = pattern(9, 64 * 1024);
    let file = TempFile::new(Fs::Disk, "driven-drop", &data);
    let f = file.open_ro();
    let log = DropLog::new(16);
    let ctx = AsyncContext::<Driven, Tracked>::new(16).unwrap();
    for id in 0..16 {
        let buf = Tracked::zeroed(&log, id, 4096);
        drop(ctx.submit(Op::read(&f, buf, (id * 4096) as u64)).unwrap());
    }
    let deadline = Instant::now() + LIMIT;
    while ctx.in_flight() > 0 {
        assert!(Instant::now() < deadline, "requests still in flight");
        ctx.park(Some(Duration::from_millis(100))).unwrap();
    }
    assert_eq!(log.total(), 16);
    assert!(log.each_once());
}

#[test]
fn futures_polled_on_other_threads_while_one_thread_parks() {
    let _watchdog = Watchdog::new(LIMIT, "threads polling while one parks");
    let blocks = 64;
    let data = pattern(11, blocks * 1024);
    let file = TempFile::new(Fs::Disk, "driven-threads", &data);
    let f = Arc::new(file.open_ro());
    let ctx = AsyncContext::<Driven>::new(32).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let parker = {
        let (ctx, stop) = (ctx.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut reaped = 0;
            while !stop.load(Ordering::Acquire) {
                reaped += ctx.park(Some(Duration::from_millis(2))).unwrap();
            }
            reaped
        })
    };
    let errors = Arc::new(Mutex::new(Vec::new()));
    let pollers: Vec<_> = (0..3)
        .map(|t| {
            let (ctx, f, data, errors) = (
                ctx.clone(),
                Arc::clone(&f),
                data.clone(),
                Arc::clone(&errors),
            );
            std::thread::spawn(move || {
                // Each thread blocks on its own futures, one after another, parking its
                // thread (not the context): only the parked thread and the polls
                // themselves deliver.
                for round in 0..200 {
                    let block = (round * 3 + t) % blocks;
                    let op = Op::read(&*f, vec![0u8; 1024], (block * 1024) as u64);
                    let mut future = ctx.submit(op).unwrap();
                    let c = block_on_thread(&mut future);
                    let buf = c.unwrap().into_buf().unwrap();
                    if buf[..] != data[block * 1024..][..1024] {
                        errors.lock().unwrap().push((t, round));
                    }
                }
            })
        })
        .collect();
    for p in pollers {
        p.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    parker.join().unwrap();
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
    assert_eq!(ctx.in_flight(), 0);
}

/// Blocks the calling thread until `future` resolves (woken through `thread::unpark`).
fn block_on_thread<F: Future + Unpin>(future: &mut F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = std::pin::Pin::new(&mut *future).poll(&mut cx) {
            return v;
        }
        // A bounded park: a spurious or lost wake-up shows as slowness, and the data
        // check and the watchdog still catch a hang.
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

#[test]
fn the_driven_reactor_refuses_to_be_polled() {
    let ctx = AsyncContext::<Driven>::new(2).unwrap();
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let r = ctx.reactor().poll_read(&mut cx, &mut || Ok(1));
    assert!(matches!(r, Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::Unsupported));
}

#[test]
fn writes_then_reads_back() {
    let file = TempFile::new(Fs::Disk, "driven-write", &[0u8; 8192]);
    let f = file.open_rw();
    let ctx = AsyncContext::<Driven>::new(8).unwrap();
    let data = pattern(5, 8192);
    let (results, _) = run(&ctx, async {
        let w = vec![
            ctx.submit(Op::write(&f, data[..4096].to_vec(), 0)).unwrap(),
            ctx.submit(Op::write(&f, data[4096..].to_vec(), 4096))
                .unwrap(),
        ];
        join_all(w).await
    });
    for r in results {
        assert_eq!(r.unwrap().result().unwrap(), 4096);
    }
    let mut back = vec![0u8; 8192];
    f.read_exact_at(&mut back, 0).unwrap();
    assert_eq!(back, data);
}

/// A one-shot value set by another thread, whose future wakes through the waker it was
/// last polled with (nothing of the context's).
#[derive(Default)]
struct Oneshot {
    value: Mutex<(Option<u32>, Option<Waker>)>,
}

impl Oneshot {
    fn set(&self, v: u32) {
        let waker = {
            let mut g = self.value.lock().unwrap();
            g.0 = Some(v);
            g.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn get(self: &Arc<Self>) -> impl Future<Output = u32> + use<> {
        let this = Arc::clone(self);
        std::future::poll_fn(move |cx| {
            let mut g = this.value.lock().unwrap();
            match g.0 {
                Some(v) => Poll::Ready(v),
                None => {
                    g.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }
}

#[test]
fn block_on_runs_reads_to_their_end() {
    let _watchdog = Watchdog::new(LIMIT, "block_on reads");
    let files: Vec<TempFile> = (0..24)
        .map(|i| TempFile::new(Fs::Disk, "driven-block-on", &pattern(i, 1000 + i as usize)))
        .collect();
    let opened: Vec<_> = files.iter().map(TempFile::open_ro).collect();
    let ctx = AsyncContext::<Driven>::new(8).unwrap();
    let out = ctx
        .block_on(async {
            let mut out = Vec::new();
            for chunk in opened.chunks(8) {
                let futures: Vec<_> = chunk
                    .iter()
                    .map(|f| ctx.submit(Op::read(f, vec![0u8; 1100], 0)).unwrap())
                    .collect();
                out.extend(join_all(futures).await);
            }
            out
        })
        .unwrap();
    for (i, c) in out.into_iter().enumerate() {
        let c = c.unwrap();
        assert_eq!(c.result().unwrap(), 1000 + i as u64);
        assert_eq!(
            &c.into_buf().unwrap()[..1000 + i],
            &pattern(i as u64, 1000 + i)[..]
        );
    }
    assert_eq!(ctx.in_flight(), 0, "block_on left its poll request behind");
}

#[test]
fn block_on_is_woken_from_another_thread_while_parked() {
    // Nothing of the context's is in flight but block_on's own poll request: only the
    // waker, called from another thread, can end the park.
    let _watchdog = Watchdog::new(LIMIT, "block_on woken from another thread");
    let ctx = AsyncContext::<Driven>::new(4).unwrap();
    for round in 0..20u32 {
        let shot = Arc::new(Oneshot::default());
        let setter = {
            let shot = Arc::clone(&shot);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(u64::from(round % 4) * 3));
                shot.set(round);
            })
        };
        assert_eq!(ctx.block_on(shot.get()).unwrap(), round);
        setter.join().unwrap();
    }
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn block_on_mixes_completions_and_wakes_from_other_threads() {
    let _watchdog = Watchdog::new(LIMIT, "block_on with completions and wakes");
    let data = pattern(21, 16 * 4096);
    let file = TempFile::new(Fs::Disk, "driven-mixed", &data);
    let f = file.open_ro();
    let ctx = AsyncContext::<Driven>::new(8).unwrap();
    let shot = Arc::new(Oneshot::default());
    let setter = {
        let shot = Arc::clone(&shot);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            shot.set(7);
        })
    };
    let (v, reads) = ctx
        .block_on(async {
            let mut reads = Vec::new();
            for i in 0..16u64 {
                let c = ctx
                    .submit(Op::read(&f, vec![0u8; 4096], i * 4096))
                    .unwrap()
                    .await
                    .unwrap();
                reads.push(c.into_buf().unwrap());
            }
            (shot.get().await, reads)
        })
        .unwrap();
    assert_eq!(v, 7);
    for (i, r) in reads.iter().enumerate() {
        assert_eq!(&r[..], &data[i * 4096..][..4096]);
    }
    setter.join().unwrap();
}

#[test]
fn a_fork_child_cannot_park_in_its_parents_context() {
    // The child's park fails (the kernel refuses the context there) instead of waiting or
    // taking the parent's completion; the parent's park then delivers it, once.
    let _watchdog = Watchdog::new(LIMIT, "park in a fork child");
    let ctx = AsyncContext::<Driven>::new(4).unwrap();
    let (r, w) = support::pipe();
    let mut poll = pin!(ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap());
    let woken = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    assert!(poll.as_mut().poll(&mut cx).is_pending());
    support::write_byte(&w);
    let deadline = Instant::now() + LIMIT;
    // The completion is in the ring, not yet delivered (nobody has reaped).
    std::thread::sleep(Duration::from_millis(20));

    // SAFETY: the child only parks (system calls, no allocation: the error is an errno)
    // and leaves with `_exit`; the context's locks are taken only by this thread.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match ctx.park(None) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => 0,
            Err(_) => 1,
            Ok(_) => 2,
        };
        // SAFETY: ends the child at once, running no destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child; `status` is writable.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        assert!(Instant::now() < deadline, "the fork child hung in park");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "the child's park did not fail with EINVAL"
    );
    assert_eq!(ctx.park(Some(Duration::from_secs(5))).unwrap(), 1);
    assert!(woken.0.load(Ordering::Acquire));
    assert!(matches!(poll.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
}

#[test]
fn park_delivers_on_a_context_whose_reactor_watches_the_eventfd() {
    // `park` is not only for `Driven`: on an eventfd context it waits in io_getevents
    // just the same, and the futures find what it delivered.
    let _watchdog = Watchdog::new(LIMIT, "park on an eventfd context");
    let data = pattern(31, 8 * 4096);
    // On the disk, with O_DIRECT: the reads complete after io_submit returns.
    let file = TempFile::new(Fs::Disk, "driven-eventfd-park", &data);
    file.open_rw().sync_all().unwrap();
    let f = file.open_direct();
    let ctx = AsyncContext::<Watching, AlignedBuf>::new(8).unwrap();
    let mut futures: Vec<_> = (0..8)
        .map(|i| {
            ctx.submit(Op::read(&f, aligned_zeroed(4096), i * 4096))
                .unwrap()
        })
        .collect();
    let waiting = ctx.in_flight();
    let deadline = Instant::now() + LIMIT;
    let mut parked = 0;
    while ctx.in_flight() > 0 {
        assert!(Instant::now() < deadline, "park never delivered");
        parked += ctx.park(Some(Duration::from_millis(100))).unwrap();
    }
    assert_eq!(parked, waiting, "park reaped what was in flight");
    let waker = Waker::noop();
    for (i, f) in futures.iter_mut().enumerate() {
        let Poll::Ready(c) = std::pin::Pin::new(f).poll(&mut Context::from_waker(waker)) else {
            panic!("read {i} delivered, yet pending");
        };
        assert_eq!(
            &c.unwrap().into_buf().unwrap()[..],
            &data[i * 4096..][..4096]
        );
    }
}

#[test]
fn block_on_leaves_the_task_its_whole_capacity() {
    // While parked, block_on keeps a poll request of its own in flight; it is outside the
    // context's capacity, so the task can still keep all 4 of its requests in flight.
    // Each round parks with 3 reads in flight (arming the poll in the fourth place, were
    // it inside the capacity), then submits 4 while that poll is still in flight.
    let _watchdog = Watchdog::new(LIMIT, "block_on at full capacity");
    let data = pattern(41, 16 * 4096);
    let file = TempFile::new(Fs::Disk, "driven-capacity", &data);
    file.open_rw().sync_all().unwrap();
    let f = file.open_direct();
    let ctx = AsyncContext::<Driven, AlignedBuf>::new(4).unwrap();
    assert_eq!(ctx.requested_size(), 4);
    let rounds = ctx
        .block_on(async {
            for round in 0..40u64 {
                let three: Vec<_> = (0..3)
                    .map(|i| {
                        ctx.submit(Op::read(&f, aligned_zeroed(4096), i * 4096))
                            .unwrap()
                    })
                    .collect();
                for c in join_all(three).await {
                    c.unwrap();
                }
                let futures: Vec<_> = (0..4)
                    .map(|i| {
                        let at = ((round * 4 + i) % 16) * 4096;
                        ctx.submit(Op::read(&f, aligned_zeroed(4096), at))
                            .map_err(|r| r.error)
                            .expect("a submission within the capacity")
                    })
                    .collect();
                assert!(ctx.in_flight() <= 4);
                for (i, c) in (0..4).zip(join_all(futures).await) {
                    let at = (((round * 4 + i) % 16) * 4096) as usize;
                    assert_eq!(&c.unwrap().into_buf().unwrap()[..], &data[at..][..4096]);
                }
            }
            40
        })
        .unwrap();
    assert_eq!(rounds, 40);
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn two_block_ons_share_a_context() {
    // One holds the context's poll request; the other parks with short timeouts. Both
    // finish, and each is woken by a waker another thread calls.
    let _watchdog = Watchdog::new(LIMIT, "two block_ons on one context");
    let ctx = AsyncContext::<Driven>::new(4).unwrap();
    let threads: Vec<_> = (0..2u32)
        .map(|t| {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                for round in 0..10u32 {
                    let shot = Arc::new(Oneshot::default());
                    let setter = {
                        let shot = Arc::clone(&shot);
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_millis(2));
                            shot.set(t * 100 + round);
                        })
                    };
                    assert_eq!(ctx.block_on(shot.get()).unwrap(), t * 100 + round);
                    setter.join().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
