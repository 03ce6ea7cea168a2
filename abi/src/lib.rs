//! Hand-written mirrors of the Linux native asynchronous I/O ABI.
//!
//! This crate spells everything as `linux/aio_abi.h` does (`iocb`, `io_event`,
//! `IOCB_CMD_PREAD`, ...) so that it can be read side by side with the kernel header.
//! It has no unsafe code and no dependency on libc; every layout is asserted at compile
//! time for the target being built (see [`layout`]), and a C probe in `abi/probe/`
//! compares every figure with the system headers in this crate's tests.
//!
//! ```
//! use rawaio_abi::{iocb, IOCB_CMD_PREAD, RwfFlags};
//!
//! let buf = [0u8; 512];
//! let mut cb = iocb::default();
//! cb.aio_lio_opcode = IOCB_CMD_PREAD;
//! cb.aio_fildes = 3;
//! cb.set_buf(buf.as_ptr(), buf.len());
//! cb.set_rw_flags(RwfFlags::HIPRI);
//! assert_eq!(cb.buf_addr(), Some(buf.as_ptr() as usize));
//! assert_eq!(cb.aio_nbytes, 512);
//! assert_eq!(core::mem::size_of::<iocb>(), 64);
//! ```
//!
//! # Byte order and word size
//!
//! `aio_key` and `aio_rw_flags` trade places on big-endian targets, exactly as the
//! header's `PADDED` layout does; the choice is made with `cfg(target_endian)`.
//! Addresses are stored in the 64-bit fields zero-extended on 32-bit targets through the
//! setters on [`iocb`] and [`io_event`].
//!
//! # References
//! - `include/uapi/linux/aio_abi.h`, `include/uapi/linux/fs.h`, `include/uapi/linux/ioprio.h`
//! - `fs/aio.c` for the completion ring (`struct aio_ring`)
//! - [io_submit(2)](https://man7.org/linux/man-pages/man2/io_submit.2.html)

#![no_std]
#![forbid(unsafe_code)]
#![allow(non_camel_case_types, non_upper_case_globals)]

mod cmd;
mod event;
mod flags;
mod ioprio;
pub mod layout;
pub mod nr;
mod request;
mod ring;
mod sigset;
mod time;

pub use cmd::*;
pub use event::{decode_res, io_event};
pub use flags::*;
pub use ioprio::*;
pub use request::{__kernel_rwf_t, KEY_OFFSET, RW_FLAGS_OFFSET, iocb};
pub use ring::*;
pub use sigset::{__aio_sigset, KERNEL_SIGSET_SIZE, kernel_sigset_t};
pub use time::{__kernel_old_timespec, __kernel_timespec, old_timespec32};

/// The handle of an AIO context: the user-space address of its completion ring.
///
/// The kernel declares it `typedef __kernel_ulong_t aio_context_t;`, an `unsigned long`,
/// which is pointer-sized on every Linux ABI this crate supports.
pub type aio_context_t = usize;
