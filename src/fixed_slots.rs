//! The slot table of a [`FixedContext`](crate::FixedContext): requests prepared once and
//! submitted many times.
//!
//! A slot keeps, from [`insert`](FixedTable::insert) until [`remove`](FixedTable::remove),
//! a request's template (an [`Op`]: its buffers and descriptors) and the `iocb` (and
//! `iovec`s) encoded from it by the one encoder. Between submissions the caller changes
//! the file offset, the length and the `RWF_*` flags: each change is checked by the rules
//! of [`check`](crate::request::check) and written into the template and the `iocb` at
//! once, so that a submission only collects addresses. Lending a slot's buffers out
//! mutably marks the slot for the full check and a new encoding before it is submitted
//! again (the buffer's address or length may have changed meanwhile).
//!
//! Whoever holds a slot's [`FixedSlot`] holds the slot: a handle is neither `Clone` nor
//! made outside this module, exactly one exists per idle slot, submission consumes it and
//! the slot's completion gives it back. So nothing reaches the buffers or the `iocb` of a
//! slot in flight.
//!
//! # Safety
//!
//! The `iocb`s and `iovec`s live in per-slot memory ([`SlotMem`]) whose addresses never
//! change. Every write to a slot's memory goes through `&mut self` and needs the slot's
//! handle (or the slot vacant), so it happens only while the slot is idle; the kernel
//! reads that memory (and writes `aio_key`) only during the `io_submit` of the addresses
//! [`prepare`](FixedTable::prepare) returned, which the owner makes while it holds the
//! table, before it marks the slot [`submitted`](FixedTable::submitted). The buffers of a
//! slot in flight stay in the table until its completion is delivered; the owner destroys
//! the kernel context before dropping the table, or [`leak`](FixedTable::leak)s it.

#![allow(unsafe_code)]

use crate::error::{Error, InvalidOp};
use crate::request::buf::IoBuf;
use crate::request::check::{check, check_offset};
use crate::request::encode::encode;
use crate::request::op::{Bufs, Op};
use crate::slots::{SlotMem, next_table_id};
use rawaio_abi::{RwfFlags, io_event, iocb};
use rustix::io::Errno;
use std::fmt;

/// One idle slot of a [`FixedContext`](crate::FixedContext): the handle that lets its
/// owner change the request's offset, length and flags, reach its buffers, and submit it.
///
/// There is exactly one handle per idle slot. Submitting the slot consumes it; the slot's
/// [`FixedCompletion`] gives it back. A handle cannot be copied, so a slot in flight is out
/// of reach. Dropping a handle loses the slot (its buffers are freed with the context);
/// [`FixedContext::remove`](crate::FixedContext::remove) gives the request back instead.
#[must_use = "a slot is reachable only through its handle: dropping it loses the slot"]
#[derive(PartialEq, Eq)]
pub struct FixedSlot {
    index: u32,
    table: u64,
}

impl FixedSlot {
    /// The slot's number, from 0 to the context's [`capacity`](crate::FixedContext::capacity)
    /// minus 1: a key for the caller's own per-slot data.
    pub fn index(&self) -> usize {
        self.index as usize
    }
}

impl fmt::Debug for FixedSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedSlot")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// A finished fixed request: its result, and its slot back.
#[must_use = "the slot comes back only through its completion"]
#[derive(Debug)]
pub struct FixedCompletion {
    slot: FixedSlot,
    res: i64,
    res2: i64,
}

impl FixedCompletion {
    /// The slot, idle again.
    pub fn slot(&self) -> &FixedSlot {
        &self.slot
    }

    /// Takes the slot back, to change and submit it again.
    pub fn into_slot(self) -> FixedSlot {
        self.slot
    }

    /// The kernel's result: the bytes transferred (for a poll, the ready mask; for a sync,
    /// 0), or the error.
    ///
    /// # Errors
    /// The errno of a failed request, such as `EIO`, `ENOSPC`, or `EINVAL` for misaligned
    /// direct I/O.
    pub fn result(&self) -> Result<u64, Errno> {
        rawaio_abi::decode_res(self.res).map_err(|e| Errno::from_raw_os_error(e.into()))
    }

    /// The kernel's `res`, a signed 64-bit value, unchanged.
    pub fn raw_result(&self) -> i64 {
        self.res
    }

    /// The kernel's secondary result, `res2`.
    pub fn res2(&self) -> i64 {
        self.res2
    }
}

