//! Typed requests: what to do, on which file, with which owned buffers.

use crate::buf::{IoBuf, IoBufMut};
use crate::error::InvalidOp;
use rawaio_abi::{
    IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC, IOCB_CMD_POLL, IOCB_CMD_PREAD, IOCB_CMD_PREADV,
    IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV, RwfFlags, iocb, ioprio_prio_value,
};
use rustix::event::PollFlags;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, RawFd};

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

/// One request for [`Context::submit`](crate::Context::submit): an opcode, a file, and the
/// buffers it owns until its completion hands them back.
///
/// Build it with a constructor ([`read`](Self::read), [`write`](Self::write), ...) and
/// refine it with the builder methods.
///
/// The file descriptor is recorded when the request is built and resolved by the kernel
/// when it is submitted: keep the file open until then. (Closing it afterwards is safe:
/// the kernel holds its own reference while the request is in flight.) Constructors take
/// a borrowed descriptor (`&File`, `BorrowedFd`, anything `AsFd + Copy`), never an owned
/// one, which would be closed, and its number free for reuse by an unrelated file, before
/// the request is even submitted.
///
/// ```
/// use rawaio::{Op, RwfFlags};
/// let file = std::fs::File::open("Cargo.toml")?;
/// let op = Op::read(&file, vec![0u8; 512], 0).rw_flags(RwfFlags::NOWAIT).user_data(7);
/// assert_eq!(op.len(), 512);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// An owned file is refused at compile time:
///
/// ```compile_fail
/// let file = std::fs::File::open("Cargo.toml").unwrap();
/// let op = rawaio::Op::read(file, vec![0u8; 512], 0);
/// ```
pub struct Op<B> {
    pub(crate) opcode: u16,
    pub(crate) bufs: Bufs<B>,
    /// Where each buffer's bytes are, for the kernel: chosen by the constructor, which
    /// knows whether the kernel writes them (`IoBufMut`) or only reads them.
    pub(crate) addr_of: fn(&mut B) -> *mut u8,
    pub(crate) fd: RawFd,
    pub(crate) offset: u64,
    pub(crate) poll_events: u16,
    pub(crate) rw_flags: RwfFlags,
    pub(crate) ioprio: Option<IoPriority>,
    pub(crate) resfd: Option<RawFd>,
    pub(crate) user_data: u64,
    pub(crate) align: Option<(usize, usize)>,
    pub(crate) limit: Option<usize>,
}

fn addr_for_write<B: IoBuf>(buf: &mut B) -> *mut u8 {
    buf.as_ptr().cast_mut()
}

fn addr_for_read<B: IoBufMut>(buf: &mut B) -> *mut u8 {
    buf.as_mut_ptr()
}

