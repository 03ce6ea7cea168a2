//! The fixed engines: a [`FixedContext`] per thread, a slot per queue slot that keeps its
//! `iocb` and buffer, and only the offset set per request (`push_at`); its completions
//! reaped in the thread (`fixed`) or awaited through an [`AsyncFixedContext`] whose
//! eventfd a minimal executor polls (`fixed-async`).

use super::{Buf, PollReactor, TIMEOUT, accepted, alloc_bufs, wait_readable};
use crate::engine::{Dir, Engine};
use crate::target::Target;
use rawaio::{AsyncFixedContext, FixedCompletion, FixedContext, FixedSlot, Op};
use std::fs::File;
use std::task::{Context as TaskContext, Poll, Waker};

/// A fixed context, and how the engine waits for its completions.
pub trait Fixed<'f>: Sized {
    fn new(qd: usize) -> Result<Self, String>;
    fn fixed(&self) -> &FixedContext<'f, Buf>;
    fn fixed_mut(&mut self) -> &mut FixedContext<'f, Buf>;
    /// Reaps at least `min` (capped at the requests in flight) and at most `max`
    /// completions into `done`.
    fn reap(
        &mut self,
        min: usize,
        max: usize,
        done: &mut Vec<FixedCompletion>,
    ) -> Result<usize, String>;
}

/// Reaped in the thread: the ring, and `io_getevents` to wait.
impl<'f> Fixed<'f> for FixedContext<'f, Buf> {
    fn new(qd: usize) -> Result<Self, String> {
        FixedContext::new(qd as u32).map_err(|e| format!("io_setup({qd}): {e}"))
    }

    fn fixed(&self) -> &FixedContext<'f, Buf> {
        self
    }

    fn fixed_mut(&mut self) -> &mut FixedContext<'f, Buf> {
        self
    }

    fn reap(
        &mut self,
        min: usize,
        max: usize,
        done: &mut Vec<FixedCompletion>,
    ) -> Result<usize, String> {
        FixedContext::reap(self, min, max, Some(TIMEOUT), done).map_err(|e| format!("reaping: {e}"))
    }
}

/// Awaited: `AsyncFixedContext::poll_reap`, and when it is pending, `poll(2)` on the
/// reactor's eventfd. The executor's one task is polled again after every wait, so its
/// waker need do nothing.
pub struct Awaited<'f> {
    ctx: AsyncFixedContext<'f, PollReactor, Buf>,
}

impl<'f> Fixed<'f> for Awaited<'f> {
    fn new(qd: usize) -> Result<Self, String> {
        Ok(Self {
            ctx: AsyncFixedContext::new(qd as u32).map_err(|e| format!("io_setup({qd}): {e}"))?,
        })
    }

    fn fixed(&self) -> &FixedContext<'f, Buf> {
        self.ctx.fixed()
    }

    fn fixed_mut(&mut self) -> &mut FixedContext<'f, Buf> {
        self.ctx.fixed_mut()
    }

    fn reap(
        &mut self,
        min: usize,
        _max: usize,
        done: &mut Vec<FixedCompletion>,
    ) -> Result<usize, String> {
        if min == 0 {
            return self
                .ctx
                .fixed_mut()
                .reap_ready(done)
                .map_err(|e| format!("reaping: {e}"));
        }
        let min = min.min(self.ctx.fixed().in_flight());
        let mut cx = TaskContext::from_waker(Waker::noop());
        let mut got = 0;
        loop {
            match self.ctx.poll_reap(&mut cx, done) {
                Poll::Ready(Ok(n)) => {
                    got += n;
                    if got >= min {
                        return Ok(got);
                    }
                }
                Poll::Ready(Err(e)) => return Err(format!("reaping: {e}")),
                Poll::Pending => {
                    let reactor = self.ctx.reactor();
                    if !wait_readable(&reactor.fd)? {
                        return Err(format!("no completion signalled within {TIMEOUT:?}"));
                    }
                    // The waker the reactor kept is the no-op one: polling again is the
                    // wake-up (a reap finds what came, or waits again).
                    reactor.waker.lock().unwrap().take();
                }
            }
        }
    }
}

