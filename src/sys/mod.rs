//! The raw AIO system calls, issued through per-architecture inline assembly.
//!
//! These are thin `unsafe` wrappers: they pass their arguments to the kernel unchanged
//! and decode its `-errno` return into `Result<_, Errno>`. Nothing here allocates, owns
//! memory or retries. Use [`crate`]'s safe types unless you manage the memory the
//! kernel uses yourself.
//!
//! # Quirks every caller must know
//!
//! - **Partial submission.** [`io_submit`] stops at the first request it cannot accept.
//!   It returns how many it accepted if that is at least one, and only otherwise the
//!   first request's error: the error of a later request is *dropped*. Resubmit the rest
//!   to learn it.
//! - **Cancellation succeeds with an error code.** [`io_cancel`] reports success as
//!   `Err(Errno::INPROGRESS)`; the cancelled request's completion still arrives through
//!   the ring. Only `IOCB_CMD_POLL` requests (and a few drivers') can be cancelled;
//!   everything else gives `EINVAL`.
//! - **Destruction waits.** [`io_destroy`] blocks until every in-flight request has
//!   completed; the buffers must stay valid until it returns.
//! - **`io_submit` may block** on buffered (non-`O_DIRECT`) I/O, metadata lookups and
//!   some `FSYNC`s.
//!
//! # Safety
//!
//! This module issues system calls that make the kernel read and write user memory
//! asynchronously. Each function's `# Safety` section lists what the caller must
//! guarantee; the arch stubs below it only move registers.

#![allow(unsafe_code)]

#[cfg(not(any(target_os = "linux", target_os = "android")))]
compile_error!("rawaio drives Linux native AIO and builds only for Linux targets");

#[cfg(not(any(
    all(target_arch = "x86_64", target_pointer_width = "64"),
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "s390x",
    target_arch = "powerpc64",
)))]
compile_error!(
    "rawaio has no syscall stubs for this architecture: supported are x86_64, x86, \
     aarch64, arm (EABI), riscv64, loongarch64, s390x and powerpc64"
);

#[cfg_attr(target_arch = "x86_64", path = "arch/x86_64.rs")]
#[cfg_attr(target_arch = "x86", path = "arch/x86.rs")]
#[cfg_attr(target_arch = "aarch64", path = "arch/aarch64.rs")]
#[cfg_attr(target_arch = "arm", path = "arch/arm.rs")]
#[cfg_attr(target_arch = "riscv64", path = "arch/riscv64.rs")]
#[cfg_attr(target_arch = "loongarch64", path = "arch/loongarch64.rs")]
#[cfg_attr(target_arch = "s390x", path = "arch/s390x.rs")]
#[cfg_attr(target_arch = "powerpc64", path = "arch/powerpc64.rs")]
mod arch;
mod ret;

use arch::{syscall3, syscall6};
use rawaio_abi::nr::native as nr;
use rawaio_abi::{
    __aio_sigset, __kernel_old_timespec, __kernel_timespec, aio_context_t, io_event, iocb,
};
pub use rustix::io::Errno;

/// Creates an AIO context able to hold at least `nr_events` in-flight requests and
/// stores its handle in `*ctxp`.
///
/// # Errors
/// - `EINVAL`: `*ctxp` is not 0, or `nr_events` is 0 or too large (above 0x40_0000 on
///   Linux 6.18; the kernel doubles the count in 32 bits, so 0x8000_0000 to
///   0x8040_0000 wrap to a small ring and get `EAGAIN` from the budget check instead).
/// - `EAGAIN`: `nr_events` exceeds what is left of the system-wide
///   `/proc/sys/fs/aio-max-nr`.
/// - `EFAULT`: `ctxp` is not valid.
/// - `ENOMEM`, `ENOSYS`.
///
/// # Safety
/// - `ctxp` must be valid for reading and writing an [`aio_context_t`] (a bad pointer
///   gives `EFAULT`, but writing through a valid pointer to the wrong object is
///   undefined behaviour).
///
/// # Examples
/// ```
/// let mut ctx: rawaio::abi::aio_context_t = 0;
/// // SAFETY: `ctx` is a valid, zeroed context handle.
/// unsafe { rawaio::sys::io_setup(4, &mut ctx) }.unwrap();
/// // SAFETY: no request was submitted, and the context is destroyed once.
/// unsafe { rawaio::sys::io_destroy(ctx) }.unwrap();
/// ```
///
/// # References
/// - [io_setup(2)](https://man7.org/linux/man-pages/man2/io_setup.2.html)
#[inline]
pub unsafe fn io_setup(nr_events: u32, ctxp: *mut aio_context_t) -> Result<(), Errno> {
    // SAFETY: the caller vouches for `ctxp`.
    let raw = unsafe {
        syscall3(
            nr::__NR_io_setup as usize,
            nr_events as usize,
            ctxp as usize,
            0,
        )
    };
    ret::decode(raw).map(drop)
}

