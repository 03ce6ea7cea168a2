//! The requests in flight on one context, and the memory the kernel reads at submission.
//!
//! Each slot owns the [`Op`] (and so the buffers) of one request from the moment it is
//! prepared until its completion is reaped, plus the `iocb` and `iovec` array the kernel
//! reads while `io_submit` runs (and `io_cancel` reads `aio_key` from). A slot's token
//! carries a generation, so a stale token never reaches a reused slot.
//!
//! # Safety
//!
//! The per-slot memory lives outside the mutex so the kernel can read it while no lock is
//! held. The invariant that makes this sound: a slot's memory is written only by whoever
//! took the slot off the free list under the lock, before it is submitted; after that it
//! is only read (by the kernel in `io_submit` and, under the lock and for a live token,
//! `io_cancel`), until the slot returns to the free list under the lock.

#![allow(unsafe_code)]

use crate::IoBuf;
use crate::completion::{Completion, Token};
use crate::error::Error;
use crate::op::{Bufs, Op};
use rawaio_abi::{io_event, iocb};
use rustix::io::Errno;
use std::cell::UnsafeCell;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// `struct iovec` (`{ void *iov_base; size_t iov_len; }`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Iovec {
    base: *mut u8,
    len: usize,
}

/// What the kernel reads from user memory for one slot. Aligned so that the `iocb`, which
/// the kernel copies at submission and writes `aio_key` into, fills one cache line of its
/// own.
#[repr(C, align(64))]
struct SlotMem {
    iocb: UnsafeCell<iocb>,
    iovecs: UnsafeCell<Vec<Iovec>>,
}

struct Slot<B> {
    generation: u32,
    op: Option<Op<B>>,
}

struct State<B> {
    slots: Box<[Slot<B>]>,
    free: Vec<u32>,
}

/// The in-flight table of a context.
pub(crate) struct Table<B> {
    state: Mutex<State<B>>,
    mem: Box<[SlotMem]>,
    /// A number no other table in this process has: every token carries it.
    id: u64,
}

/// Numbers for tables, so that a token of one context is refused by another.
static NEXT_TABLE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

// SAFETY: the ops (and their buffers, which are `Send`) move between threads only inside
// the mutex; `SlotMem` holds plain data and addresses, used under the slot protocol in
// the module docs.
unsafe impl<B: Send> Send for Table<B> {}
// SAFETY: shared access goes through the mutex, or touches a slot's memory under the
// protocol in the module docs.
unsafe impl<B: Send> Sync for Table<B> {}

impl<B: IoBuf> Table<B> {
    /// A table of `capacity` slots, every one free.
    pub(crate) fn new(capacity: u32) -> Self {
        let slots = (0..capacity)
            .map(|_| Slot {
                generation: 0,
                op: None,
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
            state: Mutex::new(State { slots, free }),
            mem,
            id: NEXT_TABLE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub(crate) fn lock(&self) -> Guard<'_, B> {
        Guard {
            state: self.state.lock().unwrap_or_else(PoisonError::into_inner),
            mem: &self.mem,
            id: self.id,
        }
    }

    /// Never frees the ops still in the table: for a context whose destruction failed,
    /// whose buffers the kernel might still use.
    pub(crate) fn leak_in_flight(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for slot in state.slots.iter_mut() {
            if let Some(op) = slot.op.take() {
                std::mem::forget(op);
            }
        }
    }
}

/// The table, locked.
pub(crate) struct Guard<'a, B> {
    state: MutexGuard<'a, State<B>>,
    mem: &'a [SlotMem],
    id: u64,
}

impl<B: IoBuf> Guard<'_, B> {
    /// Requests in flight (prepared and not yet completed or handed back).
    pub(crate) fn in_flight(&self) -> usize {
        self.state.slots.len() - self.state.free.len()
    }

    /// Validates `op`, takes a slot for it and fills the slot's `iocb`; returns the token
    /// and the `iocb` address to submit. On failure the op comes back untouched.
    // The op is handed back by value: boxing it would allocate on every EAGAIN.
    #[allow(clippy::result_large_err)]
    pub(crate) fn prepare(
        &mut self,
        mut op: Op<B>,
        resfd: Option<u32>,
    ) -> Result<(Token, *mut iocb), (Op<B>, Error)> {
        match self.fill(&mut op, resfd) {
            Ok(token) => {
                self.state.slots[token.index as usize].op = Some(op);
                Ok((token, self.mem[token.index as usize].iocb.get()))
            }
            Err(e) => Err((op, e)),
        }
    }

