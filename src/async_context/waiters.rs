//! The futures waiting on one context, indexed by the slot their request holds.
//!
//! A request's token names a slot of the context's table and the slot's generation, so
//! the waiter of a request lives at the same index here: no hashing. A completion that
//! its future has not yet taken when the slot is reused by a later request (the table
//! frees a slot when its completion is reaped) moves to a short spill list.

use crate::request::completion::{Completion, Token};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Wake, Waker};

/// What one slot's waiter is doing.
pub(super) enum Entry<B> {
    /// No request of a live future here.
    Vacant,
    /// In flight, its future alive; the waker of the task that last polled it.
    Waiting {
        generation: u32,
        waker: Option<Waker>,
    },
    /// Reaped, waiting for its future to take it.
    Done(Completion<B>),
    /// Its future is gone: the completion is dropped when it is reaped.
    Abandoned { generation: u32 },
}

/// The waiters of a context.
pub(super) struct State<B> {
    entries: Box<[Entry<B>]>,
    /// Completions whose slot was taken over before their future claimed them.
    spill: Vec<Completion<B>>,
    /// Entries in [`Entry::Waiting`].
    pub(super) waiting: usize,
    /// Whether the reactor holds the context's waker, unspent.
    pub(super) armed: bool,
    /// How many times the reactor has woken the context's waker.
    pub(super) fired: u64,
    /// Room for what one reap brings.
    pub(super) reaped: Vec<Completion<B>>,
    /// The lists of the last [`AfterReap`], emptied, kept for the next one so that the
    /// steady state allocates nothing.
    pub(super) spare: AfterReap<B>,
}

/// What a reap leaves to do once the lock is released.
pub(super) struct AfterReap<B> {
    pub(super) wake: Vec<Waker>,
    pub(super) drop: Vec<Completion<B>>,
}

impl<B> AfterReap<B> {
    pub(super) fn new() -> Self {
        Self {
            wake: Vec::new(),
            drop: Vec::new(),
        }
    }

    pub(super) fn run(&mut self) {
        for waker in self.wake.drain(..) {
            waker.wake();
        }
        // Buffers of abandoned requests are dropped here, outside the lock: their `Drop`
        // may be anything.
        self.drop.clear();
    }

    /// Whether the lists have room worth keeping for the next reap.
    pub(super) fn has_room(&self) -> bool {
        self.wake.capacity() > 0 || self.drop.capacity() > 0
    }
}

impl<B> State<B> {
    /// Waiters for a table of `slots` slots.
    pub(super) fn new(slots: usize) -> Self {
        Self {
            entries: (0..slots).map(|_| Entry::Vacant).collect(),
            spill: Vec::new(),
            waiting: 0,
            armed: false,
            fired: 0,
            reaped: Vec::with_capacity(slots),
            spare: AfterReap::new(),
        }
    }

    fn entry(&mut self, token: Token) -> &mut Entry<B> {
        &mut self.entries[token.index as usize]
    }

    /// Hands a reaped completion to its waiter; `me` is the token of the future that is
    /// reaping (whose task is running, so not woken).
    pub(super) fn deliver(
        &mut self,
        completion: Completion<B>,
        me: Option<Token>,
        after: &mut AfterReap<B>,
    ) {
        let token = completion.token();
        let entry = &mut self.entries[token.index as usize];
        match entry {
            Entry::Waiting { generation, .. } if *generation == token.generation => {
                if let Entry::Waiting {
                    waker: Some(waker), ..
                } = std::mem::replace(entry, Entry::Done(completion))
                {
                    if Some(token) != me {
                        after.wake.push(waker);
                    }
                }
                self.waiting -= 1;
            }
            Entry::Abandoned { generation } if *generation == token.generation => {
                *entry = Entry::Vacant;
                after.drop.push(completion);
            }
            // Reaped before its submitter registered it: kept for the future to take.
            Entry::Vacant => *entry = Entry::Done(completion),
            // The slot's earlier completion is still unclaimed.
            _ => self.spill.push(completion),
        }
    }

    /// Takes the completion of a request whose future is reaping it itself: its entry,
    /// waiting, becomes vacant. `Err` (the completion back) when the entry is not
    /// waiting for it.
    #[allow(clippy::result_large_err)] // the completion comes back by value
    pub(super) fn take_own(
        &mut self,
        completion: Completion<B>,
    ) -> Result<Completion<B>, Completion<B>> {
        let token = completion.token();
        let entry = &mut self.entries[token.index as usize];
        match entry {
            Entry::Waiting { generation, .. } if *generation == token.generation => {
                *entry = Entry::Vacant;
                self.waiting -= 1;
                Ok(completion)
            }
            _ => Err(completion),
        }
    }

