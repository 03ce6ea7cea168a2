//! [`Context`]: an AIO context that owns what its requests use.
//!
//! The module is split by job: making and destroying the context (here), submitting
//! ([`submit`]), reaping ([`reap`]), waiting for particular requests ([`wait`]), whole
//! transfers and flushes built on those ([`transfer`]), and scopes whose requests borrow
//! ([`scope`]).
//!
//! # Safety
//!
//! This module and its children make the system calls of the safe API. Their invariants:
//! - every request submitted was prepared in the slot table, which owns the request's
//!   buffers until its completion is reaped;
//! - the kernel context is destroyed (which waits for every request in flight) before the
//!   table, and so any buffer, is dropped; if destruction fails, the buffers in flight
//!   are leaked rather than freed;
//! - a context whose buffers are borrowed exists only inside [`Context::scope`], which
//!   does not return before every request made in it has completed (or the kernel
//!   context is destroyed);
//! - the completion ring is read only while the reaper lock is held (so by one consumer
//!   at a time, never alongside `io_getevents`), only in the process that created the
//!   context, and never after the context is destroyed.

#![allow(unsafe_code)]

mod exclusive;
mod fixed;
mod reap;
mod scope;
mod submit;
mod transfer;
mod wait;

pub use exclusive::Exclusive;
pub use fixed::FixedContext;
pub use submit::{Rejected, Submitted};
pub use transfer::{Flush, Incomplete};

use crate::error::{Budget, Error};
use crate::eventfd::EventFd;
use crate::fork::ForkGuard;
use crate::request::buf::IoBuf;
use crate::ring::{Peek, Ring};
use crate::slots::Table;
use crate::slots::lock::{Lock, LockGuard};
use crate::sys;
use rawaio_abi::{aio_context_t, aio_ring, io_event};
use rustix::io::Errno;
use std::fmt;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// An AIO context: a kernel completion queue plus the requests in flight on it and the
/// buffers they own.
///
/// `B` is the buffer type its requests own ([`Vec<u8>`], [`AlignedBuf`](crate::AlignedBuf),
/// `Box<[u8]>`, `Arc<[u8]>`, or any [`IoBuf`]). A context is `Send` and `Sync`: threads
/// may submit, reap and cancel concurrently, and every completion is delivered exactly
/// once.
///
/// Dropping the context destroys it, which **waits for every request in flight**; then
/// their buffers are freed. Leaking it (`mem::forget`) leaks the buffers too, so the
/// kernel can never write into freed memory. Memory the program does not own as a
/// `'static` value (a `&mut [u8]` on the stack, part of a mapping) is used through
/// [`scope`](Self::scope).
///
/// # Examples
/// ```
/// use rawaio::{Context, Op};
/// use std::time::Duration;
///
/// let file = std::fs::File::open("README.md")?;
/// let ctx = Context::new(8)?;
/// let token = ctx.submit(Op::read(&file, vec![0u8; 8], 0))?;
/// let mut done = Vec::new();
/// ctx.reap(1, 8, Some(Duration::from_secs(5)), &mut done)?;
/// assert_eq!(done[0].token(), token);
/// assert_eq!(done[0].result()?, 8);
/// assert_eq!(done.pop().unwrap().into_buf().unwrap(), b"# rawaio");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Context<B: IoBuf = Vec<u8>> {
    kernel: Kernel,
    table: Table<B>,
}

/// The kernel side of a context, whatever its buffers: the handle, the ring and how it is
/// reaped. A scope lends it to a context of borrowed buffers and takes it back.
struct Kernel {
    /// 0 once destroyed (or while lent to a scope).
    id: aio_context_t,
    requested: u32,
    ring_nr: u32,
    reaper: Lock<Reaper>,
    fork: Option<ForkGuard>,
    eventfd: Option<EventFd>,
    /// Whether `reaper.ring` is set, readable without the reaper lock.
    ring_in_use: AtomicBool,
    /// The ring's indices, for telling "nothing ready" without the reaper lock; used only
    /// while `ring_in_use` is set and the process is not a fork child.
    peek: Option<Peek>,
    /// Requests the kernel accepted, ever (wrapping), counted by their submitters once
    /// `io_submit` returns.
    accepted: AtomicUsize,
    /// Completions delivered, ever (wrapping). Every delivery is made by the reaper
    /// lock's holder, so this changes only under that lock: a plain load and store, no
    /// locked instruction, and stable for the holder. A completion may be delivered
    /// before its submitter counts it: `accepted - delivered` may be briefly negative.
    delivered: AtomicUsize,
}

/// The consumer side: the ring (when user-space reaping is possible) and room for the
/// events `io_getevents` returns.
struct Reaper {
    ring: Option<Ring>,
    events: Box<[io_event]>,
}

