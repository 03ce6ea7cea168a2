//! `struct iocb`, one request.

use crate::{IocbFlags, RwfFlags};

/// The kernel's `__kernel_rwf_t`: an `int` holding `RWF_*` bits.
pub type __kernel_rwf_t = i32;

/// One I/O request, as `io_submit` reads it.
///
/// 64 bytes on every ABI. `aio_key` and `aio_rw_flags` share the second 8 bytes, key first
/// on little-endian targets and `aio_rw_flags` first on big-endian ones (the header's
/// `PADDED` layout), so that both stay at the same place relative to a 64-bit word.
///
/// The fields are public and spelled as in the header; the setters below store
/// addresses zero-extended and flags in the right field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct iocb {
    /// Returned unchanged in [`io_event::data`](crate::io_event::data).
    pub aio_data: u64,
    /// Set by the kernel to the request's key (`KIOCB_KEY`, 0); read back by `io_cancel`.
    #[cfg(target_endian = "little")]
    pub aio_key: u32,
    /// `RWF_*` flags (see [`RwfFlags`]).
    #[cfg(target_endian = "little")]
    pub aio_rw_flags: __kernel_rwf_t,
    /// `RWF_*` flags (see [`RwfFlags`]).
    #[cfg(target_endian = "big")]
    pub aio_rw_flags: __kernel_rwf_t,
    /// Set by the kernel to the request's key (`KIOCB_KEY`, 0); read back by `io_cancel`.
    #[cfg(target_endian = "big")]
    pub aio_key: u32,
    /// One of the `IOCB_CMD_*` opcodes.
    pub aio_lio_opcode: u16,
    /// I/O priority, used when `aio_flags` has `IOCB_FLAG_IOPRIO`.
    pub aio_reqprio: i16,
    /// The file descriptor.
    pub aio_fildes: u32,
    /// The buffer's address (the `iovec` array's for vectored opcodes; the event mask
    /// for `IOCB_CMD_POLL`).
    pub aio_buf: u64,
    /// The buffer's length in bytes (the number of `iovec`s for vectored opcodes).
    pub aio_nbytes: u64,
    /// The file offset; negative offsets are rejected with `EINVAL`.
    pub aio_offset: i64,
    /// Reserved: must be 0, else `EINVAL`.
    pub aio_reserved2: u64,
    /// `IOCB_FLAG_*` bits (see [`IocbFlags`]).
    pub aio_flags: u32,
    /// The eventfd to signal when `aio_flags` has `IOCB_FLAG_RESFD`.
    pub aio_resfd: u32,
}

/// Widens an address into a 64-bit ABI field: zero-extended, never sign-extended.
#[inline]
pub(crate) const fn addr_to_u64(addr: usize) -> u64 {
    addr as u64
}

/// Narrows a 64-bit ABI field back to an address, if it fits this target.
#[inline]
pub(crate) const fn u64_to_addr(value: u64) -> Option<usize> {
    if value > usize::MAX as u64 {
        None
    } else {
        Some(value as usize)
    }
}

impl iocb {
    /// Stores a buffer's address (zero-extended) and its length.
    #[inline]
    pub fn set_buf(&mut self, buf: *const u8, len: usize) {
        self.aio_buf = addr_to_u64(buf as usize);
        self.aio_nbytes = len as u64;
    }

    /// Stores the address of an `iovec` array and its number of elements, for
    /// `IOCB_CMD_PREADV` and `IOCB_CMD_PWRITEV`.
    #[inline]
    pub fn set_iovecs<T>(&mut self, iovecs: *const T, count: usize) {
        self.aio_buf = addr_to_u64(iovecs as usize);
        self.aio_nbytes = count as u64;
    }

    /// The address in `aio_buf`, if it fits this target's address width.
    #[inline]
    pub const fn buf_addr(&self) -> Option<usize> {
        u64_to_addr(self.aio_buf)
    }

    /// Stores a pointer-sized value in `aio_data`, zero-extended.
    #[inline]
    pub fn set_data_addr(&mut self, addr: usize) {
        self.aio_data = addr_to_u64(addr);
    }

    /// The `RWF_*` flags, keeping only the bits [`RwfFlags`] knows.
    #[inline]
    pub const fn rw_flags(&self) -> RwfFlags {
        RwfFlags::from_bits_truncate(self.aio_rw_flags as u32)
    }

    /// Stores `RWF_*` flags in `aio_rw_flags` (never in `aio_flags`).
    #[inline]
    pub fn set_rw_flags(&mut self, flags: RwfFlags) {
        self.aio_rw_flags = flags.bits() as __kernel_rwf_t;
    }

    /// The `IOCB_FLAG_*` bits, keeping only the bits [`IocbFlags`] knows.
    #[inline]
    pub const fn flags(&self) -> IocbFlags {
        IocbFlags::from_bits_truncate(self.aio_flags)
    }

    /// Asks the kernel to add 1 to the eventfd `fd` when this request completes
    /// (`IOCB_FLAG_RESFD`).
    #[inline]
    pub fn set_resfd(&mut self, fd: u32) {
        self.aio_flags |= IocbFlags::RESFD.bits();
        self.aio_resfd = fd;
    }