    /// Registers a token just submitted (unless its completion was reaped already).
    pub(super) fn register(&mut self, token: Token) {
        let waiting = Entry::Waiting {
            generation: token.generation,
            waker: None,
        };
        let entry = &mut self.entries[token.index as usize];
        if matches!(entry, Entry::Vacant) && self.spill.is_empty() {
            // The usual case. A vacant entry holds nothing: replacing it needs no drop.
            std::mem::forget(std::mem::replace(entry, waiting));
            self.waiting += 1;
            return;
        }
        if self.spill.iter().any(|c| c.token() == token) {
            return;
        }
        let entry = self.entry(token);
        match entry {
            Entry::Done(c) if c.token() == token => return,
            Entry::Done(_) => {
                // An earlier request's completion, not yet claimed: it moves aside.
                if let Entry::Done(earlier) = std::mem::replace(entry, Entry::Vacant) {
                    self.spill.push(earlier);
                }
            }
            _ => {}
        }
        *self.entry(token) = waiting;
        self.waiting += 1;
    }

    /// Leaves `waker` with `token`'s waiter, if it is still waiting.
    pub(super) fn set_waker(&mut self, token: Token, waker: &Waker) {
        if let Entry::Waiting {
            generation,
            waker: slot,
        } = self.entry(token)
        {
            if *generation == token.generation {
                match slot {
                    Some(old) if old.will_wake(waker) => {}
                    _ => *slot = Some(waker.clone()),
                }
            }
        }
    }

    /// Takes `token`'s completion if it has been delivered.
    pub(super) fn claim(&mut self, token: Token) -> Option<Completion<B>> {
        let entry = self.entry(token);
        if matches!(entry, Entry::Done(c) if c.token() == token) {
            if let Entry::Done(c) = std::mem::replace(entry, Entry::Vacant) {
                return Some(c);
            }
        }
        let i = self.spill.iter().position(|c| c.token() == token)?;
        Some(self.spill.swap_remove(i))
    }

    /// Forgets `token`'s future: returns its completion if it had come (to drop outside
    /// the lock), and whether it was still waiting.
    pub(super) fn abandon(&mut self, token: Token) -> (Option<Completion<B>>, bool) {
        let entry = self.entry(token);
        if let Entry::Waiting { generation, .. } = entry {
            if *generation == token.generation {
                *entry = Entry::Abandoned {
                    generation: token.generation,
                };
                self.waiting -= 1;
                return (None, true);
            }
        }
        (self.claim(token), false)
    }

    /// The waker of one waiting future.
    pub(super) fn any_waker(&self) -> Option<Waker> {
        self.entries.iter().find_map(|entry| match entry {
            Entry::Waiting {
                waker: Some(waker), ..
            } => Some(waker.clone()),
            _ => None,
        })
    }

    /// Whether a future about to finish must arm the reactor for those still waiting.
    pub(super) fn needs_arming(&self) -> bool {
        !self.armed && self.waiting > 0
    }
}

/// The table of waiters, and what the reactor's waker wakes.
pub(super) struct Waiters<B> {
    pub(super) state: Mutex<State<B>>,
}