    /// [`prepare`](Self::prepare) for the request at the front of `ops`, which moves
    /// straight from the queue into its slot (the hot path: one move of the op, not
    /// two). `Ok(None)` when `ops` is empty; on failure the op stays at the front.
    pub(crate) fn prepare_front(
        &mut self,
        ops: &mut std::collections::VecDeque<Op<B>>,
        resfd: Option<u32>,
    ) -> Result<Option<(Token, *mut iocb)>, Error> {
        let Some(op) = ops.front_mut() else {
            return Ok(None);
        };
        let token = self.fill(op, resfd)?;
        let index = token.index as usize;
        self.state.slots[index].op = ops.pop_front();
        Ok(Some((token, self.mem[index].iocb.get())))
    }

    /// Validates `op`, takes a free slot and writes the slot's `iocb` (and `iovec`s) for
    /// it. The caller stores the op in the slot before anything else looks at it.
    fn fill(&mut self, op: &mut Op<B>, resfd: Option<u32>) -> Result<Token, Error> {
        op.validate()?;
        let index = self.state.free.pop().ok_or(Errno::AGAIN)?;
        let token = Token {
            index,
            generation: self.state.slots[index as usize].generation,
            context: self.id,
        };
        let mem = &self.mem[index as usize];
        let mut cb = iocb {
            aio_data: token.to_data(),
            aio_lio_opcode: op.opcode,
            aio_fildes: op.fd as u32,
            aio_offset: op.offset as i64,
            ..iocb::default()
        };
        cb.set_rw_flags(op.rw_flags);
        if let Some(prio) = op.ioprio {
            cb.set_ioprio(prio.value());
        }
        if let Some(fd) = op.resfd.map(|fd| fd as u32).or(resfd) {
            cb.set_resfd(fd);
        }
        let addr_of = op.addr_of;
        match &mut op.bufs {
            Bufs::None => cb.aio_buf = u64::from(op.poll_events),
            Bufs::One(b) => {
                let len = op.limit.unwrap_or(b.len()).min(b.len());
                cb.set_buf(addr_of(b), len);
            }
            Bufs::Many(bs) => {
                // SAFETY: the slot came off the free list under the lock, so this is the
                // only access to its memory until it is submitted.
                let iovecs = unsafe { &mut *mem.iovecs.get() };
                iovecs.clear();
                iovecs.extend(bs.iter_mut().map(|b| Iovec {
                    base: addr_of(b),
                    len: b.len(),
                }));
                cb.set_iovecs(iovecs.as_ptr(), iovecs.len());
            }
        }
        // SAFETY: as above: the slot is ours alone until submitted.
        unsafe { *mem.iocb.get() = cb };
        Ok(token)
    }

    /// Takes back a prepared request the kernel did not accept, and frees its slot.
    pub(crate) fn unprepare(&mut self, token: Token) -> Op<B> {
        self.release(token).expect("a prepared token is live")
    }

    /// Turns an event into a completion, freeing its slot; `None` for an event whose token
    /// is not live (which would mean a request submitted behind rawaio's back).
    pub(crate) fn complete(&mut self, event: &io_event) -> Option<Completion<B>> {
        let token = Token::from_data(event.data, self.id);
        let op = self.release(token)?;
        let requested = op.len();
        Some(Completion {
            token,
            user_data: op.user_data,
            opcode: op.opcode,
            requested,
            res: event.res,
            res2: event.res2,
            bufs: op.bufs,
        })
    }

    /// The `iocb` address of a live token, for `io_cancel` (while the guard is held, the
    /// slot cannot be freed or reused).
    pub(crate) fn live_iocb(&self, token: Token) -> Option<*mut iocb> {
        if token.context != self.id {
            return None;
        }
        let slot = self.state.slots.get(token.index as usize)?;
        (slot.generation == token.generation && slot.op.is_some())
            .then(|| self.mem[token.index as usize].iocb.get())
    }

    /// A copy of the `iocb` prepared for a live token (for [`Op::to_iocb`]).
    pub(crate) fn iocb_of(&self, token: Token) -> Option<iocb> {
        let cb = self.live_iocb(token)?;
        // SAFETY: after `prepare` a live slot's iocb is only read (module invariant), and
        // the guard keeps the slot from being freed or reused meanwhile.
        Some(unsafe { *cb })
    }

