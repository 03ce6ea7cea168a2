//! Reaping: completions from the ring in user space, waiting with `io_getevents` (or
//! `io_pgetevents`, with a signal mask) only when there is something to wait for.

use super::{Context, Kernel, Reaper};
use crate::deadline::Deadline;
use crate::request::buf::IoBuf;
use crate::request::completion::Completion;
use crate::ring::{Corrupt, Ring};
use crate::slots::Guard;
use crate::sys;
use rawaio_abi::{
    __aio_sigset, __kernel_old_timespec, __kernel_timespec, KERNEL_SIGSET_SIZE, io_event,
    kernel_sigset_t,
};
use rustix::io::Errno;
use std::time::Duration;

impl<B: IoBuf> Context<B> {
    /// Reaps at least `min` and at most `max` completions into `done`, waiting up to
    /// `timeout` (for ever when `None`) for the first `min`; returns how many it reaped.
    ///
    /// It never waits for a request that was not submitted: `min` is capped at the
    /// number of this context's requests in flight (so with nothing in flight it returns
    /// 0 at once, and two threads waiting for the same last request do not wait for ever:
    /// the one that does not get it returns with what it has). Fewer than `min` come
    /// back only then, or when the timeout expires.
    ///
    /// Ready completions are taken from the ring in user space without a system call;
    /// only waiting uses `io_getevents`. With `min == 0` it never waits nor makes a
    /// system call (see [`reap_ready`](Self::reap_ready)). A signal during the wait does
    /// not end it early: the wait resumes with the time left.
    ///
    /// # Errors
    /// - `EINVAL`: `min > max`, or `min` larger than the ring.
    /// - The kernel's errors from `io_getevents` (`EINVAL` in a `fork` child), reported
    ///   only if nothing was reaped.
    ///
    /// # References
    /// - [io_getevents(2)](https://man7.org/linux/man-pages/man2/io_getevents.2.html)
    #[doc(alias = "io_getevents")]
    #[inline]
    pub fn reap(
        &self,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Errno> {
        self.reap_inner(min, max, timeout, None, done)
    }

    /// Takes the completions that are ready now, never waiting: `reap(0, ring_size,
    /// None, done)`. What to call after an eventfd or reactor says completions arrived:
    /// it cannot hang whoever else reaped them first.
    ///
    /// # Errors
    /// As [`reap`](Self::reap).
    pub fn reap_ready(&self, done: &mut Vec<Completion<B>>) -> Result<usize, Errno> {
        self.reap_inner(0, self.kernel.ring_nr as usize, None, None, done)
    }

    /// [`reap`](Self::reap), with `mask` as the thread's signal mask while it waits
    /// (`io_pgetevents`, Linux 4.18): the way to wait for completions or a signal without
    /// a race.
    ///
    /// Unlike `reap`, a signal that arrives during the wait ends it: `EINTR` if nothing
    /// was reaped.
    ///
    /// # Errors
    /// As [`reap`](Self::reap), plus `EINTR` and `ENOSYS` (kernels before 4.18).
    ///
    /// # References
    /// - [io_pgetevents(2)](https://man7.org/linux/man-pages/man2/io_pgetevents.2.html)
    #[doc(alias = "io_pgetevents")]
    pub fn reap_with_sigmask(
        &self,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        mask: &kernel_sigset_t,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Errno> {
        self.reap_inner(min, max, timeout, Some(mask), done)
    }

    #[inline]
    fn reap_inner(
        &self,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        mask: Option<&kernel_sigset_t>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Errno> {
        // SAFETY: shared (`X` false): no precondition.
        unsafe { self.reap_as::<false>(min, max, timeout, mask, done) }
    }

    /// [`reap`](Self::reap) or [`reap_with_sigmask`](Self::reap_with_sigmask), its locks
    /// taken unless `X`.
    ///
    /// # Safety
    /// With `X` true, the caller holds the context exclusively (by `&mut`, through an
    /// [`Exclusive`](crate::Exclusive)) for the whole call.
    #[inline]
    pub(super) unsafe fn reap_as<const X: bool>(
        &self,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        mask: Option<&kernel_sigset_t>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Errno> {
        let max = max.min(self.kernel.ring_nr as usize);
        if min > max {
            return Err(Errno::INVAL);
        }
        if min == 0
            && self
                .kernel
                .user_space_peek()
                .is_some_and(|p| p.ready() == Ok(0))
        {
            // Nothing ready: no lock, no system call. (What a concurrent reaper holds
            // back is not ready for us either.)
            return Ok(0);
        }
        let mut reaper = if min == 0 {
            // Never wait, not even for the lock: a thread holding it will deliver what is
            // ready.
            // SAFETY: the caller's promise, passed on.
            match unsafe { self.kernel.reaper.try_lock_as::<X>() } {
                Some(guard) => guard,
                None => return Ok(0),
            }
        } else {
            // SAFETY: the caller's promise, passed on.
            unsafe { self.lock_reaper::<X>() }
        };
        // With `X`, made here only: the caller holds the context exclusively.
        let mut sink = TableSink::<B, X> { ctx: self, done };
        self.kernel
            .reap_held(&mut reaper, min, max, timeout, mask, &mut sink)
    }

    /// [`reap_ready`](Self::reap_ready), handing each completion to `f`, in ring order,
    /// instead of pushing it onto a vector: for the async layer, which stores each one
    /// where its future looks for it. `f` runs with the slot table locked: it must not
    /// call into the context. Returns how many completions `f` received.
    #[inline]
    pub(crate) fn reap_ready_each(&self, f: impl FnMut(Completion<B>)) -> Result<usize, Errno> {
        if self
            .kernel
            .user_space_peek()
            .is_some_and(|p| p.ready() == Ok(0))
        {
            // Nothing ready: no lock, no system call (as `reap_inner`).
            return Ok(0);
        }
        // Never wait, not even for the lock: a thread holding it will deliver what is
        // ready.
        let Some(mut reaper) = self.kernel.reaper.try_lock() else {
            return Ok(0);
        };
        let mut sink = EachSink { ctx: self, f };
        let max = self.kernel.ring_nr as usize;
        self.kernel
            .reap_held(&mut reaper, 0, max, None, None, &mut sink)
    }
}

impl<B: IoBuf> Context<B> {
    /// Waits, for up to `timeout` (for ever when `None`), until at least one completion
    /// is ready (at once if none is outstanding), then hands every ready one to `f`, in
    /// ring order, as [`reap_ready_each`](Self::reap_ready_each) does. `lock` runs once,
    /// at the first completion, before the slot table is locked, and what it returns is
    /// passed to `f` with each completion and returned at the end (the async layer takes
    /// its waiters' lock there: its order stays waiters, then slot table). The reaper is
    /// held throughout, so a concurrent `reap_ready_each` (which only tries for it)
    /// returns at once. Returns how many `f` received, and `lock`'s value if it ran.
    pub(crate) fn wait_each<G>(
        &self,
        timeout: Option<Duration>,
        lock: impl FnMut() -> G,
        f: impl FnMut(&mut G, Completion<B>),
    ) -> (Result<usize, Errno>, Option<G>) {
        let mut held = None;
        let mut reaper = self.kernel.reaper.lock();
        let mut sink = LockingSink {
            ctx: self,
            held: &mut held,
            lock,
            f,
        };
        let max = self.kernel.ring_nr as usize;
        let result = self
            .kernel
            .reap_held(&mut reaper, 1, max, timeout, None, &mut sink);
        drop(reaper);
        (result, held)
    }
}

/// Where reaped events go.
pub(super) trait Sink {
    /// Turns events (from `io_getevents`) into completions; returns how many it
    /// delivered.
    fn deliver(&mut self, events: &[io_event]) -> usize;
    /// Takes up to `max` events straight from the ring and turns them into completions;
    /// returns how many it delivered.
    fn deliver_ring(&mut self, ring: &mut Ring, max: usize) -> Result<usize, Corrupt>;
    /// Requests the kernel accepted whose completions have not been delivered (to
    /// anyone): what a wait may still expect.
    fn outstanding(&self) -> usize;
}

/// The owning context's sink: completions through the slot table, locked unless `X`.
/// One with `X` true is made only by [`Context::reap_as`], whose caller holds the
/// context exclusively for as long as the sink lives.
struct TableSink<'a, 'c, B: IoBuf, const X: bool> {
    ctx: &'c Context<B>,
    done: &'a mut Vec<Completion<B>>,
}

impl<'c, B: IoBuf, const X: bool> TableSink<'_, 'c, B, X> {
    /// `ctx`'s slot table, locked unless `X`.
    ///
    /// # Safety
    /// `ctx` is the sink's own context, reached from one of the sink's methods (a sink
    /// with `X` true lives only inside an exclusive call, see the type's docs).
    #[inline]
    unsafe fn table(ctx: &'c Context<B>) -> Guard<'c, B, X> {
        // SAFETY: the caller's promise, passed on.
        unsafe { ctx.table.lock_as::<X>() }
    }
}

impl<B: IoBuf, const X: bool> Sink for TableSink<'_, '_, B, X> {
    #[inline]
    fn deliver(&mut self, events: &[io_event]) -> usize {
        if events.is_empty() {
            return 0;
        }
        let before = self.done.len();
        // SAFETY: this sink's own context, from its method.
        let mut table = unsafe { Self::table(self.ctx) };
        for event in events {
            table.complete_into(event, self.done);
        }
        drop(table);
        let delivered = self.done.len() - before;
        self.ctx.kernel.count_delivered(delivered);
        delivered
    }

    #[inline]
    fn deliver_ring(&mut self, ring: &mut Ring, max: usize) -> Result<usize, Corrupt> {
        let ctx = self.ctx;
        let done = &mut *self.done;
        let before = done.len();
        // Locked at the first event: an empty ring costs no lock.
        let mut table = None;
        ring.reap_each(max, |event| {
            // SAFETY: this sink's own context, from its method.
            let table = table.get_or_insert_with(|| unsafe { Self::table(ctx) });
            table.complete_into(&event, done);
        })?;
        drop(table);
        let delivered = done.len() - before;
        if delivered > 0 {
            self.ctx.kernel.count_delivered(delivered);
        }
        Ok(delivered)
    }

    #[inline]
    fn outstanding(&self) -> usize {
        self.ctx.kernel.outstanding()
    }
}

/// The sink of [`Context::reap_ready_each`]: each completion to a closure.
struct EachSink<'c, B: IoBuf, F> {
    ctx: &'c Context<B>,
    f: F,
}

/// [`Context::wait_each`]'s sink: as [`EachSink`], with the caller's lock taken (by
/// `lock`, once) before the slot table at the first completion. (Not `EachSink` with a
/// lock of `()`: made generic that way, the async reap's hot path took 36 more
/// instructions per read.)
struct LockingSink<'c, 'h, B: IoBuf, G, L, F> {
    ctx: &'c Context<B>,
    held: &'h mut Option<G>,
    lock: L,
    f: F,
}

impl<B: IoBuf, G, L: FnMut() -> G, F: FnMut(&mut G, Completion<B>)> Sink
    for LockingSink<'_, '_, B, G, L, F>
{
    fn deliver(&mut self, events: &[io_event]) -> usize {
        if events.is_empty() {
            return 0;
        }
        // Before the table: dropped after it.
        let mut handed = Handed {
            kernel: &self.ctx.kernel,
            count: 0,
        };
        let held = self.held.get_or_insert_with(&mut self.lock);
        let mut table = self.ctx.table.lock();
        for event in events {
            if let Some(completion) = table.complete(event) {
                handed.count += 1;
                (self.f)(held, completion);
            }
        }
        drop(table);
        handed.count
    }

    fn deliver_ring(&mut self, ring: &mut Ring, max: usize) -> Result<usize, Corrupt> {
        let mut handed = Handed {
            kernel: &self.ctx.kernel,
            count: 0,
        };
        // Both locked at the first event, the caller's first: an empty ring costs none.
        let mut table = None;
        let (held, lock, f, ctx) = (&mut *self.held, &mut self.lock, &mut self.f, self.ctx);
        ring.reap_each(max, |event| {
            let held = held.get_or_insert_with(&mut *lock);
            let table = table.get_or_insert_with(|| ctx.table.lock());
            if let Some(completion) = table.complete(&event) {
                handed.count += 1;
                f(held, completion);
            }
        })?;
        drop(table);
        Ok(handed.count)
    }

    fn outstanding(&self) -> usize {
        self.ctx.kernel.outstanding()
    }
}

/// Counts the completions handed out, and takes them off the requests in flight when
/// dropped: at the end, or while unwinding from a closure that panicked (the ones it
/// received are delivered, and a wait must not expect them).
struct Handed<'k> {
    kernel: &'k Kernel,
    count: usize,
}

impl Drop for Handed<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.count > 0 {
            self.kernel.count_delivered(self.count);
        }
    }
}

