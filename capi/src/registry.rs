//! Which contexts this library may reap in user space, and who is reaping them now.
//!
//! The kernel's `io_getevents` advances a ring's `head` under a kernel lock that user
//! space cannot take, so a user-space reaper must never run while a system call reaps the
//! same context, nor while another user-space reaper does. Each context made by
//! [`io_setup`](crate::exports) gets a slot here holding a lock word:
//!
//! - a user-space reaper *tries* to take it exclusively ([`REAPING`]), and only when no
//!   system call is reaping: if it cannot, it makes the system call instead;
//! - a thread about to reap through the system call registers as one of any number of
//!   shared holders, waiting only while a user-space reaper copies events out (which
//!   takes nanoseconds: it never blocks inside).
//!
//! Contexts not made here (created by a direct system call, or whose slot was taken)
//! are simply never reaped in user space.
//!
//! # Finding a slot without touching the context
//!
//! A slot is found by hashing the context's value, never by reading its ring: an invalid
//! handle just misses and goes to the system call, which answers `EINVAL` (libaio reads
//! the ring header of whatever it is given, and crashes on a bad handle). The table is
//! direct-mapped: the lock word belongs to the address, so a context created later at
//! the address of a destroyed one shares the lock with any thread still using the old
//! handle. Two live contexts whose addresses hash alike cannot both be registered: the
//! second one always uses the system call.
//!
//! # Destruction
//!
//! [`unregister`] empties the slot first, then waits until no user-space reaper holds
//! it, and only then may the caller destroy the context (which unmaps the ring). A
//! reaper that took the lock re-checks the slot before reading the ring, so it either
//! finishes before the unmapping or never starts. System-call reapers do not hold up
//! destruction: the kernel wakes them itself.
//!
//! # Rings the program moves
//!
//! The kernel lets a program move a ring with `mremap` (it then knows the context by the
//! new address only) or unmap it. Nothing in this process's memory shows that without a
//! system call, so the slot keeps naming the old address, and a user-space reap on the
//! old handle reads memory that may be gone: the one case where a handle that is not a
//! live context is dereferenced (docs/libaio.md states it). [`forget_dead`], run when a
//! context this table does not name is destroyed, asks the kernel about every handle
//! here and forgets the dead ones, so the old handle of a moved ring is forgotten at the
//! latest when its context is destroyed through its new one.
//!
//! # fork
//!
//! Every slot records the [`ForkMarker`] of the process that registered it. In a `fork`
//! child the marker reads "forked": the child never reaps an inherited ring in user
//! space (it would steal the parent's completions, and every call on it fails with
//! `EINVAL` anyway), never waits on an inherited lock word (its holders were threads of
//! the parent), and resets such a word before reusing the slot.
//!
//! # Safety
//!
//! The ring of a registered context is read only through [`Reaping::ring`], which exists
//! only while the slot's lock is held exclusively, the slot still names the context, and
//! the slot's marker says this process created it.

#![allow(unsafe_code)]

use rawaio::abi::aio_context_t;
use rawaio::raw::{ForkMarker, RingView};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

/// Slots in the table: a power of two. 4096 slots of 32 bytes are 128 KiB of
/// zero-initialized memory, of which only the pages of used slots are ever touched.
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_BITS: u32 = 12;

/// The lock word's bit for "a user-space reaper holds the slot"; the bits below count
/// threads reaping through the system call.
const REAPING: u32 = 1 << 31;

/// Spins before yielding the CPU while a user-space reaper holds a slot.
const SPINS: u32 = 64;

/// One registered context.
#[repr(C, align(32))]
pub(crate) struct Slot {
    /// The context handle, or 0 when the slot is free.
    ctx: AtomicUsize,
    /// The marker of the process that registered `ctx` (leaked, never freed), or null.
    marker: AtomicPtr<ForkMarker>,
    /// [`REAPING`] plus the number of system-call reapers.
    lock: AtomicU32,
}

impl Slot {
    const fn new() -> Self {
        Self {
            ctx: AtomicUsize::new(0),
            marker: AtomicPtr::new(std::ptr::null_mut()),
            lock: AtomicU32::new(0),
        }
    }

    /// Whether the slot was registered by another process (this one is its `fork`
    /// child) or never registered at all.
    fn foreign(&self) -> bool {
        let marker = self.marker.load(Ordering::Acquire);
        // SAFETY: markers are leaked, so a non-null pointer stays valid for ever (in a
        // fork child too: its memory is a copy of the parent's).
        marker.is_null() || unsafe { (*marker).forked() }
    }

