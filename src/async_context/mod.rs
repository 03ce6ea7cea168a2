//! [`AsyncContext`]: completions as futures, driven by any reactor through the context's
//! eventfd, reaped from the ring in user space, without helper threads.
//!
//! # How it works
//!
//! The context is a [`Context`] created with an eventfd ([`Options::eventfd`]): every
//! request bumps it on completion, after its event is in the ring. Each submitted request
//! gets an entry in a table of waiters, at the index of the slot its [`Token`] names
//! ([`waiters`]); its [`OpFuture`] leaves its task's waker there. Whoever polls (any future, on any thread) reaps everything the
//! ring holds and delivers each completion to its entry, waking the task that waits for
//! it. A future whose completion is not there yet asks the [`Reactor`] to watch the
//! eventfd, with the context's own waker: when the eventfd becomes readable, that waker
//! wakes one waiting future, which reaps and delivers for everyone.
//!
//! No wake-up is lost:
//! - the eventfd is drained (its counter read and reset) before the ring is reaped, and the
//!   kernel posts an event to the ring before it bumps the eventfd: an event the reap
//!   missed bumps the eventfd after the drain, so the reactor sees it;
//! - after the reactor is armed, the ring is reaped once more;
//! - a future that finishes or is dropped while others wait and the reactor is not armed
//!   arms it before it goes (the reactor keeps one waker, which may have been spent on it);
//! - all reaping happens under one lock, so no reaper ever skips the ring because another
//!   holds it.
//!
//! Dropping a future never frees its buffers: they stay in the [`Context`]'s in-flight
//! table until the completion is reaped, and are then dropped; the context itself is
//! destroyed (which waits for every request in flight) only when the last handle and the
//! last future are gone. Dropping the future of a `POLL` request also cancels it.

mod future;
mod waiters;

pub use future::OpFuture;

use crate::context::{Context, Options, Rejected, Submitted};
use crate::reactor::Reactor;
use crate::request::buf::IoBuf;
use crate::request::completion::{Completion, Token};
use crate::request::op::Op;
use rawaio_abi::IOCB_CMD_POLL;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::task::{self, Poll, Waker};
use waiters::{AfterReap, State, Waiters};

/// An AIO context whose requests complete as futures, on any runtime whose reactor can
/// wait for a file descriptor (see [`Reactor`]).
///
/// [`submit`](Self::submit) hands the request to the kernel at once and returns an
/// [`OpFuture`] that resolves to the request's [`Completion`]: its result and its buffers.
/// Readiness comes from the context's eventfd through the reactor `R`; completions are
/// reaped from the kernel's ring in user space, by whichever task polls first, and handed
/// to the tasks waiting for them. No thread is started.
///
/// `AsyncContext` is a cheap handle (`Clone`, `Send`, `Sync`): one context serves any
/// number of tasks, on one thread or many. Its futures own a handle too, so they are
/// `'static` and can be spawned. The kernel context is destroyed when the last handle and
/// the last future are dropped, which waits for every request still in flight before their
/// buffers are freed.
///
/// `B` is the buffer type, as for [`Context`]. `R` is the reactor: `reactor::Tokio`
/// (feature `tokio`), `reactor::AsyncIo` (feature `async-io`), or your own
/// ([`Reactor`]).
///
/// # Examples
///
/// Read two files concurrently on tokio:
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use rawaio::{AsyncContext, Op, reactor::Tokio};
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// rt.block_on(async {
///     let ctx = AsyncContext::<Tokio>::new(8)?;
///     let a = std::fs::File::open("Cargo.toml")?;
///     let b = std::fs::File::open("README.md")?;
///     let (ra, rb) = tokio::join!(
///         ctx.submit(Op::read(&a, vec![0u8; 11], 0))?,
///         ctx.submit(Op::read(&b, vec![0u8; 8], 0))?,
///     );
///     assert_eq!(ra?.into_buf().unwrap(), b"[workspace]");
///     assert_eq!(rb?.into_buf().unwrap(), b"# rawaio");
///     Ok(())
/// })
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
pub struct AsyncContext<R: Reactor, B: IoBuf = Vec<u8>> {
    inner: Arc<Inner<R, B>>,
}

