//! The C floor's loop (`benches/c/aio_floor.c`) over rawaio's safe paths: the same
//! random `O_DIRECT` reads, `batch` per submission, the same random numbers, the same
//! clock reads (one per 64 rounds), no latency bookkeeping, and the same output line, so
//! that the two can be run side by side and under callgrind.
//!
//! ```text
//! cargo bench --bench floor -- PATHKIND TARGET [qd=128] [batch=32] [bs=4096] [seconds=5] [reap=ring] [ios=0]
//! ```
//!
//! PATHKIND: `owning` ([`Context`]: an [`Op`] per request, its buffer moved in and back),
//! `exclusive` (the same through [`Exclusive`]: the context held by `&mut`, no locks),
//! `fixed` ([`FixedContext`]: a slot per request, only the offset set per round),
//! `async` ([`AsyncContext`]: a future per request, polled by a minimal executor that
//! blocks in `poll(2)` on the eventfd when no future was woken), `driven` (the same
//! futures in one task of [`AsyncContext::block_on`], rawaio's executor for a context of
//! [`Driven`]: no eventfd, and the thread parks in the context when the task was not
//! woken, as a thread-per-core runtime's idle loop does), `busy` (the same futures on a
//! context of [`BusyPoll`], on the minimal executor, which then never waits: the poller
//! future wakes its own slot after each look at the ring) and, built with
//! `--features tokio`, `tokio` (the same futures in one task of tokio's current-thread
//! runtime, which waits through its reactor), `tokio-relay` (the same through
//! [`rawaio::reactor::Relay`], which keeps the completions' eventfd out of epoll),
//! `tokio-busy` (the same on a context of [`BusyPoll`]), and `fixed-tokio`,
//! `fixed-relay` and `fixed-busy` (the `fixed` loop in one tokio task, awaiting its
//! completions through a [`rawaio::AsyncFixedContext`] of each). reap (owning and fixed only):
//! `ring` (the ring, `io_getevents` to wait when it is empty), `spin` (the ring only,
//! spinning) or `getevents` (every reap an `io_getevents` call), as in the C loop.
//! `ios > 0` stops after that many I/Os, for instruction counts that do not depend on
//! time.

use rawaio::reactor::{BusyPoll, Driven, Reactor};
use rawaio::{
    AlignedBuf, AsyncContext, Completion, Context, Exclusive, FixedContext, FixedSlot, Op,
    OpFuture, Options, Submitted, Token,
};
use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reap {
    Ring,
    Spin,
    Getevents,
}

struct Args {
    kind: String,
    target: String,
    qd: usize,
    batch: usize,
    bs: usize,
    seconds: f64,
    reap: Reap,
    ios: u64,
}

fn parse() -> Result<Args, String> {
    // `cargo bench` adds `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let usage = "usage: floor owning|exclusive|fixed|async|driven|busy|tokio|tokio-relay|tokio-busy|fixed-tokio|fixed-relay|fixed-busy TARGET [qd] [batch] [bs] [seconds] [ring|spin|getevents] [ios]";
    let [kind, target, rest @ ..] = &args[..] else {
        return Err(usage.into());
    };
    let num = |i: usize, default: u64| -> Result<u64, String> {
        rest.get(i).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("bad number {v:?}\n{usage}"))
        })
    };
    let reap = match rest.get(4).map(String::as_str) {
        None | Some("ring") => Reap::Ring,
        Some("spin") => Reap::Spin,
        Some("getevents") => Reap::Getevents,
        Some(other) => return Err(format!("bad reap {other:?}\n{usage}")),
    };
    let a = Args {
        kind: kind.clone(),
        target: target.clone(),
        qd: num(0, 128)? as usize,
        batch: num(1, 32)? as usize,
        bs: num(2, 4096)? as usize,
        seconds: rest.get(3).map_or(Ok(5.0), |v| {
            v.parse().map_err(|_| format!("bad seconds {v:?}"))
        })?,
        reap,
        ios: num(5, 0)?,
    };
    if a.qd < 1 || a.batch < 1 || a.batch > a.qd || a.bs < 512 {
        return Err("bad arguments".into());
    }
    Ok(a)
}