/// Where a slot is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No request.
    Vacant,
    /// A request whose `iocb` is ready to submit.
    Idle,
    /// A request whose buffers were lent out mutably: check and encode it again first.
    Dirty,
    /// Submitted; the handle is the kernel's until the completion is delivered.
    InFlight,
}

/// A slot's request, kept between submissions.
struct Template<'fd, B> {
    op: Op<'fd, B>,
    /// For a plain read or write: where the transferred part of the buffer starts, and
    /// how long it may be (the buffer's length past that start).
    start: usize,
    cap: usize,
    /// The total length the request transfers, for the offset rule.
    len: u64,
}

/// The slot table of a fixed context.
pub(crate) struct FixedTable<'fd, B> {
    mem: Box<[SlotMem]>,
    state: Box<[State]>,
    templates: Box<[Option<Template<'fd, B>>]>,
    /// Vacant slots; popped from the end, so slot 0 is used first.
    free: Vec<u32>,
    id: u64,
    /// The context's own eventfd, which every request signals.
    resfd: Option<u32>,
}

// SAFETY: the buffers and descriptors (which are `Send`) move with the table; `SlotMem`
// holds plain data and addresses into the table's own memory, used under the protocol of
// the module docs, which needs `&mut self` for every write.
unsafe impl<B: Send> Send for FixedTable<'_, B> {}
// SAFETY: `&self` methods only read the templates and the state; nothing is written
// through a shared reference (the kernel writes a slot's `aio_key` only during an
// `io_submit` made under `&mut self`).
unsafe impl<B: Send + Sync> Sync for FixedTable<'_, B> {}

impl<'fd, B: IoBuf> FixedTable<'fd, B> {
    /// A table of `capacity` vacant slots; `resfd` is the context's eventfd.
    pub(crate) fn new(capacity: u32, resfd: Option<u32>) -> Self {
        Self {
            mem: (0..capacity).map(|_| SlotMem::new()).collect(),
            state: vec![State::Vacant; capacity as usize].into_boxed_slice(),
            templates: (0..capacity).map(|_| None).collect(),
            free: (0..capacity).rev().collect(),
            id: next_table_id(),
            resfd,
        }
    }

    /// How many slots the table has.
    pub(crate) fn capacity(&self) -> usize {
        self.state.len()
    }

    /// How many slots hold a request.
    pub(crate) fn occupied(&self) -> usize {
        self.capacity() - self.free.len()
    }

    /// Checks `op` and makes it a slot's template, encoding its `iocb`; the op comes
    /// back with the error when it is refused (invalid, or `EAGAIN`: no vacant slot).
    #[allow(clippy::result_large_err)] // the op comes back by value, as from submit
    pub(crate) fn insert(&mut self, mut op: Op<'fd, B>) -> Result<FixedSlot, (Error, Op<'fd, B>)> {
        let checked = match check(&mut op, self.resfd.is_some()) {
            Ok(checked) => checked,
            Err(e) => return Err((e.into(), op)),
        };
        let Some(index) = self.free.pop() else {
            return Err((Errno::AGAIN.into(), op));
        };
        let i = index as usize;
        let mem = &self.mem[i];
        // SAFETY: the slot is vacant, so the kernel does not read its memory, and
        // `&mut self` excludes every other access.
        unsafe {
            *mem.iocb() = encode(
                &mut op,
                &checked,
                u64::from(index),
                self.resfd,
                &mut *mem.iovecs(),
            );
        }
        let (start, cap) = window(&op, checked.window);
        self.templates[i] = Some(Template {
            op,
            start,
            cap,
            len: checked.len,
        });
        self.state[i] = State::Idle;
        Ok(FixedSlot {
            index,
            table: self.id,
        })
    }

