//! The steady state of submit-and-reap makes no heap allocation: a counting global
//! allocator watches a loop that reuses its queue, token list, completion list and
//! buffers, with completions reaped from the ring and through `io_getevents`, on the
//! owning path ([`Context`]), the fixed one ([`FixedContext`]) and the async one
//! ([`AsyncContext`], its futures polled by a few lines of executor below, directly,
//! through a [`Relay`], which arms a poll request at every wait, on a [`Driven`]
//! context, parked in at every wait, and busy-polling with [`BusyPoll`]), and the fixed
//! one awaited ([`AsyncFixedContext`], directly, through a [`Relay`], and busy-polling).
//!
//! This file holds a single test, so nothing else runs in the process while it counts
//! (and it counts only on its own thread anyway). Set `RAWAIO_ALLOC_TRACE=1` to print a
//! backtrace for every allocation it counts.

mod support;

use rawaio::reactor::{BusyPoll, Driven, Reactor, Relay};
use rawaio::{
    AlignedBuf, AsyncContext, AsyncFixedContext, Completion, Context, FixedCompletion,
    FixedContext, FixedSlot, Op, OpFuture, Options, Token,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};
use std::time::{Duration, Instant};
use support::{Fs, TIMEOUT, TempFile, aligned_zeroed, pattern};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static FREES: AtomicUsize = AtomicUsize::new(0);
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether allocations on this thread are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Set while a backtrace is being printed (which itself allocates).
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

fn note_allocation(what: &str, size: usize) {
    if !counting() {
        return;
    }
    ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    if TRACE.load(Ordering::Relaxed) && !TRACING.with(Cell::get) {
        TRACING.with(|t| t.set(true));
        eprintln!(
            "{what} of {size} bytes in the steady state:\n{}",
            std::backtrace::Backtrace::force_capture()
        );
        TRACING.with(|t| t.set(false));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping
// only touches atomics and const-initialized thread-locals, which do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation("alloc", layout.size());
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation("alloc_zeroed", layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation("realloc", new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counting() {
            FREES.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const DEPTH: usize = 32;
const BLOCK: usize = 4096;
const WARM_UP: usize = 3;
const ROUNDS: usize = 200;

/// Everything one round reuses.
struct Loop<'a> {
    ctx: Context<AlignedBuf>,
    file: &'a File,
    expected: &'a [u8],
    bufs: Vec<AlignedBuf>,
    ops: VecDeque<Op<'a, AlignedBuf>>,
    tokens: Vec<Token>,
    done: Vec<Completion<AlignedBuf>>,
}

impl Loop<'_> {
    /// Reads the whole file in 32 blocks, into the buffers the last round gave back:
    /// with one `submit_batch`, or (`one_by_one`) with a `submit` per request.
    fn round(&mut self, one_by_one: bool) {
        for (i, buf) in self.bufs.drain(..).enumerate() {
            self.ops
                .push_back(Op::read(self.file, buf, (i * BLOCK) as u64).user_data(i as u64));
        }
        self.tokens.clear();
        if one_by_one {
            while let Some(op) = self.ops.pop_front() {
                match self.ctx.submit(op) {
                    Ok(token) => self.tokens.push(token),
                    Err(rejected) => panic!("{rejected}"),
                }
            }
        } else {
            let s = self.ctx.submit_batch(&mut self.ops, &mut self.tokens);
            assert!(s.error.is_none());
            assert_eq!(s.accepted, DEPTH);
        }
        assert_eq!(self.tokens.len(), DEPTH);

        let deadline = Instant::now() + TIMEOUT;
        let mut got = 0;
        while got < DEPTH {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out reaping");
            got += self
                .ctx
                .reap(1, DEPTH - got, Some(left), &mut self.done)
                .unwrap();
        }
        assert_eq!(self.done.len(), DEPTH);
        for c in self.done.drain(..) {
            assert_eq!(c.result(), Ok(BLOCK as u64));
            let i = c.user_data() as usize;
            let buf = c.into_buf().unwrap();
            assert!(buf[..] == self.expected[i * BLOCK..(i + 1) * BLOCK]);
            self.bufs.push(buf);
        }
    }
}

/// Counts the allocations and frees of `ROUNDS` rounds after a warm-up.
fn measure(user_space_reaping: bool, file: &File, expected: &[u8]) -> (usize, usize) {
    let options = Options {
        user_space_reaping,
        ..Options::default()
    };
    let mut l = Loop {
        ctx: Context::with_options(64, options).unwrap(),
        file,
        expected,
        bufs: (0..DEPTH).map(|_| aligned_zeroed(BLOCK)).collect(),
        ops: VecDeque::with_capacity(DEPTH),
        tokens: Vec::with_capacity(DEPTH),
        done: Vec::with_capacity(DEPTH),
    };
    assert_eq!(l.ctx.reaps_in_user_space(), user_space_reaping);
    for r in 0..WARM_UP {
        l.round(r % 2 == 1);
    }
    ALLOCATIONS.store(0, Ordering::SeqCst);
    FREES.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    for r in 0..ROUNDS {
        // Mostly batches, every fourth round one request at a time.
        l.round(r % 4 == 3);
    }
    COUNTING.with(|c| c.set(false));
    (
        ALLOCATIONS.load(Ordering::SeqCst),
        FREES.load(Ordering::SeqCst),
    )
}

/// A fixed context, and how the fixed loop waits for its completions.
trait Fixed<'a> {
    fn fixed(&mut self) -> &mut FixedContext<'a, AlignedBuf>;
    /// Reaps at least one and at most `left` completions into `done`, in `limit`.
    fn reap_some(&mut self, done: &mut Vec<FixedCompletion>, left: usize, limit: Duration)
    -> usize;
    /// How many times the loop waited for a reactor, if it has one.
    fn waits(&self) -> Option<usize> {
        None
    }
}

/// Waits in the kernel (`io_getevents`), or reaps the ring.
impl<'a> Fixed<'a> for FixedContext<'a, AlignedBuf> {
    fn fixed(&mut self) -> &mut FixedContext<'a, AlignedBuf> {
        self
    }

    fn reap_some(
        &mut self,
        done: &mut Vec<FixedCompletion>,
        left: usize,
        limit: Duration,
    ) -> usize {
        self.reap(1, left, Some(limit), done).unwrap()
    }
}

