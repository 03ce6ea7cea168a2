//! Every error the raw AIO calls can give on a real kernel, with its exact errno, and the
//! edge cases around them: partial submission, a full context, timeouts, signals,
//! cancellation, destruction and `fork`.
//!
//! No test here may use a destroyed context's handle: the tests run in parallel threads
//! of one process, and the next `io_setup` of another test can map its ring at the
//! address just freed, so the "dead" handle would name that test's live context. Those
//! checks live in `sys_dead_context.rs`, whose tests run one at a time.

mod common;

use common::{
    AlignedBuf, BLOCK, Ctx, POLLIN, TIMEOUT, TempFile, assert_no_event, bare_iocb, ext4_dir,
    fs_name, fs_type, getevents, obj_of, pipe, pipe_write_byte, poll_iocb, reap, reap_one, rw_iocb,
    submit, submit_and_reap, submit_one, tmpfs_dir, ts64,
};
use rawaio::Errno;
use rawaio::abi::{
    __aio_sigset, __kernel_old_timespec, __kernel_timespec, IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC,
    IOCB_CMD_NOOP, IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PREADX, IOCB_CMD_PWRITE,
    IOCB_CMD_PWRITEV, IOPRIO_CLASS_BE, KERNEL_SIGSET_SIZE, RwfFlags, aio_context_t, io_event, iocb,
    ioprio_prio_value, kernel_sigset_t,
};
use rawaio::sys;
use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

const TOKEN: u64 = 0xe220_0000_0000_0000;

/// A handle that is no context of this process.
const BAD_CTX: aio_context_t = 12345;

/// An address that is never mapped (inside the first page).
const BAD_ADDR: usize = 16;

/// A regular, buffered file on tmpfs: a valid descriptor for checks that happen before
/// any I/O, and writes that complete inside `io_submit`.
fn scratch_file(tag: &str) -> TempFile {
    TempFile::create(&tmpfs_dir(), tag, false).expect("create a tmpfs file")
}

/// Submits `cb` alone, expects `errno`, and checks that nothing was queued.
#[track_caller]
fn expect_submit_err(ctx: &Ctx, cb: &mut iocb, errno: Errno, what: &str) {
    assert_eq!(submit_one(ctx, cb), Err(errno), "{what}: {cb:?}");
    assert_no_event(ctx);
}

fn setup_raw(nr_events: u32, ctxp: *mut aio_context_t) -> Result<(), Errno> {
    // SAFETY: the callers pass a valid handle or an address the kernel cannot write
    // (which it reports as EFAULT without writing anything).
    let r = unsafe { sys::io_setup(nr_events, ctxp) };
    if r.is_ok() {
        // SAFETY: io_setup succeeded, so `ctxp` was valid and now holds a live handle,
        // which nothing else uses: destroy it at once to keep aio-nr low.
        unsafe { sys::io_destroy(*ctxp) }.expect("destroy an unexpected context");
    }
    r
}

fn setup(nr_events: u32) -> Result<(), Errno> {
    let mut ctx: aio_context_t = 0;
    setup_raw(nr_events, &mut ctx)
}

fn cancel(ctx: aio_context_t, cb: *mut iocb) -> Result<(), Errno> {
    let mut result = io_event::default();
    // SAFETY: `cb` is a live iocb, or an unmapped address the kernel reports as EFAULT;
    // `result` is a writable event.
    unsafe { sys::io_cancel(ctx, cb, &mut result) }
}

fn destroy(ctx: aio_context_t) -> Result<(), Errno> {
    // SAFETY: only ever called with handles that were never contexts of this process:
    // the kernel refuses them without touching any memory.
    unsafe { sys::io_destroy(ctx) }
}

fn pgetevents(
    ctx: aio_context_t,
    min_nr: isize,
    nr: isize,
    events: &mut [io_event],
    timeout: Option<Duration>,
    usig: Option<&__aio_sigset>,
) -> Result<usize, Errno> {
    assert!(nr <= events.len() as isize);
    let ts = timeout.map(ts64);
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const __kernel_timespec);
    let usp = usig.map_or(std::ptr::null(), |u| u as *const __aio_sigset);
    // SAFETY: `events` has room for `nr` events; `tsp` and `usp` are null or point to live
    // values, and a non-null `sigmask` in `usig` points to a live set (the callers').
    unsafe { sys::io_pgetevents(ctx, min_nr, nr, events.as_mut_ptr(), tsp, usp) }
}

/// Whether the kernel has `io_pgetevents` (4.18; `io_pgetevents_time64` 5.1 on 32-bit);
/// prints why a test is skipped when it does not.
fn has_pgetevents(ctx: &Ctx) -> bool {
    let mut ev = [io_event::default(); 1];
    match pgetevents(ctx.id(), 0, 1, &mut ev, Some(Duration::ZERO), None) {
        Err(Errno::NOSYS) => {
            eprintln!("skipped: this kernel has no io_pgetevents (ENOSYS)");
            false
        }
        other => {
            assert_eq!(other, Ok(0), "io_pgetevents on an empty ring");
            true
        }
    }
}

// ---------------------------------------------------------------------------------------
// Signals: a no-op handler installed without SA_RESTART, and a way to interrupt a call
// blocked in another thread.

const SIG: libc::c_int = libc::SIGUSR1;

thread_local! {
    /// How many times the handler ran on this thread.
    static HITS: Cell<u32> = const { Cell::new(0) };
}

extern "C" fn on_signal(_sig: libc::c_int) {
    HITS.with(|h| h.set(h.get() + 1));
}

fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed `sigaction` is a valid value; the handler only touches a
        // const-initialized thread-local counter, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = 0; // no SA_RESTART
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(
                libc::sigaction(SIG, &sa, std::ptr::null_mut()),
                0,
                "sigaction"
            );
        }
    });
}

/// What a call made by [`interrupt`] returned.
struct Interrupted<T> {
    result: T,
    /// How long the call took.
    elapsed: Duration,
    /// How many times the handler ran on the calling thread during and right after it.
    hits: u32,
}

