//! The futures waiting on one context, indexed by the slot their request holds.
//!
//! A request's token names a slot of the context's table and the slot's generation, so
//! the waiter of a request lives at the same index here: no hashing on the way of a
//! request the kernel completes. Two rarer kinds of request live in a map keyed by token
//! instead ([`Away`]): a completion that its future has not taken when the slot is
//! reused by a later request, and a request the kernel refused, which is being finished
//! by other means (internal requests of the same context, in slots marked
//! [`Entry::Internal`], or a helper thread).
//!
//! The table also counts the requests accepted and not yet finished, against the
//! context's capacity, and keeps the wakers of the tasks waiting for room.

use super::job::{Job, Shell};
use super::policy::Counters;
use crate::request::completion::{Completion, Token};
use crate::request::fd::Target;
use crate::slots::lock::{Lock, LockGuard};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};

/// What happens to a request's completion if the kernel refused it.
pub(super) enum Plan<B> {
    /// Nothing: its completion is the answer (the policy did not add `RWF_NOWAIT`).
    AsIs,
    /// The policy added `RWF_NOWAIT`: a refusal is finished with `Retry` (a request
    /// that owns or shares its descriptor), or delivered as it is (a borrowed one, gone
    /// by the time a late refusal arrives).
    Nowait(Option<Retry<B>>),
}

/// What a request needs to be resubmitted: the rest is in its completion.
pub(super) struct Retry<B> {
    pub(super) shell: Shell<B>,
    pub(super) fd: Target<'static>,
}

/// An internal request: one step of finishing a refused request.
pub(super) struct Step<B> {
    /// The refused request (its buffers are in the kernel when this is a resubmission).
    pub(super) job: Job<B>,
    /// A readiness poll (then the job is resubmitted), or the job resubmitted.
    pub(super) poll: bool,
    /// Whether the resubmission carries `RWF_NOWAIT`.
    pub(super) nowait: bool,
}

/// [`Plan`] without its data (kept apart, so that entries stay small).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tag {
    AsIs,
    /// `Plan::Nowait(None)`.
    Nowait,
    /// `Plan::Nowait(Some(_))`: the `Retry` is in `State::retries` at the slot's index.
    Retry,
}

/// What one slot's waiter is doing.
pub(super) enum Entry<B> {
    /// No request of a live future here.
    Vacant,
    /// In flight, its future alive; the waker of the task that last polled it.
    Waiting {
        generation: u32,
        waker: Option<Waker>,
        plan: Tag,
    },
    /// Reaped, waiting for its future to take it (or, just after submission, for its
    /// submitter to look at it).
    Done(Completion<B>),
    /// Its future is gone: the completion is dropped when it is reaped.
    Abandoned { generation: u32 },
    /// An internal request of the context, for a refused request (boxed: rare, and
    /// large).
    Internal { generation: u32, step: Box<Step<B>> },
    /// The poll request [`block_on`](super::AsyncContext::block_on) keeps in flight while
    /// it parks (outside the context's capacity: see [`Watch`]).
    Watch { generation: u32 },
}

/// The one poll request a `Driven` context may have in flight for
/// [`block_on`](super::AsyncContext::block_on), besides its capacity's worth of requests
/// (the kernel context has room for one more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Watch {
    /// None in flight: a `block_on` may submit one.
    Free,
    /// In flight, for a `block_on` that waits for it.
    Armed(Token),
    /// Completed: the `block_on` that armed it has not seen it yet.
    Fired(Token),
    /// In flight, its `block_on` gone (it was cancelled): nobody may arm another until its
    /// completion comes, so that the kernel's room is never exceeded.
    Left(Token),
}

/// A request whose slot no longer holds it.
pub(super) enum Away<B> {
    /// Being finished (after a refusal), its future alive.
    Pending {
        waker: Option<Waker>,
        /// The internal readiness poll in flight for it, to cancel.
        poll: Option<Token>,
        /// Cancelled by its future: completes with `ECANCELED` at the next step.
        cancelled: bool,
    },
    /// Being finished, its future gone: dropped when done.
    Abandoned,
    /// Finished, waiting for its future.
    Done(Completion<B>),
}

/// The waiters of a context.
pub(super) struct State<B> {
    entries: Box<[Entry<B>]>,
    /// What resubmits the request waiting in the same slot, when its entry's plan is
    /// [`Tag::Retry`].
    retries: Box<[Option<Retry<B>>]>,
    pub(super) away: HashMap<Token, Away<B>>,
    /// Entries in [`Entry::Waiting`] or [`Entry::Internal`]: requests in the kernel that
    /// someone waits for.
    pub(super) waiting: usize,
    /// Wakers of the tasks waiting for room ([`Reserve`](super::Reserve)).
    pub(super) room: Vec<Waker>,
    /// Requests finished by deliveries whose room is not yet given back (once per reap,
    /// by [`flush_freed`](Self::flush_freed)).
    freed: usize,
    /// Whether the reactor holds the context's waker, unspent. For a reactor that
    /// [busy-polls](crate::reactor::Reactor::BUSY_POLLS): whether a waiting future has
    /// been made the poller (`spinner`), whose task keeps looking at the ring.
    pub(super) armed: bool,
    /// The poller of a busy-polling context: the slot index and generation of the
    /// request whose future wakes its own task after each look at the ring, until it
    /// resolves or goes.
    spinner: Option<(u32, u32)>,
    /// How many times the reactor has woken the context's waker.
    pub(super) fired: u64,
    /// The lists of the last reap's [`After`], emptied, kept for the next reap so that
    /// waking the futures a reap delivered to allocates nothing in the steady state.
    pub(super) spare: After<B>,
    /// `block_on`'s poll request.
    pub(super) watch: Watch,
}

