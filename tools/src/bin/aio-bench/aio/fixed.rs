//! The fixed engine: a [`FixedContext`] per thread, a slot per queue slot that keeps its
//! `iocb` and buffer, and only the offset set per request (`push_at`).

use super::{Buf, TIMEOUT, accepted, alloc_bufs};
use crate::engine::{Dir, Engine};
use crate::target::Target;
use rawaio::{FixedCompletion, FixedContext, FixedSlot, Op};
use std::fs::File;

/// A [`FixedContext`] with one slot per queue slot. A slot is made a read or a write
/// when first used, and made again when a pass changes direction.
pub struct FixedEngine<'f> {
    fixed: FixedContext<'f, Buf>,
    file: &'f File,
    /// The handle of each idle slot, by slot number (`None` while queued or in flight).
    slots: Vec<Option<FixedSlot>>,
    /// The direction each slot's request was made for.
    dirs: Vec<Dir>,
    done: Vec<FixedCompletion>,
}

impl<'f> FixedEngine<'f> {
    pub fn new(target: &'f Target, qd: usize, bs: usize) -> Result<Self, String> {
        let mut fixed = FixedContext::new(qd as u32).map_err(|e| format!("io_setup({qd}): {e}"))?;
        let mut slots = Vec::with_capacity(qd);
        for (n, buf) in alloc_bufs(qd, bs, target.mem_align)?
            .into_iter()
            .enumerate()
        {
            let slot = fixed
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
        let op = self.fixed.remove(handle).map_err(|(_, e)| e.to_string())?;
        let buf = op.into_bufs().pop().expect("reads and writes own a buffer");
        let op = match dir {
            Dir::Read => Op::read(self.file, buf, 0),
            Dir::Write => Op::write(self.file, buf, 0),
        };
        self.fixed
            .insert(op)
            .map_err(|r| format!("preparing a slot: {}", r.error))
    }
}

impl Engine for FixedEngine<'_> {
    fn depth(&self) -> usize {
        self.slots.len()
    }

    fn buf_mut(&mut self, slot: usize) -> &mut [u8] {
        let handle = self.slots[slot].as_ref().expect("a free slot is idle");
        &mut self.fixed.bufs_mut(handle).expect("a slot of this context")[0]
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
            .push_at(handle, offset)
            .map_err(|(_, e)| format!("slot {slot}: {e}"))
    }

    fn submit(&mut self) -> Result<usize, String> {
        accepted(&self.fixed.submit())
    }

    fn reap(
        &mut self,
        min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String> {
        let max = self.slots.len();
        let got = self
            .fixed
            .reap(min, max, Some(TIMEOUT), &mut self.done)
            .map_err(|e| format!("reaping: {e}"))?;
        if got == 0 {
            return Err(format!("no completion within {TIMEOUT:?}"));
        }
        for completion in self.done.drain(..) {
            let result = completion.raw_result();
            let handle = completion.into_slot();
            let slot = handle.index();
            let buf = &self.fixed.bufs(&handle).expect("a slot of this context")[0];
            done(slot, result, buf);
            self.slots[slot] = Some(handle);
        }
        Ok(got)
    }
}