/// Runs `call` on a new thread and, from `delay` after it starts, sends [`SIG`] to that
/// thread every 10 ms until `call` returns. Fails the test if it has not returned
/// within [`TIMEOUT`] plus `delay` (the blocked thread is then abandoned).
///
/// Both sides measure from one instant, taken by the calling thread just before `call`
/// and handed to the signalling side: the first signal goes out no earlier than
/// `delay` after it, however late either thread is scheduled. So a call that returns
/// only when a signal interrupts it has `elapsed >= delay`, exactly, under any load.
fn interrupt<T: Send + 'static>(
    delay: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Interrupted<T> {
    install_handler();
    let done = Arc::new(AtomicBool::new(false));
    let (start_tx, start_rx) = mpsc::channel();
    let (res_tx, res_rx) = mpsc::channel();
    let done2 = Arc::clone(&done);
    let handle = std::thread::spawn(move || {
        HITS.with(|h| h.set(0));
        // Taken before the thread says it is ready and handed to the signalling side, so
        // that the delay never ends before `start + delay`, however late either thread is
        // scheduled (a loaded machine, a qemu-system guest under TCG).
        let start = Instant::now();
        // SAFETY: pthread_self has no preconditions and cannot fail; the id is only used
        // while this thread lives (the signalling side stops before it joins this thread).
        let tid = unsafe { libc::pthread_self() };
        start_tx.send((tid, start)).unwrap();
        let result = call();
        let elapsed = start.elapsed();
        let hits = HITS.with(Cell::get);
        done2.store(true, Ordering::Release);
        res_tx
            .send(Interrupted {
                result,
                elapsed,
                hits,
            })
            .unwrap();
    });
    let (tid, start) = start_rx.recv().unwrap();
    std::thread::sleep((start + delay).saturating_duration_since(Instant::now()));
    let deadline = Instant::now() + TIMEOUT;
    while !done.load(Ordering::Acquire) {
        assert!(
            Instant::now() < deadline,
            "the call was not interrupted within {TIMEOUT:?}"
        );
        // SAFETY: `tid` is the spawned thread, which is not joined before this loop
        // ends, so its pthread_t stays valid; SIG has a handler installed.
        let rc = unsafe { libc::pthread_kill(tid, SIG) };
        assert!(rc == 0 || rc == libc::ESRCH, "pthread_kill: {rc}");
        std::thread::sleep(Duration::from_millis(10));
    }
    handle.join().unwrap();
    res_rx.recv().unwrap()
}

// ---------------------------------------------------------------------------------------
// io_setup

#[test]
fn setup_needs_a_zeroed_handle() {
    let mut ctx: aio_context_t = 1;
    assert_eq!(setup_raw(1, &mut ctx), Err(Errno::INVAL));
    assert_eq!(ctx, 1, "left alone on failure");
    // A live context's handle is no better.
    let live = Ctx::new(1);
    let mut ctx = live.id();
    assert_eq!(setup_raw(1, &mut ctx), Err(Errno::INVAL));
    assert_eq!(ctx, live.id());
}

#[test]
fn setup_rejects_0_and_huge_sizes() {
    assert_eq!(setup(0), Err(Errno::INVAL), "nr_events 0");
    // The kernel doubles nr_events (in an unsigned int) and refuses more than
    // 0x10000000 / sizeof(io_event) = 8M slots: anything above 4M is EINVAL...
    assert_eq!(setup(0x40_0001), Err(Errno::INVAL), "just above 4M");
    assert_eq!(setup(0x4000_0000), Err(Errno::INVAL));
    assert_eq!(setup(0x7fff_ffff), Err(Errno::INVAL));
    assert_eq!(setup(u32::MAX), Err(Errno::INVAL));
    // ...except 0x8000_0000 to 0x8040_0000, whose doubling wraps to at most 8M slots:
    // those pass the size check and fail the aio-max-nr one, which counts the requested
    // (unwrapped) number: EAGAIN.
    assert_eq!(setup(0x8000_0000), Err(Errno::AGAIN), "doubling wraps to 0");
    assert_eq!(setup(0x8040_0000), Err(Errno::AGAIN), "wraps to exactly 8M");
    assert_eq!(
        setup(0x8040_0001),
        Err(Errno::INVAL),
        "wraps to just above 8M"
    );
}

#[test]
fn setup_beyond_aio_max_nr_is_eagain() {
    // Checked against aio-max-nr before anything is allocated: no budget is used.
    let max: u64 = std::fs::read_to_string("/proc/sys/fs/aio-max-nr")
        .expect("read /proc/sys/fs/aio-max-nr")
        .trim()
        .parse()
        .expect("aio-max-nr is a number");
    let nr = max + 1;
    if nr <= 0x40_0000 {
        assert_eq!(setup(nr as u32), Err(Errno::AGAIN), "aio-max-nr {max} + 1");
    } else {
        // A machine with a huge aio-max-nr: the size limit comes first.
        let nr = nr.min(u64::from(u32::MAX)) as u32;
        assert_eq!(setup(nr), Err(Errno::INVAL), "aio-max-nr {max} + 1");
    }
}

#[test]
fn setup_with_a_bad_pointer_is_efault() {
    assert_eq!(
        setup_raw(1, BAD_ADDR as *mut aio_context_t),
        Err(Errno::FAULT)
    );
    // A non-null, aligned but unmapped address.
    assert_eq!(
        setup_raw(1, std::ptr::dangling_mut::<aio_context_t>()),
        Err(Errno::FAULT)
    );
}

// ---------------------------------------------------------------------------------------
// io_submit: the call itself

#[test]
fn submit_negative_nr_is_einval() {
    let (r, _w) = pipe();
    let ctx = Ctx::new(1);
    let mut cb = poll_iocb(&r, POLLIN, TOKEN);
    let mut list = [&mut cb as *mut iocb];
    for nr in [-1isize, isize::MIN] {
        // SAFETY: the kernel rejects a negative count before reading `list`.
        let r = unsafe { sys::io_submit(ctx.id(), nr, list.as_mut_ptr()) };
        assert_eq!(r, Err(Errno::INVAL), "nr {nr}");
    }
    assert_no_event(&ctx);
}

