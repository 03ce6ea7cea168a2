//! `io_destroy` and what is left of a context after it: a second destroy, calls on the
//! dead handle, requests in flight and threads waiting on it.
//!
//! Every test here takes [`serial`] first and keeps it: a destroyed context's ring
//! address is free for the next `io_setup` in this process to reuse, and a "dead"
//! handle that another test thread's new context now occupies would be live again. With
//! the tests of this binary run one at a time (and other test binaries being other
//! processes, with their own contexts), a dead handle here stays dead.

mod common;

use common::{
    AlignedBuf, BLOCK, Ctx, POLLIN, TIMEOUT, TempFile, assert_no_event, ext4_dir, getevents,
    pattern, pipe, pipe_write_byte, poll_iocb, rw_iocb, submit, submit_one, ts64,
};
use rawaio::Errno;
use rawaio::abi::{IOCB_CMD_PWRITE, aio_context_t, io_event, iocb};
use rawaio::sys;
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::time::{Duration, Instant};

const TOKEN: u64 = 0xdead_0000_0000_0000;

/// Holds every other test of this binary off while a dead handle is in use.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn destroy(ctx: aio_context_t) -> Result<(), Errno> {
    // SAFETY: the callers own `ctx` (or know it dead), and every buffer of a request on
    // it outlives this call.
    unsafe { sys::io_destroy(ctx) }
}

/// Every call on a dead handle gives EINVAL.
fn assert_dead(id: aio_context_t, cb: &mut iocb) {
    let mut list = [cb as *mut iocb];
    // SAFETY: `list` holds a live iocb; the kernel refuses the context before reading it.
    let r = unsafe { sys::io_submit(id, 1, list.as_mut_ptr()) };
    assert_eq!(r, Err(Errno::INVAL), "io_submit on a dead context");
    // SAFETY: nothing is read with a count of 0.
    let r = unsafe { sys::io_submit(id, 0, std::ptr::null_mut()) };
    assert_eq!(
        r,
        Err(Errno::INVAL),
        "io_submit of nothing on a dead context"
    );
    assert_eq!(
        getevents(id, 0, 1, Some(Duration::ZERO)),
        Err(Errno::INVAL),
        "io_getevents on a dead context"
    );
    let mut ev = [io_event::default(); 1];
    let ts = ts64(Duration::ZERO);
    // SAFETY: `ev` has room for 1 event, `ts` is live, no signal mask.
    let r = unsafe { sys::io_pgetevents(id, 0, 1, ev.as_mut_ptr(), &ts, std::ptr::null()) };
    assert!(
        r == Err(Errno::INVAL) || r == Err(Errno::NOSYS),
        "io_pgetevents on a dead context: {r:?}"
    );
    let mut result = io_event::default();
    // SAFETY: `cb` is a live iocb, `result` a writable event.
    let r = unsafe { sys::io_cancel(id, cb, &mut result) };
    assert_eq!(r, Err(Errno::INVAL), "io_cancel on a dead context");
    assert_eq!(
        destroy(id),
        Err(Errno::INVAL),
        "io_destroy on a dead context"
    );
}

#[test]
fn second_destroy_is_einval() {
    let _serial = serial();
    let id = Ctx::new(1).into_raw();
    assert_eq!(destroy(id), Ok(()));
    assert_eq!(destroy(id), Err(Errno::INVAL), "second destroy");
}

#[test]
fn libaio_calls_on_a_released_queue_are_einval() {
    let _serial = serial();
    let ctx = rawaio::libaio::queue_init(1).expect("queue_init");
    // SAFETY: no request was submitted on `ctx`; it is dead after the first release.
    unsafe {
        assert_eq!(rawaio::libaio::queue_release(ctx), Ok(()));
        assert_eq!(rawaio::libaio::queue_release(ctx), Err(Errno::INVAL));
        assert_eq!(rawaio::libaio::queue_run(ctx), Err(Errno::INVAL));
    }
}