/// Work a reap (or any change of the table) leaves for the context, once the lock is
/// released.
pub(super) enum Later<B> {
    /// An internal request completed: the next step of its refused request.
    Step(Box<Step<B>>, Completion<B>),
    /// A request refused after it was registered, with what resubmits it.
    Refused(Retry<B>, Completion<B>),
    /// An internal poll to cancel (its request's future went, or cancelled it).
    Cancel(Token),
    /// What resubmits a request that needs it no more (its descriptor may close here).
    Release(Retry<B>),
    /// The completion of a request whose future is gone: its buffers are dropped here.
    Drop(Completion<B>),
}

/// What a reap (or any change of the table) leaves to do once the lock is released.
pub(super) struct After<B> {
    pub(super) wake: Vec<Waker>,
    pub(super) work: Vec<Later<B>>,
}

impl<B> After<B> {
    pub(super) fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Lists with room for `n` entries each.
    pub(super) fn with_capacity(n: usize) -> Self {
        Self {
            wake: Vec::with_capacity(n),
            work: Vec::with_capacity(n),
        }
    }

    /// Whether the lists have room worth keeping for the next reap.
    #[inline]
    pub(super) fn has_room(&self) -> bool {
        self.wake.capacity() > 0 || self.work.capacity() > 0
    }

    /// Wakes, and drops the completions of abandoned requests, outside the lock: a waker
    /// or a buffer's `Drop` may be anything. Leaves the rest of the work.
    #[inline]
    pub(super) fn wake_and_drop(&mut self) {
        while let Some(waker) = self.wake.pop() {
            waker.wake();
        }
        if !self.work.is_empty() {
            self.work.retain(|later| !matches!(later, Later::Drop(_)));
        }
    }
}

/// Whether a completion of a request the policy sent with `RWF_NOWAIT` may be a refusal:
/// `EAGAIN`, `EOPNOTSUPP`, or a transfer cut short, to nothing too (Linux 5.10 answers
/// a buffered read of uncached data with 0 bytes rather than `EAGAIN`; the file's size
/// then tells it from the end of the file).
pub(super) fn is_refusal<B>(c: &Completion<B>) -> bool {
    c.res == -i64::from(rustix::io::Errno::AGAIN.raw_os_error())
        || c.res == -i64::from(rustix::io::Errno::OPNOTSUPP.raw_os_error())
        || (c.res >= 0 && (c.res as u64) < c.requested)
}

impl<B> State<B> {
    /// Waiters for a table of `slots` slots.
    pub(super) fn new(slots: usize) -> Self {
        Self {
            entries: (0..slots).map(|_| Entry::Vacant).collect(),
            retries: (0..slots).map(|_| None).collect(),
            // Room for a ring's worth of completions whose slot was reused before they were
            // claimed: the steady state then never grows the map.
            away: HashMap::with_capacity(slots),
            freed: 0,
            waiting: 0,
            room: Vec::new(),
            armed: false,
            spinner: None,
            fired: 0,
            // A reap delivers at most a ring's worth: lists of that size never grow.
            spare: After::with_capacity(slots),
            watch: Watch::Free,
        }
    }

    /// The entry of `token`'s slot; `None` for a token of no slot (a request refused at
    /// submission, known only by the token its future holds).
    #[inline]
    fn entry(&mut self, token: Token) -> Option<&mut Entry<B>> {
        self.entries.get_mut(token.index as usize)
    }

    /// Hands a reaped completion to its waiter; `me` is the token of the future that is
    /// reaping (whose task is running, so not woken). A request that finishes releases
    /// its room in `counts`.
    #[inline(always)]
    pub(super) fn deliver(
        &mut self,
        completion: Completion<B>,
        me: Option<Token>,
        counts: &Counts,
        after: &mut After<B>,
    ) {
        let token = completion.token();
        if let Some(entry) = self.entries.get_mut(token.index as usize) {
            if let Entry::Waiting {
                generation,
                plan: Tag::AsIs,
                waker,
            } = entry
            {
                if *generation == token.generation {
                    // The common case, in one write.
                    let waker = waker.take();
                    // A waiting entry without its waker owns nothing: no drop to run.
                    std::mem::forget(std::mem::replace(entry, Entry::Done(completion)));
                    self.waiting -= 1;
                    if let Some(waker) = waker {
                        if Some(token) != me {
                            after.wake.push(waker);
                        }
                    }
                    self.freed += 1;
                    return;
                }
            }
        }
        self.deliver_other(completion, me, counts, after);
    }

