//! Finishing what the kernel refused: a readiness poll then a resubmission on the same
//! context, a resubmission without `RWF_NOWAIT`, or a helper thread (the table in
//! [`AsyncPolicy`](super::AsyncPolicy)'s docs).
//!
//! Each step of a refused request is an internal request of the context, registered in
//! the waiters' table under its own slot ([`Entry::Internal`](super::waiters::Entry)),
//! whose completion leads to the next step; the request's future waits for the final
//! completion in the map of requests away from their slot. Steps run in whichever thread
//! reaps their completion (or submitted the request), outside the waiters' lock, and
//! never block: every submission here either carries `RWF_NOWAIT`, is a poll, or is of
//! a file whose I/O does not wait (`O_DIRECT`, tmpfs).

use super::Inner;
use super::job::Job;
use super::policy::{Counters, Dir, Kind, classify, waits_for_nothing};
use super::waiters::{After, AwayState, Later, Step, is_refusal};
use crate::error::Error;
use crate::reactor::Reactor;
use crate::request::buf::IoBuf;
use crate::request::completion::{Completion, Token};
use crate::request::op::{Bufs, Op};
use rustix::event::PollFlags;
use rustix::io::Errno;
use std::os::fd::AsFd;

/// After how many readiness polls that did not let a request through it goes to a
/// helper thread instead (a file whose poll says ready while its reads refuse).
const MAX_POLLS: u32 = 16;

/// What is left to do for refused requests.
pub(super) enum Work<B> {
    /// A request refused (or cut short) with `res`.
    Refused(Job<B>, i64),
    /// An internal request completed.
    Step(Box<Step<B>>, Completion<B>),
}

fn neg(errno: Errno) -> i64 {
    -i64::from(errno.raw_os_error())
}

fn errno_of(e: &Error) -> Errno {
    e.errno().unwrap_or(Errno::INVAL)
}