    /// Takes the slot for user-space reaping of `ctx` if nothing else is reaping it
    /// (never waits), `ctx` is still registered here, and this process registered it.
    pub(crate) fn try_reap(&self, ctx: aio_context_t) -> Option<Reaping<'_>> {
        self.lock
            .compare_exchange(0, REAPING, Ordering::SeqCst, Ordering::Relaxed)
            .ok()?;
        REAPING_HERE.with(|here| here.set(true));
        let guard = Reaping { slot: self, ctx };
        // SeqCst pairs with `unregister`: it empties `ctx` and then reads `lock`, so
        // either it sees REAPING and waits, or this load sees the slot emptied.
        if self.ctx.load(Ordering::SeqCst) != ctx || self.foreign() {
            return None; // `guard` releases the lock
        }
        Some(guard)
    }

    /// Registers the caller as a system-call reaper of `ctx` until the returned guard
    /// drops, waiting while a user-space reaper holds the slot. In a `fork` child (or
    /// for a slot no longer naming `ctx`'s process) it takes nothing and never waits.
    pub(crate) fn syscall(&self) -> Syscall<'_> {
        if self.foreign() {
            return Syscall { slot: None };
        }
        let mut spins = 0;
        let mut word = self.lock.load(Ordering::Relaxed);
        loop {
            if word & REAPING != 0 {
                if spins < SPINS {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                word = self.lock.load(Ordering::Relaxed);
                continue;
            }
            match self.lock.compare_exchange_weak(
                word,
                word + 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Syscall { slot: Some(self) },
                Err(now) => word = now,
            }
        }
    }
}

thread_local! {
    /// Whether this thread holds a slot for user-space reaping: set only for the few
    /// nanoseconds of a copy, so that a signal handler interrupting that copy and
    /// calling back into the library is noticed instead of waiting for ever on a slot
    /// its own thread holds.
    static REAPING_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside a user-space reap (so a call now comes from a signal
/// handler that interrupted it).
pub(crate) fn reentered() -> bool {
    REAPING_HERE.with(std::cell::Cell::get)
}

/// Exclusive user-space reaping of one context; releases the slot on drop.
pub(crate) struct Reaping<'a> {
    slot: &'a Slot,
    ctx: aio_context_t,
}

impl Reaping<'_> {
    /// A view of the context's ring, if its header is one user space may read.
    pub(crate) fn ring(&self) -> Option<RingView> {
        // SAFETY: this guard holds the slot exclusively, so no other thread of this
        // process reaps the ring (user-space reapers take the slot, system-call reapers
        // register in it first); the slot named `ctx` after the lock was taken, so
        // `unregister` (and with it `io_destroy`, which unmaps the ring) waits for this
        // guard; and the slot's marker says this process created the context.
        unsafe { RingView::new(self.ctx) }
    }
}

impl Drop for Reaping<'_> {
    fn drop(&mut self) {
        self.slot.lock.fetch_and(!REAPING, Ordering::Release);
        REAPING_HERE.with(|here| here.set(false));
    }
}

/// A registered system-call reaper; deregisters on drop.
pub(crate) struct Syscall<'a> {
    slot: Option<&'a Slot>,
}

impl Drop for Syscall<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            slot.lock.fetch_sub(1, Ordering::Release);
        }
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];

/// The marker of this process (leaked); replaced in a `fork` child at its first
/// registration.
static MARKER: AtomicPtr<ForkMarker> = AtomicPtr::new(std::ptr::null_mut());

/// The slot for the handle `ctx` (rings are page-aligned: the low bits carry nothing).
fn slot_of(ctx: aio_context_t) -> &'static Slot {
    let page = (ctx as u64) >> 12;
    let hash = page.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOT_BITS);
    &TABLE[hash as usize]
}

/// The slot of `ctx` if it is registered (by this process or, in a fork child, by its
/// parent). Never reads the ring.
#[inline]
pub(crate) fn find(ctx: aio_context_t) -> Option<&'static Slot> {
    let slot = slot_of(ctx);
    (ctx != 0 && slot.ctx.load(Ordering::Acquire) == ctx).then_some(slot)
}

/// This process's fork marker, made on first use (two system calls) and again in each
/// fork child; `None` if the kernel cannot make one.
fn marker() -> Option<*mut ForkMarker> {
    let current = MARKER.load(Ordering::Acquire);
    // SAFETY: markers are leaked, so a non-null one is valid.
    if !current.is_null() && unsafe { !(*current).forked() } {
        return Some(current);
    }
    let fresh = Box::into_raw(Box::new(ForkMarker::new()?));
    match MARKER.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Some(fresh),
        Err(winner) => {
            // Another thread made one first: use it, and free ours (never shared).
            // SAFETY: `fresh` came from `Box::into_raw` above and was never published.
            drop(unsafe { Box::from_raw(fresh) });
            Some(winner)
        }
    }
}

