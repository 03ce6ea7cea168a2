//! What a reaped request gives back.

use super::op::Bufs;
use rustix::io::Errno;
use std::fmt;

/// Identifies one submitted request until its completion is reaped.
///
/// Tokens are made by the [`Context`](crate::Context): no two requests in flight on one
/// context ever share a token, a token is never reused for a later request in the same
/// slot (a per-slot generation tells them apart), and a token of one context means
/// nothing to another (each token names its context: the calls that take tokens refuse
/// another context's with [`InvalidOp::ForeignToken`](crate::InvalidOp::ForeignToken)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Token {
    pub(crate) index: u32,
    pub(crate) generation: u32,
    pub(crate) context: u64,
}

impl Token {
    /// The value the kernel carries in `aio_data`.
    #[inline]
    pub(crate) fn to_data(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The token in an event's `data`, on the context numbered `context`.
    #[inline]
    pub(crate) fn from_data(data: u64, context: u64) -> Self {
        Self {
            context,
            index: data as u32,
            generation: (data >> 32) as u32,
        }
    }
}

/// A finished request: its result and the buffers it owned.
pub struct Completion<B> {
    pub(crate) token: Token,
    pub(crate) user_data: u64,
    pub(crate) opcode: u16,
    pub(crate) requested: u64,
    pub(crate) res: i64,
    pub(crate) res2: i64,
    pub(crate) bufs: Bufs<B>,
}

impl<B> Completion<B> {
    /// The request's token, as [`Context::submit`](crate::Context::submit) returned it.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The value given to [`Op::user_data`](crate::Op::user_data).
    #[inline]
    pub fn user_data(&self) -> u64 {
        self.user_data
    }

    /// The request's `IOCB_CMD_*` opcode.
    pub fn opcode(&self) -> u16 {
        self.opcode
    }

    /// The kernel's result: the bytes transferred (for a poll, the ready mask, which
    /// may hold `POLLERR` and `POLLHUP` even when they were not asked for; for a sync, 0),
    /// or the error.
    ///
    /// # Errors
    /// The errno of a failed request, such as `EIO`, `ENOSPC`, or `EINVAL` for
    /// misaligned direct I/O.
    #[inline]
    pub fn result(&self) -> Result<u64, Errno> {
        rawaio_abi::decode_res(self.res).map_err(|e| Errno::from_raw_os_error(e.into()))
    }

    /// The kernel's `res`, a signed 64-bit value, unchanged.
    #[inline]
    pub fn raw_result(&self) -> i64 {
        self.res
    }

    /// The kernel's secondary result, `res2`.
    pub fn res2(&self) -> i64 {
        self.res2
    }

    /// The bytes the request asked to transfer (the sum over a vectored request's
    /// buffers).
    pub fn requested_len(&self) -> u64 {
        self.requested
    }

    /// Whether a read or write transferred fewer bytes than it asked for (end of file,
    /// `ENOSPC` after a partial write, a signal on a pipe, ...).
    pub fn is_short(&self) -> bool {
        matches!(self.result(), Ok(n) if n < self.requested)
    }

    /// The buffer of a plain read or write (the first, for a vectored request).
    pub fn buf(&self) -> Option<&B> {
        match &self.bufs {
            Bufs::None => None,
            Bufs::One(b) => Some(b),
            Bufs::Many(bs) => bs.first(),
        }
    }

    /// The result of a read or write that must have transferred everything it asked
    /// for: the byte count, or an error for a failed or short transfer.
    ///
    /// # Errors
    /// The request's errno (as [`result`](Self::result)), or, for a short transfer, an
    /// error of kind [`UnexpectedEof`](std::io::ErrorKind::UnexpectedEof) (a read that
    /// met the end of the file) or [`WriteZero`](std::io::ErrorKind::WriteZero) (a write)
    /// naming both lengths. [`Context::read_exact_at`](crate::Context::read_exact_at) and
    /// [`write_all_at`](crate::Context::write_all_at) resubmit the rest instead.
    pub fn full(&self) -> std::io::Result<u64> {
        let n = self.result()?;
        if n < self.requested && self.bufs.count() > 0 {
            let kind = if matches!(
                self.opcode,
                rawaio_abi::IOCB_CMD_PREAD | rawaio_abi::IOCB_CMD_PREADV
            ) {
                std::io::ErrorKind::UnexpectedEof
            } else {
                std::io::ErrorKind::WriteZero
            };
            return Err(std::io::Error::new(
                kind,
                format!("short transfer: {n} of {} bytes", self.requested),
            ));
        }
        Ok(n)
    }

