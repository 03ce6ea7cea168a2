//! [`Context`]: an AIO context that owns what its requests use.
//!
//! # Safety
//!
//! This module makes the system calls of the safe API. Its invariants:
//! - every request it submits was prepared in the in-flight table, which owns the
//!   request's buffers until its completion is reaped;
//! - the kernel context is destroyed (which waits for every request in flight) before the
//!   table, and so any buffer, is dropped; if destruction fails, the buffers in flight
//!   are leaked rather than freed;
//! - the completion ring is read only while the reaper lock is held (so by one consumer
//!   at a time, never alongside `io_getevents`), only in the process that created the
//!   context, and never after the context is destroyed.

#![allow(unsafe_code)]

use crate::IoBuf;
use crate::completion::{Completion, Token};
use crate::error::Error;
use crate::eventfd::EventFd;
use crate::fork::ForkGuard;
use crate::inflight::Table;
use crate::op::Op;
use crate::ring::{Peek, Ring};
use crate::sys;
use rawaio_abi::{
    __aio_sigset, __kernel_old_timespec, __kernel_timespec, KERNEL_SIGSET_SIZE, aio_context_t,
    aio_ring, io_event, iocb, kernel_sigset_t,
};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::fmt;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How many requests one `io_submit` call carries at most.
const CHUNK: usize = 64;

/// An AIO context: a kernel completion queue plus the requests in flight on it and the
/// buffers they own.
///
/// `B` is the buffer type its requests own ([`Vec<u8>`], [`AlignedBuf`](crate::AlignedBuf),
/// `Box<[u8]>`, or any [`IoBuf`]). A context is `Send` and `Sync`: threads may submit,
/// reap and cancel concurrently, and every completion is delivered exactly once.
///
/// Dropping the context destroys it, which **waits for every request in flight**; then
/// their buffers are freed. Leaking it (`mem::forget`) leaks the buffers too, so the
/// kernel can never write into freed memory.
///
/// # Examples
/// ```
/// use rawaio::{Context, Op};
/// use std::time::Duration;
///
/// let file = std::fs::File::open("Cargo.toml")?;
/// let ctx = Context::new(8)?;
/// let token = ctx.submit(Op::read(&file, vec![0u8; 11], 0)).map_err(|r| r.error)?;
/// let mut done = Vec::new();
/// ctx.reap(1, 8, Some(Duration::from_secs(5)), &mut done)?;
/// assert_eq!(done[0].token(), token);
/// assert_eq!(done[0].result()?, 11);
/// assert_eq!(done.pop().unwrap().into_buf().unwrap(), b"[workspace]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Context<B: IoBuf = Vec<u8>> {
    id: aio_context_t,
    requested: u32,
    ring_nr: u32,
    table: Table<B>,
    reaper: Mutex<Reaper>,
    fork: Option<ForkGuard>,
    eventfd: Option<EventFd>,
    /// Whether `reaper.ring` is set, readable without the reaper lock.
    ring_in_use: AtomicBool,
    /// The ring's indices, for telling "nothing ready" without the reaper lock; used only
    /// while `ring_in_use` is set and the process is not a fork child.
    peek: Option<Peek>,
}

/// The consumer side: the ring (when user-space reaping is possible) and room for the
/// events `io_getevents` returns.
struct Reaper {
    ring: Option<Ring>,
    events: Box<[io_event]>,
}

/// A request the context did not submit, handed back with the reason.
pub struct Rejected<B> {
    /// Why it was not submitted.
    pub error: Error,
    /// The request, with its buffers.
    pub op: Op<B>,
}

impl<B> fmt::Debug for Rejected<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("error", &self.error)
            .field("op", &self.op)
            .finish()
    }
}

impl<B> fmt::Display for Rejected<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request not submitted: {}", self.error)
    }
}

impl<B> std::error::Error for Rejected<B> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The outcome of a batch submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Submitted {
    /// How many requests were accepted (taken from the front of the queue).
    pub accepted: usize,
    /// Why the rest were not: the error of the first request left in the queue. `None`
    /// when the queue was emptied.
    pub error: Option<Error>,
}