/// Awaits its completions ([`AsyncFixedContext::poll_reap`]); when they are pending,
/// waits as [`AwaitWait`] says (for the [`Manual`] reactor's eventfd, then wakes what it
/// holds; or not at all, busy-polling), and checks that the reap's waker was woken.
struct Awaiting<'a, R: Reactor> {
    ctx: AsyncFixedContext<'a, R, AlignedBuf>,
    flag: Arc<Flag>,
    waker: Waker,
    /// How many times a reap was pending.
    waits: usize,
}

/// How [`Awaiting`] waits when a reap is pending: for the eventfd of a reactor that is,
/// or relays to, a [`Manual`], or not at all when busy-polling (the reap has woken its own
/// task).
trait AwaitWait: Reactor {
    fn wait(&self);
}

impl AwaitWait for Manual {
    fn wait(&self) {
        wait_manual(self);
    }
}

impl AwaitWait for Relay<Manual> {
    fn wait(&self) {
        wait_manual(self.inner());
    }
}

impl AwaitWait for BusyPoll {
    fn wait(&self) {}
}

impl<'a, R: AwaitWait> Fixed<'a> for Awaiting<'a, R> {
    fn fixed(&mut self) -> &mut FixedContext<'a, AlignedBuf> {
        self.ctx.fixed_mut()
    }

    fn waits(&self) -> Option<usize> {
        Some(self.waits)
    }

    fn reap_some(&mut self, done: &mut Vec<FixedCompletion>, _: usize, _: Duration) -> usize {
        let mut cx = std::task::Context::from_waker(&self.waker);
        loop {
            match self.ctx.poll_reap(&mut cx, done) {
                Poll::Ready(n) => return n.unwrap(),
                Poll::Pending => {
                    self.waits += 1;
                    self.ctx.reactor().wait();
                    assert!(
                        self.flag.0.swap(false, Ordering::SeqCst),
                        "the pending reap's waker was not woken (by the reactor, or by \
                         itself when busy-polling)"
                    );
                }
            }
        }
    }
}

/// The fixed path: every round reads the whole file through the same slots, at offsets
/// that move round by round.
struct FixedLoop<'a, F: Fixed<'a>> {
    fixed: F,
    expected: &'a [u8],
    slots: Vec<FixedSlot>,
    done: Vec<FixedCompletion>,
}

