//! [`AsyncContext`]: completions as futures, driven by any reactor through the context's
//! eventfd, reaped from the ring in user space; requests that would block the executor
//! finished elsewhere.
//!
//! # How it works
//!
//! The context is a [`Context`] created with an eventfd ([`Options::eventfd`]): every
//! request bumps it on completion, after its event is in the ring. Each submitted request
//! gets an entry in a table of waiters, at the index of the slot its [`Token`] names
//! ([`waiters`]); its [`OpFuture`] leaves its task's waker there. Whoever polls (any
//! future, on any thread) reaps everything the ring holds and delivers each completion
//! to its entry, waking the task that waits for it. A future whose completion is not
//! there yet asks the [`Reactor`] to watch the eventfd, with the context's own waker:
//! when the eventfd becomes readable, that waker wakes one waiting task, which reaps and
//! delivers for everyone.
//!
//! A context of the [`Driven`](crate::reactor::Driven) reactor has no eventfd: its
//! requests go without `IOCB_FLAG_RESFD`, the context counts as armed for good, and the
//! program's executor delivers completions by parking in the context
//! ([`AsyncContext::park`]: `io_getevents` with the reaper held, then the same delivery
//! under the waiters' lock) when it has nothing to run.
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
//! # Requests that would block
//!
//! Under the [`AsyncPolicy`], reads and writes carry `RWF_NOWAIT`. A request the kernel
//! refuses inside `io_submit` (refused outright, or completed there with `EAGAIN`, or cut
//! short) is seen by its submitter before `submit` returns, while the request's
//! descriptor is still open for sure: the submitter takes it apart ([`job`]) and finishes
//! it by an internal readiness poll and a resubmission on this context ([`route`]), or on
//! a helper thread ([`helpers`]). Its future then finds its completion in the waiters'
//! map of requests away from their slot.
//!
//! # Buffers
//!
//! Dropping a future never frees its buffers while the kernel may use them: they stay in
//! the [`Context`]'s in-flight table (or a helper's) until the completion is reaped, and
//! are then dropped; the context itself is destroyed (which waits for every request in
//! flight) only when the last handle and the last future are gone. Buffers that no
//! kernel holds (a refused request waiting for readiness) belong to the waiters' table.
//! Dropping the future of a `POLL` request also cancels it.

mod block_on;
mod drive;
mod future;
mod helpers;
mod job;
mod policy;
mod readiness;
mod reserve;
mod route;
mod submit;
mod waiters;

pub use future::OpFuture;
pub use policy::{AsyncPolicy, AsyncStats, RwMode};
pub use readiness::Readiness;
pub use reserve::{Permit, Reserve};

use crate::context::{Context, Options, Rejected, Submitted};
use crate::eventfd::EventFd;
use crate::reactor::Reactor;
use crate::request::buf::IoBuf;
use crate::request::completion::Token;
use crate::request::fd::IntoTarget;
use crate::request::op::Op;
use helpers::Pool;
use policy::{Counters, Hints};
use rawaio_abi::IOCB_CMD_POLL;
use rustix::event::PollFlags;
use rustix::io::Errno;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use waiters::{Counts, State, Waiters};

