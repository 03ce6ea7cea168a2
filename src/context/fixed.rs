//! [`FixedContext`]: requests prepared once and submitted many times.

use super::reap::Sink;
use super::submit::Rejected;
use super::{Kernel, Options, Reaper, Submitted};
use crate::error::{Error, InvalidOp};
use crate::fixed_slots::{FixedCompletion, FixedSlot, FixedTable};
use crate::request::buf::{AlignedBuf, IoBuf};
use crate::request::op::Op;
use crate::ring::{Corrupt, Ring};
use crate::sys;
use rawaio_abi::{RwfFlags, aio_context_t, io_event, kernel_sigset_t};
use rustix::io::Errno;
use std::fmt;
use std::time::Duration;

/// An AIO context of fixed requests: each request is prepared once, in a slot that keeps
/// its `iocb`, its descriptors and its buffers, and submitted as many times as wanted,
/// changing only its file offset, length and flags in between.
///
/// This is what a storage engine's I/O loop does by hand with a pool of `iocb`s: nothing
/// is built, checked, moved or allocated per submission. [`insert`](Self::insert) checks
/// a request ([`Op`]) once and encodes it into a slot, returning the slot's handle, a
/// [`FixedSlot`]. Between submissions the holder of the handle sets the offset
/// ([`set_offset`](Self::set_offset)), the length ([`set_len`](Self::set_len)) and the
/// `RWF_*` flags ([`set_rw_flags`](Self::set_rw_flags)), each checked as it is set, and
/// reaches the buffers ([`bufs`](Self::bufs), [`bufs_mut`](Self::bufs_mut)).
/// [`push`](Self::push) (or [`push_at`](Self::push_at), which sets the offset too) hands a
/// handle over to the context's submission queue, which [`submit`](Self::submit) passes to
/// the kernel in one `io_submit`; each [`FixedCompletion`] gives its slot's handle back.
/// [`remove`](Self::remove) gives the request back, buffers and all.
///
/// # Ownership
///
/// The context owns every slot's buffers and descriptors for as long as the slot exists,
/// and a slot in flight is out of anyone's reach (its one handle is the kernel's until the
/// completion). A request may borrow its descriptors (`&File`) for the context's lifetime
/// `'fd`, own them (`File`) or share them (`Arc<File>`): they stay open while a slot names
/// them, since the kernel looks them up at every submission. Dropping the context destroys
/// it, which **waits for every request in flight**, then frees the buffers and releases
/// the descriptors; leaking it (`mem::forget`) leaks them, so the kernel can never write
/// into freed memory. In a `fork` child every call fails with `EINVAL` and dropping leaks
/// the buffers, as for [`Context`](crate::Context).
///
/// `B` is the buffer type ([`AlignedBuf`] by default); it must be `'static` (memory the
/// program does not own as a `'static` value goes through
/// [`Context::scope`](crate::Context::scope)). Unlike [`Context`](crate::Context), a fixed
/// context is used through `&mut self`: it takes no lock; give each thread its own.
///
/// # Examples
///
/// Read a file's first bytes, then bytes further on, then the first again, through one
/// slot and one buffer:
///
/// ```
/// use rawaio::{FixedContext, Op};
///
/// let file = std::fs::File::open("README.md")?;
/// let mut fixed = FixedContext::<Vec<u8>>::new(4)?;
/// let mut slot = fixed.insert(Op::read(&file, vec![0u8; 8], 0))?;
/// let mut done = Vec::new();
/// for offset in [0, 2, 0] {
///     fixed.push_at(slot, offset).map_err(|(_, e)| e)?;
///     let submitted = fixed.submit();
///     assert_eq!((submitted.accepted, submitted.error), (1, None));
///     fixed.reap(1, 4, None, &mut done)?;
///     let completion = done.pop().unwrap();
///     assert_eq!(completion.result()?, 8);
///     slot = completion.into_slot();
/// }
/// assert_eq!(fixed.bufs(&slot).unwrap()[0], b"# rawaio");
/// let op = fixed.remove(slot).map_err(|(_, e)| e)?;
/// assert_eq!(op.into_bufs()[0], b"# rawaio");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A slot that borrows its file keeps it borrowed for the context's life, so the file
/// cannot close (and its number be reused) while a slot may still be submitted:
///
/// ```compile_fail
/// use rawaio::{FixedContext, Op};
/// let file = std::fs::File::open("README.md").unwrap();
/// let mut fixed = FixedContext::<Vec<u8>>::new(1).unwrap();
/// let slot = fixed.insert(Op::read(&file, vec![0u8; 8], 0)).unwrap();
/// drop(file); // error: `file` is borrowed by `fixed`
/// fixed.push(slot).unwrap();
/// ```
pub struct FixedContext<'fd, B: IoBuf = AlignedBuf> {
    kernel: Kernel,
    /// The ring's consumer, out of the kernel side's lock: `&mut self` is the lock.
    reaper: Reaper,
    table: FixedTable<'fd, B>,
    /// Slots submitted whose completions have not been delivered.
    in_flight: usize,
}