impl<B: IoBuf> Op<B> {
    fn new(
        opcode: u16,
        fd: RawFd,
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
            resfd: None,
            user_data: 0,
            align: None,
            limit: None,
        }
    }

    /// Reads `buf.len()` bytes at `offset` into `buf` (`IOCB_CMD_PREAD`).
    #[doc(alias = "io_prep_pread")]
    pub fn read(fd: impl AsFd + Copy, buf: B, offset: u64) -> Self
    where
        B: IoBufMut,
    {
        Self::new(
            IOCB_CMD_PREAD,
            fd.as_fd().as_raw_fd(),
            Bufs::One(buf),
            offset,
            addr_for_read::<B>,
        )
    }

    /// Writes `buf` at `offset` (`IOCB_CMD_PWRITE`).
    #[doc(alias = "io_prep_pwrite")]
    pub fn write(fd: impl AsFd + Copy, buf: B, offset: u64) -> Self {
        Self::new(
            IOCB_CMD_PWRITE,
            fd.as_fd().as_raw_fd(),
            Bufs::One(buf),
            offset,
            addr_for_write::<B>,
        )
    }

    /// Reads at `offset` into each buffer in turn (`IOCB_CMD_PREADV`).
    #[doc(alias = "io_prep_preadv")]
    pub fn readv(fd: impl AsFd + Copy, bufs: Vec<B>, offset: u64) -> Self
    where
        B: IoBufMut,
    {
        Self::new(
            IOCB_CMD_PREADV,
            fd.as_fd().as_raw_fd(),
            Bufs::Many(bufs),
            offset,
            addr_for_read::<B>,
        )
    }

    /// Writes each buffer in turn at `offset` (`IOCB_CMD_PWRITEV`).
    #[doc(alias = "io_prep_pwritev")]
    pub fn writev(fd: impl AsFd + Copy, bufs: Vec<B>, offset: u64) -> Self {
        Self::new(
            IOCB_CMD_PWRITEV,
            fd.as_fd().as_raw_fd(),
            Bufs::Many(bufs),
            offset,
            addr_for_write::<B>,
        )
    }

    /// Flushes the file's data and metadata (`IOCB_CMD_FSYNC`).
    #[doc(alias = "io_prep_fsync")]
    pub fn fsync(fd: impl AsFd + Copy) -> Self {
        Self::new(
            IOCB_CMD_FSYNC,
            fd.as_fd().as_raw_fd(),
            Bufs::None,
            0,
            addr_for_write::<B>,
        )
    }

    /// Flushes the file's data and the metadata needed to read it (`IOCB_CMD_FDSYNC`).
    #[doc(alias = "io_prep_fdsync")]
    pub fn fdsync(fd: impl AsFd + Copy) -> Self {
        Self::new(
            IOCB_CMD_FDSYNC,
            fd.as_fd().as_raw_fd(),
            Bufs::None,
            0,
            addr_for_write::<B>,
        )
    }

    /// Waits until `fd` has one of `events` ready (`IOCB_CMD_POLL`, Linux 4.18); the
    /// completion's result is the ready mask. The only kind of request that
    /// [`Context::cancel`](crate::Context::cancel) can cancel.
    #[doc(alias = "io_prep_poll")]
    pub fn poll(fd: impl AsFd + Copy, events: PollFlags) -> Self {
        let mut op = Self::new(
            IOCB_CMD_POLL,
            fd.as_fd().as_raw_fd(),
            Bufs::None,
            0,
            addr_for_write::<B>,
        );
        // `u16` on the raw backend, `i16` on the libc one (Miri): keep the bits either way.
        op.poll_events = u16::from_ne_bytes(events.bits().to_ne_bytes());
        op
    }

    /// A request with no buffers, standing for a raw `iocb` submitted by
    /// [`Context::submit_raw`](crate::Context::submit_raw).
    pub(crate) fn raw(cb: &rawaio_abi::iocb) -> Self {
        Self::new(
            cb.aio_lio_opcode,
            cb.aio_fildes as RawFd,
            Bufs::None,
            0,
            addr_for_write::<B>,
        )
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
    /// The descriptor is resolved at submission, like the file's.
    #[doc(alias = "io_set_eventfd")]
    pub fn notify(mut self, eventfd: impl AsFd + Copy) -> Self {
        self.resfd = Some(eventfd.as_fd().as_raw_fd());
        self
    }

    /// Transfers only the first `len` bytes of a plain read's or write's buffer (the
    /// whole buffer still comes back with the completion): for a short tail block, say.
    /// A `len` beyond the buffer's length is refused at submission
    /// ([`InvalidOp::LengthTooLarge`]), as is a limit on any other kind of request
    /// ([`InvalidOp::LimitNotAllowed`]).
    pub fn limit(mut self, len: usize) -> Self {
        self.limit = Some(len);
        self
    }

    /// A value of the caller's, handed back unchanged in the
    /// [`Completion`](crate::Completion).
    pub fn user_data(mut self, data: u64) -> Self {
        self.user_data = data;
        self
    }

    /// Refuses the request at submission, with [`InvalidOp::Misaligned`], unless every
    /// buffer address is a multiple of `memory` and the offset and every length a
    /// multiple of `offset` (see [`DioAlign`](crate::direct::DioAlign)). Without this
    /// call nothing is checked and the kernel decides (misaligned `O_DIRECT` I/O fails
    /// with `EINVAL`, at submission or in the completion).
    pub fn check_alignment(mut self, memory: usize, offset: usize) -> Self {
        self.align = Some((memory.max(1), offset.max(1)));
        self
    }

    /// [`check_alignment`](Self::check_alignment) against a file's discovered
    /// [`DioAlign`](crate::DioAlign).
    pub fn aligned_to(self, align: crate::DioAlign) -> Self {
        self.check_alignment(align.memory, align.offset)
    }

    /// The value given to [`user_data`](Self::user_data).
    pub fn get_user_data(&self) -> u64 {
        self.user_data
    }

    /// The total length the request transfers, in bytes.
    pub fn len(&self) -> u64 {
        match &self.bufs {
            Bufs::None => 0,
            Bufs::One(b) => self.limit.unwrap_or(b.len()).min(b.len()) as u64,
            Bufs::Many(bs) => bs.iter().map(|b| b.len() as u64).sum(),
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

    /// The `iocb` this operation submits: what [`Context::submit`](crate::Context::submit)
    /// hands the kernel for it, built by the same code after the same checks, for logging,
    /// tests, or a request to hand to [`sys::io_submit`](crate::sys::io_submit) yourself.
    ///
    /// Three fields are the context's to fill at submission, and differ here:
    /// - `aio_data` is 0 (a context puts the request's token there; the
    ///   [`user_data`](Self::user_data) travels outside the kernel);
    /// - `aio_flags` and `aio_resfd` name only the eventfd given to [`notify`](Self::notify),
    ///   not a context-wide one ([`Options::eventfd`](crate::Options::eventfd));
    /// - for `readv` and `writev`, `aio_buf` is 0: it points to an array of `iovec`s that
    ///   the context keeps per request (`aio_nbytes` is the number of buffers).
    ///
    /// Buffer addresses are those of the buffers the operation owns, so they stay right for
    /// as long as the operation (or the context it is submitted to) holds them.
    ///
    /// # Errors
    /// The [`InvalidOp`] that [`Context::submit`](crate::Context::submit) would refuse the
    /// operation with.
    ///
    /// ```
    /// use rawaio::{Op, RwfFlags};
    /// use rawaio::abi::IOCB_CMD_PWRITE;
    /// use std::os::fd::AsRawFd;
    ///
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let buf = vec![1u8; 100];
    /// let addr = buf.as_ptr() as u64;
    /// let mut op = Op::write(&file, buf, 4096).rw_flags(RwfFlags::DSYNC).limit(10);
    /// let cb = op.to_iocb()?;
    /// assert_eq!(cb.aio_lio_opcode, IOCB_CMD_PWRITE);
    /// assert_eq!(cb.aio_fildes, file.as_raw_fd() as u32);
    /// assert_eq!((cb.aio_buf, cb.aio_nbytes, cb.aio_offset), (addr, 10, 4096));
    /// assert_eq!(cb.rw_flags(), RwfFlags::DSYNC);
    ///
    /// let mut op = Op::write(&file, vec![0u8; 1], u64::MAX);
    /// assert!(matches!(op.to_iocb(), Err(rawaio::InvalidOp::OffsetTooLarge { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "iocb")]
    pub fn to_iocb(&mut self) -> Result<iocb, InvalidOp> {
        // Prepared in a table of its own, exactly as a context prepares it, then taken
        // back: one code path builds every iocb.
        let placeholder = Self::new(IOCB_CMD_PREAD, -1, Bufs::None, 0, addr_for_write::<B>);
        let op = std::mem::replace(self, placeholder);
        let table = crate::inflight::Table::new(1);
        let mut guard = table.lock();
        let (token, _) = match guard.prepare(op, None) {
            Ok(prepared) => prepared,
            Err((op, error)) => {
                *self = op;
                return Err(match error {
                    crate::Error::Invalid(invalid) => invalid,
                    // A fresh table of one slot has room, and preparing makes no call.
                    crate::Error::Os(errno) => unreachable!("preparing failed with {errno}"),
                });
            }
        };
        let mut cb = guard.iocb_of(token).expect("the token was just prepared");
        *self = guard.unprepare(token);
        cb.aio_data = 0;
        if matches!(self.bufs, Bufs::Many(_)) {
            cb.aio_buf = 0;
        }
        Ok(cb)
    }

    /// Gives the buffers back: one for a plain read or write, all of a vectored one's, none
    /// for the others.
    pub fn into_bufs(self) -> Vec<B> {
        match self.bufs {
            Bufs::None => Vec::new(),
            Bufs::One(b) => vec![b],
            Bufs::Many(bs) => bs,
        }
    }

    /// Checks what rawaio can know before submission.
    pub(crate) fn validate(&mut self) -> Result<(), InvalidOp> {
        match (&self.bufs, self.limit) {
            (_, None) => {}
            (Bufs::One(b), Some(limit)) if limit > b.len() => {
                return Err(InvalidOp::LengthTooLarge { len: limit as u64 });
            }
            (Bufs::One(_), Some(_)) => {}
            (_, Some(_)) => return Err(InvalidOp::LimitNotAllowed),
        }
        let len = self.len();
        if len > isize::MAX as u64 {
            return Err(InvalidOp::LengthTooLarge { len });
        }
        if self
            .offset
            .checked_add(len)
            .is_none_or(|end| end > i64::MAX as u64)
        {
            return Err(InvalidOp::OffsetTooLarge {
                offset: self.offset,
                len,
            });
        }
        if let Bufs::Many(bs) = &self.bufs {
            if bs.is_empty() || bs.len() > IOV_MAX {
                return Err(InvalidOp::BufferCount { count: bs.len() });
            }
        }
        if !self.rw_flags.is_empty() && matches!(self.bufs, Bufs::None) {
            return Err(InvalidOp::FlagsNotAllowed);
        }
        if let Some((memory, offset_align)) = self.align {
            let misaligned =
                |what, value: u64, align: usize| InvalidOp::Misaligned { what, value, align };
            if self.offset % offset_align as u64 != 0 {
                return Err(misaligned("offset", self.offset, offset_align));
            }
            let addr_of = self.addr_of;
            let limit = self.limit;
            let check = |b: &mut B| {
                let addr = addr_of(b) as usize;
                if addr % memory != 0 {
                    return Err(misaligned("address", addr as u64, memory));
                }
                let len = limit.unwrap_or(b.len()).min(b.len());
                if len % offset_align != 0 {
                    return Err(misaligned("length", len as u64, offset_align));
                }
                Ok(())
            };
            match &mut self.bufs {
                Bufs::None => {}
                Bufs::One(b) => check(b)?,
                Bufs::Many(bs) => bs.iter_mut().try_for_each(check)?,
            }
        }
        Ok(())
    }
}

impl<B> fmt::Debug for Op<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bufs = match &self.bufs {
            Bufs::None => 0,
            Bufs::One(_) => 1,
            Bufs::Many(bs) => bs.len(),
        };
        f.debug_struct("Op")
            .field("opcode", &self.opcode)
            .field("fd", &self.fd)
            .field("offset", &self.offset)
            .field("buffers", &bufs)
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
        // SAFETY: standard input is open for the test process's lifetime; the request is
        // never submitted.
        #[allow(unsafe_code)]
        unsafe {
            BorrowedFd::borrow_raw(0)
        }
    }

    #[test]
    fn validation_refuses_what_cannot_be_meant() {
        // The last byte must lie below i64::MAX: offset + len <= i64::MAX.
        let mut op = Op::read(fd(), vec![0u8; 16], i64::MAX as u64 - 16);
        assert_eq!(op.validate(), Ok(()));
        let mut op = Op::read(fd(), vec![0u8; 16], i64::MAX as u64 - 15);
        assert!(matches!(
            op.validate(),
            Err(InvalidOp::OffsetTooLarge { .. })
        ));
        let mut op = Op::write(fd(), vec![0u8; 1], u64::MAX);
        assert!(matches!(
            op.validate(),
            Err(InvalidOp::OffsetTooLarge { .. })
        ));
        let mut op = Op::<Vec<u8>>::readv(fd(), Vec::new(), 0);
        assert_eq!(op.validate(), Err(InvalidOp::BufferCount { count: 0 }));
        let mut op = Op::writev(fd(), vec![vec![0u8; 1]; IOV_MAX + 1], 0);
        assert_eq!(
            op.validate(),
            Err(InvalidOp::BufferCount { count: IOV_MAX + 1 })
        );
        let mut op = Op::<Vec<u8>>::fsync(fd()).rw_flags(RwfFlags::DSYNC);
        assert_eq!(op.validate(), Err(InvalidOp::FlagsNotAllowed));
        let mut op = Op::<Vec<u8>>::poll(fd(), PollFlags::IN);
        assert_eq!(op.validate(), Ok(()));
    }

    #[test]
    fn alignment_is_checked_on_request() {
        let buf = crate::AlignedBuf::new(4096, 4096).unwrap();
        let mut op = Op::read(fd(), buf, 512).check_alignment(4096, 512);
        assert_eq!(op.validate(), Ok(()));
        let mut op = Op::read(fd(), crate::AlignedBuf::new(4096, 4096).unwrap(), 100)
            .check_alignment(4096, 512);
        assert!(matches!(
            op.validate(),
            Err(InvalidOp::Misaligned { what: "offset", .. })
        ));
        let mut op = Op::read(fd(), crate::AlignedBuf::new(1000, 4096).unwrap(), 0)
            .check_alignment(4096, 512);
        assert!(matches!(
            op.validate(),
            Err(InvalidOp::Misaligned { what: "length", .. })
        ));
        let mut op = Op::write(fd(), crate::AlignedBuf::new(512, 256).unwrap(), 0)
            .check_alignment(4096, 512);
        // A 256-aligned allocation may happen to be 4096-aligned: only assert when not.
        let addr = op.bufs_addr();
        if addr % 4096 != 0 {
            assert!(matches!(
                op.validate(),
                Err(InvalidOp::Misaligned {
                    what: "address",
                    ..
                })
            ));
        }
    }

    impl<B: IoBuf> Op<B> {
        fn bufs_addr(&mut self) -> usize {
            match &mut self.bufs {
                Bufs::One(b) => (self.addr_of)(b) as usize,
                _ => 0,
            }
        }
    }

    #[test]
    fn limit_shortens_plain_requests_only() {
        let mut op = Op::write(fd(), vec![0u8; 100], 0).limit(10);
        assert_eq!((op.validate(), op.len()), (Ok(()), 10));
        let mut op = Op::write(fd(), vec![0u8; 100], 0).limit(101);
        assert_eq!(op.validate(), Err(InvalidOp::LengthTooLarge { len: 101 }));
        let mut op = Op::writev(fd(), vec![vec![0u8; 100]], 0).limit(10);
        assert_eq!(op.validate(), Err(InvalidOp::LimitNotAllowed));
        let mut op = Op::write(fd(), crate::AlignedBuf::new(4096, 4096).unwrap(), 0)
            .limit(1000)
            .check_alignment(512, 512);
        assert!(matches!(
            op.validate(),
            Err(InvalidOp::Misaligned { what: "length", .. })
        ));
    }

    #[test]
    fn to_iocb_is_what_a_context_prepares_and_gives_the_op_back() {
        let bufs = vec![vec![1u8; 3], vec![2u8; 5]];
        let mut op = Op::writev(fd(), bufs, 64)
            .priority(IoPriority::new(IoClass::Idle, 3).unwrap())
            .notify(fd());
        let cb = op.to_iocb().unwrap();
        assert_eq!(cb.aio_lio_opcode, IOCB_CMD_PWRITEV);
        assert_eq!((cb.aio_buf, cb.aio_nbytes, cb.aio_offset), (0, 2, 64));
        assert_eq!((cb.aio_flags, cb.aio_resfd), (3, 0));
        assert_eq!(cb.aio_reqprio as u16, (3 << 13) | 3);
        assert_eq!(op.into_bufs(), vec![vec![1u8; 3], vec![2u8; 5]]);

        let mut op = Op::<Vec<u8>>::poll(fd(), PollFlags::IN | PollFlags::OUT);
        let cb = op.to_iocb().unwrap();
        assert_eq!(
            (cb.aio_lio_opcode, cb.aio_buf, cb.aio_nbytes),
            (IOCB_CMD_POLL, 5, 0)
        );

        let mut op = Op::<Vec<u8>>::fdsync(fd()).rw_flags(RwfFlags::SYNC);
        assert_eq!(op.to_iocb(), Err(InvalidOp::FlagsNotAllowed));
        assert_eq!(
            op.rw_flags,
            RwfFlags::SYNC,
            "a refused op comes back as it was"
        );
        assert_eq!(op.opcode(), IOCB_CMD_FDSYNC);
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
