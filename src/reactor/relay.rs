//! [`Relay`]: a reactor told of completions once per wait, not once per completion.
//!
//! Every request of an [`AsyncContext`](crate::AsyncContext) signals the context's
//! eventfd when it completes (`IOCB_FLAG_RESFD`). With the eventfd registered in an
//! epoll instance, as [`Tokio`](super::Tokio) and [`AsyncIo`](super::AsyncIo) register
//! it, each of those signals also runs epoll's wake-up callback in the kernel, whether or
//! not anybody waits: on this project's machine that took the minimal C loop to 0.90 of
//! its CPU time per I/O at queue depth 128, where a plain eventfd costs it 0.955
//! (`benches/c/aio_floor.c`, modes `eventfd` and `epoll`).
//!
//! A relay keeps the context's eventfd out of every epoll instance. Only when a future
//! is about to wait (the eventfd is empty) does it arm an `IOCB_CMD_POLL` of that
//! eventfd, on an AIO context of its own, whose completion signals a second eventfd: the
//! one the inner reactor watches. A busy context, whose futures find their completions
//! without waiting, signals nothing but the bare eventfd; a waiting one pays two more
//! system calls per wait (submitting the poll, draining the second eventfd).
//!
//! No wake-up is lost: whenever a task leaves the relay, a poll is in flight or the
//! second eventfd holds a signal for the inner reactor. A task arms the poll before it
//! waits on the inner reactor, and a task that takes a fired poll's signal (drains the
//! second eventfd) arms a new one before it goes on, for the tasks that may be waiting
//! for that signal on other threads.

use super::Reactor;
use crate::context::Context;
use crate::eventfd::EventFd;
use crate::request::completion::Completion;
use crate::request::op::Op;
use rustix::event::PollFlags;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};

/// A [`Reactor`] that relays the context's completions to an inner reactor `R` once per
/// wait, through a poll request, instead of once per completion.
///
/// Use it where many requests complete while the task is busy anyway (high queue depth,
/// fast devices): it takes epoll's per-completion work out of the kernel's completion
/// path. Where the task waits for nearly every completion (queue depth 1 on a device
/// with real latency), the plain reactor is cheaper: a relay adds two system calls to
/// every wait.
///
/// It owns an AIO context of one request (counted in `/proc/sys/fs/aio-max-nr`) and a
/// second eventfd, registered with `R`. It needs `IOCB_CMD_POLL` (Linux 4.18): on older
/// kernels [`register`](Reactor::register) fails.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # {
/// use rawaio::reactor::{Relay, Tokio};
/// use rawaio::{AsyncContext, Op};
/// use std::fs::File;
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// rt.block_on(async {
///     let file = File::open("Cargo.toml")?;
///     let ctx = AsyncContext::<Relay<Tokio>>::new(32)?;
///     let done = ctx.submit(Op::read(&file, vec![0u8; 64], 0)).map_err(|r| r.error)?.await?;
///     assert!(done.result()? > 0);
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Relay<R: Reactor> {
    /// Destroyed first: that cancels the poll (which holds its own references to both
    /// eventfds).
    poller: Mutex<Poller>,
    /// A duplicate of the context's eventfd: what the poll watches.
    completions: OwnedFd,
    /// Signalled by the poll's completion alone; `inner` watches a duplicate of it.
    wake: EventFd,
    inner: R,
}

/// The relay's own context and its one request.
struct Poller {
    ctx: Context<Vec<u8>>,
    /// Whether a poll has been submitted whose completion has not been taken.
    armed: bool,
    done: Vec<Completion<Vec<u8>>>,
}

