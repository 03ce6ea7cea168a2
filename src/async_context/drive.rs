//! Driving a context: reaping the ring, delivering completions, arming the reactor.

use super::Inner;
use super::waiters::{After, State, Watch};
use crate::eventfd::EventFd;
use crate::reactor::Reactor;
use crate::request::buf::IoBuf;
use crate::request::completion::{Completion, Token};
use crate::request::op::Op;
use crate::slots::lock::LockGuard;
use rustix::event::PollFlags;
use rustix::io::Errno;
use std::io;
use std::os::fd::BorrowedFd;
use std::task::{self, Poll, Waker};
use std::time::Duration;

/// How many times in a row a future polled for its task reaps and finds the eventfd
/// readable again before it yields to the task's other work.
const ROUNDS: usize = 32;

/// Who is reaping, and what for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Me {
    /// Nobody in particular (arming, `reap_ready`).
    Nobody,
    /// The future of the request with this token.
    Op(Token),
    /// A task waiting for room.
    Room,
}

/// What the reaping task was waiting for, if it came.
pub(super) enum Mine<B> {
    Completion(Completion<B>),
    /// Room for one request, taken.
    Room,
}

/// What one reap found, under the waiters' lock.
pub(super) struct Reaped<B> {
    /// What the reaping task waited for, if it has come (and is now its own).
    pub(super) mine: Option<Mine<B>>,
    /// The readiness count.
    fired: u64,
    /// Whether the reactor was armed.
    armed: bool,
    /// Whether tasks wait while the reactor is not armed.
    needs_arming: bool,
    /// How many completions were taken from the ring.
    pub(super) count: usize,
}

