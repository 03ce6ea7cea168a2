//! Submitting: one request, a batch, a batch that waits out backpressure, a raw `iocb`.

use super::Context;
use crate::deadline::Deadline;
use crate::error::Error;
use crate::request::buf::IoBuf;
use crate::request::completion::{Completion, Token};
use crate::request::op::Op;
use crate::sys;
use rawaio_abi::iocb;
use rustix::io::Errno;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// How many requests one `io_submit` call carries at most.
const CHUNK: usize = 64;

/// Empties `ops`, whose requests are all spent (see `Op::is_spent`), without running
/// their drop glue (which has nothing to do), the common end of a batch.
#[inline(always)]
fn forget_all<B>(ops: &mut VecDeque<Op<'_, B>>) {
    // A drain of everything that is forgotten leaves the deque empty, its requests
    // leaked (as its documentation allows): leaking a spent request is dropping it.
    std::mem::forget(ops.drain(..));
    if !ops.is_empty() {
        // Not how the standard library does it today; correct all the same.
        ops.clear();
    }
}

/// A request the context did not submit, handed back with the reason.
///
/// Converts into [`Error`], [`std::io::Error`], `Box<dyn std::error::Error>` and
/// `Box<dyn std::error::Error + Send + Sync>` (keeping the error, dropping the request
/// and its buffers), so `ctx.submit(op)?` works in a function returning any of them, even
/// when the request borrows its file. (It is not itself a `std::error::Error`: it holds
/// the request, and whatever the request borrows.)
pub struct Rejected<'fd, B> {
    /// Why it was not submitted.
    pub error: Error,
    /// The request, with its buffers.
    pub op: Op<'fd, B>,
}

impl<B> fmt::Debug for Rejected<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("error", &self.error)
            .field("op", &self.op)
            .finish()
    }
}

impl<B> fmt::Display for Rejected<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request not submitted: {}", self.error)
    }
}

impl<B> From<Rejected<'_, B>> for Error {
    fn from(r: Rejected<'_, B>) -> Self {
        r.error
    }
}

impl<B> From<Rejected<'_, B>> for std::io::Error {
    fn from(r: Rejected<'_, B>) -> Self {
        r.error.into()
    }
}

impl<B> From<Rejected<'_, B>> for Box<dyn std::error::Error> {
    fn from(r: Rejected<'_, B>) -> Self {
        Box::new(r.error)
    }
}

impl<B> From<Rejected<'_, B>> for Box<dyn std::error::Error + Send + Sync> {
    fn from(r: Rejected<'_, B>) -> Self {
        Box::new(r.error)
    }
}

/// The outcome of a batch submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Submitted {
    /// How many requests were accepted (taken from the front of the queue).
    pub accepted: usize,
    /// Why the rest were not: the error of the first request left in the queue (or
    /// `ETIMEDOUT` from a wait that ran out of time). `None` when the queue was emptied.
    pub error: Option<Error>,
}