impl<'a, F: Fixed<'a>> FixedLoop<'a, F> {
    fn round(&mut self, r: usize, one_by_one: bool) {
        for (i, slot) in self.slots.drain(..).enumerate() {
            let block = (i + r) % DEPTH;
            self.fixed
                .fixed()
                .push_at(slot, (block * BLOCK) as u64)
                .map_err(|(_, e)| e)
                .unwrap();
            if one_by_one {
                let s = self.fixed.fixed().submit();
                assert_eq!((s.accepted, s.error), (1, None));
            }
        }
        if !one_by_one {
            let s = self.fixed.fixed().submit();
            assert_eq!((s.accepted, s.error), (DEPTH, None));
        }
        let deadline = Instant::now() + TIMEOUT;
        let mut got = 0;
        while got < DEPTH {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out reaping");
            got += self.fixed.reap_some(&mut self.done, DEPTH - got, left);
        }
        assert_eq!(got, DEPTH, "more completions than requests");
        for c in self.done.drain(..) {
            assert_eq!(c.result(), Ok(BLOCK as u64));
            let slot = c.into_slot();
            let fixed = self.fixed.fixed();
            let block = fixed.offset(&slot).unwrap() as usize / BLOCK;
            let buf = &fixed.bufs(&slot).unwrap()[0];
            assert!(buf[..] == self.expected[block * BLOCK..(block + 1) * BLOCK]);
            self.slots.push(slot);
        }
    }
}

/// Counts the allocations and frees of `ROUNDS` rounds of the fixed path after a warm-up.
fn measure_fixed(user_space_reaping: bool, file: &File, expected: &[u8]) -> (usize, usize) {
    let options = Options {
        user_space_reaping,
        ..Options::default()
    };
    let fixed = FixedContext::with_options(64, options).unwrap();
    measure_fixed_loop(fixed, file, expected)
}

/// [`measure_fixed`] through an [`AsyncFixedContext`] of reactor `R`, on a file on the
/// disk, so that reads complete after `io_submit` and the loop really waits.
fn measure_async_fixed_on<R: AwaitWait>(expected: &[u8]) -> (usize, usize) {
    let disk = TempFile::new(Fs::Disk, "alloc-async-fixed", expected);
    disk.open_rw().sync_all().unwrap();
    let file = &disk.open_direct();
    let flag = Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
    let awaiting = Awaiting {
        ctx: AsyncFixedContext::<R, AlignedBuf>::new(64).unwrap(),
        waker: Waker::from(Arc::clone(&flag)),
        flag,
        waits: 0,
    };
    measure_fixed_loop(awaiting, file, expected)
}

fn measure_async_fixed(_: bool, _: &File, expected: &[u8]) -> (usize, usize) {
    measure_async_fixed_on::<Manual>(expected)
}

fn measure_async_fixed_relayed(_: bool, _: &File, expected: &[u8]) -> (usize, usize) {
    measure_async_fixed_on::<Relay<Manual>>(expected)
}

fn measure_async_fixed_busy(_: bool, _: &File, expected: &[u8]) -> (usize, usize) {
    measure_async_fixed_on::<BusyPoll>(expected)
}

fn measure_fixed_loop<'a, F: Fixed<'a>>(
    mut fixed: F,
    file: &'a File,
    expected: &'a [u8],
) -> (usize, usize) {
    let slots = (0..DEPTH)
        .map(|_| {
            fixed
                .fixed()
                .insert(Op::read(file, aligned_zeroed(BLOCK), 0))
                .unwrap()
        })
        .collect();
    let mut l = FixedLoop {
        fixed,
        expected,
        slots,
        done: Vec::with_capacity(DEPTH),
    };
    for r in 0..WARM_UP {
        l.round(r, r % 2 == 1);
    }
    ALLOCATIONS.store(0, Ordering::SeqCst);
    FREES.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    for r in 0..ROUNDS {
        l.round(r, r % 4 == 3);
    }
    COUNTING.with(|c| c.set(false));
    if let Some(waits) = l.fixed.waits() {
        // On a disk the reads complete after `io_submit`: the loop waited for the reactor.
        eprintln!("async, fixed: the loop waited {waits} times");
    }
    (
        ALLOCATIONS.load(Ordering::SeqCst),
        FREES.load(Ordering::SeqCst),
    )
}

/// The reactor of the async loop: keeps the context's waker when the eventfd would block;
/// the loop polls the eventfd and wakes it.
struct Manual {
    fd: OwnedFd,
    waker: Mutex<Option<Waker>>,
}

impl Reactor for Manual {
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
                let mut held = self.waker.lock().unwrap();
                match &*held {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *held = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }
}

