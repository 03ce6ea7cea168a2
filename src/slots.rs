//! The slot table of a context: what the kernel may touch for each request in flight.
//!
//! Each slot owns, from the moment its request is prepared until the completion is
//! reaped, the request's buffers (so nothing can free them while the kernel may use
//! them), plus the `iocb` and `iovec` array the kernel reads while `io_submit` runs (and
//! `io_cancel` reads `aio_key` from). A slot's token carries a generation, so a stale
//! token never reaches a reused slot, and the table's number, so another table's token
//! reaches nothing.
//!
//! # Safety
//!
//! The per-slot memory lives outside the lock so the kernel can read it while no lock is
//! held. The invariant that makes this sound: a slot's memory is written only by whoever
//! took the slot off the free list under the lock, before it is submitted; after that it
//! is only read (by the kernel in `io_submit` and, under the lock and for a live token,
//! `io_cancel`), until the slot returns to the free list under the lock.

#![allow(unsafe_code)]

use crate::error::Error;
use crate::request::buf::IoBuf;
use crate::request::check::check;
use crate::request::completion::{Completion, Token};
use crate::request::encode::{Iovec, encode_into};
use crate::request::op::{Bufs, Op};
use rawaio_abi::{io_event, iocb};
use rustix::io::Errno;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) mod lock;

use lock::{Lock, LockGuard};

/// What the kernel reads from user memory for one slot. Aligned so that the `iocb`, which
/// the kernel copies at submission and writes `aio_key` into, fills one cache line of its
/// own.
#[repr(C, align(64))]
struct SlotMem {
    iocb: UnsafeCell<iocb>,
    iovecs: UnsafeCell<Vec<Iovec>>,
}

/// What a prepared request leaves in its slot: its buffers, and what its completion
/// reports.
struct Held<B> {
    bufs: Bufs<B>,
    user_data: u64,
    opcode: u16,
    requested: u64,
}

impl<B> Held<B> {
    /// The completion of this request, which `event` reports.
    #[inline(always)]
    fn into_completion(self, token: Token, event: &io_event) -> Completion<B> {
        Completion {
            token,
            user_data: self.user_data,
            opcode: self.opcode,
            requested: self.requested,
            res: event.res,
            res2: event.res2,
            bufs: self.bufs,
        }
    }
}

struct Slot<B> {
    generation: u32,
    held: Option<Held<B>>,
}

struct State<B> {
    slots: Box<[Slot<B>]>,
    free: Vec<u32>,
}

/// The slot table of a context.
pub(crate) struct Table<B> {
    state: Lock<State<B>>,
    mem: Box<[SlotMem]>,
    /// A number no other table in this process has: every token carries it.
    id: u64,
}

/// Numbers for tables, so that a token of one context is refused by another.
static NEXT_TABLE_ID: AtomicU64 = AtomicU64::new(1);

/// A number no other table of this process has had or will have.
pub(crate) fn next_table_id() -> u64 {
    NEXT_TABLE_ID.fetch_add(1, Ordering::Relaxed)
}

// SAFETY: the buffers (which are `Send`) move between threads only inside the lock;
// `SlotMem` holds plain data and addresses, used under the slot protocol in the module
// docs.
unsafe impl<B: Send> Send for Table<B> {}
// SAFETY: shared access goes through the lock, or touches a slot's memory under the
// protocol in the module docs.
unsafe impl<B: Send> Sync for Table<B> {}