impl<R: Reactor> Relay<R> {
    /// The inner reactor, which watches the relay's own eventfd (for a hand-written
    /// loop that waits for that descriptor itself).
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// Makes sure a poll of the context's eventfd is in flight: takes the last one's
    /// completion if it has come, and submits a new one then (or when none was).
    fn arm(&self) -> io::Result<()> {
        let mut guard = self.poller.lock().unwrap_or_else(PoisonError::into_inner);
        let p = &mut *guard;
        if p.armed {
            p.done.clear();
            p.ctx.reap_ready(&mut p.done)?;
            let Some(fired) = p.done.pop() else {
                // Still watching: it fires on the eventfd's next signal.
                return Ok(());
            };
            p.armed = false;
            // A poll that failed would fail again at once: say so rather than spin.
            fired.result().map_err(io::Error::from)?;
        }
        let op = Op::poll(self.completions.as_fd(), PollFlags::IN).notify(self.wake.as_fd());
        p.ctx.submit(op).map_err(|r| io::Error::from(r.error))?;
        p.armed = true;
        Ok(())
    }
}

impl<R: Reactor> Reactor for Relay<R> {
    /// Keeps `eventfd` for the poll, and registers a second eventfd with `R`.
    ///
    /// # Errors
    /// Those of `eventfd(2)`, of [`Context::new`] (a spent `aio-max-nr` budget), of
    /// submitting the first poll (`EINVAL` before Linux 4.18, which has no
    /// `IOCB_CMD_POLL`), and of `R::register`.
    fn register(eventfd: OwnedFd) -> io::Result<Self> {
        let wake = EventFd::new()?;
        let inner = R::register(wake.as_fd().try_clone_to_owned()?)?;
        let relay = Self {
            poller: Mutex::new(Poller {
                ctx: Context::new(1)?,
                armed: false,
                done: Vec::with_capacity(1),
            }),
            completions: eventfd,
            wake,
            inner,
        };
        relay.arm()?;
        Ok(relay)
    }