    /// [`deliver`](Self::deliver) to anything but a waiting entry of a request submitted
    /// as given.
    #[inline(never)]
    fn deliver_other(
        &mut self,
        completion: Completion<B>,
        me: Option<Token>,
        counts: &Counts,
        after: &mut After<B>,
    ) {
        let token = completion.token();
        let entry = &mut self.entries[token.index as usize];
        match entry {
            Entry::Waiting { generation, .. } if *generation == token.generation => {
                let Entry::Waiting { waker, plan, .. } = std::mem::replace(entry, Entry::Vacant)
                else {
                    unreachable!("matched above");
                };
                self.waiting -= 1;
                let retry = match plan {
                    Tag::Retry => self.retries[token.index as usize].take(),
                    _ => None,
                };
                if plan != Tag::AsIs && is_refusal(&completion) {
                    match retry {
                        Some(retry) => {
                            self.away.insert(
                                token,
                                Away::Pending {
                                    waker,
                                    poll: None,
                                    cancelled: false,
                                },
                            );
                            after.work.push(Later::Refused(retry, completion));
                            return;
                        }
                        None if completion.res < 0 => {
                            Counters::bump(&counts.stats.refused);
                            Counters::bump(&counts.stats.late);
                        }
                        // Cut short, late: a short count is a valid answer.
                        None => {}
                    }
                } else if let Some(retry) = retry {
                    after.work.push(Later::Release(retry));
                }
                self.entries[token.index as usize] = Entry::Done(completion);
                if let Some(waker) = waker {
                    if Some(token) != me {
                        after.wake.push(waker);
                    }
                }
                self.freed += 1;
            }
            Entry::Abandoned { generation } if *generation == token.generation => {
                *entry = Entry::Vacant;
                after.work.push(Later::Drop(completion));
                self.freed += 1;
            }
            Entry::Internal { generation, .. } if *generation == token.generation => {
                let Entry::Internal { step, .. } = std::mem::replace(entry, Entry::Vacant) else {
                    unreachable!("matched above");
                };
                self.waiting -= 1;
                after.work.push(Later::Step(step, completion));
            }
            Entry::Watch { generation } if *generation == token.generation => {
                *entry = Entry::Vacant;
                self.watch_came(token);
                after.work.push(Later::Drop(completion));
            }
            // Reaped before its submitter registered it: kept for the submitter.
            Entry::Vacant => std::mem::forget(std::mem::replace(entry, Entry::Done(completion))),
            // The slot's earlier completion is still unclaimed.
            _ => {
                self.away.insert(token, Away::Done(completion));
            }
        }
    }

    /// Gives back the room of the requests [`deliver`](Self::deliver) finished (after
    /// each batch of deliveries: one atomic operation for all).
    #[inline]
    pub(super) fn flush_freed(&mut self, counts: &Counts, after: &mut After<B>) {
        if self.freed > 0 {
            counts.outstanding.fetch_sub(self.freed, Ordering::AcqRel);
            self.freed = 0;
            if !self.room.is_empty() {
                after.wake.append(&mut self.room);
            }
        }
    }

    /// A request finished (delivered or dropped): its room is free.
    #[inline]
    pub(super) fn finish(&mut self, counts: &Counts, after: &mut After<B>) {
        counts.outstanding.fetch_sub(1, Ordering::AcqRel);
        if !self.room.is_empty() {
            after.wake.append(&mut self.room);
        }
    }

    /// Takes `token`'s completion from the map of requests away from their slot.
    #[inline]
    fn take_away_done(&mut self, token: Token) -> Option<Completion<B>> {
        // The map is empty but on unusual paths: skip hashing then.
        if self.away.is_empty() || !matches!(self.away.get(&token), Some(Away::Done(_))) {
            return None;
        }
        match self.away.remove(&token) {
            Some(Away::Done(c)) => Some(c),
            _ => None,
        }
    }

    /// Makes room at `token`'s slot: an earlier request's unclaimed completion moves
    /// away.
    fn clear_slot(&mut self, token: Token) {
        let Some(entry) = self.entry(token) else {
            return;
        };
        if matches!(entry, Entry::Done(_)) {
            if let Entry::Done(earlier) = std::mem::replace(entry, Entry::Vacant) {
                self.away.insert(earlier.token(), Away::Done(earlier));
            }
        }
    }

    /// Registers a request submitted as given: its completion, if reaped already, stays
    /// in its slot for its future (and its room is given back).
    #[inline(always)]
    pub(super) fn register_as_is(&mut self, token: Token, counts: &Counts, after: &mut After<B>) {
        // The usual case: its slot free, nothing away from its slot.
        if self.away.is_empty() {
            if let Some(entry @ Entry::Vacant) = self.entries.get_mut(token.index as usize) {
                wait_as_is(entry, token);
                self.waiting += 1;
                return;
            }
        }
        self.register_as_is_slow(token, counts, after);
    }