struct Inner<R, B: IoBuf> {
    /// Dropped first: destroying the kernel context waits for every request in flight,
    /// then frees their buffers.
    ctx: Context<B>,
    waiters: Arc<Waiters<B>>,
    reactor: R,
    /// The waker the reactor holds: `waiters`, which passes the wake-up on.
    readiness: Waker,
    /// Room for the tokens of a batch (`try_lock`ed: a busy one is replaced by a new Vec).
    tokens: Mutex<Vec<Token>>,
}

/// The eventfd's counter, or `WouldBlock` when it is zero.
fn drain(ctx: &Context<impl IoBuf>) -> io::Result<u64> {
    let efd = ctx
        .eventfd()
        .ok_or_else(|| io::Error::other("the context has no eventfd"))?;
    match efd.read()? {
        0 => Err(io::ErrorKind::WouldBlock.into()),
        n => Ok(n),
    }
}

impl<R: Reactor, B: IoBuf + 'static> AsyncContext<R, B> {
    /// Creates a context for at least `nr_events` requests in flight, with an eventfd
    /// registered with a new reactor `R` ([`Reactor::register`]).
    ///
    /// # Errors
    /// - Those of [`Context::new`] (`EINVAL` for a bad size, a spent system-wide
    ///   budget, `/proc/sys/fs/aio-max-nr`, as [`QuotaExceeded`](io::ErrorKind::QuotaExceeded)
    ///   with the figures, ...).
    /// - Those of `eventfd(2)` and of duplicating it (`EMFILE`).
    /// - The reactor's ([`Reactor::register`]): for `reactor::Tokio`, being outside a
    ///   tokio runtime.
    #[doc(alias = "io_setup")]
    pub fn new(nr_events: u32) -> io::Result<Self> {
        Self::with_reactor(nr_events, R::register)
    }

    /// [`new`](Self::new), with the reactor made by `register` from the duplicate of the
    /// eventfd (for a reactor that needs more than the descriptor: a runtime handle, say).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_reactor(
        nr_events: u32,
        register: impl FnOnce(OwnedFd) -> io::Result<R>,
    ) -> io::Result<Self> {
        let options = Options {
            eventfd: true,
            ..Options::default()
        };
        let ctx = Context::with_options(nr_events, options)?;
        let efd = ctx
            .eventfd()
            .ok_or_else(|| io::Error::other("the context has no eventfd"))?;
        let dup = rustix::io::fcntl_dupfd_cloexec(efd, 0)?;
        let reactor = register(dup)?;
        let waiters = Arc::new(Waiters {
            state: Mutex::new(State::new(ctx.ring_size() as usize)),
        });
        Ok(Self {
            inner: Arc::new(Inner {
                readiness: Waker::from(Arc::clone(&waiters)),
                tokens: Mutex::new(Vec::with_capacity(ctx.ring_size() as usize)),
                ctx,
                waiters,
                reactor,
            }),
        })
    }
}

