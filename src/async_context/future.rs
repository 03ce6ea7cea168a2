//! [`OpFuture`]: the completion of one request of an [`AsyncContext`].

use super::AsyncContext;
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
/// the context keeps them until the completion is reaped, then drops them. Dropping the
/// future of a `POLL` request cancels the request (`io_cancel`).
#[must_use = "the completion, and the buffers, come back only through the future"]
pub struct OpFuture<R: Reactor, B: IoBuf = Vec<u8>> {
    pub(super) ctx: AsyncContext<R, B>,
    /// `None` once resolved.
    pub(super) token: Option<Token>,
    pub(super) cancel_on_drop: bool,
}

impl<R: Reactor, B: IoBuf> OpFuture<R, B> {
    /// The request's token (the one its [`Completion`] carries).
    pub fn token(&self) -> Option<Token> {
        self.token
    }

    /// Cancels the request (`io_cancel`): only `POLL` requests can be cancelled; the
    /// future then resolves to a completion with result 0.
    ///
    /// # Errors
    /// `EINVAL` when the request cannot be cancelled or has completed, or the future has
    /// resolved.
    #[doc(alias = "io_cancel")]
    pub fn cancel(&self) -> Result<(), Errno> {
        self.ctx.inner.ctx.cancel(self.token.ok_or(Errno::INVAL)?)
    }

    /// Forgets this future's claim: the request stays in flight, and its buffers are
    /// dropped when it completes.
    fn abandon(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        let inner = &self.ctx.inner;
        let (garbage, was_waiting, needs_arming) = {
            let mut st = inner.waiters.lock();
            let (garbage, was_waiting) = st.abandon(token);
            (garbage, was_waiting, st.needs_arming())
        };
        drop(garbage);
        if was_waiting && self.cancel_on_drop {
            // EINVAL: it completed meanwhile; its completion is dropped when reaped.
            let _ = inner.ctx.cancel(token);
        }
        if needs_arming {
            inner.arm();
        }
    }
}

impl<R: Reactor, B: IoBuf> Future for OpFuture<R, B> {
    type Output = io::Result<Completion<B>>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(token) = this.token else {
            return Poll::Ready(Err(io::Error::other(
                "rawaio::OpFuture polled after it resolved",
            )));
        };
        match this.ctx.inner.drive(Some(token), Some(cx.waker())) {
            Ok(Some(completion)) => {
                this.token = None;
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

impl<R: Reactor, B: IoBuf> Drop for OpFuture<R, B> {
    fn drop(&mut self) {
        self.abandon();
    }
}

impl<R: Reactor, B: IoBuf> fmt::Debug for OpFuture<R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpFuture")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}