impl<B: IoBuf, F: FnMut(Completion<B>)> Sink for EachSink<'_, B, F> {
    #[inline]
    fn deliver(&mut self, events: &[io_event]) -> usize {
        if events.is_empty() {
            return 0;
        }
        // Before the table: dropped after it.
        let mut handed = Handed {
            kernel: &self.ctx.kernel,
            count: 0,
        };
        let mut table = self.ctx.table.lock();
        for event in events {
            if let Some(completion) = table.complete(event) {
                handed.count += 1;
                (self.f)(completion);
            }
        }
        drop(table);
        handed.count
    }

    #[inline]
    fn deliver_ring(&mut self, ring: &mut Ring, max: usize) -> Result<usize, Corrupt> {
        let mut handed = Handed {
            kernel: &self.ctx.kernel,
            count: 0,
        };
        // Locked at the first event: an empty ring costs no lock.
        let mut table = None;
        let f = &mut self.f;
        ring.reap_each(max, |event| {
            let table = table.get_or_insert_with(|| self.ctx.table.lock());
            if let Some(completion) = table.complete(&event) {
                handed.count += 1;
                f(completion);
            }
        })?;
        drop(table);
        Ok(handed.count)
    }

    #[inline]
    fn outstanding(&self) -> usize {
        self.ctx.kernel.outstanding()
    }
}

