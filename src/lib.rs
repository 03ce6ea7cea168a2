//! Linux native asynchronous I/O in pure Rust: `io_setup`, `io_submit`, `io_getevents`,
//! `io_pgetevents`, `io_cancel` and `io_destroy`, issued straight to the kernel through
//! per-architecture inline assembly, with neither libaio nor libc.
//!
//! - [`Context`] and [`Op`]: the safe API. The context owns every request's buffers from
//!   submission until its completion is reaped, reaps from the kernel's ring in user
//!   space, and is `Send + Sync`. A request borrows (or holds) the file it names until it
//!   is submitted, so it can never reach another file that reused the number.
//! - [`FixedContext`]: requests prepared once, in slots that keep their `iocb`, buffers and
//!   file, and submitted many times with only the offset, length or flags changed: no
//!   lock, no allocation and nothing built per I/O, for loops that reuse their buffers.
//! - [`Context::scope`]: requests on memory the program does not own as a `'static`
//!   value (a stack buffer, part of a mapping, guest memory), in a scope that does not
//!   return before they have all completed.
//! - [`Context::read_exact_at`], [`Context::write_all_at`], [`Context::submit_and_flush`]:
//!   whole transfers and a flush that covers a batch.
//! - [`AsyncContext`]: the same requests as futures, on tokio (feature `tokio`), async-io
//!   (feature `async-io`) or any runtime whose reactor can wait for a file descriptor
//!   ([`reactor::Reactor`]). Requests that would block `io_submit` never block the
//!   executor ([`AsyncPolicy`]); [`AsyncContext::reserve`] waits for room;
//!   [`AsyncContext::readiness`] and [`reactor::Preemption`] are reactor building blocks.
//! - [`direct`], [`eventfd`], [`probe`]: `O_DIRECT` alignment, completion notification,
//!   and what the running kernel supports.
//! - [`sys`]: the raw system calls, `unsafe`, returning `Result<_, Errno>`.
//! - [`libaio`]: libaio's vocabulary (`io_prep_pread`, `io_queue_run`, ...) over the raw
//!   layer, for porting C code.
//! - [`raw`]: a view of a context's completion ring and a `fork` marker, for code that
//!   manages contexts itself (the libaio-compatible C library in `capi/`).
//! - [`abi`]: the kernel's structures and constants (the `rawaio-abi` crate).
//!
//! # Example
//!
//! ```
//! use rawaio::{Context, Op};
//! use std::time::Duration;
//!
//! let file = std::fs::File::open("README.md")?;
//! let ctx = Context::new(8)?;
//! let token = ctx.submit(Op::read(&file, vec![0u8; 8], 0))?;
//! let mut done = Vec::new();
//! ctx.reap(1, 8, Some(Duration::from_secs(5)), &mut done)?;
//! let completion = done.pop().unwrap();
//! assert_eq!(completion.token(), token);
//! assert_eq!(completion.result()?, 8);
//! assert_eq!(completion.into_buf().unwrap(), b"# rawaio");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The raw layer
//!
//! Read the first bytes of a file with one request:
//!
//! ```
//! use rawaio::abi::{aio_context_t, io_event, iocb, IOCB_CMD_PREAD};
//! use std::os::fd::AsRawFd;
//!
//! let file = std::fs::File::open("README.md")?;
//! let mut buf = [0u8; 8];
//! let mut ctx: aio_context_t = 0;
//! // SAFETY: `ctx` is a zeroed handle that io_setup may write.
//! unsafe { rawaio::sys::io_setup(1, &mut ctx) }?;
//!
//! let mut cb = iocb::default();
//! cb.aio_lio_opcode = IOCB_CMD_PREAD;
//! cb.aio_fildes = file.as_raw_fd() as u32;
//! cb.set_buf(buf.as_mut_ptr(), buf.len());
//! let mut list = [&mut cb as *mut iocb];
//! let mut events = [io_event::default(); 1];
//! // SAFETY: `buf` and `file` outlive the request: it is reaped (or the context
//! // destroyed) before either goes away.
//! unsafe {
//!     assert_eq!(rawaio::sys::io_submit(ctx, 1, list.as_mut_ptr())?, 1);
//!     let n = rawaio::sys::io_getevents(ctx, 1, 1, events.as_mut_ptr(), core::ptr::null())?;
//!     assert_eq!(n, 1);
//!     rawaio::sys::io_destroy(ctx)?;
//! }
//! assert_eq!(events[0].res, 8);
//! assert_eq!(&buf, b"# rawaio");
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(unsafe_code)]

pub use rawaio_abi as abi;
pub use rustix::io::Errno;

pub mod direct;
pub mod eventfd;
pub mod libaio;
pub mod probe;
pub mod raw;
pub mod reactor;
pub mod sys;
pub mod syscalls;

mod async_context;
mod async_fixed;
mod context;
mod deadline;
mod error;
mod fixed_slots;
mod fork;
mod request;
mod ring;
mod slots;

pub use async_context::{
    AsyncContext, AsyncPolicy, AsyncStats, OpFuture, Permit, Readiness, Reserve, RwMode,
};
pub use async_fixed::AsyncFixedContext;
pub use context::{
    Context, Exclusive, FixedContext, Flush, Incomplete, Options, Rejected, Submitted,
};
pub use direct::DioAlign;
pub use error::{Budget, Error, InvalidOp};
pub use eventfd::EventFd;
pub use fixed_slots::{FixedCompletion, FixedSlot};
pub use rawaio_abi::{RwfFlags, kernel_sigset_t as SigSet};
pub use request::buf::{AlignedBuf, IoBuf, IoBufMut, Slice};
pub use request::completion::{Completion, Token};
pub use request::fd::{IntoTarget, Target};
pub use request::op::{IOV_MAX, IoClass, IoPriority, Op};
pub use rustix::event::PollFlags;

#[doc = include_str!("../docs/guide.md")]
#[cfg(doctest)]
pub struct GuideDoctests;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