/// The C loop's seed.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The C loop's xorshift.
struct Rng(u64);

impl Rng {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What every path shares: the file, the offsets, the clock, the count.
struct Run {
    blocks: u64,
    bs: usize,
    ios: u64,
    max_ios: u64,
    start: Instant,
    end: f64,
    loops: u64,
    now: f64,
}

impl Run {
    /// Counts `n` I/Os and one round; whether to go on.
    #[inline]
    fn round(&mut self, n: usize) -> bool {
        self.ios += n as u64;
        self.loops += 1;
        if self.loops & 63 == 0 {
            self.now = self.start.elapsed().as_secs_f64();
        }
        self.now < self.end && self.ios < self.max_ios
    }
}

fn options(reap: Reap) -> Options {
    Options {
        user_space_reaping: reap != Reap::Getevents,
        ..Options::default()
    }
}

fn check(res: i64, bs: usize) -> Result<(), String> {
    if res == bs as i64 {
        Ok(())
    } else {
        Err(format!("short read: {res}"))
    }
}

/// The calls of the owning loop, through `&Context` (shared: its locks taken) or an
/// [`Exclusive`] (held by `&mut`: no locks).
trait Owning<'f> {
    fn submit(&mut self, op: Op<'f, AlignedBuf>) -> Result<Token, String>;
    fn submit_batch(
        &mut self,
        ops: &mut VecDeque<Op<'f, AlignedBuf>>,
        tokens: &mut Vec<Token>,
    ) -> Submitted;
    fn reap(
        &mut self,
        min: usize,
        max: usize,
        done: &mut Vec<Completion<AlignedBuf>>,
    ) -> Result<usize, String>;
}

/// `Owning` for a type whose inherent methods of those names do the work (`$via`).
macro_rules! owning_through {
    ($ty:ty, $via:ident) => {
        impl<'f> Owning<'f> for $ty {
            #[inline]
            fn submit(&mut self, op: Op<'f, AlignedBuf>) -> Result<Token, String> {
                $via::submit(self, op).map_err(|r| format!("io_submit: {}", r.error))
            }
            #[inline]
            fn submit_batch(
                &mut self,
                ops: &mut VecDeque<Op<'f, AlignedBuf>>,
                tokens: &mut Vec<Token>,
            ) -> Submitted {
                $via::submit_batch(self, ops, tokens)
            }
            #[inline]
            fn reap(
                &mut self,
                min: usize,
                max: usize,
                done: &mut Vec<Completion<AlignedBuf>>,
            ) -> Result<usize, String> {
                $via::reap(self, min, max, None, done).map_err(|e| format!("reap: {e}"))
            }
        }
    };
}
owning_through!(&Context<AlignedBuf>, Context);
owning_through!(Exclusive<'_, AlignedBuf>, Exclusive);

fn owning(a: &Args, file: &File, run: &mut Run, exclusive: bool) -> Result<(), String> {
    let mut ctx = Context::<AlignedBuf>::with_options(a.qd as u32, options(a.reap))
        .map_err(|e| format!("io_setup: {e}"))?;
    if exclusive {
        owning_loop(a, file, run, ctx.exclusive())
    } else {
        owning_loop(a, file, run, &ctx)
    }
}

fn owning_loop<'f>(
    a: &Args,
    file: &'f File,
    run: &mut Run,
    mut ctx: impl Owning<'f>,
) -> Result<(), String> {
    let mut bufs: Vec<Option<AlignedBuf>> = (0..a.qd)
        .map(|_| AlignedBuf::new(a.bs, 4096).map(Some))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut free: Vec<usize> = (0..a.qd).collect();
    let mut queue: VecDeque<Op<'_, AlignedBuf>> = VecDeque::with_capacity(a.qd);
    let mut tokens: Vec<Token> = Vec::with_capacity(a.qd);
    let mut done: Vec<Completion<AlignedBuf>> = Vec::with_capacity(a.qd);
    let (bs, blocks) = (run.bs, run.blocks);
    let mut rng = Rng(SEED);
    loop {
        while free.len() >= a.batch {
            if a.batch == 1 {
                let slot = free.pop().expect("a free slot");
                let off = (rng.next() % blocks) * bs as u64;
                let buf = bufs[slot].take().expect("its buffer");
                ctx.submit(Op::read(file, buf, off).user_data(slot as u64))?;
            } else {
                for _ in 0..a.batch {
                    let slot = free.pop().expect("a free slot");
                    let off = (rng.next() % blocks) * bs as u64;
                    let buf = bufs[slot].take().expect("its buffer");
                    queue.push_back(Op::read(file, buf, off).user_data(slot as u64));
                }
                tokens.clear();
                let s = ctx.submit_batch(&mut queue, &mut tokens);
                if s.accepted == 0 {
                    return Err(format!("io_submit: {:?}", s.error));
                }
                for op in queue.drain(..) {
                    let slot = op.get_user_data() as usize;
                    bufs[slot] = op.into_bufs().pop();
                    free.push(slot);
                }
            }
        }
        let n = match a.reap {
            Reap::Spin => loop {
                match ctx.reap(0, a.qd, &mut done) {
                    Ok(0) => {}
                    other => break other,
                }
            },
            _ => ctx.reap(1, a.qd, &mut done),
        }?;
        // From the back: no `Drain` to set up and tear down per round (the order within a
        // round does not matter here).
        while let Some(c) = done.pop() {
            check(c.raw_result(), bs)?;
            let slot = c.user_data() as usize;
            bufs[slot] = c.into_buf();
            free.push(slot);
        }
        if !run.round(n) {
            return Ok(());
        }
    }
}

/// The fixed loop (its own copy of what `fixed_submit` and `fixed_done` do, so that its
/// instruction counts stay comparable with earlier rounds').
fn fixed(a: &Args, file: &File, run: &mut Run) -> Result<(), String> {
    let mut fixed = FixedContext::<AlignedBuf>::with_options(a.qd as u32, options(a.reap))
        .map_err(|e| format!("io_setup: {e}"))?;
    let mut free = fixed_slots(a, file, &mut fixed)?;
    let mut done = Vec::with_capacity(a.qd);
    let (bs, blocks) = (run.bs, run.blocks);
    let mut rng = Rng(SEED);
    loop {
        while free.len() >= a.batch {
            for _ in 0..a.batch {
                let slot = free.pop().expect("a free slot");
                let off = (rng.next() % blocks) * bs as u64;
                fixed.push_at(slot, off).map_err(|(_, e)| e.to_string())?;
            }
            let s = fixed.submit();
            if s.accepted == 0 {
                return Err(format!("io_submit: {:?}", s.error));
            }
            // The C loop's "keep the rest free".
            fixed.take_queued(&mut free);
        }
        let n = match a.reap {
            Reap::Spin => loop {
                match fixed.reap(0, a.qd, None, &mut done) {
                    Ok(0) => {}
                    other => break other,
                }
            },
            _ => fixed.reap(1, a.qd, None, &mut done),
        }
        .map_err(|e| format!("reap: {e}"))?;
        // From the back: no `Drain` to set up and tear down per round (the order within a
        // round does not matter here).
        while let Some(c) = done.pop() {
            check(c.raw_result(), bs)?;
            free.push(c.into_slot());
        }
        if !run.round(n) {
            return Ok(());
        }
    }
}

/// A slot per request, each with its buffer.
fn fixed_slots<'f>(
    a: &Args,
    file: &'f File,
    fixed: &mut FixedContext<'f, AlignedBuf>,
) -> Result<Vec<FixedSlot>, String> {
    let mut free = Vec::with_capacity(a.qd);
    for _ in 0..a.qd {
        let buf = AlignedBuf::new(a.bs, 4096).map_err(|e| e.to_string())?;
        let slot = fixed
            .insert(Op::read(file, buf, 0))
            .map_err(|r| r.error.to_string())?;
        free.push(slot);
    }
    Ok(free)
}