/// Options for [`Context::with_options`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Reap from the ring in user space when events are ready (the default). When
    /// `false`, every reap is an `io_getevents` call.
    pub user_space_reaping: bool,
    /// Create an eventfd that every request on this context signals on completion
    /// (`IOCB_FLAG_RESFD`), for epoll or another reactor: see [`Context::eventfd`]. A
    /// request can signal only one eventfd, so on such a context
    /// [`Op::notify`](crate::Op::notify) is refused
    /// ([`InvalidOp::NotifyConflict`](crate::InvalidOp::NotifyConflict)).
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

impl Kernel {
    /// A kernel side that is not there: every call on it fails with `EINVAL`.
    fn detached() -> Self {
        Self {
            id: 0,
            requested: 0,
            ring_nr: 0,
            reaper: Lock::new(Reaper {
                ring: None,
                events: Box::new([]),
            }),
            fork: None,
            eventfd: None,
            ring_in_use: AtomicBool::new(false),
            peek: None,
            accepted: AtomicUsize::new(0),
            delivered: AtomicUsize::new(0),
        }
    }

    fn setup(nr_events: u32, options: Options) -> Result<Self, Error> {
        let eventfd = if options.eventfd {
            Some(EventFd::new().map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?)
        } else {
            None
        };
        let mut id: aio_context_t = 0;
        // SAFETY: `id` is a zeroed handle for the kernel to fill.
        match unsafe { sys::io_setup(nr_events, &mut id) } {
            Ok(()) => {}
            Err(Errno::AGAIN) if nr_events > 0 => return Err(Budget::read(nr_events).into()),
            Err(e) => return Err(e.into()),
        }
        let header = NonNull::new(id as *mut aio_ring).ok_or(Errno::INVAL)?;
        // SAFETY: the ring stays mapped until `io_destroy` in `Context::drop`, which
        // happens after the reaper (and so the `Ring`) is last used; only the reaper
        // lock's holder reads it.
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
            reaper: Lock::new(Reaper {
                ring,
                events: vec![io_event::default(); ring_nr as usize].into_boxed_slice(),
            }),
            ring_in_use,
            peek,
            fork,
            eventfd,
            accepted: AtomicUsize::new(0),
            delivered: AtomicUsize::new(0),
        })
    }

    #[inline]
    fn forked(&self) -> bool {
        self.fork.as_ref().is_some_and(ForkGuard::forked)
    }

    /// The ring's indices, while user-space reaping is on.
    #[inline]
    fn user_space_peek(&self) -> Option<&Peek> {
        if !self.ring_in_use.load(Ordering::Relaxed) || self.forked() {
            return None;
        }
        self.peek.as_ref()
    }

    /// Stops user-space reaping for good (a fork child, a corrupt ring, destruction).
    fn drop_ring(&self, reaper: &mut Reaper) {
        reaper.ring = None;
        self.ring_in_use.store(false, Ordering::Relaxed);
    }

    /// The context's own eventfd, for `aio_resfd`.
    fn resfd(&self) -> Option<u32> {
        self.eventfd.as_ref().map(|fd| fd.as_raw_fd() as u32)
    }

    /// Destroys the kernel context, waiting for every request in flight; afterwards its
    /// calls fail with `EINVAL`. Whoever owns the buffers frees them only if this
    /// succeeds. `reaper` is the ring's consumer, if held apart from `self.reaper`.
    fn destroy(&mut self, reaper: Option<&mut Reaper>) -> Result<(), Errno> {
        if self.id == 0 {
            return Ok(());
        }
        // The ring is unmapped by io_destroy: forget it first.
        self.reaper.get_mut().ring = None;
        if let Some(reaper) = reaper {
            reaper.ring = None;
        }
        *self.ring_in_use.get_mut() = false;
        // SAFETY: the caller keeps every buffer in flight until this returns, and leaks
        // them if it fails.
        let result = unsafe { sys::io_destroy(self.id) };
        self.id = 0;
        result
    }

    /// Requests accepted by the kernel and not yet delivered: exact for the reaper lock's
    /// holder (deliveries wait for it); otherwise at least what was outstanding when the
    /// call began (`delivered` is read first, and only grows).
    #[inline]
    fn outstanding(&self) -> usize {
        let delivered = self.delivered.load(Ordering::Acquire);
        let accepted = self.accepted.load(Ordering::Acquire);
        (accepted.wrapping_sub(delivered) as isize).max(0) as usize
    }

    /// Counts `n` requests the kernel accepted. With `X` (an [`Exclusive`] call: nothing
    /// else reads or writes the count meanwhile) a plain load and store, without the
    /// locked read-modify-write that concurrent submitters need.
    #[inline]
    fn count_accepted<const X: bool>(&self, n: usize) {
        if X {
            let now = self.accepted.load(Ordering::Relaxed);
            self.accepted.store(now.wrapping_add(n), Ordering::Relaxed);
        } else {
            self.accepted.fetch_add(n, Ordering::Release);
        }
    }

    /// Counts `n` completions delivered. The caller holds the reaper lock (or the context
    /// exclusively): the only writer, so a plain load and store.
    #[inline]
    fn count_delivered(&self, n: usize) {
        let now = self.delivered.load(Ordering::Relaxed);
        self.delivered.store(now.wrapping_add(n), Ordering::Release);
    }
}

