//! The functions libaio exports, with its signatures, its return convention (a negative
//! errno on failure) and its symbol versions.
//!
//! | symbol | version | here |
//! |---|---|---|
//! | `io_queue_init`, `io_queue_run`, `io_queue_release`, `io_submit` | `LIBAIO_0.1` | same names |
//! | `io_cancel`, `io_getevents`, `io_queue_wait` (old ABI) | `LIBAIO_0.1` | `*_0_1` |
//! | `io_setup`, `io_destroy`, `io_cancel`, `io_getevents`, `io_queue_wait` | `LIBAIO_0.4` (default) | same names |
//! | `io_pgetevents` | `LIBAIO_0.5` | same name |
//!
//! With `cfg(rawaio_symver)` (see `build.rs`) each function is exported under a
//! `rawaio_` name and a `.symver` directive gives it its libaio name and version; without
//! it the libaio names are exported plain.
//!
//! # Safety
//!
//! These functions are called from C with C's contracts: every pointer is what libaio's
//! documentation says it is. This module reads no memory it is not handed for that
//! purpose: `io_submit` passes the iocbs to the kernel without reading them, and
//! `io_getevents` reads the caller's timeout only when it must (as libaio does) and the
//! ring only under the registry's exclusion.

#![allow(unsafe_code)]
// The C names are the point of this module.
#![allow(clippy::missing_safety_doc)]

use crate::registry;
use core::ffi::{c_int, c_long};
use rawaio::Errno;
use rawaio::abi::{
    __aio_sigset, __kernel_old_timespec, KERNEL_SIGSET_SIZE, aio_context_t, io_event, iocb,
    kernel_sigset_t,
};
use rawaio::sys;

/// libaio's `io_context_t`: an opaque pointer whose value is the kernel's context handle.
pub type IoContext = aio_context_t;

/// libaio's `io_callback_t`, stored in `iocb.data` by `io_set_callback`.
pub type IoCallback = unsafe extern "C" fn(IoContext, *mut iocb, c_long, c_long);

/// libaio's `struct timespec *` arguments: the C library's `struct timespec`, which on
/// every glibc target (32-bit ones without `_TIME_BITS=64`) is two `long`s.
type Timespec = __kernel_old_timespec;

fn neg(errno: Errno) -> c_int {
    -errno.raw_os_error()
}

fn ret(result: Result<usize, Errno>) -> c_int {
    match result {
        Ok(n) => n as c_int,
        Err(e) => neg(e),
    }
}

#[cfg(rawaio_symver)]
std::arch::global_asm!(
    ".symver rawaio_io_queue_init, io_queue_init@@LIBAIO_0.1",
    ".symver rawaio_io_queue_run, io_queue_run@@LIBAIO_0.1",
    ".symver rawaio_io_queue_release, io_queue_release@@LIBAIO_0.1",
    ".symver rawaio_io_submit, io_submit@@LIBAIO_0.1",
    ".symver rawaio_io_cancel_0_1, io_cancel@LIBAIO_0.1",
    ".symver rawaio_io_getevents_0_1, io_getevents@LIBAIO_0.1",
    ".symver rawaio_io_queue_wait_0_1, io_queue_wait@LIBAIO_0.1",
    ".symver rawaio_io_setup, io_setup@@LIBAIO_0.4",
    ".symver rawaio_io_destroy, io_destroy@@LIBAIO_0.4",
    ".symver rawaio_io_cancel, io_cancel@@LIBAIO_0.4",
    ".symver rawaio_io_getevents, io_getevents@@LIBAIO_0.4",
    ".symver rawaio_io_queue_wait, io_queue_wait@@LIBAIO_0.4",
    ".symver rawaio_io_pgetevents, io_pgetevents@@LIBAIO_0.5",
);

/// `int io_setup(int maxevents, io_context_t *ctxp)`: creates a context for at least
/// `maxevents` requests; `*ctxp` must be 0 (else `-EINVAL`).
#[cfg_attr(rawaio_symver, unsafe(export_name = "rawaio_io_setup"))]
#[cfg_attr(not(rawaio_symver), unsafe(export_name = "io_setup"))]
pub unsafe extern "C" fn io_setup(maxevents: c_int, ctxp: *mut IoContext) -> c_int {
    // The kernel takes an unsigned count: a negative one is a huge one (EINVAL/EAGAIN).
    // SAFETY: the kernel validates `ctxp` (EFAULT).
    match unsafe { sys::io_setup(maxevents as u32, ctxp) } {
        Ok(()) => {
            // SAFETY: the kernel just wrote the handle through `ctxp`, so it is valid
            // (unaligned reads: C callers may pass any address the kernel accepts); the
            // context was created by this process a moment ago.
            unsafe { registry::register(ctxp.read_unaligned()) };
            0
        }
        Err(e) => neg(e),
    }
}

