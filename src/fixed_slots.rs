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
//! made outside this module, exactly one exists per idle slot, [`push`](FixedTable::push)
//! consumes it into the table's submission queue (the `iocb` addresses of the next
//! `io_submit`, in order), and the slot's completion gives it back (or
//! [`take_queued`](FixedTable::take_queued), for a slot pushed and never submitted). So
//! nothing reaches the buffers or the `iocb` of a slot queued or in flight.
//!
//! # Safety
//!
//! The `iocb`s and `iovec`s live in per-slot memory ([`FixedMem`]) whose addresses never
//! change. Every write to a slot's memory goes through `&mut self` and needs the slot's
//! handle (or the slot vacant), so it happens only while the slot is idle; the kernel
//! reads that memory (and writes `aio_key`) only during the `io_submit` of the
//! [`queue`](FixedTable::queue), which the owner makes while it holds the table, before it
//! marks the accepted slots [`submitted`](FixedTable::submitted). The buffers of a slot in
//! flight stay in the table until its completion is delivered; the owner destroys the
//! kernel context before dropping the table, or [`leak`](FixedTable::leak)s it.

#![allow(unsafe_code)]

use crate::error::{Error, InvalidOp};
use crate::request::buf::IoBuf;
use crate::request::check::{check, check_offset};
use crate::request::encode::Iovec;
use crate::request::encode::encode;
use crate::request::op::{Bufs, Op};
use crate::slots::next_table_id;
use rawaio_abi::{RwfFlags, io_event, iocb};
use rustix::io::Errno;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::ptr::NonNull;

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
    /// In the submission queue: the handle is the table's.
    Queued,
    /// Submitted; the handle is the kernel's until the completion is delivered.
    InFlight,
}

/// One slot's memory: what the kernel reads (the `iocb`, which the kernel copies at
/// submission and writes `aio_key` into, on a cache line of its own, then the `iovec`s),
/// and beside them what a submission checks, so that one slot is one place. Reached only
/// through shared references ([`SlotArray`]): the `iocb` and `iovec`s through their
/// `UnsafeCell`s, the rest through `Cell`s, written only by `&mut FixedTable` methods.
#[repr(C, align(64))]
struct FixedMem {
    iocb: UnsafeCell<iocb>,
    iovecs: UnsafeCell<Vec<Iovec>>,
    state: Cell<State>,
    /// The total length the request transfers, for the offset rule.
    len: Cell<u64>,
    /// The file offset alignment the request was made with ([`Op::aligned_to`]); 0 or 1
    /// for none.
    align: Cell<u64>,
}

impl FixedMem {
    fn vacant() -> Self {
        Self {
            iocb: UnsafeCell::new(iocb::default()),
            iovecs: UnsafeCell::new(Vec::new()),
            state: Cell::new(State::Vacant),
            len: Cell::new(0),
            align: Cell::new(0),
        }
    }

    /// The address of the slot's `iocb`, which never changes.
    #[inline]
    fn iocb(&self) -> *mut iocb {
        self.iocb.get()
    }

    /// The address of the slot's `iovec` array.
    #[inline]
    fn iovecs(&self) -> *mut Vec<Iovec> {
        self.iovecs.get()
    }
}

/// The slots' memory: one allocation that only shared references reach, so that the
/// `iocb` addresses waiting in the queue stay valid whatever happens to the table (a
/// `Box` would be reborrowed uniquely, in Rust's aliasing model, whenever it is moved or
/// borrowed mutably, and that would invalidate them).
struct SlotArray {
    ptr: NonNull<FixedMem>,
    len: usize,
}

impl SlotArray {
    fn new(len: usize) -> Self {
        let slots: Box<[FixedMem]> = (0..len).map(|_| FixedMem::vacant()).collect();
        let ptr = NonNull::from(Box::leak(slots)).cast::<FixedMem>();
        Self { ptr, len }
    }

    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&FixedMem> {
        // SAFETY: `i < len`, inside the allocation, which lives as long as `self`; only
        // shared references to its elements are ever made.
        (i < self.len).then(|| unsafe { &*self.ptr.as_ptr().add(i) })
    }
}