/// Submits batches of fixed requests while slots are free.
#[cfg(feature = "tokio")]
#[inline]
fn fixed_submit(
    batch: usize,
    bs: usize,
    blocks: u64,
    fixed: &mut FixedContext<'_, AlignedBuf>,
    free: &mut Vec<FixedSlot>,
    rng: &mut Rng,
) -> Result<(), String> {
    while free.len() >= batch {
        for _ in 0..batch {
            let slot = free.pop().expect("a free slot");
            let off = (rng.next() % blocks) * bs as u64;
            fixed.push_at(slot, off).map_err(|(_, e)| e.to_string())?;
        }
        let s = fixed.submit();
        if s.accepted == 0 {
            return Err(format!("io_submit: {:?}", s.error));
        }
        // The C loop's "keep the rest free".
        fixed.take_queued(free);
    }
    Ok(())
}

/// Checks the fixed completions reaped and frees their slots.
#[cfg(feature = "tokio")]
#[inline]
fn fixed_done(
    bs: usize,
    done: &mut Vec<rawaio::FixedCompletion>,
    free: &mut Vec<FixedSlot>,
) -> Result<(), String> {
    // From the back: no `Drain` to set up and tear down per round (the order within a
    // round does not matter here).
    while let Some(c) = done.pop() {
        check(c.raw_result(), bs)?;
        free.push(c.into_slot());
    }
    Ok(())
}