/// `int io_queue_init(int maxevents, io_context_t *ctxp)`: zeroes `*ctxp` and calls
/// `io_setup`; `-EINVAL` when `maxevents <= 0`.
#[cfg_attr(rawaio_symver, unsafe(export_name = "rawaio_io_queue_init"))]
#[cfg_attr(not(rawaio_symver), unsafe(export_name = "io_queue_init"))]
pub unsafe extern "C" fn io_queue_init(maxevents: c_int, ctxp: *mut IoContext) -> c_int {
    if maxevents <= 0 {
        return neg(Errno::INVAL);
    }
    if ctxp.is_null() {
        return neg(Errno::FAULT); // libaio writes through it and crashes
    }
    // SAFETY: the caller passes a writable handle, as libaio requires (written unaligned:
    // the kernel accepts any address, so we do too).
    unsafe { ctxp.write_unaligned(0) };
    // SAFETY: as above.
    unsafe { io_setup(maxevents, ctxp) }
}

/// `int io_destroy(io_context_t ctx)`: waits for the requests in flight, then destroys
/// the context.
#[cfg_attr(rawaio_symver, unsafe(export_name = "rawaio_io_destroy"))]
#[cfg_attr(not(rawaio_symver), unsafe(export_name = "io_destroy"))]
pub unsafe extern "C" fn io_destroy(ctx: IoContext) -> c_int {
    if registry::reentered() && registry::find(ctx).is_some() {
        // A signal handler interrupted this thread's copy from a ring: destroying a
        // context now could unmap the ring under it (see `getevents`).
        return neg(Errno::INTR);
    }
    let registered = registry::find(ctx).is_some();
    registry::unregister(ctx);
    // SAFETY: after `unregister` no user-space reaper reads the ring; the caller keeps
    // the buffers of requests in flight valid until this returns, as with libaio.
    match unsafe { sys::io_destroy(ctx) } {
        Ok(()) => {
            if !registered && !registry::reentered() {
                // A live context the table does not name: perhaps one of this library's
                // whose ring the program moved (mremap), still registered under its old
                // address. Forget every handle the kernel no longer knows, so a later
                // call on the old one gets the kernel's EINVAL instead of reading a ring
                // that is gone. (Rare: contexts made here are destroyed by their
                // registered handle.)
                registry::forget_dead(is_live);
            }
            0
        }
        Err(e) => neg(e),
    }
}

/// Whether the kernel knows `ctx` as a live context of this process, asked with an
/// `io_getevents` that takes no event and never waits. The caller must be registered as
/// a system-call reaper of `ctx`'s slot: even with `nr` 0 the kernel may write the
/// ring's `head` (the value it read, which a user-space reaper may have moved since).
fn is_live(ctx: IoContext) -> bool {
    let zero = Timespec::default();
    // SAFETY: no event is written (nr is 0); `zero` is a valid timeout.
    let answer = unsafe { sys::io_getevents(ctx, 0, 0, std::ptr::null_mut(), &zero) };
    answer != Err(Errno::INVAL)
}

/// `int io_queue_release(io_context_t ctx)`: `io_destroy`.
#[cfg_attr(rawaio_symver, unsafe(export_name = "rawaio_io_queue_release"))]
#[cfg_attr(not(rawaio_symver), unsafe(export_name = "io_queue_release"))]
pub unsafe extern "C" fn io_queue_release(ctx: IoContext) -> c_int {
    // SAFETY: the same contract.
    unsafe { io_destroy(ctx) }
}

/// `int io_submit(io_context_t ctx, long nr, struct iocb *ios[])`: the number of
/// requests accepted, or the first one's error if none was.
#[cfg_attr(rawaio_symver, unsafe(export_name = "rawaio_io_submit"))]
#[cfg_attr(not(rawaio_symver), unsafe(export_name = "io_submit"))]
pub unsafe extern "C" fn io_submit(ctx: IoContext, nr: c_long, ios: *mut *mut iocb) -> c_int {
    // The kernel reads and validates every pointer and field (EFAULT, EINVAL, EBADF);
    // nothing here reads them.
    // SAFETY: the caller keeps each accepted request's buffers valid until it completes.
    ret(unsafe { sys::io_submit(ctx, nr as isize, ios) })
}

/// `int io_cancel(io_context_t ctx, struct iocb *iocb, struct io_event *evt)`:
/// `-EINPROGRESS` when the request was cancelled (its event still comes through
/// `io_getevents`), `-EINVAL` when it cannot be.
#[cfg_attr(rawaio_symver, unsafe(export_name = "rawaio_io_cancel"))]
#[cfg_attr(not(rawaio_symver), unsafe(export_name = "io_cancel"))]
pub unsafe extern "C" fn io_cancel(ctx: IoContext, iocb: *mut iocb, evt: *mut io_event) -> c_int {
    // SAFETY: the kernel validates both pointers (EFAULT).
    match unsafe { sys::io_cancel(ctx, iocb, evt) } {
        Ok(()) => 0,
        Err(e) => neg(e),
    }
}