impl Kernel {
    /// Reaps at least `min` (capped at what is outstanding) and at most `max` events
    /// (`min <= max <= ring_nr`) into `sink`, with the reaper held: what is ready in the
    /// ring first, then `io_getevents` (or `io_pgetevents` with `mask`) to wait, for up
    /// to `timeout`. The clock is read only when it has to wait.
    #[inline]
    pub(super) fn reap_held(
        &self,
        reaper: &mut Reaper,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        mask: Option<&kernel_sigset_t>,
        sink: &mut impl Sink,
    ) -> Result<usize, Errno> {
        let mut got = 0;
        if self.forked() {
            // A fork child: leave the parent's ring alone; the kernel refuses the context.
            self.drop_ring(reaper);
        } else if let Some(ring) = &mut reaper.ring {
            match sink.deliver_ring(ring, max) {
                Ok(n) => {
                    got = n;
                    if got >= min {
                        return Ok(got);
                    }
                }
                Err(Corrupt) => self.drop_ring(reaper),
            }
        }
        if timeout.is_none() && mask.is_none() {
            return self.wait_for_ever(reaper, min, max, got, sink);
        }
        self.wait_held(reaper, min, max, got, timeout, mask, sink)
    }

    /// [`wait_held`](Self::wait_held) without a timeout nor a mask, the common case:
    /// no clock, and a signal only resumes the wait.
    #[inline]
    fn wait_for_ever(
        &self,
        reaper: &mut Reaper,
        min: usize,
        max: usize,
        mut got: usize,
        sink: &mut impl Sink,
    ) -> Result<usize, Errno> {
        loop {
            let Some(want_min) = wait_min(min, got, sink, reaper) else {
                return Ok(got);
            };
            let want_max = max - got;
            let events = reaper.events[..want_max].as_mut_ptr();
            // SAFETY: `events` has room for `want_max` events; a null timeout waits for
            // ever; the reaper excludes user-space reaping.
            let result = unsafe {
                sys::io_getevents(
                    self.id,
                    want_min as isize,
                    want_max as isize,
                    events,
                    std::ptr::null(),
                )
            };
            match result {
                Ok(n) => {
                    got += sink.deliver(&reaper.events[..n]);
                    if got >= min {
                        return Ok(got);
                    }
                }
                Err(Errno::INTR) => {}
                Err(_) if got > 0 => return Ok(got),
                Err(e) => return Err(e),
            }
        }
    }