impl<'fd, B: IoBuf + 'static> FixedContext<'fd, B> {
    /// Creates a fixed context with room for at least `nr_events` requests in flight,
    /// and as many slots as its ring has events ([`capacity`](Self::capacity)).
    ///
    /// # Errors
    /// As [`Context::new`](crate::Context::new).
    #[doc(alias = "io_setup")]
    pub fn new(nr_events: u32) -> Result<Self, Error> {
        Self::with_options(nr_events, Options::default())
    }

    /// Creates a fixed context with [`Options`] (user-space reaping, an eventfd that
    /// every request signals).
    ///
    /// # Errors
    /// As [`Context::with_options`](crate::Context::with_options).
    pub fn with_options(nr_events: u32, options: Options) -> Result<Self, Error> {
        let mut kernel = Kernel::setup(nr_events, options)?;
        let reaper = std::mem::replace(
            kernel.reaper.get_mut(),
            Reaper {
                ring: None,
                events: Box::new([]),
            },
        );
        let slots = kernel.ring_nr;
        Ok(Self {
            table: FixedTable::new(slots, kernel.resfd()),
            kernel,
            reaper,
            in_flight: 0,
        })
    }
}

impl<'fd, B: IoBuf> FixedContext<'fd, B> {
    /// Makes `op` a fixed request: checks it (as [`Context::submit`](crate::Context::submit)
    /// would), encodes it into a vacant slot, which keeps its buffers and descriptors, and
    /// returns the slot's handle. Nothing is submitted.
    ///
    /// The request's file offset, length (for a plain read or write) and flags can change
    /// later; everything else is fixed until [`remove`](Self::remove). A
    /// [`range`](Op::range) sets where in the buffer the transfer starts; later lengths
    /// count from there.
    ///
    /// # Errors
    /// The request comes back in [`Rejected`], with [`Error::Invalid`] when the checks
    /// refuse it, or `EAGAIN` when every slot is taken.
    #[allow(clippy::result_large_err)] // the op comes back by value, as from Context::submit
    pub fn insert(&mut self, op: Op<'fd, B>) -> Result<FixedSlot, Rejected<'fd, B>> {
        self.table
            .insert(op)
            .map_err(|(error, op)| Rejected { error, op })
    }

    /// Empties an idle slot and gives its request back, with its buffers and descriptors
    /// and the offset, length and flags last set.
    ///
    /// # Errors
    /// [`InvalidOp::ForeignSlot`] for a slot of another fixed context, handed back.
    pub fn remove(&mut self, slot: FixedSlot) -> Result<Op<'fd, B>, (FixedSlot, InvalidOp)> {
        self.table.remove(slot)
    }

    /// Sets the file offset of `slot`'s request.
    ///
    /// # Errors
    /// - [`InvalidOp::OffsetTooLarge`]: the offset plus the length does not fit `i64`.
    /// - [`InvalidOp::Misaligned`]: the request was made with
    ///   [`aligned_to`](Op::aligned_to) and the offset breaks that alignment.
    /// - [`InvalidOp::ForeignSlot`].
    #[inline]
    pub fn set_offset(&mut self, slot: &FixedSlot, offset: u64) -> Result<(), InvalidOp> {
        self.table.set_offset(slot, offset)
    }

