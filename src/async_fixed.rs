//! [`AsyncFixedContext`]: a [`FixedContext`] whose completions an async task awaits.

use crate::FixedContext;
use crate::context::Options;
use crate::eventfd::EventFd;
use crate::fixed_slots::FixedCompletion;
use crate::reactor::Reactor;
use crate::request::buf::{AlignedBuf, IoBuf};
use rawaio_abi::aio_context_t;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::task::{Context as TaskContext, Poll};

/// A [`FixedContext`] for an async task: the task awaits its completions
/// ([`reap`](Self::reap)) instead of blocking its thread in `io_getevents`.
///
/// This is the completion-queue shape of async I/O, as a storage engine's own reactor
/// has it (Seastar's is): one task owns the context, submits its fixed requests and
/// awaits whatever completes, with no future, waker or allocation per request. Every
/// request signals the context's eventfd (`IOCB_FLAG_RESFD`), which a [`Reactor`] `R`
/// watches; the completions are reaped from the ring in user space. While completions
/// keep coming, `reap` makes no system call at all: the eventfd is read only when the
/// ring is empty and the task is about to wait. [`Relay`](crate::reactor::Relay) keeps
/// the eventfd out of epoll, which takes epoll's work out of every completion (the
/// cheapest way to run this under tokio at high queue depth).
///
/// Where each request should be a future of its own, shared by many tasks, use
/// [`AsyncContext`](crate::AsyncContext). With [`BusyPoll`](crate::reactor::BusyPoll)
/// in place of a reactor, there is no eventfd: `reap` finding the ring empty wakes its
/// own task and returns `Pending`, so the executor comes back to look again at its next
/// turn (a thread given to I/O; see `BusyPoll`). [`Driven`](crate::reactor::Driven) has
/// no use here: such an executor waits in the kernel itself, with
/// [`FixedContext::reap`].
///
/// Everything else (slots, submission, ownership, drop, `fork`) is the fixed context's:
/// reach it through [`fixed`](Self::fixed) and [`fixed_mut`](Self::fixed_mut). Dropping
/// the `AsyncFixedContext` drops the reactor's registration first, then the fixed context
/// (which waits for every request in flight).
///
/// # Examples
///
/// Read the first bytes of a file through two slots, awaiting the completions in a tokio
/// task:
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # {
/// use rawaio::reactor::{Relay, Tokio};
/// use rawaio::{AsyncFixedContext, Op};
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// rt.block_on(async {
///     let file = std::fs::File::open("README.md")?;
///     let mut ctx = AsyncFixedContext::<Relay<Tokio>, Vec<u8>>::new(4)?;
///     let a = ctx.fixed_mut().insert(Op::read(&file, vec![0u8; 8], 0))?;
///     let b = ctx.fixed_mut().insert(Op::read(&file, vec![0u8; 8], 2))?;
///     ctx.fixed_mut().push(a).map_err(|(_, e)| e)?;
///     ctx.fixed_mut().push(b).map_err(|(_, e)| e)?;
///     assert_eq!(ctx.fixed_mut().submit().accepted, 2);
///     let mut done = Vec::new();
///     while done.len() < 2 {
///         ctx.reap(&mut done).await?;
///     }
///     for completion in &done {
///         assert_eq!(completion.result()?, 8);
///     }
///     let first = done.iter().find(|c| c.slot().index() == 0).unwrap();
///     assert_eq!(ctx.fixed().bufs(first.slot()).unwrap()[0], b"# rawaio");
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsyncFixedContext<'fd, R: Reactor, B: IoBuf = AlignedBuf> {
    /// Dropped first: it holds a duplicate of the context's eventfd.
    reactor: R,
    fixed: FixedContext<'fd, B>,
    /// The kernel handle of the context whose eventfd the reactor watches, to refuse a
    /// fixed context swapped in through [`fixed_mut`](Self::fixed_mut) (whose requests
    /// would signal another eventfd, and a wait would never end).
    id: aio_context_t,
}

