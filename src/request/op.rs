//! Typed requests: what to do, on which file, with which buffers.

use super::buf::{IoBuf, IoBufMut};
use super::fd::{IntoTarget, Target};
use crate::direct::DioAlign;
use crate::error::InvalidOp;
use rawaio_abi::{
    IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC, IOCB_CMD_POLL, IOCB_CMD_PREAD, IOCB_CMD_PREADV,
    IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV, RwfFlags, ioprio_prio_value,
};
use rustix::event::PollFlags;
use std::fmt;
use std::ops::{Bound, RangeBounds};

/// The most buffers one vectored request may have (`UIO_MAXIOV`).
pub const IOV_MAX: usize = 1024;

/// An I/O scheduling class, for [`IoPriority`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoClass {
    /// No class: derived from the task's CPU nice value.
    None,
    /// Real time; needs `CAP_SYS_ADMIN` or `CAP_SYS_NICE` (else `EPERM` at submission).
    RealTime,
    /// Best effort, the default class.
    BestEffort,
    /// Served only when the device is otherwise idle.
    Idle,
}

/// An I/O priority for one request (`IOCB_FLAG_IOPRIO`, Linux 4.18).
///
/// ```
/// use rawaio::{IoClass, IoPriority};
/// let prio = IoPriority::new(IoClass::BestEffort, 2)?;
/// assert_eq!(prio.value(), (2 << 13) | 2);
/// assert!(IoPriority::new(IoClass::Idle, 8).is_err());
/// # Ok::<(), rawaio::InvalidOp>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IoPriority(u16);

impl IoPriority {
    /// A priority of `class` at `level` (0, the highest, to 7).
    ///
    /// # Errors
    /// [`InvalidOp::PriorityLevel`] for a level above 7.
    pub fn new(class: IoClass, level: u8) -> Result<Self, InvalidOp> {
        if level > 7 {
            return Err(InvalidOp::PriorityLevel { level });
        }
        let class = match class {
            IoClass::None => rawaio_abi::IOPRIO_CLASS_NONE,
            IoClass::RealTime => rawaio_abi::IOPRIO_CLASS_RT,
            IoClass::BestEffort => rawaio_abi::IOPRIO_CLASS_BE,
            IoClass::Idle => rawaio_abi::IOPRIO_CLASS_IDLE,
        };
        Ok(Self(ioprio_prio_value(class, level.into())))
    }

    /// The encoded value the kernel reads from `aio_reqprio`.
    pub fn value(self) -> u16 {
        self.0
    }
}

/// The buffers a request owns.
pub(crate) enum Bufs<B> {
    None,
    One(B),
    Many(Vec<B>),
}

impl<B> Bufs<B> {
    pub(crate) fn count(&self) -> usize {
        match self {
            Self::None => 0,
            Self::One(_) => 1,
            Self::Many(bs) => bs.len(),
        }
    }

    pub(crate) fn into_vec(self) -> Vec<B> {
        match self {
            Self::None => Vec::new(),
            Self::One(b) => vec![b],
            Self::Many(bs) => bs,
        }
    }
}

/// One request for [`Context::submit`](crate::Context::submit): an opcode, a file, and the
/// buffers it owns until its completion hands them back.
///
/// Build it with a constructor ([`read`](Self::read), [`write`](Self::write), ...) and
/// refine it with the builder methods. Building is pure: nothing is checked nor sent to
/// the kernel until submission.
///
/// # The file
///
/// The kernel resolves the descriptor when the request is submitted, and holds its own
/// reference from then on. Until then the request keeps it open: constructors take
/// anything that is [`IntoTarget`], which borrows the descriptor for the request's
/// lifetime `'fd` (`&File`, `BorrowedFd`), owns it (`File`, `OwnedFd`: closed once the
/// request is submitted) or shares it (`Arc<File>`). A request can never outlive a
/// descriptor it borrows, so it can never reach another file that reused the number.
///
/// # Ordering
///
/// Requests are independent: the kernel may start and finish the requests of one batch
/// (one [`submit_batch`](crate::Context::submit_batch) call, or several `submit` calls)
/// in any order. In particular an [`fsync`](Self::fsync) or [`fdsync`](Self::fdsync) does
/// not wait for the writes submitted before it and does not cover writes still in
/// flight: submit it after their completions have been reaped
/// ([`Context::submit_and_flush`](crate::Context::submit_and_flush) does that), or make
/// each write durable itself with [`RwfFlags::DSYNC`].
///
/// ```
/// use rawaio::{Op, RwfFlags};
/// let file = std::fs::File::open("README.md")?;
/// let op = Op::read(&file, vec![0u8; 512], 0).rw_flags(RwfFlags::NOWAIT).user_data(7);
/// assert_eq!(op.len(), 512);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Op<'fd, B> {
    pub(crate) opcode: u16,
    pub(crate) bufs: Bufs<B>,
    /// Where each buffer's bytes are, for the kernel: chosen by the constructor, which
    /// knows whether the kernel writes them (`IoBufMut`) or only reads them.
    pub(crate) addr_of: fn(&mut B) -> *mut u8,
    pub(crate) fd: Target<'fd>,
    pub(crate) offset: u64,
    pub(crate) poll_events: u16,
    pub(crate) rw_flags: RwfFlags,
    pub(crate) ioprio: Option<IoPriority>,
    pub(crate) notify: Option<Target<'fd>>,
    pub(crate) user_data: u64,
    pub(crate) align: Option<DioAlign>,
    /// The part of a plain request's buffer to transfer: `start..end`, `end` `None` for
    /// the buffer's end.
    pub(crate) range: Option<(usize, Option<usize>)>,
}