/// The fixed loop in a task of tokio's current-thread runtime, awaiting its completions
/// through an [`AsyncFixedContext`] of reactor `R`.
#[cfg(feature = "tokio")]
fn fixed_tokio<R: Reactor>(a: &Args, file: &File, run: &mut Run) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut ctx = rawaio::AsyncFixedContext::<R, AlignedBuf>::new(a.qd as u32)
            .map_err(|e| format!("io_setup: {e}"))?;
        let mut free = fixed_slots(a, file, ctx.fixed_mut())?;
        let mut done = Vec::with_capacity(a.qd);
        let (bs, blocks) = (run.bs, run.blocks);
        let mut rng = Rng(SEED);
        loop {
            fixed_submit(a.batch, bs, blocks, ctx.fixed_mut(), &mut free, &mut rng)?;
            let n = ctx
                .reap(&mut done)
                .await
                .map_err(|e| format!("reap: {e}"))?;
            fixed_done(bs, &mut done, &mut free)?;
            if !run.round(n) {
                return Ok(());
            }
        }
    })
}

/// Which slots' futures were woken, and the task to wake when one is.
struct Woken {
    flags: Vec<AtomicBool>,
    task: Mutex<Option<Waker>>,
}

/// One slot's waker.
struct SlotWaker {
    woken: Arc<Woken>,
    slot: usize,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.flags[self.slot].store(true, Ordering::Release);
        if let Some(task) = self.woken.task.lock().unwrap().take() {
            task.wake();
        }
    }
}

/// The reactor of the minimal executor: keeps the context's waker when the eventfd
/// would block; the executor polls the eventfd and wakes it.
struct PollReactor {
    fd: OwnedFd,
    waker: Mutex<Option<Waker>>,
}

impl Reactor for PollReactor {
    fn register(eventfd: OwnedFd) -> std::io::Result<Self> {
        Ok(Self {
            fd: eventfd,
            waker: Mutex::new(None),
        })
    }

    fn poll_read(
        &self,
        cx: &mut std::task::Context<'_>,
        read: &mut dyn FnMut() -> std::io::Result<u64>,
    ) -> Poll<std::io::Result<u64>> {
        match read() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                *self.waker.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }
}

