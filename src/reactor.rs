//! Reactors: what tells an [`AsyncContext`](crate::AsyncContext) that its eventfd is
//! readable.
//!
//! An [`AsyncContext`](crate::AsyncContext) learns of completions the way any
//! non-blocking descriptor is waited for: every request it submits bumps the context's
//! eventfd (`IOCB_FLAG_RESFD`), and a reactor (epoll, in practice) says when that eventfd
//! is readable. The completions themselves are then taken from the kernel's ring in user
//! space. [`Reactor`] is the small interface the context needs from a runtime; rawaio
//! ships two implementations behind Cargo features:
//!
//! - `Tokio` (feature `tokio`): `tokio::io::unix::AsyncFd`.
//! - `AsyncIo` (feature `async-io`): `async_io::Async`, the reactor of smol and
//!   async-std.
//!
//! Any other runtime that can wait for a file descriptor to become readable can drive an
//! `AsyncContext` through its own implementation; see [`Reactor`].
//!
//! [`Relay`] wraps either (or any other) to take epoll's work out of every completion:
//! the eventfd stays out of epoll, and a poll request relays its first signal after each
//! wait to the runtime. Worth it at high queue depth, where most completions arrive while
//! the task is busy; it costs two system calls per wait.
//!
//! [`Driven`] is no reactor at all, for executors that own their idle loop (a
//! thread-per-core runtime, as Seastar's): no eventfd is signalled, and the executor
//! blocks in [`AsyncContext::park`](crate::AsyncContext::park) (`io_getevents`) when it
//! has nothing else to do. The kernel's work per completion is then the least there is.
//!
//! [`BusyPoll`] is no reactor either, for any executor (tokio's too) on a thread given to
//! I/O: no eventfd, and while requests are in flight one waiting future at a time wakes
//! its own task after each look at the ring, so the executor never sleeps. The kernel's
//! work per completion is `Driven`'s; the price is a CPU kept busy.
//!
//! [`Preemption`] is a building block for such runtimes: a "time slice over" flag read
//! from a second AIO context's completion ring, without a system call.

use std::io;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};

#[cfg(feature = "async-io")]
mod async_io;
mod busy;
mod driven;
mod preempt;
mod relay;
#[cfg(feature = "tokio")]
mod tokio;

pub use self::busy::BusyPoll;
pub use self::driven::Driven;
pub use self::preempt::Preemption;
pub use self::relay::Relay;

#[cfg(feature = "async-io")]
pub use self::async_io::AsyncIo;
#[cfg(feature = "tokio")]
pub use self::tokio::Tokio;

/// A runtime's reactor, watching one descriptor (an
/// [`AsyncContext`](crate::AsyncContext)'s eventfd) for readability.
///
/// The context calls [`poll_read`](Self::poll_read) with a `read` function that drains
/// the eventfd without blocking and fails with [`io::ErrorKind::WouldBlock`] when there
/// is nothing to read. The implementation's one duty is the usual one of a reactor: if
/// `read` would block, make sure the waker of `cx` is woken once the descriptor becomes
/// readable after that `read`, and return [`Poll::Pending`] (or try `read` again).
///
/// The context always passes the same waker (one of its own, which hands the wake-up to
/// one of the futures waiting), so a reactor that keeps only the latest waker per
/// descriptor, as tokio's and async-io's do, is fine. `poll_read` may be called from any
/// thread, also outside a task (when a future is dropped, say), and concurrently.
///
/// # Examples
///
/// A reactor for a hand-written single-threaded loop that blocks in `poll(2)` when it has
/// nothing else to do, then wakes what the reactor kept:
///
/// ```
/// use rawaio::reactor::Reactor;
/// use std::io;
/// use std::os::fd::OwnedFd;
/// use std::sync::Mutex;
/// use std::task::{Context, Poll, Waker};
///
/// struct PollLoop {
///     fd: OwnedFd,
///     waker: Mutex<Option<Waker>>,
/// }
///
/// impl Reactor for PollLoop {
///     fn register(eventfd: OwnedFd) -> io::Result<Self> {
///         Ok(Self { fd: eventfd, waker: Mutex::new(None) })
///     }
///
///     fn poll_read(
///         &self,
///         cx: &mut Context<'_>,
///         read: &mut dyn FnMut() -> io::Result<u64>,
///     ) -> Poll<io::Result<u64>> {
///         match read() {
///             Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
///                 // The loop polls `fd` and wakes this waker when it is readable.
///                 *self.waker.lock().unwrap() = Some(cx.waker().clone());
///                 Poll::Pending
///             }
///             other => Poll::Ready(other),
///         }
///     }
/// }
/// ```
pub trait Reactor: Send + Sync + Sized + 'static {
    /// Whether the reactor watches the context's eventfd, which the kernel then signals
    /// at every completion (`IOCB_FLAG_RESFD`). `true` for every reactor but
    /// [`Driven`], whose program delivers completions itself by calling
    /// [`AsyncContext::park`](crate::AsyncContext::park): a context for a reactor that
    /// sets this to `false` has no eventfd, submits its requests without
    /// `IOCB_FLAG_RESFD`, never calls [`poll_read`](Self::poll_read), and hands
    /// [`register`](Self::register) an eventfd that no completion signals.
    const WATCHES_EVENTFD: bool = true;

    /// Whether the context's futures busy-poll the completion ring, as with
    /// [`BusyPoll`]: `false` for every other reactor. With it set (and
    /// [`WATCHES_EVENTFD`](Self::WATCHES_EVENTFD) unset, or the context refuses to be
    /// made), the context has no eventfd, as for [`Driven`], yet needs no `park`: while
    /// requests are in flight, one waiting future at a time is the poller, whose poll
    /// looks at the ring and wakes its own task again, so that the executor comes back to
    /// it at its next turn. The reactor's [`poll_read`](Self::poll_read) is never called.
    const BUSY_POLLS: bool = false;

    /// Registers `eventfd` (a non-blocking, close-on-exec duplicate of the context's
    /// eventfd, which the reactor now owns) with the reactor.
    ///
    /// # Errors
    /// Whatever the reactor reports: no runtime to register with, or the `epoll_ctl`
    /// error.
    fn register(eventfd: OwnedFd) -> io::Result<Self>;

    /// Calls `read` when the eventfd may be readable and returns what it returned, unless
    /// it failed with [`io::ErrorKind::WouldBlock`]: then arranges for `cx`'s waker to be
    /// woken when the eventfd becomes readable, and returns [`Poll::Pending`] (or tries
    /// again).
    ///
    /// # Errors
    /// The reactor's own errors (a runtime shutting down, say), and `read`'s.
    fn poll_read(
        &self,
        cx: &mut Context<'_>,
        read: &mut dyn FnMut() -> io::Result<u64>,
    ) -> Poll<io::Result<u64>>;
}
