//! [`Lock`]: the mutual exclusion of the submission and reaping paths, whose uncontended
//! lock and unlock are one atomic instruction each, inlined where they are used.
//!
//! `std::sync::Mutex` costs more on those paths: its `lock` is not inlined across
//! codegen units (a call on every submission), and it checks the thread's panic state
//! when locking and unlocking, for a poison flag that rawaio ignores anyway (a panic in
//! the table's code leaves nothing half-done that a later user could trip on).
//!
//! The algorithm is the classic three-state futex mutex (Drepper, "Futexes Are Tricky",
//! mutex 2), with a `std` mutex and condition variable in place of the futex for the
//! contended path: `state` is [`UNLOCKED`], [`LOCKED`] or [`CONTENDED`] (locked, and a
//! thread may be asleep waiting for it).
//! - Lock: `UNLOCKED -> LOCKED` by compare-exchange; failing that, spin a little, then
//!   under `sleepers` swap in `CONTENDED` until the swap finds `UNLOCKED` (the lock is
//!   then taken), sleeping on `wake` between tries.
//! - Unlock: swap in `UNLOCKED`; if the old state was `CONTENDED`, wake one sleeper,
//!   under `sleepers`.
//!
//! No wake-up is lost: a thread goes to sleep only after its swap found the lock held,
//! and it holds `sleepers` from that swap until the condition variable has released it
//! atomically with going to sleep; the holder's unlock then finds `CONTENDED` (the
//! sleeper's swap came before it), and its wake-up takes `sleepers` first, so it reaches
//! the sleeper only once the sleeper waits. A thread that takes the lock with `LOCKED`
//! while others sleep is harmless: the next sleeper to wake swaps `CONTENDED` back in.
//!
//! # Safety
//!
//! The data is reached only through a [`LockGuard`], and a guard exists only between an
//! acquisition (an atomic exchange that found `UNLOCKED`, with acquire ordering) and its
//! drop (which stores `UNLOCKED`, with release ordering): one guard at a time, and
//! everything written under one is visible under the next.
//!
//! # Exclusive guards
//!
//! A caller that holds the lock's owner by `&mut` (a context one thread holds, through
//! [`Exclusive`](crate::Exclusive)) needs no atomic instruction at all: no other thread
//! can reach the lock while that borrow lives. [`Lock::lock_as`] with `X = true` makes a
//! guard without touching `state` (the type parameter `X` of [`LockGuard`]), and its drop
//! touches nothing either. Such a guard is still the only one: another guard would need
//! another borrow of the owner, shared or exclusive, which the `&mut` excludes; and the
//! lock stays `UNLOCKED` for the shared guards taken after the borrow ends, which see
//! what the exclusive one wrote through the borrow's own synchronization (a `&mut` that
//! moved to another thread moved with a happens-before edge).

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Condvar, Mutex, PoisonError};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
/// Locked, and a thread may be asleep waiting: the unlock must wake one.
const CONTENDED: u32 = 2;

/// How many times a thread that finds the lock taken looks again before sleeping (the
/// table is held for a few hundred instructions at most).
const SPINS: u32 = 100;

/// A mutual-exclusion lock, without poisoning (see the module docs).
pub(crate) struct Lock<T> {
    state: AtomicU32,
    /// Guards nothing but the hand-over between a sleeper and the unlock that wakes it.
    sleepers: Mutex<()>,
    wake: Condvar,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached by one guard at a time (module docs), so sharing the lock
// hands `T` from thread to thread, which `T: Send` allows.
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    /// An unlocked lock around `data`.
    pub(crate) fn new(data: T) -> Self {
        Self {
            state: AtomicU32::new(UNLOCKED),
            sleepers: Mutex::new(()),
            wake: Condvar::new(),
            data: UnsafeCell::new(data),
        }
    }

