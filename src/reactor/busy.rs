//! [`BusyPoll`]: no reactor; the futures poll the completion ring, their executor never
//! sleeping while requests are in flight.

use super::Reactor;
use std::io;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};

/// No reactor: the [`AsyncContext`](crate::AsyncContext)'s futures poll the completion
/// ring themselves, on any executor. While requests are in flight, one waiting future at
/// a time is the poller: each poll of it reaps the ring (waking the futures whose
/// completions came) and wakes its own task again, so that the executor comes back to it
/// at its next turn instead of sleeping. When it resolves or is dropped, another waiting
/// future takes over. Nothing spins while nothing is in flight.
///
/// What it saves: as with [`Driven`](super::Driven), the context has no eventfd, so its
/// requests go without `IOCB_FLAG_RESFD`, and the kernel neither takes a reference on an
/// eventfd at submission nor signals it at every completion; and no `epoll_wait`, no
/// eventfd read, no system call at all but `io_submit` on the way. Unlike `Driven`, it
/// needs no executor of its own: tokio's, async-io's or a hand-written one will do. A
/// completion is seen at the executor's next turn, which at low queue depth is the
/// lowest latency there is.
///
/// What it costs: the executor's thread runs flat out while any request is in flight,
/// as Seastar's and SPDK's pollers do. For a thread (or a runtime) given to I/O; not for
/// a thread that shares its CPU with other work, and never for a runtime whose other
/// tasks must sleep cheaply. Timers and sockets of the same runtime still work: its
/// reactor is polled, without waiting, between the poller's turns (tokio's every 61
/// tasks, by default).
///
/// The futures keep to the usual contract: a task woken must poll the future that left
/// the waker (or drop it), or the poller's turn is lost, as any reactor's wake-up would
/// be.
///
/// # Examples
///
/// Reads on tokio's current-thread runtime, its thread given to them:
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use rawaio::{AsyncContext, Op, reactor::BusyPoll};
///
/// let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// rt.block_on(async {
///     let ctx = AsyncContext::<BusyPoll>::new(8)?;
///     let file = std::fs::File::open("README.md")?;
///     let (a, b) = tokio::join!(
///         ctx.submit(Op::read(&file, vec![0u8; 8], 0))?,
///         ctx.submit(Op::read(&file, vec![0u8; 6], 2))?,
///     );
///     assert_eq!(a?.into_buf().unwrap(), b"# rawaio");
///     assert_eq!(b?.into_buf().unwrap(), b"rawaio");
///     Ok(())
/// })
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
#[derive(Debug)]
pub struct BusyPoll {
    /// The duplicate it was handed of the context's wake-up eventfd (no completion
    /// signals it), kept until the context goes.
    _eventfd: OwnedFd,
}

impl Reactor for BusyPoll {
    const WATCHES_EVENTFD: bool = false;
    const BUSY_POLLS: bool = true;

    /// Keeps `eventfd` (no completion signals it) until the context is dropped.
    fn register(eventfd: OwnedFd) -> io::Result<Self> {
        Ok(Self { _eventfd: eventfd })
    }

    /// Never called by the context (its futures poll the ring); fails if called.
    fn poll_read(
        &self,
        _cx: &mut Context<'_>,
        _read: &mut dyn FnMut() -> io::Result<u64>,
    ) -> Poll<io::Result<u64>> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "rawaio::reactor::BusyPoll watches no descriptor: its futures poll the ring",
        )))
    }
}
