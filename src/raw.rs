//! Raw building blocks for code that manages AIO contexts itself, such as the
//! libaio-compatible C library in `capi/`: a view of a context's completion ring, and a
//! marker that tells a `fork` child from the process that created it.
//!
//! The safe [`Context`](crate::Context) uses the same machinery internally; reach for
//! these only when the contexts are created and destroyed by someone else's code (a C
//! caller's `io_setup`), so that no Rust value can own them.
//!
//! # Safety
//!
//! [`RingView`] reads memory the kernel writes concurrently and stores the ring's `head`.
//! Its constructor is `unsafe`: the caller promises the ring stays mapped while the view
//! exists and that nothing else consumes from it meanwhile, in user space or through
//! `io_getevents`. Everything else here is safe.

#![allow(unsafe_code)]

use crate::fork::ForkGuard;
use crate::ring::Ring;
use rawaio_abi::{aio_context_t, aio_ring, io_event};
use std::ptr::NonNull;

/// The consumer side of one context's completion ring, read and advanced without a
/// system call.
///
/// The kernel's `io_getevents` advances the ring's `head` under a kernel lock that user
/// space cannot take. So a view must be the ring's *only* consumer for as long as it
/// exists: no other view reaps from it, and no thread of this process calls
/// `io_getevents`/`io_pgetevents` on the context. A view is cheap to make (a few loads
/// from the ring header), so callers that arbitrate between consumers typically make one
/// per reaping call while they hold their own exclusion.
///
/// # Examples
/// ```
/// use rawaio::abi::{aio_context_t, io_event};
/// use rawaio::raw::RingView;
///
/// let mut ctx: aio_context_t = 0;
/// // SAFETY: `ctx` is a zeroed handle io_setup may write.
/// unsafe { rawaio::sys::io_setup(4, &mut ctx) }?;
/// // SAFETY: the ring stays mapped until io_destroy below, after the view's last use,
/// // and this thread is its only consumer.
/// let mut view = unsafe { RingView::new(ctx) }.expect("a readable ring");
/// assert!(view.nr() >= 4);
/// assert_eq!(view.ready(), Some(0));
/// assert_eq!(view.reap(&mut [io_event::default(); 4]), Some(0));
/// drop(view);
/// // SAFETY: nothing is in flight, and the context is destroyed once.
/// unsafe { rawaio::sys::io_destroy(ctx) }?;
/// # Ok::<(), rawaio::Errno>(())
/// ```
pub struct RingView {
    ring: Ring,
}

impl RingView {
    /// A view of the ring of the context `ctx`, or `None` when user space may not read
    /// it (a null handle, a bad magic number, an incompatible feature bit, a header the
    /// kernel did not write).
    ///
    /// # Safety
    /// - `ctx` is 0 or the handle of a live context of this process (an address where
    ///   its ring is mapped), and stays so for as long as the view is used: the context
    ///   is not destroyed meanwhile;
    /// - while the view exists nothing else consumes from the ring: no other
    ///   `RingView`'s [`reap`](Self::reap), no `io_getevents` or `io_pgetevents` on
    ///   `ctx` from any thread of this process;
    /// - this process created the context (a `fork` child must not touch its parent's
    ///   rings: see [`ForkMarker`]).
    pub unsafe fn new(ctx: aio_context_t) -> Option<Self> {
        let header = NonNull::new(ctx as *mut aio_ring)?;
        // SAFETY: the caller vouches for the mapping and for being the only consumer,
        // which is `Ring::new`'s contract.
        let ring = unsafe { Ring::new(header) }?;
        Some(Self { ring })
    }

    /// Number of event slots in the ring (more than `io_setup` asked for: the kernel
    /// rounds up to whole pages and doubles for per-CPU batching).
    pub fn nr(&self) -> u32 {
        self.ring.nr()
    }

    /// How many completions are ready, without consuming any; `None` if the ring's
    /// indices are out of range (a header someone overwrote).
    pub fn ready(&self) -> Option<u32> {
        self.ring.peek().ready().ok()
    }

    /// Copies up to `out.len()` ready completions into `out`, oldest first, consumes
    /// them and returns how many it copied; `None` if the ring's indices are out of
    /// range. Makes no system call and never waits.
    pub fn reap(&mut self, out: &mut [io_event]) -> Option<usize> {
        self.ring.reap(out).ok()
    }
}

impl std::fmt::Debug for RingView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingView")
            .field("nr", &self.nr())
            .field("ready", &self.ready())
            .finish()
    }
}

/// A marker that tells, without a system call, whether this process is a `fork` child
/// of the one that made it.
///
/// A child inherits its parent's ring mappings, but every AIO call on an inherited
/// context fails with `EINVAL`, and reaping from the ring in user space would steal the
/// parent's completions. The marker is a private page marked `MADV_WIPEONFORK`
/// (Linux 4.14), one per process: the kernel hands a child that page zeroed.
///
/// # Examples
/// ```
/// let marker = rawaio::raw::ForkMarker::new().expect("Linux 4.14 or later");
/// assert!(!marker.forked());
/// ```
pub struct ForkMarker {
    guard: ForkGuard,
}

impl ForkMarker {
    /// A new marker, or `None` when the kernel lacks `MADV_WIPEONFORK` or the page
    /// cannot be mapped. The first marker (or context) of a process, and the first in
    /// each `fork` child, costs two system calls (`mmap`, `madvise`) for a page that
    /// every later one shares and that is never unmapped; later markers, and dropping
    /// any, cost none.
    pub fn new() -> Option<Self> {
        ForkGuard::new().map(|guard| Self { guard })
    }

    /// Whether this process is a `fork` child of (or otherwise not) the process that
    /// made the marker.
    #[inline]
    pub fn forked(&self) -> bool {
        self.guard.forked()
    }
}

impl std::fmt::Debug for ForkMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkMarker")
            .field("forked", &self.forked())
            .finish()
    }
}