impl<B> Table<B> {
    /// A table of `capacity` slots, every one free.
    pub(crate) fn new(capacity: u32) -> Self {
        let slots = (0..capacity)
            .map(|_| Slot {
                generation: 0,
                held: None,
            })
            .collect();
        let mem = (0..capacity)
            .map(|_| SlotMem {
                iocb: UnsafeCell::new(iocb::default()),
                iovecs: UnsafeCell::new(Vec::new()),
            })
            .collect();
        // Pop order: slot 0 first.
        let free = (0..capacity).rev().collect();
        Self {
            state: Lock::new(State { slots, free }),
            mem,
            id: next_table_id(),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, B> {
        // SAFETY: a shared guard (`X` false) has no precondition.
        unsafe { self.lock_as::<false>() }
    }

    /// A guard of kind `X` (see [`Lock::lock_as`]).
    ///
    /// # Safety
    /// As [`Lock::lock_as`]: with `X` true, the caller holds the table's owner
    /// exclusively while the guard lives.
    #[inline]
    pub(crate) unsafe fn lock_as<const X: bool>(&self) -> Guard<'_, B, X> {
        Guard {
            // SAFETY: the caller's promise, passed on.
            state: unsafe { self.state.lock_as::<X>() },
            mem: &self.mem,
            id: self.id,
        }
    }

    /// Never frees the buffers still in the table: for a context whose destruction
    /// failed, whose buffers the kernel might still use.
    pub(crate) fn leak_in_flight(&self) {
        let mut state = self.state.lock();
        for slot in state.slots.iter_mut() {
            if let Some(held) = slot.held.take() {
                std::mem::forget(held);
            }
        }
    }
}

/// The table, locked.
pub(crate) struct Guard<'a, B, const X: bool = false> {
    state: LockGuard<'a, State<B>, X>,
    mem: &'a [SlotMem],
    id: u64,
}