    /// Gives the request an I/O priority (`IOCB_FLAG_IOPRIO`), a value built with
    /// [`ioprio_prio_value`](crate::ioprio_prio_value).
    #[inline]
    pub fn set_ioprio(&mut self, ioprio: u16) {
        self.aio_flags |= IocbFlags::IOPRIO.bits();
        self.aio_reqprio = ioprio as i16;
    }

    /// The bytes of this iocb exactly as the kernel reads them from memory.
    ///
    /// ```
    /// let mut cb = rawaio_abi::iocb::default();
    /// cb.aio_fildes = 7;
    /// let bytes = cb.to_bytes();
    /// assert_eq!(&bytes[20..24], &7u32.to_ne_bytes());
    /// assert_eq!(rawaio_abi::iocb::from_bytes(&bytes), cb);
    /// ```
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &self.aio_data.to_ne_bytes());
        put(KEY_OFFSET, &self.aio_key.to_ne_bytes());
        put(RW_FLAGS_OFFSET, &self.aio_rw_flags.to_ne_bytes());
        put(16, &self.aio_lio_opcode.to_ne_bytes());
        put(18, &self.aio_reqprio.to_ne_bytes());
        put(20, &self.aio_fildes.to_ne_bytes());
        put(24, &self.aio_buf.to_ne_bytes());
        put(32, &self.aio_nbytes.to_ne_bytes());
        put(40, &self.aio_offset.to_ne_bytes());
        put(48, &self.aio_reserved2.to_ne_bytes());
        put(56, &self.aio_flags.to_ne_bytes());
        put(60, &self.aio_resfd.to_ne_bytes());
        out
    }

    /// Reads an iocb from the bytes the kernel would see; the inverse of
    /// [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        fn at<const N: usize>(bytes: &[u8; 64], offset: usize) -> [u8; N] {
            let mut out = [0u8; N];
            out.copy_from_slice(&bytes[offset..offset + N]);
            out
        }
        Self {
            aio_data: u64::from_ne_bytes(at(bytes, 0)),
            aio_key: u32::from_ne_bytes(at(bytes, KEY_OFFSET)),
            aio_rw_flags: i32::from_ne_bytes(at(bytes, RW_FLAGS_OFFSET)),
            aio_lio_opcode: u16::from_ne_bytes(at(bytes, 16)),
            aio_reqprio: i16::from_ne_bytes(at(bytes, 18)),
            aio_fildes: u32::from_ne_bytes(at(bytes, 20)),
            aio_buf: u64::from_ne_bytes(at(bytes, 24)),
            aio_nbytes: u64::from_ne_bytes(at(bytes, 32)),
            aio_offset: i64::from_ne_bytes(at(bytes, 40)),
            aio_reserved2: u64::from_ne_bytes(at(bytes, 48)),
            aio_flags: u32::from_ne_bytes(at(bytes, 56)),
            aio_resfd: u32::from_ne_bytes(at(bytes, 60)),
        }
    }
}

/// Offset of `aio_key` in [`iocb`]: 8 on little-endian targets, 12 on big-endian ones.
pub const KEY_OFFSET: usize = if cfg!(target_endian = "little") {
    8
} else {
    12
};
/// Offset of `aio_rw_flags` in [`iocb`]: 12 on little-endian targets, 8 on big-endian ones.
pub const RW_FLAGS_OFFSET: usize = if cfg!(target_endian = "little") {
    12
} else {
    8
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_zero_extended() {
        assert_eq!(addr_to_u64(usize::MAX), usize::MAX as u64);
        if usize::BITS == 32 {
            assert_eq!(addr_to_u64(0x8000_0000), 0x8000_0000);
            assert_eq!(u64_to_addr(0x1_0000_0000), None);
        }
        assert_eq!(u64_to_addr(0xffff), Some(0xffff));
    }

    #[test]
    fn setters_use_the_right_fields() {
        let mut cb = iocb::default();
        cb.set_rw_flags(RwfFlags::NOWAIT | RwfFlags::DSYNC);
        assert_eq!(cb.aio_rw_flags, 0xa);
        assert_eq!(cb.aio_flags, 0, "RWF flags must never land in aio_flags");
        cb.set_resfd(9);
        cb.set_ioprio(crate::ioprio_prio_value(crate::IOPRIO_CLASS_IDLE, 7));
        assert_eq!(cb.flags(), IocbFlags::RESFD | IocbFlags::IOPRIO);
        assert_eq!(cb.aio_resfd, 9);
        assert_eq!(cb.aio_reqprio as u16, (3 << 13) | 7);
        let bytes = cb.to_bytes();
        assert_eq!(
            &bytes[RW_FLAGS_OFFSET..RW_FLAGS_OFFSET + 4],
            &0xau32.to_ne_bytes()
        );
        assert_eq!(&bytes[KEY_OFFSET..KEY_OFFSET + 4], &[0; 4]);
    }
}
