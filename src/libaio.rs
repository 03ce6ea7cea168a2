//! libaio's vocabulary, for porting C code written against `<libaio.h>`.
//!
//! Each item here is libaio's function of the same job, under a Rust name with the C
//! name as a search alias: `io_prep_pread` is [`prep_pread`], `io_queue_run` is
//! [`queue_run`]. The requests are the kernel's raw [`iocb`] (what libaio's
//! `struct iocb` is, field for field), the handles raw [`aio_context_t`]s, and results
//! `Result`s instead of negative numbers. New code should prefer the safe
//! [`Context`](crate::Context); this module is for moving C code over one call at a time.
//!
//! Preparing a request is safe (it only fills in a struct). Every call that hands
//! addresses to the kernel is `unsafe`, with the contract of the [`sys`]
//! call beneath it.
//!
//! # Differences from libaio
//! - Results: `Ok(n)` / `Err(Errno)` instead of `n` / `-errno`; [`cancel`] returns
//!   `Ok(())` when the kernel cancelled the request (libaio: `-EINPROGRESS`).
//! - [`Callback`]s take the completion's result as a `Result` (libaio: a `long` that is
//!   negative on error) and are typed Rust function pointers, stored in `aio_data`.
//! - [`queue_run`] reaps up to 64 completions per system call (libaio: one) and never
//!   calls a missing callback (libaio calls address 0).
//!
//! # Examples
//! Read a file's first bytes the way a libaio program does:
//! ```
//! use rawaio::abi::{io_event, iocb};
//! use rawaio::libaio;
//! use std::os::fd::AsRawFd;
//! use std::time::Duration;
//!
//! let file = std::fs::File::open("README.md")?;
//! let mut buf = [0u8; 8];
//! let ctx = libaio::queue_init(8)?;
//! let mut cb = iocb::default();
//! libaio::prep_pread(&mut cb, file.as_raw_fd(), buf.as_mut_ptr(), buf.len(), 0);
//! let mut events = [io_event::default(); 1];
//! // SAFETY: `buf` and `file` outlive the request, which is reaped before they go.
//! unsafe {
//!     assert_eq!(libaio::submit(ctx, &mut [&mut cb])?, 1);
//!     let n = libaio::getevents(ctx, 1, &mut events, Some(Duration::from_secs(5)))?;
//!     assert_eq!(n, 1);
//!     libaio::queue_release(ctx)?;
//! }
//! assert_eq!(libaio::event_result(&events[0]), Ok(8));
//! assert_eq!(&buf, b"# rawaio");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Safety
//!
//! This module makes the system calls of its `unsafe` functions under their callers'
//! contracts, and calls a completion's [`Callback`] only when `aio_data` holds one that
//! [`set_callback`] stored (the contract of [`queue_run`]).

#![allow(unsafe_code)]

use crate::sys;
use rawaio_abi::{
    __kernel_old_timespec, IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC, IOCB_CMD_POLL, IOCB_CMD_PREAD,
    IOCB_CMD_PREADV, IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV, RwfFlags, aio_context_t, io_event, iocb,
};
use rustix::io::Errno;
use std::os::fd::RawFd;
use std::time::Duration;

/// What [`queue_run`] calls for a completion: the context, the request as submitted, its
/// result (bytes transferred, the ready poll events, or the error) and `res2`.
///
/// libaio's `io_callback_t`, which receives the result as a signed `long`.
#[doc(alias = "io_callback_t")]
pub type Callback = fn(ctx: aio_context_t, iocb: *mut iocb, res: Result<usize, Errno>, res2: i64);

/// Clears `cb` and sets the opcode and file descriptor.
fn prep(cb: &mut iocb, fd: RawFd, opcode: u16) {
    *cb = iocb {
        aio_lio_opcode: opcode,
        aio_fildes: fd as u32,
        ..iocb::default()
    };
}

fn prep_rw(cb: &mut iocb, fd: RawFd, opcode: u16, buf: *const u8, len: usize, offset: i64) {
    prep(cb, fd, opcode);
    cb.set_buf(buf, len);
    cb.aio_offset = offset;
}