/// `io_cancel@LIBAIO_0.1`: `int io_cancel(io_context_t ctx, struct iocb *iocb)`.
#[unsafe(export_name = "rawaio_io_cancel_0_1")]
pub unsafe extern "C" fn io_cancel_0_1(ctx: IoContext, iocb: *mut iocb) -> c_int {
    let mut event = io_event::default();
    // SAFETY: as `io_cancel`, with an event of our own.
    unsafe { io_cancel(ctx, iocb, &mut event) }
}

/// `int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
/// struct timespec *timeout)`: waits for at least `min_nr` completions (up to
/// `timeout`; null waits for ever, `{0, 0}` does not wait) and stores up to `nr`.
///
/// When the call would not block (`min_nr` completions are ready, or the timeout is
/// zero) and this library created the context, the completions are copied from the ring
/// in user space, without a system call.
#[cfg_attr(rawaio_symver, unsafe(export_name = "rawaio_io_getevents"))]
#[cfg_attr(not(rawaio_symver), unsafe(export_name = "io_getevents"))]
pub unsafe extern "C" fn io_getevents(
    ctx: IoContext,
    min_nr: c_long,
    nr: c_long,
    events: *mut io_event,
    timeout: *const Timespec,
) -> c_int {
    // SAFETY: the caller's pointers are as io_getevents(2) requires.
    unsafe {
        getevents(ctx, min_nr, nr, events, timeout, || {
            sys::io_getevents(ctx, min_nr as isize, nr as isize, events, timeout)
        })
    }
}

/// `io_getevents@LIBAIO_0.1`: `int io_getevents(io_context_t ctx, long nr,
/// struct io_event *events, const struct timespec *timeout)`, which waits for one.
#[unsafe(export_name = "rawaio_io_getevents_0_1")]
pub unsafe extern "C" fn io_getevents_0_1(
    ctx: IoContext,
    nr: c_long,
    events: *mut io_event,
    timeout: *const Timespec,
) -> c_int {
    // SAFETY: the same contract.
    unsafe { io_getevents(ctx, 1, nr, events, timeout) }
}

/// `int io_queue_wait(io_context_t ctx, struct timespec *timeout)`: libaio's is
/// `io_getevents(ctx, 0, 0, NULL, timeout)`, which returns 0 at once on a live context.
#[cfg_attr(rawaio_symver, unsafe(export_name = "rawaio_io_queue_wait"))]
#[cfg_attr(not(rawaio_symver), unsafe(export_name = "io_queue_wait"))]
pub unsafe extern "C" fn io_queue_wait(ctx: IoContext, timeout: *const Timespec) -> c_int {
    // SAFETY: no event is written (nr is 0); the kernel validates `timeout`.
    unsafe { io_getevents(ctx, 0, 0, std::ptr::null_mut(), timeout) }
}

/// `io_queue_wait@LIBAIO_0.1`: the same as the current one.
#[unsafe(export_name = "rawaio_io_queue_wait_0_1")]
pub unsafe extern "C" fn io_queue_wait_0_1(ctx: IoContext, timeout: *const Timespec) -> c_int {
    // SAFETY: as `io_queue_wait`.
    unsafe { io_queue_wait(ctx, timeout) }
}

/// `int io_pgetevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
/// struct timespec *timeout, sigset_t *sigmask)`: `io_getevents` with `sigmask` (null:
/// unchanged) applied while it waits. Reaps in user space as `io_getevents` does; the
/// mask only matters while waiting, and a call that does not wait makes none.
#[cfg_attr(rawaio_symver, unsafe(export_name = "rawaio_io_pgetevents"))]
#[cfg_attr(not(rawaio_symver), unsafe(export_name = "io_pgetevents"))]
pub unsafe extern "C" fn io_pgetevents(
    ctx: IoContext,
    min_nr: c_long,
    nr: c_long,
    events: *mut io_event,
    timeout: *const Timespec,
    sigmask: *const kernel_sigset_t,
) -> c_int {
    // libaio passes the C library's sigset_t with the kernel's size (_NSIG / 8).
    let usig = __aio_sigset {
        sigmask,
        sigsetsize: KERNEL_SIGSET_SIZE,
    };
    // SAFETY: the caller's pointers are as io_pgetevents(2) requires; `usig` lives
    // across the call.
    unsafe {
        getevents(ctx, min_nr, nr, events, timeout, || {
            #[cfg(target_pointer_width = "64")]
            let result = sys::io_pgetevents(
                ctx,
                min_nr as isize,
                nr as isize,
                events,
                timeout.cast(),
                &usig,
            );
            // libaio passes the 32-bit `struct timespec` to the time32 system call.
            #[cfg(target_pointer_width = "32")]
            let result = sys::io_pgetevents_time32(
                ctx,
                min_nr as isize,
                nr as isize,
                events,
                timeout,
                &usig,
            );
            result
        })
    }
}