impl<R: Reactor, B: IoBuf> AsyncContext<R, B> {
    /// Submits one request and returns the future of its completion; the context owns the
    /// request's buffers until the completion is reaped, whatever happens to the future.
    ///
    /// The request goes to the kernel now, not when the future is first polled. Every
    /// request signals the context's eventfd, so a request with its own
    /// [`notify`](Op::notify) eventfd is refused
    /// ([`InvalidOp::NotifyConflict`](crate::InvalidOp::NotifyConflict)).
    ///
    /// # Errors
    /// As [`Context::submit`]: the request comes back in [`Rejected`] with its buffers.
    /// `EAGAIN` means the context is full: await some of its futures, then retry.
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "async-io")]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use rawaio::{AsyncContext, Op, reactor::AsyncIo};
    ///
    /// let ctx = AsyncContext::<AsyncIo>::new(4)?;
    /// let file = std::fs::File::open("README.md")?;
    /// let future = ctx.submit(Op::read(&file, vec![0u8; 4], 0))?;
    /// let completion = async_io::block_on(future)?;
    /// assert_eq!(completion.result()?, 4);
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "async-io"))]
    /// # fn main() {}
    /// ```
    #[doc(alias = "io_submit")]
    #[allow(clippy::result_large_err)] // the op comes back by value, as from Context::submit
    pub fn submit<'fd>(&self, op: Op<'fd, B>) -> Result<OpFuture<R, B>, Rejected<'fd, B>> {
        let cancel_on_drop = op.opcode == IOCB_CMD_POLL;
        let token = self.inner.ctx.submit(op)?;
        self.inner.waiters.lock().register(token);
        Ok(OpFuture {
            ctx: self.clone(),
            token: Some(token),
            cancel_on_drop,
        })
    }

    /// Submits requests from the front of `ops`, as many as the kernel accepts (as
    /// [`Context::submit_batch`] does, in as few `io_submit` calls as it can), pushing
    /// each accepted request's future onto `futures`. Requests not accepted stay in `ops`
    /// with their buffers.
    pub fn submit_batch(
        &self,
        ops: &mut VecDeque<Op<'_, B>>,
        futures: &mut Vec<OpFuture<R, B>>,
    ) -> Submitted {
        let mut cancels = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if op.opcode == IOCB_CMD_POLL {
                cancels.push(i);
            }
        }
        let mut scratch = Vec::new();
        let mut guard = self.inner.tokens.try_lock().ok();
        let tokens = guard.as_deref_mut().unwrap_or(&mut scratch);
        tokens.clear();
        let submitted = self.inner.ctx.submit_batch(ops, tokens);
        {
            let mut st = self.inner.waiters.lock();
            for &token in tokens.iter() {
                st.register(token);
            }
        }
        futures.extend(tokens.drain(..).enumerate().map(|(i, token)| OpFuture {
            ctx: self.clone(),
            token: Some(token),
            cancel_on_drop: cancels.contains(&i),
        }));
        submitted
    }

    /// Reaps the completions ready in the ring now and delivers them to their futures
    /// (waking their tasks), dropping the buffers of requests whose futures were dropped;
    /// never waits. Returns how many it reaped.
    ///
    /// Futures do this themselves whenever they are polled: call it to free the buffers of
    /// dropped futures promptly when no future is being polled.
    ///
    /// # Errors
    /// `io_getevents`'s, when completions cannot be reaped in user space (in a `fork`
    /// child, `EINVAL`).
    #[doc(alias = "io_getevents")]
    pub fn reap_ready(&self) -> io::Result<usize> {
        self.inner.reap(None, None).map(|r| r.count)
    }

    /// Requests submitted and not yet reaped (those of dropped futures included).
    pub fn in_flight(&self) -> usize {
        self.inner.ctx.in_flight()
    }

    /// The number of event slots in the kernel's ring: at most this many requests can be
    /// in flight at once.
    pub fn ring_size(&self) -> u32 {
        self.inner.ctx.ring_size()
    }

    /// The reactor, for a runtime that needs to reach it (a hand-written loop that polls
    /// the descriptor it registered, say).
    pub fn reactor(&self) -> &R {
        &self.inner.reactor
    }
}

/// How many times in a row a future polled for its task reaps and finds the eventfd
/// readable again before it yields to the task's other work.
const ROUNDS: usize = 32;

/// What one reap found, under the waiters' lock.
struct Reaped<B> {
    /// The polling future's completion, if it has come (its entry is then gone).
    mine: Option<Completion<B>>,
    /// The readiness count.
    fired: u64,
    /// Whether the reactor was armed.
    armed: bool,
    /// Whether futures wait while the reactor is not armed.
    needs_arming: bool,
    /// How many completions were taken from the ring.
    count: usize,
}