/// An AIO context whose requests complete as futures, on any runtime whose reactor can
/// wait for a file descriptor (see [`Reactor`]), and whose futures never block the
/// executor that polls them.
///
/// [`submit`](Self::submit) hands the request to the kernel at once and returns an
/// [`OpFuture`] that resolves to the request's [`Completion`](crate::Completion): its
/// result and its buffers. Readiness comes from the context's eventfd through the
/// reactor `R`; completions are reaped from the kernel's ring in user space, by whichever
/// task polls first, and handed to the tasks waiting for them.
///
/// **Requests that would block.** `io_submit` runs some requests to their end in the
/// calling thread (see [`Context::submit`]): a buffered read of data not in the page
/// cache, a read of an empty pipe or socket. Under the default [`AsyncPolicy`] the
/// context submits reads and writes with `RWF_NOWAIT`, and finishes what the kernel
/// refuses without blocking the caller: a pipe or socket after an `IOCB_CMD_POLL` says
/// it is ready, a file on a helper thread of a small bounded pool. The future resolves as
/// usual, buffers and all; [`stats`](Self::stats) counts which path each request took.
/// [`AsyncPolicy::as_given`] turns this off (no thread, ever) for programs that only do
/// `O_DIRECT`.
///
/// **Backpressure.** The context accepts at most [`requested_size`](Self::requested_size)
/// requests at once, the number the kernel guarantees room for. `submit` refuses one
/// more with `EAGAIN`; [`reserve`](Self::reserve) waits for room instead.
///
/// **Readiness.** [`readiness`](Self::readiness) waits for any pollable descriptor
/// (socket, pipe, eventfd, timerfd) through `IOCB_CMD_POLL`, on the same context as the
/// file I/O.
///
/// `AsyncContext` is a cheap handle (`Clone`, `Send`, `Sync`): one context serves any
/// number of tasks, on one thread or many. Its futures own a handle too, so they are
/// `'static` and can be spawned. The kernel context is destroyed when the last handle and
/// the last future are dropped, which waits for every request still in flight before their
/// buffers are freed.
///
/// `B` is the buffer type, as for [`Context`]. `R` is the reactor: `reactor::Tokio`
/// (feature `tokio`), `reactor::AsyncIo` (feature `async-io`), your own ([`Reactor`]),
/// or [`reactor::Driven`](crate::reactor::Driven) for an executor whose idle loop parks
/// in the context ([`park`](Self::park)): no eventfd, the least kernel work per
/// completion, or [`reactor::BusyPoll`](crate::reactor::BusyPoll) for a thread given to
/// I/O, whose executor keeps looking at the ring while requests are in flight.
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
///     let a = std::fs::File::open("README.md")?;
///     let b = std::fs::File::open("README.md")?;
///     let (ra, rb) = tokio::join!(
///         ctx.submit(Op::read(&a, vec![0u8; 8], 0))?,
///         ctx.submit(Op::read(&b, vec![0u8; 6], 2))?,
///     );
///     assert_eq!(ra?.into_buf().unwrap(), b"# rawaio");
///     assert_eq!(rb?.into_buf().unwrap(), b"rawaio");
///     Ok(())
/// })
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
pub struct AsyncContext<R: Reactor, B: IoBuf + 'static = Vec<u8>> {
    inner: Arc<Inner<R, B>>,
}

struct Inner<R, B: IoBuf + 'static> {
    /// Dropped first: destroying the kernel context waits for every request in flight,
    /// then frees their buffers.
    ctx: Context<B>,
    shared: Arc<Waiters<B>>,
    reactor: R,
    /// The waker the reactor holds: `shared`, which passes the wake-up on.
    readiness: Waker,
    policy: AsyncPolicy,
    pool: Pool<B>,
    hints: Hints,
    /// Numbers for the tokens of requests refused at submission (they hold no slot).
    detached: AtomicU32,
    /// The `nr_events` the context was created with: its capacity.
    requested: u32,
    /// For a context with no eventfd (`Driven`): the eventfd that wakes a `block_on`
    /// parked in it, through the poll request it keeps in flight meanwhile.
    kick: Option<Arc<EventFd>>,
    /// Room for the tokens and parts of a batch (`try_lock`ed: a busy one is replaced by
    /// a new Vec).
    batch: Mutex<Batch<B>>,
}

/// Scratch room for [`AsyncContext::submit_batch`].
struct Batch<B> {
    tokens: Vec<Token>,
    parts: Vec<(job::Shell<B>, job::Fd)>,
}

impl<R, B: IoBuf + 'static> Drop for Inner<R, B> {
    fn drop(&mut self) {
        // Queued jobs belong to futures that are all gone; running ones finish on their
        // helper's context.
        self.pool.close();
    }
}