impl<B> Waiters<B> {
    pub(super) fn lock(&self) -> MutexGuard<'_, State<B>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<B: Send> Wake for Waiters<B> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// The eventfd is readable: wake one waiting future, which reaps for everyone.
    fn wake_by_ref(self: &Arc<Self>) {
        let waker = {
            let mut st = self.lock();
            st.armed = false;
            st.fired = st.fired.wrapping_add(1);
            st.any_waker()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::op::Bufs;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn token(index: u32, generation: u32) -> Token {
        Token {
            index,
            generation,
            context: 1,
        }
    }

    fn completion(token: Token) -> Completion<Vec<u8>> {
        Completion {
            token,
            user_data: 0,
            opcode: 0,
            requested: 0,
            res: 0,
            res2: 0,
            bufs: Bufs::None,
        }
    }

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_completion_goes_to_its_waiter_and_wakes_its_task_once() {
        let mut st = State::new(8);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        st.register(token(1, 0));
        st.register(token(2, 0));
        assert_eq!(st.waiting, 2);
        assert!(st.needs_arming());
        st.set_waker(token(1, 0), &waker);
        st.set_waker(token(1, 5), &Waker::noop().clone());
        let mut after = AfterReap::new();
        st.deliver(completion(token(1, 0)), None, &mut after);
        assert_eq!((after.wake.len(), st.waiting), (1, 1));
        after.run();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(st.claim(token(2, 0)).is_none(), "not delivered yet");
        assert_eq!(st.claim(token(1, 0)).map(|c| c.token()), Some(token(1, 0)));
        assert!(
            st.claim(token(1, 0)).is_none(),
            "a completion is taken once"
        );
    }

    #[test]
    fn the_polling_future_does_not_wake_itself() {
        let mut st = State::new(8);
        st.register(token(3, 0));
        st.set_waker(token(3, 0), Waker::noop());
        let mut after = AfterReap::new();
        st.deliver(completion(token(3, 0)), Some(token(3, 0)), &mut after);
        assert!(after.wake.is_empty());
        assert!(st.claim(token(3, 0)).is_some());
    }

    #[test]
    fn a_future_reaping_its_own_completion_takes_it_straight() {
        let mut st = State::new(8);
        st.register(token(2, 0));
        st.register(token(3, 0));
        let c = st.take_own(completion(token(2, 0))).ok().unwrap();
        assert_eq!((c.token(), st.waiting), (token(2, 0), 1));
        assert!(st.claim(token(2, 0)).is_none(), "nothing left in the entry");
        // Not waiting for it (another generation, or not registered): handed back.
        assert!(st.take_own(completion(token(3, 1))).is_err());
        assert!(st.take_own(completion(token(4, 0))).is_err());
        assert_eq!(st.waiting, 1);
    }

    #[test]
    fn a_completion_reaped_before_registration_is_kept() {
        let mut st = State::new(8);
        let mut after = AfterReap::new();
        st.deliver(completion(token(4, 0)), None, &mut after);
        st.register(token(4, 0));
        assert_eq!(st.waiting, 0, "already done: not waiting");
        assert!(st.claim(token(4, 0)).is_some());
    }

    #[test]
    fn an_unclaimed_completion_survives_its_slot_being_reused() {
        let mut st = State::new(2);
        let mut after = AfterReap::new();
        st.register(token(0, 0));
        st.deliver(completion(token(0, 0)), None, &mut after);
        // The slot is reused before the first future takes its completion.
        st.register(token(0, 1));
        assert_eq!(st.waiting, 1);
        st.deliver(completion(token(0, 1)), None, &mut after);
        // And reused again, its completion reaped before it is registered.
        st.deliver(completion(token(0, 2)), None, &mut after);
        st.register(token(0, 2));
        assert_eq!(st.waiting, 0);
        for generation in [1, 0, 2] {
            let c = st.claim(token(0, generation)).unwrap();
            assert_eq!(c.token(), token(0, generation));
        }
        assert!(st.spill.is_empty());
    }

    #[test]
    fn an_abandoned_completion_is_dropped_outside_the_table() {
        let mut st = State::new(8);
        st.register(token(5, 0));
        assert!(st.abandon(token(5, 0)).1);
        let mut after = AfterReap::new();
        st.deliver(completion(token(5, 0)), None, &mut after);
        assert_eq!(after.drop.len(), 1);
        assert!(!st.needs_arming(), "nothing waits");
        st.register(token(6, 0));
        st.deliver(completion(token(6, 0)), None, &mut after);
        let (garbage, waiting) = st.abandon(token(6, 0));
        assert!(garbage.is_some() && !waiting);
    }

    #[test]
    fn the_reactors_wake_up_goes_to_one_waiting_future() {
        let waiters = Arc::new(Waiters {
            state: Mutex::new(State::<Vec<u8>>::new(8)),
        });
        let count = Arc::new(Count(AtomicUsize::new(0)));
        {
            let mut st = waiters.lock();
            st.armed = true;
            for i in 0..3 {
                st.register(token(i, 0));
                st.set_waker(token(i, 0), &Waker::from(Arc::clone(&count)));
            }
        }
        Waker::from(Arc::clone(&waiters)).wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let st = waiters.lock();
        assert!(!st.armed, "the registration is spent");
        assert_eq!(st.fired, 1);
    }
}