/// A fixed context with one slot per queue slot. A slot is made a read or a write
/// when first used, and made again when a pass changes direction.
pub struct FixedEngine<'f, F: Fixed<'f> = FixedContext<'f, Buf>> {
    fixed: F,
    file: &'f File,
    /// The handle of each idle slot, by slot number (`None` while queued or in flight).
    slots: Vec<Option<FixedSlot>>,
    /// The direction each slot's request was made for.
    dirs: Vec<Dir>,
    done: Vec<FixedCompletion>,
}

impl<'f, F: Fixed<'f>> FixedEngine<'f, F> {
    pub fn new(target: &'f Target, qd: usize, bs: usize) -> Result<Self, String> {
        let mut fixed = F::new(qd)?;
        let mut slots = Vec::with_capacity(qd);
        for (n, buf) in alloc_bufs(qd, bs, target.mem_align)?
            .into_iter()
            .enumerate()
        {
            let slot = fixed
                .fixed_mut()
                .insert(Op::read(&target.file, buf, 0))
                .map_err(|r| format!("preparing slot {n}: {}", r.error))?;
            // Inserted in order into an empty context: slot n is the context's slot n.
            assert_eq!(slot.index(), n);
            slots.push(Some(slot));
        }
        Ok(Self {
            fixed,
            file: &target.file,
            slots,
            dirs: vec![Dir::Read; qd],
            done: Vec::with_capacity(qd),
        })
    }

    /// Makes a slot's request one in direction `dir`, keeping its buffer.
    fn redirect(&mut self, handle: FixedSlot, dir: Dir) -> Result<FixedSlot, String> {
        let op = self
            .fixed
            .fixed_mut()
            .remove(handle)
            .map_err(|(_, e)| e.to_string())?;
        let buf = op.into_bufs().pop().expect("reads and writes own a buffer");
        let op = match dir {
            Dir::Read => Op::read(self.file, buf, 0),
            Dir::Write => Op::write(self.file, buf, 0),
        };
        self.fixed
            .fixed_mut()
            .insert(op)
            .map_err(|r| format!("preparing a slot: {}", r.error))
    }
}

impl<'f, F: Fixed<'f>> Engine for FixedEngine<'f, F> {
    fn depth(&self) -> usize {
        self.slots.len()
    }

    fn buf_mut(&mut self, slot: usize) -> &mut [u8] {
        let handle = self.slots[slot].as_ref().expect("a free slot is idle");
        &mut self
            .fixed
            .fixed_mut()
            .bufs_mut(handle)
            .expect("a slot of this context")[0]
    }

    fn prepare(&mut self, slot: usize, offset: u64, dir: Dir) -> Result<(), String> {
        let mut handle = self.slots[slot].take().expect("a free slot is idle");
        if self.dirs[slot] != dir {
            // The slot just vacated is the first taken again: same number.
            handle = self.redirect(handle, dir)?;
            assert_eq!(handle.index(), slot);
            self.dirs[slot] = dir;
        }
        self.fixed
            .fixed_mut()
            .push_at(handle, offset)
            .map_err(|(_, e)| format!("slot {slot}: {e}"))
    }

    fn submit(&mut self) -> Result<usize, String> {
        accepted(&self.fixed.fixed_mut().submit())
    }

    fn reap(
        &mut self,
        min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String> {
        let max = self.slots.len();
        let got = self.fixed.reap(min, max, &mut self.done)?;
        if got == 0 {
            return Err(format!("no completion within {TIMEOUT:?}"));
        }
        for completion in self.done.drain(..) {
            let result = completion.raw_result();
            let handle = completion.into_slot();
            let slot = handle.index();
            let buf = &self
                .fixed
                .fixed()
                .bufs(&handle)
                .expect("a slot of this context")[0];
            done(slot, result, buf);
            self.slots[slot] = Some(handle);
        }
        Ok(got)
    }
}