    /// Sets how many bytes `slot`'s plain read or write transfers, from the start of its
    /// buffer (or of the [`range`](Op::range) it was made with).
    ///
    /// # Errors
    /// - [`InvalidOp::Range`]: longer than the buffer past that start.
    /// - [`InvalidOp::RangeNotAllowed`]: not a plain read or write.
    /// - [`InvalidOp::OffsetTooLarge`], [`InvalidOp::Misaligned`],
    ///   [`InvalidOp::ForeignSlot`], as for [`set_offset`](Self::set_offset).
    pub fn set_len(&mut self, slot: &FixedSlot, len: usize) -> Result<(), InvalidOp> {
        self.table.set_len(slot, len)
    }

    /// Sets the `RWF_*` flags of `slot`'s read or write.
    ///
    /// # Errors
    /// [`InvalidOp::FlagsNotAllowed`] for flags on a sync or a poll;
    /// [`InvalidOp::ForeignSlot`].
    pub fn set_rw_flags(&mut self, slot: &FixedSlot, flags: RwfFlags) -> Result<(), InvalidOp> {
        self.table.set_rw_flags(slot, flags)
    }

    /// `slot`'s file offset, as last set; `None` for a slot of another fixed context.
    pub fn offset(&self, slot: &FixedSlot) -> Option<u64> {
        self.table.offset(slot)
    }

    /// How many bytes `slot`'s request transfers (over all its buffers), as last set;
    /// `None` for a slot of another fixed context.
    pub fn len(&self, slot: &FixedSlot) -> Option<u64> {
        self.table.len(slot)
    }

    /// `slot`'s buffers: one for a plain read or write, each of a vectored request's,
    /// none for the others; `None` for a slot of another fixed context.
    pub fn bufs(&self, slot: &FixedSlot) -> Option<&[B]> {
        self.table.bufs(slot)
    }

    /// `slot`'s buffers, to fill before a write or to change. The slot is checked and
    /// encoded again before its next submission, so a buffer may even be replaced or
    /// resized (the request's length must still fit it: see [`set_len`](Self::set_len)).
    pub fn bufs_mut(&mut self, slot: &FixedSlot) -> Option<&mut [B]> {
        self.table.bufs_mut(slot)
    }

    /// Pushes `slot` onto the submission queue: its request, as last set, goes to the
    /// kernel with the next [`submit`](Self::submit). The handle comes back with the
    /// slot's completion (or from [`take_queued`](Self::take_queued)).
    ///
    /// # Errors
    /// The slot comes back, idle, with [`InvalidOp::ForeignSlot`], or the [`InvalidOp`]
    /// that the checks of a slot whose buffers were lent out
    /// ([`bufs_mut`](Self::bufs_mut)) found.
    #[inline]
    pub fn push(&mut self, slot: FixedSlot) -> Result<(), (FixedSlot, InvalidOp)> {
        self.table.push(slot)
    }

    /// Sets `slot`'s file offset and pushes it onto the submission queue:
    /// [`set_offset`](Self::set_offset) then [`push`](Self::push), the usual step of an
    /// I/O loop.
    ///
    /// # Errors
    /// The slot comes back, unchanged, with the error of either.
    #[inline]
    pub fn push_at(&mut self, slot: FixedSlot, offset: u64) -> Result<(), (FixedSlot, InvalidOp)> {
        self.table.push_at(slot, offset)
    }

    /// How many slots wait in the submission queue.
    pub fn queued(&self) -> usize {
        self.table.queued()
    }

    /// Empties the submission queue without submitting, handing the slots in it back
    /// (idle, in the order pushed) onto `out`: after a submission error, to change or
    /// [`remove`](Self::remove) them.
    pub fn take_queued(&mut self, out: &mut Vec<FixedSlot>) {
        self.table.take_queued(out);
    }

