//! `struct io_event`, one completion.

/// One completion, as `io_getevents` returns it and as it sits in the completion ring.
///
/// 32 bytes on every ABI.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct io_event {
    /// The submitted iocb's `aio_data`, handed back unchanged.
    pub data: u64,
    /// The address of the submitted iocb (`struct iocb *`, widened to 64 bits).
    pub obj: u64,
    /// The result: a byte count, a poll mask, or a negative errno.
    pub res: i64,
    /// A secondary result, 0 for every current opcode.
    pub res2: i64,
}

impl io_event {
    /// The address in [`obj`](Self::obj), if it fits this target's address width.
    pub const fn obj_addr(&self) -> Option<usize> {
        if self.obj > usize::MAX as u64 {
            None
        } else {
            Some(self.obj as usize)
        }
    }

    /// The result split the kernel's way: `Ok(value)` for a non-negative `res`, or
    /// `Err(errno)` (the positive error number) for `res` in `-4095..=-1`.
    ///
    /// Anything below `-4095` is not an errno and comes back as `Ok` of its
    /// two's-complement bits, so that no value is lost.
    ///
    /// ```
    /// let mut ev = rawaio_abi::io_event::default();
    /// ev.res = -22;
    /// assert_eq!(ev.result(), Err(22));
    /// ev.res = 4096;
    /// assert_eq!(ev.result(), Ok(4096));
    /// ```
    pub const fn result(&self) -> Result<u64, u16> {
        decode_res(self.res)
    }
}

/// Splits a completion's `res` the kernel's way: `Ok(value)`, or `Err(errno)` (the
/// positive error number) for `res` in `-4095..=-1`. Values below `-4095` are not errnos
/// and come back as `Ok` of their two's-complement bits, so that no value is lost.
///
/// ```
/// assert_eq!(rawaio_abi::decode_res(-5), Err(5));
/// assert_eq!(rawaio_abi::decode_res(-4096), Ok((-4096i64) as u64));
/// ```
pub const fn decode_res(res: i64) -> Result<u64, u16> {
    if res < 0 && res >= -4095 {
        Err((-res) as u16)
    } else {
        Ok(res as u64)
    }
}