#[inline]
fn addr_for_write<B: IoBuf>(buf: &mut B) -> *mut u8 {
    buf.io_ptr().cast_mut()
}

#[inline]
fn addr_for_read<B: IoBufMut>(buf: &mut B) -> *mut u8 {
    buf.io_mut_ptr()
}

impl<'fd, B: IoBuf> Op<'fd, B> {
    #[inline]
    fn new(
        opcode: u16,
        fd: Target<'fd>,
        bufs: Bufs<B>,
        offset: u64,
        addr_of: fn(&mut B) -> *mut u8,
    ) -> Self {
        Self {
            opcode,
            bufs,
            addr_of,
            fd,
            offset,
            poll_events: 0,
            rw_flags: RwfFlags::empty(),
            ioprio: None,
            notify: None,
            user_data: 0,
            align: None,
            range: None,
        }
    }

    /// Reads `buf.io_len()` bytes at `offset` into `buf` (`IOCB_CMD_PREAD`).
    #[doc(alias = "io_prep_pread")]
    #[inline]
    pub fn read(fd: impl IntoTarget<'fd>, buf: B, offset: u64) -> Self
    where
        B: IoBufMut,
    {
        Self::new(
            IOCB_CMD_PREAD,
            fd.into_target(),
            Bufs::One(buf),
            offset,
            addr_for_read::<B>,
        )
    }

    /// Writes `buf` at `offset` (`IOCB_CMD_PWRITE`).
    #[doc(alias = "io_prep_pwrite")]
    #[inline]
    pub fn write(fd: impl IntoTarget<'fd>, buf: B, offset: u64) -> Self {
        Self::new(
            IOCB_CMD_PWRITE,
            fd.into_target(),
            Bufs::One(buf),
            offset,
            addr_for_write::<B>,
        )
    }

    /// Reads at `offset` into each buffer in turn (`IOCB_CMD_PREADV`).
    #[doc(alias = "io_prep_preadv")]
    pub fn readv(fd: impl IntoTarget<'fd>, bufs: Vec<B>, offset: u64) -> Self
    where
        B: IoBufMut,
    {
        Self::new(
            IOCB_CMD_PREADV,
            fd.into_target(),
            Bufs::Many(bufs),
            offset,
            addr_for_read::<B>,
        )
    }

    /// Writes each buffer in turn at `offset` (`IOCB_CMD_PWRITEV`).
    #[doc(alias = "io_prep_pwritev")]
    pub fn writev(fd: impl IntoTarget<'fd>, bufs: Vec<B>, offset: u64) -> Self {
        Self::new(
            IOCB_CMD_PWRITEV,
            fd.into_target(),
            Bufs::Many(bufs),
            offset,
            addr_for_write::<B>,
        )
    }

    /// Flushes the file's data and metadata (`IOCB_CMD_FSYNC`). It covers the writes
    /// that completed before it was submitted, not those in flight with it (see
    /// [Ordering](Self#ordering)).
    #[doc(alias = "io_prep_fsync")]
    pub fn fsync(fd: impl IntoTarget<'fd>) -> Self {
        Self::new(
            IOCB_CMD_FSYNC,
            fd.into_target(),
            Bufs::None,
            0,
            addr_for_write::<B>,
        )
    }

    /// Flushes the file's data and the metadata needed to read it (`IOCB_CMD_FDSYNC`).
    /// It covers the writes that completed before it was submitted, not those in flight
    /// with it (see [Ordering](Self#ordering)).
    #[doc(alias = "io_prep_fdsync")]
    pub fn fdsync(fd: impl IntoTarget<'fd>) -> Self {
        Self::new(
            IOCB_CMD_FDSYNC,
            fd.into_target(),
            Bufs::None,
            0,
            addr_for_write::<B>,
        )
    }

    /// Waits until `fd` has one of `events` ready (`IOCB_CMD_POLL`, Linux 4.18); the
    /// completion's result is the ready mask. The only kind of request that
    /// [`Context::cancel`](crate::Context::cancel) can cancel.
    ///
    /// The mask may hold bits that were not asked for: the kernel always watches for
    /// `POLLERR` and `POLLHUP` too (a pipe whose writer closed completes a poll for
    /// `IN` with `IN | HUP`), as `poll(2)` does. Test the bits you need.
    #[doc(alias = "io_prep_poll")]
    pub fn poll(fd: impl IntoTarget<'fd>, events: PollFlags) -> Self {
        let mut op = Self::new(
            IOCB_CMD_POLL,
            fd.into_target(),
            Bufs::None,
            0,
            addr_for_write::<B>,
        );
        // `u16` on the raw backend, `i16` on the libc one (Miri): keep the bits either way.
        op.poll_events = u16::from_ne_bytes(events.bits().to_ne_bytes());
        op
    }

    /// Per-request `RWF_*` flags (reads and writes only; see [`RwfFlags`]).
    pub fn rw_flags(mut self, flags: RwfFlags) -> Self {
        self.rw_flags = flags;
        self
    }

    /// An I/O priority (`IOCB_FLAG_IOPRIO`).
    pub fn priority(mut self, prio: IoPriority) -> Self {
        self.ioprio = Some(prio);
        self
    }

    /// Adds 1 to the eventfd `eventfd` when this request completes (`IOCB_FLAG_RESFD`).
    /// The descriptor is held like the file's, until submission.
    ///
    /// A request has room for one eventfd: on a context that signals its own
    /// ([`Options::eventfd`](crate::Options::eventfd), and every
    /// [`AsyncContext`](crate::AsyncContext)) the request is refused with
    /// [`InvalidOp::NotifyConflict`] rather than silently taken away from one of the two.
    ///
    /// The eventfd cannot close before the request is submitted:
    ///
    /// ```compile_fail
    /// use rawaio::{Context, EventFd, Op};
    /// let ctx = Context::new(1).unwrap();
    /// let file = std::fs::File::open("README.md").unwrap();
    /// let efd = EventFd::new().unwrap();
    /// let op = Op::read(&file, vec![0u8; 1], 0).notify(&efd);
    /// drop(efd); // error: `efd` is borrowed by `op`
    /// ctx.submit(op).unwrap();
    /// ```
    #[doc(alias = "io_set_eventfd")]
    pub fn notify(mut self, eventfd: impl IntoTarget<'fd>) -> Self {
        self.notify = Some(eventfd.into_target());
        self
    }

    /// Transfers only `buf[range]` of a plain read's or write's buffer, at the request's
    /// file offset; the whole buffer still comes back with the completion. For I/O into
    /// a part of a larger owned buffer, or the rest of a short transfer.
    ///
    /// A range outside the buffer is refused at submission ([`InvalidOp::Range`]), as is
    /// a range on any other kind of request ([`InvalidOp::RangeNotAllowed`]).
    ///
    /// ```
    /// use rawaio::Op;
    /// let file = std::fs::File::open("README.md")?;
    /// let op = Op::read(&file, vec![0u8; 4096], 0).range(512..1024);
    /// assert_eq!(op.len(), 512);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn range(mut self, range: impl RangeBounds<usize>) -> Self {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => Some(e.saturating_add(1)),
            Bound::Excluded(&e) => Some(e),
            Bound::Unbounded => None,
        };
        self.range = Some((start, end));
        self
    }

