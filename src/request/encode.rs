//! The one encoder: a checked [`Op`] to the `iocb` (and `iovec` array) the kernel reads.
//! Pure: it writes only what it is given.

use super::buf::IoBuf;
use super::check::{Checked, check};
use super::op::{Bufs, Op};
use crate::error::InvalidOp;
use rawaio_abi::{__kernel_rwf_t, IocbFlags, iocb};

/// `struct iovec` (`{ void *iov_base; size_t iov_len; }`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Iovec {
    pub(crate) base: *mut u8,
    pub(crate) len: usize,
}

/// The `iocb` for `op`, which [`check`](super::check::check) accepted with `checked`:
/// `data` goes to `aio_data`, `resfd` (the context's eventfd) to `aio_resfd` unless the
/// op names its own. A vectored request's `iovec`s are written to `iovecs` (cleared
/// first), which `aio_buf` then points to: the caller keeps them where the kernel can
/// read them during `io_submit`.
#[inline]
pub(crate) fn encode<B: IoBuf>(
    op: &mut Op<'_, B>,
    checked: &Checked,
    data: u64,
    resfd: Option<u32>,
    iovecs: &mut Vec<Iovec>,
) -> iocb {
    let mut cb = iocb::default();
    encode_into(op, checked, data, resfd, iovecs, &mut cb);
    cb
}

/// [`encode`], written to `out` (every field): each field is computed first and the
/// `iocb` stored in one go where the kernel reads it, not built aside and copied.
// Always: the submission paths' hottest step, with `prepare`.
#[inline(always)]
pub(crate) fn encode_into<B: IoBuf>(
    op: &mut Op<'_, B>,
    checked: &Checked,
    data: u64,
    resfd: Option<u32>,
    iovecs: &mut Vec<Iovec>,
    out: &mut iocb,
) {
    let (prio_flag, reqprio) = match op.ioprio {
        Some(prio) => (IocbFlags::IOPRIO.bits(), prio.value() as i16),
        None => (0, 0),
    };
    let (resfd_flag, resfd) = match op.notify.as_ref().map(|t| t.raw() as u32).or(resfd) {
        Some(fd) => (IocbFlags::RESFD.bits(), fd),
        None => (0, 0),
    };
    let addr_of = op.addr_of;
    let (buf, nbytes) = match &mut op.bufs {
        Bufs::None => (u64::from(op.poll_events), 0),
        Bufs::One(b) => {
            let (start, end) = checked.window;
            (
                addr_of(b).wrapping_add(start) as usize as u64,
                (end - start) as u64,
            )
        }
        Bufs::Many(bs) => {
            iovecs.clear();
            iovecs.extend(bs.iter_mut().map(|b| Iovec {
                base: addr_of(b),
                len: b.io_len(),
            }));
            (iovecs.as_ptr() as usize as u64, iovecs.len() as u64)
        }
    };
    *out = iocb {
        aio_data: data,
        aio_key: 0,
        aio_rw_flags: op.rw_flags.bits() as __kernel_rwf_t,
        aio_lio_opcode: op.opcode,
        aio_reqprio: reqprio,
        aio_fildes: op.fd.raw() as u32,
        aio_buf: buf,
        aio_nbytes: nbytes,
        aio_offset: op.offset as i64,
        aio_reserved2: 0,
        aio_flags: prio_flag | resfd_flag,
        aio_resfd: resfd,
    };
}