/// The async loop's state: a future and a buffer per slot.
struct AsyncLoop<'f, R: Reactor> {
    ctx: AsyncContext<R, AlignedBuf>,
    bufs: Vec<Option<AlignedBuf>>,
    futures: Vec<Option<OpFuture<R, AlignedBuf>>>,
    free: Vec<usize>,
    queue: VecDeque<Op<'f, AlignedBuf>>,
    slots: VecDeque<usize>,
    submitted: Vec<OpFuture<R, AlignedBuf>>,
    woken: Arc<Woken>,
    wakers: Vec<Waker>,
}

impl<'f, R: Reactor> AsyncLoop<'f, R> {
    fn new(a: &Args, ctx: AsyncContext<R, AlignedBuf>) -> Result<Self, String> {
        let woken = Arc::new(Woken {
            flags: (0..a.qd).map(|_| AtomicBool::new(false)).collect(),
            task: Mutex::new(None),
        });
        Ok(Self {
            ctx,
            bufs: (0..a.qd)
                .map(|_| AlignedBuf::new(a.bs, 4096).map(Some))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
            futures: (0..a.qd).map(|_| None).collect(),
            free: (0..a.qd).collect(),
            queue: VecDeque::with_capacity(a.qd),
            slots: VecDeque::with_capacity(a.qd),
            submitted: Vec::with_capacity(a.qd),
            wakers: (0..a.qd)
                .map(|slot| {
                    let woken = Arc::clone(&woken);
                    Waker::from(Arc::new(SlotWaker { woken, slot }))
                })
                .collect(),
            woken,
        })
    }

    /// Submits batches while slots are free; each new future is polled once.
    fn submit(
        &mut self,
        a: &Args,
        file: &'f File,
        rng: &mut Rng,
        blocks: u64,
    ) -> Result<(), String> {
        while self.free.len() >= a.batch {
            for _ in 0..a.batch {
                let slot = self.free.pop().expect("a free slot");
                let off = (rng.next() % blocks) * a.bs as u64;
                let buf = self.bufs[slot].take().expect("its buffer");
                self.queue.push_back(Op::read(file, buf, off));
                self.slots.push_back(slot);
            }
            let s = self.ctx.submit_batch(&mut self.queue, &mut self.submitted);
            if s.accepted == 0 {
                return Err(format!("io_submit: {:?}", s.error));
            }
            for future in self.submitted.drain(..) {
                let slot = self.slots.pop_front().expect("a slot per request");
                self.futures[slot] = Some(future);
                self.woken.flags[slot].store(true, Ordering::Relaxed);
            }
            for op in self.queue.drain(..) {
                let slot = self.slots.pop_front().expect("a slot per request");
                self.bufs[slot] = op.into_bufs().pop();
                self.free.push(slot);
            }
        }
        Ok(())
    }

    /// Polls the futures woken; returns how many resolved.
    fn poll_woken(&mut self, bs: usize) -> Result<usize, String> {
        let mut n = 0;
        for slot in 0..self.futures.len() {
            // A load first: most slots were not woken, and a swap is a locked
            // instruction (as an executor's ready queue would not touch them at all).
            let flag = &self.woken.flags[slot];
            if !flag.load(Ordering::Relaxed) || !flag.swap(false, Ordering::Acquire) {
                continue;
            }
            let Some(future) = self.futures[slot].as_mut() else {
                continue;
            };
            let mut cx = std::task::Context::from_waker(&self.wakers[slot]);
            if let Poll::Ready(c) = Pin::new(future).poll(&mut cx) {
                let c = c.map_err(|e| format!("reap: {e}"))?;
                check(c.raw_result(), bs)?;
                self.bufs[slot] = c.into_buf();
                self.futures[slot] = None;
                self.free.push(slot);
                n += 1;
            }
        }
        Ok(n)
    }
}

