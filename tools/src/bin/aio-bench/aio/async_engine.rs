//! The async engines: rawaio's [`AsyncContext`], one future per request, on a minimal
//! single-threaded executor; `async` waits for the context's eventfd in `poll(2)`,
//! `driven` parks in a context of [`Driven`] (no eventfd), as a thread-per-core runtime's
//! idle loop does, and `busy` never waits: on a context of [`BusyPoll`] (no eventfd
//! either), the future that is the poller wakes its own task after each look at the
//! ring.
//!
//! Why a minimal executor rather than tokio: the figure wanted is the cost of rawaio's
//! async layer itself (a future, a waker and a table entry per request, eventfd
//! readiness) next to the synchronous API, not that of a runtime's scheduler; and
//! aio-bench builds with no optional feature of rawaio. The executor is what a
//! single-threaded runtime does at its simplest: poll the futures whose wakers fired;
//! when none did, block in `poll(2)` on the eventfd and wake what the reactor holds.

use super::{Buf, Slots, TIMEOUT, accepted, wait_readable};
use crate::engine::{Dir, Engine};
use crate::target::Target;
use rawaio::reactor::{BusyPoll, Driven, Reactor};
use rawaio::{AsyncContext, Op, OpFuture};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

/// The reactor of the minimal executor: keeps the waker the context leaves when the
/// eventfd would block; the executor polls the eventfd and wakes it.
pub struct PollReactor {
    pub(super) fd: OwnedFd,
    pub(super) waker: Mutex<Option<Waker>>,
}

impl Reactor for PollReactor {
    fn register(eventfd: OwnedFd) -> io::Result<Self> {
        Ok(Self {
            fd: eventfd,
            waker: Mutex::new(None),
        })
    }

    fn poll_read(
        &self,
        cx: &mut TaskContext<'_>,
        read: &mut dyn FnMut() -> io::Result<u64>,
    ) -> Poll<io::Result<u64>> {
        match read() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *self.waker.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }
}

/// How the executor waits when no future was woken.
pub trait Idle: Reactor {
    /// Blocks until completions may have come (at most [`TIMEOUT`]) and wakes their
    /// futures, or says who to wake.
    fn idle(ctx: &AsyncContext<Self, Buf>) -> Result<Woke, String>;
}

/// What an [`Idle::idle`] did.
pub enum Woke {
    /// The futures to poll were woken.
    Some,
    /// Nobody was woken: poll every future in flight.
    Everyone,
}

impl Idle for PollReactor {
    /// Waits for the eventfd, then wakes what the reactor holds.
    fn idle(ctx: &AsyncContext<Self, Buf>) -> Result<Woke, String> {
        let efd = ctx.reactor();
        if !wait_readable(&efd.fd)? {
            return Err(format!("no completion signalled within {TIMEOUT:?}"));
        }
        let waker = efd.waker.lock().unwrap().take();
        Ok(match waker {
            Some(waker) => {
                waker.wake();
                Woke::Some
            }
            None => Woke::Everyone,
        })
    }
}

impl Idle for Driven {
    /// Parks in the context, which delivers completions (waking their futures).
    fn idle(ctx: &AsyncContext<Self, Buf>) -> Result<Woke, String> {
        match ctx.park(Some(TIMEOUT)) {
            Ok(0) => Err(format!("no completion within {TIMEOUT:?}")),
            Ok(_) => Ok(Woke::Some),
            Err(e) => Err(format!("parking: {e}")),
        }
    }
}

impl Idle for BusyPoll {
    /// Never reached while requests are in flight: the poller's task is always woken.
    fn idle(_: &AsyncContext<Self, Buf>) -> Result<Woke, String> {
        Err("no future was woken: the busy-polling context's poller did not wake its task".into())
    }
}

/// Slots whose futures were woken, to poll next.
type Woken = Arc<Mutex<Vec<usize>>>;

/// One slot's waker: queues the slot for polling.
struct SlotWaker {
    slot: usize,
    woken: Woken,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.lock().unwrap().push(self.slot);
    }
}

