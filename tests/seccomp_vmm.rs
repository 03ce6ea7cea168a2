//! A VMM's I/O thread under its seccomp allow-list (cloud-hypervisor allows only
//! `io_submit`, `io_getevents` and `io_destroy` of the AIO family in such threads).
//!
//! In a child process (the test binary run again), the context, its file, its eventfd
//! and an eventfd for wake-ups are made outside the filter. Then one thread installs an
//! allow-list built from `rawaio::syscalls::COMMON_PATH`, as a VMM would (plus
//! `exit_group` and `write` for this harness's report), and under it submits single
//! requests and a batch, reaps blocking and non-blocking, with and without timeouts and
//! with a timeout that expires, is woken by a `POLL` on an eventfd that another thread
//! writes, writes one itself, reads the context's completion eventfd, and drops the
//! context with a poll still in flight. The test binary's allocator makes no system call
//! (tests/sandbox), so every call the filter sees is rawaio's (or the thread's own lock
//! and clock). A call outside the list stops the child with `SIGSYS`, and the failure
//! names it. A second child runs the same kind of loop through `Context::exclusive`
//! under the exclusive entry points' list, which has no `futex`. A third runs a
//! thread-per-core executor's loop: `AsyncContext::<Driven>::block_on`, parking in the
//! context, woken by a poll another thread completes and by a waker another thread calls.
//! A fourth awaits fixed requests through an `AsyncFixedContext`, waiting for its reactor's
//! eventfd with `poll(2)` when a reap is pending. A fifth runs futures of a busy-polling
//! context (`reactor::BusyPoll`) on a hand-written executor, under the list of its entry
//! points with `read` and `io_getevents` taken out: it never needs them.

mod sandbox;
#[path = "sandbox/workload.rs"]
mod workload;

use rawaio::eventfd::EventFd;
use rawaio::reactor::{BusyPoll, Driven, Reactor};
use rawaio::syscalls::{self, Syscall};
use rawaio::{AsyncContext, AsyncFixedContext, AsyncPolicy, Context, Op, Options, PollFlags};
use sandbox::{Filter, allow_numbers, confined, in_child};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use workload::{Scratch, WAIT};

const BLOCK: usize = 4096;

/// What the I/O thread gets, made outside its filter.
struct Io {
    ctx: Context,
    scratch: Scratch,
    kick: Arc<EventFd>,
    armed: Arc<AtomicBool>,
    idle: std::os::fd::OwnedFd,
}