/// Destroys an AIO context: blocks until every request in flight on it has completed,
/// then unmaps its ring and drops the completions not yet reaped.
///
/// # Errors
/// - `EINVAL`: `ctx` is not a live context of this process (also on a second destroy).
/// - `EFAULT`.
///
/// # Safety
/// - Once this returns `Ok`, the ring at `ctx` is unmapped: nothing may read it again.
/// - Every buffer of a request in flight must stay valid until this returns.
///
/// # References
/// - [io_destroy(2)](https://man7.org/linux/man-pages/man2/io_destroy.2.html)
#[inline]
pub unsafe fn io_destroy(ctx: aio_context_t) -> Result<(), Errno> {
    // SAFETY: the caller upholds the contract above; the call passes no pointer.
    let raw = unsafe { syscall3(nr::__NR_io_destroy as usize, ctx, 0, 0) };
    ret::decode(raw).map(drop)
}

/// Submits `nr` requests, whose addresses are in the array at `iocbpp`, and returns how
/// many the kernel accepted.
///
/// The kernel copies each iocb (and a vectored request's `iovec` array) before this
/// returns; the data buffers are used until the completion is reaped.
///
/// # Errors
/// Only when the *first* request is refused (see the module's note on partial
/// submission):
/// - `EINVAL`: `ctx` is invalid, `nr < 0`, an unknown opcode, `aio_reserved2` set, a
///   negative offset, or buffer fields set on an `FSYNC`/`FDSYNC`/`POLL`.
/// - `EAGAIN`: no free slot in the context.
/// - `EBADF`: a bad descriptor, or one opened without the access the opcode needs.
/// - `EFAULT`: an unreadable iocb or `iovec`.
/// - `EOPNOTSUPP`: an `RWF_*` flag the file or kernel does not support.
///
/// # Safety
/// - `iocbpp` must point to `nr` valid iocb pointers, each to a valid, *writable*
///   [`iocb`]: the kernel stores 0 into each accepted request's `aio_key`.
/// - Every buffer an accepted request names must stay valid, and must not be otherwise
///   accessed in a way that conflicts with the kernel's access, until its completion is
///   reaped or the context is destroyed.
/// - A `RESFD` eventfd and the request's file descriptor must stay open while it may
///   be used, or be replaced only by objects the caller accepts the kernel acting on.
///
/// # References
/// - [io_submit(2)](https://man7.org/linux/man-pages/man2/io_submit.2.html)
#[doc(alias = "submit")]
#[inline]
pub unsafe fn io_submit(
    ctx: aio_context_t,
    nr: isize,
    iocbpp: *mut *mut iocb,
) -> Result<usize, Errno> {
    // SAFETY: the caller upholds the contract above.
    let raw = unsafe {
        syscall3(
            nr::__NR_io_submit as usize,
            ctx,
            nr as usize,
            iocbpp as usize,
        )
    };
    ret::decode(raw)
}

/// Tries to cancel the request whose iocb is at `iocb`.
///
/// On success the kernel returns `-EINPROGRESS`, which this function passes on as
/// `Err(Errno::INPROGRESS)`: the request is cancelled and its completion (`res` 0 for
/// `POLL`) will arrive through the ring like any other. `result` is not written by
/// current kernels.
///
/// # Errors
/// - `Errno::INPROGRESS`: **success**, see above.
/// - `EINVAL`: the request cannot be cancelled (file I/O), has completed, or `ctx` is
///   invalid.
/// - `EFAULT`: `iocb` cannot be read (the kernel reads `aio_key` first).
///
/// # Safety
/// - `iocb` must be the address the request was submitted with, or any readable
///   [`iocb`]; `result` must be valid for writing an [`io_event`] (older kernels wrote
///   it).
///
/// # References
/// - [io_cancel(2)](https://man7.org/linux/man-pages/man2/io_cancel.2.html)
#[inline]
pub unsafe fn io_cancel(
    ctx: aio_context_t,
    iocb: *mut iocb,
    result: *mut io_event,
) -> Result<(), Errno> {
    // SAFETY: the caller upholds the contract above.
    let raw = unsafe {
        syscall3(
            nr::__NR_io_cancel as usize,
            ctx,
            iocb as usize,
            result as usize,
        )
    };
    ret::decode(raw).map(drop)
}