impl<B: IoBuf + 'static> Context<B> {
    /// Creates a context for at least `nr_events` requests in flight.
    ///
    /// The kernel rounds the ring up (see [`ring_size`](Self::ring_size)); each context
    /// takes `nr_events` of the system-wide budget `/proc/sys/fs/aio-max-nr` until
    /// dropped.
    ///
    /// # Errors
    /// - [`Error::Budget`]: the system-wide budget has too little room (`EAGAIN` from
    ///   `io_setup`); the error says what was asked, what is free, and the `sysctl` that
    ///   makes room.
    /// - `EINVAL`: `nr_events` is 0 or too large.
    /// - `ENOMEM`, `ENOSYS`.
    ///
    /// # References
    /// - [io_setup(2)](https://man7.org/linux/man-pages/man2/io_setup.2.html)
    #[doc(alias = "io_setup")]
    #[doc(alias = "io_queue_init")]
    pub fn new(nr_events: u32) -> Result<Self, Error> {
        Self::with_options(nr_events, Options::default())
    }

    /// Creates a context with [`Options`].
    ///
    /// # Errors
    /// As [`new`](Self::new), plus those of `eventfd(2)`.
    pub fn with_options(nr_events: u32, options: Options) -> Result<Self, Error> {
        let kernel = Kernel::setup(nr_events, options)?;
        Ok(Self {
            table: Table::new(kernel.ring_nr),
            kernel,
        })
    }
}

impl<B: IoBuf> Context<B> {
    /// The `nr_events` this context was created with.
    pub fn requested_size(&self) -> u32 {
        self.kernel.requested
    }

    /// The number of event slots in the kernel's ring (larger than requested: the kernel
    /// rounds up to whole pages and leaves room for per-CPU batching).
    pub fn ring_size(&self) -> u32 {
        self.kernel.ring_nr
    }

    /// The kernel handle (`aio_context_t`), for use with [`sys`](crate::sys).
    pub fn raw(&self) -> aio_context_t {
        self.kernel.id
    }

    /// Whether completions are reaped from the ring in user space (never in a `fork`
    /// child). Does not wait for a thread that is reaping.
    pub fn reaps_in_user_space(&self) -> bool {
        self.kernel.ring_in_use.load(Ordering::Relaxed) && !self.kernel.forked()
    }

    /// The eventfd every request signals, when created with [`Options::eventfd`]: its
    /// counter is the number of completions since it was last read.
    ///
    /// The counter says that completions have arrived, not how many are left to reap:
    /// another reaper may have taken them. After readiness, drain the counter, then take
    /// what is ready without waiting ([`reap_ready`](Self::reap_ready)); never wait for
    /// the counter's number of completions.
    pub fn eventfd(&self) -> Option<&EventFd> {
        self.kernel.eventfd.as_ref()
    }

    /// Completions waiting in the ring, found without a system call nor a lock (two
    /// atomic loads). Reads 0 when completions are not reaped in user space. Another
    /// thread may reap them at any moment: a hint, not a promise.
    pub fn ready(&self) -> usize {
        self.kernel
            .user_space_peek()
            .and_then(|p| p.ready().ok())
            .unwrap_or(0) as usize
    }

    /// A copy of the ring's index view, for a flag checked without a lock nor a system
    /// call (the preemption flag); valid while the context lives, and only in the
    /// process that created it. `None` when completions are not reaped in user space.
    pub(crate) fn ring_peek(&self) -> Option<Peek> {
        self.kernel.user_space_peek().copied()
    }

    /// Requests submitted (or being submitted) and not yet reaped.
    pub fn in_flight(&self) -> usize {
        self.table.lock().in_flight()
    }

    #[inline]
    fn resfd(&self) -> Option<u32> {
        self.kernel.resfd()
    }

    /// The reaper, locked unless `X`.
    ///
    /// # Safety
    /// With `X` true, the caller holds the context exclusively (by `&mut`, through an
    /// [`Exclusive`]) while the guard lives.
    #[inline]
    unsafe fn lock_reaper<const X: bool>(&self) -> LockGuard<'_, Reaper, X> {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.kernel.reaper.lock_as::<X>() }
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
        // The table still owns every buffer in flight; it is dropped only after this
        // returns, and leaked if it fails.
        let result = self.kernel.destroy(None);
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
            .field("id", &format_args!("{:#x}", self.kernel.id))
            .field("requested", &self.kernel.requested)
            .field("ring_size", &self.kernel.ring_nr)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}