#[test]
fn submit_to_a_bad_context_is_einval() {
    let (r, w) = pipe();
    pipe_write_byte(&w);
    let mut cb = poll_iocb(&r, POLLIN, TOKEN);
    let mut list = [&mut cb as *mut iocb];
    for ctx in [BAD_CTX, 0, usize::MAX] {
        // SAFETY: `list` holds one live iocb; the kernel refuses the context first.
        let r = unsafe { sys::io_submit(ctx, 1, list.as_mut_ptr()) };
        assert_eq!(r, Err(Errno::INVAL), "ctx {ctx:#x}");
    }
    // (A destroyed context: see sys_dead_context.rs.)
    // SAFETY: nothing is read with a count of 0.
    let r = unsafe { sys::io_submit(BAD_CTX, 0, std::ptr::null_mut()) };
    assert_eq!(r, Err(Errno::INVAL), "the context is checked even for nr 0");
}

#[test]
fn submit_nothing_returns_0() {
    let ctx = Ctx::new(1);
    assert_eq!(submit(&ctx, &mut []), Ok(0));
    // SAFETY: with a count of 0 the kernel reads nothing, not even the array.
    let r = unsafe { sys::io_submit(ctx.id(), 0, std::ptr::null_mut()) };
    assert_eq!(r, Ok(0));
    assert_no_event(&ctx);
}

#[test]
fn submit_with_bad_pointers_is_efault() {
    let (r, w) = pipe();
    pipe_write_byte(&w);
    let ctx = Ctx::new(2);
    // The array of pointers itself is unreadable.
    // SAFETY: the kernel faults on the array and reports EFAULT without using it.
    let r1 = unsafe { sys::io_submit(ctx.id(), 1, BAD_ADDR as *mut *mut iocb) };
    assert_eq!(r1, Err(Errno::FAULT), "unreadable iocb array");
    // An unreadable iocb.
    let mut list = [BAD_ADDR as *mut iocb];
    assert_eq!(
        submit(&ctx, &mut list),
        Err(Errno::FAULT),
        "unreadable iocb"
    );
    assert_no_event(&ctx);
    // After a good one, the bad one is not reported: 1 accepted.
    let mut good = poll_iocb(&r, POLLIN, TOKEN | 1);
    let mut list = [&mut good as *mut iocb, BAD_ADDR as *mut iocb];
    assert_eq!(submit(&ctx, &mut list), Ok(1));
    assert_eq!(reap_one(&ctx).data, TOKEN | 1);
}

#[test]
fn submit_writes_the_key_into_the_users_iocb() {
    // Not a read-only operation: io_submit stores KIOCB_KEY (0) into aio_key, which is
    // why an iocb must be writable memory.
    let (r, w) = pipe();
    pipe_write_byte(&w);
    let ctx = Ctx::new(1);
    let mut cb = poll_iocb(&r, POLLIN, TOKEN | 2);
    cb.aio_key = 0x5555_5555;
    let ev = submit_and_reap(&ctx, &mut cb);
    assert_ne!(ev.res as u64 & POLLIN, 0);
    assert_eq!(cb.aio_key, 0, "the kernel reset aio_key to KIOCB_KEY");
}

// ---------------------------------------------------------------------------------------
// io_submit: per-request errors

#[test]
fn submit_bad_descriptors_are_ebadf() {
    let f = scratch_file("ebadf");
    let mut buf = AlignedBuf::new(BLOCK);
    let ctx = Ctx::new(1);
    for fd in [u32::MAX, i32::MAX as u32] {
        let mut cb = rw_iocb(IOCB_CMD_PREAD, fd, buf.as_mut_ptr(), BLOCK, 0, TOKEN);
        expect_submit_err(&ctx, &mut cb, Errno::BADF, "bad fd");
        let mut cb = bare_iocb(IOCB_CMD_FSYNC, fd, TOKEN);
        expect_submit_err(&ctx, &mut cb, Errno::BADF, "bad fd");
    }
    // The right descriptor, the wrong access mode.
    let ro = f.open_readonly();
    let mut cb = rw_iocb(
        IOCB_CMD_PWRITE,
        ro.as_raw_fd() as u32,
        buf.as_ptr(),
        BLOCK,
        0,
        TOKEN,
    );
    expect_submit_err(&ctx, &mut cb, Errno::BADF, "PWRITE on a read-only fd");
    let wo = std::fs::OpenOptions::new()
        .write(true)
        .open(&f.path)
        .unwrap();
    let mut cb = rw_iocb(
        IOCB_CMD_PREAD,
        wo.as_raw_fd() as u32,
        buf.as_mut_ptr(),
        BLOCK,
        0,
        TOKEN,
    );
    expect_submit_err(&ctx, &mut cb, Errno::BADF, "PREAD on a write-only fd");
    assert_eq!(f.file.metadata().unwrap().len(), 0, "nothing was written");
}

#[test]
fn submit_unknown_opcodes_are_einval() {
    let f = scratch_file("opcode");
    let mut buf = AlignedBuf::new(BLOCK);
    let ctx = Ctx::new(1);
    for op in [IOCB_CMD_PREADX, IOCB_CMD_NOOP, 9, 10, 0x100, 0xffff] {
        let mut cb = rw_iocb(op, f.fd(), buf.as_mut_ptr(), BLOCK, 0, TOKEN);
        expect_submit_err(&ctx, &mut cb, Errno::INVAL, "unknown opcode");
        assert!(!rawaio::abi::opcode_is_accepted(op));
    }
    assert!(buf.as_slice().iter().all(|&b| b == 0));
}

#[test]
fn submit_reserved2_must_be_0() {
    let f = scratch_file("reserved");
    let buf = AlignedBuf::new(BLOCK);
    let ctx = Ctx::new(1);
    for bit in [1u64, 1 << 32, 1 << 63] {
        let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), buf.as_ptr(), BLOCK, 0, TOKEN);
        cb.aio_reserved2 = bit;
        expect_submit_err(&ctx, &mut cb, Errno::INVAL, "aio_reserved2 set");
    }
    // Checked before the descriptor: even a bad fd gives EINVAL.
    let mut cb = rw_iocb(IOCB_CMD_PWRITE, u32::MAX, buf.as_ptr(), BLOCK, 0, TOKEN);
    cb.aio_reserved2 = 1;
    expect_submit_err(&ctx, &mut cb, Errno::INVAL, "reserved2 before fd");
    assert_eq!(f.file.metadata().unwrap().len(), 0);
}