fn io_thread(io: Io) {
    let Io {
        mut ctx,
        scratch,
        kick,
        armed,
        idle,
    } = io;
    let file = &scratch.file;
    let mut done = Vec::with_capacity(64);
    // Single submissions and a batch, reaped with a timeout.
    for i in 0..16 {
        ctx.submit(Op::write(file, vec![i as u8; BLOCK], (i * BLOCK) as u64))
            .map_err(|r| r.error)
            .expect("submit");
    }
    let mut batch: VecDeque<Op<Vec<u8>>> = (16..32)
        .map(|i| Op::write(file, vec![i as u8; BLOCK], (i * BLOCK) as u64))
        .collect();
    let mut tokens = Vec::with_capacity(32);
    let s = ctx.submit_batch(&mut batch, &mut tokens);
    assert_eq!((s.accepted, s.error), (16, None));
    let mut got = 0;
    while got < 32 {
        got += ctx
            .reap(1, 32, Some(WAIT), &mut done)
            .expect("reap with a timeout");
    }
    assert!(done.iter().all(|c| c.result() == Ok(BLOCK as u64)));
    assert_eq!(
        ctx.eventfd().unwrap().read().unwrap(),
        32,
        "notified once each"
    );
    // Non-blocking reaps find nothing, with no timeout and a zero one.
    assert_eq!(ctx.reap(0, 32, None, &mut done), Ok(0));
    assert_eq!(ctx.reap(1, 32, Some(Duration::ZERO), &mut done), Ok(0));
    // Reads, reaped blocking without a timeout; wait_all with one.
    done.clear();
    tokens.clear();
    for i in 0..8 {
        let t = ctx
            .submit(Op::read(file, vec![0; BLOCK], (i * BLOCK) as u64))
            .map_err(|r| r.error)
            .expect("submit read");
        tokens.push(t);
    }
    assert_eq!(ctx.reap(8, 8, None, &mut done), Ok(8));
    assert_eq!(ctx.wait_all(&tokens, Some(WAIT), &mut done), Ok(8));
    for c in done.drain(..) {
        let buf = c.into_buf().unwrap();
        assert!(buf.iter().all(|&b| b == buf[0]) && (buf[0] as usize) < 8);
    }
    // Guest memory through a scope: one read into two borrowed parts of a buffer.
    let mut guest = vec![0u8; 4 * BLOCK];
    let (low, high) = guest.split_at_mut(2 * BLOCK);
    let read = ctx
        .scope(|s| {
            s.submit(Op::readv(file, vec![low, high], 0))
                .map_err(|r| r.error)
                .expect("scoped submit");
            let mut scoped = Vec::new();
            s.reap(1, 1, Some(WAIT), &mut scoped).expect("scoped reap");
            scoped[0].result()
        })
        .expect("scope");
    assert_eq!(read, Ok(4 * BLOCK as u64));
    assert!(guest[..BLOCK].iter().all(|&b| b == 0) && guest[3 * BLOCK..].iter().all(|&b| b == 3));
    // A timeout that expires: a poll on a pipe nobody writes.
    ctx.submit(Op::poll(&idle, PollFlags::IN))
        .map_err(|r| r.error)
        .expect("submit idle poll");
    assert_eq!(
        ctx.reap(1, 1, Some(Duration::from_millis(20)), &mut done),
        Ok(0)
    );
    // Woken by an eventfd another thread writes...
    let poll = ctx
        .submit(Op::poll(&*kick, PollFlags::IN))
        .map_err(|r| r.error)
        .expect("submit poll");
    armed.store(true, Ordering::Release);
    assert_eq!(
        ctx.reap(1, 1, Some(WAIT), &mut done),
        Ok(1),
        "woken by the kick"
    );
    let c = done.pop().unwrap();
    assert_eq!(
        (c.token(), c.result()),
        (poll, Ok(PollFlags::IN.bits() as u64))
    );
    assert_eq!(kick.read().unwrap(), 1);
    // ... and by one it writes itself.
    let poll = ctx
        .submit(Op::poll(&*kick, PollFlags::IN))
        .map_err(|r| r.error)
        .expect("submit poll");
    kick.write(3).expect("EventFd::write");
    assert_eq!(ctx.reap(1, 1, Some(WAIT), &mut done), Ok(1));
    assert_eq!(done.pop().unwrap().token(), poll);
    assert_eq!(
        ctx.eventfd().unwrap().read().unwrap(),
        11,
        "8 reads, the scoped read and 2 polls"
    );
    // Dropped with the idle poll in flight: io_destroy cancels it, then the eventfd
    // closes.
    assert_eq!(ctx.in_flight(), 1);
    drop(ctx);
    drop(idle);
    println!("the I/O thread ran under its allow-list");
}

#[test]
fn vmm_io_thread_allow_list() {
    in_child("vmm_io_thread_allow_list", || {
        let calls = syscalls::allow_list(syscalls::COMMON_PATH).expect("COMMON_PATH");
        for must in [Syscall::IoSubmit, Syscall::IoGetevents, Syscall::IoDestroy] {
            assert!(calls.contains(&must));
        }
        assert!(!calls.contains(&Syscall::IoPgetevents) && !calls.contains(&Syscall::Mmap));
        let filter = Filter::allow_only(&allow_numbers(&calls));
        let ctx = Context::with_options(
            64,
            Options {
                eventfd: true,
                ..Options::default()
            },
        )
        .expect("Context::with_options");
        let kick = Arc::new(EventFd::new().unwrap());
        let armed = Arc::new(AtomicBool::new(false));
        let (idle, _idle_w) = rustix::pipe::pipe().unwrap();
        // The other side of the wake-up, outside the filter.
        {
            let (kick, armed) = (Arc::clone(&kick), Arc::clone(&armed));
            std::thread::spawn(move || {
                while !armed.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(20));
                kick.write(1).unwrap();
            });
        }
        let io = Io {
            ctx,
            scratch: Scratch::new("vmm"),
            kick,
            armed,
            idle,
        };
        std::mem::forget(_idle_w);
        confined(io, filter, io_thread);
    });
}