/// Registers `ctx`, just returned by `io_setup`, for user-space reaping. Does nothing
/// (the context will be reaped by system calls) when its ring is not readable, its slot
/// is taken by another live context, or no fork marker can be made.
///
/// # Safety
/// - `ctx` was just created by `io_setup` in this process and is not yet destroyed.
pub(crate) unsafe fn register(ctx: aio_context_t) {
    let slot = slot_of(ctx);
    {
        // Check the header now, so that a ring user space may not read is never
        // registered. Nothing else can consume from a ring nobody has seen yet.
        // SAFETY: the caller guarantees the ring is mapped; the view is dropped at once.
        let view = unsafe { RingView::new(ctx) };
        if view.is_none() {
            return;
        }
    }
    let Some(marker) = marker() else { return };
    let occupant = slot.ctx.load(Ordering::Acquire);
    let inherited = slot.foreign();
    if occupant != 0 && occupant != ctx && !inherited {
        return; // another live context of this process hashes here
    }
    // A slot registered by the parent of this fork child: its lock word was held, if at
    // all, by the parent's threads, which do not exist here.
    if inherited {
        slot.lock.store(0, Ordering::Relaxed);
    }
    slot.marker.store(marker, Ordering::Release);
    // A thread registering another context in this slot at the same moment wins or
    // loses here; the loser is reaped by system calls.
    let _ = slot
        .ctx
        .compare_exchange(occupant, ctx, Ordering::SeqCst, Ordering::Relaxed);
}

/// Forgets `ctx` before it is destroyed: once this returns no user-space reaper reads
/// its ring, and none will start.
pub(crate) fn unregister(ctx: aio_context_t) {
    let Some(slot) = find(ctx) else { return };
    if slot
        .ctx
        .compare_exchange(ctx, 0, Ordering::SeqCst, Ordering::Relaxed)
        .is_err()
    {
        return; // someone else unregistered it meanwhile
    }
    if slot.foreign() {
        return; // a fork child: the lock word's holders are the parent's threads
    }
    let mut spins = 0;
    while slot.lock.load(Ordering::SeqCst) & REAPING != 0 {
        if spins < SPINS {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Forgets every registration of this process whose handle the kernel no longer knows
/// (`alive` returns false for it), so that no call on such a handle reads its ring.
///
/// A registration outlives its context when the program moved the ring (`mremap`: the
/// kernel then knows the context by its new address only), unmapped it, or destroyed the
/// context by a direct system call. `alive` is asked about each handle while the caller
/// is registered as a system-call reaper of its slot, so it may make a system call on the
/// context. Must not be called from a signal handler that interrupted a user-space reap
/// ([`reentered`]): the slot that thread holds would never be released.
pub(crate) fn forget_dead(mut alive: impl FnMut(aio_context_t) -> bool) {
    for slot in &TABLE {
        let ctx = slot.ctx.load(Ordering::Acquire);
        if ctx == 0 || slot.foreign() {
            continue;
        }
        let live = {
            let _reaper = slot.syscall();
            // The slot may have been emptied or reused meanwhile: ask only about the
            // handle it still names.
            slot.ctx.load(Ordering::Acquire) != ctx || alive(ctx)
        };
        if !live {
            unregister(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_spread_page_aligned_handles() {
        let mut used = std::collections::HashSet::new();
        let base = 0x7f00_0000_0000usize;
        for page in 0..64 {
            used.insert(slot_of(base + page * 4096) as *const Slot as usize);
        }
        // 64 consecutive rings should land in (nearly) 64 distinct slots.
        assert!(used.len() >= 60, "only {} distinct slots", used.len());
    }

    #[test]
    fn unknown_handles_are_not_found() {
        assert!(find(0).is_none());
        assert!(find(0xdead_0000).is_none());
        assert!(find(usize::MAX).is_none());
        // Unregistering an unknown handle does nothing and does not wait.
        unregister(0xdead_0000);
    }

    #[test]
    fn reaping_excludes_syscalls_and_other_reapers() {
        let slot = Slot::new();
        let marker = Box::into_raw(Box::new(ForkMarker::new().unwrap()));
        slot.marker.store(marker, Ordering::Release);
        slot.ctx.store(0x1000, Ordering::SeqCst);

        let guard = slot.try_reap(0x1000).expect("a free slot");
        assert!(slot.try_reap(0x1000).is_none(), "two user-space reapers");
        drop(guard);
        assert_eq!(slot.lock.load(Ordering::Relaxed), 0);

        let sys1 = slot.syscall();
        let sys2 = slot.syscall();
        assert_eq!(slot.lock.load(Ordering::Relaxed), 2);
        assert!(slot.try_reap(0x1000).is_none(), "reaping beside a syscall");
        drop((sys1, sys2));
        assert!(
            slot.try_reap(0x2000).is_none(),
            "the slot names another context"
        );
        assert_eq!(slot.lock.load(Ordering::Relaxed), 0);

        // A syscall waits for a user-space reaper to finish.
        let slot = &*Box::leak(Box::new(slot));
        let guard = slot.try_reap(0x1000).unwrap();
        let waiter = std::thread::spawn(move || {
            let _sys = slot.syscall();
            slot.lock.load(Ordering::Relaxed)
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!waiter.is_finished());
        drop(guard);
        assert_eq!(waiter.join().unwrap(), 1);
        assert_eq!(slot.lock.load(Ordering::Relaxed), 0);
    }
}