    /// The rest of [`reap_held`](Self::reap_held), once the ring had fewer than `min`:
    /// `got` have been delivered.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn wait_held(
        &self,
        reaper: &mut Reaper,
        min: usize,
        max: usize,
        mut got: usize,
        timeout: Option<Duration>,
        mask: Option<&kernel_sigset_t>,
        sink: &mut impl Sink,
    ) -> Result<usize, Errno> {
        let mut deadline = None;
        loop {
            let Some(want_min) = wait_min(min, got, sink, reaper) else {
                return Ok(got);
            };
            let deadline = *deadline.get_or_insert_with(|| Deadline::after(timeout));
            let remaining = deadline.remaining();
            let want_max = max - got;
            let events = reaper.events[..want_max].as_mut_ptr();
            let result = match mask {
                None => {
                    let ts = remaining.map(old_timespec);
                    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
                    // SAFETY: `events` has room for `want_max` events; `ts_ptr` is null or
                    // points to a live timespec; the reaper excludes user-space reaping.
                    unsafe {
                        sys::io_getevents(
                            self.id,
                            want_min as isize,
                            want_max as isize,
                            events,
                            ts_ptr,
                        )
                    }
                }
                Some(mask) => {
                    let ts = remaining.map(kernel_timespec);
                    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
                    let sig = __aio_sigset {
                        sigmask: mask,
                        sigsetsize: KERNEL_SIGSET_SIZE,
                    };
                    // SAFETY: as above, and `sig` and the mask it points to outlive the call.
                    unsafe {
                        sys::io_pgetevents(
                            self.id,
                            want_min as isize,
                            want_max as isize,
                            events,
                            ts_ptr,
                            &sig,
                        )
                    }
                }
            };
            let expired = remaining.is_some_and(|r| r.is_zero());
            match result {
                Ok(n) => {
                    got += sink.deliver(&reaper.events[..n]);
                    // Fewer than asked: the timeout expired, or (only) with a mask a signal
                    // ended the wait. Without a mask, a signal just resumes the wait.
                    if got >= min || expired || mask.is_some() || deadline.passed() {
                        return Ok(got);
                    }
                }
                Err(Errno::INTR) if mask.is_none() && !expired => {}
                Err(_) if got > 0 => return Ok(got),
                Err(Errno::INTR) if mask.is_none() => return Ok(got),
                Err(e) => return Err(e),
            }
        }
    }
}