impl<R: Reactor, B: IoBuf> Inner<R, B> {
    /// Reaps the ring and delivers everything under the waiters' lock, after leaving
    /// `waker` in `me`'s entry. When an earlier reap has delivered `me`'s completion
    /// already, takes it and returns at once (the ring is left to the futures still
    /// waiting, whose reaper the reactor wakes).
    fn reap(&self, me: Option<Token>, waker: Option<&Waker>) -> io::Result<Reaped<B>> {
        let mut after;
        let result = {
            let mut st = self.waiters.lock();
            if let Some(mine) = me.and_then(|token| st.claim(token)) {
                return Ok(Reaped {
                    mine: Some(mine),
                    fired: st.fired,
                    armed: st.armed,
                    needs_arming: st.needs_arming(),
                    count: 0,
                });
            }
            after = std::mem::replace(&mut st.spare, AfterReap::new());
            let st = &mut *st;
            let mut reaped = std::mem::take(&mut st.reaped);
            let result = self.ctx.reap_ready(&mut reaped);
            let count = reaped.len();
            let mut mine = None;
            for completion in reaped.drain(..) {
                match me {
                    // The polling future's own: straight back, not through its entry.
                    Some(token) if completion.token() == token => match st.take_own(completion) {
                        Ok(c) => mine = Some(c),
                        Err(c) => st.deliver(c, me, &mut after),
                    },
                    _ => st.deliver(completion, me, &mut after),
                }
            }
            st.reaped = reaped;
            if mine.is_none() {
                mine = me.and_then(|token| st.claim(token));
            }
            if mine.is_none() {
                // Still waiting: leave the waker for whoever reaps the completion (under
                // the same lock as this reap, so none can be delivered in between).
                if let (Some(token), Some(waker)) = (me, waker) {
                    st.set_waker(token, waker);
                }
            }
            match result {
                Err(e) if mine.is_none() && count == 0 => Err(io::Error::from(e)),
                _ => Ok(Reaped {
                    mine,
                    fired: st.fired,
                    armed: st.armed,
                    needs_arming: st.needs_arming(),
                    count,
                }),
            }
        };
        after.run();
        if after.has_room() {
            // Back for the next reap (a concurrent one may have left its own: keep one).
            let mut st = self.waiters.lock();
            if !st.spare.has_room() {
                st.spare = after;
            }
        }
        result
    }

    /// Reaps and delivers; if `me`'s completion has not come and the reactor is not armed,
    /// arms it (draining the eventfd, and reaping again, as long as it was readable), then
    /// reaps once more. Returns `me`'s completion if it came; before returning it, arms
    /// the reactor for the futures still waiting if need be (the reactor's last wake-up
    /// may have gone to `me`'s task).
    fn drive(&self, me: Option<Token>, waker: Option<&Waker>) -> io::Result<Option<Completion<B>>> {
        let task_waker = waker;
        let mut waker = waker;
        let mut rounds = 0;
        loop {
            rounds += 1;
            if rounds > ROUNDS {
                if let Some(task_waker) = task_waker {
                    // Completions keep coming: let the task's other work run, then
                    // carry on (its entry holds its waker, and it is woken now).
                    task_waker.wake_by_ref();
                    return Ok(None);
                }
            }
            let reaped = self.reap(me, waker.take())?;
            if let Some(mine) = reaped.mine {
                if reaped.needs_arming {
                    self.arm();
                }
                return Ok(Some(mine));
            }
            if reaped.armed {
                // The reactor will wake one of the waiting futures, which reaps for all.
                return Ok(None);
            }
            let mut cx = task::Context::from_waker(&self.readiness);
            match self.reactor.poll_read(&mut cx, &mut || drain(&self.ctx)) {
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {
                    {
                        let mut st = self.waiters.lock();
                        // If the reactor fired since this thread looked, the registration
                        // just made may be spent already: leave `armed` unset.
                        if st.fired == reaped.fired {
                            st.armed = true;
                        }
                    }
                    // Completions posted between the last reap and the arming.
                    return self.reap(me, None).map(|r| r.mine);
                }
            }
        }
    }

    /// Arms the reactor (for futures left waiting by one that finishes or goes).
    fn arm(&self) {
        // Errors here belong to the futures still waiting, which see them when polled.
        let _ = self.drive(None, None);
    }
}

impl<R: Reactor, B: IoBuf> Clone for AsyncContext<R, B> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: Reactor, B: IoBuf> fmt::Debug for AsyncContext<R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncContext")
            .field("context", &self.inner.ctx)
            .finish_non_exhaustive()
    }
}
