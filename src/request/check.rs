//! What rawaio checks before a request reaches the kernel: one function, pure, used by
//! every submission path and by [`Op::to_iocb`].

use super::buf::{IoBuf, resolve_range};
use super::op::{Bufs, IOV_MAX, Op};
use crate::error::InvalidOp;

/// What the checks established, for the encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Checked {
    /// For a plain read or write, the part of the buffer to transfer.
    pub(crate) window: (usize, usize),
    /// The total length the request transfers.
    pub(crate) len: u64,
}

/// The offset rule: the request's last byte, `offset + len - 1`, must lie below the
/// kernel's signed 64-bit file offset limit (`offset + len <= i64::MAX`).
#[inline]
pub(crate) fn check_offset(offset: u64, len: u64) -> Result<(), InvalidOp> {
    match offset.checked_add(len) {
        Some(end) if end <= i64::MAX as u64 => Ok(()),
        _ => Err(InvalidOp::OffsetTooLarge { offset, len }),
    }
}

/// Checks `op`: what rawaio can know before submission. `context_notifies` says whether
/// the context signals an eventfd of its own on every request.
// Always: every submission runs it, and a separate call shows on the qd-1 path.
#[inline(always)]
pub(crate) fn check<B: IoBuf>(
    op: &mut Op<'_, B>,
    context_notifies: bool,
) -> Result<Checked, InvalidOp> {
    let window = match (&op.bufs, op.range) {
        (Bufs::One(b), Some((start, end))) => {
            let end = end.unwrap_or(b.io_len());
            resolve_range(&(start..end), b.io_len())?
        }
        (Bufs::One(b), None) => (0, b.io_len()),
        (_, Some(_)) => return Err(InvalidOp::RangeNotAllowed),
        (_, None) => (0, 0),
    };
    let len = match &op.bufs {
        Bufs::None => 0,
        Bufs::One(_) => (window.1 - window.0) as u64,
        Bufs::Many(bs) => {
            if bs.is_empty() || bs.len() > IOV_MAX {
                return Err(InvalidOp::BufferCount { count: bs.len() });
            }
            bs.iter().map(|b| b.io_len() as u64).sum()
        }
    };
    if len > isize::MAX as u64 {
        return Err(InvalidOp::LengthTooLarge { len });
    }
    check_offset(op.offset, len)?;
    if !op.rw_flags.is_empty() && matches!(op.bufs, Bufs::None) {
        return Err(InvalidOp::FlagsNotAllowed);
    }
    if context_notifies && op.notify.is_some() {
        return Err(InvalidOp::NotifyConflict);
    }
    if let Some(align) = op.align {
        let addr_of = op.addr_of;
        let offset = op.offset;
        match &mut op.bufs {
            Bufs::None => {}
            Bufs::One(b) => {
                let addr = addr_of(b) as usize + window.0;
                align.check(addr, window.1 - window.0, offset)?;
            }
            Bufs::Many(bs) => {
                for b in bs.iter_mut() {
                    align.check(addr_of(b) as usize, b.io_len(), offset)?;
                }
            }
        }
    }
    Ok(Checked { window, len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::direct::MisalignedPart;
    use crate::{AlignedBuf, RwfFlags};
    use rustix::event::PollFlags;
    use std::os::fd::BorrowedFd;

    fn fd() -> BorrowedFd<'static> {
        crate::request::stdin_fd()
    }

    fn part(r: Result<Checked, InvalidOp>) -> Option<MisalignedPart> {
        match r {
            Err(InvalidOp::Misaligned(m)) => Some(m.part()),
            _ => None,
        }
    }

    #[test]
    fn refuses_what_cannot_be_meant() {
        // The last byte must lie below i64::MAX: offset + len <= i64::MAX.
        let mut op = Op::read(fd(), vec![0u8; 16], i64::MAX as u64 - 16);
        assert!(check(&mut op, false).is_ok());
        let mut op = Op::read(fd(), vec![0u8; 16], i64::MAX as u64 - 15);
        assert!(matches!(
            check(&mut op, false),
            Err(InvalidOp::OffsetTooLarge { .. })
        ));
        let mut op = Op::write(fd(), vec![0u8; 1], u64::MAX);
        assert!(matches!(
            check(&mut op, false),
            Err(InvalidOp::OffsetTooLarge { .. })
        ));
        let mut op = Op::<Vec<u8>>::readv(fd(), Vec::new(), 0);
        assert_eq!(
            check(&mut op, false),
            Err(InvalidOp::BufferCount { count: 0 })
        );
        let mut op = Op::writev(fd(), vec![vec![0u8; 1]; IOV_MAX + 1], 0);
        assert_eq!(
            check(&mut op, false),
            Err(InvalidOp::BufferCount { count: IOV_MAX + 1 })
        );
        let mut op = Op::<Vec<u8>>::fsync(fd()).rw_flags(RwfFlags::DSYNC);
        assert_eq!(check(&mut op, false), Err(InvalidOp::FlagsNotAllowed));
        let mut op = Op::<Vec<u8>>::poll(fd(), PollFlags::IN);
        assert_eq!(check(&mut op, false).map(|c| c.len), Ok(0));
    }

    #[test]
    fn a_second_eventfd_is_refused_not_dropped() {
        let mut op = Op::write(fd(), vec![0u8; 1], 0).notify(fd());
        assert!(check(&mut op, false).is_ok());
        assert_eq!(check(&mut op, true), Err(InvalidOp::NotifyConflict));
        let mut op = Op::write(fd(), vec![0u8; 1], 0);
        assert!(check(&mut op, true).is_ok());
    }

    #[test]
    fn ranges_must_lie_inside_plain_buffers() {
        let mut op = Op::read(fd(), vec![0u8; 4], 0).limit(5);
        let err = check(&mut op, false).unwrap_err();
        assert_eq!(
            err,
            InvalidOp::Range {
                start: 0,
                end: 5,
                len: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "range 0..5 is outside the buffer's 4 bytes"
        );
        let mut op = Op::write(fd(), vec![0u8; 100], 0).range(10..20);
        assert_eq!(
            check(&mut op, false),
            Ok(Checked {
                window: (10, 20),
                len: 10
            })
        );
        #[allow(clippy::reversed_empty_ranges)]
        let mut op = Op::write(fd(), vec![0u8; 100], 0).range(20..10);
        assert!(matches!(
            check(&mut op, false),
            Err(InvalidOp::Range { .. })
        ));
        let mut op = Op::writev(fd(), vec![vec![0u8; 100]], 0).limit(10);
        assert_eq!(check(&mut op, false), Err(InvalidOp::RangeNotAllowed));
        assert_eq!(
            resolve_range(&(..=usize::MAX), 3).unwrap_err().to_string(),
            format!("range 0..{} is outside the buffer's 3 bytes", usize::MAX)
        );
    }

    #[test]
    fn alignment_is_one_rule_for_every_buffer() {
        let buf = AlignedBuf::new(4096, 4096).unwrap();
        let mut op = Op::read(fd(), buf, 512).check_alignment(4096, 512);
        assert!(check(&mut op, false).is_ok());
        let mut op =
            Op::read(fd(), AlignedBuf::new(4096, 4096).unwrap(), 100).check_alignment(4096, 512);
        assert_eq!(part(check(&mut op, false)), Some(MisalignedPart::Offset));
        let mut op =
            Op::read(fd(), AlignedBuf::new(1000, 4096).unwrap(), 0).check_alignment(4096, 512);
        assert_eq!(part(check(&mut op, false)), Some(MisalignedPart::Length));
        let mut op = Op::write(fd(), AlignedBuf::new(4096, 4096).unwrap(), 0)
            .range(512..1024)
            .check_alignment(4096, 512);
        assert_eq!(
            part(check(&mut op, false)),
            Some(MisalignedPart::Address),
            "a window's start is its address"
        );
        let mut op = Op::write(fd(), AlignedBuf::new(4096, 4096).unwrap(), 0)
            .range(512..1024)
            .check_alignment(512, 512);
        assert!(check(&mut op, false).is_ok());
        let mut op = Op::writev(
            fd(),
            vec![
                AlignedBuf::new(512, 512).unwrap(),
                AlignedBuf::new(100, 512).unwrap(),
            ],
            0,
        )
        .check_alignment(512, 512);
        assert_eq!(part(check(&mut op, false)), Some(MisalignedPart::Length));
        let message = check(&mut op, false).unwrap_err().to_string();
        assert_eq!(message, "direct I/O length 100 is not a multiple of 512");
    }
}