impl<B: IoBuf> Context<B> {
    /// Submits one request; the context owns its buffers until its completion is reaped.
    ///
    /// Descriptors the request owns or shares are released once it is submitted (the
    /// kernel holds its own reference from then on).
    ///
    /// # Which requests block inside `io_submit`
    ///
    /// `io_submit` runs the start of each request in the calling thread and returns; for
    /// some requests the start is the whole request, and the call waits:
    /// - **buffered** (not `O_DIRECT`) reads and writes: the copy through the page cache
    ///   runs in the call. A read waits for the disk when its data is not cached; a write
    ///   may wait for memory, dirty-page throttling, block allocation and the journal;
    /// - reads and writes of **pipes, sockets, terminals, eventfds, timerfds** and other
    ///   character devices: the call waits until a read has data or a write has room (a
    ///   read of an empty pipe waits for the writer, however long);
    /// - **`O_DIRECT`** reads and writes only queue to the device, except when the file
    ///   system must first allocate blocks or extend the file (ext4 and XFS wait for the
    ///   allocation, journal included), read metadata that is not cached (an extent
    ///   tree), or the device has no free request tag.
    ///
    /// `POLL` never waits (it completes inside the call if the file is ready already).
    /// `FSYNC` and `FDSYNC` never wait either: a kernel worker runs them (woken on the
    /// submitting CPU, it may run before the call returns, for milliseconds with much
    /// dirty data: the thread is preempted, not blocked).
    ///
    /// [`RwfFlags::NOWAIT`] makes a read or write that would wait complete at once with
    /// `EAGAIN` instead (or short, when part of it could be done), where the file
    /// supports the flag: ext4, XFS and btrfs reads, `O_DIRECT` on ext4 and XFS, pipes,
    /// sockets, eventfds. Elsewhere it is refused with `EOPNOTSUPP`, at submission
    /// (tmpfs, block devices whose driver does not support it, such as zram) or in the
    /// completion (ext4's buffered writes). These completions are in the ring before
    /// `io_submit` returns. [`probe`](crate::probe) tells what a file accepts;
    /// [`AsyncContext`](crate::AsyncContext) builds on all of this so that no request
    /// blocks its executor.
    ///
    /// # Errors
    /// The request comes back in [`Rejected`], with:
    /// - [`Error::Invalid`] when rawaio's own checks refuse it;
    /// - `EAGAIN` when the context is full (reap, then retry);
    /// - the kernel's error otherwise (`EBADF`, `EINVAL`, `EOPNOTSUPP`, ...).
    ///
    /// # References
    /// - [io_submit(2)](https://man7.org/linux/man-pages/man2/io_submit.2.html)
    ///
    /// [`RwfFlags::NOWAIT`]: crate::RwfFlags::NOWAIT
    #[doc(alias = "io_submit")]
    // The op is handed back by value: boxing it would allocate on every EAGAIN.
    #[allow(clippy::result_large_err)]
    #[inline]
    pub fn submit<'fd>(&self, op: Op<'fd, B>) -> Result<Token, Rejected<'fd, B>> {
        // SAFETY: shared (`X` false): no precondition.
        unsafe { self.submit_as::<false>(op) }
    }

    /// [`submit`](Self::submit), its locks taken unless `X`.
    ///
    /// # Safety
    /// With `X` true, the caller holds the context exclusively (by `&mut`, through an
    /// [`Exclusive`](crate::Exclusive)) for the whole call.
    #[allow(clippy::result_large_err)]
    #[inline]
    pub(super) unsafe fn submit_as<'fd, const X: bool>(
        &self,
        mut op: Op<'fd, B>,
    ) -> Result<Token, Rejected<'fd, B>> {
        // SAFETY: the caller's promise, passed on.
        match unsafe { self.submit_in_place_as::<X>(&mut op) } {
            Ok(token) => {
                if op.is_spent() {
                    // Nothing to drop (see `is_spent`).
                    std::mem::forget(op);
                } else {
                    drop(op);
                }
                Ok(token)
            }
            Err(error) => Err(Rejected { error, op }),
        }
    }

    /// [`submit`](Self::submit), leaving the request with the caller: on success its
    /// buffers are in the table and the rest of it (its descriptor above all) is still
    /// the caller's; on failure it is whole again. For the async layer, which may need
    /// the descriptor of a request the kernel refused inside `io_submit`.
    #[inline]
    pub(crate) fn submit_in_place(&self, op: &mut Op<'_, B>) -> Result<Token, Error> {
        // SAFETY: shared (`X` false): no precondition.
        unsafe { self.submit_in_place_as::<false>(op) }
    }

    /// [`submit_in_place`](Self::submit_in_place), its locks taken unless `X`.
    ///
    /// # Safety
    /// As [`submit_as`](Self::submit_as).
    #[inline]
    unsafe fn submit_in_place_as<const X: bool>(&self, op: &mut Op<'_, B>) -> Result<Token, Error> {
        // SAFETY: the caller's promise, passed on.
        let (token, cb) = unsafe { self.table.lock_as::<X>() }.prepare(op, self.resfd())?;
        let mut list = [cb];
        // SAFETY: `cb` is a prepared slot whose buffers the table owns until the
        // completion is reaped or the context destroyed; the op holds its descriptors
        // open until the call returns.
        match unsafe { sys::io_submit(self.kernel.id, 1, list.as_mut_ptr()) } {
            Ok(1) => {
                self.kernel.count_accepted::<X>(1);
                Ok(token)
            }
            other => {
                let error = other.err().unwrap_or(Errno::AGAIN);
                // SAFETY: the caller's promise, passed on.
                unsafe { self.table.lock_as::<X>() }.unprepare(token, op);
                Err(error.into())
            }
        }
    }

    /// Submits requests from the front of `ops`, as many as the kernel accepts, pushing
    /// each accepted request's token onto `tokens`. Requests not accepted stay in `ops`,
    /// in order, with their buffers.
    ///
    /// The requests of a batch are independent: the kernel may run them in any order
    /// (see [Ordering](crate::Op#ordering)).
    ///
    /// The kernel reports only the first refused request's error, and only when it is the
    /// first of a call: after a partial submission this resubmits the rest, so
    /// [`Submitted::error`] is always the error of `ops`'s new front. `EAGAIN` (the
    /// context is full) is returned, not waited out: see
    /// [`submit_all`](Self::submit_all).
    pub fn submit_batch(
        &self,
        ops: &mut VecDeque<Op<'_, B>>,
        tokens: &mut Vec<Token>,
    ) -> Submitted {
        self.submit_batch_with(ops, usize::MAX, tokens, None)
    }

    /// [`submit_batch`](Self::submit_batch) of at most `limit` requests, handing each
    /// accepted request (its buffers moved into the table, its descriptor still held) to
    /// `keep`, in order, instead of dropping it. For the async layer, as
    /// [`submit_in_place`](Self::submit_in_place).
    #[inline]
    pub(crate) fn submit_batch_with<'fd>(
        &self,
        ops: &mut VecDeque<Op<'fd, B>>,
        limit: usize,
        tokens: &mut Vec<Token>,
        keep: Option<&mut dyn FnMut(Op<'fd, B>)>,
    ) -> Submitted {
        // SAFETY: shared (`X` false): no precondition.
        unsafe { self.submit_batch_as::<false>(ops, limit, tokens, keep) }
    }

    /// [`submit_batch_with`](Self::submit_batch_with), its locks taken unless `X`.
    ///
    /// # Safety
    /// As [`submit_as`](Self::submit_as).
    #[inline]
    pub(super) unsafe fn submit_batch_as<'fd, const X: bool>(
        &self,
        ops: &mut VecDeque<Op<'fd, B>>,
        limit: usize,
        tokens: &mut Vec<Token>,
        mut keep: Option<&mut dyn FnMut(Op<'fd, B>)>,
    ) -> Submitted {
        let mut accepted = 0;
        let resfd = self.resfd();
        while !ops.is_empty() && accepted < limit {
            // Only the first `n` entries are written, then read: no need to zero 512 bytes
            // per call (a cost at queue depth 1).
            let mut list = [std::mem::MaybeUninit::<*mut iocb>::uninit(); CHUNK];
            let mut n = 0;
            let mut refused = None;
            // Whether every prepared request is spent (see `Op::is_spent`): its buffers
            // are in the table, and whether it holds a descriptor is one test each.
            let mut spent = true;
            {
                // SAFETY: the caller's promise, passed on.
                let mut table = unsafe { self.table.lock_as::<X>() };
                for op in ops.iter_mut().take(CHUNK.min(limit - accepted)) {
                    match table.prepare(op, resfd) {
                        Ok((token, cb)) => {
                            list[n].write(cb);
                            tokens.push(token);
                            n += 1;
                            spent &= op.is_spent();
                        }
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
            // SAFETY: the first `n` entries of `list` are written above, and each is a
            // prepared slot whose buffers the table owns until its completion is reaped or
            // the context destroyed; the ops, still in the queue, hold their descriptors
            // open until the call returns.
            let result =
                unsafe { sys::io_submit(self.kernel.id, n as isize, list.as_mut_ptr().cast()) };
            let taken = *result.as_ref().unwrap_or(&0);
            if taken > 0 {
                self.kernel.count_accepted::<X>(taken);
            }
            accepted += taken;
            if taken < n {
                // The tokens of the requests the kernel did not take are the last ones
                // pushed: their buffers go back into their ops, which stay queued.
                // SAFETY: the caller's promise, passed on.
                let mut table = unsafe { self.table.lock_as::<X>() };
                let first = tokens.len() - (n - taken);
                for (token, op) in tokens.drain(first..).zip(ops.iter_mut().skip(taken)) {
                    table.unprepare(token, op);
                }
            }
            // The accepted requests leave the queue: to `keep` if given, else dropped in
            // place (owned descriptors close here), the cheapest way for the usual cases
            // (all of them, or one).
            match keep.as_mut() {
                Some(keep) => ops.drain(..taken).for_each(keep),
                None if taken == ops.len() => {
                    if spent {
                        forget_all(ops);
                    } else {
                        ops.clear();
                    }
                }
                None if taken == 1 => match ops.pop_front() {
                    Some(op) if op.is_spent() => std::mem::forget(op),
                    op => drop(op),
                },
                None => drop(ops.drain(..taken)),
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
    /// `done` and submits again, for at most `timeout` (`None`: as long as it takes).
    /// Stops at any other error.
    ///
    /// [`Submitted::error`] is `ETIMEDOUT` when the time ran out with requests left in
    /// `ops` (requests that never complete, such as polls nothing wakes, keep the context
    /// full), and `EAGAIN` when the context is full with nothing of its own in flight to
    /// wait for.
    pub fn submit_all(
        &self,
        ops: &mut VecDeque<Op<'_, B>>,
        tokens: &mut Vec<Token>,
        done: &mut Vec<Completion<B>>,
        timeout: Option<Duration>,
    ) -> Submitted {
        let deadline = Deadline::after(timeout);
        let mut accepted = 0;
        loop {
            let s = self.submit_batch(ops, tokens);
            accepted += s.accepted;
            match s.error {
                Some(Error::Os(Errno::AGAIN)) if self.kernel.outstanding() > 0 => {
                    if deadline.passed() {
                        return Submitted {
                            accepted,
                            error: Some(Errno::TIMEDOUT.into()),
                        };
                    }
                    if let Err(e) =
                        self.reap(1, self.ring_size() as usize, deadline.remaining(), done)
                    {
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
    /// - The descriptors `cb` names must be open until this call returns.
    pub unsafe fn submit_raw(&self, cb: &iocb) -> Result<Token, Error> {
        let (token, slot) = self.table.lock().prepare_raw(cb)?;
        let mut list = [slot];
        // SAFETY: the caller keeps the memory the request names valid (contract above).
        match unsafe { sys::io_submit(self.kernel.id, 1, list.as_mut_ptr()) } {
            Ok(1) => {
                self.kernel.count_accepted::<false>(1);
                Ok(token)
            }
            other => {
                self.table.lock().unprepare_raw(token);
                Err(other.err().unwrap_or(Errno::AGAIN).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A batch releases the descriptors its accepted requests share, whether the batch is
    /// all borrowed (forgotten), mixed, or one request.
    #[test]
    fn accepted_requests_release_what_they_hold() {
        let ctx = Context::<Vec<u8>>::new(8).unwrap();
        let file = Arc::new(std::fs::File::open("/dev/zero").unwrap());
        let mut tokens = Vec::new();
        let mut done = Vec::new();
        for shared in [[false; 3], [false, true, false], [true; 3]] {
            let mut ops: VecDeque<_> = shared
                .iter()
                .map(|&s| {
                    if s {
                        Op::read(Arc::clone(&file), vec![1u8; 4], 0)
                    } else {
                        Op::read(&*file, vec![1u8; 4], 0)
                    }
                })
                .collect();
            let s = ctx.submit_batch(&mut ops, &mut tokens);
            assert_eq!((s.accepted, s.error, ops.len()), (3, None, 0));
            assert_eq!(Arc::strong_count(&file), 1);
            assert_eq!(ctx.reap(3, 8, None, &mut done), Ok(3));
        }
        let mut ops = VecDeque::from([
            Op::read(&*file, vec![1u8; 4], 0),
            Op::read(Arc::clone(&file), vec![1u8; 4], 0),
        ]);
        // One at a time, then the rest.
        let s = ctx.submit_batch_with(&mut ops, 1, &mut tokens, None);
        assert_eq!((s.accepted, ops.len()), (1, 1));
        assert_eq!(Arc::strong_count(&file), 2);
        let s = ctx.submit_batch_with(&mut ops, 1, &mut tokens, None);
        assert_eq!((s.accepted, ops.len()), (1, 0));
        assert_eq!(Arc::strong_count(&file), 1);
        assert_eq!(ctx.reap(2, 8, None, &mut done), Ok(2));
        assert!(done.iter().all(|c| c.result() == Ok(4)));
    }
}
