//! [`Driven`]: no reactor; the program delivers completions with `AsyncContext::park`.

use super::Reactor;
use crate::async_context::{AsyncContext, OpFuture};
use crate::eventfd::EventFd;
use crate::request::buf::IoBuf;
use crate::request::op::Op;
use rustix::event::PollFlags;
use rustix::io::Errno;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// No reactor: the [`AsyncContext`](crate::AsyncContext) learns of completions only when
/// the program asks, by calling [`park`](crate::AsyncContext::park) (which waits in
/// `io_getevents`) or [`reap_ready`](crate::AsyncContext::reap_ready). For executors
/// that own their idle loop, as thread-per-core runtimes do: when no task can run, the
/// executor parks in the context instead of in `poll(2)` or `epoll_wait(2)`.
///
/// What it saves: the context has no eventfd, so its requests go without
/// `IOCB_FLAG_RESFD`, and the kernel neither takes a reference on an eventfd at
/// submission nor signals it (a lock, a wake-up walk and two atomic reference counts) at
/// every completion. On a fast device that is several percent of the CPU time per I/O
/// (`docs/performance.md`).
///
/// What it asks: futures of such a context resolve only while some thread delivers
/// their completions. An executor that blocks elsewhere (tokio's, async-io's) without
/// calling `park` would leave its tasks waiting for ever: use it only with an executor
/// whose idle loop calls `park`. A future's poll still reaps the ring itself, so while
/// tasks keep running, completions reach them without any `park`. To be woken by
/// something other than a completion (another thread's waker, a socket, a timer), wait
/// for it on the same context: a [`readiness`](crate::AsyncContext::readiness) future of
/// an eventfd that the other thread writes completes in the same ring, and so ends the
/// `park`. Or park with a timeout.
///
/// # Examples
///
/// A single-threaded executor whose idle loop parks in the context:
///
/// ```
/// use rawaio::{AsyncContext, Op, reactor::Driven};
/// use std::future::Future;
/// use std::pin::pin;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::task::{Context, Poll, Wake, Waker};
///
/// struct Flag(AtomicBool);
/// impl Wake for Flag {
///     fn wake(self: Arc<Self>) {
///         self.0.store(true, Ordering::Release);
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ctx = AsyncContext::<Driven>::new(8)?;
/// let file = std::fs::File::open("README.md")?;
/// let mut read = pin!(ctx.submit(Op::read(&file, vec![0u8; 8], 0))?);
/// let woken = Arc::new(Flag(AtomicBool::new(true)));
/// let waker = Waker::from(Arc::clone(&woken));
/// let completion = loop {
///     if woken.0.swap(false, Ordering::Acquire) {
///         if let Poll::Ready(c) = read.as_mut().poll(&mut Context::from_waker(&waker)) {
///             break c?;
///         }
///     } else {
///         // Nothing to run: wait for completions, which wake their tasks.
///         ctx.park(None)?;
///     }
/// };
/// assert_eq!(completion.into_buf().unwrap(), b"# rawaio");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Driven {
    /// The eventfd it was handed, which nothing signals; kept (not closed at once) so
    /// that a context's creation and drop make the same calls whatever its reactor.
    _eventfd: OwnedFd,
}

impl Reactor for Driven {
    const WATCHES_EVENTFD: bool = false;

    /// Keeps `eventfd` (which nothing signals) until the context is dropped.
    fn register(eventfd: OwnedFd) -> io::Result<Self> {
        Ok(Self { _eventfd: eventfd })
    }

    /// Never called by the context (it watches no eventfd); fails if called.
    fn poll_read(
        &self,
        _cx: &mut Context<'_>,
        _read: &mut dyn FnMut() -> io::Result<u64>,
    ) -> Poll<io::Result<u64>> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "rawaio::reactor::Driven watches no descriptor: call AsyncContext::park",
        )))
    }
}