    /// Transfers only the first `len` bytes of a plain read's or write's buffer:
    /// [`range(..len)`](Self::range).
    pub fn limit(self, len: usize) -> Self {
        self.range(..len)
    }

    /// A value of the caller's, handed back unchanged in the
    /// [`Completion`](crate::Completion).
    #[inline]
    pub fn user_data(mut self, data: u64) -> Self {
        self.user_data = data;
        self
    }

    /// Refuses the request at submission, with [`InvalidOp::Misaligned`], unless every
    /// buffer address is a multiple of `align.memory` and the offset and every length a
    /// multiple of `align.offset`: the rule of [`DioAlign::check`], applied to each
    /// buffer. Without this call nothing is checked and the kernel decides (misaligned
    /// `O_DIRECT` I/O fails with `EINVAL`, at submission or in the completion).
    pub fn aligned_to(mut self, align: DioAlign) -> Self {
        self.align = Some(align);
        self
    }

    /// [`aligned_to`](Self::aligned_to) with the two alignments given apart.
    pub fn check_alignment(self, memory: usize, offset: usize) -> Self {
        self.aligned_to(DioAlign { memory, offset })
    }

    /// The value given to [`user_data`](Self::user_data).
    pub fn get_user_data(&self) -> u64 {
        self.user_data
    }