impl<R: Reactor, B: IoBuf + 'static> Inner<R, B> {
    /// [`State::claim`] for the future of `token`, whose wait ends if it takes its
    /// completion: if it was a busy-polling context's poller, nobody is (every path where
    /// a future takes its completion or goes passes through here, `OpFuture::poll`'s fast
    /// path or `OpFuture::abandon`; for other reactors this compiles to the claim alone).
    #[inline(always)]
    fn claim(st: &mut State<B>, token: Token) -> Option<Completion<B>> {
        let claimed = st.claim(token);
        if R::BUSY_POLLS && claimed.is_some() {
            st.leave_spin(token);
        }
        claimed
    }

    /// Reaps what the ring holds into `st`, delivering each completion.
    pub(super) fn reap_into(
        &self,
        st: &mut State<B>,
        me: Option<Token>,
        after: &mut After<B>,
    ) -> Result<usize, Errno> {
        let counts = &self.shared.counts;
        // Each completion straight from the ring to its entry, in ring order.
        let result = self
            .ctx
            .reap_ready_each(|completion| st.deliver(completion, me, counts, after));
        st.flush_freed(counts, after);
        result
    }

    /// Reaps the ring and delivers everything under the waiters' lock, leaving `waker`
    /// with `me` if its wait is not over (under the same hold), then does what the
    /// deliveries left to do. When an earlier reap has delivered `me`'s completion
    /// already, takes it and returns at once (the ring is left to the tasks still
    /// waiting, whose reaper the reactor wakes).
    pub(super) fn reap(&self, me: Me, waker: Option<&Waker>) -> io::Result<Reaped<B>> {
        let mut st = self.shared.lock();
        if let Me::Op(token) = me {
            if let Some(mine) = Self::claim(&mut st, token) {
                return Ok(Reaped {
                    mine: Some(Mine::Completion(mine)),
                    fired: st.fired,
                    armed: st.armed,
                    needs_arming: st.needs_arming(),
                    count: 0,
                });
            }
        }
        let mut after = std::mem::replace(&mut st.spare, After::new());
        let token = match me {
            Me::Op(token) => Some(token),
            _ => None,
        };
        let result = self.reap_into(&mut st, token, &mut after);
        let count = *result.as_ref().unwrap_or(&0);
        let mine = match me {
            Me::Op(token) => {
                let mine = Self::claim(&mut st, token).map(Mine::Completion);
                if let (None, Some(waker)) = (&mine, waker) {
                    // Still waiting: the waker is left under the same hold of the lock as
                    // the reap that did not find the completion, so whoever delivers it
                    // later finds the waker.
                    st.set_waker(token, waker);
                }
                mine
            }
            Me::Room if self.shared.counts.try_acquire() => Some(Mine::Room),
            Me::Room => {
                if let Some(waker) = waker {
                    st.wait_for_room(waker);
                }
                None
            }
            Me::Nobody => None,
        };
        let result = match result {
            Err(e) if mine.is_none() && count == 0 => Err(io::Error::from(e)),
            _ => Ok(Reaped {
                mine,
                fired: st.fired,
                armed: st.armed,
                needs_arming: st.needs_arming(),
                count,
            }),
        };
        self.end_reap(st, after);
        result
    }

    /// The end of a reap: releases the lock, does what the deliveries left in `after`,
    /// and keeps its lists for the next reap.
    #[inline]
    fn end_reap(&self, mut st: LockGuard<'_, State<B>>, after: After<B>) {
        if after.wake.is_empty() && after.work.is_empty() {
            // Nothing to do outside the lock: the lists go back now, without locking
            // again.
            if !st.spare.has_room() {
                // What is replaced has no room: no allocation, nothing to drop.
                std::mem::forget(std::mem::replace(&mut st.spare, after));
            }
            return;
        }
        self.end_reap_with_work(st, after);
    }

    /// [`end_reap`](Self::end_reap) when there are tasks to wake or work to do.
    #[inline(never)]
    fn end_reap_with_work(&self, st: LockGuard<'_, State<B>>, mut after: After<B>) {
        drop(st);
        self.run_after_keep(&mut after);
        if after.has_room() {
            // Back for the next reap (a concurrent one may have left its own: keep one).
            let mut st = self.shared.lock();
            if !st.spare.has_room() {
                st.spare = after;
            }
        }
    }

    /// What the future of `token` polls when its completion was not there under `st`
    /// (the poll looks first, inline): [`reap`](Self::reap) under the same hold of the
    /// lock, then, if the completion has not come, waits as [`drive`](Self::drive) does.
    #[inline]
    pub(super) fn poll_missing(
        &self,
        mut st: LockGuard<'_, State<B>>,
        token: Token,
        waker: &Waker,
    ) -> io::Result<Option<Completion<B>>> {
        let mut after = std::mem::replace(&mut st.spare, After::new());
        let result = self.reap_into(&mut st, Some(token), &mut after);
        if let Some(completion) = Self::claim(&mut st, token) {
            let needs_arming = st.needs_arming();
            self.end_reap(st, after);
            if needs_arming {
                self.arm();
            }
            return Ok(Some(completion));
        }
        // Left under the same hold as the reap that did not find the completion: whoever
        // delivers it later finds the waker.
        st.set_waker(token, waker);
        if R::BUSY_POLLS && st.is_spinner(token) {
            // The poller: looks at the ring again at its task's next turn.
            self.end_reap(st, after);
            result.map_err(io::Error::from)?;
            waker.wake_by_ref();
            return Ok(None);
        }
        let reaped = match result {
            Err(e) => Err(io::Error::from(e)),
            Ok(count) => Ok(Reaped {
                mine: None,
                fired: st.fired,
                armed: st.armed,
                needs_arming: st.needs_arming(),
                count,
            }),
        };
        self.end_reap(st, after);
        let reaped = reaped?;
        if reaped.armed {
            // The reactor will wake one of the waiting tasks, which reaps for all.
            return Ok(None);
        }
        match self.drive_from(Some(reaped), Me::Op(token), Some(waker))? {
            Some(Mine::Completion(completion)) => Ok(Some(completion)),
            _ => Ok(None),
        }
    }

    /// Reaps and delivers; if `me`'s wait is not over and the reactor is not armed, arms
    /// it (draining the eventfd, and reaping again, as long as it was readable), then
    /// reaps once more. Returns what `me` waited for if it came; before returning it,
    /// arms the reactor for the tasks still waiting if need be (the reactor's last
    /// wake-up may have gone to `me`'s task).
    pub(super) fn drive(&self, me: Me, waker: Option<&Waker>) -> io::Result<Option<Mine<B>>> {
        self.drive_from(None, me, waker)
    }

    /// [`drive`](Self::drive); `first`: the first reap, done by the caller (who left
    /// `waker` with `me` in it).
    fn drive_from(
        &self,
        mut first: Option<Reaped<B>>,
        me: Me,
        waker: Option<&Waker>,
    ) -> io::Result<Option<Mine<B>>> {
        let task_waker = waker;
        let mut waker = waker;
        let mut rounds = 0;
        loop {
            rounds += 1;
            if rounds > ROUNDS {
                if let Some(task_waker) = task_waker {
                    // Completions keep coming: let the task's other work run, then
                    // carry on (its waker is kept, and it is woken now).
                    task_waker.wake_by_ref();
                    return Ok(None);
                }
            }
            // A task waiting for room leaves its waker on every reap (the list is
            // emptied whenever room frees); a future leaves it once.
            let leave = if me == Me::Room {
                task_waker
            } else {
                waker.take()
            };
            let reaped = match first.take() {
                Some(reaped) => reaped,
                None => self.reap(me, leave)?,
            };
            if let Some(mine) = reaped.mine {
                if reaped.needs_arming {
                    self.arm();
                }
                return Ok(Some(mine));
            }
            if reaped.armed {
                // The reactor will wake one of the waiting tasks, which reaps for all.
                return Ok(None);
            }
            if R::BUSY_POLLS {
                self.spin(me, task_waker);
                return Ok(None);
            }
            let mut cx = task::Context::from_waker(&self.readiness);
            match self
                .reactor
                .poll_read(&mut cx, &mut || EventFd::drain_of(self.ctx.eventfd()))
            {
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => return Err(reactor_error(e)),
                Poll::Pending => {
                    {
                        let mut st = self.shared.lock();
                        // If the reactor fired since this thread looked, the registration
                        // just made may be spent already: leave `armed` unset.
                        if st.fired == reaped.fired {
                            st.armed = true;
                        }
                    }
                    // Completions posted between the last reap and the arming.
                    return self
                        .reap(me, if me == Me::Room { task_waker } else { None })
                        .map(|r| r.mine);
                }
            }
        }
    }

    /// A busy-polling context's arming: unless a poller is at work, `me` becomes it (a
    /// future: its task is woken at once, and looks at the ring again at its next turn),
    /// or, for nobody in particular, a waiting future is made the poller and its task
    /// woken. A task waiting for room wakes itself, without becoming the poller.
    #[cold]
    fn spin(&self, me: Me, task_waker: Option<&Waker>) {
        let other = {
            let mut st = self.shared.lock();
            if st.armed {
                return;
            }
            match (me, task_waker) {
                (Me::Op(token), Some(_)) => {
                    st.spin_on((token.index, token.generation));
                    None
                }
                (Me::Room, Some(_)) => None,
                _ => st.pick_spinner(),
            }
        };
        match (other, task_waker) {
            (Some(waker), _) => waker.wake(),
            // A future made the poller, or a task waiting for room: its own task.
            (None, Some(waker)) => waker.wake_by_ref(),
            _ => {}
        }
    }

    /// [`AsyncContext::park`](super::AsyncContext::park): waits for a completion in the
    /// kernel (the reaper held), then delivers what is ready under the waiters' lock,
    /// taken before the slot table as in every other reap.
    pub(super) fn park(&self, timeout: Option<Duration>) -> io::Result<usize> {
        let counts = &self.shared.counts;
        let (result, held) = self.ctx.wait_each(
            timeout,
            || {
                let mut st = self.shared.lock();
                let after = std::mem::replace(&mut st.spare, After::new());
                (st, after)
            },
            |(st, after), completion| st.deliver(completion, None, counts, after),
        );
        if let Some((mut st, mut after)) = held {
            st.flush_freed(counts, &mut after);
            // No arming here, even on an eventfd context: a reactor left unarmed has
            // woken a task, which arms it again when it polls (or when it finishes).
            self.end_reap(st, after);
        }
        result.map_err(io::Error::from)
    }

    /// Submits `block_on`'s poll request of `fd` if no other is in flight, under the
    /// waiters' lock (so that no reap delivers it before it is registered). Returns
    /// whether one of this caller's is now in flight or fired.
    pub(super) fn arm_watch(&self, fd: BorrowedFd<'_>) -> io::Result<bool> {
        let mut st = self.shared.lock();
        if st.watch != Watch::Free {
            return Ok(false);
        }
        let token = self
            .ctx
            .submit(Op::poll(fd, PollFlags::IN))
            .map_err(|r| io::Error::from(r.error))?;
        st.arm_watch(token);
        Ok(true)
    }

    /// Whether `block_on`'s poll request completed (it may then arm another).
    pub(super) fn watch_fired(&self) -> bool {
        let mut st = self.shared.lock();
        if let Watch::Fired(_) = st.watch {
            st.watch = Watch::Free;
            return true;
        }
        false
    }

    /// `block_on` returns: its poll request, if in flight, is cancelled; nobody arms
    /// another until its completion has come.
    pub(super) fn leave_watch(&self) {
        let armed = {
            let mut st = self.shared.lock();
            match st.watch {
                Watch::Armed(token) => {
                    st.watch = Watch::Left(token);
                    Some(token)
                }
                Watch::Fired(_) => {
                    st.watch = Watch::Free;
                    None
                }
                _ => None,
            }
        };
        if let Some(token) = armed {
            // EINVAL: it completed meanwhile; its completion frees the watch when reaped.
            let _ = self.ctx.cancel(token);
        }
    }

    /// Arms the reactor (for tasks left waiting by one that finishes or goes).
    pub(super) fn arm(&self) {
        // Errors here belong to the tasks still waiting, which see them when polled.
        let _ = self.drive(Me::Nobody, None);
    }
}

/// The reactor's error, said to come from the reactor: the usual cause is a runtime
/// that has shut down while the context's futures lived on.
fn reactor_error(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "rawaio::AsyncContext: its reactor cannot watch the context's eventfd any more \
             (was the runtime it was created in shut down?): {e}"
        ),
    )
}