    /// [`register_as_is`](Self::register_as_is), every case.
    #[inline(never)]
    fn register_as_is_slow(&mut self, token: Token, counts: &Counts, after: &mut After<B>) {
        let Some(entry) = self.entries.get_mut(token.index as usize) else {
            return;
        };
        match entry {
            Entry::Done(c) if c.token() == token => self.finish(counts, after),
            // Reaped before this registration, and moved away from the slot since (a later
            // request of the slot registered first): it waits there for its future.
            _ if !self.away.is_empty() && matches!(self.away.get(&token), Some(Away::Done(_))) => {
                self.finish(counts, after)
            }
            _ => {
                if matches!(entry, Entry::Vacant) {
                    wait_as_is(entry, token);
                    self.waiting += 1;
                } else {
                    self.register(token, Plan::AsIs);
                }
            }
        }
    }

    /// Registers a request just submitted, after [`claim`](Self::claim) found
    /// nothing.
    pub(super) fn register(&mut self, token: Token, plan: Plan<B>) {
        self.clear_slot(token);
        let index = token.index as usize;
        let Some(entry) = self.entries.get_mut(index) else {
            return;
        };
        let tag = match plan {
            Plan::AsIs => Tag::AsIs,
            Plan::Nowait(None) => Tag::Nowait,
            Plan::Nowait(Some(retry)) => {
                self.retries[index] = Some(retry);
                Tag::Retry
            }
        };
        *entry = Entry::Waiting {
            generation: token.generation,
            waker: None,
            plan: tag,
        };
        self.waiting += 1;
    }

    /// Registers an internal request just submitted, after
    /// [`claim`](Self::claim) found nothing.
    pub(super) fn register_internal(&mut self, token: Token, step: Step<B>) {
        self.clear_slot(token);
        if let Some(entry) = self.entry(token) {
            *entry = Entry::Internal {
                generation: token.generation,
                step: Box::new(step),
            };
            self.waiting += 1;
        }
    }

    /// Makes `completion` the answer of its request (a request just submitted, whose
    /// completion came early), and releases its room.
    pub(super) fn settle_here(
        &mut self,
        completion: Completion<B>,
        counts: &Counts,
        after: &mut After<B>,
    ) {
        let token = completion.token();
        self.clear_slot(token);
        match self.entry(token) {
            Some(entry @ Entry::Vacant) => *entry = Entry::Done(completion),
            // Reaped early and taken back by a later request of the same slot, which
            // registered meanwhile.
            _ => {
                self.away.insert(token, Away::Done(completion));
            }
        }
        self.finish(counts, after);
    }

    /// Makes `completion` the answer of a request that was being finished away from its
    /// slot: wakes its future, or drops it if the future is gone; releases its room.
    pub(super) fn settle_away(
        &mut self,
        completion: Completion<B>,
        counts: &Counts,
        after: &mut After<B>,
    ) {
        let token = completion.token();
        match self.away.remove(&token) {
            Some(Away::Pending { waker, .. }) => {
                self.away.insert(token, Away::Done(completion));
                after.wake.extend(waker);
            }
            _ => after.work.push(Later::Drop(completion)),
        }
        self.finish(counts, after);
    }

    /// The state of a request being finished away: whether its future is gone, or has
    /// cancelled it.
    pub(super) fn away_state(&self, token: Token) -> AwayState {
        match self.away.get(&token) {
            Some(Away::Pending {
                cancelled: true, ..
            }) => AwayState::Cancelled,
            Some(Away::Pending { .. }) => AwayState::Wanted,
            _ => AwayState::Gone,
        }
    }

    /// Records the internal poll in flight for `token`'s request.
    pub(super) fn set_away_poll(&mut self, token: Token, poll_token: Option<Token>) {
        if let Some(Away::Pending { poll, .. }) = self.away.get_mut(&token) {
            *poll = poll_token;
        }
    }

    /// Marks `token`'s request as being finished away (refused at submission).
    pub(super) fn set_away(&mut self, token: Token) {
        self.away.insert(
            token,
            Away::Pending {
                waker: None,
                poll: None,
                cancelled: false,
            },
        );
    }

