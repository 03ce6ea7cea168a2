//! The rawaio engine: a [`Context`] per thread, `submit_batch`, and `--reap` ring,
//! syscall or eventfd. Each thread owns its context, so it submits and reaps through
//! [`Context::exclusive`]: no locks.

use super::{Buf, Slots, TIMEOUT, accepted, wait_readable};
use crate::cli::Reap;
use crate::engine::{Dir, Engine};
use crate::target::Target;
use rawaio::{Completion, Context, Errno, Op, Options, Token};
use std::collections::VecDeque;
use std::time::Duration;

/// A rawaio [`Context`] with one owned buffer per slot: a slot's buffer moves into its
/// [`Op`] and comes back with the [`Completion`].
pub struct RawaioEngine<'f> {
    ctx: Context<Buf>,
    slots: Slots<'f>,
    reap: Reap,
    queue: VecDeque<Op<'f, Buf>>,
    tokens: Vec<Token>,
    done: Vec<Completion<Buf>>,
    /// Completions the eventfd counted and `reap` has not yet delivered.
    signalled: usize,
}

impl<'f> RawaioEngine<'f> {
    pub fn new(target: &'f Target, qd: usize, bs: usize, reap: Reap) -> Result<Self, String> {
        let options = Options {
            user_space_reaping: reap != Reap::Syscall,
            eventfd: reap == Reap::Eventfd,
        };
        let ctx = Context::with_options(qd as u32, options).map_err(|e| {
            let hint = if e.errno() == Some(Errno::AGAIN) {
                " (the system-wide /proc/sys/fs/aio-max-nr is used up: lower --qd or --threads)"
            } else {
                ""
            };
            format!("io_setup({qd}): {e}{hint}")
        })?;
        Ok(Self {
            ctx,
            slots: Slots::new(&target.file, qd, bs, target.mem_align)?,
            reap,
            queue: VecDeque::with_capacity(qd),
            tokens: Vec::with_capacity(qd),
            done: Vec::with_capacity(qd),
            signalled: 0,
        })
    }

    /// Blocks until the eventfd counts completions, then reaps exactly that many.
    fn reap_by_eventfd(&mut self, min: usize) -> Result<usize, String> {
        let efd = self.ctx.eventfd().ok_or("the context has no eventfd")?;
        let mut got = 0;
        while got < min {
            let mut count = efd
                .read()
                .map_err(|e| format!("reading the eventfd: {e}"))?;
            if count == 0 && self.signalled == 0 {
                if !wait_readable(efd)? {
                    return Err(format!("no completion signalled within {TIMEOUT:?}"));
                }
                count = efd
                    .read()
                    .map_err(|e| format!("reading the eventfd: {e}"))?;
            }
            let n = self.signalled + count as usize;
            // The kernel posts the event to the ring before it bumps the eventfd, so all
            // `n` are there: no waiting.
            // Shared: `efd` borrows the context.
            let reaped = self
                .ctx
                .reap(n, n, Some(Duration::ZERO), &mut self.done)
                .map_err(|e| format!("reaping: {e}"))?;
            self.signalled = n - reaped;
            got += reaped;
        }
        Ok(got)
    }
}

impl Engine for RawaioEngine<'_> {
    fn depth(&self) -> usize {
        self.slots.depth()
    }

    fn buf_mut(&mut self, slot: usize) -> &mut [u8] {
        self.slots.buf_mut(slot)
    }

    fn prepare(&mut self, slot: usize, offset: u64, dir: Dir) -> Result<(), String> {
        let op = self.slots.take_op(slot, offset, dir);
        self.queue.push_back(op.user_data(slot as u64));
        Ok(())
    }

    fn submit(&mut self) -> Result<usize, String> {
        self.tokens.clear();
        let submitted = self
            .ctx
            .exclusive()
            .submit_batch(&mut self.queue, &mut self.tokens);
        accepted(&submitted)
    }

    fn reap(
        &mut self,
        min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String> {
        let got = match self.reap {
            Reap::Ring | Reap::Syscall => {
                let max = self.slots.depth();
                let got = self
                    .ctx
                    .exclusive()
                    .reap(min, max, Some(TIMEOUT), &mut self.done)
                    .map_err(|e| format!("reaping: {e}"))?;
                if got == 0 {
                    return Err(format!("no completion within {TIMEOUT:?}"));
                }
                got
            }
            Reap::Eventfd => self.reap_by_eventfd(min)?,
        };
        for completion in self.done.drain(..) {
            let slot = completion.user_data() as usize;
            self.slots.complete(slot, completion, done);
        }
        Ok(got)
    }
}