/// Options for [`Context::with_options`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Reap from the ring in user space when events are ready (the default). When
    /// `false`, every reap is an `io_getevents` call.
    pub user_space_reaping: bool,
    /// Create an eventfd that every request on this context signals on completion
    /// (`IOCB_FLAG_RESFD`), for epoll or another reactor: see [`Context::eventfd`].
    pub eventfd: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            user_space_reaping: true,
            eventfd: false,
        }
    }
}

impl<B: IoBuf> Context<B> {
    /// Creates a context for at least `nr_events` requests in flight.
    ///
    /// The kernel rounds the ring up (see [`ring_size`](Self::ring_size)); each context
    /// takes its share of the system-wide `/proc/sys/fs/aio-max-nr` until dropped.
    ///
    /// # Errors
    /// - `EINVAL`: `nr_events` is 0 or too large.
    /// - `EAGAIN`: the system-wide budget `/proc/sys/fs/aio-max-nr` is used up.
    /// - `ENOMEM`, `ENOSYS`.
    ///
    /// # References
    /// - [io_setup(2)](https://man7.org/linux/man-pages/man2/io_setup.2.html)
    #[doc(alias = "io_setup")]
    #[doc(alias = "io_queue_init")]
    pub fn new(nr_events: u32) -> Result<Self, Errno> {
        Self::with_options(nr_events, Options::default())
    }

    /// Creates a context with [`Options`].
    ///
    /// # Errors
    /// As [`new`](Self::new), plus those of `eventfd(2)`.
    pub fn with_options(nr_events: u32, options: Options) -> Result<Self, Errno> {
        let eventfd = if options.eventfd {
            Some(EventFd::new().map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?)
        } else {
            None
        };
        let mut id: aio_context_t = 0;
        // SAFETY: `id` is a zeroed handle for the kernel to fill.
        unsafe { sys::io_setup(nr_events, &mut id) }?;
        let header = NonNull::new(id as *mut aio_ring).expect("io_setup returned a context");
        // SAFETY: the ring stays mapped until `io_destroy` in `drop`, which happens after
        // the reaper (and so the `Ring`) is last used; only the reaper lock's holder reads it.
        let ring = unsafe { Ring::new(header) };
        // The ring's own size bounds what can be in flight; without a readable ring,
        // the kernel's doubling of the request is the bound (see io_setup in fs/aio.c).
        let ring_nr = ring.as_ref().map_or(nr_events.saturating_mul(2), Ring::nr);
        let fork = ForkGuard::new();
        let ring = if options.user_space_reaping && fork.is_some() {
            ring
        } else {
            None
        };
        let ring_in_use = AtomicBool::new(ring.is_some());
        let peek = ring.as_ref().map(Ring::peek);
        Ok(Self {
            id,
            requested: nr_events,
            ring_nr,
            table: Table::new(ring_nr),
            reaper: Mutex::new(Reaper {
                ring,
                events: vec![io_event::default(); ring_nr as usize].into_boxed_slice(),
            }),
            ring_in_use,
            peek,
            fork,
            eventfd,
        })
    }

    /// The `nr_events` this context was created with.
    pub fn requested_size(&self) -> u32 {
        self.requested
    }

    /// The number of event slots in the kernel's ring (larger than requested: the kernel
    /// rounds up to whole pages and leaves room for per-CPU batching).
    pub fn ring_size(&self) -> u32 {
        self.ring_nr
    }

    /// The kernel handle (`aio_context_t`), for use with [`sys`](crate::sys).
    pub fn raw(&self) -> aio_context_t {
        self.id
    }

    /// Whether completions are reaped from the ring in user space (never in a `fork`
    /// child). Does not wait for a thread that is reaping.
    pub fn reaps_in_user_space(&self) -> bool {
        self.ring_in_use.load(Ordering::Relaxed) && !self.forked()
    }

    fn forked(&self) -> bool {
        self.fork.as_ref().is_some_and(ForkGuard::forked)
    }

    /// Stops user-space reaping for good (a fork child, a corrupt ring, destruction).
    fn drop_ring(&self, reaper: &mut Reaper) {
        reaper.ring = None;
        self.ring_in_use.store(false, Ordering::Relaxed);
    }

    /// The eventfd every request signals, when created with [`Options::eventfd`]: its
    /// counter is the number of completions since it was last read.
    pub fn eventfd(&self) -> Option<&EventFd> {
        self.eventfd.as_ref()
    }