    fn poll_read(
        &self,
        cx: &mut TaskContext<'_>,
        read: &mut dyn FnMut() -> io::Result<u64>,
    ) -> Poll<io::Result<u64>> {
        loop {
            match read() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
            // The eventfd is empty: a poll in flight from now on fires at its next
            // signal (at once, if one came since `read`).
            if let Err(e) = self.arm() {
                return Poll::Ready(Err(e));
            }
            match self.inner.poll_read(cx, &mut || self.wake.drain()) {
                // The poll fired (perhaps an earlier one), and this task took its
                // signal: other tasks may be waiting on the inner reactor for that very
                // signal (on a multi-threaded runtime, one that armed before the poll
                // fired). Leave a poll in flight for them before looking at the eventfd
                // again; it fires at once if the eventfd is still readable.
                Poll::Ready(Ok(_)) => {
                    if let Err(e) = self.arm() {
                        return Poll::Ready(Err(e));
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<R: Reactor> fmt::Debug for Relay<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let armed = self
            .poller
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .armed;
        f.debug_struct("Relay")
            .field("armed", &armed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    /// An inner reactor for a test: keeps the waker and its descriptor, which the test
    /// polls itself.
    struct Kept {
        fd: OwnedFd,
        waker: Mutex<Option<Waker>>,
    }

    impl Reactor for Kept {
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

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Whether `fd` becomes readable within `ms` milliseconds.
    fn readable(fd: &OwnedFd, ms: i32) -> bool {
        let mut fds = [rustix::event::PollFd::new(fd, PollFlags::IN)];
        let timeout = rustix::event::Timespec {
            tv_sec: i64::from(ms / 1000),
            tv_nsec: i64::from(ms % 1000) * 1_000_000,
        };
        rustix::event::poll(&mut fds, Some(&timeout)).unwrap() == 1
    }

    #[test]
    fn the_inner_reactor_hears_of_a_completion_once_per_wait() {
        let completions = EventFd::new().unwrap();
        let relay = Relay::<Kept>::register(completions.as_fd().try_clone_to_owned().unwrap())
            .expect("IOCB_CMD_POLL (Linux 4.18)");
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = TaskContext::from_waker(&waker);
        let mut read = || completions.drain();
        for round in 1..=3u64 {
            // Nothing yet: the task waits, and the inner reactor's descriptor stays quiet.
            assert!(relay.poll_read(&mut cx, &mut read).is_pending());
            assert!(
                !readable(&relay.inner.fd, 50),
                "round {round}: the relay fired with nothing signalled"
            );
            // Three completions signal the context's eventfd: the relay's poll fires
            // once, and the inner reactor's descriptor becomes readable.
            for _ in 0..3 {
                completions.write(1).unwrap();
            }
            assert!(
                readable(&relay.inner.fd, 5_000),
                "round {round}: the relay did not fire"
            );
            // The task, woken by the runtime, finds the count.
            match relay.poll_read(&mut cx, &mut read) {
                Poll::Ready(Ok(3)) => {}
                other => panic!("round {round}: {other:?}"),
            }
            // The inner reactor was drained: it waits again (after a re-arm).
            assert_eq!(wake_count(&relay), 1, "round {round}: one poll completion");
        }
        // The test's inner reactor never wakes by itself; it only kept the waker.
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert!(relay.inner.waker.lock().unwrap().is_some());
    }

    /// Drains the relay's own eventfd the way its inner reactor does, and reports how
    /// many signals it held.
    fn wake_count<R: Reactor>(relay: &Relay<R>) -> u64 {
        relay.wake.read().unwrap()
    }

    #[test]
    fn a_signal_between_the_read_and_the_arming_is_not_lost() {
        let completions = EventFd::new().unwrap();
        let relay = Relay::<Kept>::register(completions.as_fd().try_clone_to_owned().unwrap())
            .expect("IOCB_CMD_POLL (Linux 4.18)");
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut cx = TaskContext::from_waker(&waker);
        // `read` says "empty", then a completion signals before the relay arms: the poll
        // must see it, and the inner reactor's descriptor must become readable.
        let mut first = true;
        let mut read = || {
            if std::mem::take(&mut first) {
                completions.write(1).unwrap();
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                completions.drain()
            }
        };
        // Either the relay looks again at once (the poll fired inside io_submit and the
        // inner reactor saw it), or it waits with its descriptor readable.
        match relay.poll_read(&mut cx, &mut read) {
            Poll::Ready(Ok(1)) => {}
            Poll::Pending => assert!(readable(&relay.inner.fd, 5_000)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_task_that_takes_the_relays_signal_leaves_a_poll_behind() {
        // Task A waits; a completion fires the relay's poll; task B, which found the
        // eventfd empty just before, takes that poll's signal (draining the relay's own
        // eventfd) and the count. A still waits, on the inner reactor: the next
        // completion must reach it, so B must not leave the relay without a poll in
        // flight (a hang on a multi-threaded runtime, where A and B run at once).
        let completions = EventFd::new().unwrap();
        let relay = Relay::<Kept>::register(completions.as_fd().try_clone_to_owned().unwrap())
            .expect("IOCB_CMD_POLL (Linux 4.18)");
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut cx = TaskContext::from_waker(&waker);
        let empty = || Err(io::ErrorKind::WouldBlock.into());
        assert!(
            relay.poll_read(&mut cx, &mut { empty }).is_pending(),
            "A waits"
        );
        for round in 1..=3 {
            completions.write(1).unwrap();
            assert!(
                readable(&relay.inner.fd, 5_000),
                "round {round}: the relay did not fire"
            );
            let mut first = true;
            let mut b_reads = || {
                if std::mem::take(&mut first) {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    completions.drain()
                }
            };
            match relay.poll_read(&mut cx, &mut b_reads) {
                Poll::Ready(Ok(1)) => {}
                other => panic!("round {round}: B: {other:?}"),
            }
            // The next completion must reach A's reactor: through a signal B left on the
            // relay's eventfd, or a poll B left in flight.
            completions.write(1).unwrap();
            assert!(
                readable(&relay.inner.fd, 2_000),
                "round {round}: a completion after B took the relay's signal went unheard"
            );
            // A is woken, drains, finds the count, and waits again.
            let mut a_reads = || completions.drain();
            match relay.poll_read(&mut cx, &mut a_reads) {
                Poll::Ready(Ok(1)) => {}
                other => panic!("round {round}: A: {other:?}"),
            }
            assert!(
                relay.poll_read(&mut cx, &mut { empty }).is_pending(),
                "A waits again"
            );
        }
    }
}