/// The same I/O thread's loop through `Context::exclusive`, under the allow-list of the
/// exclusive entry points: no `futex` in it, so a lock taken anywhere on the way stops
/// the child with `SIGSYS`.
fn exclusive_thread(mut io: Io) {
    let file = &io.scratch.file;
    let mut x = io.ctx.exclusive();
    let mut done = Vec::with_capacity(64);
    for i in 0..8 {
        x.submit(Op::write(file, vec![i as u8; BLOCK], (i * BLOCK) as u64))
            .map_err(|r| r.error)
            .expect("exclusive submit");
    }
    let mut batch: VecDeque<Op<Vec<u8>>> = (8..16)
        .map(|i| Op::write(file, vec![i as u8; BLOCK], (i * BLOCK) as u64))
        .collect();
    let mut tokens = Vec::with_capacity(16);
    let s = x.submit_batch(&mut batch, &mut tokens);
    assert_eq!((s.accepted, s.error), (8, None));
    let mut got = 0;
    while got < 16 {
        got += x
            .reap(1, 16, Some(WAIT), &mut done)
            .expect("exclusive reap with a timeout");
    }
    assert!(done.iter().all(|c| c.result() == Ok(BLOCK as u64)));
    assert_eq!(x.reap_ready(&mut done), Ok(0));
    assert_eq!(x.reap(1, 16, None, &mut done), Ok(0), "nothing in flight");
    // A wait that blocks in io_getevents without a timeout, then one that expires.
    done.clear();
    for i in 0..4 {
        x.submit(Op::read(file, vec![0; BLOCK], (i * BLOCK) as u64))
            .map_err(|r| r.error)
            .expect("exclusive submit read");
    }
    assert_eq!(x.reap(4, 4, None, &mut done), Ok(4));
    for c in done.drain(..) {
        let buf = c.into_buf().unwrap();
        assert!(buf.iter().all(|&b| b == buf[0]) && (buf[0] as usize) < 4);
    }
    x.submit(Op::poll(&io.idle, PollFlags::IN))
        .map_err(|r| r.error)
        .expect("submit idle poll");
    assert_eq!(
        x.reap(1, 1, Some(Duration::from_millis(20)), &mut done),
        Ok(0)
    );
    drop(io);
    println!("the exclusive I/O thread ran without a futex");
}

#[test]
fn exclusive_io_thread_needs_no_futex() {
    in_child("exclusive_io_thread_needs_no_futex", || {
        let names = [
            "Context::exclusive",
            "Exclusive::submit",
            "Exclusive::submit_batch",
            "Exclusive::reap",
            "Exclusive::reap_ready",
            "drop(Context)",
        ];
        let calls = syscalls::allow_list(&names).expect("the exclusive entry points");
        assert!(!calls.contains(&Syscall::Futex), "{calls:?}");
        let filter = Filter::allow_only(&allow_numbers(&calls));
        let (idle, idle_w) = rustix::pipe::pipe().unwrap();
        std::mem::forget(idle_w);
        let io = Io {
            ctx: Context::new(64).expect("Context::new"),
            scratch: Scratch::new("exclusive"),
            kick: Arc::new(EventFd::new().unwrap()),
            armed: Arc::new(AtomicBool::new(false)),
            idle,
        };
        confined(io, filter, exclusive_thread);
    });
}

/// What the driven I/O thread gets, made outside its filter.
struct DrivenIo {
    ctx: AsyncContext<Driven>,
    scratch: Scratch,
    /// Written by another thread once the I/O thread waits for it through a poll.
    kick: Arc<EventFd>,
    /// Set by another thread, waking the I/O thread's task through its waker.
    shot: Arc<Shot>,
    armed: Arc<AtomicBool>,
}

/// A value another thread sets, whose future wakes through the waker it was polled with.
#[derive(Default)]
struct Shot(std::sync::Mutex<(Option<u32>, Option<std::task::Waker>)>);