    /// Leaves `waker` with `token`'s waiter, if it is still waiting.
    pub(super) fn set_waker(&mut self, token: Token, waker: &Waker) {
        let slot = match self.entries.get_mut(token.index as usize) {
            Some(Entry::Waiting {
                generation,
                waker: slot,
                ..
            }) if *generation == token.generation => slot,
            _ if self.away.is_empty() => return,
            _ => match self.away.get_mut(&token) {
                Some(Away::Pending { waker: slot, .. }) => slot,
                _ => return,
            },
        };
        match slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Takes `token`'s completion if it has been delivered: for its future, or for its
    /// submitter, who looks at a request just submitted before its future may see it.
    #[inline]
    pub(super) fn claim(&mut self, token: Token) -> Option<Completion<B>> {
        match self.take_in_slot(token, |c| c) {
            Some(c) => Some(c),
            None => self.take_away_done(token),
        }
    }

    /// Takes `token`'s completion if it waits in its slot's entry, as `wrap` makes it
    /// (the future's poll builds its output there, in one move).
    #[inline(always)]
    pub(super) fn take_in_slot<T>(
        &mut self,
        token: Token,
        wrap: impl FnOnce(Completion<B>) -> T,
    ) -> Option<T> {
        let entry = self.entries.get_mut(token.index as usize)?;
        if !matches!(entry, Entry::Done(c) if c.token() == token) {
            return None;
        }
        match std::mem::replace(entry, Entry::Vacant) {
            Entry::Done(c) => Some(wrap(c)),
            // Not reached: the entry matched `Done` just above. (Forgotten rather than
            // dropped only to keep drop glue off the hot path.)
            other => {
                std::mem::forget(other);
                None
            }
        }
    }

    /// Forgets `token`'s future: returns its completion if it had come (to drop outside
    /// the lock), and whether it was still waiting in the kernel. An internal poll to
    /// cancel goes to `after`.
    pub(super) fn abandon(
        &mut self,
        token: Token,
        after: &mut After<B>,
    ) -> (Option<Completion<B>>, bool) {
        if let Some(entry @ Entry::Waiting { .. }) = self.entry(token) {
            if let Entry::Waiting {
                generation, plan, ..
            } = entry
            {
                if *generation == token.generation {
                    let plan = *plan;
                    *entry = Entry::Abandoned {
                        generation: token.generation,
                    };
                    self.waiting -= 1;
                    if plan == Tag::Retry {
                        if let Some(retry) = self.retries[token.index as usize].take() {
                            after.work.push(Later::Release(retry));
                        }
                    }
                    return (None, true);
                }
            }
        }
        if self.away.is_empty() {
            return (self.claim(token), false);
        }
        if let Some(Away::Pending { poll, .. }) = self.away.get(&token) {
            after.work.extend(poll.map(Later::Cancel));
            self.away.insert(token, Away::Abandoned);
            return (None, false);
        }
        (self.claim(token), false)
    }

    /// Marks `token`'s request, waiting for readiness away from its slot, as cancelled;
    /// returns its internal poll, to cancel. `Err` when it waits for no poll.
    pub(super) fn cancel_away(&mut self, token: Token) -> Result<Token, ()> {
        match self.away.get_mut(&token) {
            Some(Away::Pending {
                poll: Some(poll),
                cancelled,
                ..
            }) => {
                *cancelled = true;
                Ok(*poll)
            }
            _ => Err(()),
        }
    }

    /// Makes the future of the request with this slot index and generation the poller of
    /// a busy-polling context (its task wakes itself after each look at the ring).
    pub(super) fn spin_on(&mut self, (index, generation): (u32, u32)) {
        self.spinner = Some((index, generation));
        self.armed = true;
    }

    /// Whether the future of `token` is the poller.
    #[inline]
    pub(super) fn is_spinner(&self, token: Token) -> bool {
        self.spinner == Some((token.index, token.generation))
    }

    /// The future of `token` resolves or goes: if it was the poller, nobody is, and a
    /// task still waiting must be made one ([`needs_arming`](Self::needs_arming)).
    #[inline]
    pub(super) fn leave_spin(&mut self, token: Token) {
        if self.is_spinner(token) {
            self.spinner = None;
            self.armed = false;
        }
    }

    /// Picks a poller among the futures waiting in their slots, and returns its waker;
    /// failing that (only requests away from their slot, or tasks waiting for room,
    /// wait), the waker of any waiting task, which picks itself when it polls.
    pub(super) fn pick_spinner(&mut self) -> Option<Waker> {
        let picked = self
            .entries
            .iter()
            .enumerate()
            .find_map(|(index, entry)| match entry {
                Entry::Waiting {
                    generation,
                    waker: Some(waker),
                    ..
                } => Some(((index as u32, *generation), waker.clone())),
                _ => None,
            });
        match picked {
            Some((key, waker)) => {
                self.spin_on(key);
                Some(waker)
            }
            None => self.any_waker(),
        }
    }

    /// The waker of one task that waits for something the ring brings.
    pub(super) fn any_waker(&self) -> Option<Waker> {
        let in_slots = self.entries.iter().find_map(|entry| match entry {
            Entry::Waiting {
                waker: Some(waker), ..
            } => Some(waker.clone()),
            _ => None,
        });
        in_slots
            .or_else(|| {
                self.away.values().find_map(|away| match away {
                    Away::Pending {
                        waker: Some(waker), ..
                    } => Some(waker.clone()),
                    _ => None,
                })
            })
            .or_else(|| self.room.first().cloned())
    }

    /// Registers `block_on`'s poll request, just submitted as `token` under the same hold
    /// of the lock (so no reap can have delivered it yet).
    pub(super) fn arm_watch(&mut self, token: Token) {
        self.clear_slot(token);
        if let Some(entry) = self.entry(token) {
            *entry = Entry::Watch {
                generation: token.generation,
            };
        }
        self.watch = Watch::Armed(token);
    }

    /// `block_on`'s poll request `token` completed.
    fn watch_came(&mut self, token: Token) {
        self.watch = match self.watch {
            Watch::Armed(t) if t == token => Watch::Fired(token),
            Watch::Left(t) if t == token => Watch::Free,
            other => other,
        };
    }

    /// Whether a future about to finish must arm the reactor for those still waiting.
    pub(super) fn needs_arming(&self) -> bool {
        !self.armed && (self.waiting > 0 || !self.room.is_empty())
    }

    /// Adds a task waiting for room.
    pub(super) fn wait_for_room(&mut self, waker: &Waker) {
        if !self.room.iter().any(|w| w.will_wake(waker)) {
            self.room.push(waker.clone());
        }
    }
}

/// A request being finished away from its slot, as its next step sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AwayState {
    /// Its future waits for it.
    Wanted,
    /// Its future cancelled it.
    Cancelled,
    /// Its future is gone.
    Gone,
}