    /// Completions waiting in the ring, found without a system call nor a lock (two
    /// atomic loads). Reads 0 when completions are not reaped in user space. Another
    /// thread may reap them at any moment: a hint, not a promise.
    pub fn ready(&self) -> usize {
        self.user_space_peek()
            .and_then(|p| p.ready().ok())
            .unwrap_or(0) as usize
    }

    /// The ring's indices, while user-space reaping is on.
    fn user_space_peek(&self) -> Option<&Peek> {
        if !self.ring_in_use.load(Ordering::Relaxed) || self.forked() {
            return None;
        }
        self.peek.as_ref()
    }

    /// Requests submitted (or being submitted) and not yet reaped.
    pub fn in_flight(&self) -> usize {
        self.table.lock().in_flight()
    }

    fn resfd(&self) -> Option<u32> {
        self.eventfd.as_ref().map(|fd| fd.as_raw_fd() as u32)
    }

    fn lock_reaper(&self) -> std::sync::MutexGuard<'_, Reaper> {
        self.reaper.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Submits one request; the context owns its buffers until its completion is reaped.
    ///
    /// # Errors
    /// The request comes back in [`Rejected`], with:
    /// - [`Error::Invalid`] when rawaio's own checks refuse it;
    /// - `EAGAIN` when the context is full (reap, then retry);
    /// - the kernel's error otherwise (`EBADF`, `EINVAL`, `EOPNOTSUPP`, ...).
    ///
    /// # References
    /// - [io_submit(2)](https://man7.org/linux/man-pages/man2/io_submit.2.html)
    #[doc(alias = "io_submit")]
    // The op is handed back by value: boxing it would allocate on every EAGAIN.
    #[allow(clippy::result_large_err)]
    pub fn submit(&self, op: Op<B>) -> Result<Token, Rejected<B>> {
        let (token, cb) = self
            .table
            .lock()
            .prepare(op, self.resfd())
            .map_err(|(op, error)| Rejected { error, op })?;
        let mut list = [cb];
        // SAFETY: `cb` is a prepared slot whose op (and buffers) the table owns until the
        // completion is reaped or the context destroyed.
        match unsafe { sys::io_submit(self.id, 1, list.as_mut_ptr()) } {
            Ok(1) => Ok(token),
            other => {
                let error = other.err().unwrap_or(Errno::AGAIN);
                let op = self.table.lock().unprepare(token);
                Err(Rejected {
                    error: error.into(),
                    op,
                })
            }
        }
    }

    /// Submits requests from the front of `ops`, as many as the kernel accepts, pushing
    /// each accepted request's token onto `tokens`. Requests not accepted stay in `ops`,
    /// in order, with their buffers.
    ///
    /// The kernel reports only the first refused request's error, and only when it is the
    /// first of a call: after a partial submission this resubmits the rest, so
    /// [`Submitted::error`] is always the error of `ops`'s new front. `EAGAIN` (the
    /// context is full) is returned, not waited out: see
    /// [`submit_all`](Self::submit_all).
    pub fn submit_batch(&self, ops: &mut VecDeque<Op<B>>, tokens: &mut Vec<Token>) -> Submitted {
        let mut accepted = 0;
        let resfd = self.resfd();
        while !ops.is_empty() {
            let mut list = [std::ptr::null_mut::<iocb>(); CHUNK];
            let mut n = 0;
            let mut refused = None;
            {
                let mut table = self.table.lock();
                while n < CHUNK {
                    match table.prepare_front(ops, resfd) {
                        Ok(Some((token, cb))) => {
                            list[n] = cb;
                            tokens.push(token);
                            n += 1;
                        }
                        Ok(None) => break,
                        Err(error) => {
                            refused = Some(error);
                            break;
                        }
                    }
                }
            }
            if n == 0 {
                return Submitted {
                    accepted,
                    error: refused,
                };
            }
            // SAFETY: every pointer is a prepared slot whose op the table owns until its
            // completion is reaped or the context destroyed.
            let result = unsafe { sys::io_submit(self.id, n as isize, list.as_mut_ptr()) };
            let taken = *result.as_ref().unwrap_or(&0);
            accepted += taken;
            if taken < n {
                // The tokens of the requests the kernel did not take are the last ones
                // pushed: take them back off, handing their requests back in order.
                let mut table = self.table.lock();
                for _ in taken..n {
                    let token = tokens.pop().expect("pushed above");
                    ops.push_front(table.unprepare(token));
                }
            }
            match result {
                Err(e) => {
                    return Submitted {
                        accepted,
                        error: Some(e.into()),
                    };
                }
                // Partial: go round again, so the first refused request is resubmitted
                // first and its own error (if it persists) is the one reported.
                Ok(_) if taken < n => {}
                Ok(_) if refused.is_some() => {
                    return Submitted {
                        accepted,
                        error: refused,
                    };
                }
                Ok(_) => {}
            }
        }
        Submitted {
            accepted,
            error: None,
        }
    }