/// How the loop waits when no future was woken: on [`Manual`]'s eventfd (itself, or the
/// one a [`Relay`] hands its signals to), or parked in a [`Driven`] context.
trait Waits: Reactor {
    fn wait(ctx: &AsyncContext<Self, AlignedBuf>);
}

/// Waits for `manual`'s eventfd, then wakes what it holds.
fn wait_manual(manual: &Manual) {
    let mut fds = [rustix::event::PollFd::new(
        &manual.fd,
        rustix::event::PollFlags::IN,
    )];
    let _ = rustix::event::poll(&mut fds, None);
    if let Some(waker) = manual.waker.lock().unwrap().take() {
        waker.wake();
    }
}

impl Waits for Manual {
    fn wait(ctx: &AsyncContext<Self, AlignedBuf>) {
        wait_manual(ctx.reactor());
    }
}

impl Waits for Relay<Manual> {
    fn wait(ctx: &AsyncContext<Self, AlignedBuf>) {
        wait_manual(ctx.reactor().inner());
    }
}

impl Waits for BusyPoll {
    fn wait(_: &AsyncContext<Self, AlignedBuf>) {
        panic!("no future was woken: the poller did not wake its own task");
    }
}

impl Waits for Driven {
    fn wait(ctx: &AsyncContext<Self, AlignedBuf>) {
        ctx.park(None).unwrap();
    }
}

/// A future's waker: marks its slot woken.
struct Flag(std::sync::atomic::AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The async path: a batch of reads submitted as futures, polled until all resolve.
struct AsyncLoop<'a, R: Reactor> {
    ctx: AsyncContext<R, AlignedBuf>,
    file: &'a File,
    expected: &'a [u8],
    bufs: Vec<AlignedBuf>,
    ops: VecDeque<Op<'a, AlignedBuf>>,
    submitted: Vec<OpFuture<R, AlignedBuf>>,
    futures: Vec<Option<OpFuture<R, AlignedBuf>>>,
    flags: Vec<Arc<Flag>>,
    wakers: Vec<Waker>,
    /// How many times the loop found every future waiting and blocked on the eventfd.
    waits: usize,
}

impl<R: Waits> AsyncLoop<'_, R> {
    fn round(&mut self, one_by_one: bool) {
        for (i, buf) in self.bufs.drain(..).enumerate() {
            self.ops
                .push_back(Op::read(self.file, buf, (i * BLOCK) as u64).user_data(i as u64));
        }
        if one_by_one {
            while let Some(op) = self.ops.pop_front() {
                let future = self.ctx.submit(op).map_err(|r| r.error).unwrap();
                self.submitted.push(future);
            }
        } else {
            let s = self.ctx.submit_batch(&mut self.ops, &mut self.submitted);
            assert_eq!((s.accepted, s.error), (DEPTH, None));
        }
        for (slot, future) in self.futures.iter_mut().zip(self.submitted.drain(..)) {
            *slot = Some(future);
        }
        for flag in &self.flags {
            flag.0.store(true, Ordering::SeqCst);
        }
        let deadline = Instant::now() + TIMEOUT;
        let mut left = DEPTH;
        while left > 0 {
            assert!(
                Instant::now() < deadline,
                "timed out: {left} futures pending"
            );
            let mut progress = false;
            for (i, slot) in self.futures.iter_mut().enumerate() {
                if slot.is_none() || !self.flags[i].0.swap(false, Ordering::SeqCst) {
                    continue;
                }
                progress = true;
                let future = slot.as_mut().unwrap();
                let mut cx = std::task::Context::from_waker(&self.wakers[i]);
                if let Poll::Ready(c) = Pin::new(future).poll(&mut cx) {
                    let c = c.unwrap();
                    assert_eq!(c.result(), Ok(BLOCK as u64));
                    let at = c.user_data() as usize * BLOCK;
                    let buf = c.into_buf().unwrap();
                    assert!(buf[..] == self.expected[at..at + BLOCK]);
                    self.bufs.push(buf);
                    *slot = None;
                    left -= 1;
                }
            }
            if !progress && left > 0 {
                // Nothing woken: wait (for the eventfd, or in the context).
                self.waits += 1;
                R::wait(&self.ctx);
            }
        }
        // The futures' slots in the vector stay allocated for the next round.
        self.bufs.sort_by_key(|b| b.as_ptr() as usize);
    }
}