impl<B: IoBuf> Op<'_, B> {
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
    /// let file = std::fs::File::open("README.md")?;
    /// let buf = vec![1u8; 100];
    /// let addr = buf.as_ptr() as u64;
    /// let mut op = Op::write(&file, buf, 4096).rw_flags(RwfFlags::DSYNC).range(10..30);
    /// let cb = op.to_iocb()?;
    /// assert_eq!(cb.aio_lio_opcode, IOCB_CMD_PWRITE);
    /// assert_eq!(cb.aio_fildes, file.as_raw_fd() as u32);
    /// assert_eq!((cb.aio_buf, cb.aio_nbytes, cb.aio_offset), (addr + 10, 20, 4096));
    /// assert_eq!(cb.rw_flags(), RwfFlags::DSYNC);
    ///
    /// let mut op = Op::write(&file, vec![0u8; 1], u64::MAX);
    /// assert!(matches!(op.to_iocb(), Err(rawaio::InvalidOp::OffsetTooLarge { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "iocb")]
    pub fn to_iocb(&mut self) -> Result<iocb, InvalidOp> {
        let checked = check(self, false)?;
        let mut iovecs = Vec::new();
        let mut cb = encode(self, &checked, 0, None, &mut iovecs);
        if matches!(self.bufs, Bufs::Many(_)) {
            cb.aio_buf = 0;
        }
        Ok(cb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::op::{IoClass, IoPriority};
    use crate::{AlignedBuf, RwfFlags};
    use rawaio_abi::{
        IOCB_CMD_FDSYNC, IOCB_CMD_POLL, IOCB_CMD_PREADV, IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV,
    };
    use rustix::event::PollFlags;
    use std::os::fd::BorrowedFd;

    fn fd(n: i32) -> BorrowedFd<'static> {
        // SAFETY: descriptors 0 to 2 stay open for the test process's lifetime; the
        // requests are never submitted.
        #[allow(unsafe_code)]
        unsafe {
            BorrowedFd::borrow_raw(n)
        }
    }

    #[test]
    fn a_plain_request_names_its_window_and_the_context_eventfd() {
        let buf = vec![7u8; 100];
        let addr = buf.as_ptr() as u64;
        let mut op = Op::write(fd(1), buf, 4096).range(4..).user_data(99);
        let checked = check(&mut op, true).unwrap();
        let mut iovecs = Vec::new();
        let cb = encode(&mut op, &checked, 0xabc, Some(5), &mut iovecs);
        assert_eq!(cb.aio_lio_opcode, IOCB_CMD_PWRITE);
        assert_eq!(
            (cb.aio_buf, cb.aio_nbytes, cb.aio_offset),
            (addr + 4, 96, 4096)
        );
        assert_eq!((cb.aio_flags, cb.aio_resfd, cb.aio_fildes), (1, 5, 1));
        assert_eq!(cb.aio_data, 0xabc);
        assert!(iovecs.is_empty());
    }

    #[test]
    fn vectored_requests_point_at_their_iovecs() {
        let bufs = vec![
            AlignedBuf::new(512, 512).unwrap(),
            AlignedBuf::new(1024, 512).unwrap(),
        ];
        let addrs: Vec<usize> = bufs.iter().map(|b| b.as_ptr() as usize).collect();
        let mut op = Op::readv(fd(0), bufs, 0).notify(fd(2));
        let checked = check(&mut op, false).unwrap();
        let mut iovecs = vec![
            Iovec {
                base: std::ptr::null_mut(),
                len: 9
            };
            3
        ];
        let cb = encode(&mut op, &checked, 1, None, &mut iovecs);
        assert_eq!(cb.aio_lio_opcode, IOCB_CMD_PREADV);
        assert_eq!((cb.aio_nbytes, cb.aio_resfd), (2, 2));
        assert_eq!(cb.aio_buf, iovecs.as_ptr() as u64);
        assert_eq!(iovecs.len(), 2, "cleared first");
        assert_eq!((iovecs[0].base as usize, iovecs[0].len), (addrs[0], 512));
        assert_eq!((iovecs[1].base as usize, iovecs[1].len), (addrs[1], 1024));
    }
    #[test]
    fn to_iocb_encodes_every_field_and_keeps_the_buffers() {
        let bufs = vec![vec![1u8; 3], vec![2u8; 5]];
        let mut op = Op::writev(fd(0), bufs, 64)
            .priority(IoPriority::new(IoClass::Idle, 3).unwrap())
            .notify(fd(0));
        let cb = op.to_iocb().unwrap();
        assert_eq!(cb.aio_lio_opcode, IOCB_CMD_PWRITEV);
        assert_eq!((cb.aio_buf, cb.aio_nbytes, cb.aio_offset), (0, 2, 64));
        assert_eq!((cb.aio_flags, cb.aio_resfd), (3, 0));
        assert_eq!(cb.aio_reqprio as u16, (3 << 13) | 3);
        assert_eq!(op.into_bufs(), vec![vec![1u8; 3], vec![2u8; 5]]);

        let mut op = Op::<Vec<u8>>::poll(fd(0), PollFlags::IN | PollFlags::OUT);
        let cb = op.to_iocb().unwrap();
        assert_eq!(
            (cb.aio_lio_opcode, cb.aio_buf, cb.aio_nbytes),
            (IOCB_CMD_POLL, 5, 0)
        );

        let mut op = Op::<Vec<u8>>::fdsync(fd(0)).rw_flags(RwfFlags::SYNC);
        assert_eq!(op.to_iocb(), Err(InvalidOp::FlagsNotAllowed));
        assert_eq!(
            op.rw_flags,
            RwfFlags::SYNC,
            "a refused op comes back as it was"
        );
        assert_eq!(op.opcode(), IOCB_CMD_FDSYNC);
    }
}