impl std::ops::Index<usize> for SlotArray {
    type Output = FixedMem;

    #[inline]
    fn index(&self, i: usize) -> &FixedMem {
        self.get(i).expect("a slot of the table")
    }
}

impl Drop for SlotArray {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
        // SAFETY: the allocation was leaked from a `Box<[FixedMem]>` of `len` elements in
        // `new`, and is freed once, here; no reference to it outlives `self`.
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// A slot's request, kept between submissions. Its offset is the `iocb`'s (the template's
/// own is brought up to date whenever the template is used).
struct Template<'fd, B> {
    op: Op<'fd, B>,
    /// For a plain read or write: where the transferred part of the buffer starts, and
    /// how long it may be (the buffer's length past that start).
    start: usize,
    cap: usize,
}

/// An `iocb` address to submit. Only ever dereferenced by the kernel, during an
/// `io_submit` of the queue.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct IocbPtr(*mut iocb);

/// The slot table of a fixed context.
pub(crate) struct FixedTable<'fd, B> {
    slots: SlotArray,
    templates: Box<[Option<Template<'fd, B>>]>,
    /// The submission queue: the `iocb` addresses of the slots pushed, in order (each
    /// `iocb`'s `aio_data` is its slot's number); `queued` of them.
    queue: Box<[IocbPtr]>,
    queued: usize,
    /// Vacant slots; popped from the end, so slot 0 is used first.
    free: Vec<u32>,
    id: u64,
    /// The context's own eventfd, which every request signals.
    resfd: Option<u32>,
}

// SAFETY: the buffers and descriptors (which are `Send`) move with the table; the slot
// memory holds plain data and addresses into the table's own memory, used under the
// protocol of the module docs, which needs `&mut self` for every write (`Cell`s included).
unsafe impl<B: Send> Send for FixedTable<'_, B> {}
// SAFETY: `&self` methods only read the templates, the `iocb`s and the `Cell`s; nothing is
// written through a `&self` method (the kernel writes a slot's `aio_key` only during an
// `io_submit` made under `&mut self`).
unsafe impl<B: Send + Sync> Sync for FixedTable<'_, B> {}

impl<'fd, B: IoBuf> FixedTable<'fd, B> {
    /// A table of `capacity` vacant slots; `resfd` is the context's eventfd.
    pub(crate) fn new(capacity: u32, resfd: Option<u32>) -> Self {
        Self {
            slots: SlotArray::new(capacity as usize),
            templates: (0..capacity).map(|_| None).collect(),
            queue: vec![IocbPtr(std::ptr::null_mut()); capacity as usize].into_boxed_slice(),
            queued: 0,
            free: (0..capacity).rev().collect(),
            id: next_table_id(),
            resfd,
        }
    }