/// Counts the allocations and frees of `ROUNDS` rounds of the async path after a warm-up.
/// It reads a file on the disk with `O_DIRECT`, so that requests complete after
/// `io_submit` returns and futures really wait (and are woken).
fn measure_async(_user_space_reaping: bool, f: &File, expected: &[u8]) -> (usize, usize) {
    measure_async_on::<Manual>(f, expected)
}

/// [`measure_async`] through a [`Relay`], which arms a poll request at every wait.
fn measure_async_relayed(_: bool, f: &File, expected: &[u8]) -> (usize, usize) {
    measure_async_on::<Relay<Manual>>(f, expected)
}

/// [`measure_async`] busy-polling: the poller's task is always woken, so the loop never
/// waits.
fn measure_async_busy(_: bool, f: &File, expected: &[u8]) -> (usize, usize) {
    measure_async_on::<BusyPoll>(f, expected)
}

/// [`measure_async`] on a [`Driven`] context, parked in when no future was woken.
fn measure_async_driven(_: bool, f: &File, expected: &[u8]) -> (usize, usize) {
    measure_async_on::<Driven>(f, expected)
}

fn measure_async_on<R: Waits>(_: &File, expected: &[u8]) -> (usize, usize) {
    let disk = TempFile::new(Fs::Disk, "alloc-async", expected);
    disk.open_rw().sync_all().unwrap();
    let file = &disk.open_direct();
    let flags: Vec<Arc<Flag>> = (0..DEPTH)
        .map(|_| Arc::new(Flag(std::sync::atomic::AtomicBool::new(false))))
        .collect();
    let mut l = AsyncLoop::<R> {
        ctx: AsyncContext::new(64).unwrap(),
        file,
        expected,
        bufs: (0..DEPTH).map(|_| aligned_zeroed(BLOCK)).collect(),
        ops: VecDeque::with_capacity(DEPTH),
        submitted: Vec::with_capacity(DEPTH),
        futures: (0..DEPTH).map(|_| None).collect(),
        wakers: flags.iter().map(|f| Waker::from(Arc::clone(f))).collect(),
        flags,
        waits: 0,
    };
    for r in 0..WARM_UP {
        l.round(r % 2 == 1);
    }
    ALLOCATIONS.store(0, Ordering::SeqCst);
    FREES.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    for r in 0..ROUNDS {
        l.round(r % 4 == 3);
    }
    COUNTING.with(|c| c.set(false));
    // On a disk the reads complete after `io_submit`: futures waited and were woken.
    eprintln!("async: the loop waited {} times", l.waits);
    (
        ALLOCATIONS.load(Ordering::SeqCst),
        FREES.load(Ordering::SeqCst),
    )
}

#[test]
fn steady_state_submit_and_reap_makes_no_allocation() {
    TRACE.store(
        std::env::var_os("RAWAIO_ALLOC_TRACE").is_some(),
        Ordering::Relaxed,
    );
    let expected = pattern(1, DEPTH * BLOCK);
    let file = TempFile::new(Fs::direct(), "alloc", &expected);
    let f = file.open_direct();

    // Prove the counter counts on this thread.
    COUNTING.with(|c| c.set(true));
    let probe = std::hint::black_box(vec![1u8; 10]);
    COUNTING.with(|c| c.set(false));
    drop(probe);
    assert!(
        ALLOCATIONS.load(Ordering::SeqCst) >= 1,
        "the counter is not counting"
    );

    for user_space_reaping in [true, false] {
        for (path, measure) in [
            (
                "owning",
                measure as fn(bool, &File, &[u8]) -> (usize, usize),
            ),
            ("fixed", measure_fixed),
            ("async", measure_async),
            ("async, relayed", measure_async_relayed),
            ("async, driven", measure_async_driven),
            ("async, busy-polling", measure_async_busy),
            ("async, fixed", measure_async_fixed),
            ("async, fixed, relayed", measure_async_fixed_relayed),
            ("async, fixed, busy-polling", measure_async_fixed_busy),
        ] {
            if path.starts_with("async") && !user_space_reaping {
                // An AsyncContext always reaps from the ring.
                continue;
            }
            let (allocations, frees) = measure(user_space_reaping, &f, &expected);
            eprintln!(
                "{path}, user_space_reaping {user_space_reaping}: {ROUNDS} rounds of {DEPTH} \
                 reads: {allocations} allocations, {frees} frees"
            );
            assert_eq!(
                (allocations, frees),
                (0, 0),
                "{path}, user_space_reaping {user_space_reaping}: the steady state allocated \
                 (rerun with RAWAIO_ALLOC_TRACE=1 to see where)"
            );
        }
    }
}
