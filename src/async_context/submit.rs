//! Submitting under the policy: deciding whether a read or write carries `RWF_NOWAIT`,
//! submitting one request or a batch, and catching the refusals that happen inside
//! `io_submit`, while the requests' descriptors are open for sure.
//!
//! # Safety
//!
//! A request refused inside the call that submitted it is finished with a duplicate of
//! its descriptor when it only borrowed it; the duplicate is made from the descriptor
//! number ([`Fd::keep`]) before the submitting call returns, while the request's borrow
//! (which outlives the call) keeps the number naming the same open file.

#![allow(unsafe_code)]

use super::job::{Fd, Job, Shell, split};
use super::policy::{Counters, Kind, RwMode, classify, is_direct, waits_for_nothing};
use super::route::Work;
use super::waiters::{After, Plan, Retry, State, is_refusal};
use super::{Batch, Inner};
use crate::context::{Rejected, Submitted};
use crate::error::Error;
use crate::reactor::Reactor;
use crate::request::buf::IoBuf;
use crate::request::completion::{Completion, Token};
use crate::request::fd::IntoTarget;
use crate::request::op::Op;
use rawaio_abi::{IOCB_CMD_POLL, RwfFlags};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::Ordering;

/// A request refused inside the call that submitted it.
struct Early<B> {
    token: Token,
    shell: Shell<B>,
    /// Still open: the call has not returned.
    fd: Fd,
    completion: Completion<B>,
}

/// What to do with a read or write before trying the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    /// Submit it, with `RWF_NOWAIT` added or not.
    Kernel { nowait: bool },
    /// Its file refused `RWF_NOWAIT` before and would block: straight to a helper.
    Helper,
}

/// What the policy concluded about a file that refused `RWF_NOWAIT` before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Its I/O does not wait (`O_DIRECT`, tmpfs): submit as given.
    AsGiven,
    /// It would wait: a helper's.
    Helper,
    /// Try the flag again.
    Try,
}

/// Files looked at during one submitting call (where a descriptor number names one file
/// throughout, since the requests borrowing or holding it are alive).
#[derive(Default)]
struct Memo {
    seen: [Option<(RawFd, Verdict)>; 4],
    next: usize,
    /// Requests submitted as given on a verdict (for the counters, added at the end).
    inline: u64,
}

impl Memo {
    /// The verdict on `fd`: the last file's without looking further when it is the same
    /// descriptor (a batch's requests usually share one).
    #[inline]
    fn get(&mut self, fd: BorrowedFd<'_>, helpers: bool) -> Verdict {
        let raw = fd.as_raw_fd();
        if self.next > 0 {
            if let Some((last, verdict)) = self.seen[(self.next - 1) % self.seen.len()] {
                if last == raw {
                    return verdict;
                }
            }
        }
        self.look(fd, raw, helpers)
    }

    #[inline(never)]
    fn look(&mut self, fd: BorrowedFd<'_>, raw: RawFd, helpers: bool) -> Verdict {
        if self.next > 0 {
            if let Some((_, verdict)) = self.seen.iter().flatten().find(|(f, _)| *f == raw) {
                return *verdict;
            }
        }
        // O_DIRECT, the usual case, costs one fcntl; the rest an fstat (and fstatfs).
        let verdict = if is_direct(fd).unwrap_or(false) {
            Verdict::AsGiven
        } else {
            match classify(fd) {
                Ok(kind @ (Kind::Regular { .. } | Kind::Block)) => {
                    if waits_for_nothing(fd, kind) {
                        Verdict::AsGiven
                    } else if helpers {
                        Verdict::Helper
                    } else {
                        Verdict::Try
                    }
                }
                _ => Verdict::Try,
            }
        };
        self.seen[self.next % self.seen.len()] = Some((raw, verdict));
        self.next += 1;
        verdict
    }
}