    /// Submits the slots pushed, in order, as many as the kernel accepts, in one
    /// `io_submit` call (or more, after a partial submission). The accepted ones are in
    /// flight until their completions are reaped; the rest stay queued, in order, for the
    /// next call (or [`take_queued`](Self::take_queued)).
    ///
    /// As for [`Context::submit_batch`](crate::Context::submit_batch), the requests are
    /// independent, the kernel reports only the first refused request's error, and
    /// [`Submitted::error`] is the error of the queue's new front: `EAGAIN` when the
    /// context is full (reap, then submit again), or `EBADF`, `EINVAL`, ... for that
    /// request.
    ///
    /// # References
    /// - [io_submit(2)](https://man7.org/linux/man-pages/man2/io_submit.2.html)
    #[doc(alias = "io_submit")]
    #[inline]
    pub fn submit(&mut self) -> Submitted {
        let mut accepted = 0;
        loop {
            let queue = self.table.queue();
            let n = queue.len();
            if n == 0 {
                return Submitted {
                    accepted,
                    error: None,
                };
            }
            // SAFETY: every address is the `iocb` of a queued slot, whose buffers and
            // descriptors the table keeps until the slot's completion is delivered or the
            // context destroyed.
            let result = unsafe { sys::io_submit(self.kernel.id, n as isize, queue.as_mut_ptr()) };
            let taken = *result.as_ref().unwrap_or(&0);
            self.table.submitted(taken);
            self.in_flight += taken;
            accepted += taken;
            match result {
                Ok(k) if k == n => {
                    return Submitted {
                        accepted,
                        error: None,
                    };
                }
                // Partial: go round again, so that the first refused slot's own error is
                // the one reported.
                Ok(k) if k > 0 => {}
                Ok(_) => {
                    return Submitted {
                        accepted,
                        error: Some(Errno::AGAIN.into()),
                    };
                }
                Err(e) => {
                    return Submitted {
                        accepted,
                        error: Some(e.into()),
                    };
                }
            }
        }
    }

    /// Reaps at least `min` and at most `max` completions into `done`, waiting up to
    /// `timeout` (for ever when `None`) for the first `min`; returns how many it reaped.
    /// Each completion gives its slot's handle back.
    ///
    /// As [`Context::reap`](crate::Context::reap): `min` is capped at the number of
    /// requests in flight, ready completions come from the ring in user space without a
    /// system call, and only waiting uses `io_getevents`.
    ///
    /// # Errors
    /// As [`Context::reap`](crate::Context::reap).
    ///
    /// # References
    /// - [io_getevents(2)](https://man7.org/linux/man-pages/man2/io_getevents.2.html)
    #[doc(alias = "io_getevents")]
    #[inline]
    pub fn reap(
        &mut self,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        done: &mut Vec<FixedCompletion>,
    ) -> Result<usize, Errno> {
        self.reap_inner(min, max, timeout, None, done)
    }

    /// Takes the completions that are ready now, never waiting: `reap(0, capacity, None,
    /// done)`.
    ///
    /// # Errors
    /// As [`reap`](Self::reap).
    pub fn reap_ready(&mut self, done: &mut Vec<FixedCompletion>) -> Result<usize, Errno> {
        self.reap_inner(0, self.kernel.ring_nr as usize, None, None, done)
    }

    /// [`reap`](Self::reap), with `mask` as the thread's signal mask while it waits
    /// (`io_pgetevents`), as [`Context::reap_with_sigmask`](crate::Context::reap_with_sigmask).
    ///
    /// # Errors
    /// As [`Context::reap_with_sigmask`](crate::Context::reap_with_sigmask).
    #[doc(alias = "io_pgetevents")]
    pub fn reap_with_sigmask(
        &mut self,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        mask: &kernel_sigset_t,
        done: &mut Vec<FixedCompletion>,
    ) -> Result<usize, Errno> {
        self.reap_inner(min, max, timeout, Some(mask), done)
    }

    #[inline]
    fn reap_inner(
        &mut self,
        min: usize,
        max: usize,
        timeout: Option<Duration>,
        mask: Option<&kernel_sigset_t>,
        done: &mut Vec<FixedCompletion>,
    ) -> Result<usize, Errno> {
        let max = max.min(self.kernel.ring_nr as usize);
        if min > max {
            return Err(Errno::INVAL);
        }
        let mut sink = FixedSink {
            table: &mut self.table,
            in_flight: &mut self.in_flight,
            done,
        };
        self.kernel
            .reap_held(&mut self.reaper, min, max, timeout, mask, &mut sink)
    }