#[test]
fn submit_negative_offset_is_einval() {
    let f = scratch_file("negoff");
    let mut buf = AlignedBuf::new(BLOCK);
    let ctx = Ctx::new(1);
    for off in [-1i64, -(BLOCK as i64), i64::MIN] {
        let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), buf.as_ptr(), BLOCK, off, TOKEN);
        expect_submit_err(&ctx, &mut cb, Errno::INVAL, "PWRITE, negative offset");
        let mut cb = rw_iocb(IOCB_CMD_PREAD, f.fd(), buf.as_mut_ptr(), BLOCK, off, TOKEN);
        expect_submit_err(&ctx, &mut cb, Errno::INVAL, "PREAD, negative offset");
    }
    assert_eq!(f.file.metadata().unwrap().len(), 0);
}

#[test]
fn submit_oversized_lengths_are_einval() {
    let f = scratch_file("nbytes");
    let buf = AlignedBuf::new(BLOCK);
    let ctx = Ctx::new(1);
    // aio_nbytes must fit a non-negative ssize_t.
    let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), buf.as_ptr(), BLOCK, 0, TOKEN);
    cb.aio_nbytes = u64::MAX;
    expect_submit_err(&ctx, &mut cb, Errno::INVAL, "aio_nbytes -1");
    cb.aio_nbytes = 1 << 63;
    expect_submit_err(&ctx, &mut cb, Errno::INVAL, "aio_nbytes 2^63");
    #[cfg(target_pointer_width = "32")]
    {
        // An address above 4 GiB in a 32-bit process: a 32-bit kernel refuses it at
        // submission (it does not fit its unsigned long); a 64-bit kernel running the
        // process in compat mode takes it and fails the copy (EFAULT in the completion).
        // (aio_nbytes above 4 GiB is not tried: the compat kernel takes that too, and
        // would copy past the buffer.)
        let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), buf.as_ptr(), BLOCK, 0, TOKEN);
        cb.aio_buf |= 1 << 32;
        match submit_one(&ctx, &mut cb) {
            Err(e) => assert_eq!(e, Errno::INVAL, "aio_buf above 4 GiB"),
            Ok(n) => {
                assert_eq!(n, 1);
                let ev = reap_one(&ctx);
                assert_eq!(ev.res, -(Errno::FAULT.raw_os_error() as i64), "compat");
            }
        }
    }
    assert_eq!(f.file.metadata().unwrap().len(), 0);
}

/// A field's name and a function that sets it to something not allowed.
type FieldSetter = (&'static str, fn(&mut iocb));

#[test]
fn submit_sync_and_poll_with_buffer_fields_are_einval() {
    let f = scratch_file("fsync");
    let (r, _w) = pipe();
    let ctx = Ctx::new(2);
    for op in [IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC] {
        let fields: [FieldSetter; 4] = [
            ("aio_buf", |cb| cb.aio_buf = 0x1000),
            ("aio_nbytes", |cb| cb.aio_nbytes = 512),
            ("aio_offset", |cb| cb.aio_offset = 4096),
            ("aio_rw_flags", |cb| cb.set_rw_flags(RwfFlags::DSYNC)),
        ];
        for (field, set) in fields {
            let mut cb = bare_iocb(op, f.fd(), TOKEN);
            set(&mut cb);
            expect_submit_err(&ctx, &mut cb, Errno::INVAL, field);
        }
        // Clean, it works.
        let mut cb = bare_iocb(op, f.fd(), TOKEN | u64::from(op));
        assert_eq!(submit_and_reap(&ctx, &mut cb).res, 0);
    }
    // A pipe has no fsync at all.
    let mut cb = bare_iocb(IOCB_CMD_FSYNC, r.as_raw_fd() as u32, TOKEN);
    expect_submit_err(&ctx, &mut cb, Errno::INVAL, "FSYNC on a pipe");

    let fields: [FieldSetter; 4] = [
        ("aio_buf above 16 bits", |cb| cb.aio_buf = 0x1_0000 | POLLIN),
        ("aio_nbytes", |cb| cb.aio_nbytes = 1),
        ("aio_offset", |cb| cb.aio_offset = 1),
        ("aio_rw_flags", |cb| cb.set_rw_flags(RwfFlags::NOWAIT)),
    ];
    for (field, set) in fields {
        let mut cb = poll_iocb(&r, POLLIN, TOKEN);
        set(&mut cb);
        expect_submit_err(&ctx, &mut cb, Errno::INVAL, field);
    }
}

#[test]
fn submit_bad_iovec_arrays() {
    let f = scratch_file("iovec");
    let ctx = Ctx::new(1);
    for op in [IOCB_CMD_PREADV, IOCB_CMD_PWRITEV] {
        // The kernel copies the iovec array during io_submit: an unreadable one fails
        // there.
        let mut cb = rw_iocb(op, f.fd(), BAD_ADDR as *const u8, 1, 0, TOKEN);
        expect_submit_err(&ctx, &mut cb, Errno::FAULT, "unreadable iovec array");
        // More than UIO_MAXIOV (1024) iovecs.
        let mut cb = rw_iocb(op, f.fd(), BAD_ADDR as *const u8, 1025, 0, TOKEN);
        expect_submit_err(&ctx, &mut cb, Errno::INVAL, "1025 iovecs");
    }
    assert_eq!(f.file.metadata().unwrap().len(), 0);
}

#[test]
fn submit_unknown_rwf_flag_is_eopnotsupp() {
    let f = scratch_file("rwf");
    let buf = AlignedBuf::new(BLOCK);
    let ctx = Ctx::new(1);
    for bit in [1u32 << 30, 1 << 20] {
        assert_eq!(bit & rawaio::abi::RWF_SUPPORTED, 0);
        let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), buf.as_ptr(), BLOCK, 0, TOKEN);
        cb.aio_rw_flags = bit as i32;
        expect_submit_err(&ctx, &mut cb, Errno::OPNOTSUPP, "unknown RWF bit");
    }
    // In aio_flags instead, unknown bits are ignored.
    let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), buf.as_ptr(), BLOCK, 0, TOKEN | 7);
    cb.aio_flags = 1 << 30;
    assert_eq!(submit_and_reap(&ctx, &mut cb).res, BLOCK as i64);
    assert_eq!(f.file.metadata().unwrap().len(), BLOCK as u64);
}