/// The waker of [`AsyncContext::block_on`]'s task: a flag, and a kick for the thread when
/// it is parked in the context.
struct Kick {
    woken: AtomicBool,
    parked: AtomicBool,
    fd: EventFd,
    /// The executor's thread: a wake-up from it while parked comes from the park's own
    /// deliveries, which the executor sees when the park returns (no kick needed).
    owner: std::thread::ThreadId,
}

impl Wake for Kick {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Sequentially consistent, as the parking side: either the parker sees `woken`
        // and does not wait, or this sees `parked` and ends the wait.
        self.woken.store(true, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) && std::thread::current().id() != self.owner {
            // Completes the poll request the parked thread keeps in flight. The only
            // failure is a counter near u64::MAX, which is readable anyway.
            let _ = self.fd.write(1);
        }
    }
}

impl<B: IoBuf + 'static> AsyncContext<Driven, B> {
    /// Runs `future` to its end on this thread, parking in the context whenever the task
    /// has nothing to do: the smallest executor for a [`Driven`] context.
    ///
    /// The task is polled when it is woken. When it is not, the thread waits in
    /// [`park`](Self::park) until a completion of this context comes (which delivers it,
    /// waking the task if it waits for it) or the task's waker is called from another
    /// thread: while parked, the context keeps a poll request in flight on an eventfd of
    /// the executor's, which that waker writes, so a wake-up from a helper thread or a
    /// channel ends the park as a completion does. In the steady state of a busy task
    /// (woken by the completions its own polls deliver) it makes no system call of its
    /// own.
    ///
    /// Completions of other contexts reach the task only if something else delivers
    /// them: a future of another `Driven` context would wait for ever.
    ///
    /// # Errors
    /// `eventfd(2)`'s, and those of [`park`](Self::park) and of submitting the poll
    /// request (but `EAGAIN`: a full context parks with a short timeout instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use rawaio::{AsyncContext, Op, reactor::Driven};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let ctx = AsyncContext::<Driven>::new(8)?;
    /// let file = std::fs::File::open("README.md")?;
    /// let (a, b) = ctx.block_on(async {
    ///     let a = ctx.submit(Op::read(&file, vec![0u8; 8], 0))?;
    ///     let b = ctx.submit(Op::read(&file, vec![0u8; 6], 2))?;
    ///     Ok::<_, Box<dyn std::error::Error>>((a.await?, b.await?))
    /// })??;
    /// assert_eq!(a.into_buf().unwrap(), b"# rawaio");
    /// assert_eq!(b.into_buf().unwrap(), b"rawaio");
    /// # Ok(())
    /// # }
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> io::Result<F::Output> {
        let kick = Arc::new(Kick {
            woken: AtomicBool::new(true),
            parked: AtomicBool::new(false),
            fd: EventFd::new()?,
            owner: std::thread::current().id(),
        });
        let waker = Waker::from(Arc::clone(&kick));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        // The poll request on the kick, while one is in flight (dropping it cancels it).
        let mut watch: Option<OpFuture<Driven, B>> = None;
        loop {
            if kick.woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return Ok(output);
                }
                continue;
            }
            let mut timeout = None;
            if watch.is_none() {
                match self.submit(Op::poll(&kick.fd, PollFlags::IN)) {
                    Ok(f) => watch = Some(f),
                    // Full: its requests' completions end the park, but a wake-up from
                    // another thread would not; look again soon.
                    Err(rejected) if rejected.error.errno() == Some(Errno::AGAIN) => {
                        timeout = Some(Duration::from_millis(1));
                    }
                    Err(rejected) => return Err(rejected.into()),
                }
            }
            kick.parked.store(true, Ordering::SeqCst);
            let parked = if kick.woken.load(Ordering::SeqCst) {
                Ok(0)
            } else {
                self.park(timeout)
            };
            kick.parked.store(false, Ordering::SeqCst);
            parked?;
            if let Some(w) = &mut watch {
                if let Poll::Ready(done) = Pin::new(w).poll(&mut Context::from_waker(Waker::noop()))
                {
                    watch = None;
                    done?;
                    // Ready again for the next kick (never blocks: non-blocking).
                    kick.fd.read()?;
                }
            }
        }
    }
}
