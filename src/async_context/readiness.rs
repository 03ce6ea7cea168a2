//! [`Readiness`]: `IOCB_CMD_POLL` as a readiness watch, re-armed per wait.

use super::{AsyncContext, OpFuture, Reserve};
use crate::reactor::Reactor;
use crate::request::buf::IoBuf;
use crate::request::fd::{IntoTarget, Target};
use crate::request::op::Op;
use rustix::event::PollFlags;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{self, Poll};

/// A readiness watch on one descriptor, through `IOCB_CMD_POLL` on an [`AsyncContext`]
/// ([`AsyncContext::readiness`]): socket and file I/O share one context, as in
/// Seastar's reactor.
///
/// A poll request is one-shot: [`ready`](Self::ready) submits one (a single
/// `io_submit`, with no allocation) unless one is in flight, and resolves to the mask
/// of ready events when it completes; the next `ready` arms a new one. Dropping the
/// watch cancels a poll in flight. When the context is full, arming waits for room.
///
/// The mask may hold `ERR` and `HUP` even when they were not asked for, as with
/// `poll(2)`.
pub struct Readiness<'fd, R: Reactor, B: IoBuf + 'static = Vec<u8>> {
    ctx: AsyncContext<R, B>,
    fd: Target<'fd>,
    events: PollFlags,
    armed: Option<OpFuture<R, B>>,
    room: Option<Reserve<R, B>>,
}

impl<'fd, R: Reactor, B: IoBuf + 'static> Readiness<'fd, R, B> {
    pub(super) fn new(
        ctx: AsyncContext<R, B>,
        fd: impl IntoTarget<'fd>,
        events: PollFlags,
    ) -> Self {
        Self {
            ctx,
            fd: fd.into_target(),
            events,
            armed: None,
            room: None,
        }
    }

    /// Waits until the descriptor has one of the events ready; returns the ready mask.
    ///
    /// # Errors
    /// The poll's submission error (`EBADF`, ...), its completion's, or the reactor's.
    /// A poll cancelled by the kernel (the context being destroyed) resolves to an empty
    /// mask.
    pub fn ready(&mut self) -> impl Future<Output = io::Result<PollFlags>> + '_ {
        poll_fn(|cx| self.poll_ready(cx))
    }

    /// [`ready`](Self::ready), as a poll function.
    ///
    /// # Errors
    /// As [`ready`](Self::ready).
    pub fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<io::Result<PollFlags>> {
        loop {
            if let Some(armed) = &mut self.armed {
                let done = std::task::ready!(Pin::new(armed).poll(cx));
                self.armed = None;
                let mask = done?.result()?;
                return Poll::Ready(Ok(PollFlags::from_bits_retain((mask as u16) as _)));
            }
            let op = Op::poll(&self.fd, self.events);
            let submitted = if self.ctx.inner.shared.counts.try_acquire() {
                self.ctx.submit_acquired(op)
            } else {
                let room = self.room.get_or_insert_with(|| self.ctx.reserve());
                let permit = std::task::ready!(Pin::new(room).poll(cx));
                self.room = None;
                permit?.submit(op)
            };
            match submitted {
                Ok(future) => self.armed = Some(future),
                Err(rejected) => return Poll::Ready(Err(rejected.error.into())),
            }
        }
    }

    /// Whether a poll is in flight.
    pub fn is_armed(&self) -> bool {
        self.armed.is_some()
    }
}

impl<R: Reactor, B: IoBuf + 'static> fmt::Debug for Readiness<'_, R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("fd", &self.fd)
            .field("events", &self.events)
            .field("armed", &self.armed.is_some())
            .finish_non_exhaustive()
    }
}