impl<R: Reactor, B: IoBuf + 'static> AsyncContext<R, B> {
    /// Creates a context for `nr_events` requests at once (its capacity), with the
    /// default [`AsyncPolicy`] and an eventfd registered with a new reactor `R`
    /// ([`Reactor::register`]).
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
        Self::with_policy(nr_events, AsyncPolicy::default())
    }

    /// [`new`](Self::new), with a policy of your choice.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    ///
    /// # Examples
    ///
    /// A program that only does `O_DIRECT` and wants no helper thread:
    ///
    /// ```
    /// # #[cfg(feature = "async-io")]
    /// # fn main() -> std::io::Result<()> {
    /// use rawaio::{AsyncContext, AsyncPolicy, reactor::AsyncIo};
    ///
    /// let ctx = AsyncContext::<AsyncIo>::with_policy(64, AsyncPolicy::as_given())?;
    /// assert_eq!(ctx.policy(), AsyncPolicy::as_given());
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "async-io"))]
    /// # fn main() {}
    /// ```
    pub fn with_policy(nr_events: u32, policy: AsyncPolicy) -> io::Result<Self> {
        Self::with_reactor(nr_events, policy, R::register)
    }

    /// [`with_policy`](Self::with_policy), with the reactor made by `register` from the
    /// duplicate of the eventfd (for a reactor that needs more than the descriptor: a
    /// runtime handle, say).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_reactor(
        nr_events: u32,
        policy: AsyncPolicy,
        register: impl FnOnce(OwnedFd) -> io::Result<R>,
    ) -> io::Result<Self> {
        if R::BUSY_POLLS && R::WATCHES_EVENTFD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "rawaio::AsyncContext: a reactor that busy-polls (Reactor::BUSY_POLLS) \
                 watches no eventfd (Reactor::WATCHES_EVENTFD must be false)",
            ));
        }
        let options = Options {
            eventfd: R::WATCHES_EVENTFD,
            ..Options::default()
        };
        // A context with no eventfd has room in the kernel for one request more than its
        // capacity: the poll request `block_on` keeps in flight while it parks.
        let kernel_size = if R::WATCHES_EVENTFD {
            nr_events
        } else {
            nr_events
                .checked_add(1)
                .ok_or_else(|| io::Error::from(Errno::INVAL))?
        };
        let ctx = Context::with_options(kernel_size, options)?;
        // Without the context's eventfd, one for `block_on`'s wake-ups (which the reactor
        // is handed instead).
        let kick = match ctx.eventfd() {
            Some(_) => None,
            None => Some(Arc::new(EventFd::new()?)),
        };
        let reactor = kick
            .as_deref()
            .or(ctx.eventfd())
            .ok_or_else(|| io::Error::other("the context has no eventfd"))?
            .register_duplicate(register)?;
        let slots = ctx.ring_size() as usize;
        let mut state = State::new(slots);
        // Without an eventfd there is no reactor to arm: whoever calls `park` reaps for
        // the tasks that wait, so the context counts as armed for good. Unless the
        // futures busy-poll: then arming makes one of them the poller.
        state.armed = !R::WATCHES_EVENTFD && !R::BUSY_POLLS;
        let shared = Arc::new(Waiters {
            state: crate::slots::lock::Lock::new(state),
            counts: Counts {
                outstanding: AtomicUsize::new(0),
                capacity: nr_events as usize,
                stats: Counters::default(),
            },
        });
        Ok(Self {
            inner: Arc::new(Inner {
                readiness: Waker::from(Arc::clone(&shared)),
                batch: Mutex::new(Batch {
                    tokens: Vec::with_capacity(slots),
                    parts: Vec::with_capacity(slots),
                }),
                pool: Pool::new(policy.helper_threads),
                hints: Hints::new(),
                detached: AtomicU32::new(0),
                requested: nr_events,
                kick,
                policy,
                ctx,
                shared,
                reactor,
            }),
        })
    }
}