impl<'fd, R: Reactor, B: IoBuf + 'static> AsyncFixedContext<'fd, R, B> {
    /// Creates a fixed context with room for at least `nr_events` requests in flight
    /// (see [`FixedContext::new`]) and an eventfd that every request signals, and
    /// registers a duplicate of the eventfd with a new reactor `R`. (For a reactor that
    /// [busy-polls](Reactor::BUSY_POLLS), the context has no eventfd, and `R` is handed
    /// one that nothing signals.)
    ///
    /// # Errors
    /// - Those of [`FixedContext::new`] (`EAGAIN`: `/proc/sys/fs/aio-max-nr` reached).
    /// - Those of `eventfd(2)`, of duplicating it (`EMFILE`) and of the reactor's
    ///   [`register`](Reactor::register) (no runtime, say).
    /// - [`io::ErrorKind::InvalidInput`] when `R` neither watches the eventfd nor
    ///   busy-polls ([`Reactor::WATCHES_EVENTFD`] and [`Reactor::BUSY_POLLS`] both false,
    ///   as for [`Driven`](crate::reactor::Driven)), or claims both.
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
        if R::WATCHES_EVENTFD == R::BUSY_POLLS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an AsyncFixedContext needs a reactor that watches its eventfd, or one that \
                 busy-polls (with any other, wait in FixedContext::reap)",
            ));
        }
        let options = Options {
            eventfd: R::WATCHES_EVENTFD,
            ..Options::default()
        };
        let fixed = FixedContext::with_options(nr_events, options)?;
        let reactor = match fixed.eventfd() {
            Some(efd) => efd.register_duplicate(register)?,
            // Busy-polling: no eventfd for the requests to signal; the reactor is handed
            // one nothing signals (its own: nothing else here needs it).
            None => register(EventFd::new()?.into())?,
        };
        Ok(Self {
            reactor,
            id: fixed.raw(),
            fixed,
        })
    }
}

impl<'fd, R: Reactor, B: IoBuf> AsyncFixedContext<'fd, R, B> {
    /// The fixed context: its slots, buffers and counts.
    pub fn fixed(&self) -> &FixedContext<'fd, B> {
        &self.fixed
    }

    /// The fixed context, to insert, change, push and submit requests (and to reap
    /// without awaiting).
    pub fn fixed_mut(&mut self) -> &mut FixedContext<'fd, B> {
        &mut self.fixed
    }

    /// The reactor that watches the context's eventfd.
    pub fn reactor(&self) -> &R {
        &self.reactor
    }

    /// Reaps the completions that are ready into `done`, waiting (without blocking the
    /// thread) until there is at least one; returns how many it reaped. Each completion
    /// gives its slot's handle back.
    ///
    /// Resolves to 0 at once when no request is in flight (there would be nothing to
    /// wait for). Dropping the future before it resolves loses nothing: completions stay
    /// in the ring for the next reap.
    ///
    /// # Errors
    /// As [`FixedContext::reap`] (`EINVAL` in a `fork` child), and the reactor's errors;
    /// [`io::ErrorKind::InvalidInput`] when another fixed context was put in this one's
    /// place through [`fixed_mut`](Self::fixed_mut).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # {
    /// use rawaio::reactor::Tokio;
    /// use rawaio::{AsyncFixedContext, Op};
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// rt.block_on(async {
    ///     let file = std::fs::File::open("README.md")?;
    ///     let mut ctx = AsyncFixedContext::<Tokio, Vec<u8>>::new(1)?;
    ///     let mut done = Vec::new();
    ///     // Nothing in flight: nothing to wait for.
    ///     assert_eq!(ctx.reap(&mut done).await?, 0);
    ///     let slot = ctx.fixed_mut().insert(Op::read(&file, vec![0u8; 8], 0))?;
    ///     ctx.fixed_mut().push(slot).map_err(|(_, e)| e)?;
    ///     ctx.fixed_mut().submit();
    ///     assert_eq!(ctx.reap(&mut done).await?, 1);
    ///     assert_eq!(done[0].result()?, 8);
    ///     Ok::<(), Box<dyn std::error::Error>>(())
    /// })?;
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "io_getevents")]
    pub async fn reap(&mut self, done: &mut Vec<FixedCompletion>) -> io::Result<usize> {
        poll_fn(|cx| self.poll_reap(cx, done)).await
    }

    /// [`reap`](Self::reap) as a poll function, for a hand-written future: ready with
    /// the count when it reaped something (or nothing is in flight); otherwise the
    /// reactor wakes the waker of `cx` once a completion may have arrived (a
    /// busy-polling one at once).
    ///
    /// # Errors
    /// As [`reap`](Self::reap).
    pub fn poll_reap(
        &mut self,
        cx: &mut TaskContext<'_>,
        done: &mut Vec<FixedCompletion>,
    ) -> Poll<io::Result<usize>> {
        if self.fixed.raw() != self.id {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the fixed context was replaced: the reactor watches another one's eventfd",
            )));
        }
        loop {
            // The ring first: while completions keep coming, no system call at all.
            let n = self.fixed.reap_ready(done)?;
            if n > 0 || self.fixed.in_flight() == 0 {
                return Poll::Ready(Ok(n));
            }
            if R::BUSY_POLLS {
                // Look again at the task's next turn.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // The ring is empty. The kernel posts an event to the ring before it bumps
            // the eventfd, so an event posted after that look either bumps the eventfd
            // before this read (which then succeeds: look again) or after it (which
            // wakes the reactor).
            let efd = self.fixed.eventfd();
            match self.reactor.poll_read(cx, &mut || EventFd::drain_of(efd)) {
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<R: Reactor, B: IoBuf> fmt::Debug for AsyncFixedContext<'_, R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFixedContext")
            .field("fixed", &self.fixed)
            .finish_non_exhaustive()
    }
}
