//! [`Exclusive`]: a context that one thread holds by `&mut`, submitted to and reaped
//! without locks.

use super::{Context, Rejected, Submitted};
use crate::request::buf::IoBuf;
use crate::request::completion::{Completion, Token};
use crate::request::op::Op;
use rustix::io::Errno;
use std::collections::VecDeque;
use std::fmt;
use std::ops::Deref;
use std::time::Duration;

/// A [`Context`] borrowed exclusively (`&mut`): the same submission and reaping, without
/// the context's locks.
///
/// A `Context` is `Sync`, so its `&self` methods lock its slot table and its reaper and
/// count the requests accepted with an atomic read-modify-write: at queue depth 1, seven
/// locked instructions and a hundred others per request, a few percent of what the
/// request costs. A thread that owns its context (one context per thread or per core, the
/// shape of most storage engines) pays for sharing it does not do. Through an
/// `Exclusive`, which only a `&mut Context` makes, nothing else can reach the context
/// while it lives, so none of that is needed; what every request does, the checks, the
/// slot table, the ring, is the same. Every other method of the context is at hand
/// through `Deref`, as usual.
///
/// # Examples
/// ```
/// use rawaio::{Context, Op};
/// use std::time::Duration;
///
/// let file = std::fs::File::open("README.md")?;
/// let mut ctx = Context::new(8)?;
/// let mut local = ctx.exclusive();
/// let mut done = Vec::new();
/// for round in 0..3u64 {
///     let token = local.submit(Op::read(&file, vec![0u8; 8], 0).user_data(round))?;
///     local.reap(1, 8, Some(Duration::from_secs(5)), &mut done)?;
///     let c = done.pop().unwrap();
///     assert_eq!((c.token(), c.user_data()), (token, round));
///     assert_eq!(c.into_buf().unwrap(), b"# rawaio");
/// }
/// assert_eq!(local.in_flight(), 0); // a `&self` method, through `Deref`
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Exclusive<'c, B: IoBuf = Vec<u8>> {
    ctx: &'c mut Context<B>,
}

impl<B: IoBuf> Context<B> {
    /// This context, borrowed exclusively: submitted to and reaped without locks (see
    /// [`Exclusive`]).
    #[inline]
    pub fn exclusive(&mut self) -> Exclusive<'_, B> {
        Exclusive { ctx: self }
    }
}

impl<B: IoBuf> Exclusive<'_, B> {
    /// [`Context::submit`], without locks.
    ///
    /// # Errors
    /// As [`Context::submit`].
    #[doc(alias = "io_submit")]
    #[allow(clippy::result_large_err)]
    #[inline]
    pub fn submit<'fd>(&mut self, op: Op<'fd, B>) -> Result<Token, Rejected<'fd, B>> {
        // SAFETY: `self` holds the context by `&mut` for the whole call.
        unsafe { self.ctx.submit_as::<true>(op) }
    }

    /// [`Context::submit_batch`], without locks.
    #[doc(alias = "io_submit")]
    #[inline]
    pub fn submit_batch(
        &mut self,
        ops: &mut VecDeque<Op<'_, B>>,
        tokens: &mut Vec<Token>,
    ) -> Submitted {
        // SAFETY: as in `submit`.
        unsafe {
            self.ctx
                .submit_batch_as::<true>(ops, usize::MAX, tokens, None)
        }
    }

    /// [`Context::reap`], without locks.
    ///
    /// # Errors
    /// As [`Context::reap`].
    #[doc(alias = "io_getevents")]
    #[inline]
    pub fn reap(
        &mut self,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<usize, Errno> {
        // SAFETY: as in `submit`.
        unsafe { self.ctx.reap_as::<true>(min, max, timeout, None, done) }
    }

    /// [`Context::reap_ready`], without locks.
    ///
    /// # Errors
    /// As [`Context::reap`].
    #[inline]
    pub fn reap_ready(&mut self, done: &mut Vec<Completion<B>>) -> Result<usize, Errno> {
        let max = self.ctx.kernel.ring_nr as usize;
        // SAFETY: as in `submit`.
        unsafe { self.ctx.reap_as::<true>(0, max, None, None, done) }
    }
}

impl<B: IoBuf> Deref for Exclusive<'_, B> {
    type Target = Context<B>;

    #[inline]
    fn deref(&self) -> &Context<B> {
        self.ctx
    }
}

impl<B: IoBuf> fmt::Debug for Exclusive<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Exclusive").field(&*self.ctx).finish()
    }
}