#[test]
fn destroy_drops_unreaped_events() {
    let _serial = serial();
    let (r, w) = pipe();
    pipe_write_byte(&w);
    let mut cb = poll_iocb(&r, POLLIN, TOKEN | 1);
    let ctx = Ctx::new(2);
    assert_eq!(submit_one(&ctx, &mut cb), Ok(1));
    // Completed inside io_submit, never reaped.
    assert_eq!(getevents(ctx.id(), 0, 0, Some(Duration::ZERO)), Ok(vec![]));
    let id = ctx.id();
    assert_eq!(ctx.destroy(), Ok(()));
    assert_dead(id, &mut cb);
}

#[test]
fn destroy_cancels_a_pending_poll() {
    let _serial = serial();
    // Never readable: the poll is in flight until something cancels it.
    let (r, _w) = pipe();
    let mut cb = poll_iocb(&r, POLLIN, TOKEN | 2);
    let ctx = Ctx::new(1);
    assert_eq!(submit_one(&ctx, &mut cb), Ok(1));
    assert_no_event(&ctx);
    let id = ctx.into_raw();
    // io_destroy waits for every request in flight; it cancels the poll first, so it
    // returns. Run in a thread, so that a hang fails the test instead of blocking it.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(destroy(id)).unwrap());
    match rx.recv_timeout(TIMEOUT) {
        Ok(res) => assert_eq!(res, Ok(())),
        Err(_) => panic!("io_destroy with a pending poll did not return in {TIMEOUT:?}"),
    }
    assert_dead(id, &mut cb);
}

#[test]
fn destroy_waits_for_file_io() {
    let _serial = serial();
    let (dir, _) = ext4_dir();
    let Some(f) = TempFile::create_direct(&dir, "destroy-wait") else {
        return;
    };
    const N: usize = 8;
    let len = 64 * BLOCK;
    let bufs: Vec<AlignedBuf> = (0..N)
        .map(|k| AlignedBuf::filled(len, |i| pattern(9, k * len + i)))
        .collect();
    let mut cbs: Vec<iocb> = bufs
        .iter()
        .enumerate()
        .map(|(k, b)| {
            rw_iocb(
                IOCB_CMD_PWRITE,
                f.fd(),
                b.as_ptr(),
                len,
                (k * len) as i64,
                TOKEN | k as u64,
            )
        })
        .collect();
    let ctx = Ctx::new(N as u32);
    let mut list: Vec<*mut iocb> = cbs.iter_mut().map(|c| c as *mut iocb).collect();
    assert_eq!(submit(&ctx, &mut list), Ok(N));
    // Destroyed without reaping: when io_destroy returns, every write has completed.
    let id = ctx.id();
    assert_eq!(ctx.destroy(), Ok(()));
    let mut check = AlignedBuf::new(len);
    for (k, b) in bufs.iter().enumerate() {
        f.file
            .read_exact_at(check.as_mut_slice(), (k * len) as u64)
            .unwrap();
        assert!(check.as_slice() == b.as_slice(), "write {k} complete");
    }
    assert_dead(id, &mut cbs[0]);
}

#[test]
fn destroy_wakes_a_waiter() {
    let _serial = serial();
    let ctx = Ctx::new(1);
    let id = ctx.id();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        ready_tx.send(()).unwrap();
        let start = Instant::now();
        let r = getevents(id, 1, 1, Some(TIMEOUT));
        tx.send((r, start.elapsed())).unwrap();
    });
    ready_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(ctx.destroy(), Ok(()));
    let (r, elapsed) = rx
        .recv_timeout(TIMEOUT + Duration::from_secs(1))
        .expect("the waiter returned");
    assert_eq!(r, Err(Errno::INVAL), "a waiter on a destroyed context");
    assert!(elapsed < TIMEOUT, "woken by destroy, not by its timeout");
}