    /// Takes the lock, waiting for it if another thread holds it.
    #[inline]
    pub(crate) fn lock(&self) -> LockGuard<'_, T> {
        // SAFETY: a shared guard (`X` false) has no precondition.
        unsafe { self.lock_as::<false>() }
    }

    /// Takes the lock if no other thread holds it.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        // SAFETY: a shared guard (`X` false) has no precondition.
        unsafe { self.try_lock_as::<false>() }
    }

    /// A guard of kind `X`: [`lock`](Self::lock) when `X` is false; when it is true, a
    /// guard that takes nothing (see "Exclusive guards" in the module docs).
    ///
    /// # Safety
    /// With `X` true, the caller must hold the lock's owner exclusively for as long as the
    /// guard lives: no other guard of this lock, shared or exclusive, may exist or be made
    /// meanwhile, on any thread.
    #[inline]
    pub(crate) unsafe fn lock_as<const X: bool>(&self) -> LockGuard<'_, T, X> {
        if !X
            && self
                .state
                .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
                .is_err()
        {
            self.lock_contended();
        }
        debug_assert!(!X || self.state.load(Relaxed) == UNLOCKED);
        LockGuard {
            lock: self,
            _data: PhantomData,
        }
    }

    /// [`try_lock`](Self::try_lock) of kind `X` (always a guard when `X` is true).
    ///
    /// # Safety
    /// As [`lock_as`](Self::lock_as).
    #[inline]
    pub(crate) unsafe fn try_lock_as<const X: bool>(&self) -> Option<LockGuard<'_, T, X>> {
        // Not `then_some`: a guard made and dropped on failure would unlock the holder's
        // lock.
        (X || self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
            .is_ok())
        .then(|| LockGuard {
            lock: self,
            _data: PhantomData,
        })
    }

    /// The data, through exclusive access to the lock (no locking needed).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        for _ in 0..SPINS {
            std::hint::spin_loop();
            if self.state.load(Relaxed) == UNLOCKED
                && self
                    .state
                    .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
                    .is_ok()
            {
                return;
            }
        }
        let mut sleepers = self.sleepers.lock().unwrap_or_else(PoisonError::into_inner);
        // Whoever holds the lock now finds `CONTENDED` when it unlocks, and wakes one of
        // us; a spurious wake-up just tries again.
        while self.state.swap(CONTENDED, Acquire) != UNLOCKED {
            sleepers = self
                .wake
                .wait(sleepers)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    #[inline]
    fn unlock(&self) {
        if self.state.swap(UNLOCKED, Release) == CONTENDED {
            self.wake_one();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_one(&self) {
        // Taking `sleepers` waits for a thread between its swap and its sleep.
        let _sleepers = self.sleepers.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_one();
    }
}

/// The lock, held: the data, until dropped.
///
/// `X` is true for a guard made under exclusive access to the lock's owner, which took
/// nothing and gives nothing back ("Exclusive guards" in the module docs).
pub(crate) struct LockGuard<'a, T, const X: bool = false> {
    lock: &'a Lock<T>,
    /// Shared access to the guard is shared access to `T`: `Sync` only when `T` is.
    _data: PhantomData<&'a mut T>,
}

impl<T, const X: bool> Deref for LockGuard<'_, T, X> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (module docs), and lends the data for no
        // longer than it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T, const X: bool> DerefMut for LockGuard<'_, T, X> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this borrow the only one.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T, const X: bool> Drop for LockGuard<'_, T, X> {
    #[inline]
    fn drop(&mut self) {
        if !X {
            self.lock.unlock();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn excludes_and_hands_over() {
        let lock = Lock::new(0u64);
        {
            let mut g = lock.lock();
            *g += 1;
            assert!(lock.try_lock().is_none(), "held");
            assert!(lock.try_lock().is_none(), "still held after a failed try");
        }
        assert_eq!(*lock.try_lock().expect("free again"), 1);
        let mut lock = lock;
        *lock.get_mut() += 1;
        assert_eq!(*lock.lock(), 2);
    }

    #[test]
    fn exclusive_guards_take_nothing_and_leave_it_free() {
        let mut lock = Lock::new(0u64);
        let owner = &mut lock;
        {
            // SAFETY: `owner` is the only way to the lock while these guards live.
            let mut g = unsafe { owner.lock_as::<true>() };
            *g += 1;
            assert_eq!(owner.state.load(Relaxed), UNLOCKED, "nothing taken");
        }
        {
            // SAFETY: as above.
            let mut g = unsafe { owner.try_lock_as::<true>() }.expect("always");
            *g += 1;
        }
        // Shared guards after the exclusive ones see what they wrote, and lock as usual.
        let g = lock.try_lock().expect("free");
        assert_eq!(*g, 2);
        // SAFETY: shared guards (`X` false) have no precondition.
        assert!(unsafe { lock.try_lock_as::<false>() }.is_none(), "held");
        drop(g);
        // SAFETY: as above.
        let g = unsafe { lock.lock_as::<false>() };
        assert_eq!(lock.state.load(Relaxed), LOCKED);
        drop(g);
        assert_eq!(lock.state.load(Relaxed), UNLOCKED);
    }

    #[test]
    fn a_panic_while_held_releases_it() {
        let lock = Arc::new(Lock::new(Vec::<u32>::new()));
        let l = Arc::clone(&lock);
        let joined = std::thread::spawn(move || {
            let mut g = l.lock();
            g.push(1);
            panic!("while holding the lock");
        })
        .join();
        assert!(joined.is_err());
        assert_eq!(*lock.lock(), [1], "not poisoned, and what was done stays");
    }

    #[test]
    fn threads_never_overlap() {
        // A counter updated by a read, a yield and a write: any overlap loses updates.
        const THREADS: u64 = 4;
        let rounds: u64 = if cfg!(miri) { 20 } else { 2000 };
        let lock = Arc::new(Lock::new(0u64));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for i in 0..rounds {
                        let mut g = lock.lock();
                        let v = *g;
                        if i % 8 == 0 {
                            std::thread::yield_now();
                        }
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("no panic");
        }
        assert_eq!(*lock.lock(), THREADS * rounds);
    }

    #[test]
    fn a_sleeper_is_woken() {
        // Held long enough for the other thread to stop spinning and sleep.
        let lock = Arc::new(Lock::new(0u32));
        let g = lock.lock();
        let l = Arc::clone(&lock);
        let waiter = std::thread::spawn(move || *l.lock() + 1);
        std::thread::sleep(std::time::Duration::from_millis(if cfg!(miri) {
            1
        } else {
            20
        }));
        drop(g);
        assert_eq!(waiter.join().expect("no panic"), 1);
        assert!(lock.try_lock().is_some());
    }
}