/// Prepares a read of `count` bytes at `offset` of `fd` into `buf`. Clears the whole
/// request first, as every `prep_*` does.
///
/// ```
/// let mut cb = rawaio::abi::iocb::default();
/// let mut buf = [0u8; 512];
/// rawaio::libaio::prep_pread(&mut cb, 3, buf.as_mut_ptr(), 512, 4096);
/// assert_eq!(cb.aio_lio_opcode, rawaio::abi::IOCB_CMD_PREAD);
/// assert_eq!((cb.aio_fildes, cb.aio_nbytes, cb.aio_offset), (3, 512, 4096));
/// ```
#[doc(alias = "io_prep_pread")]
pub fn prep_pread(cb: &mut iocb, fd: RawFd, buf: *mut u8, count: usize, offset: i64) {
    prep_rw(cb, fd, IOCB_CMD_PREAD, buf, count, offset);
}

/// Prepares a write of `count` bytes from `buf` at `offset` of `fd`.
#[doc(alias = "io_prep_pwrite")]
pub fn prep_pwrite(cb: &mut iocb, fd: RawFd, buf: *const u8, count: usize, offset: i64) {
    prep_rw(cb, fd, IOCB_CMD_PWRITE, buf, count, offset);
}

/// Prepares a vectored read into the `iovcnt` buffers described at `iov` (an array of
/// `struct iovec`, which the kernel copies at submission).
#[doc(alias = "io_prep_preadv")]
pub fn prep_preadv<T>(cb: &mut iocb, fd: RawFd, iov: *const T, iovcnt: usize, offset: i64) {
    prep(cb, fd, IOCB_CMD_PREADV);
    cb.set_iovecs(iov, iovcnt);
    cb.aio_offset = offset;
}

/// Prepares a vectored write from the `iovcnt` buffers described at `iov`.
#[doc(alias = "io_prep_pwritev")]
pub fn prep_pwritev<T>(cb: &mut iocb, fd: RawFd, iov: *const T, iovcnt: usize, offset: i64) {
    prep(cb, fd, IOCB_CMD_PWRITEV);
    cb.set_iovecs(iov, iovcnt);
    cb.aio_offset = offset;
}

/// [`prep_preadv`] with `RWF_*` flags (in `aio_rw_flags`, where the kernel reads them).
#[doc(alias = "io_prep_preadv2")]
pub fn prep_preadv2<T>(
    cb: &mut iocb,
    fd: RawFd,
    iov: *const T,
    iovcnt: usize,
    offset: i64,
    flags: RwfFlags,
) {
    prep_preadv(cb, fd, iov, iovcnt, offset);
    cb.set_rw_flags(flags);
}

/// [`prep_pwritev`] with `RWF_*` flags.
#[doc(alias = "io_prep_pwritev2")]
pub fn prep_pwritev2<T>(
    cb: &mut iocb,
    fd: RawFd,
    iov: *const T,
    iovcnt: usize,
    offset: i64,
    flags: RwfFlags,
) {
    prep_pwritev(cb, fd, iov, iovcnt, offset);
    cb.set_rw_flags(flags);
}

/// Prepares an `fsync` of `fd`.
#[doc(alias = "io_prep_fsync")]
pub fn prep_fsync(cb: &mut iocb, fd: RawFd) {
    prep(cb, fd, IOCB_CMD_FSYNC);
}

/// Prepares an `fdatasync` of `fd`.
#[doc(alias = "io_prep_fdsync")]
pub fn prep_fdsync(cb: &mut iocb, fd: RawFd) {
    prep(cb, fd, IOCB_CMD_FDSYNC);
}

/// Prepares a wait for the `poll(2)` events `events` on `fd`; the completion's result
/// is the ready events. The only kind of request [`cancel`] can cancel.
#[doc(alias = "io_prep_poll")]
pub fn prep_poll(cb: &mut iocb, fd: RawFd, events: rustix::event::PollFlags) {
    prep(cb, fd, IOCB_CMD_POLL);
    // `bits()` is a u16 on most targets and an i16 on some: take the 16 bits either way.
    cb.aio_buf = u64::from(u16::from_ne_bytes(events.bits().to_ne_bytes()));
}