    fn release(&mut self, token: Token) -> Option<Op<B>> {
        if token.context != self.id {
            return None;
        }
        let slot = self.state.slots.get_mut(token.index as usize)?;
        if slot.generation != token.generation {
            return None;
        }
        let op = slot.op.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.state.free.push(token.index);
        Some(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AlignedBuf;
    use rawaio_abi::{IOCB_CMD_PREADV, IOCB_CMD_PWRITE};
    use std::os::fd::BorrowedFd;

    fn fd() -> BorrowedFd<'static> {
        // SAFETY: fd 0 is only recorded, never used: nothing is submitted.
        unsafe { BorrowedFd::borrow_raw(0) }
    }

    fn event_for(token: Token, res: i64) -> io_event {
        io_event {
            data: token.to_data(),
            obj: 0,
            res,
            res2: 0,
        }
    }

    #[test]
    fn prepare_fills_the_iocb_and_complete_hands_the_buffer_back() {
        let table = Table::<Vec<u8>>::new(4);
        let mut g = table.lock();
        let buf = vec![7u8; 100];
        let addr = buf.as_ptr() as u64;
        let (token, cb) = g
            .prepare(Op::write(fd(), buf, 4096).user_data(99), Some(5))
            .unwrap();
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
    fn vectored_requests_get_an_iovec_array() {
        let table = Table::<AlignedBuf>::new(2);
        let mut g = table.lock();
        let bufs = vec![
            AlignedBuf::new(512, 512).unwrap(),
            AlignedBuf::new(1024, 512).unwrap(),
        ];
        let addrs: Vec<usize> = bufs.iter().map(|b| b.as_ptr() as usize).collect();
        let (_, cb) = g.prepare(Op::readv(fd(), bufs, 0), None).unwrap();
        // SAFETY: the slot is prepared; its iovec array is what `aio_buf` points to.
        unsafe {
            let cb = *cb;
            assert_eq!(cb.aio_lio_opcode, IOCB_CMD_PREADV);
            assert_eq!(cb.aio_nbytes, 2);
            let iov = std::slice::from_raw_parts(cb.aio_buf as usize as *const Iovec, 2);
            assert_eq!((iov[0].base as usize, iov[0].len), (addrs[0], 512));
            assert_eq!((iov[1].base as usize, iov[1].len), (addrs[1], 1024));
        }
    }

    #[test]
    fn tokens_are_never_reused_and_stale_ones_are_refused() {
        let table = Table::<Vec<u8>>::new(1);
        let mut g = table.lock();
        let (first, _) = g.prepare(Op::write(fd(), vec![1], 0), None).unwrap();
        let (op, err) = g.prepare(Op::write(fd(), vec![2], 0), None).unwrap_err();
        assert_eq!(err, Error::Os(Errno::AGAIN), "a full table pushes back");
        assert_eq!(op.into_bufs(), vec![vec![2]], "and hands the request back");
        assert!(g.live_iocb(first).is_some());
        g.complete(&event_for(first, 1)).unwrap();
        assert!(g.live_iocb(first).is_none());
        let (second, _) = g.prepare(Op::write(fd(), vec![3], 0), None).unwrap();
        assert_eq!(second.index, first.index);
        assert_ne!(second, first);
        assert!(
            g.complete(&event_for(first, 1)).is_none(),
            "a stale token reaches nothing"
        );
        assert_eq!(g.unprepare(second).into_bufs(), vec![vec![3]]);
        assert_eq!(g.in_flight(), 0);
    }

    #[test]
    fn a_token_of_another_table_reaches_nothing() {
        let a = Table::<Vec<u8>>::new(1);
        let b = Table::<Vec<u8>>::new(1);
        let (ta, _) = a.lock().prepare(Op::write(fd(), vec![1], 0), None).unwrap();
        let (tb, _) = b.lock().prepare(Op::write(fd(), vec![2], 0), None).unwrap();
        assert_eq!((ta.index, ta.generation), (tb.index, tb.generation));
        assert!(b.lock().live_iocb(ta).is_none());
        assert!(
            b.lock().complete(&event_for(ta, 1)).is_some(),
            "events decode on their own table"
        );
        assert!(a.lock().live_iocb(ta).is_some());
    }

    #[test]
    fn invalid_requests_come_back_with_their_error() {
        let table = Table::<Vec<u8>>::new(1);
        let mut g = table.lock();
        let (op, err) = g
            .prepare(Op::write(fd(), vec![1], u64::MAX), None)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Invalid(crate::InvalidOp::OffsetTooLarge { .. })
        ));
        assert_eq!(op.into_bufs(), vec![vec![1]]);
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
                0 => match g.prepare(Op::write(fd(), vec![step as u8], 0), None) {
                    Ok((t, _)) => {
                        assert!(live.iter().all(|(l, _)| *l != t), "duplicate token");
                        live.push((t, step as u8));
                    }
                    Err((_, e)) => {
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
                    assert_eq!(g.unprepare(t).into_bufs(), vec![vec![byte]]);
                }
                _ => {}
            }
            assert_eq!(g.in_flight(), live.len());
        }
    }
}