impl<R: Reactor, B: IoBuf + 'static> Inner<R, B> {
    /// What to do with `op` under the policy, before trying the kernel.
    /// `fd`: the number of `op`'s descriptor.
    fn decide(&self, op: &Op<'_, B>, fd: RawFd, memo: &mut Memo) -> Decision {
        let Some((dir, mode)) = self.policy.mode(op.opcode) else {
            return Decision::Kernel { nowait: false };
        };
        if mode == RwMode::AsGiven || op.rw_flags.contains(RwfFlags::NOWAIT) {
            return Decision::Kernel { nowait: false };
        }
        if !self.hints.refuses(fd, dir) {
            return Decision::Kernel { nowait: true };
        }
        // The file refused RWF_NOWAIT before: look at it (it may be another by now).
        match memo.get(op.fd.as_fd(), self.pool.enabled()) {
            Verdict::AsGiven => {
                memo.inline += 1;
                Decision::Kernel { nowait: false }
            }
            Verdict::Helper => Decision::Helper,
            Verdict::Try => Decision::Kernel { nowait: true },
        }
    }

    /// A token for a request that holds no slot (refused at submission).
    fn detached_token(&self) -> Token {
        Token {
            index: u32::MAX,
            generation: self.detached.fetch_add(1, Ordering::Relaxed),
            context: 0,
        }
    }

    /// Submits one request (its room taken): returns the token its future waits for.
    #[allow(clippy::result_large_err)]
    pub(super) fn submit_one<'fd>(&self, mut op: Op<'fd, B>) -> Result<Token, Rejected<'fd, B>> {
        let mut memo = Memo::default();
        let nowait = match self.decide(&op, op.fd.raw(), &mut memo) {
            Decision::Helper => return self.divert(op),
            Decision::Kernel { nowait } => nowait,
        };
        if nowait {
            op.rw_flags.insert(RwfFlags::NOWAIT);
        }
        match self.ctx.submit_in_place(&mut op) {
            Ok(token) => {
                self.count(u64::from(nowait), u64::from(!nowait), &memo);
                let parts = nowait.then(|| {
                    let (shell, fd, _) = split(op, true);
                    (shell, fd)
                });
                let mut refusals = Vec::new();
                let mut after = After::new();
                {
                    let mut st = self.shared.lock();
                    self.reap_after_submit(&mut st, nowait, &mut after);
                    self.settle_submitted(&mut st, token, parts, &mut refusals, &mut after);
                }
                self.run_after(after);
                self.refused_early(refusals);
                Ok(token)
            }
            Err(Error::Os(Errno::OPNOTSUPP)) if nowait => {
                op.rw_flags.remove(RwfFlags::NOWAIT);
                self.refused_at_submit(op)
            }
            Err(error) => {
                if nowait {
                    op.rw_flags.remove(RwfFlags::NOWAIT);
                }
                Err(Rejected { error, op })
            }
        }
    }

    /// Submits from the front of `ops`; `accepted` is told each accepted request's token
    /// and whether it is a poll.
    #[inline]
    pub(super) fn submit_many(
        &self,
        ops: &mut VecDeque<Op<'_, B>>,
        batch: &mut Batch<B>,
        mut accepted: impl FnMut(Token, bool),
    ) -> Submitted {
        let counts = &self.shared.counts;
        let mut memo = Memo::default();
        let mut total = 0;
        loop {
            if ops.is_empty() {
                return Submitted {
                    accepted: total,
                    error: None,
                };
            }
            // Take room for as many as possible at once.
            let want = ops.len().min(64);
            let room = counts
                .outstanding
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    let k = counts.capacity.saturating_sub(n).min(want);
                    (k > 0).then_some(n + k)
                })
                .map_or(0, |n| counts.capacity.saturating_sub(n).min(want));
            if room == 0 {
                return Submitted {
                    accepted: total,
                    error: Some(Errno::AGAIN.into()),
                };
            }
            // Decide, setting RWF_NOWAIT; stop before a request for a helper.
            // Bit `i` of `ours`: the policy added RWF_NOWAIT to the `i`th request; of
            // `polls`: it is a poll (whose future cancels it when dropped). `room` <= 64.
            let mut n = 0;
            let mut ours = 0u64;
            let mut polls = 0u64;
            // The last decision, for the next request with the same opcode, descriptor and
            // flags (a batch's requests are usually alike): within one call, the decision
            // depends on nothing else (the memo's verdict on a descriptor holds for the
            // call), and the hints are only hints. -1: no descriptor (none yet).
            let mut last_fd: RawFd = -1;
            let mut last_op = (0u16, RwfFlags::empty());
            let mut last = (Decision::Helper, false);
            for op in ops.iter_mut().take(room) {
                let fd = op.fd.raw();
                let decision = if fd == last_fd && (op.opcode, op.rw_flags) == last_op {
                    // The bool: it counted as inline.
                    memo.inline += u64::from(last.1);
                    last.0
                } else {
                    let before = memo.inline;
                    let decision = self.decide(op, fd, &mut memo);
                    (last_fd, last_op) = (fd, (op.opcode, op.rw_flags));
                    last = (decision, memo.inline != before);
                    decision
                };
                match decision {
                    Decision::Helper => break,
                    Decision::Kernel { nowait } => {
                        if nowait {
                            op.rw_flags.insert(RwfFlags::NOWAIT);
                            ours |= 1 << n;
                        }
                        if op.opcode == IOCB_CMD_POLL {
                            polls |= 1 << n;
                        }
                        n += 1;
                    }
                }
            }
            for _ in n.max(1)..room {
                self.shared.release();
            }
            if n == 0 {
                let op = ops.pop_front().expect("not empty");
                let poll = op.opcode == IOCB_CMD_POLL;
                match self.divert(op) {
                    Ok(token) => {
                        accepted(token, poll);
                        total += 1;
                        continue;
                    }
                    Err(rejected) => {
                        ops.push_front(rejected.op);
                        self.shared.release();
                        return Submitted {
                            accepted: total,
                            error: Some(rejected.error),
                        };
                    }
                }
            }
            batch.tokens.clear();
            batch.parts.clear();
            let s = if n == 1 {
                // One request: submitted in place, without the batch's machinery.
                let op = ops.front_mut().expect("the request to submit");
                match self.ctx.submit_in_place(op) {
                    Ok(token) => {
                        batch.tokens.push(token);
                        let op = ops.pop_front().expect("the request submitted");
                        if ours != 0 {
                            let (shell, fd, _) = split(op, true);
                            batch.parts.push((shell, fd));
                        }
                        Submitted {
                            accepted: 1,
                            error: None,
                        }
                    }
                    // Whole again, at the front.
                    Err(error) => Submitted {
                        accepted: 0,
                        error: Some(error),
                    },
                }
            } else if ours == 0 {
                // Nothing to resubmit: the accepted requests are dropped in place.
                self.ctx.submit_batch_with(ops, n, &mut batch.tokens, None)
            } else {
                // The accepted requests come out in order: keep the parts of those that
                // carry the policy's RWF_NOWAIT.
                let mut i = 0;
                let parts = &mut batch.parts;
                self.ctx.submit_batch_with(
                    ops,
                    n,
                    &mut batch.tokens,
                    Some(&mut |op| {
                        if ours & (1 << i) != 0 {
                            let (shell, fd, _) = split(op, true);
                            parts.push((shell, fd));
                        }
                        i += 1;
                    }),
                )
            };
            let nowait = batch.parts.len() as u64;
            self.count(nowait, s.accepted as u64 - nowait, &memo);
            memo.inline = 0;
            // The requests not accepted go back as they were, and give their room back.
            if s.accepted < n {
                for (pos, op) in ops.iter_mut().take(n - s.accepted).enumerate() {
                    if ours & (1 << (s.accepted + pos)) != 0 {
                        op.rw_flags.remove(RwfFlags::NOWAIT);
                    }
                    self.shared.release();
                }
            }
            let mut refusals = Vec::new();
            let mut after = After::new();
            {
                let mut st = self.shared.lock();
                self.reap_after_submit(&mut st, ours != 0, &mut after);
                if ours == 0 {
                    for (i, &token) in batch.tokens.iter().enumerate() {
                        st.register_as_is(token, counts, &mut after);
                        accepted(token, polls & (1 << i) != 0);
                    }
                } else {
                    let mut parts = batch.parts.drain(..);
                    for (i, &token) in batch.tokens.iter().enumerate() {
                        let parts = if ours & (1 << i) != 0 {
                            parts.next()
                        } else {
                            None
                        };
                        self.settle_submitted(&mut st, token, parts, &mut refusals, &mut after);
                        accepted(token, polls & (1 << i) != 0);
                    }
                }
            }
            self.run_after(after);
            if refusals.is_empty() {
                // Nothing pushed, so nothing allocated: no drop glue to run.
                std::mem::forget(refusals);
            } else {
                self.refused_early(refusals);
            }
            total += s.accepted;
            match s.error {
                None => {}
                Some(Error::Os(Errno::OPNOTSUPP)) if ours & (1 << s.accepted) != 0 => {
                    // The front request's file cannot take RWF_NOWAIT (its flag is off
                    // again): route it, then go on.
                    if !counts.try_acquire() {
                        return Submitted {
                            accepted: total,
                            error: Some(Errno::AGAIN.into()),
                        };
                    }
                    let op = ops.pop_front().expect("the refused request");
                    let poll = op.opcode == IOCB_CMD_POLL;
                    match self.refused_at_submit(op) {
                        Ok(token) => {
                            accepted(token, poll);
                            total += 1;
                        }
                        Err(rejected) => {
                            ops.push_front(rejected.op);
                            self.shared.release();
                            return Submitted {
                                accepted: total,
                                error: Some(rejected.error),
                            };
                        }
                    }
                }
                Some(error) => {
                    return Submitted {
                        accepted: total,
                        error: Some(error),
                    };
                }
            }
        }
    }

    /// Adds a submitting call's requests to the counters (once per call: they are
    /// shared by every thread).
    fn count(&self, nowait: u64, as_given: u64, memo: &Memo) {
        let stats = &self.shared.counts.stats;
        for (counter, n) in [
            (&stats.nowait, nowait),
            (&stats.as_given, as_given),
            (&stats.inline, memo.inline),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// After a submission with `RWF_NOWAIT`: takes what completed inside `io_submit`
    /// from the ring, so that a refusal is seen while its descriptor is open.
    fn reap_after_submit(&self, st: &mut State<B>, nowait: bool, after: &mut After<B>) {
        if nowait && (self.ctx.ready() > 0 || !self.ctx.reaps_in_user_space()) {
            // An error here is the futures' to see when they reap.
            let _ = self.reap_into(st, None, after);
        }
    }

    /// Registers an accepted request, or, if it completed already, makes its completion
    /// its answer, or, if that completion is a refusal, queues it on `refusals` (to
    /// finish before the submitting call returns).
    fn settle_submitted(
        &self,
        st: &mut State<B>,
        token: Token,
        parts: Option<(Shell<B>, Fd)>,
        refusals: &mut Vec<Early<B>>,
        after: &mut After<B>,
    ) {
        let Some(parts) = parts else {
            st.register_as_is(token, &self.shared.counts, after);
            return;
        };
        let parts = Some(parts);
        let Some(completion) = st.claim(token) else {
            let plan = match parts {
                None => Plan::AsIs,
                Some((shell, Fd::Held(fd))) => Plan::Nowait(Some(Retry { shell, fd })),
                Some((_, Fd::Lent(_))) => Plan::Nowait(None),
            };
            st.register(token, plan);
            return;
        };
        match parts {
            Some((shell, fd)) if is_refusal(&completion) => {
                st.set_away(token);
                refusals.push(Early {
                    token,
                    shell,
                    fd,
                    completion,
                });
            }
            _ => st.settle_here(completion, &self.shared.counts, after),
        }
    }

    /// Finishes requests refused inside the submitting call (whose lent descriptors are
    /// still open).
    fn refused_early(&self, refusals: Vec<Early<B>>) {
        for early in refusals {
            let c = early.completion;
            // SAFETY: still inside the submitting call that took the request apart.
            let fd = unsafe { early.fd.borrow() };
            let named = fd.as_raw_fd();
            let kind = classify(fd).ok();
            let end = early.shell.offset + c.res.max(0) as u64;
            let final_short = c.res >= 0 && kind.is_none_or(|k| k.short_is_final(end));
            if final_short {
                // The end of the file, or a socket's partial read (or its end): the
                // answer as it is.
                self.settle_completion(c);
                continue;
            }
            // SAFETY: as above.
            match unsafe { early.fd.keep() } {
                Ok(fd) => {
                    let job = Job {
                        original: early.token,
                        shell: early.shell,
                        fd,
                        named,
                        bufs: c.bufs,
                        requested: c.requested,
                        done: 0,
                        class: kind,
                        polls: 0,
                    };
                    self.work(vec![Work::Refused(job, c.res)]);
                }
                // No descriptor to retry with (out of descriptors): the refusal is the
                // answer.
                Err(_) => self.settle_completion(c),
            }
        }
    }

    /// A request its file refused `RWF_NOWAIT` for at submission (`EOPNOTSUPP`), its
    /// flag off again.
    #[allow(clippy::result_large_err)]
    fn refused_at_submit<'fd>(&self, mut op: Op<'fd, B>) -> Result<Token, Rejected<'fd, B>> {
        let stats = &self.shared.counts.stats;
        let rejected = |op| Rejected {
            error: Errno::OPNOTSUPP.into(),
            op,
        };
        let Ok(kind) = classify(op.fd.as_fd()) else {
            return Err(rejected(op));
        };
        if let (Some((dir, _)), Kind::Regular { .. } | Kind::Block) =
            (self.policy.mode(op.opcode), kind)
        {
            self.hints.learn(op.fd.raw(), dir);
        }
        match kind {
            Kind::Regular { .. } | Kind::Block if waits_for_nothing(op.fd.as_fd(), kind) => {
                Counters::bump(&stats.refused);
                Counters::bump(&stats.inline);
                match self.ctx.submit_in_place(&mut op) {
                    Ok(token) => {
                        Counters::bump(&stats.as_given);
                        let mut after = After::new();
                        {
                            let mut st = self.shared.lock();
                            match st.claim(token) {
                                Some(c) => st.settle_here(c, &self.shared.counts, &mut after),
                                None => st.register(token, Plan::AsIs),
                            }
                        }
                        self.run_after(after);
                        Ok(token)
                    }
                    Err(error) => Err(Rejected { error, op }),
                }
            }
            Kind::Regular { .. } | Kind::Block if self.pool.enabled() => {
                Counters::bump(&stats.refused);
                self.divert(op)
            }
            Kind::Pollable => {
                Counters::bump(&stats.refused);
                let (token, mut job) = self.detach(op)?;
                job.class = Some(kind);
                let mut work = Vec::new();
                self.poll_then(job, false, &mut work);
                self.work(work);
                Ok(token)
            }
            _ => Err(rejected(op)),
        }
    }

    /// Takes a request not yet submitted apart, for finishing it away from the kernel's
    /// first answer: checks it as a submission would, keeps its descriptor (a duplicate
    /// of a borrowed one), and gives it a token of its own.
    #[allow(clippy::result_large_err)]
    fn detach<'fd>(&self, mut op: Op<'fd, B>) -> Result<(Token, Job<B>), Rejected<'fd, B>> {
        let checked = match crate::request::check::check(&mut op, true) {
            Ok(checked) => checked,
            Err(e) => {
                return Err(Rejected {
                    error: e.into(),
                    op,
                });
            }
        };
        let dup = if op.fd.is_held() {
            None
        } else {
            match rustix::io::fcntl_dupfd_cloexec(&op.fd, 0) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    return Err(Rejected {
                        error: e.into(),
                        op,
                    });
                }
            }
        };
        let named = op.fd.raw();
        let (shell, fd, bufs) = split(op, false);
        let fd = match (fd, dup) {
            (Fd::Held(fd), _) => fd,
            (Fd::Lent(_), Some(dup)) => dup.into_target(),
            // `is_held` is false exactly for a borrowed descriptor, which is duplicated.
            (Fd::Lent(_), None) => unreachable!("a borrowed descriptor is duplicated"),
        };
        let token = self.detached_token();
        self.shared.lock().set_away(token);
        let job = Job {
            original: token,
            shell,
            fd,
            named,
            bufs,
            requested: checked.len,
            done: 0,
            class: None,
            polls: 0,
        };
        Ok((token, job))
    }

    /// A request for a helper thread straight away.
    #[allow(clippy::result_large_err)]
    fn divert<'fd>(&self, op: Op<'fd, B>) -> Result<Token, Rejected<'fd, B>> {
        let (token, job) = self.detach(op)?;
        self.to_helper(job, -i64::from(Errno::AGAIN.raw_os_error()));
        Ok(token)
    }
}