    /// Like [`submit_batch`](Self::submit_batch), but waits out backpressure: while the
    /// context is full (`EAGAIN`) and requests are in flight, it reaps completions into
    /// `done` and submits again. Stops at any other error.
    pub fn submit_all(
        &self,
        ops: &mut VecDeque<Op<B>>,
        tokens: &mut Vec<Token>,
        done: &mut Vec<Completion<B>>,
    ) -> Submitted {
        let mut accepted = 0;
        loop {
            let s = self.submit_batch(ops, tokens);
            accepted += s.accepted;
            match s.error {
                Some(Error::Os(Errno::AGAIN)) if self.in_flight() > 0 => {
                    if let Err(e) = self.reap(1, self.ring_nr as usize, None, done) {
                        return Submitted {
                            accepted,
                            error: Some(e.into()),
                        };
                    }
                }
                error => return Submitted { accepted, error },
            }
        }
    }

    /// Submits a request whose memory the caller manages, through the same token
    /// bookkeeping as the safe path (so its completion arrives through [`reap`](Self::reap)
    /// with no buffer).
    ///
    /// `cb`'s `aio_data` is replaced by the token; every other field is submitted as is.
    /// The completion carries no buffer and reports a `requested_len` of 0.
    ///
    /// # Errors
    /// As for [`submit`](Self::submit), as an [`Error`].
    ///
    /// # Safety
    /// - Every buffer `cb` names (and, for vectored opcodes, the `iovec` array and the
    ///   buffers it names) must stay valid, and not be accessed in conflict with the
    ///   kernel, until this request's completion is reaped or the context is dropped.
    pub unsafe fn submit_raw(&self, cb: &iocb) -> Result<Token, Error> {
        let op = Op::<B>::raw(cb);
        let (token, slot) = self.table.lock().prepare(op, None).map_err(|(_, e)| e)?;
        // SAFETY: the slot is ours until submitted; copy the caller's request into it,
        // keeping the token.
        unsafe {
            let data = (*slot).aio_data;
            *slot = *cb;
            (*slot).aio_data = data;
        }
        let mut list = [slot];
        // SAFETY: the caller keeps the memory the request names valid (contract above).
        match unsafe { sys::io_submit(self.id, 1, list.as_mut_ptr()) } {
            Ok(1) => Ok(token),
            other => {
                self.table.lock().unprepare(token);
                Err(other.err().unwrap_or(Errno::AGAIN).into())
            }
        }
    }