    /// Empties an idle slot and gives its request back, with the offset, length and flags
    /// last set.
    pub(crate) fn remove(&mut self, slot: FixedSlot) -> Result<Op<'fd, B>, (FixedSlot, InvalidOp)> {
        let i = match self.idle(&slot) {
            Ok(i) => i,
            Err(e) => return Err((slot, e)),
        };
        let Some(template) = self.templates[i].take() else {
            return Err((slot, InvalidOp::ForeignSlot));
        };
        self.state[i] = State::Vacant;
        self.free.push(slot.index);
        Ok(template.op)
    }

    /// The index of a slot of this table (a handle always names an idle one).
    #[inline]
    fn idle(&self, slot: &FixedSlot) -> Result<usize, InvalidOp> {
        if slot.table != self.id {
            return Err(InvalidOp::ForeignSlot);
        }
        let i = slot.index as usize;
        debug_assert!(matches!(self.state[i], State::Idle | State::Dirty));
        Ok(i)
    }

    #[inline]
    fn template_mut(
        &mut self,
        slot: &FixedSlot,
    ) -> Result<(usize, &mut Template<'fd, B>), InvalidOp> {
        let i = self.idle(slot)?;
        let t = self.templates[i].as_mut().ok_or(InvalidOp::ForeignSlot)?;
        Ok((i, t))
    }

    /// The request of an idle slot, as last set.
    pub(crate) fn op(&self, slot: &FixedSlot) -> Option<&Op<'fd, B>> {
        let i = self.idle(slot).ok()?;
        self.templates[i].as_ref().map(|t| &t.op)
    }

    /// The buffers of an idle slot.
    pub(crate) fn bufs(&self, slot: &FixedSlot) -> Option<&[B]> {
        self.op(slot).map(|op| match &op.bufs {
            Bufs::None => &[][..],
            Bufs::One(b) => std::slice::from_ref(b),
            Bufs::Many(bs) => &bs[..],
        })
    }

    /// The buffers of an idle slot, mutably: the slot is checked and encoded again before
    /// its next submission.
    pub(crate) fn bufs_mut(&mut self, slot: &FixedSlot) -> Option<&mut [B]> {
        let (i, _) = self.template_mut(slot).ok()?;
        self.state[i] = State::Dirty;
        let t = self.templates[i].as_mut()?;
        Some(match &mut t.op.bufs {
            Bufs::None => &mut [][..],
            Bufs::One(b) => std::slice::from_mut(b),
            Bufs::Many(bs) => &mut bs[..],
        })
    }

    /// Sets the file offset of an idle slot's request.
    #[inline]
    pub(crate) fn set_offset(&mut self, slot: &FixedSlot, offset: u64) -> Result<(), InvalidOp> {
        let (i, t) = self.template_mut(slot)?;
        check_offset(offset, t.len)?;
        if let Some(align) = t.op.align {
            // Address and length 0 are aligned to anything: only the offset is checked.
            align.check(0, 0, offset)?;
        }
        t.op.offset = offset;
        // SAFETY: the slot is idle (its handle is here), so the kernel does not read its
        // `iocb`; `&mut self` excludes every other access.
        unsafe { (*self.mem[i].iocb()).aio_offset = offset as i64 };
        Ok(())
    }

    /// Sets how many bytes an idle plain read's or write's request transfers, from the
    /// start of its window (the start of the buffer, or of the template's range).
    pub(crate) fn set_len(&mut self, slot: &FixedSlot, len: usize) -> Result<(), InvalidOp> {
        let (i, t) = self.template_mut(slot)?;
        if !matches!(t.op.bufs, Bufs::One(_)) {
            return Err(InvalidOp::RangeNotAllowed);
        }
        if len > t.cap {
            return Err(InvalidOp::Range {
                start: t.start,
                end: t.start.saturating_add(len),
                len: t.start + t.cap,
            });
        }
        check_offset(t.op.offset, len as u64)?;
        if let Some(align) = t.op.align {
            align.check(0, len, 0)?;
        }
        t.op.range = Some((t.start, Some(t.start + len)));
        t.len = len as u64;
        // SAFETY: as in `set_offset`.
        unsafe { (*self.mem[i].iocb()).aio_nbytes = len as u64 };
        Ok(())
    }

    /// Sets the `RWF_*` flags of an idle slot's request (reads and writes only).
    pub(crate) fn set_rw_flags(
        &mut self,
        slot: &FixedSlot,
        flags: RwfFlags,
    ) -> Result<(), InvalidOp> {
        let (i, t) = self.template_mut(slot)?;
        if !flags.is_empty() && matches!(t.op.bufs, Bufs::None) {
            return Err(InvalidOp::FlagsNotAllowed);
        }
        t.op.rw_flags = flags;
        // SAFETY: as in `set_offset`.
        unsafe { (*self.mem[i].iocb()).set_rw_flags(flags) };
        Ok(())
    }

    /// The `iocb` to submit for an idle slot (checked and encoded again first, if its
    /// buffers were lent out). The slot stays idle until [`submitted`](Self::submitted).
    #[inline]
    pub(crate) fn prepare(&mut self, slot: &FixedSlot) -> Result<*mut iocb, InvalidOp> {
        let i = self.idle(slot)?;
        if self.state[i] == State::Dirty {
            self.encode_again(i)?;
        }
        Ok(self.mem[i].iocb())
    }

    #[cold]
    fn encode_again(&mut self, i: usize) -> Result<(), InvalidOp> {
        let t = self.templates[i].as_mut().ok_or(InvalidOp::ForeignSlot)?;
        let checked = check(&mut t.op, self.resfd.is_some())?;
        let mem = &self.mem[i];
        // SAFETY: the slot is idle: as in `set_offset`.
        unsafe {
            *mem.iocb() = encode(
                &mut t.op,
                &checked,
                i as u64,
                self.resfd,
                &mut *mem.iovecs(),
            );
        }
        (t.start, t.cap) = window(&t.op, checked.window);
        t.len = checked.len;
        self.state[i] = State::Idle;
        Ok(())
    }

    /// Marks a prepared slot submitted: the kernel accepted its `iocb`, and the slot is
    /// in flight until its completion is delivered.
    #[inline]
    pub(crate) fn submitted(&mut self, slot: FixedSlot) {
        debug_assert_eq!(slot.table, self.id);
        self.state[slot.index as usize] = State::InFlight;
    }

    /// The completion `event` reports, giving its slot back; `None` for an event that
    /// names no slot in flight (a request submitted behind the table's back).
    #[inline]
    pub(crate) fn complete(&mut self, event: &io_event) -> Option<FixedCompletion> {
        let index = u32::try_from(event.data).ok()?;
        let state = self.state.get_mut(index as usize)?;
        if *state != State::InFlight {
            return None;
        }
        *state = State::Idle;
        Some(FixedCompletion {
            slot: FixedSlot {
                index,
                table: self.id,
            },
            res: event.res,
            res2: event.res2,
        })
    }

    /// The `iocb` address of a slot in flight, for `io_cancel`.
    pub(crate) fn in_flight_iocb(&self, index: usize) -> Option<*mut iocb> {
        (self.state.get(index) == Some(&State::InFlight)).then(|| self.mem[index].iocb())
    }

    /// Whether the slot numbered `index` is in flight.
    pub(crate) fn is_in_flight(&self, index: usize) -> bool {
        self.state.get(index) == Some(&State::InFlight)
    }

    /// Never frees the templates: for a context whose destruction failed, whose buffers
    /// the kernel might still use.
    pub(crate) fn leak(&mut self) {
        for template in self.templates.iter_mut() {
            if let Some(t) = template.take() {
                std::mem::forget(t);
            }
        }
    }
}