impl<R: Reactor, B: IoBuf + 'static> AsyncContext<R, B> {
    /// Submits one request and returns the future of its completion; the context owns the
    /// request's buffers until the completion is reaped, whatever happens to the future.
    ///
    /// The request goes to the kernel now, not when the future is first polled; under
    /// the [`AsyncPolicy`] a read or write carries `RWF_NOWAIT`, so that this call never
    /// waits for I/O, and what the kernel refuses is finished elsewhere (the future
    /// resolves the same way). Every request signals the context's eventfd, so a request
    /// with its own [`notify`](Op::notify) eventfd is refused
    /// ([`InvalidOp::NotifyConflict`](crate::InvalidOp::NotifyConflict)), unless the
    /// reactor is [`Driven`](crate::reactor::Driven) (whose context has no eventfd).
    ///
    /// A request that only borrows its descriptor (`&File`) is retried only when the
    /// kernel refuses it inside this call, which is where buffered I/O, pipes and
    /// sockets are refused; one that owns or shares it (`File`, `Arc<File>`) keeps it
    /// until it completes, so that a refusal that comes later (only `O_DIRECT` requests
    /// to some block devices) is retried too. See [`AsyncStats::late`].
    ///
    /// # Errors
    /// As [`Context::submit`]: the request comes back in [`Rejected`] with its buffers.
    /// `EAGAIN` means the context holds [`requested_size`](Self::requested_size)
    /// requests already: await some of its futures, or [`reserve`](Self::reserve) room.
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
        if !self.inner.shared.counts.try_acquire() {
            return Err(Rejected {
                error: Errno::AGAIN.into(),
                op,
            });
        }
        self.submit_acquired(op)
    }

    /// Submits with room already taken (released if the request is refused).
    #[allow(clippy::result_large_err)]
    fn submit_acquired<'fd>(&self, op: Op<'fd, B>) -> Result<OpFuture<R, B>, Rejected<'fd, B>> {
        let cancel_on_drop = op.opcode == IOCB_CMD_POLL;
        match self.inner.submit_one(op) {
            Ok(token) => Ok(self.future(token, cancel_on_drop)),
            Err(rejected) => {
                self.inner.shared.release();
                Err(rejected)
            }
        }
    }

    fn future(&self, token: Token, cancel_on_drop: bool) -> OpFuture<R, B> {
        OpFuture {
            ctx: self.clone(),
            token,
            live: true,
            cancel_on_drop,
        }
    }

    /// Submits requests from the front of `ops`, as many as the kernel accepts and the
    /// context has room for (as [`Context::submit_batch`] does, in as few `io_submit`
    /// calls as it can), pushing each accepted request's future onto `futures`. Requests
    /// not accepted stay in `ops` with their buffers; [`Submitted::error`] says why
    /// (`EAGAIN` when the context is full).
    pub fn submit_batch(
        &self,
        ops: &mut VecDeque<Op<'_, B>>,
        futures: &mut Vec<OpFuture<R, B>>,
    ) -> Submitted {
        let mut guard = self.inner.batch.try_lock().ok();
        let mut scratch;
        let batch = match guard.as_deref_mut() {
            Some(batch) => batch,
            // Busy (or poisoned: its lists are only ever cleared before use).
            None => {
                scratch = Batch {
                    tokens: Vec::new(),
                    parts: Vec::new(),
                };
                &mut scratch
            }
        };
        self.inner.submit_many(ops, batch, |token, poll| {
            futures.push(self.future(token, poll));
        })
    }

    /// Waits for room for one request, and takes it: the [`Permit`] submits one request
    /// without being refused for want of room. Room frees as requests complete, so
    /// awaiting this reaps completions (and delivers them to their futures, which need
    /// not be polled meanwhile).
    ///
    /// # Errors
    /// The future resolves to an error when completions cannot be reaped (in a `fork`
    /// child) or the reactor fails.
    ///
    /// # Examples
    ///
    /// Many more requests than the context holds, from one task, before awaiting any:
    ///
    /// ```
    /// # #[cfg(feature = "async-io")]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use rawaio::{AsyncContext, Op, reactor::AsyncIo};
    ///
    /// async_io::block_on(async {
    ///     let ctx = AsyncContext::<AsyncIo>::new(4)?;
    ///     let file = std::fs::File::open("README.md")?;
    ///     let mut futures = Vec::new();
    ///     for i in 0..100 {
    ///         let permit = ctx.reserve().await?;
    ///         futures.push(permit.submit(Op::read(&file, vec![0u8; 1], i))?);
    ///         assert!(ctx.in_flight() <= 4);
    ///     }
    ///     for future in futures {
    ///         assert_eq!(future.await?.result()?, 1);
    ///     }
    ///     Ok(())
    /// })
    /// # }
    /// # #[cfg(not(feature = "async-io"))]
    /// # fn main() {}
    /// ```
    pub fn reserve(&self) -> Reserve<R, B> {
        Reserve { ctx: self.clone() }
    }

    /// A readiness watch on `fd` (borrowed, owned or shared, as for [`Op`]) for `events`
    /// (`IOCB_CMD_POLL` on this context): each
    /// [`Readiness::ready`] submits one poll (one `io_submit`, no allocation) unless one
    /// is in flight, and resolves to the ready mask. For sockets, pipes, eventfds,
    /// timerfds and any other pollable descriptor.
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "async-io")]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use rawaio::{AsyncContext, PollFlags, reactor::AsyncIo};
    /// use std::io::Write;
    ///
    /// let ctx = AsyncContext::<AsyncIo>::new(4)?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// let mut readable = ctx.readiness(&a, PollFlags::IN);
    /// b.write_all(b"ping")?;
    /// let mask = async_io::block_on(readable.ready())?;
    /// assert!(mask.contains(PollFlags::IN));
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "async-io"))]
    /// # fn main() {}
    /// ```
    pub fn readiness<'fd>(
        &self,
        fd: impl IntoTarget<'fd>,
        events: PollFlags,
    ) -> Readiness<'fd, R, B> {
        Readiness::new(self.clone(), fd, events)
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
        self.inner.reap(drive::Me::Nobody, None).map(|r| r.count)
    }

    /// Waits until a completion is ready, for up to `timeout` (for ever when `None`),
    /// then reaps every ready one and delivers it to its future (waking its task), as
    /// [`reap_ready`](Self::reap_ready) does; returns how many it reaped (0 when the
    /// timeout expired). Returns 0 at once when no request is in flight in the kernel,
    /// so it never waits for a completion that cannot come.
    ///
    /// This is what the idle loop of an executor calls for a context of the
    /// [`Driven`](crate::reactor::Driven) reactor, which watches no eventfd: when no task
    /// can run, park in the context. It works with any reactor (waiting in
    /// `io_getevents` rather than in the reactor). A signal does not end the wait early.
    ///
    /// Several threads may park at once: they take turns waiting in the kernel. Futures
    /// polled meanwhile on other threads still find their completions: the parked thread
    /// delivers what it reaps to them.
    ///
    /// # Errors
    /// `io_getevents`'s (in a `fork` child, `EINVAL`).
    ///
    /// # Examples
    /// See [`Driven`](crate::reactor::Driven).
    #[doc(alias = "io_getevents")]
    pub fn park(&self, timeout: Option<std::time::Duration>) -> io::Result<usize> {
        self.inner.park(timeout)
    }

    /// Requests accepted and not yet finished: in the kernel, waiting for readiness, or
    /// on a helper thread (those of dropped futures included), plus room reserved by
    /// [`Permit`]s. At most [`requested_size`](Self::requested_size).
    pub fn in_flight(&self) -> usize {
        self.inner.shared.counts.outstanding.load(Ordering::Acquire)
    }

    /// The context's capacity: the most requests it accepts at once, the `nr_events` it
    /// was created with (the number the kernel guarantees room for).
    pub fn requested_size(&self) -> u32 {
        self.inner.requested
    }

    /// The number of event slots in the kernel's ring (larger than
    /// [`requested_size`](Self::requested_size): the kernel rounds up).
    pub fn ring_size(&self) -> u32 {
        self.inner.ctx.ring_size()
    }

    /// The policy the context was created with.
    pub fn policy(&self) -> AsyncPolicy {
        self.inner.policy
    }

    /// How many requests took each path so far (see [`AsyncPolicy`]).
    pub fn stats(&self) -> AsyncStats {
        self.inner.shared.counts.stats.snapshot()
    }

    /// The reactor, for a runtime that needs to reach it (a hand-written loop that polls
    /// the descriptor it registered, say).
    pub fn reactor(&self) -> &R {
        &self.inner.reactor
    }
}

impl<R: Reactor, B: IoBuf + 'static> Clone for AsyncContext<R, B> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: Reactor, B: IoBuf + 'static> fmt::Debug for AsyncContext<R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncContext")
            .field("context", &self.inner.ctx)
            .field("policy", &self.inner.policy)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}