    /// Takes back the buffer of a plain read or write.
    #[inline]
    pub fn into_buf(self) -> Option<B> {
        match self.bufs {
            Bufs::None => None,
            Bufs::One(b) => Some(b),
            Bufs::Many(bs) => bs.into_iter().next(),
        }
    }

    /// Takes back every buffer the request owned.
    pub fn into_bufs(self) -> Vec<B> {
        self.bufs.into_vec()
    }
}

impl<B> fmt::Debug for Completion<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("token", &self.token)
            .field("user_data", &self.user_data)
            .field("opcode", &self.opcode)
            .field("res", &self.res)
            .field("requested", &self.requested)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(res: i64, requested: u64, bufs: Bufs<Vec<u8>>) -> Completion<Vec<u8>> {
        Completion {
            token: Token::from_data(0x0000_0007_0000_0003, 9),
            user_data: 42,
            opcode: 1,
            requested,
            res,
            res2: -1,
            bufs,
        }
    }

    #[test]
    fn token_data_round_trips() {
        for (index, generation) in [(0, 0), (3, 7), (u32::MAX, 1), (1, u32::MAX)] {
            let token = Token {
                index,
                generation,
                context: 5,
            };
            assert_eq!(Token::from_data(token.to_data(), 5), token);
        }
        let t = Token::from_data(0x0000_0007_0000_0003, 9);
        assert_eq!((t.index, t.generation, t.context), (3, 7, 9));
        assert_ne!(
            t,
            Token::from_data(t.to_data(), 10),
            "tokens name their context"
        );
    }

    #[test]
    fn results_and_short_transfers() {
        let c = completion(100, 100, Bufs::One(vec![1; 100]));
        assert_eq!(
            (c.result(), c.is_short(), c.raw_result(), c.res2()),
            (Ok(100), false, 100, -1)
        );
        assert_eq!((c.user_data(), c.opcode(), c.requested_len()), (42, 1, 100));
        assert_eq!(c.token().to_data(), 0x0000_0007_0000_0003);
        let c = completion(10, 100, Bufs::One(vec![1; 100]));
        assert!(c.is_short());
        let c = completion(-28, 100, Bufs::One(vec![1; 100]));
        assert_eq!(c.result(), Err(Errno::NOSPC));
        assert!(!c.is_short(), "an error is not a short transfer");
        // Below the errno range: a value, not an error.
        let c = completion(-4096, 0, Bufs::None);
        assert_eq!(c.result(), Ok((-4096i64) as u64));
        assert!(format!("{c:?}").contains("res: -4096"));
    }

    #[test]
    fn full_transfers_and_short_ones() {
        let c = completion(100, 100, Bufs::One(vec![1; 100]));
        assert_eq!(c.full().unwrap(), 100);
        let mut c = completion(10, 100, Bufs::One(vec![1; 100]));
        c.opcode = rawaio_abi::IOCB_CMD_PREAD;
        let e = c.full().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(e.to_string(), "short transfer: 10 of 100 bytes");
        c.opcode = rawaio_abi::IOCB_CMD_PWRITE;
        assert_eq!(c.full().unwrap_err().kind(), std::io::ErrorKind::WriteZero);
        let c = completion(-5, 100, Bufs::One(vec![1; 100]));
        assert_eq!(c.full().unwrap_err().raw_os_error(), Some(5));
        let c = completion(1, 0, Bufs::None);
        assert_eq!(c.full().unwrap(), 1, "a poll's mask is not a length");
    }

    #[test]
    fn buffers_come_back_whole() {
        let c = completion(0, 0, Bufs::None);
        assert!(c.buf().is_none());
        assert!(c.into_bufs().is_empty());
        let c = completion(3, 3, Bufs::One(vec![7; 3]));
        assert_eq!(c.buf(), Some(&vec![7; 3]));
        assert_eq!(c.into_buf(), Some(vec![7; 3]));
        let c = completion(3, 3, Bufs::Many(vec![vec![1], vec![2, 2]]));
        assert_eq!(c.buf(), Some(&vec![1]));
        assert_eq!(c.into_bufs(), vec![vec![1], vec![2, 2]]);
        let c = completion(3, 3, Bufs::Many(vec![vec![1], vec![2, 2]]));
        assert_eq!(c.into_buf(), Some(vec![1]));
    }
}