    /// Reaps at least `min` and at most `max` completions into `done`, waiting up to
    /// `timeout` (for ever when `None`) for the first `min`; returns how many it reaped.
    ///
    /// Ready completions are taken from the ring in user space without a system call;
    /// only waiting uses `io_getevents`. With `min == 0` it never waits nor makes a
    /// system call. A signal during the wait does not end it early: the wait resumes with
    /// the time left. Fewer than `min` come back only when the timeout expires.
    ///
    /// # Errors
    /// - `EINVAL`: `min > max`, or `min` larger than the ring.
    /// - The kernel's errors from `io_getevents` (`EINVAL` in a `fork` child), reported
    ///   only if nothing was reaped.
    ///
    /// # References
    /// - [io_getevents(2)](https://man7.org/linux/man-pages/man2/io_getevents.2.html)
    #[doc(alias = "io_getevents")]
    pub fn reap(
        &self,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Errno> {
        self.reap_inner(min, max, timeout, None, done)
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

    fn reap_inner(
        &self,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        mask: Option<&kernel_sigset_t>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Errno> {
        let max = max.min(self.ring_nr as usize);
        if min > max {
            return Err(Errno::INVAL);
        }
        if min == 0 && self.user_space_peek().is_some_and(|p| p.ready() == Ok(0)) {
            // Nothing ready: no lock, no system call. (What a concurrent reaper holds
            // back is not ready for us either.)
            return Ok(0);
        }
        let mut reaper = if min == 0 {
            // Never wait, not even for the lock: a thread holding it will deliver what is
            // ready.
            match self.reaper.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return Ok(0),
            }
        } else {
            self.lock_reaper()
        };
        let reaper = &mut *reaper;
        if self.forked() {
            // A fork child: leave the parent's ring alone; the kernel refuses the context.
            self.drop_ring(reaper);
        }
        let mut got = 0;
        if let Some(ring) = &mut reaper.ring {
            match ring.reap(&mut reaper.events[..max]) {
                Ok(n) => {
                    got += self.deliver(&reaper.events[..n], done);
                    if got >= min {
                        return Ok(got);
                    }
                }
                Err(_) => self.drop_ring(reaper),
            }
        }
        // `None` inside: too far in the future to represent, so wait for ever.
        let deadline = timeout.map(|t| Instant::now().checked_add(t));
        loop {
            let remaining = match deadline {
                None | Some(None) => None,
                Some(Some(deadline)) => Some(deadline.saturating_duration_since(Instant::now())),
            };
            let want_min = min - got.min(min);
            let want_max = max - got;
            let events = reaper.events[..want_max].as_mut_ptr();
            let result = match mask {
                None => {
                    let ts = remaining.map(old_timespec);
                    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
                    // SAFETY: `events` has room for `want_max` events; `ts_ptr` is null or
                    // points to a live timespec; the reaper lock excludes user-space reaping.
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
                    got += self.deliver(&reaper.events[..n], done);
                    // Fewer than asked: the timeout expired, or (only) with a mask a signal
                    // ended the wait. Without a mask, a signal just resumes the wait.
                    if got >= min || expired || mask.is_some() || deadline_passed(deadline) {
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

    /// Whether the request with `token` is still in flight (submitted and not yet
    /// reaped): POSIX's `aio_error` returning `EINPROGRESS`.
    #[doc(alias = "aio_error")]
    pub fn is_in_flight(&self, token: Token) -> bool {
        self.table.lock().live_iocb(token).is_some()
    }

    fn count_in_flight(&self, tokens: &[Token]) -> usize {
        let table = self.table.lock();
        tokens
            .iter()
            .filter(|t| table.live_iocb(**t).is_some())
            .count()
    }

    /// Waits until at least one of the requests in `tokens` has completed, or `timeout`
    /// passes, reaping into `done` (completions of other requests reaped meanwhile go
    /// there too: none is lost). Returns how many of `tokens` are no longer in flight.
    /// POSIX's `aio_suspend`.
    ///
    /// # Errors
    /// As [`reap`](Self::reap).
    #[doc(alias = "aio_suspend")]
    pub fn wait_any(
        &self,
        tokens: &[Token],
        timeout: Option<Duration>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Errno> {
        self.wait_until(tokens, timeout, done, |finished, total| {
            finished > 0 || total == 0
        })
    }

    /// Waits until every request in `tokens` has completed, or `timeout` passes, reaping
    /// into `done` as [`wait_any`](Self::wait_any) does. Returns how many of `tokens` are
    /// no longer in flight (`tokens.len()` when all are done).
    ///
    /// # Errors
    /// As [`reap`](Self::reap).
    pub fn wait_all(
        &self,
        tokens: &[Token],
        timeout: Option<Duration>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Errno> {
        self.wait_until(tokens, timeout, done, |finished, total| finished == total)
    }

    fn wait_until(
        &self,
        tokens: &[Token],
        timeout: Option<Duration>,
        done: &mut Vec<Completion<B>>,
        enough: impl Fn(usize, usize) -> bool,
    ) -> Result<usize, Errno> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let finished = tokens.len() - self.count_in_flight(tokens);
            if enough(finished, tokens.len()) {
                return Ok(finished);
            }
            let remaining = match (timeout, deadline) {
                (None, _) | (Some(_), None) => None,
                (Some(_), Some(d)) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(finished);
                    }
                    Some(left)
                }
            };
            self.reap(1, self.ring_nr as usize, remaining, done)?;
        }
    }

    /// Submits `ops` as [`submit_all`](Self::submit_all) does, then waits until every
    /// accepted request has completed, reaping into `done`: POSIX's
    /// `lio_listio(LIO_WAIT, ...)`. ([`submit_batch`](Self::submit_batch) is
    /// `LIO_NOWAIT`.)
    pub fn submit_and_wait(
        &self,
        ops: &mut VecDeque<Op<B>>,
        done: &mut Vec<Completion<B>>,
    ) -> Submitted {
        let mut tokens = Vec::with_capacity(ops.len());
        let mut submitted = self.submit_all(ops, &mut tokens, done);
        if let Err(e) = self.wait_all(&tokens, None, done) {
            submitted.error = submitted.error.or(Some(e.into()));
        }
        submitted
    }

    /// Turns events into completions; returns how many it delivered.
    fn deliver(&self, events: &[io_event], done: &mut Vec<Completion<B>>) -> usize {
        if events.is_empty() {
            return 0;
        }
        let mut table = self.table.lock();
        let before = done.len();
        done.extend(events.iter().filter_map(|ev| table.complete(ev)));
        done.len() - before
    }

    /// Cancels a request in flight. Only `POLL` requests (and a few drivers' requests) can
    /// be cancelled; the cancelled request's completion (result 0 for a poll) still
    /// arrives through [`reap`](Self::reap).
    ///
    /// # Errors
    /// - `EINVAL`: the request cannot be cancelled, has completed, or the token is not
    ///   (or no longer) in flight.
    ///
    /// # References
    /// - [io_cancel(2)](https://man7.org/linux/man-pages/man2/io_cancel.2.html)
    #[doc(alias = "io_cancel")]
    pub fn cancel(&self, token: Token) -> Result<(), Errno> {
        let table = self.table.lock();
        let cb = table.live_iocb(token).ok_or(Errno::INVAL)?;
        let mut result = io_event::default();
        // SAFETY: `cb` is the address the live request was submitted with; holding the
        // table lock keeps its slot from being freed or reused during the call.
        match unsafe { sys::io_cancel(self.id, cb, &mut result) } {
            Ok(()) | Err(Errno::INPROGRESS) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Destroys the context now, waiting for every request in flight, and drops their
    /// buffers; what `drop` does, with the error reported.
    ///
    /// # Errors
    /// `EINVAL` if the kernel no longer knows the context (in a `fork` child, say); the
    /// buffers in flight are then leaked, never freed.
    ///
    /// # References
    /// - [io_destroy(2)](https://man7.org/linux/man-pages/man2/io_destroy.2.html)
    #[doc(alias = "io_destroy")]
    #[doc(alias = "io_queue_release")]
    pub fn destroy(mut self) -> Result<(), Errno> {
        self.destroy_in_place()
        // `drop` sees the handle cleared and only frees the memory.
    }

    fn destroy_in_place(&mut self) -> Result<(), Errno> {
        if self.id == 0 {
            return Ok(());
        }
        // The ring is unmapped by io_destroy: forget it first.
        self.reaper
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .ring = None;
        *self.ring_in_use.get_mut() = false;
        // SAFETY: the table still owns every buffer in flight; it is dropped only after
        // this returns, and leaked if it fails.
        let result = unsafe { sys::io_destroy(self.id) };
        self.id = 0;
        if result.is_err() {
            self.table.leak_in_flight();
        }
        result
    }
}

impl<B: IoBuf> Drop for Context<B> {
    fn drop(&mut self) {
        let _ = self.destroy_in_place();
    }
}

impl<B: IoBuf> fmt::Debug for Context<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("id", &format_args!("{:#x}", self.id))
            .field("requested", &self.requested)
            .field("ring_size", &self.ring_nr)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

fn deadline_passed(deadline: Option<Option<Instant>>) -> bool {
    matches!(deadline, Some(Some(d)) if Instant::now() >= d)
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
