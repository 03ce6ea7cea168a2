//! [`AsyncContext::block_on`]: the smallest executor for a context of [`Driven`].

use super::{AsyncContext, Inner};
use crate::eventfd::EventFd;
use crate::reactor::{Driven, Reactor};
use crate::request::buf::IoBuf;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// The waker of [`AsyncContext::block_on`]'s task: a flag, and a kick for the thread when
/// it is parked in the context.
struct Kick {
    woken: AtomicBool,
    parked: AtomicBool,
    /// The context's wake-up eventfd, which its poll request watches.
    fd: Arc<EventFd>,
}

thread_local! {
    /// The [`Kick`] (its address) whose thread is parked in `block_on` on this thread:
    /// a wake-up of it from here comes from the park's own deliveries, which the executor
    /// sees when the park returns (no kick needed).
    static PARKING: Cell<usize> = const { Cell::new(0) };
}

impl Wake for Kick {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Sequentially consistent, as the parking side: either the parker sees `woken`
        // and does not wait, or this sees `parked` and ends the wait.
        self.woken.store(true, Ordering::SeqCst);
        // From a thread whose locals are gone (a destructor's wake-up): not the parked one.
        let here = PARKING
            .try_with(|p| p.get() == Arc::as_ptr(self) as usize)
            .unwrap_or(false);
        if self.parked.load(Ordering::SeqCst) && !here {
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
    /// thread: while parked, the context keeps a poll request in flight on a wake-up
    /// eventfd of its own (made with the context), which that waker writes, so a wake-up
    /// from a helper thread or a channel ends the park as a completion does. In the steady state of a busy task
    /// (woken by the completions its own polls deliver) it makes no system call of its
    /// own.
    ///
    /// Completions of other contexts reach the task only if something else delivers
    /// them: a future of another `Driven` context would wait for ever.
    ///
    /// The poll request is outside the context's capacity (a `Driven` context has room in
    /// the kernel for it): the task can keep
    /// [`requested_size`](Self::requested_size) requests in flight of its own. A context
    /// has one such poll request at most: while one `block_on` holds it, another on the
    /// same context parks with a timeout of 1 ms instead.
    ///
    /// # Errors
    /// Those of [`park`](Self::park) and of submitting the poll request.
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
        let fd = self.inner.kick.clone().ok_or_else(|| {
            io::Error::other("rawaio: a Driven context without its wake-up eventfd")
        })?;
        let kick = Arc::new(Kick {
            woken: AtomicBool::new(true),
            parked: AtomicBool::new(false),
            fd,
        });
        let waker = Waker::from(Arc::clone(&kick));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        // Whether this call's poll request is in flight (or fired, unseen); if so, it is
        // cancelled however this returns.
        let watching = Cell::new(false);
        let _leave = Leave(&self.inner, &watching);
        loop {
            if kick.woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return Ok(output);
                }
                continue;
            }
            if !watching.get() {
                watching.set(match self.inner.arm_watch(kick.fd.as_fd()) {
                    Ok(armed) => armed,
                    // The kernel refused it for want of room: parks with a timeout.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                    Err(e) => return Err(e),
                });
            }
            // Without a poll request of its own (another `block_on` has the one a context
            // may have), a wake-up from another thread ends no park: look again soon.
            let timeout = (!watching.get()).then_some(Duration::from_millis(1));
            kick.parked.store(true, Ordering::SeqCst);
            let parked = if kick.woken.load(Ordering::SeqCst) {
                Ok(0)
            } else {
                let _parking = Parking::enter(&kick);
                self.park(timeout)
            };
            kick.parked.store(false, Ordering::SeqCst);
            parked?;
            if watching.get() && self.inner.watch_fired() {
                watching.set(false);
                // Ready for the next kick (never blocks: non-blocking).
                kick.fd.read()?;
            }
        }
    }
}

/// Marks this thread as parked for a [`Kick`] while it lives (restoring the mark it found,
/// also when a waker panics during the park).
struct Parking(usize);

impl Parking {
    fn enter(kick: &Arc<Kick>) -> Self {
        Self(PARKING.replace(Arc::as_ptr(kick) as usize))
    }
}

impl Drop for Parking {
    fn drop(&mut self) {
        PARKING.set(self.0);
    }
}

/// Gives `block_on`'s poll request up, if it has one, when it returns (or unwinds).
struct Leave<'a, R: Reactor, B: IoBuf + 'static>(&'a Arc<Inner<R, B>>, &'a Cell<bool>);

impl<R: Reactor, B: IoBuf + 'static> Drop for Leave<'_, R, B> {
    fn drop(&mut self) {
        if self.1.get() {
            self.0.leave_watch();
        }
    }
}