    /// The descriptor the request names.
    pub fn target(&self) -> &Target<'fd> {
        &self.fd
    }

    /// The file offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The total length the request transfers, in bytes (for a range outside the
    /// buffer, which submission refuses, what lies inside it).
    pub fn len(&self) -> u64 {
        match &self.bufs {
            Bufs::None => 0,
            Bufs::One(b) => {
                let (start, end) = self.window(b.io_len());
                (end - start) as u64
            }
            Bufs::Many(bs) => bs.iter().map(|b| b.io_len() as u64).sum(),
        }
    }

    /// The part of a plain buffer of length `len` that the request transfers, clamped to
    /// the buffer.
    pub(crate) fn window(&self, len: usize) -> (usize, usize) {
        match self.range {
            None => (0, len),
            Some((start, end)) => {
                let end = end.unwrap_or(len).min(len);
                (start.min(end), end)
            }
        }
    }

    /// Whether the request transfers no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `IOCB_CMD_*` opcode.
    pub fn opcode(&self) -> u16 {
        self.opcode
    }

    /// Gives the buffers back: one for a plain read or write, all of a vectored one's, none
    /// for the others.
    pub fn into_bufs(self) -> Vec<B> {
        self.bufs.into_vec()
    }

    /// Whether nothing in the request has a destructor to run: no buffer (the table
    /// took them) and borrowed descriptors. Forgetting such a request is dropping it,
    /// at the cost of three tests instead of a call into the drop glue.
    #[inline(always)]
    pub(crate) fn is_spent(&self) -> bool {
        // The other fields are plain values: a field with a destructor must be added here.
        const {
            assert!(
                !std::mem::needs_drop::<RwfFlags>()
                    && !std::mem::needs_drop::<Option<IoPriority>>()
                    && !std::mem::needs_drop::<Option<DioAlign>>()
                    && !std::mem::needs_drop::<Option<(usize, Option<usize>)>>()
            );
        }
        matches!(self.bufs, Bufs::None) && !self.fd.is_held() && self.notify.is_none()
    }
}

impl<B> fmt::Debug for Op<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op")
            .field("opcode", &self.opcode)
            .field("fd", &self.fd)
            .field("offset", &self.offset)
            .field("buffers", &self.bufs.count())
            .field("rw_flags", &self.rw_flags)
            .field("user_data", &self.user_data)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::BorrowedFd;

    fn fd() -> BorrowedFd<'static> {
        crate::request::stdin_fd()
    }

    #[test]
    fn only_a_request_with_nothing_to_drop_is_spent() {
        let mut op = Op::read(fd(), vec![0u8; 8], 0);
        assert!(!op.is_spent(), "it holds a buffer");
        op.bufs = Bufs::None;
        assert!(op.is_spent());
        let shared = std::sync::Arc::new(std::io::stdin());
        let mut op = Op::<Vec<u8>>::fsync(std::sync::Arc::clone(&shared));
        assert!(!op.is_spent(), "it shares its descriptor");
        op.fd = fd().into_target();
        assert!(op.is_spent());
        let op = op.notify(std::sync::Arc::clone(&shared));
        assert!(!op.is_spent(), "it shares its eventfd");
        drop(op);
        assert_eq!(std::sync::Arc::strong_count(&shared), 1);
    }

    #[test]
    fn ranges_and_limits_pick_a_window() {
        let op = Op::read(fd(), vec![0u8; 100], 0).range(10..=19);
        assert_eq!((op.window(100), op.len()), ((10, 20), 10));
        let op = Op::read(fd(), vec![0u8; 100], 0).range(90..);
        assert_eq!(op.len(), 10);
        let op = Op::write(fd(), vec![0u8; 100], 0).limit(5);
        assert_eq!(op.len(), 5);
        let op = Op::write(fd(), vec![0u8; 4], 0).limit(5);
        assert_eq!(op.len(), 4, "clamped for len(); refused at submission");
        let op = Op::write(fd(), vec![0u8; 4], 0);
        assert_eq!((op.len(), op.offset(), op.target().raw()), (4, 0, 0));
    }

    #[test]
    fn priority_levels() {
        assert_eq!(
            IoPriority::new(IoClass::RealTime, 0).unwrap().value(),
            1 << 13
        );
        assert_eq!(
            IoPriority::new(IoClass::Idle, 7).unwrap().value(),
            (3 << 13) | 7
        );
        assert_eq!(
            IoPriority::new(IoClass::BestEffort, 9),
            Err(InvalidOp::PriorityLevel { level: 9 })
        );
    }
}
