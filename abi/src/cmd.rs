//! The `IOCB_CMD_*` opcodes stored in [`iocb::aio_lio_opcode`](crate::iocb::aio_lio_opcode).

/// Positioned read into `aio_buf` (`pread`).
pub const IOCB_CMD_PREAD: u16 = 0;
/// Positioned write from `aio_buf` (`pwrite`).
pub const IOCB_CMD_PWRITE: u16 = 1;
/// `fsync` the file; `aio_buf`, `aio_nbytes`, `aio_offset` and `aio_rw_flags` must be 0.
pub const IOCB_CMD_FSYNC: u16 = 2;
/// `fdatasync` the file; the same fields must be 0 as for [`IOCB_CMD_FSYNC`].
pub const IOCB_CMD_FDSYNC: u16 = 3;
/// Historical opcode (`IOCB_CMD_PREADX`, commented out in the header): **the kernel
/// rejects it with `EINVAL`**.
pub const IOCB_CMD_PREADX: u16 = 4;
/// Wait for poll events on the file; `aio_buf` holds the event mask (Linux 4.18).
///
/// The only opcode that `io_cancel` can cancel on ordinary files.
pub const IOCB_CMD_POLL: u16 = 5;
/// No operation: defined in the header but **rejected by the kernel with `EINVAL`**.
pub const IOCB_CMD_NOOP: u16 = 6;
/// Positioned vectored read: `aio_buf` points to an array of `aio_nbytes` `iovec`s.
pub const IOCB_CMD_PREADV: u16 = 7;
/// Positioned vectored write: `aio_buf` points to an array of `aio_nbytes` `iovec`s.
pub const IOCB_CMD_PWRITEV: u16 = 8;

/// Whether the running kernel's `io_submit` can accept `opcode` at all (Linux 4.18 and
/// later). `IOCB_CMD_PREADX`, `IOCB_CMD_NOOP` and every value from 9 on are rejected with
/// `EINVAL`.
///
/// ```
/// assert!(rawaio_abi::opcode_is_accepted(rawaio_abi::IOCB_CMD_PREADV));
/// assert!(!rawaio_abi::opcode_is_accepted(rawaio_abi::IOCB_CMD_NOOP));
/// ```
pub const fn opcode_is_accepted(opcode: u16) -> bool {
    matches!(
        opcode,
        IOCB_CMD_PREAD
            | IOCB_CMD_PWRITE
            | IOCB_CMD_FSYNC
            | IOCB_CMD_FDSYNC
            | IOCB_CMD_POLL
            | IOCB_CMD_PREADV
            | IOCB_CMD_PWRITEV
    )
}