/// Stores `callback` in `aio_data`, for [`queue_run`] to call.
#[doc(alias = "io_set_callback")]
pub fn set_callback(cb: &mut iocb, callback: Callback) {
    cb.set_data_addr(callback as usize);
}

/// Asks the kernel to add 1 to the eventfd `eventfd` when the request completes. Call
/// it after a `prep_*`, which clears it.
#[doc(alias = "io_set_eventfd")]
pub fn set_eventfd(cb: &mut iocb, eventfd: RawFd) {
    cb.set_resfd(eventfd as u32);
}

/// A completion's result: the bytes transferred (or ready poll events), or the error.
///
/// libaio leaves this to the caller: `(long)event.res`, negative on error.
pub fn event_result(event: &io_event) -> Result<usize, Errno> {
    rawaio_abi::decode_res(event.res)
        .map(|n| n as usize)
        .map_err(|errno| Errno::from_raw_os_error(i32::from(errno)))
}

/// Creates a context for at least `maxevents` requests.
///
/// # Errors
/// `EINVAL` when `maxevents` is 0 or too large, `EAGAIN` when it exceeds what is left
/// of `/proc/sys/fs/aio-max-nr`; see [`sys::io_setup`].
#[doc(alias = "io_queue_init")]
#[doc(alias = "io_setup")]
pub fn queue_init(maxevents: u32) -> Result<aio_context_t, Errno> {
    if maxevents == 0 {
        return Err(Errno::INVAL);
    }
    let mut ctx: aio_context_t = 0;
    // SAFETY: `ctx` is a valid, zeroed handle for io_setup to write.
    unsafe { sys::io_setup(maxevents, &mut ctx) }?;
    Ok(ctx)
}

/// Destroys a context, after waiting for its requests in flight.
///
/// # Errors
/// `EINVAL` for a handle that is not a live context.
///
/// # Safety
/// As [`sys::io_destroy`]: every buffer of a request in flight stays valid until this
/// returns.
#[doc(alias = "io_queue_release")]
#[doc(alias = "io_destroy")]
pub unsafe fn queue_release(ctx: aio_context_t) -> Result<(), Errno> {
    // SAFETY: the caller's contract.
    unsafe { sys::io_destroy(ctx) }
}

/// Submits the requests in `cbs` in order and returns how many the kernel accepted
/// (it stops at the first it refuses, and reports that one's error only if it was the
/// first).
///
/// # Errors
/// The first request's error; see [`sys::io_submit`].
///
/// # Safety
/// As [`sys::io_submit`]: the buffers of every accepted request stay valid, and the
/// requests' memory too if the caller reads `obj` back, until their completions are
/// reaped or the context destroyed.
#[doc(alias = "io_submit")]
pub unsafe fn submit(ctx: aio_context_t, cbs: &mut [&mut iocb]) -> Result<usize, Errno> {
    // A `&mut iocb` has the layout of a `*mut iocb`.
    let list = cbs.as_mut_ptr().cast::<*mut iocb>();
    // SAFETY: `list` holds `cbs.len()` valid request pointers; the caller vouches for
    // the buffers.
    unsafe { sys::io_submit(ctx, cbs.len() as isize, list) }
}