#[test]
fn submit_invalid_ioprio_is_einval() {
    let f = scratch_file("ioprio");
    let buf = AlignedBuf::new(BLOCK);
    let ctx = Ctx::new(1);
    // Class 5 does not exist.
    let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), buf.as_ptr(), BLOCK, 0, TOKEN);
    cb.set_ioprio(ioprio_prio_value(5, 0));
    expect_submit_err(&ctx, &mut cb, Errno::INVAL, "ioprio class 5");
    // A valid best-effort priority is accepted.
    let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), buf.as_ptr(), BLOCK, 0, TOKEN | 8);
    cb.set_ioprio(ioprio_prio_value(IOPRIO_CLASS_BE, 7));
    assert_eq!(submit_and_reap(&ctx, &mut cb).res, BLOCK as i64);
}

#[test]
fn submit_eagain_when_the_context_is_full() {
    const CAP: usize = 10_000;
    // Never readable (the write end stays open), so every poll stays in flight.
    let (r, w) = pipe();
    let mut cbs = vec![iocb::default(); CAP];
    let ctx = Ctx::new(1);
    let mut accepted = 0;
    let mut full = None;
    while accepted < CAP {
        cbs[accepted] = poll_iocb(&r, POLLIN, TOKEN | accepted as u64);
        match submit_one(&ctx, &mut cbs[accepted]) {
            Ok(1) => accepted += 1,
            Err(e) => {
                full = Some(e);
                break;
            }
            Ok(n) => panic!("io_submit of one request returned {n}"),
        }
    }
    assert_eq!(
        full,
        Some(Errno::AGAIN),
        "EAGAIN after {accepted} requests in flight"
    );
    assert!(accepted >= 1, "a context for 1 request took none");
    let nr = rawaio_nr(&ctx);
    assert!(
        accepted < nr as usize,
        "{accepted} in flight in a ring of {nr}"
    );
    assert_no_event(&ctx);

    // Cancel them all and reap the cancelled completions, so that destroy has nothing
    // to wait for.
    for cb in &mut cbs[..accepted] {
        assert_eq!(cancel(ctx.id(), cb), Err(Errno::INPROGRESS));
    }
    let events = reap(&ctx, accepted);
    let mut seen = vec![false; accepted];
    for ev in events {
        assert_eq!(ev.res, 0, "cancelled poll");
        let k = (ev.data & 0xffff_ffff) as usize;
        assert_eq!(ev.data, TOKEN | k as u64);
        assert_eq!(ev.obj, obj_of(&cbs[k]));
        assert!(!std::mem::replace(&mut seen[k], true), "event {k} twice");
    }
    assert_no_event(&ctx);

    // The slots are free again.
    pipe_write_byte(&w);
    cbs[0] = poll_iocb(&r, POLLIN, TOKEN | 0xabc);
    assert_eq!(submit_and_reap(&ctx, &mut cbs[0]).data, TOKEN | 0xabc);
}

/// The ring's slot count.
fn rawaio_nr(ctx: &Ctx) -> u32 {
    // SAFETY: the context is live, so its ring header is mapped at the handle.
    unsafe { std::ptr::read_volatile(ctx.ring()) }.nr
}

#[test]
fn partial_submission_reports_only_the_first_error() {
    let f = scratch_file("partial");
    let hello = *b"hello";
    let world = *b"world";
    let ctx = Ctx::new(4);

    // [good, bad fd]: 1 accepted, the bad one's EBADF dropped.
    let mut good = rw_iocb(IOCB_CMD_PWRITE, f.fd(), hello.as_ptr(), 5, 0, TOKEN | 1);
    let mut bad = rw_iocb(IOCB_CMD_PWRITE, u32::MAX, world.as_ptr(), 5, 0, TOKEN | 2);
    let mut list = [&mut good as *mut iocb, &mut bad as *mut iocb];
    assert_eq!(submit(&ctx, &mut list), Ok(1));
    let ev = reap_one(&ctx);
    assert_eq!((ev.data, ev.res), (TOKEN | 1, 5));
    assert_eq!(ev.obj, obj_of(&good));
    assert_no_event(&ctx);
    // Resubmitted alone, the bad one tells its error.
    expect_submit_err(&ctx, &mut bad, Errno::BADF, "the rest, resubmitted");

    // [bad, good]: the first one's error, and nothing submitted.
    let mut good = rw_iocb(IOCB_CMD_PWRITE, f.fd(), world.as_ptr(), 5, 100, TOKEN | 3);
    let mut list = [&mut bad as *mut iocb, &mut good as *mut iocb];
    assert_eq!(submit(&ctx, &mut list), Err(Errno::BADF));
    assert_no_event(&ctx);
    assert_eq!(
        f.file.metadata().unwrap().len(),
        5,
        "the good request after the bad one did not run"
    );
    let mut content = [0u8; 5];
    f.file.read_exact_at(&mut content, 0).unwrap();
    assert_eq!(&content, b"hello");
}