fn async_minimal(a: &Args, file: &File, run: &mut Run) -> Result<(), String> {
    let ctx = AsyncContext::new(a.qd as u32).map_err(|e| format!("io_setup: {e}"))?;
    let mut l = AsyncLoop::<PollReactor>::new(a, ctx)?;
    let mut rng = Rng(SEED);
    loop {
        l.submit(a, file, &mut rng, run.blocks)?;
        let n = l.poll_woken(run.bs)?;
        if n == 0 && l.woken.flags.iter().all(|f| !f.load(Ordering::Relaxed)) {
            // Nothing woken: block on the eventfd, then wake what the reactor holds (or
            // every future, if it holds nothing).
            let reactor = l.ctx.reactor();
            let mut fds = [rustix::event::PollFd::new(
                &reactor.fd,
                rustix::event::PollFlags::IN,
            )];
            let _ = rustix::event::poll(&mut fds, None);
            match reactor.waker.lock().unwrap().take() {
                Some(waker) => waker.wake(),
                None => {
                    for (slot, f) in l.futures.iter().enumerate() {
                        if f.is_some() {
                            l.woken.flags[slot].store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        if !run.round(n) {
            return Ok(());
        }
    }
}

/// The same futures on a context of [`BusyPoll`], on the minimal executor, which never
/// waits: the poller future wakes its own slot after each look at the ring.
fn async_busy(a: &Args, file: &File, run: &mut Run) -> Result<(), String> {
    let ctx = AsyncContext::<BusyPoll, AlignedBuf>::new(a.qd as u32)
        .map_err(|e| format!("io_setup: {e}"))?;
    let mut l = AsyncLoop::new(a, ctx)?;
    let mut rng = Rng(SEED);
    loop {
        l.submit(a, file, &mut rng, run.blocks)?;
        let n = l.poll_woken(run.bs)?;
        if n == 0 && l.woken.flags.iter().all(|f| !f.load(Ordering::Relaxed)) {
            return Err("no future was woken: the poller did not wake its own task".into());
        }
        if !run.round(n) {
            return Ok(());
        }
    }
}

/// The same loop in one task of [`AsyncContext::block_on`], rawaio's executor for a
/// context of [`Driven`] (no eventfd: when the task is not woken, the thread parks in the
/// context).
fn async_driven(a: &Args, file: &File, run: &mut Run) -> Result<(), String> {
    let ctx = AsyncContext::<Driven, AlignedBuf>::new(a.qd as u32)
        .map_err(|e| format!("io_setup: {e}"))?;
    ctx.block_on(async_task(a, file, run, ctx.clone()))
        .map_err(|e| format!("park: {e}"))?
}

/// The async loop as one task, for an executor that polls it when a slot's future was
/// woken ([`AnyWoken`]).
async fn async_task<R: Reactor>(
    a: &Args,
    file: &File,
    run: &mut Run,
    ctx: AsyncContext<R, AlignedBuf>,
) -> Result<(), String> {
    let mut l = AsyncLoop::new(a, ctx)?;
    let mut rng = Rng(SEED);
    loop {
        l.submit(a, file, &mut rng, run.blocks)?;
        let n = l.poll_woken(run.bs)?;
        if n == 0 {
            AnyWoken(&l.woken).await;
        }
        if !run.round(n) {
            return Ok(());
        }
    }
}

/// Resolves once a slot's future has been woken, leaving the task's waker meanwhile.
struct AnyWoken<'a>(&'a Woken);

impl Future for AnyWoken<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let any = |w: &Woken| w.flags.iter().any(|f| f.load(Ordering::Acquire));
        if any(self.0) {
            return Poll::Ready(());
        }
        *self.0.task.lock().unwrap() = Some(cx.waker().clone());
        if any(self.0) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(feature = "tokio")]
fn async_tokio<R: Reactor>(a: &Args, file: &File, run: &mut Run) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let ctx = AsyncContext::<R, AlignedBuf>::new(a.qd as u32)
            .map_err(|e| format!("io_setup: {e}"))?;
        async_task(a, file, run, ctx).await
    })
}

/// How a tokio path waits: through tokio's reactor, a [`rawaio::reactor::Relay`] of it,
/// or not at all ([`rawaio::reactor::BusyPoll`]).
#[derive(Clone, Copy)]
enum Wait {
    Tokio,
    Relay,
    Busy,
}