/// Makes a vacant entry wait for `token`, a request submitted as given.
#[inline(always)]
fn wait_as_is<B>(entry: &mut Entry<B>, token: Token) {
    debug_assert!(matches!(entry, Entry::Vacant));
    let waiting = Entry::Waiting {
        generation: token.generation,
        waker: None,
        plan: Tag::AsIs,
    };
    // A vacant entry owns nothing: no drop to run.
    std::mem::forget(std::mem::replace(entry, waiting));
}

/// What the table counts, readable without its lock.
pub(super) struct Counts {
    /// Requests accepted and not finished (reserved room included).
    pub(super) outstanding: AtomicUsize,
    /// The most requests the context accepts at once.
    pub(super) capacity: usize,
    pub(super) stats: Counters,
}

impl Counts {
    /// Takes room for one request, if there is some.
    pub(super) fn try_acquire(&self) -> bool {
        self.outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .is_ok()
    }
}

/// The table of waiters, its counts, and what the reactor's waker wakes.
pub(super) struct Waiters<B> {
    pub(super) state: Lock<State<B>>,
    pub(super) counts: Counts,
}

impl<B> Waiters<B> {
    #[inline]
    pub(super) fn lock(&self) -> LockGuard<'_, State<B>> {
        self.state.lock()
    }

    /// Gives back room taken and not used (a permit dropped, a submission refused).
    pub(super) fn release(&self) {
        let mut after = After::new();
        self.lock().finish(&self.counts, &mut after);
        after.wake_and_drop();
    }
}