#[test]
fn misaligned_o_direct_is_einval() {
    let (dir, is_ext4) = ext4_dir();
    let Some(f) = TempFile::create_direct(&dir, "misaligned") else {
        return;
    };
    let fs = fs_name(fs_type(&dir));
    let mut buf = AlignedBuf::filled(2 * BLOCK, |i| i as u8);
    let ctx = Ctx::new(2);
    // A block on disk to read back.
    let mut w = rw_iocb(IOCB_CMD_PWRITE, f.fd(), buf.as_ptr(), BLOCK, 0, TOKEN);
    assert_eq!(submit_and_reap(&ctx, &mut w).res, BLOCK as i64);

    // SAFETY: 1 < 2 * BLOCK: the pointer stays inside `buf`.
    let odd = unsafe { buf.as_mut_ptr().add(1) };
    let cases = [
        ("PWRITE, buffer + 1", IOCB_CMD_PWRITE, odd, BLOCK, 0),
        ("PREAD, buffer + 1", IOCB_CMD_PREAD, odd, BLOCK, 0),
        (
            "PREAD, offset 1",
            IOCB_CMD_PREAD,
            buf.as_mut_ptr(),
            BLOCK,
            1,
        ),
        ("PREAD, length 1", IOCB_CMD_PREAD, buf.as_mut_ptr(), 1, 0),
    ];
    for (what, op, ptr, len, off) in cases {
        let mut cb = rw_iocb(op, f.fd(), ptr, len, off, TOKEN | 9);
        match submit_one(&ctx, &mut cb) {
            Err(e) => assert_eq!(e, Errno::INVAL, "{what} on {fs}: submit"),
            Ok(n) => {
                assert_eq!(n, 1);
                let ev = reap_one(&ctx);
                assert_eq!(ev.data, TOKEN | 9);
                if is_ext4 {
                    assert_eq!(ev.res, -(Errno::INVAL.raw_os_error() as i64), "{what}");
                } else {
                    // Some file systems take misaligned direct I/O.
                    assert!(
                        ev.res == -(Errno::INVAL.raw_os_error() as i64) || ev.res == len as i64,
                        "{what} on {fs}: res {}",
                        ev.res
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// io_getevents

#[test]
fn getevents_bad_arguments_are_einval() {
    let ctx = Ctx::new(2);
    let z = Some(Duration::ZERO);
    assert_eq!(
        getevents(ctx.id(), -1, 1, z),
        Err(Errno::INVAL),
        "min_nr < 0"
    );
    assert_eq!(
        getevents(ctx.id(), 2, 1, z),
        Err(Errno::INVAL),
        "min_nr > nr"
    );
    let mut ev = [io_event::default(); 1];
    let ts = __kernel_old_timespec::default();
    // SAFETY: nothing is written with a negative nr; `ts` is live.
    let r = unsafe { sys::io_getevents(ctx.id(), 0, -1, ev.as_mut_ptr(), &ts) };
    assert_eq!(r, Err(Errno::INVAL), "nr < 0");
    for bad in [BAD_CTX, 0] {
        assert_eq!(getevents(bad, 0, 1, z), Err(Errno::INVAL), "ctx {bad}");
    }
}

#[test]
fn getevents_bad_pointers() {
    let ctx = Ctx::new(1);
    let mut ev = [io_event::default(); 1];
    // SAFETY: the kernel reads the timeout first and faults on it.
    let r = unsafe {
        sys::io_getevents(
            ctx.id(),
            0,
            1,
            ev.as_mut_ptr(),
            BAD_ADDR as *const __kernel_old_timespec,
        )
    };
    assert_eq!(r, Err(Errno::FAULT), "unreadable timeout");
    // The events array is only written when there are events: on an empty ring a bad
    // one goes unnoticed.
    let ts = __kernel_old_timespec::default();
    // SAFETY: the ring is empty, so the kernel writes nothing to the bad address.
    let r = unsafe { sys::io_getevents(ctx.id(), 0, 1, BAD_ADDR as *mut io_event, &ts) };
    assert_eq!(r, Ok(0), "bad events array, empty ring");
}

#[test]
fn getevents_zero_timeout_polls_once() {
    let ctx = Ctx::new(1);
    let start = Instant::now();
    assert_eq!(getevents(ctx.id(), 1, 1, Some(Duration::ZERO)), Ok(vec![]));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "zero timeout took {:?}",
        start.elapsed()
    );
}

#[test]
fn getevents_short_timeout_expires() {
    let ctx = Ctx::new(1);
    let start = Instant::now();
    assert_eq!(
        getevents(ctx.id(), 1, 1, Some(Duration::from_millis(50))),
        Ok(vec![])
    );
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(40),
        "returned after {elapsed:?}"
    );
}

#[test]
fn getevents_timeout_is_not_validated() {
    // tv_nsec of a whole second is not EINVAL: it waits that long.
    let ctx = Ctx::new(1);
    let mut ev = [io_event::default(); 1];
    let ts = __kernel_old_timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    let start = Instant::now();
    // SAFETY: `ev` has room for 1 event; `ts` is live.
    let r = unsafe { sys::io_getevents(ctx.id(), 1, 1, ev.as_mut_ptr(), &ts) };
    assert_eq!(r, Ok(0));
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn getevents_is_interrupted_by_a_signal() {
    for (what, timeout) in [
        ("no timeout", None),
        ("a long timeout", Some(Duration::from_secs(10))),
    ] {
        let ctx = Ctx::new(1);
        let id = ctx.id();
        let delay = Duration::from_millis(50);
        let out = interrupt(delay, move || getevents(id, 1, 1, timeout));
        assert_eq!(out.result, Err(Errno::INTR), "{what}");
        assert!(out.hits >= 1, "the handler ran");
        assert!(out.elapsed >= delay, "{what}: {:?}", out.elapsed);
    }
}

#[test]
fn negative_timeouts_wait_until_interrupted() {
    // A negative timeout is not an error and does not expire: it waits for ever, so the
    // call still waits when the first signal comes (`interrupt` sends none before
    // `delay` has passed on the calling thread's own clock).
    let delay = Duration::from_millis(150);
    for (sec, nsec) in [(-1isize, 0isize), (0, -1), (-1, -1)] {
        let ctx = Ctx::new(1);
        let id = ctx.id();
        let out = interrupt(delay, move || {
            let mut ev = [io_event::default(); 1];
            let ts = __kernel_old_timespec {
                tv_sec: sec,
                tv_nsec: nsec,
            };
            // SAFETY: `ev` has room for 1 event; `ts` is live.
            unsafe { sys::io_getevents(id, 1, 1, ev.as_mut_ptr(), &ts) }
        });
        assert_eq!(out.result, Err(Errno::INTR), "timeout {{{sec}, {nsec}}}");
        assert!(out.hits >= 1, "the handler ran");
        assert!(
            out.elapsed >= delay,
            "timeout {{{sec}, {nsec}}} returned after {:?}",
            out.elapsed
        );
    }
}

// ---------------------------------------------------------------------------------------
// io_pgetevents

#[test]
fn pgetevents_bad_arguments_are_einval() {
    let ctx = Ctx::new(2);
    if !has_pgetevents(&ctx) {
        return;
    }
    let mut ev = [io_event::default(); 2];
    let z = Some(Duration::ZERO);
    assert_eq!(
        pgetevents(ctx.id(), -1, 1, &mut ev, z, None),
        Err(Errno::INVAL)
    );
    assert_eq!(
        pgetevents(ctx.id(), 2, 1, &mut ev, z, None),
        Err(Errno::INVAL)
    );
    assert_eq!(
        pgetevents(ctx.id(), 0, -1, &mut ev, z, None),
        Err(Errno::INVAL)
    );
    assert_eq!(
        pgetevents(BAD_CTX, 0, 1, &mut ev, z, None),
        Err(Errno::INVAL)
    );

    let set = kernel_sigset_t::EMPTY;
    for size in [0, 4, KERNEL_SIGSET_SIZE + 8, 128] {
        let usig = __aio_sigset {
            sigmask: &set,
            sigsetsize: size,
        };
        assert_eq!(
            pgetevents(ctx.id(), 0, 1, &mut ev, z, Some(&usig)),
            Err(Errno::INVAL),
            "sigsetsize {size}"
        );
    }
    // The right size, and a null mask with any size, are fine.
    let usig = __aio_sigset {
        sigmask: &set,
        sigsetsize: KERNEL_SIGSET_SIZE,
    };
    assert_eq!(pgetevents(ctx.id(), 0, 1, &mut ev, z, Some(&usig)), Ok(0));
    let usig = __aio_sigset {
        sigmask: std::ptr::null(),
        sigsetsize: KERNEL_SIGSET_SIZE + 8,
    };
    assert_eq!(
        pgetevents(ctx.id(), 0, 1, &mut ev, z, Some(&usig)),
        Ok(0),
        "the size is only checked with a mask"
    );
    assert_eq!(
        pgetevents(ctx.id(), 0, 1, &mut ev, z, Some(&__aio_sigset::default())),
        Ok(0)
    );

    // SAFETY: the kernel faults on the unreadable __aio_sigset and reports EFAULT.
    let r = unsafe {
        sys::io_pgetevents(
            ctx.id(),
            0,
            1,
            ev.as_mut_ptr(),
            &ts64(Duration::ZERO),
            BAD_ADDR as *const __aio_sigset,
        )
    };
    assert_eq!(r, Err(Errno::FAULT), "unreadable usig");
}

#[test]
fn pgetevents_reaps() {
    let (r, w) = pipe();
    let ctx = Ctx::new(2);
    if !has_pgetevents(&ctx) {
        return;
    }
    let mut ev = [io_event::default(); 2];
    let set = kernel_sigset_t::EMPTY;
    let empty_mask = __aio_sigset {
        sigmask: &set,
        sigsetsize: KERNEL_SIGSET_SIZE,
    };
    for (k, usig) in [None, Some(&empty_mask)].into_iter().enumerate() {
        let mut cb = poll_iocb(&r, POLLIN, TOKEN | k as u64);
        assert_eq!(submit_one(&ctx, &mut cb), Ok(1));
        assert_eq!(
            pgetevents(ctx.id(), 0, 2, &mut ev, Some(Duration::ZERO), usig),
            Ok(0)
        );
        pipe_write_byte(&w);
        assert_eq!(
            pgetevents(ctx.id(), 1, 2, &mut ev, Some(TIMEOUT), usig),
            Ok(1)
        );
        assert_eq!(ev[0].data, TOKEN | k as u64);
        assert_eq!(ev[0].obj, obj_of(&cb));
        assert_ne!(ev[0].res as u64 & POLLIN, 0);
        // Drain the pipe, so that the next poll waits.
        let mut byte = [0u8; 1];
        assert_eq!(rustix::io::read(&r, &mut byte), Ok(1));
    }
    // A short timeout expires.
    let start = Instant::now();
    assert_eq!(
        pgetevents(
            ctx.id(),
            1,
            1,
            &mut ev,
            Some(Duration::from_millis(50)),
            None
        ),
        Ok(0)
    );
    assert!(start.elapsed() >= Duration::from_millis(40));
}

#[cfg(target_pointer_width = "32")]
#[test]
fn pgetevents_time32_reaps() {
    let (r, w) = pipe();
    pipe_write_byte(&w);
    let ctx = Ctx::new(1);
    let mut cb = poll_iocb(&r, POLLIN, TOKEN | 0x32);
    assert_eq!(submit_one(&ctx, &mut cb), Ok(1));
    let mut ev = [io_event::default(); 1];
    let ts = common::old_ts(TIMEOUT);
    // SAFETY: `ev` has room for 1 event; `ts` is live; no signal mask.
    let r = unsafe {
        sys::io_pgetevents_time32(ctx.id(), 1, 1, ev.as_mut_ptr(), &ts, std::ptr::null())
    };
    if r == Err(Errno::NOSYS) {
        eprintln!("skipped: this kernel has no time32 io_pgetevents (ENOSYS)");
        return;
    }
    assert_eq!(r, Ok(1));
    assert_eq!(ev[0].data, TOKEN | 0x32);
}

#[test]
fn pgetevents_mask_decides_whether_a_signal_interrupts() {
    let ctx = Ctx::new(1);
    if !has_pgetevents(&ctx) {
        return;
    }
    let id = ctx.id();

    // Blocked for the duration of the call: the signals wait, and the call times out.
    let out = interrupt(Duration::ZERO, move || {
        let mut set = kernel_sigset_t::EMPTY;
        assert!(set.insert(SIG as u32));
        let usig = __aio_sigset {
            sigmask: &set,
            sigsetsize: KERNEL_SIGSET_SIZE,
        };
        let mut ev = [io_event::default(); 1];
        pgetevents(
            id,
            1,
            1,
            &mut ev,
            Some(Duration::from_millis(300)),
            Some(&usig),
        )
    });
    assert_eq!(out.result, Ok(0), "a blocked signal does not interrupt");
    assert!(
        out.elapsed >= Duration::from_millis(250),
        "{:?}",
        out.elapsed
    );
    assert!(
        out.hits >= 1,
        "the signals were delivered once the mask was lifted"
    );

    // Not blocked (an empty mask): interrupted.
    let out = interrupt(Duration::from_millis(50), move || {
        let set = kernel_sigset_t::EMPTY;
        let usig = __aio_sigset {
            sigmask: &set,
            sigsetsize: KERNEL_SIGSET_SIZE,
        };
        let mut ev = [io_event::default(); 1];
        pgetevents(
            id,
            1,
            1,
            &mut ev,
            Some(Duration::from_secs(10)),
            Some(&usig),
        )
    });
    assert_eq!(
        out.result,
        Err(Errno::INTR),
        "an unblocked signal interrupts"
    );
    assert!(out.hits >= 1);

    // No mask at all: the thread's own mask (SIG unblocked) applies.
    let out = interrupt(Duration::from_millis(50), move || {
        let mut ev = [io_event::default(); 1];
        pgetevents(id, 1, 1, &mut ev, Some(Duration::from_secs(10)), None)
    });
    assert_eq!(out.result, Err(Errno::INTR), "no mask: interrupted");
}

// ---------------------------------------------------------------------------------------
// io_cancel

#[test]
fn cancel_errors() {
    let f = scratch_file("cancel");
    let data = *b"data";
    let (r, _w) = pipe();
    let ctx = Ctx::new(2);

    // Finished file I/O cannot be cancelled.
    let mut cb = rw_iocb(IOCB_CMD_PWRITE, f.fd(), data.as_ptr(), 4, 0, TOKEN | 1);
    assert_eq!(submit_and_reap(&ctx, &mut cb).res, 4);
    assert_eq!(cancel(ctx.id(), &mut cb), Err(Errno::INVAL), "finished");

    // The kernel reads the iocb's key first.
    assert_eq!(
        cancel(ctx.id(), BAD_ADDR as *mut iocb),
        Err(Errno::FAULT),
        "unreadable iocb"
    );

    // A pending poll: not with a bad context, not with a wrong key, not through another
    // copy of the iocb (the address is what identifies it), but yes as submitted.
    let mut poll = poll_iocb(&r, POLLIN, TOKEN | 2);
    assert_eq!(submit_one(&ctx, &mut poll), Ok(1));
    assert_eq!(cancel(BAD_CTX, &mut poll), Err(Errno::INVAL), "bad ctx");
    let mut copy = poll;
    assert_eq!(cancel(ctx.id(), &mut copy), Err(Errno::INVAL), "a copy");
    poll.aio_key = 1;
    assert_eq!(cancel(ctx.id(), &mut poll), Err(Errno::INVAL), "aio_key 1");
    poll.aio_key = 0;
    assert_no_event(&ctx);
    assert_eq!(cancel(ctx.id(), &mut poll), Err(Errno::INPROGRESS));
    let ev = reap_one(&ctx);
    assert_eq!((ev.data, ev.res, ev.res2), (TOKEN | 2, 0, 0));
    assert_eq!(ev.obj, obj_of(&poll));
    assert_eq!(cancel(ctx.id(), &mut poll), Err(Errno::INVAL), "twice");
}

// ---------------------------------------------------------------------------------------
// io_destroy

#[test]
fn destroy_bad_contexts_are_einval() {
    // (A destroyed context, a second destroy, destroy with requests in flight: see
    // sys_dead_context.rs, whose tests do not run beside others.)
    assert_eq!(destroy(BAD_CTX), Err(Errno::INVAL));
    assert_eq!(destroy(0), Err(Errno::INVAL));
    assert_eq!(destroy(usize::MAX), Err(Errno::INVAL));
}

// ---------------------------------------------------------------------------------------
// fork

#[test]
fn forked_child_cannot_use_the_context() {
    let (r, w) = pipe();
    pipe_write_byte(&w);
    let ctx = Ctx::new(2);
    let id = ctx.id();
    let mut cb = poll_iocb(&r, POLLIN, TOKEN | 4);
    let mut list = [&mut cb as *mut iocb];
    let mut ev = [io_event::default(); 1];
    let ts = __kernel_old_timespec::default();

    // SAFETY: the child only issues raw system calls and reads memory prepared before
    // the fork, then leaves with _exit: no allocation, no lock, no destructor.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let mut code = 0;
        // SAFETY: `list` holds a live iocb, `ev` room for one event, `ts` is live.
        unsafe {
            if sys::io_submit(id, 1, list.as_mut_ptr()) != Err(Errno::INVAL) {
                code |= 1;
            }
            if sys::io_getevents(id, 0, 1, ev.as_mut_ptr(), &ts) != Err(Errno::INVAL) {
                code |= 2;
            }
            if sys::io_destroy(id) != Err(Errno::INVAL) {
                code |= 4;
            }
            // The ring mapping itself was inherited.
            if std::ptr::read_volatile(id as *const rawaio::abi::aio_ring).magic
                != rawaio::abi::AIO_RING_MAGIC
            {
                code |= 8;
            }
            libc::_exit(code);
        }
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is writable.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    let code = libc::WEXITSTATUS(status);
    assert_eq!(
        code, 0,
        "child: bit 1 io_submit, 2 io_getevents, 4 io_destroy did not give EINVAL, \
         8 ring not readable"
    );

    // The parent's context is untouched.
    let ev = submit_and_reap(&ctx, &mut cb);
    assert_ne!(ev.res as u64 & POLLIN, 0);
}