    /// How many slots the table has.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
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
        let mem = &self.slots[i];
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
        let mem = &self.slots[i];
        mem.state.set(State::Idle);
        mem.len.set(checked.len);
        mem.align.set(op.align.map_or(0, |a| a.offset as u64));
        self.templates[i] = Some(Template { op, start, cap });
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
        self.sync(i);
        let Some(template) = self.templates[i].take() else {
            return Err((slot, InvalidOp::ForeignSlot));
        };
        self.slots[i].state.set(State::Vacant);
        self.free.push(slot.index);
        Ok(template.op)
    }

    /// Brings an idle slot's template up to date with its `iocb` (the offset, which only
    /// the `iocb` holds in between).
    fn sync(&mut self, i: usize) {
        // SAFETY: the slot is idle: the kernel does not read its `iocb`, and `&mut self`
        // excludes every other access.
        let offset = unsafe { (*self.slots[i].iocb()).aio_offset };
        if let Some(t) = self.templates[i].as_mut() {
            t.op.offset = offset as u64;
        }
    }

    /// The index of a slot of this table (a handle always names an idle one).
    #[inline(always)]
    fn idle(&self, slot: &FixedSlot) -> Result<usize, InvalidOp> {
        if slot.table != self.id {
            return Err(InvalidOp::ForeignSlot);
        }
        let i = slot.index as usize;
        debug_assert!(matches!(
            self.slots[i].state.get(),
            State::Idle | State::Dirty
        ));
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

    /// The file offset of an idle slot's request.
    pub(crate) fn offset(&self, slot: &FixedSlot) -> Option<u64> {
        let i = self.idle(slot).ok()?;
        // SAFETY: the slot is idle: nothing writes its `iocb` during this `&self` borrow.
        Some(unsafe { (*self.slots[i].iocb()).aio_offset } as u64)
    }

    /// The total length an idle slot's request transfers.
    pub(crate) fn len(&self, slot: &FixedSlot) -> Option<u64> {
        let i = self.idle(slot).ok()?;
        Some(self.slots[i].len.get())
    }

    /// The buffers of an idle slot.
    pub(crate) fn bufs(&self, slot: &FixedSlot) -> Option<&[B]> {
        let i = self.idle(slot).ok()?;
        self.templates[i].as_ref().map(|t| match &t.op.bufs {
            Bufs::None => &[][..],
            Bufs::One(b) => std::slice::from_ref(b),
            Bufs::Many(bs) => &bs[..],
        })
    }

    /// The buffers of an idle slot, mutably: the slot is checked and encoded again before
    /// its next submission.
    pub(crate) fn bufs_mut(&mut self, slot: &FixedSlot) -> Option<&mut [B]> {
        let (i, _) = self.template_mut(slot).ok()?;
        self.slots[i].state.set(State::Dirty);
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
        let i = self.idle(slot)?;
        let mem = &self.slots[i];
        check_offset(offset, mem.len.get())?;
        let align = mem.align.get();
        if align > 1 && offset % align != 0 {
            return Err(self.misaligned_offset(i, offset));
        }
        // SAFETY: the slot is idle (its handle is here), so the kernel does not read its
        // `iocb`; `&mut self` excludes every other access.
        unsafe { (*self.slots[i].iocb()).aio_offset = offset as i64 };
        Ok(())
    }

    /// The error of a misaligned offset, from the one alignment rule.
    #[cold]
    fn misaligned_offset(&self, i: usize, offset: u64) -> InvalidOp {
        let align = self.templates[i].as_ref().and_then(|t| t.op.align);
        // Address and length 0 are aligned to anything: only the offset is checked.
        match align.map(|a| a.check(0, 0, offset)) {
            Some(Err(e)) => e.into(),
            _ => InvalidOp::ForeignSlot,
        }
    }

    /// Sets how many bytes an idle plain read's or write's request transfers, from the
    /// start of its window (the start of the buffer, or of the template's range).
    pub(crate) fn set_len(&mut self, slot: &FixedSlot, len: usize) -> Result<(), InvalidOp> {
        let i = self.idle(slot)?;
        let cb = self.slots[i].iocb();
        let t = self.templates[i].as_mut().ok_or(InvalidOp::ForeignSlot)?;
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
        // SAFETY: as in `set_offset`.
        let cb = unsafe { &mut *cb };
        check_offset(cb.aio_offset as u64, len as u64)?;
        if let Some(align) = t.op.align {
            align.check(0, len, 0)?;
        }
        t.op.range = Some((t.start, Some(t.start + len)));
        cb.aio_nbytes = len as u64;
        self.slots[i].len.set(len as u64);
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
        unsafe { (*self.slots[i].iocb()).set_rw_flags(flags) };
        Ok(())
    }

    /// Pushes an idle slot onto the submission queue (checked and encoded again first, if
    /// its buffers were lent out); the slot comes back with the error when it is refused.
    #[inline]
    pub(crate) fn push(&mut self, slot: FixedSlot) -> Result<(), (FixedSlot, InvalidOp)> {
        let i = match self.idle(&slot) {
            Ok(i) => i,
            Err(e) => return Err((slot, e)),
        };
        self.enqueue(slot, i)
    }

    /// Sets an idle slot's file offset and pushes it, as [`set_offset`](Self::set_offset)
    /// then [`push`](Self::push) do.
    #[inline]
    pub(crate) fn push_at(
        &mut self,
        slot: FixedSlot,
        offset: u64,
    ) -> Result<(), (FixedSlot, InvalidOp)> {
        if let Err(e) = self.set_offset(&slot, offset) {
            return Err((slot, e));
        }
        let i = slot.index as usize;
        self.enqueue(slot, i)
    }

    #[inline]
    fn enqueue(&mut self, slot: FixedSlot, i: usize) -> Result<(), (FixedSlot, InvalidOp)> {
        if self.slots[i].state.get() == State::Dirty {
            if let Err(e) = self.encode_again(i) {
                return Err((slot, e));
            }
        }
        // Each slot is queued at most once, so the queue has room.
        let mem = &self.slots[i];
        mem.state.set(State::Queued);
        self.queue[self.queued] = IocbPtr(mem.iocb());
        self.queued += 1;
        Ok(())
    }

    /// The submission queue, for `io_submit`: `iocb` addresses, in the order pushed.
    #[inline]
    pub(crate) fn queue(&mut self) -> &mut [*mut iocb] {
        let queue = &mut self.queue[..self.queued];
        // SAFETY: `IocbPtr` is a transparent `*mut iocb`.
        unsafe { &mut *(queue as *mut [IocbPtr] as *mut [*mut iocb]) }
    }

    /// How many slots are queued.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Marks the first `n` queued slots submitted (the kernel accepted their `iocb`s):
    /// they are in flight until their completions are delivered, and leave the queue.
    #[inline]
    pub(crate) fn submitted(&mut self, n: usize) {
        let n = n.min(self.queued);
        for &IocbPtr(cb) in &self.queue[..n] {
            let i = slot_of(cb);
            self.slots[i].state.set(State::InFlight);
        }
        if n < self.queued {
            self.queue.copy_within(n..self.queued, 0);
        }
        self.queued -= n;
    }

    /// Empties the submission queue, giving the handles of the slots in it back (idle),
    /// in the order pushed.
    #[inline]
    pub(crate) fn take_queued(&mut self, out: &mut Vec<FixedSlot>) {
        if self.queued == 0 {
            return;
        }
        for &IocbPtr(cb) in &self.queue[..self.queued] {
            let i = slot_of(cb);
            self.slots[i].state.set(State::Idle);
            out.push(FixedSlot {
                index: i as u32,
                table: self.id,
            });
        }
        self.queued = 0;
    }

    #[cold]
    fn encode_again(&mut self, i: usize) -> Result<(), InvalidOp> {
        self.sync(i);
        let t = self.templates[i].as_mut().ok_or(InvalidOp::ForeignSlot)?;
        let checked = check(&mut t.op, self.resfd.is_some())?;
        let mem = &self.slots[i];
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
        self.slots[i].len.set(checked.len);
        self.slots[i].state.set(State::Idle);
        Ok(())
    }

    /// The completion `event` reports, giving its slot back; `None` for an event that
    /// names no slot in flight (a request submitted behind the table's back).
    #[inline]
    pub(crate) fn complete(&mut self, event: &io_event) -> Option<FixedCompletion> {
        let index = u32::try_from(event.data).ok()?;
        let mem = self.slots.get(index as usize)?;
        if mem.state.get() != State::InFlight {
            return None;
        }
        mem.state.set(State::Idle);
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
        self.is_in_flight(index).then(|| self.slots[index].iocb())
    }

    /// Whether the slot numbered `index` is in flight.
    pub(crate) fn is_in_flight(&self, index: usize) -> bool {
        self.slots
            .get(index)
            .is_some_and(|s| s.state.get() == State::InFlight)
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

/// The number of the slot whose `iocb` is at `cb`: its `aio_data`.
#[inline]
fn slot_of(cb: *mut iocb) -> usize {
    // SAFETY: `cb` is the `iocb` of a slot of the table, queued (or just submitted: the
    // kernel has copied it and writes it no more); nothing else writes it meanwhile.
    unsafe { (*cb).aio_data as usize }
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
    use crate::request::encode::Iovec;
    use rawaio_abi::{IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE};
    use std::os::fd::BorrowedFd;

    fn fd() -> BorrowedFd<'static> {
        // SAFETY: fd 0 is only recorded, never used: nothing is submitted.
        unsafe { BorrowedFd::borrow_raw(0) }
    }

    fn event(data: u64, res: i64) -> io_event {
        io_event {
            data,
            obj: 0,
            res,
            res2: 0,
        }
    }

    /// Pushes `slot`, reads the `iocb` it queued, and takes it back, as after a refused
    /// submission.
    fn staged<B: IoBuf>(table: &mut FixedTable<'_, B>, slot: FixedSlot) -> (iocb, FixedSlot) {
        table.push(slot).map_err(|(_, e)| e).unwrap();
        let ptr = *table.queue().last().unwrap();
        // SAFETY: an `iocb` of the table, read while nothing writes it.
        let cb = unsafe { *ptr };
        let mut back = Vec::new();
        table.take_queued(&mut back);
        (cb, back.pop().unwrap())
    }

    #[test]
    fn a_slot_keeps_its_iocb_and_buffer_between_submissions() {
        let mut table = FixedTable::<Vec<u8>>::new(4, Some(9));
        let buf = vec![0u8; 4096];
        let addr = buf.as_ptr() as u64;
        let mut slot = table.insert(Op::read(fd(), buf, 0).user_data(5)).unwrap();
        assert_eq!((slot.index(), table.occupied()), (0, 1));
        for round in 0..3u64 {
            table
                .push_at(slot, round * 4096)
                .map_err(|(_, e)| e)
                .unwrap();
            assert_eq!(table.queued(), 1);
            // SAFETY: the queued `iocb`, read while nothing writes it.
            let c = unsafe { *table.queue()[0] };
            assert_eq!(c.aio_lio_opcode, IOCB_CMD_PREAD);
            assert_eq!(
                (c.aio_buf, c.aio_nbytes),
                (addr, 4096),
                "the buffer stays put"
            );
            assert_eq!(c.aio_offset, (round * 4096) as i64);
            assert_eq!((c.aio_data, c.aio_flags, c.aio_resfd), (0, 1, 9));
            assert!(
                table.complete(&event(0, 1)).is_none(),
                "queued is not in flight"
            );
            table.submitted(1);
            assert_eq!(table.queued(), 0);
            assert!(table.is_in_flight(0));
            let done = table.complete(&event(c.aio_data, 4096)).unwrap();
            assert_eq!((done.result(), done.res2()), (Ok(4096), 0));
            assert!(
                table.complete(&event(c.aio_data, 4096)).is_none(),
                "a completion is delivered once"
            );
            slot = done.into_slot();
        }
        assert_eq!(
            (table.offset(&slot), table.len(&slot)),
            (Some(8192), Some(4096))
        );
        let op = table.remove(slot).unwrap();
        assert_eq!((op.offset(), op.get_user_data()), (8192, 5));
        assert_eq!(op.into_bufs()[0].as_ptr() as u64, addr);
        assert_eq!(table.occupied(), 0);
    }

    #[test]
    fn the_queue_keeps_its_order_across_partial_submissions() {
        let mut table = FixedTable::<Vec<u8>>::new(4, None);
        for i in 0..4u64 {
            let slot = table.insert(Op::write(fd(), vec![i as u8], 0)).unwrap();
            table.push_at(slot, 100 + i).map_err(|(_, e)| e).unwrap();
        }
        let offsets = |t: &mut FixedTable<'_, Vec<u8>>| -> Vec<i64> {
            // SAFETY: queued `iocb`s, read while nothing writes them.
            t.queue()
                .iter()
                .map(|&p| unsafe { (*p).aio_offset })
                .collect()
        };
        assert_eq!(offsets(&mut table), [100, 101, 102, 103]);
        table.submitted(1);
        assert_eq!(offsets(&mut table), [101, 102, 103]);
        assert!(table.is_in_flight(0) && !table.is_in_flight(1));
        let mut back = Vec::new();
        table.take_queued(&mut back);
        assert_eq!(
            back.iter().map(FixedSlot::index).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(table.queued(), 0);
        // Taken back, they are idle again: push them in another order.
        for slot in back.into_iter().rev() {
            table.push(slot).map_err(|(_, e)| e).unwrap();
        }
        assert_eq!(offsets(&mut table), [103, 102, 101]);
        table.submitted(3);
        assert!((0..4).all(|i| table.is_in_flight(i)));
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
        // A refused push_at leaves the slot as it was, and hands it back.
        let (slot, e) = table.push_at(slot, 7).unwrap_err();
        assert_eq!(misaligned(Err(e)), Some(MisalignedPart::Offset));
        let (c, slot) = staged(&mut table, slot);
        assert_eq!(c.aio_lio_opcode, IOCB_CMD_PWRITE);
        assert_eq!((c.aio_nbytes, c.aio_offset), (1024, 512));
        assert_eq!(c.rw_flags(), RwfFlags::DSYNC);
        assert_eq!(
            (table.len(&slot), table.offset(&slot)),
            (Some(1024), Some(512))
        );
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
        let op = Op::<AlignedBuf>::fsync(fd());
        let op = match table.insert(op) {
            Err((Error::Os(Errno::AGAIN), op)) => op,
            other => panic!("a full table pushes back: {other:?}"),
        };
        assert_eq!(op.opcode(), rawaio_abi::IOCB_CMD_FSYNC);
        let op = table.remove(slot).unwrap();
        assert_eq!((op.offset(), op.len()), (512, 1024));
        assert_eq!(op.rw_flags, RwfFlags::DSYNC);
    }

    #[test]
    fn lent_buffers_are_checked_and_encoded_again() {
        let mut table = FixedTable::<Vec<u8>>::new(1, None);
        let slot = table
            .insert(Op::read(fd(), vec![0u8; 100], 0).range(10..60))
            .unwrap();
        let (c, slot) = staged(&mut table, slot);
        assert_eq!(c.aio_nbytes, 50);
        // Replace the buffer with a shorter one: the old window no longer fits.
        table.bufs_mut(&slot).unwrap()[0] = vec![1u8; 40];
        let (slot, e) = table.push(slot).unwrap_err();
        assert!(matches!(e, InvalidOp::Range { .. }));
        assert_eq!(table.queued(), 0);
        table.set_len(&slot, 20).unwrap();
        table.set_offset(&slot, 3).unwrap();
        let (c, slot) = staged(&mut table, slot);
        let new_addr = table.bufs(&slot).unwrap()[0].as_ptr() as u64;
        assert_eq!(
            (c.aio_buf, c.aio_nbytes, c.aio_offset),
            (new_addr + 10, 20, 3)
        );
        // And it stays encoded: pushing again changes nothing.
        assert_eq!(staged(&mut table, slot).0, c);
    }

    #[test]
    fn vectored_slots_keep_their_iovecs() {
        let mut table = FixedTable::<Vec<u8>>::new(1, None);
        let slot = table
            .insert(Op::readv(fd(), vec![vec![0u8; 3], vec![0u8; 5]], 0))
            .unwrap();
        let (c, slot) = staged(&mut table, slot);
        assert_eq!((c.aio_lio_opcode, c.aio_nbytes), (IOCB_CMD_PREADV, 2));
        // SAFETY: `aio_buf` points to the slot's iovec array, which the table keeps.
        let iov = unsafe { std::slice::from_raw_parts(c.aio_buf as usize as *const Iovec, 2) };
        assert_eq!((iov[0].len, iov[1].len), (3, 5));
        assert_eq!(table.set_len(&slot, 1), Err(InvalidOp::RangeNotAllowed));
        table.set_offset(&slot, 7).unwrap();
        table.bufs_mut(&slot).unwrap()[1].push(0);
        let (c, slot) = staged(&mut table, slot);
        assert_eq!(c.aio_offset, 7, "the new encoding keeps the offset");
        assert_eq!(table.len(&slot), Some(9));
    }

    #[test]
    fn foreign_handles_and_stray_events_reach_nothing() {
        let mut a = FixedTable::<Vec<u8>>::new(1, None);
        let mut b = FixedTable::<Vec<u8>>::new(1, None);
        let sa = a.insert(Op::write(fd(), vec![1], 0)).unwrap();
        let sb = b.insert(Op::write(fd(), vec![2], 0)).unwrap();
        assert_eq!(b.set_offset(&sa, 0), Err(InvalidOp::ForeignSlot));
        assert_eq!(b.set_len(&sa, 0), Err(InvalidOp::ForeignSlot));
        assert_eq!(
            b.set_rw_flags(&sa, RwfFlags::empty()),
            Err(InvalidOp::ForeignSlot)
        );
        assert!(b.bufs(&sa).is_none() && b.offset(&sa).is_none() && b.len(&sa).is_none());
        assert!(b.bufs_mut(&sa).is_none());
        let (sa, e) = b.push(sa).unwrap_err();
        assert_eq!(e, InvalidOp::ForeignSlot);
        let (sa, e) = b.push_at(sa, 0).unwrap_err();
        assert_eq!(e, InvalidOp::ForeignSlot);
        let (sa, e) = b.remove(sa).unwrap_err();
        assert_eq!(e, InvalidOp::ForeignSlot);
        assert_eq!(b.queued(), 0);
        // Events for idle, vacant or unknown slots are ignored.
        for data in [0, 1, u64::from(u32::MAX), 1 << 32] {
            assert!(b.complete(&event(data, 1)).is_none(), "{data}");
        }
        assert!(!b.is_in_flight(0) && b.in_flight_iocb(0).is_none());
        assert!(!b.is_in_flight(7), "out of range");
        b.push(sb).map_err(|(_, e)| e).unwrap();
        b.submitted(1);
        assert!(b.is_in_flight(0) && b.in_flight_iocb(0).is_some());
        let sb = b.complete(&event(0, 1)).unwrap().into_slot();
        assert_eq!(b.remove(sb).unwrap().into_bufs(), vec![vec![2]]);
        assert_eq!(a.remove(sa).unwrap().into_bufs(), vec![vec![1]]);
    }

    #[test]
    fn leaked_templates_are_never_dropped() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        static BYTES: [u8; 8] = [0; 8];
        /// A buffer that owns no memory and counts its drops.
        struct Noisy;
        impl Drop for Noisy {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
            }
        }
        // SAFETY: the bytes are a static array, valid and never written.
        unsafe impl IoBuf for Noisy {
            fn io_ptr(&self) -> *const u8 {
                BYTES.as_ptr()
            }
            fn io_len(&self) -> usize {
                BYTES.len()
            }
        }
        let mut table = FixedTable::<Noisy>::new(2, None);
        let _kept = table.insert(Op::write(fd(), Noisy, 0)).unwrap();
        let removed = table.insert(Op::write(fd(), Noisy, 0)).unwrap();
        drop(table.remove(removed).unwrap());
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
        table.leak();
        drop(table);
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            1,
            "the table's other buffer was leaked, not dropped"
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