impl<B: Send> Wake for Waiters<B> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// The eventfd is readable: wake one waiting task, which reaps for everyone.
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
    use std::sync::atomic::AtomicUsize;

    fn token(index: u32, generation: u32) -> Token {
        Token {
            index,
            generation,
            context: 1,
        }
    }

    fn completion(token: Token) -> Completion<Vec<u8>> {
        with_res(token, 0, 0)
    }

    fn with_res(token: Token, res: i64, requested: u64) -> Completion<Vec<u8>> {
        Completion {
            token,
            user_data: 0,
            opcode: 0,
            requested,
            res,
            res2: 0,
            bufs: Bufs::None,
        }
    }

    fn counts(outstanding: usize) -> Counts {
        Counts {
            outstanding: AtomicUsize::new(outstanding),
            capacity: 8,
            stats: Counters::default(),
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
        let n = counts(2);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        st.register(token(1, 0), Plan::AsIs);
        st.register(token(2, 0), Plan::AsIs);
        assert_eq!(st.waiting, 2);
        assert!(st.needs_arming());
        st.set_waker(token(1, 0), &waker);
        st.set_waker(token(1, 5), &Waker::noop().clone());
        let mut after = After::new();
        st.deliver(completion(token(1, 0)), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        assert_eq!((after.wake.len(), st.waiting), (1, 1));
        assert_eq!(n.outstanding.load(Ordering::SeqCst), 1, "its room is free");
        after.wake_and_drop();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(st.claim(token(2, 0)).is_none(), "not delivered yet");
        assert_eq!(st.claim(token(1, 0)).map(|c| c.token()), Some(token(1, 0)));
        assert!(
            st.claim(token(1, 0)).is_none(),
            "a completion is taken once"
        );
    }

    /// A busy-polling context's poller: one at a time; picked among the futures waiting in
    /// their slots with a waker (the lowest slot), and none again until it resolves or
    /// goes; without such a future, any waiting task is woken without being made the
    /// poller; its leaving makes the next arming pick another.
    #[test]
    fn the_poller_is_one_waiting_future_at_a_time() {
        let mut st = State::<Vec<u8>>::new(8);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let (a, b, c) = (token(2, 0), token(5, 3), token(6, 0));
        st.register(a, Plan::AsIs);
        st.register(b, Plan::AsIs);
        st.register(c, Plan::AsIs);
        // Nobody has polled yet: no waker to pick, and nothing to wake.
        assert!(st.pick_spinner().is_none());
        assert!(st.needs_arming());
        st.set_waker(b, &waker);
        st.set_waker(c, &waker);
        st.pick_spinner().expect("b's waker").wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(st.is_spinner(b) && !st.is_spinner(c) && !st.is_spinner(token(5, 4)));
        assert!(!st.needs_arming(), "armed while b is the poller");
        // Another future leaving changes nothing; the poller leaving disarms.
        st.leave_spin(c);
        assert!(st.is_spinner(b) && !st.needs_arming());
        st.leave_spin(b);
        assert!(!st.is_spinner(b) && st.needs_arming());
        // A future that polls makes itself the poller.
        st.spin_on((a.index, a.generation));
        assert!(st.is_spinner(a) && !st.needs_arming());
        st.leave_spin(a);
        assert_eq!(st.pick_spinner().map(|_| ()), Some(()));
        assert!(st.is_spinner(b), "the lowest slot with a waker");
    }

    #[test]
    fn the_polling_future_does_not_wake_itself() {
        let mut st = State::new(8);
        st.register(token(3, 0), Plan::AsIs);
        st.set_waker(token(3, 0), Waker::noop());
        let mut after = After::new();
        let n = counts(1);
        st.deliver(completion(token(3, 0)), Some(token(3, 0)), &n, &mut after);
        st.flush_freed(&n, &mut after);
        assert!(after.wake.is_empty());
        assert!(st.claim(token(3, 0)).is_some());
    }

    #[test]
    fn a_completion_reaped_before_registration_goes_to_the_submitter() {
        let mut st = State::new(8);
        let n = counts(1);
        let mut after = After::new();
        st.deliver(completion(token(4, 0)), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        assert_eq!(n.outstanding.load(Ordering::SeqCst), 1, "not final yet");
        let early = st.claim(token(4, 0)).expect("reaped early");
        assert!(st.claim(token(4, 0)).is_none());
        st.settle_here(early, &n, &mut after);
        assert_eq!((st.waiting, n.outstanding.load(Ordering::SeqCst)), (0, 0));
        assert!(st.claim(token(4, 0)).is_some());
    }

    /// Two threads: request A (slot 5) completes inside `io_submit` and a third thread
    /// reaps it before A's submitter registers; the slot is reused by B, whose submitter
    /// registers first. A's registration must find its completion (moved away from the
    /// slot) and give its room back, and must not take B's place: B's waker and room
    /// were lost that way, and B's future hung.
    #[test]
    fn a_late_registration_finds_its_completion_moved_away_and_leaves_the_next_in_place() {
        let mut st = State::new(8);
        let n = counts(2);
        let (a, b) = (token(5, 7), token(5, 8));
        let mut after = After::new();
        st.deliver(completion(a), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        st.register_as_is(b, &n, &mut after);
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        st.set_waker(b, &Waker::from(Arc::clone(&woken)));
        st.register_as_is(a, &n, &mut after);
        assert_eq!(n.outstanding.load(Ordering::SeqCst), 1, "A's room is back");
        st.deliver(completion(b), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        assert_eq!(n.outstanding.load(Ordering::SeqCst), 0, "B's room is back");
        after.wake_and_drop();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1, "B's task is woken");
        assert_eq!(st.claim(a).map(|c| c.token()), Some(a));
        assert_eq!(st.claim(b).map(|c| c.token()), Some(b));
        assert_eq!(st.waiting, 0);
    }

    #[test]
    fn an_unclaimed_completion_survives_its_slot_being_reused() {
        let mut st = State::new(2);
        let n = counts(3);
        let mut after = After::new();
        st.register(token(0, 0), Plan::AsIs);
        st.deliver(completion(token(0, 0)), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        // The slot is reused before the first future takes its completion.
        assert!(st.claim(token(0, 1)).is_none());
        st.register(token(0, 1), Plan::AsIs);
        assert_eq!(st.waiting, 1);
        st.deliver(completion(token(0, 1)), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        // And reused again, its completion reaped before it is registered.
        st.deliver(completion(token(0, 2)), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        let early = st.claim(token(0, 2)).unwrap();
        st.settle_here(early, &n, &mut after);
        assert_eq!(st.waiting, 0);
        for generation in [1, 0, 2] {
            let c = st.claim(token(0, generation)).unwrap();
            assert_eq!(c.token(), token(0, generation));
        }
        assert!(st.away.is_empty());
        assert_eq!(n.outstanding.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_early_completion_settled_after_its_slot_was_reused_stays_apart() {
        // A submits t; another thread reaps t's completion before A registers; C's
        // request takes the slot and registers; then A settles t.
        let mut st = State::new(2);
        let n = counts(2);
        let mut after = After::new();
        st.deliver(completion(token(1, 0)), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        assert!(st.claim(token(1, 1)).is_none());
        st.register(token(1, 1), Plan::AsIs);
        let early = st.claim(token(1, 0)).expect("spilled, still there");
        st.settle_here(early, &n, &mut after);
        st.deliver(completion(token(1, 1)), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        assert_eq!((st.waiting, n.outstanding.load(Ordering::SeqCst)), (0, 0));
        assert!(st.claim(token(1, 0)).is_some());
        assert!(st.claim(token(1, 1)).is_some());
    }

    #[test]
    fn an_abandoned_completion_is_dropped_outside_the_table() {
        let mut st = State::new(8);
        let n = counts(2);
        let mut after = After::new();
        st.register(token(5, 0), Plan::AsIs);
        assert!(st.abandon(token(5, 0), &mut after).1);
        st.deliver(completion(token(5, 0)), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        assert!(matches!(after.work[..], [Later::Drop(_)]));
        assert!(!st.needs_arming(), "nothing waits");
        st.register(token(6, 0), Plan::AsIs);
        st.deliver(completion(token(6, 0)), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        let (garbage, waiting) = st.abandon(token(6, 0), &mut after);
        assert!(garbage.is_some() && !waiting);
        assert_eq!(n.outstanding.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_late_refusal_without_a_descriptor_is_delivered_and_counted() {
        let mut st = State::new(8);
        let n = counts(2);
        let mut after = After::new();
        st.register(token(1, 0), Plan::Nowait(None));
        st.deliver(with_res(token(1, 0), -11, 8), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        assert_eq!(st.claim(token(1, 0)).unwrap().raw_result(), -11);
        st.register(token(2, 0), Plan::Nowait(None));
        st.deliver(with_res(token(2, 0), 3, 8), None, &n, &mut after);
        st.flush_freed(&n, &mut after);
        assert_eq!(st.claim(token(2, 0)).unwrap().raw_result(), 3);
        let stats = n.stats.snapshot();
        assert_eq!(
            (stats.refused, stats.late),
            (1, 1),
            "a short count is an answer, not a refusal"
        );
    }

    #[test]
    fn requests_finished_away_reach_their_futures_or_are_dropped() {
        let mut st = State::new(8);
        let n = counts(2);
        let mut after = After::new();
        st.set_away(token(1, 0));
        st.set_away(token(2, 0));
        assert_eq!(st.away_state(token(1, 0)), AwayState::Wanted);
        st.set_waker(token(1, 0), Waker::noop());
        st.set_away_poll(token(2, 0), Some(token(7, 0)));
        assert_eq!(st.cancel_away(token(1, 0)), Err(()), "no poll to cancel");
        assert_eq!(st.cancel_away(token(2, 0)), Ok(token(7, 0)));
        assert_eq!(st.away_state(token(2, 0)), AwayState::Cancelled);
        st.abandon(token(2, 0), &mut after);
        assert!(
            matches!(after.work[..], [Later::Cancel(t)] if t == token(7, 0)),
            "its poll is cancelled"
        );
        assert_eq!(st.away_state(token(2, 0)), AwayState::Gone);
        st.settle_away(completion(token(1, 0)), &n, &mut after);
        st.settle_away(completion(token(2, 0)), &n, &mut after);
        assert_eq!(after.wake.len(), 1);
        assert!(matches!(after.work[..], [Later::Cancel(_), Later::Drop(_)]));
        assert!(st.claim(token(1, 0)).is_some());
        assert!(st.away.is_empty());
        assert_eq!(n.outstanding.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn room_is_counted_and_its_waiters_woken() {
        let n = counts(7);
        assert!(n.try_acquire());
        assert!(!n.try_acquire(), "8 is the capacity");
        let mut st = State::<Vec<u8>>::new(8);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let other = Arc::new(Count(AtomicUsize::new(0)));
        st.wait_for_room(&Waker::from(Arc::clone(&count)));
        st.wait_for_room(&Waker::from(Arc::clone(&count)));
        st.wait_for_room(&Waker::from(Arc::clone(&other)));
        // `will_wake` spares the duplicate (Miri, whose vtables may differ, may not).
        assert!(st.room.len() == 2 || cfg!(miri), "one waker per task");
        assert!(st.needs_arming(), "tasks wait for room");
        let mut after = After::new();
        st.finish(&n, &mut after);
        after.wake_and_drop();
        assert!(count.0.load(Ordering::SeqCst) >= 1);
        assert_eq!(other.0.load(Ordering::SeqCst), 1);
        assert!(st.room.is_empty());
        assert!(n.try_acquire());
    }

    #[test]
    fn the_reactors_wake_up_goes_to_one_waiting_task() {
        let waiters = Arc::new(Waiters {
            state: Lock::new(State::<Vec<u8>>::new(8)),
            counts: counts(3),
        });
        let count = Arc::new(Count(AtomicUsize::new(0)));
        {
            let mut st = waiters.lock();
            st.armed = true;
            for i in 0..3 {
                st.register(token(i, 0), Plan::AsIs);
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