/// Where the window of a plain request starts and how long it may grow.
fn window<B: IoBuf>(op: &Op<'_, B>, (start, _): (usize, usize)) -> (usize, usize) {
    match &op.bufs {
        Bufs::One(b) => (start, b.io_len() - start),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AlignedBuf;
    use crate::direct::{DioAlign, MisalignedPart};
    use rawaio_abi::{IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE};
    use std::os::fd::BorrowedFd;

    fn fd() -> BorrowedFd<'static> {
        // SAFETY: fd 0 is only recorded, never used: nothing is submitted.
        unsafe { BorrowedFd::borrow_raw(0) }
    }

    fn cb(ptr: *mut iocb) -> iocb {
        // SAFETY: an `iocb` of the table, read while no one writes it.
        unsafe { *ptr }
    }

    fn event(data: u64, res: i64) -> io_event {
        io_event {
            data,
            obj: 0,
            res,
            res2: 0,
        }
    }

    #[test]
    fn a_slot_keeps_its_iocb_and_buffer_between_submissions() {
        let mut table = FixedTable::<Vec<u8>>::new(4, Some(9));
        let buf = vec![0u8; 4096];
        let addr = buf.as_ptr() as u64;
        let slot = table.insert(Op::read(fd(), buf, 0).user_data(5)).unwrap();
        assert_eq!((slot.index(), table.occupied()), (0, 1));
        for round in 0..3u64 {
            table.set_offset(&slot, round * 4096).unwrap();
            let ptr = table.prepare(&slot).unwrap();
            let c = cb(ptr);
            assert_eq!(c.aio_lio_opcode, IOCB_CMD_PREAD);
            assert_eq!(
                (c.aio_buf, c.aio_nbytes),
                (addr, 4096),
                "the buffer stays put"
            );
            assert_eq!(c.aio_offset, (round * 4096) as i64);
            assert_eq!((c.aio_data, c.aio_flags, c.aio_resfd), (0, 1, 9));
            table.submitted(slot_copy(&slot));
            let done = table.complete(&event(c.aio_data, 4096)).unwrap();
            assert_eq!((done.result(), done.res2()), (Ok(4096), 0));
            assert_eq!(done.slot().index(), 0);
            assert!(
                table.complete(&event(c.aio_data, 4096)).is_none(),
                "a completion is delivered once"
            );
        }
        let op = table.remove(slot).unwrap();
        assert_eq!((op.offset(), op.get_user_data()), (8192, 5));
        assert_eq!(op.into_bufs()[0].as_ptr() as u64, addr);
        assert_eq!(table.occupied(), 0);
    }

    // Tests stand in for the kernel: they duplicate a handle the way a completion does.
    fn slot_copy(slot: &FixedSlot) -> FixedSlot {
        FixedSlot {
            index: slot.index,
            table: slot.table,
        }
    }

    #[test]
    fn offsets_lengths_and_flags_are_checked_by_the_one_rule() {
        let mut table = FixedTable::<AlignedBuf>::new(2, None);
        let align = DioAlign {
            memory: 512,
            offset: 512,
        };
        let buf = AlignedBuf::new(4096, 512).unwrap();
        let slot = table
            .insert(Op::write(fd(), buf, 0).aligned_to(align))
            .unwrap();
        let misaligned = |r: Result<(), InvalidOp>| match r {
            Err(InvalidOp::Misaligned(m)) => Some(m.part()),
            _ => None,
        };
        assert_eq!(
            misaligned(table.set_offset(&slot, 100)),
            Some(MisalignedPart::Offset)
        );
        assert_eq!(
            misaligned(table.set_len(&slot, 100)),
            Some(MisalignedPart::Length)
        );
        assert!(matches!(
            table.set_offset(&slot, i64::MAX as u64),
            Err(InvalidOp::OffsetTooLarge { .. })
        ));
        assert_eq!(
            table.set_len(&slot, 8192),
            Err(InvalidOp::Range {
                start: 0,
                end: 8192,
                len: 4096
            })
        );
        table.set_len(&slot, 1024).unwrap();
        table.set_offset(&slot, 512).unwrap();
        table.set_rw_flags(&slot, RwfFlags::DSYNC).unwrap();
        let c = cb(table.prepare(&slot).unwrap());
        assert_eq!(c.aio_lio_opcode, IOCB_CMD_PWRITE);
        assert_eq!((c.aio_nbytes, c.aio_offset), (1024, 512));
        assert_eq!(c.rw_flags(), RwfFlags::DSYNC);
        assert_eq!(table.op(&slot).unwrap().len(), 1024, "the template follows");
        // The offset rule now counts the new length.
        assert!(table.set_offset(&slot, i64::MAX as u64 - 1024).is_err());

        let sync = table.insert(Op::fsync(fd())).unwrap();
        assert_eq!(table.set_len(&sync, 0), Err(InvalidOp::RangeNotAllowed));
        assert_eq!(
            table.set_rw_flags(&sync, RwfFlags::SYNC),
            Err(InvalidOp::FlagsNotAllowed)
        );
        table.set_rw_flags(&sync, RwfFlags::empty()).unwrap();
        assert_eq!(table.bufs(&sync).unwrap().len(), 0);
        let mut op = Op::<AlignedBuf>::fsync(fd());
        op = match table.insert(op) {
            Err((Error::Os(Errno::AGAIN), op)) => op,
            other => panic!("a full table pushes back: {other:?}"),
        };
        assert_eq!(op.opcode(), rawaio_abi::IOCB_CMD_FSYNC);
    }

    #[test]
    fn lent_buffers_are_checked_and_encoded_again() {
        let mut table = FixedTable::<Vec<u8>>::new(1, None);
        let slot = table
            .insert(Op::read(fd(), vec![0u8; 100], 0).range(10..60))
            .unwrap();
        let c = cb(table.prepare(&slot).unwrap());
        assert_eq!(c.aio_nbytes, 50);
        // Replace the buffer with a shorter one: the old window no longer fits.
        table.bufs_mut(&slot).unwrap()[0] = vec![1u8; 40];
        assert!(matches!(table.prepare(&slot), Err(InvalidOp::Range { .. })));
        table.set_len(&slot, 20).unwrap();
        let ptr = table.prepare(&slot).unwrap();
        let new_addr = table.bufs(&slot).unwrap()[0].as_ptr() as u64;
        let c = cb(ptr);
        assert_eq!((c.aio_buf, c.aio_nbytes), (new_addr + 10, 20));
        // And it stays encoded: a second prepare changes nothing.
        assert_eq!(cb(table.prepare(&slot).unwrap()), c);
    }

    #[test]
    fn vectored_slots_keep_their_iovecs() {
        let mut table = FixedTable::<Vec<u8>>::new(1, None);
        let slot = table
            .insert(Op::readv(fd(), vec![vec![0u8; 3], vec![0u8; 5]], 0))
            .unwrap();
        let c = cb(table.prepare(&slot).unwrap());
        assert_eq!((c.aio_lio_opcode, c.aio_nbytes), (IOCB_CMD_PREADV, 2));
        // SAFETY: `aio_buf` points to the slot's iovec array, which the table keeps.
        let lens: Vec<usize> = unsafe {
            std::slice::from_raw_parts(
                c.aio_buf as usize as *const crate::request::encode::Iovec,
                2,
            )
        }
        .iter()
        .map(|v| v.len)
        .collect();
        assert_eq!(lens, [3, 5]);
        assert_eq!(table.set_len(&slot, 1), Err(InvalidOp::RangeNotAllowed));
        table.set_offset(&slot, 7).unwrap();
        table.bufs_mut(&slot).unwrap()[1].push(0);
        let c = cb(table.prepare(&slot).unwrap());
        assert_eq!(c.aio_offset, 7, "the new encoding keeps the offset");
        assert_eq!(table.op(&slot).unwrap().len(), 9);
    }

    #[test]
    fn foreign_handles_and_stray_events_reach_nothing() {
        let mut a = FixedTable::<Vec<u8>>::new(1, None);
        let mut b = FixedTable::<Vec<u8>>::new(1, None);
        let sa = a.insert(Op::write(fd(), vec![1], 0)).unwrap();
        let sb = b.insert(Op::write(fd(), vec![2], 0)).unwrap();
        assert_eq!(b.set_offset(&sa, 0), Err(InvalidOp::ForeignSlot));
        assert!(b.bufs(&sa).is_none() && b.op(&sa).is_none());
        assert!(b.bufs_mut(&sa).is_none());
        assert!(matches!(b.prepare(&sa), Err(InvalidOp::ForeignSlot)));
        let (sa, e) = b.remove(sa).unwrap_err();
        assert_eq!(e, InvalidOp::ForeignSlot);
        // Events for idle, vacant or unknown slots are ignored.
        for data in [0, 1, u64::from(u32::MAX), 1 << 32] {
            assert!(b.complete(&event(data, 1)).is_none(), "{data}");
        }
        assert!(!b.is_in_flight(0) && b.in_flight_iocb(0).is_none());
        b.prepare(&sb).unwrap();
        b.submitted(sb);
        assert!(b.is_in_flight(0) && b.in_flight_iocb(0).is_some());
        let sb = b.complete(&event(0, 1)).unwrap().into_slot();
        assert_eq!(b.remove(sb).unwrap().into_bufs(), vec![vec![2]]);
        assert_eq!(a.remove(sa).unwrap().into_bufs(), vec![vec![1]]);
    }

    #[test]
    fn leaked_templates_are_never_dropped() {
        use std::sync::Arc;
        let shared: Arc<[u8]> = Arc::from(vec![0u8; 8]);
        let mut table = FixedTable::<Arc<[u8]>>::new(1, None);
        let _slot = table
            .insert(Op::write(fd(), Arc::clone(&shared), 0))
            .unwrap();
        table.leak();
        drop(table);
        assert_eq!(
            Arc::strong_count(&shared),
            2,
            "the table's clone was leaked"
        );
    }

    #[test]
    fn invalid_templates_come_back_whole() {
        let mut table = FixedTable::<Vec<u8>>::new(1, Some(3));
        let (e, op) = table
            .insert(Op::write(fd(), vec![1], 0).notify(fd()))
            .unwrap_err();
        assert_eq!(e, Error::Invalid(InvalidOp::NotifyConflict));
        assert_eq!(op.into_bufs(), vec![vec![1]]);
        assert_eq!(table.occupied(), 0);
    }
}
