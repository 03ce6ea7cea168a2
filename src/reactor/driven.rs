//! [`Driven`]: no reactor; the program delivers completions with `AsyncContext::park`.

use super::Reactor;
use std::io;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};

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
/// [`AsyncContext::block_on`](crate::AsyncContext::block_on) is such an executor, ready
/// to use: it runs one future on the calling thread, and its parks end on a completion or
/// on the task's waker called from any thread.
///
/// # Examples
///
/// A single-threaded executor whose idle loop parks in the context, by hand:
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
    /// The duplicate it was handed of the context's wake-up eventfd (the one
    /// `block_on`'s wakers write; no completion signals it), kept until the context goes.
    _eventfd: OwnedFd,
}

impl Reactor for Driven {
    const WATCHES_EVENTFD: bool = false;

    /// Keeps `eventfd` (no completion signals it) until the context is dropped.
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