impl<B: IoBuf, const X: bool> Guard<'_, B, X> {
    /// Requests in flight (prepared and not yet completed or handed back).
    pub(crate) fn in_flight(&self) -> usize {
        self.state.slots.len() - self.state.free.len()
    }

    /// Checks `op`, takes a free slot, writes the slot's `iocb` (and `iovec`s) and moves
    /// the op's buffers into it; returns the token and the `iocb` address to submit. On
    /// failure the op is untouched. `resfd` is the context's own eventfd.
    // Always: the submission paths' hottest step, which the compiler stops inlining once
    // it has several callers (a separate call cost the qd-1 path ~60 instructions).
    #[inline(always)]
    pub(crate) fn prepare(
        &mut self,
        op: &mut Op<'_, B>,
        resfd: Option<u32>,
    ) -> Result<(Token, *mut iocb), Error> {
        let checked = check(op, resfd.is_some())?;
        let index = self.state.free.pop().ok_or(Errno::AGAIN)?;
        let slot = &mut self.state.slots[index as usize];
        let token = Token {
            index,
            generation: slot.generation,
            context: self.id,
        };
        let mem = &self.mem[index as usize];
        // SAFETY: the slot came off the free list under the lock, so this is the only
        // access to its memory until it is submitted.
        let iovecs = unsafe { &mut *mem.iovecs.get() };
        // SAFETY: as above: the slot is ours alone until submitted.
        let cb = unsafe { &mut *mem.iocb.get() };
        encode_into(op, &checked, token.to_data(), resfd, iovecs, cb);
        let vacant = slot.held.replace(Held {
            bufs: std::mem::replace(&mut op.bufs, Bufs::None),
            user_data: op.user_data,
            opcode: op.opcode,
            requested: checked.len,
        });
        // A slot off the free list holds nothing: there is nothing to drop (which would
        // cost a jump through the drop glue).
        debug_assert!(vacant.is_none());
        std::mem::forget(vacant);
        Ok((token, mem.iocb.get()))
    }

    /// Takes a slot for a request whose memory the caller manages (`submit_raw`): a copy
    /// of `cb` with the token in `aio_data`.
    pub(crate) fn prepare_raw(&mut self, cb: &iocb) -> Result<(Token, *mut iocb), Error> {
        let index = self.state.free.pop().ok_or(Errno::AGAIN)?;
        let slot = &mut self.state.slots[index as usize];
        let token = Token {
            index,
            generation: slot.generation,
            context: self.id,
        };
        let mem = &self.mem[index as usize];
        // SAFETY: the slot came off the free list under the lock: ours until submitted.
        unsafe {
            *mem.iocb.get() = iocb {
                aio_data: token.to_data(),
                ..*cb
            };
        }
        slot.held = Some(Held {
            bufs: Bufs::None,
            user_data: 0,
            opcode: cb.aio_lio_opcode,
            requested: 0,
        });
        Ok((token, mem.iocb.get()))
    }

    /// Takes back a prepared request the kernel did not accept, freeing its slot and
    /// moving its buffers back into `op`.
    pub(crate) fn unprepare(&mut self, token: Token, op: &mut Op<'_, B>) {
        if let Some(held) = self.release(token) {
            op.bufs = held.bufs;
        }
    }

    /// Frees the slot of a prepared raw request the kernel did not accept.
    pub(crate) fn unprepare_raw(&mut self, token: Token) {
        self.release(token);
    }

    /// Turns an event into a completion, freeing its slot; `None` for an event whose token
    /// is not live (which would mean a request submitted behind rawaio's back).
    // Always: the reaping path that hands each completion on (`Context::reap_ready_each`)
    // builds it where its receiver stores it.
    #[inline(always)]
    pub(crate) fn complete(&mut self, event: &io_event) -> Option<Completion<B>> {
        let token = Token::from_data(event.data, self.id);
        let slot = live_slot(&mut self.state.slots, token)?;
        let Some(held) = slot.held.take() else {
            unreachable!("a live slot holds its request");
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.state.free.push(token.index);
        Some(held.into_completion(token, event))
    }

    /// Turns an event into a completion pushed onto `done`, freeing its slot; whether
    /// there was one (none for an event whose token is not live, which would mean a
    /// request submitted behind rawaio's back).
    // Always, and the completion is written where it will stay: the reaping paths'
    // hottest step (a `push` of a finished value copied the 88 bytes twice).
    #[inline(always)]
    pub(crate) fn complete_into(
        &mut self,
        event: &io_event,
        done: &mut Vec<Completion<B>>,
    ) -> bool {
        let token = Token::from_data(event.data, self.id);
        let Some(slot) = live_slot(&mut self.state.slots, token) else {
            return false;
        };
        // Room first, so that nothing can fail (nor call out) between taking the request
        // and storing its completion.
        done.reserve(1);
        let len = done.len();
        let Some(room) = done.spare_capacity_mut().first_mut() else {
            unreachable!("room was reserved");
        };
        let Some(held) = slot.held.take() else {
            unreachable!("a live slot holds its request");
        };
        room.write(held.into_completion(token, event));
        // SAFETY: the element at `len`, inside the capacity, was just written.
        unsafe { done.set_len(len + 1) };
        slot.generation = slot.generation.wrapping_add(1);
        self.state.free.push(token.index);
        true
    }

    /// The tokens of the `POLL` requests in flight, onto `out`.
    pub(crate) fn live_polls(&self, out: &mut Vec<Token>) {
        for (index, slot) in self.state.slots.iter().enumerate() {
            if slot
                .held
                .as_ref()
                .is_some_and(|h| h.opcode == rawaio_abi::IOCB_CMD_POLL)
            {
                out.push(Token {
                    index: index as u32,
                    generation: slot.generation,
                    context: self.id,
                });
            }
        }
    }

    /// Whether `token` was made by this table.
    pub(crate) fn owns(&self, token: Token) -> bool {
        token.context == self.id
    }

    /// The `iocb` address of a live token, for `io_cancel` (while the guard is held, the
    /// slot cannot be freed or reused).
    pub(crate) fn live_iocb(&self, token: Token) -> Option<*mut iocb> {
        if !self.owns(token) {
            return None;
        }
        let slot = self.state.slots.get(token.index as usize)?;
        slot.is_live(token)
            .then(|| self.mem[token.index as usize].iocb.get())
    }

    #[inline]
    fn release(&mut self, token: Token) -> Option<Held<B>> {
        if !self.owns(token) {
            return None;
        }
        let slot = live_slot(&mut self.state.slots, token)?;
        let held = slot.held.take();
        slot.generation = slot.generation.wrapping_add(1);
        self.state.free.push(token.index);
        held
    }
}

impl<B> Slot<B> {
    /// Whether `token` (of this slot's table, at its index) is live: its generation is
    /// the slot's, and the slot holds a request.
    #[inline(always)]
    fn is_live(&self, token: Token) -> bool {
        self.generation == token.generation && self.held.is_some()
    }
}

