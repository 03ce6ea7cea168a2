//! [`OpFuture`]: the completion of one request of an [`AsyncContext`].

use super::AsyncContext;
use super::waiters::After;
use crate::reactor::Reactor;
use crate::request::buf::IoBuf;
use crate::request::completion::{Completion, Token};
use rustix::io::Errno;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{self, Poll};

/// The completion of one request submitted through an [`AsyncContext`].
///
/// Resolves to the request's [`Completion`] (its result and its buffers), or to an error
/// of the reactor or of reaping (the request is then abandoned: its buffers are dropped
/// when it completes). It is `Send`, `'static` and `Unpin`.
///
/// Dropping it before it resolves never frees the buffers while the kernel may use them:
/// the context (or the helper thread that resubmitted the request) keeps them until the
/// completion is reaped, then drops them. Dropping the future of a `POLL` request cancels
/// the request (`io_cancel`), as does dropping the future of a read or write that waits
/// for its file's readiness after a refusal.
#[must_use = "the completion, and the buffers, come back only through the future"]
pub struct OpFuture<R: Reactor, B: IoBuf + 'static = Vec<u8>> {
    pub(super) ctx: AsyncContext<R, B>,
    /// The request's token; meaningless once `live` is false.
    pub(super) token: Token,
    /// Whether the future is still to resolve (a flag beside the token rather than an
    /// `Option<Token>`: the future stays 32 bytes, cheaper to move).
    pub(super) live: bool,
    pub(super) cancel_on_drop: bool,
}

impl<R: Reactor, B: IoBuf + 'static> OpFuture<R, B> {
    /// The request's token (the one its [`Completion`] carries).
    pub fn token(&self) -> Option<Token> {
        self.live.then_some(self.token)
    }

    /// Cancels the request (`io_cancel`): only `POLL` requests can be cancelled, and
    /// reads and writes that wait for their file's readiness after the kernel refused
    /// them (a socket read with no data yet). The future then resolves to a completion
    /// with result 0 (a poll) or `ECANCELED` (a read or write, with its buffers).
    ///
    /// # Errors
    /// `EINVAL` when the request cannot be cancelled or has completed, or the future has
    /// resolved.
    #[doc(alias = "io_cancel")]
    pub fn cancel(&self) -> Result<(), Errno> {
        let token = self.token().ok_or(Errno::INVAL)?;
        let inner = &self.ctx.inner;
        match inner.ctx.cancel(token) {
            Ok(()) => Ok(()),
            Err(e) => {
                let poll = inner.shared.lock().cancel_away(token).map_err(|()| e)?;
                // EINVAL: the poll completed meanwhile, and its step sees the cancellation.
                let _ = inner.ctx.cancel(poll);
                Ok(())
            }
        }
    }

    /// Forgets this future's claim: the request stays in flight, and its buffers are
    /// dropped when it completes.
    #[inline]
    fn abandon(&mut self) {
        if self.live {
            self.live = false;
            self.abandon_token(self.token);
        }
    }

    /// [`abandon`](Self::abandon) of an unresolved future (out of line: a future is
    /// usually dropped once resolved).
    #[cold]
    #[inline(never)]
    fn abandon_token(&mut self, token: Token) {
        let inner = &self.ctx.inner;
        let mut after = After::new();
        let (garbage, was_waiting, needs_arming) = {
            let mut st = inner.shared.lock();
            if R::BUSY_POLLS {
                st.leave_spin(token);
            }
            let (garbage, was_waiting) = st.abandon(token, &mut after);
            (garbage, was_waiting, st.needs_arming())
        };
        drop(garbage);
        if was_waiting && self.cancel_on_drop {
            // EINVAL: it completed meanwhile; its completion is dropped when reaped.
            let _ = inner.ctx.cancel(token);
        }
        inner.run_after(after);
        if needs_arming {
            inner.arm();
        }
    }
}

impl<R: Reactor, B: IoBuf + 'static> Future for OpFuture<R, B> {
    type Output = io::Result<Completion<B>>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(token) = this.token() else {
            return Poll::Ready(Err(io::Error::other(
                "rawaio::OpFuture polled after it resolved",
            )));
        };
        let inner = &this.ctx.inner;
        // The usual case when many requests are in flight: its completion has come (one
        // hold of the lock, nothing else).
        let mut st = inner.shared.lock();
        if let Some(ready) = st.take_in_slot(token, |c| Poll::Ready(Ok(c))) {
            if R::BUSY_POLLS {
                st.leave_spin(token);
            }
            let needs_arming = st.needs_arming();
            drop(st);
            this.live = false;
            if needs_arming {
                // The reactor's last wake-up may have gone to this task.
                inner.arm();
            }
            return ready;
        }
        match inner.poll_missing(st, token, cx.waker()) {
            Ok(Some(completion)) => {
                this.live = false;
                Poll::Ready(Ok(completion))
            }
            Ok(None) => Poll::Pending,
            Err(e) => {
                this.abandon();
                Poll::Ready(Err(e))
            }
        }
    }
}

impl<R: Reactor, B: IoBuf + 'static> Drop for OpFuture<R, B> {
    fn drop(&mut self) {
        self.abandon();
    }
}

impl<R: Reactor, B: IoBuf + 'static> fmt::Debug for OpFuture<R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpFuture")
            .field("token", &self.token())
            .finish_non_exhaustive()
    }
}