/// The `min_nr` for a wait that wants `min` events and has `got`: only what is in flight
/// (requests delivered to another reaper, or never submitted, will not come). `None` when
/// there is nothing to wait for; with `min == 0` and no ring, `Some(0)`: the one
/// `io_getevents` call that takes what is ready.
#[inline]
fn wait_min(min: usize, got: usize, sink: &impl Sink, reaper: &Reaper) -> Option<usize> {
    let want_min = (min - got.min(min)).min(sink.outstanding());
    (want_min > 0 || (min == 0 && reaper.ring.is_none())).then_some(want_min)
}

fn old_timespec(d: Duration) -> __kernel_old_timespec {
    __kernel_old_timespec {
        tv_sec: isize::try_from(d.as_secs()).unwrap_or(isize::MAX),
        tv_nsec: d.subsec_nanos() as isize,
    }
}

fn kernel_timespec(d: Duration) -> __kernel_timespec {
    __kernel_timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Op;
    use std::collections::VecDeque;

    /// `reap_ready_each` hands out the completions in ring order; a closure that panics
    /// keeps the one it received, and the rest stay for the next reap, with the count of
    /// requests in flight right (a wait does not expect the one handed out).
    #[test]
    fn each_completion_once_even_through_a_panic() {
        let ctx = Context::<Vec<u8>>::new(4).unwrap();
        let zero = std::fs::File::open("/dev/zero").unwrap();
        let mut ops: VecDeque<_> = (0..3)
            .map(|i| Op::read(&zero, vec![1u8; 8], 0).user_data(i))
            .collect();
        let mut tokens = Vec::new();
        assert_eq!(ctx.submit_batch(&mut ops, &mut tokens).accepted, 3);
        // Buffered reads of /dev/zero complete inside io_submit.
        assert_eq!(ctx.ready(), 3);
        let mut seen = Vec::new();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ctx.reap_ready_each(|c| {
                seen.push(c.user_data());
                panic!("the receiver fails");
            })
        }));
        assert!(caught.is_err());
        assert_eq!((seen.as_slice(), ctx.kernel.outstanding()), (&[0][..], 2));
        assert_eq!(ctx.reap_ready_each(|c| seen.push(c.user_data())), Ok(2));
        assert_eq!(
            (seen.as_slice(), ctx.kernel.outstanding()),
            (&[0, 1, 2][..], 0)
        );
        let mut done = Vec::new();
        assert_eq!(
            ctx.reap(1, 4, None, &mut done),
            Ok(0),
            "nothing left to wait for"
        );
        assert_eq!(ctx.reap_ready_each(|_| unreachable!()), Ok(0));
    }
}
