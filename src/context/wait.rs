//! Waiting for particular requests, and cancelling them.

use super::{Context, Submitted};
use crate::deadline::Deadline;
use crate::error::{Error, InvalidOp};
use crate::request::buf::IoBuf;
use crate::request::completion::{Completion, Token};
use crate::request::op::Op;
use crate::sys;
use rawaio_abi::io_event;
use rustix::io::Errno;
use std::collections::VecDeque;
use std::time::Duration;

impl<B: IoBuf> Context<B> {
    /// Whether the request with `token` is still in flight (submitted and not yet
    /// reaped): POSIX's `aio_error` returning `EINPROGRESS`. `false` for another
    /// context's token.
    #[doc(alias = "aio_error")]
    pub fn is_in_flight(&self, token: Token) -> bool {
        self.table.lock().live_iocb(token).is_some()
    }

    /// How many of `tokens` are still in flight; refuses another context's token.
    fn count_in_flight(&self, tokens: &[Token]) -> Result<usize, Error> {
        let table = self.table.lock();
        let mut live = 0;
        for &token in tokens {
            if !table.owns(token) {
                return Err(InvalidOp::ForeignToken.into());
            }
            live += usize::from(table.live_iocb(token).is_some());
        }
        Ok(live)
    }

    /// Waits until at least one of the requests in `tokens` has completed, or `timeout`
    /// passes, reaping into `done` (completions of other requests reaped meanwhile go
    /// there too: none is lost). Returns how many of `tokens` are no longer in flight
    /// (0 when the time ran out first). POSIX's `aio_suspend`.
    ///
    /// # Errors
    /// - [`InvalidOp::ForeignToken`]: a token of another context (checked before
    ///   anything is reaped).
    /// - The errors of [`reap`](Self::reap).
    #[doc(alias = "aio_suspend")]
    pub fn wait_any(
        &self,
        tokens: &[Token],
        timeout: Option<Duration>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Error> {
        self.wait_until(tokens, timeout, done, |finished, total| {
            finished > 0 || total == 0
        })
    }

    /// Waits until every request in `tokens` has completed, or `timeout` passes, reaping
    /// into `done` as [`wait_any`](Self::wait_any) does. Returns how many of `tokens` are
    /// no longer in flight (`tokens.len()` when all are done).
    ///
    /// # Errors
    /// As [`wait_any`](Self::wait_any).
    pub fn wait_all(
        &self,
        tokens: &[Token],
        timeout: Option<Duration>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Error> {
        self.wait_until(tokens, timeout, done, |finished, total| finished == total)
    }

    fn wait_until(
        &self,
        tokens: &[Token],
        timeout: Option<Duration>,
        done: &mut Vec<Completion<B>>,
        enough: impl Fn(usize, usize) -> bool,
    ) -> Result<usize, Error> {
        let deadline = Deadline::after(timeout);
        loop {
            let finished = tokens.len() - self.count_in_flight(tokens)?;
            if enough(finished, tokens.len()) || deadline.passed() {
                return Ok(finished);
            }
            self.reap(1, self.ring_size() as usize, deadline.remaining(), done)?;
        }
    }

    /// Submits `ops` as [`submit_all`](Self::submit_all) does, then waits until every
    /// accepted request has completed, reaping into `done`: POSIX's
    /// `lio_listio(LIO_WAIT, ...)`. ([`submit_batch`](Self::submit_batch) is
    /// `LIO_NOWAIT`.) The whole call takes at most `timeout` (`None`: as long as it
    /// takes).
    ///
    /// [`Submitted::error`] is `ETIMEDOUT` when the time ran out before every accepted
    /// request completed: those still in flight complete through later reaps.
    pub fn submit_and_wait(
        &self,
        ops: &mut VecDeque<Op<'_, B>>,
        done: &mut Vec<Completion<B>>,
        timeout: Option<Duration>,
    ) -> Submitted {
        let deadline = Deadline::after(timeout);
        let mut tokens = Vec::with_capacity(ops.len());
        let mut submitted = self.submit_all(ops, &mut tokens, done, timeout);
        match self.wait_all(&tokens, deadline.remaining(), done) {
            Ok(finished) if finished < tokens.len() => {
                submitted.error = submitted.error.or(Some(Errno::TIMEDOUT.into()));
            }
            Ok(_) => {}
            Err(e) => submitted.error = submitted.error.or(Some(e)),
        }
        submitted
    }

    /// Cancels a request in flight. Only `POLL` requests (and a few drivers' requests) can
    /// be cancelled; the cancelled request's completion (result 0 for a poll) still
    /// arrives through [`reap`](Self::reap).
    ///
    /// # Errors
    /// - `EINVAL`: the request cannot be cancelled, has completed, or the token is not
    ///   (or no longer) in flight on this context.
    ///
    /// # References
    /// - [io_cancel(2)](https://man7.org/linux/man-pages/man2/io_cancel.2.html)
    #[doc(alias = "io_cancel")]
    pub fn cancel(&self, token: Token) -> Result<(), Errno> {
        let table = self.table.lock();
        let cb = table.live_iocb(token).ok_or(Errno::INVAL)?;
        let mut result = io_event::default();
        // SAFETY: `cb` is the address the live request was submitted with; holding the
        // table lock keeps its slot from being freed or reused during the call.
        match unsafe { sys::io_cancel(self.kernel.id, cb, &mut result) } {
            Ok(()) | Err(Errno::INPROGRESS) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