    /// Cancels the request of the slot numbered `index`, in flight. Only `POLL` requests
    /// (and a few drivers' requests) can be cancelled; the cancelled request's completion
    /// still arrives through [`reap`](Self::reap).
    ///
    /// # Errors
    /// `EINVAL`: the slot is not in flight, or its request cannot be cancelled or has
    /// completed.
    #[doc(alias = "io_cancel")]
    pub fn cancel(&mut self, index: usize) -> Result<(), Errno> {
        let cb = self.table.in_flight_iocb(index).ok_or(Errno::INVAL)?;
        let mut result = io_event::default();
        // SAFETY: `cb` is the address the slot in flight was submitted with; the slot
        // cannot be freed or reused while `&mut self` is held.
        match unsafe { sys::io_cancel(self.kernel.id, cb, &mut result) } {
            Ok(()) | Err(Errno::INPROGRESS) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether the slot numbered `index` is in flight.
    pub fn is_in_flight(&self, index: usize) -> bool {
        self.table.is_in_flight(index)
    }

    /// Requests submitted and not yet reaped.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// How many slots hold a request.
    pub fn occupied(&self) -> usize {
        self.table.occupied()
    }

    /// How many slots the context has: the number of events in the kernel's ring (see
    /// [`Context::ring_size`](crate::Context::ring_size)).
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Completions waiting in the ring, found without a system call (two atomic loads);
    /// 0 when completions are not reaped in user space.
    pub fn ready(&self) -> usize {
        self.kernel
            .user_space_peek()
            .and_then(|p| p.ready().ok())
            .unwrap_or(0) as usize
    }

    /// The eventfd every request signals, when created with
    /// [`Options::eventfd`](crate::Options::eventfd). As for
    /// [`Context::eventfd`](crate::Context::eventfd): after readiness, drain it, then
    /// [`reap_ready`](Self::reap_ready).
    pub fn eventfd(&self) -> Option<&crate::EventFd> {
        self.kernel.eventfd.as_ref()
    }

    /// The kernel handle (`aio_context_t`), for use with [`sys`](crate::sys).
    pub fn raw(&self) -> aio_context_t {
        self.kernel.id
    }

    /// Destroys the context now, waiting for every request in flight, and drops every
    /// slot's buffers and descriptors: what `drop` does, with the error reported.
    ///
    /// # Errors
    /// `EINVAL` if the kernel no longer knows the context (in a `fork` child, say); the
    /// buffers are then leaked, never freed.
    #[doc(alias = "io_destroy")]
    pub fn destroy(mut self) -> Result<(), Errno> {
        self.destroy_in_place()
    }

    fn destroy_in_place(&mut self) -> Result<(), Errno> {
        let result = self.kernel.destroy(Some(&mut self.reaper));
        if result.is_err() {
            self.table.leak();
        }
        self.in_flight = 0;
        result
    }
}

/// The fixed context's sink: completions give their slots back.
struct FixedSink<'a, 'fd, B> {
    table: &'a mut FixedTable<'fd, B>,
    in_flight: &'a mut usize,
    done: &'a mut Vec<FixedCompletion>,
}

impl<B: IoBuf> Sink for FixedSink<'_, '_, B> {
    #[inline]
    fn deliver_ring(&mut self, ring: &mut Ring, max: usize) -> Result<usize, Corrupt> {
        let table = &mut *self.table;
        let done = &mut *self.done;
        let before = done.len();
        ring.reap_each(max, |event| {
            if let Some(c) = table.complete(&event) {
                done.push(c);
            }
        })?;
        let delivered = done.len() - before;
        *self.in_flight -= delivered;
        Ok(delivered)
    }

    #[inline]
    fn deliver(&mut self, events: &[io_event]) -> usize {
        let before = self.done.len();
        for event in events {
            if let Some(c) = self.table.complete(event) {
                self.done.push(c);
            }
        }
        let delivered = self.done.len() - before;
        *self.in_flight -= delivered;
        delivered
    }

    #[inline]
    fn outstanding(&self) -> usize {
        *self.in_flight
    }
}

impl<B: IoBuf> Drop for FixedContext<'_, B> {
    fn drop(&mut self) {
        let _ = self.destroy_in_place();
    }
}

impl<B: IoBuf> fmt::Debug for FixedContext<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedContext")
            .field("id", &format_args!("{:#x}", self.kernel.id))
            .field("capacity", &self.capacity())
            .field("occupied", &self.occupied())
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}