/// `int io_queue_run(io_context_t ctx)`: reaps the ready completions one at a time and
/// calls, for each, the callback `io_set_callback` stored in its `data`:
/// `cb(ctx, iocb, res, res2)`. Returns 0 once none is ready, or a negative errno.
/// (libaio calls a null callback and crashes; this skips it.)
#[cfg_attr(rawaio_symver, unsafe(export_name = "rawaio_io_queue_run"))]
#[cfg_attr(not(rawaio_symver), unsafe(export_name = "io_queue_run"))]
pub unsafe extern "C" fn io_queue_run(ctx: IoContext) -> c_int {
    let zero = Timespec::default();
    loop {
        let mut event = io_event::default();
        // SAFETY: one event's room and a valid zero timeout.
        let n = unsafe { io_getevents(ctx, 0, 1, &mut event, &zero) };
        if n != 1 {
            return n;
        }
        // SAFETY: a function pointer and `usize` have the same size; `data` holds what
        // `io_set_callback` stored (a C function pointer) or 0, which is `None`.
        let callback: Option<IoCallback> = unsafe { std::mem::transmute(event.data as usize) };
        if let Some(callback) = callback {
            // SAFETY: the caller stored a callback of this type; `obj` is the iocb's
            // address as submitted. `res` and `res2` are `long`s in C (truncated on
            // 32-bit targets, as libaio's `unsigned long` fields are).
            unsafe {
                callback(
                    ctx,
                    event.obj as usize as *mut iocb,
                    event.res as c_long,
                    event.res2 as c_long,
                )
            };
        }
    }
}

/// The shared body of `io_getevents` and `io_pgetevents`: reaps in user space when it
/// can, else calls `syscall` as a registered system-call reaper.
///
/// # Safety
/// - `events` is null or valid for writing `nr` events; `timeout` null or readable.
unsafe fn getevents(
    ctx: IoContext,
    min_nr: c_long,
    nr: c_long,
    events: *mut io_event,
    timeout: *const Timespec,
    syscall: impl FnOnce() -> Result<usize, Errno>,
) -> c_int {
    let Some(slot) = registry::find(ctx) else {
        return ret(syscall());
    };
    if registry::reentered() {
        // A signal handler interrupted this thread's own copy from this library: it
        // can neither reap beside that copy nor wait for it to finish.
        return neg(Errno::INTR);
    }
    // SAFETY: the caller's contract.
    if let Some(n) = unsafe { reap_in_user_space(slot, ctx, min_nr, nr, events, timeout) } {
        return n;
    }
    let _reaper = slot.syscall();
    ret(syscall())
}

/// Copies completions from the ring if the call would not block and nothing else is
/// reaping the context; `None` to make the system call instead. Arguments the kernel
/// would refuse always go to the kernel, to get its error.
///
/// # Safety
/// As [`getevents`].
unsafe fn reap_in_user_space(
    slot: &registry::Slot,
    ctx: IoContext,
    min_nr: c_long,
    nr: c_long,
    events: *mut io_event,
    timeout: *const Timespec,
) -> Option<c_int> {
    if nr <= 0 || min_nr < 0 || min_nr > nr || !events.is_aligned() || events.is_null() {
        return None;
    }
    let reaping = slot.try_reap(ctx)?;
    let mut ring = reaping.ring()?;
    let ready = ring.ready()?;
    let would_wait = u64::from(ready) < min_nr as u64; // min_nr >= 0, checked above
    if would_wait && !zero(timeout) {
        return None; // it would wait
    }
    let n = (ready as usize).min(nr as usize);
    // SAFETY: the caller provides room for `nr` events at `events` (aligned and not
    // null, checked above), and `n <= nr`.
    let out = unsafe { std::slice::from_raw_parts_mut(events, n) };
    let copied = ring.reap(out)?;
    Some(copied as c_int)
}

/// Whether `timeout` is `{0, 0}`: poll once, never wait.
fn zero(timeout: *const Timespec) -> bool {
    if timeout.is_null() {
        return false;
    }
    // SAFETY: the caller passes a readable timeout, as libaio (which reads it too)
    // requires; no alignment is assumed.
    let t = unsafe { timeout.read_unaligned() };
    t.tv_sec == 0 && t.tv_nsec == 0
}