/// The slot of `token` (of this table) if the token is live.
#[inline(always)]
fn live_slot<B>(slots: &mut [Slot<B>], token: Token) -> Option<&mut Slot<B>> {
    let slot = slots.get_mut(token.index as usize)?;
    slot.is_live(token).then_some(slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rawaio_abi::IOCB_CMD_PWRITE;
    use std::os::fd::BorrowedFd;

    fn fd() -> BorrowedFd<'static> {
        crate::request::stdin_fd()
    }

    fn event_for(token: Token, res: i64) -> io_event {
        io_event {
            data: token.to_data(),
            obj: 0,
            res,
            res2: 0,
        }
    }

    fn write(byte: u8) -> Op<'static, Vec<u8>> {
        Op::write(fd(), vec![byte], 0)
    }

    #[test]
    fn prepare_fills_the_iocb_and_complete_hands_the_buffer_back() {
        let table = Table::<Vec<u8>>::new(4);
        let mut g = table.lock();
        let buf = vec![7u8; 100];
        let addr = buf.as_ptr() as u64;
        let mut op = Op::write(fd(), buf, 4096).user_data(99);
        let (token, cb) = g.prepare(&mut op, Some(5)).unwrap();
        assert!(op.into_bufs().is_empty(), "the slot owns the buffer now");
        // SAFETY: the slot is prepared and nothing else writes it.
        let cb = unsafe { *cb };
        assert_eq!(cb.aio_lio_opcode, IOCB_CMD_PWRITE);
        assert_eq!(
            (cb.aio_buf, cb.aio_nbytes, cb.aio_offset),
            (addr, 100, 4096)
        );
        assert_eq!((cb.aio_flags, cb.aio_resfd), (1, 5));
        assert_eq!(cb.aio_data, token.to_data());
        assert_eq!(g.in_flight(), 1);
        let done = g.complete(&event_for(token, 100)).unwrap();
        assert_eq!(
            (done.user_data(), done.result(), done.is_short()),
            (99, Ok(100), false)
        );
        assert_eq!(done.into_buf().unwrap(), vec![7u8; 100]);
        assert_eq!(g.in_flight(), 0);
        assert!(
            g.complete(&event_for(token, 100)).is_none(),
            "a completion is delivered once"
        );
    }

    #[test]
    fn the_iovecs_live_in_the_slot() {
        let table = Table::<Vec<u8>>::new(2);
        let mut g = table.lock();
        let mut op = Op::readv(fd(), vec![vec![0u8; 3], vec![0u8; 5]], 0);
        let (_, cb) = g.prepare(&mut op, None).unwrap();
        // SAFETY: the slot is prepared; its iovec array is what `aio_buf` points to, and
        // it lives in the table.
        unsafe {
            let cb = *cb;
            let iov = std::slice::from_raw_parts(cb.aio_buf as usize as *const Iovec, 2);
            assert_eq!((iov[0].len, iov[1].len), (3, 5));
        }
    }

    #[test]
    fn tokens_are_never_reused_and_stale_ones_are_refused() {
        let table = Table::<Vec<u8>>::new(1);
        let mut g = table.lock();
        let (first, _) = g.prepare(&mut write(1), None).unwrap();
        let mut op = write(2);
        let err = g.prepare(&mut op, None).unwrap_err();
        assert_eq!(err, Error::Os(Errno::AGAIN), "a full table pushes back");
        assert_eq!(
            op.into_bufs(),
            vec![vec![2]],
            "and leaves the request whole"
        );
        assert!(g.live_iocb(first).is_some());
        g.complete(&event_for(first, 1)).unwrap();
        assert!(g.live_iocb(first).is_none());
        let mut op = write(3);
        let (second, _) = g.prepare(&mut op, None).unwrap();
        assert_eq!(second.index, first.index);
        assert_ne!(second, first);
        assert!(
            g.complete(&event_for(first, 1)).is_none(),
            "a stale token reaches nothing"
        );
        g.unprepare(second, &mut op);
        assert_eq!(
            op.into_bufs(),
            vec![vec![3]],
            "unprepare gives the buffer back"
        );
        assert_eq!(g.in_flight(), 0);
    }

    #[test]
    fn completions_are_appended_and_stale_events_add_nothing() {
        let table = Table::<Vec<u8>>::new(2);
        let mut g = table.lock();
        let (a, _) = g.prepare(&mut write(1), None).unwrap();
        let (b, _) = g.prepare(&mut write(2).user_data(7), None).unwrap();
        // No spare room: `complete_into` makes its own.
        let mut done = Vec::new();
        assert!(g.complete_into(&event_for(a, 1), &mut done));
        assert!(!g.complete_into(&event_for(a, 1), &mut done), "only once");
        assert!(g.complete_into(&event_for(b, -5), &mut done));
        assert_eq!(done.len(), 2);
        assert_eq!((done[1].token(), done[1].user_data()), (b, 7));
        assert_eq!(done[1].raw_result(), -5);
        assert_eq!(done.pop().unwrap().into_buf(), Some(vec![2]));
        assert_eq!(done.pop().unwrap().into_buf(), Some(vec![1]));
        assert_eq!(g.in_flight(), 0);
    }

    #[test]
    fn a_token_of_another_table_reaches_nothing() {
        let a = Table::<Vec<u8>>::new(1);
        let b = Table::<Vec<u8>>::new(1);
        let (ta, _) = a.lock().prepare(&mut write(1), None).unwrap();
        let (tb, _) = b.lock().prepare(&mut write(2), None).unwrap();
        assert_eq!((ta.index, ta.generation), (tb.index, tb.generation));
        assert!(!b.lock().owns(ta));
        assert!(b.lock().live_iocb(ta).is_none());
        assert!(
            b.lock().complete(&event_for(ta, 1)).is_some(),
            "events decode on their own table"
        );
        assert!(a.lock().live_iocb(ta).is_some());
    }

    #[test]
    fn invalid_requests_are_left_whole_with_their_error() {
        let table = Table::<Vec<u8>>::new(1);
        let mut g = table.lock();
        let mut op = Op::write(fd(), vec![1], u64::MAX);
        let err = g.prepare(&mut op, None).unwrap_err();
        assert!(matches!(
            err,
            Error::Invalid(crate::InvalidOp::OffsetTooLarge { .. })
        ));
        assert_eq!(op.into_bufs(), vec![vec![1]]);
        assert_eq!(g.in_flight(), 0);
    }

    #[test]
    fn raw_requests_keep_their_fields_and_take_the_token() {
        let table = Table::<Vec<u8>>::new(1);
        let mut g = table.lock();
        let cb = iocb {
            aio_data: 0xdead,
            aio_lio_opcode: IOCB_CMD_PWRITE,
            aio_nbytes: 9,
            ..iocb::default()
        };
        let (token, slot) = g.prepare_raw(&cb).unwrap();
        // SAFETY: the slot is prepared and nothing else writes it.
        let copy = unsafe { *slot };
        assert_eq!((copy.aio_data, copy.aio_nbytes), (token.to_data(), 9));
        let c = g.complete(&event_for(token, 9)).unwrap();
        assert_eq!(
            (c.requested_len(), c.opcode(), c.into_bufs().len()),
            (0, IOCB_CMD_PWRITE, 0)
        );
        let (token, _) = g.prepare_raw(&cb).unwrap();
        g.unprepare_raw(token);
        assert_eq!(g.in_flight(), 0);
    }

    #[test]
    fn model_many_random_steps() {
        // A tiny deterministic model: tokens live in a Vec; each step prepares, completes
        // or hands back, and the table must agree with the model.
        let table = Table::<Vec<u8>>::new(8);
        let mut live: Vec<(Token, u8)> = Vec::new();
        let mut seed = 0x1234_5678u32;
        let steps = if cfg!(miri) { 300 } else { 20_000 };
        for step in 0..steps {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let mut g = table.lock();
            match seed % 3 {
                0 => match g.prepare(&mut write(step as u8), None) {
                    Ok((t, _)) => {
                        assert!(live.iter().all(|(l, _)| *l != t), "duplicate token");
                        live.push((t, step as u8));
                    }
                    Err(e) => {
                        assert_eq!(live.len(), 8);
                        assert_eq!(e, Error::Os(Errno::AGAIN));
                    }
                },
                1 if !live.is_empty() => {
                    let (t, byte) = live.swap_remove(seed as usize % live.len());
                    let c = g.complete(&event_for(t, 1)).unwrap();
                    assert_eq!(c.into_buf().unwrap(), vec![byte]);
                }
                2 if !live.is_empty() => {
                    let (t, byte) = live.swap_remove(seed as usize % live.len());
                    let mut shell = Op::<Vec<u8>>::fsync(fd());
                    g.unprepare(t, &mut shell);
                    assert_eq!(shell.into_bufs(), vec![vec![byte]]);
                }
                _ => {}
            }
            assert_eq!(g.in_flight(), live.len());
        }
    }
}