/// Waits for at least `min_nr` and reaps at most `nr` completions into `events`,
/// returning how many it wrote.
///
/// A null `timeout` waits for ever; a zero one polls once. The kernel does not validate
/// the timeout: a negative one also waits for ever. `io_destroy` on the context from
/// another thread ends the wait with `EINVAL`. On 32-bit targets this is
/// the time32 call, whose seconds end in 2038: prefer [`io_pgetevents`] there.
///
/// # Errors
/// - `EINVAL`: `ctx` is invalid, or `min_nr > nr` or `min_nr < 0`.
/// - `EINTR`: a signal arrived before any completion did.
/// - `EFAULT`.
///
/// # Safety
/// - `events` must be valid for writing `nr` [`io_event`]s; `timeout` null or valid
///   for reading.
///
/// # References
/// - [io_getevents(2)](https://man7.org/linux/man-pages/man2/io_getevents.2.html)
#[inline]
pub unsafe fn io_getevents(
    ctx: aio_context_t,
    min_nr: isize,
    nr: isize,
    events: *mut io_event,
    timeout: *const __kernel_old_timespec,
) -> Result<usize, Errno> {
    // SAFETY: the caller upholds the contract above.
    let raw = unsafe {
        syscall6(
            nr::__NR_io_getevents as usize,
            ctx,
            min_nr as usize,
            nr as usize,
            events as usize,
            timeout as usize,
            0,
        )
    };
    ret::decode(raw)
}

/// [`io_getevents`] with a signal mask applied atomically while it waits (Linux 4.18):
/// `usig` null, or its `sigmask` null, leaves the thread's mask alone.
///
/// The timeout is the 64-bit [`__kernel_timespec`] on every target: on 32-bit targets
/// this issues `io_pgetevents_time64` (Linux 5.1).
///
/// # Errors
/// As [`io_getevents`], plus `EINVAL` when `usig.sigmask` is not null and
/// `usig.sigsetsize` is not the kernel's ([`rawaio_abi::KERNEL_SIGSET_SIZE`]; with a null
/// mask the size is not checked), and `ENOSYS` on kernels without the call.
///
/// # Safety
/// - As for [`io_getevents`]; `usig` null or valid for reading, and its `sigmask` null or
///   valid for reading `sigsetsize` bytes.
///
/// # References
/// - [io_pgetevents(2)](https://man7.org/linux/man-pages/man2/io_pgetevents.2.html)
#[inline]
pub unsafe fn io_pgetevents(
    ctx: aio_context_t,
    min_nr: isize,
    nr: isize,
    events: *mut io_event,
    timeout: *const __kernel_timespec,
    usig: *const __aio_sigset,
) -> Result<usize, Errno> {
    #[cfg(target_pointer_width = "64")]
    let number = nr::__NR_io_pgetevents;
    #[cfg(target_pointer_width = "32")]
    let number = nr::__NR_io_pgetevents_time64;
    // SAFETY: the caller upholds the contract above.
    let raw = unsafe {
        syscall6(
            number as usize,
            ctx,
            min_nr as usize,
            nr as usize,
            events as usize,
            timeout as usize,
            usig as usize,
        )
    };
    ret::decode(raw)
}

/// The time32 `io_pgetevents` of 32-bit targets, whose timeout is a 32-bit
/// [`__kernel_old_timespec`]. Kernels built without `COMPAT_32BIT_TIME` lack it
/// (`ENOSYS`); prefer [`io_pgetevents`].
///
/// # Errors
/// As [`io_pgetevents`].
///
/// # Safety
/// As [`io_pgetevents`].
#[cfg(target_pointer_width = "32")]
#[inline]
pub unsafe fn io_pgetevents_time32(
    ctx: aio_context_t,
    min_nr: isize,
    nr: isize,
    events: *mut io_event,
    timeout: *const __kernel_old_timespec,
    usig: *const __aio_sigset,
) -> Result<usize, Errno> {
    // SAFETY: the caller upholds the contract above.
    let raw = unsafe {
        syscall6(
            nr::__NR_io_pgetevents as usize,
            ctx,
            min_nr as usize,
            nr as usize,
            events as usize,
            timeout as usize,
            usig as usize,
        )
    };
    ret::decode(raw)
}