/// An [`AsyncContext`] with one owned buffer and one future per slot.
pub struct AsyncEngine<'f, R: Idle> {
    ctx: AsyncContext<R, Buf>,
    slots: Slots<'f>,
    queue: VecDeque<Op<'f, Buf>>,
    /// The slots of `queue`'s requests, in order.
    queued: VecDeque<usize>,
    futures: Vec<Option<OpFuture<R, Buf>>>,
    submitted: Vec<OpFuture<R, Buf>>,
    wakers: Vec<Waker>,
    woken: Woken,
    /// The slots being polled (swapped with `woken`'s list).
    polling: Vec<usize>,
}

impl<'f, R: Idle> AsyncEngine<'f, R> {
    pub fn new(target: &'f Target, qd: usize, bs: usize) -> Result<Self, String> {
        let ctx = AsyncContext::new(qd as u32).map_err(|e| format!("io_setup({qd}): {e}"))?;
        let woken: Woken = Arc::new(Mutex::new(Vec::with_capacity(qd)));
        let wakers = (0..qd)
            .map(|slot| {
                let woken = Arc::clone(&woken);
                Waker::from(Arc::new(SlotWaker { slot, woken }))
            })
            .collect();
        Ok(Self {
            ctx,
            slots: Slots::new(&target.file, qd, bs, target.mem_align)?,
            queue: VecDeque::with_capacity(qd),
            queued: VecDeque::with_capacity(qd),
            futures: (0..qd).map(|_| None).collect(),
            submitted: Vec::with_capacity(qd),
            wakers,
            woken,
            polling: Vec::with_capacity(qd),
        })
    }

    /// Waits ([`Idle::idle`]); if nobody was woken, every future in flight is polled.
    fn wait(&mut self) -> Result<(), String> {
        if let Woke::Everyone = R::idle(&self.ctx)? {
            let mut woken = self.woken.lock().unwrap();
            woken.extend((0..self.futures.len()).filter(|&s| self.futures[s].is_some()));
        }
        Ok(())
    }
}

impl<R: Idle> Engine for AsyncEngine<'_, R> {
    fn depth(&self) -> usize {
        self.slots.depth()
    }

    fn buf_mut(&mut self, slot: usize) -> &mut [u8] {
        self.slots.buf_mut(slot)
    }

    fn prepare(&mut self, slot: usize, offset: u64, dir: Dir) -> Result<(), String> {
        let op = self.slots.take_op(slot, offset, dir);
        self.queue.push_back(op);
        self.queued.push_back(slot);
        Ok(())
    }

    fn submit(&mut self) -> Result<usize, String> {
        let submitted = self.ctx.submit_batch(&mut self.queue, &mut self.submitted);
        let mut woken = self.woken.lock().unwrap();
        for future in self.submitted.drain(..) {
            let slot = self.queued.pop_front().expect("a slot per request");
            self.futures[slot] = Some(future);
            // Polled once, to leave its waker.
            woken.push(slot);
        }
        accepted(&submitted)
    }

    fn reap(
        &mut self,
        min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String> {
        let mut got = 0;
        loop {
            std::mem::swap(&mut self.polling, &mut *self.woken.lock().unwrap());
            for slot in self.polling.drain(..) {
                let Some(future) = self.futures[slot].as_mut() else {
                    continue;
                };
                let mut cx = TaskContext::from_waker(&self.wakers[slot]);
                match Pin::new(future).poll(&mut cx) {
                    Poll::Pending => {}
                    Poll::Ready(Ok(completion)) => {
                        self.futures[slot] = None;
                        self.slots.complete(slot, completion, done);
                        got += 1;
                    }
                    Poll::Ready(Err(e)) => return Err(format!("reaping: {e}")),
                }
            }
            if got >= min {
                return Ok(got);
            }
            if self.woken.lock().unwrap().is_empty() {
                self.wait()?;
            }
        }
    }
}