impl Shot {
    fn set(&self, v: u32) {
        let waker = {
            let mut g = self.0.lock().unwrap();
            g.0 = Some(v);
            g.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// An eventfd that another thread (outside any filter) writes 20 ms after the flag is
/// set: the I/O thread sets it once it waits for the eventfd through a poll.
fn kicked_once_armed() -> (Arc<EventFd>, Arc<AtomicBool>) {
    let kick = Arc::new(EventFd::new().unwrap());
    let armed = Arc::new(AtomicBool::new(false));
    let (k, a) = (Arc::clone(&kick), Arc::clone(&armed));
    std::thread::spawn(move || {
        while !a.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        k.write(1).unwrap();
    });
    (kick, armed)
}

/// The async I/O threads' work: 16 writes in a batch, 8 reads of them back, checked, and
/// a poll of `kick`, which another thread writes once `armed` is set. Returns the bytes
/// written, the blocks read and the poll's mask.
async fn writes_reads_and_a_poll<R: Reactor>(
    ctx: &AsyncContext<R>,
    file: &std::fs::File,
    kick: &EventFd,
    armed: &AtomicBool,
) -> (u64, usize, u64) {
    let mut writes = VecDeque::new();
    for i in 0..16 {
        writes.push_back(Op::write(file, vec![i as u8; BLOCK], (i * BLOCK) as u64));
    }
    let mut futures = Vec::new();
    let s = ctx.submit_batch(&mut writes, &mut futures);
    assert_eq!((s.accepted, s.error), (16, None));
    let mut written = 0;
    for f in futures {
        written += f.await.expect("write").result().expect("written");
    }
    let mut read = 0;
    for i in 0..8 {
        let c = ctx
            .submit(Op::read(file, vec![0; BLOCK], (i * BLOCK) as u64))
            .map_err(|r| r.error)
            .expect("submit read")
            .await
            .expect("read");
        assert!(c.into_buf().unwrap().iter().all(|&b| b == i as u8));
        read += 1;
    }
    let poll = ctx
        .submit(Op::poll(kick, PollFlags::IN))
        .map_err(|r| r.error)
        .expect("submit poll");
    armed.store(true, Ordering::Release);
    let polled = poll.await.expect("poll").result().expect("polled");
    (written, read, polled)
}

/// A thread-per-core executor's I/O thread: `block_on` on a `Driven` context (no
/// eventfd), parking in the context, under the allow-list of the entry points it uses.
fn driven_thread(io: DrivenIo) {
    let DrivenIo {
        ctx,
        scratch,
        kick,
        shot,
        armed,
    } = io;
    let file = &scratch.file;
    let (written, read, polled, got) = ctx
        .block_on(async {
            // The poll's completion ends a park.
            let (written, read, polled) = writes_reads_and_a_poll(&ctx, file, &kick, &armed).await;
            // A waker called from another thread: the park ends on block_on's own poll.
            let got = std::future::poll_fn(|cx| {
                let mut g = shot.0.lock().unwrap();
                match g.0 {
                    Some(v) => std::task::Poll::Ready(v),
                    None => {
                        g.1 = Some(cx.waker().clone());
                        std::task::Poll::Pending
                    }
                }
            })
            .await;
            (written, read, polled, got)
        })
        .expect("block_on");
    assert_eq!((written, read, got), (16 * BLOCK as u64, 8, 7));
    assert_ne!(polled & u64::from(PollFlags::IN.bits()), 0);
    drop(ctx);
    println!("the driven I/O thread ran under its allow-list");
}

#[test]
fn driven_io_thread_allow_list() {
    in_child("driven_io_thread_allow_list", || {
        let names = [
            "AsyncContext::block_on",
            "AsyncContext::submit",
            "AsyncContext::submit_batch",
            "OpFuture::poll",
            "drop(OpFuture)",
            "drop(AsyncContext)",
        ];
        let calls = syscalls::allow_list(&names).expect("the driven entry points");
        let filter = Filter::allow_only(&allow_numbers(&calls));
        let ctx = AsyncContext::<Driven>::with_policy(64, AsyncPolicy::as_given())
            .expect("AsyncContext::with_policy");
        let kick = Arc::new(EventFd::new().unwrap());
        let shot = Arc::new(Shot::default());
        let armed = Arc::new(AtomicBool::new(false));
        // The other side of both wake-ups, outside the filter.
        {
            let (kick, shot, armed) = (Arc::clone(&kick), Arc::clone(&shot), Arc::clone(&armed));
            std::thread::spawn(move || {
                while !armed.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(20));
                kick.write(1).unwrap();
                std::thread::sleep(Duration::from_millis(20));
                shot.set(7);
            });
        }
        let io = DrivenIo {
            ctx,
            scratch: Scratch::new("driven"),
            kick,
            shot,
            armed,
        };
        confined(io, filter, driven_thread);
    });
}

/// A reactor for a thread that waits with `poll(2)` itself: keeps the waker when the
/// eventfd would block.
struct PollWait {
    fd: std::os::fd::OwnedFd,
    waker: std::sync::Mutex<Option<std::task::Waker>>,
}

impl Reactor for PollWait {
    fn register(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        Ok(Self {
            fd,
            waker: std::sync::Mutex::new(None),
        })
    }

    fn poll_read(
        &self,
        cx: &mut std::task::Context<'_>,
        read: &mut dyn FnMut() -> std::io::Result<u64>,
    ) -> std::task::Poll<std::io::Result<u64>> {
        match read() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                *self.waker.lock().unwrap() = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
            other => std::task::Poll::Ready(other),
        }
    }
}

/// What the fixed I/O thread gets, made outside its filter.
struct FixedIo {
    ctx: AsyncFixedContext<'static, PollWait, Vec<u8>>,
    file: Arc<std::fs::File>,
    /// Written by another thread once the I/O thread waits for it through a poll.
    kick: Arc<EventFd>,
    armed: Arc<AtomicBool>,
}

/// Reaps until `want` completions are in `done`, waiting for the reactor's eventfd with
/// `poll(2)` (the harness's own call) whenever the reap is pending; returns the waits.
fn reap_fixed(
    ctx: &mut AsyncFixedContext<'static, PollWait, Vec<u8>>,
    done: &mut Vec<rawaio::FixedCompletion>,
    want: usize,
) -> usize {
    let woken = Arc::new(Woken(AtomicBool::new(false)));
    let waker = std::task::Waker::from(Arc::clone(&woken));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut waits = 0;
    while done.len() < want {
        match ctx.poll_reap(&mut cx, done) {
            std::task::Poll::Ready(n) => assert!(n.expect("reap") > 0, "nothing to reap"),
            std::task::Poll::Pending => {
                waits += 1;
                let mut fds = [rustix::event::PollFd::new(
                    &ctx.reactor().fd,
                    rustix::event::PollFlags::IN,
                )];
                rustix::event::poll(&mut fds, None).expect("poll");
                if let Some(w) = ctx.reactor().waker.lock().unwrap().take() {
                    w.wake();
                }
                assert!(woken.0.swap(false, Ordering::SeqCst), "the waker was woken");
            }
        }
    }
    waits
}

struct Woken(AtomicBool);

impl std::task::Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A storage engine's I/O thread with fixed requests, awaiting their completions through
/// an `AsyncFixedContext` (a reactor it polls itself), under the allow-list of the entry
/// points it uses: writes, then a poll another thread completes (a wait), then the drop.
fn fixed_thread(io: FixedIo) {
    let FixedIo {
        mut ctx,
        file,
        kick,
        armed,
    } = io;
    let mut done = Vec::new();
    let mut slots = Vec::new();
    for i in 0..16 {
        let op = Op::write(Arc::clone(&file), vec![i as u8; BLOCK], (i * BLOCK) as u64);
        slots.push(ctx.fixed_mut().insert(op).expect("insert"));
    }
    for slot in slots {
        ctx.fixed_mut()
            .push(slot)
            .map_err(|(_, e)| e)
            .expect("push");
    }
    let s = ctx.fixed_mut().submit();
    assert_eq!((s.accepted, s.error), (16, None));
    reap_fixed(&mut ctx, &mut done, 16);
    assert!(done.iter().all(|c| c.result() == Ok(BLOCK as u64)));
    done.clear();
    // A poll another thread completes: the reap waits for the reactor.
    let poll = ctx
        .fixed_mut()
        .insert(Op::poll(Arc::clone(&kick), PollFlags::IN))
        .expect("insert poll");
    ctx.fixed_mut()
        .push(poll)
        .map_err(|(_, e)| e)
        .expect("push poll");
    assert_eq!(ctx.fixed_mut().submit().accepted, 1);
    armed.store(true, Ordering::Release);
    let waits = reap_fixed(&mut ctx, &mut done, 1);
    let mask = done[0].result().expect("polled");
    assert_ne!(mask & u64::from(PollFlags::IN.bits()), 0);
    drop(done);
    drop(ctx);
    println!("the fixed I/O thread ran under its allow-list ({waits} waits)");
}

#[test]
fn fixed_async_io_thread_allow_list() {
    in_child("fixed_async_io_thread_allow_list", || {
        let names = [
            "FixedContext::insert",
            "FixedContext::push",
            "FixedContext::submit",
            "AsyncFixedContext::poll_reap",
            "AsyncFixedContext::fixed_mut",
            "AsyncFixedContext::reactor",
            "drop(AsyncFixedContext)",
        ];
        let calls = syscalls::allow_list(&names).expect("the fixed entry points");
        let mut numbers = allow_numbers(&calls);
        // The harness's own wait for the reactor's eventfd (`c_long`: `i32` on 32-bit
        // targets, hence the conversion).
        #[allow(clippy::useless_conversion)]
        numbers.push(i64::from(libc::SYS_ppoll));
        #[cfg(target_arch = "x86_64")]
        numbers.push(libc::SYS_poll);
        let filter = Filter::allow_only(&numbers);
        let ctx = AsyncFixedContext::<PollWait, Vec<u8>>::new(32).expect("AsyncFixedContext::new");
        // The other side of the wait, outside the filter.
        let (kick, armed) = kicked_once_armed();
        let io = FixedIo {
            ctx,
            file: Arc::new(Scratch::new("fixed").file),
            kick,
            armed,
        };
        confined(io, filter, fixed_thread);
    });
}

/// What the busy-polling I/O thread gets, made outside its filter.
struct BusyIo {
    ctx: AsyncContext<BusyPoll>,
    scratch: Scratch,
    /// Written by another thread once the I/O thread waits for it through a poll.
    kick: Arc<EventFd>,
    armed: Arc<AtomicBool>,
}

/// An I/O thread given to busy-polling: futures of a `BusyPoll` context on an executor
/// that polls its task only when it was woken (and fails if it is pending and was not):
/// writes, reads, and a poll another thread completes, with no `read` of an eventfd and
/// no `io_getevents` allowed.
fn busy_thread(io: BusyIo) {
    let BusyIo {
        ctx,
        scratch,
        kick,
        armed,
    } = io;
    let file = &scratch.file;
    // The poll's future keeps looking at the ring until another thread completes it.
    let mut task = std::pin::pin!(writes_reads_and_a_poll(&ctx, file, &kick, &armed));
    let woken = Arc::new(Woken(AtomicBool::new(true)));
    let waker = std::task::Waker::from(Arc::clone(&woken));
    let mut turns = 0u64;
    let (written, read, polled) = loop {
        assert!(
            woken.0.swap(false, Ordering::SeqCst),
            "the task is pending and nothing woke it"
        );
        turns += 1;
        let mut cx = std::task::Context::from_waker(&waker);
        if let std::task::Poll::Ready(out) = task.as_mut().poll(&mut cx) {
            break out;
        }
    };
    assert_eq!((written, read), (16 * BLOCK as u64, 8));
    assert_ne!(polled & u64::from(PollFlags::IN.bits()), 0);
    println!("the busy-polling I/O thread ran under its allow-list ({turns} turns)");
}

#[test]
fn busy_polling_io_thread_needs_no_read_or_io_getevents() {
    in_child(
        "busy_polling_io_thread_needs_no_read_or_io_getevents",
        || {
            let names = [
                "AsyncContext::submit",
                "AsyncContext::submit_batch",
                "OpFuture::poll",
                "drop(OpFuture)",
                "drop(AsyncContext)",
            ];
            let calls: Vec<Syscall> = syscalls::allow_list(&names)
                .expect("the busy-polling entry points")
                .into_iter()
                .filter(|c| !matches!(c, Syscall::Read | Syscall::IoGetevents))
                .collect();
            let filter = Filter::allow_only(&allow_numbers(&calls));
            let ctx = AsyncContext::<BusyPoll>::with_policy(64, AsyncPolicy::as_given())
                .expect("AsyncContext::with_policy");
            let (kick, armed) = kicked_once_armed();
            let io = BusyIo {
                ctx,
                scratch: Scratch::new("busy"),
                kick,
                armed,
            };
            confined(io, filter, busy_thread);
        },
    );
}