/// Cancels the request `cb` (submitted at that address). `Ok(())` means cancelled: its
/// completion (result 0 for a poll) still arrives through [`getevents`].
///
/// # Errors
/// `EINVAL` when the request cannot be cancelled (only polls can) or has completed.
///
/// # Safety
/// As [`sys::io_cancel`].
#[doc(alias = "io_cancel")]
pub unsafe fn cancel(ctx: aio_context_t, cb: *mut iocb) -> Result<(), Errno> {
    let mut unused = io_event::default();
    // SAFETY: the caller's contract; `unused` is a writable event.
    match unsafe { sys::io_cancel(ctx, cb, &mut unused) } {
        Err(Errno::INPROGRESS) => Ok(()),
        Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Waits up to `timeout` (`None`: for ever; zero: not at all) for at least `min_nr`
/// completions and stores up to `events.len()` of them; returns how many it stored.
///
/// # Errors
/// `EINVAL` for a bad context or `min_nr > events.len()`, `EINTR` when a signal arrived
/// before any completion; see [`sys::io_getevents`].
///
/// # Safety
/// - Nothing in this process reaps `ctx`'s ring in user space meanwhile (a
///   [`Context`](crate::Context)'s own handle, a [`RingView`](crate::raw::RingView)).
#[doc(alias = "io_getevents")]
pub unsafe fn getevents(
    ctx: aio_context_t,
    min_nr: usize,
    events: &mut [io_event],
    timeout: Option<Duration>,
) -> Result<usize, Errno> {
    let ts = timeout.map(|t| __kernel_old_timespec {
        tv_sec: isize::try_from(t.as_secs()).unwrap_or(isize::MAX),
        tv_nsec: t.subsec_nanos() as isize,
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
    // SAFETY: `events` is writable for its length; `ts_ptr` is null or points to `ts`,
    // which outlives the call; the caller excludes user-space reapers.
    unsafe {
        sys::io_getevents(
            ctx,
            min_nr.min(isize::MAX as usize) as isize,
            events.len().min(isize::MAX as usize) as isize,
            events.as_mut_ptr(),
            ts_ptr,
        )
    }
}

/// Calls the [`Callback`] of every completion ready now (reaping without waiting) and
/// returns how many completions it reaped. Completions without a callback are reaped
/// and skipped.
///
/// # Errors
/// The reaping error (`EINVAL` for a bad context); callbacks already made stay made.
///
/// # Safety
/// - As [`getevents`];
/// - every completion's `aio_data` is 0 or was set by [`set_callback`].
#[doc(alias = "io_queue_run")]
pub unsafe fn queue_run(ctx: aio_context_t) -> Result<usize, Errno> {
    let mut events = [io_event::default(); 64];
    let mut total = 0;
    loop {
        // SAFETY: the caller's contract.
        let n = unsafe { getevents(ctx, 0, &mut events, Some(Duration::ZERO)) }?;
        for event in &events[..n] {
            if event.data == 0 {
                continue;
            }
            // SAFETY: `data` was stored by `set_callback` from a `Callback` (the
            // caller's contract), and function pointers are address-sized.
            let callback: Callback = unsafe { std::mem::transmute(event.data as usize) };
            callback(
                ctx,
                event.obj as usize as *mut iocb,
                event_result(event),
                event.res2,
            );
        }
        total += n;
        if n < events.len() {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::event::PollFlags;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::sync::Mutex;

    #[test]
    fn prep_clears_and_fills_the_kernel_fields() {
        let mut cb = iocb {
            aio_reserved2: 5,
            aio_flags: 7,
            aio_data: 9,
            ..iocb::default()
        };
        let buf = [0u8; 8];
        prep_pwrite(&mut cb, 4, buf.as_ptr(), 8, 16);
        assert_eq!(
            cb,
            iocb {
                aio_lio_opcode: IOCB_CMD_PWRITE,
                aio_fildes: 4,
                aio_buf: buf.as_ptr() as u64,
                aio_nbytes: 8,
                aio_offset: 16,
                ..iocb::default()
            }
        );
        prep_preadv2(&mut cb, 4, buf.as_ptr(), 2, 32, RwfFlags::NOWAIT);
        assert_eq!(cb.aio_lio_opcode, IOCB_CMD_PREADV);
        assert_eq!((cb.aio_nbytes, cb.aio_offset), (2, 32));
        assert_eq!(cb.aio_rw_flags, 8);
        assert_eq!(cb.aio_flags, 0, "RWF flags never go to aio_flags");
        prep_pwritev2(&mut cb, 4, buf.as_ptr(), 1, 0, RwfFlags::DSYNC);
        assert_eq!((cb.aio_lio_opcode, cb.aio_rw_flags), (IOCB_CMD_PWRITEV, 2));
        prep_fsync(&mut cb, 5);
        assert_eq!(
            cb,
            iocb {
                aio_lio_opcode: IOCB_CMD_FSYNC,
                aio_fildes: 5,
                ..iocb::default()
            }
        );
        prep_fdsync(&mut cb, 5);
        assert_eq!(cb.aio_lio_opcode, IOCB_CMD_FDSYNC);
        prep_poll(&mut cb, 6, PollFlags::IN | PollFlags::OUT);
        assert_eq!((cb.aio_lio_opcode, cb.aio_buf), (IOCB_CMD_POLL, 5));
        set_eventfd(&mut cb, 11);
        assert_eq!((cb.aio_flags, cb.aio_resfd), (1, 11));
    }

    #[test]
    fn event_results() {
        let mut event = io_event {
            res: 4096,
            ..io_event::default()
        };
        assert_eq!(event_result(&event), Ok(4096));
        event.res = -22;
        assert_eq!(event_result(&event), Err(Errno::INVAL));
    }

    static CALLS: Mutex<Vec<(usize, Result<usize, Errno>)>> = Mutex::new(Vec::new());

    fn record(_ctx: aio_context_t, cb: *mut iocb, res: Result<usize, Errno>, res2: i64) {
        assert_eq!(res2, 0);
        CALLS.lock().unwrap().push((cb as usize, res));
    }

    #[test]
    fn queue_run_dispatches_callbacks_and_cancel_succeeds_with_ok() {
        let mut file = tempfile();
        file.write_all(&[7u8; 300]).unwrap();
        let ctx = queue_init(8).unwrap();
        let mut bufs = [[0u8; 128]; 3];
        let mut cbs = [iocb::default(); 3];
        for (i, (cb, buf)) in cbs.iter_mut().zip(&mut bufs).enumerate() {
            prep_pread(cb, file.as_raw_fd(), buf.as_mut_ptr(), 100 + i, 0);
            set_callback(cb, record);
        }
        let addrs: Vec<usize> = cbs.iter().map(|cb| cb as *const iocb as usize).collect();
        let (pipe_r, _pipe_w) = rustix::pipe::pipe().unwrap();
        let mut poll = iocb::default();
        prep_poll(&mut poll, pipe_r.as_raw_fd(), PollFlags::IN);
        let [a, b, c] = &mut cbs;
        // SAFETY: the buffers, the file and the pipe outlive the context, destroyed below.
        unsafe {
            assert_eq!(submit(ctx, &mut [a, b, c, &mut poll]), Ok(4));
            let mut reaped = 0;
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while reaped < 3 && std::time::Instant::now() < deadline {
                reaped += queue_run(ctx).unwrap();
            }
            assert_eq!(reaped, 3);
            assert_eq!(cancel(ctx, &mut poll), Ok(()));
            assert_eq!(cancel(ctx, &mut poll), Err(Errno::INVAL));
            let mut events = [io_event::default(); 2];
            assert_eq!(getevents(ctx, 1, &mut events, None), Ok(1));
            assert_eq!(event_result(&events[0]), Ok(0));
            // A second release and a run on the dead handle are checked in
            // tests/sys_dead_context.rs, whose tests run one at a time: here, another
            // test thread's `io_setup` may reuse the freed address at once, and a
            // second release would destroy that test's context.
            assert_eq!(queue_release(ctx), Ok(()));
        }
        let mut calls = CALLS.lock().unwrap().clone();
        calls.sort_by_key(|(addr, _)| *addr);
        let want: Vec<_> = addrs
            .iter()
            .enumerate()
            .map(|(i, &a)| (a, Ok(100 + i)))
            .collect();
        assert_eq!(calls, want);
        assert_eq!(bufs[2][..102], [7u8; 102]);
        assert_eq!(queue_init(0), Err(Errno::INVAL));
    }

    fn tempfile() -> std::fs::File {
        let path = std::env::temp_dir().join(format!("rawaio-libaio-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }
}
