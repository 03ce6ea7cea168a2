//! Backpressure: [`Reserve`] waits for room in an [`AsyncContext`], and the [`Permit`]
//! it gives submits one request into that room.

use super::drive::{Me, Mine};
use super::{AsyncContext, OpFuture};
use crate::context::Rejected;
use crate::reactor::Reactor;
use crate::request::buf::IoBuf;
use crate::request::op::Op;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{self, Poll};

/// Waits for room for one request in an [`AsyncContext`]
/// ([`AsyncContext::reserve`]).
///
/// While it waits, it reaps the context's completions (room frees as requests finish)
/// and delivers them to their futures, so it makes progress even when no other future
/// of the context is polled.
#[must_use = "a future does nothing unless polled"]
pub struct Reserve<R: Reactor, B: IoBuf + 'static = Vec<u8>> {
    pub(super) ctx: AsyncContext<R, B>,
}

impl<R: Reactor, B: IoBuf + 'static> Future for Reserve<R, B> {
    type Output = io::Result<Permit<R, B>>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let ctx = &self.get_mut().ctx;
        let permit = || Permit {
            ctx: ctx.clone(),
            spent: false,
        };
        if ctx.inner.shared.counts.try_acquire() {
            return Poll::Ready(Ok(permit()));
        }
        match ctx.inner.drive(Me::Room, Some(cx.waker())) {
            Ok(Some(Mine::Room)) => Poll::Ready(Ok(permit())),
            Ok(Some(Mine::Completion(_))) => unreachable!("room was asked for"),
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<R: Reactor, B: IoBuf + 'static> fmt::Debug for Reserve<R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserve").finish_non_exhaustive()
    }
}

/// Room for one request in an [`AsyncContext`], taken by [`Reserve`]: given back if
/// dropped unused.
#[must_use = "dropping a permit gives its room back"]
pub struct Permit<R: Reactor, B: IoBuf + 'static = Vec<u8>> {
    ctx: AsyncContext<R, B>,
    spent: bool,
}

impl<R: Reactor, B: IoBuf + 'static> Permit<R, B> {
    /// Submits one request into the room, as [`AsyncContext::submit`] does (never
    /// refused for want of room).
    ///
    /// # Errors
    /// As [`AsyncContext::submit`], but for `EAGAIN`; the room is given back.
    #[allow(clippy::result_large_err)] // the op comes back by value, as from Context::submit
    pub fn submit<'fd>(mut self, op: Op<'fd, B>) -> Result<OpFuture<R, B>, Rejected<'fd, B>> {
        self.spent = true;
        self.ctx.submit_acquired(op)
    }
}

impl<R: Reactor, B: IoBuf + 'static> Drop for Permit<R, B> {
    fn drop(&mut self) {
        if !self.spent {
            self.ctx.inner.shared.release();
        }
    }
}

impl<R: Reactor, B: IoBuf + 'static> fmt::Debug for Permit<R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}