impl<R: Reactor, B: IoBuf + 'static> Inner<R, B> {
    /// [`run_after`](Self::run_after), leaving `after`'s lists empty (with their
    /// capacity) for the caller to keep.
    #[inline]
    pub(super) fn run_after_keep(&self, after: &mut After<B>) {
        after.wake_and_drop();
        if !after.work.is_empty() {
            let mut work = Vec::new();
            self.absorb(after, &mut work);
            self.work(work);
        }
    }

    /// Wakes and drops what `after` holds, then does the work it left.
    #[inline(always)]
    pub(super) fn run_after(&self, after: After<B>) {
        if after.wake.capacity() == 0 && after.work.capacity() == 0 {
            // Never used (no room, so empty): nothing to do, no drop glue.
            std::mem::forget(after);
            return;
        }
        self.run_after_used(after);
    }

    /// [`run_after`](Self::run_after) of lists that were used.
    #[inline(never)]
    fn run_after_used(&self, mut after: After<B>) {
        after.wake_and_drop();
        if !after.work.is_empty() {
            let mut work = Vec::new();
            self.absorb(&mut after, &mut work);
            self.work(work);
        }
        if after.work.capacity() == 0 && after.wake.capacity() == 0 {
            // Nothing allocated, nothing left: skip the drop glue (it shows on the
            // per-request path).
            std::mem::forget(after);
        }
    }

    /// Wakes and drops what `after` holds, cancels the polls it names, and turns the rest
    /// into `work`.
    fn absorb(&self, after: &mut After<B>, work: &mut Vec<Work<B>>) {
        after.wake_and_drop();
        for later in after.work.drain(..) {
            match later {
                Later::Cancel(token) => {
                    // EINVAL: it completed meanwhile; its step sees the future gone.
                    let _ = self.ctx.cancel(token);
                }
                Later::Refused(retry, c) => {
                    let job = Job {
                        original: c.token,
                        shell: retry.shell,
                        named: retry.fd.raw(),
                        fd: retry.fd,
                        bufs: c.bufs,
                        requested: c.requested,
                        done: 0,
                        class: None,
                        polls: 0,
                    };
                    work.push(Work::Refused(job, c.res));
                }
                Later::Step(step, c) => work.push(Work::Step(step, c)),
                Later::Release(retry) => drop(retry),
                Later::Drop(completion) => drop(completion),
            }
        }
    }

    /// Does `work`, and the work it leads to, until none is left.
    pub(super) fn work(&self, mut work: Vec<Work<B>>) {
        while let Some(next) = work.pop() {
            match next {
                Work::Refused(job, res) => self.refused(job, res, &mut work),
                Work::Step(step, c) => self.step_done(*step, c, &mut work),
            }
        }
    }

    /// The final completion of a request finished away from its slot.
    pub(super) fn settle(&self, job: Job<B>, res: i64) {
        self.settle_completion(job.complete(res));
    }

    /// `completion` (which carries its request's original token) is its request's
    /// answer.
    pub(super) fn settle_completion(&self, completion: Completion<B>) {
        let mut after = After::new();
        self.shared
            .lock()
            .settle_away(completion, &self.shared.counts, &mut after);
        after.wake_and_drop();
    }

    /// A request the kernel refused with `res` (an errno, or a short count).
    fn refused(&self, mut job: Job<B>, res: i64, work: &mut Vec<Work<B>>) {
        let stats = &self.shared.counts.stats;
        let kind = match job.class {
            Some(kind) => kind,
            None => match classify(job.fd.as_fd()) {
                Ok(kind) => kind,
                Err(_) => return self.settle(job, res),
            },
        };
        job.class = Some(kind);
        if res == 0 {
            // Nothing transferred: the end of the file (or a pipe's or socket's), or, on
            // Linux 5.10, a buffered read RWF_NOWAIT stopped before its first byte.
            let end = job.shell.offset + job.done;
            if kind.short_is_final(end) || !self.pool.enabled() {
                self.settle(job, 0);
            } else {
                Counters::bump(&stats.refused);
                self.to_helper(job, 0);
            }
            return;
        }
        if res > 0 {
            // Cut short: finish the rest where a short count does not mean the end.
            let end = job.shell.offset + job.done + res as u64;
            if kind.short_is_final(end) || !self.pool.enabled() {
                self.settle(job, res);
            } else {
                Counters::bump(&stats.refused);
                Counters::bump(&stats.continued);
                job.done += res as u64;
                self.to_helper(job, 0);
            }
            return;
        }
        let unsupported = res == neg(Errno::OPNOTSUPP);
        match kind {
            Kind::Pollable => {
                Counters::bump(&stats.refused);
                job.polls += 1;
                if job.polls > MAX_POLLS {
                    self.to_helper(job, res);
                } else {
                    self.poll_then(job, !unsupported, work);
                }
            }
            Kind::Regular { .. } | Kind::Block => {
                Counters::bump(&stats.refused);
                // A file that does not wait without the flag (O_DIRECT, tmpfs) goes again
                // as given, whatever the refusal: `EOPNOTSUPP`, or `EAGAIN`, which an
                // O_DIRECT read gets when pages of its range are in the page cache (Linux
                // 5.10, even clean ones; later kernels only dirty ones, which the read
                // then writes back first). Later requests skip the attempt (the hint):
                // on 5.10 the pages stay cached, and every attempt would be refused.
                let quick = waits_for_nothing(job.fd.as_fd(), kind);
                if unsupported || quick {
                    if let Some((dir, _)) = self.policy.mode(job.shell.opcode) {
                        self.hints.learn(job.named, dir);
                    }
                }
                let read = matches!(self.policy.mode(job.shell.opcode), Some((Dir::Read, _)));
                if read && kind.short_is_final(job.shell.offset + job.done) {
                    // At or past the end of the file (Linux 5.10 refuses such a read with
                    // EAGAIN): without the flag, it reads nothing.
                    return self.settle(job, 0);
                }
                if quick {
                    Counters::bump(&stats.inline);
                    self.resubmit(job, false, work);
                } else {
                    self.to_helper(job, res);
                }
            }
            Kind::Other => self.settle(job, res),
        }
    }

    /// Waits for the request's file to be ready (an internal poll), then resubmits it,
    /// with `RWF_NOWAIT` if `nowait`.
    pub(super) fn poll_then(&self, job: Job<B>, nowait: bool, work: &mut Vec<Work<B>>) {
        Counters::bump(&self.shared.counts.stats.polled);
        let events = match self.policy.mode(job.shell.opcode) {
            Some((Dir::Write, _)) => PollFlags::OUT,
            _ => PollFlags::IN,
        };
        let mut op = Op::<B>::poll(&job.fd, events);
        match self.ctx.submit_in_place(&mut op) {
            Ok(token) => {
                drop(op);
                let original = job.original;
                let step = Step {
                    job,
                    poll: true,
                    nowait,
                };
                self.register_step(token, step, Some(original), work);
            }
            Err(e) => {
                drop(op);
                self.settle(job, neg(errno_of(&e)));
            }
        }
    }

    /// Resubmits the request (the rest of it, if it was cut short), with `RWF_NOWAIT` if
    /// `nowait`.
    fn resubmit(&self, mut job: Job<B>, nowait: bool, work: &mut Vec<Work<B>>) {
        let bufs = std::mem::replace(&mut job.bufs, Bufs::None);
        let mut op = job.shell.op(&job.fd, bufs, nowait, job.done);
        let result = self.ctx.submit_in_place(&mut op);
        let bufs = std::mem::replace(&mut op.bufs, Bufs::None);
        drop(op);
        match result {
            Ok(token) => {
                let step = Step {
                    job,
                    poll: false,
                    nowait,
                };
                self.register_step(token, step, None, work);
            }
            Err(e) => {
                job.bufs = bufs;
                let errno = errno_of(&e);
                if nowait && errno == Errno::OPNOTSUPP {
                    work.push(Work::Refused(job, neg(errno)));
                } else {
                    self.settle(job, neg(errno));
                }
            }
        }
    }

    /// Registers an internal request just submitted (reaping first, so that one that
    /// completed inside `io_submit` is handled at once).
    fn register_step(
        &self,
        token: Token,
        step: Step<B>,
        poll_for: Option<Token>,
        work: &mut Vec<Work<B>>,
    ) {
        let mut after = After::new();
        {
            let mut st = self.shared.lock();
            if self.ctx.ready() > 0 {
                let _ = self.reap_into(&mut st, None, &mut after);
            }
            match st.claim(token) {
                Some(c) => work.push(Work::Step(Box::new(step), c)),
                None => {
                    if let Some(original) = poll_for {
                        match st.away_state(original) {
                            AwayState::Wanted => st.set_away_poll(original, Some(token)),
                            // Its future went (or cancelled it) while the poll was being
                            // submitted: nobody else will cancel this poll.
                            AwayState::Gone | AwayState::Cancelled => {
                                after.work.push(Later::Cancel(token));
                            }
                        }
                    }
                    st.register_internal(token, step);
                }
            }
        }
        self.absorb(&mut after, work);
    }

    /// An internal request of a refused request completed.
    fn step_done(&self, step: Step<B>, c: Completion<B>, work: &mut Vec<Work<B>>) {
        let Step {
            mut job,
            poll,
            nowait,
        } = step;
        if poll {
            let state = {
                let mut st = self.shared.lock();
                st.set_away_poll(job.original, None);
                st.away_state(job.original)
            };
            match state {
                AwayState::Wanted => self.resubmit(job, nowait, work),
                // Dropped (and so freed) if its future is gone.
                AwayState::Cancelled | AwayState::Gone => {
                    self.settle(job, neg(Errno::CANCELED));
                }
            }
            return;
        }
        let refused = nowait && is_refusal(&c);
        job.bufs = c.bufs;
        if refused {
            work.push(Work::Refused(job, c.res));
        } else {
            self.settle(job, c.res);
        }
    }

    /// Hands `job` to a helper thread; without one, it completes with `fallback`.
    pub(super) fn to_helper(&self, job: Job<B>, fallback: i64) {
        let stats = &self.shared.counts.stats;
        if !self.pool.enabled() {
            Counters::bump(&stats.unfinished);
            return self.settle(job, fallback);
        }
        Counters::bump(&stats.helper);
        if let Err(job) = self.pool.push(job, &self.shared) {
            Counters::bump(&stats.unfinished);
            self.settle(job, fallback);
        }
    }
}