/// The tokio paths: futures or fixed requests, waiting as `wait` says.
#[cfg(feature = "tokio")]
fn tokio_path(a: &Args, file: &File, run: &mut Run, fixed: bool, wait: Wait) -> Result<(), String> {
    use rawaio::reactor::{Relay, Tokio};
    match (fixed, wait) {
        (false, Wait::Relay) => async_tokio::<Relay<Tokio>>(a, file, run),
        (false, Wait::Tokio) => async_tokio::<Tokio>(a, file, run),
        (false, Wait::Busy) => async_tokio::<BusyPoll>(a, file, run),
        (true, Wait::Relay) => fixed_tokio::<Relay<Tokio>>(a, file, run),
        (true, Wait::Tokio) => fixed_tokio::<Tokio>(a, file, run),
        (true, Wait::Busy) => fixed_tokio::<BusyPoll>(a, file, run),
    }
}

#[cfg(not(feature = "tokio"))]
fn tokio_path(_: &Args, _: &File, _: &mut Run, _: bool, _: Wait) -> Result<(), String> {
    Err("the tokio paths need `--features tokio`".into())
}

/// User and system CPU time of the process, in microseconds.
fn cpu_us() -> (f64, f64) {
    // SAFETY: `rusage` is plain integers; getrusage writes one through the pointer.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let us = |tv: libc::timeval| tv.tv_sec as f64 * 1e6 + tv.tv_usec as f64;
    (us(usage.ru_utime), us(usage.ru_stime))
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut file =
        match rawaio::direct::open_direct(&a.target, std::fs::OpenOptions::new().read(true)) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("open {}: {e}", a.target);
                return ExitCode::from(1);
            }
        };
    let size = file.seek(SeekFrom::End(0)).unwrap_or(0);
    let blocks = size / a.bs as u64;
    if blocks == 0 {
        eprintln!("target too small");
        return ExitCode::from(1);
    }
    let mut run = Run {
        blocks,
        bs: a.bs,
        ios: 0,
        max_ios: if a.ios == 0 { u64::MAX } else { a.ios },
        start: Instant::now(),
        end: a.seconds,
        loops: 0,
        now: 0.0,
    };
    let result = match a.kind.as_str() {
        "owning" => owning(&a, &file, &mut run, false),
        "exclusive" => owning(&a, &file, &mut run, true),
        "fixed" => fixed(&a, &file, &mut run),
        "async" => async_minimal(&a, &file, &mut run),
        "driven" => async_driven(&a, &file, &mut run),
        "busy" => async_busy(&a, &file, &mut run),
        "tokio" => tokio_path(&a, &file, &mut run, false, Wait::Tokio),
        "tokio-relay" => tokio_path(&a, &file, &mut run, false, Wait::Relay),
        "tokio-busy" => tokio_path(&a, &file, &mut run, false, Wait::Busy),
        "fixed-tokio" => tokio_path(&a, &file, &mut run, true, Wait::Tokio),
        "fixed-relay" => tokio_path(&a, &file, &mut run, true, Wait::Relay),
        "fixed-busy" => tokio_path(&a, &file, &mut run, true, Wait::Busy),
        other => Err(format!(
            "unknown path kind {other:?}: owning, exclusive, fixed, async, driven, busy, tokio, \
             tokio-relay, tokio-busy, fixed-tokio, fixed-relay or fixed-busy"
        )),
    };
    let secs = run.start.elapsed().as_secs_f64();
    if let Err(e) = result {
        eprintln!("{e}");
        return ExitCode::from(1);
    }
    let (usr, sys) = cpu_us();
    println!(
        "ios={} seconds={secs:.3} iops={:.0} usr_us_per_io={:.4} sys_us_per_io={:.4}",
        run.ios,
        run.ios as f64 / secs,
        usr / run.ios as f64,
        sys / run.ios as f64
    );
    ExitCode::SUCCESS
}
