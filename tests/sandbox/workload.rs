//! The workloads the seccomp tests run under their filters: every entry point of rawaio
//! that needs no signal mask, with checks that each did its job, and the entry points
//! that need one.

#![allow(dead_code)]

use rawaio::abi::{__aio_sigset, __kernel_timespec, KERNEL_SIGSET_SIZE, io_event};
use rawaio::eventfd::EventFd;
use rawaio::{Context, Errno, Op, Options, PollFlags, SigSet, libaio};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

/// The longest any wait may take.
pub const WAIT: Duration = Duration::from_secs(10);
const BLOCK: usize = 4096;

/// A file in /dev/shm (tmpfs), unlinked as soon as it is open (so that nothing needs to
/// remove it later, under a filter).
pub struct Scratch {
    pub file: File,
}

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let path =
            PathBuf::from("/dev/shm").join(format!("rawaio-seccomp-{}-{tag}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("a file in /dev/shm");
        std::fs::remove_file(&path).expect("unlinking the scratch file");
        Self { file }
    }
}

fn block(i: usize) -> Vec<u8> {
    vec![b'a' + (i % 26) as u8; BLOCK]
}

/// Every entry point that needs no signal mask, each checked: contexts with and without
/// user-space reaping and with an eventfd, single and batched submission, backpressure,
/// reaping blocking and not, with and without timeouts, polls woken and cancelled,
/// `wait_all`, `submit_and_wait`, the libaio layer, the probe, and dropping.
pub fn everything_without_a_mask() {
    let scratch = Scratch::new("all");
    let file = &scratch.file;
    for user_space_reaping in [true, false] {
        let ctx: Context = Context::with_options(
            16,
            Options {
                user_space_reaping,
                eventfd: true,
            },
        )
        .expect("Context::with_options");
        // A batch of writes, reaped with a timeout.
        let mut ops: VecDeque<Op<'_, Vec<u8>>> = (0..8)
            .map(|i| Op::write(file, block(i), (i * BLOCK) as u64))
            .collect();
        let mut tokens = Vec::new();
        let s = ctx.submit_batch(&mut ops, &mut tokens);
        assert_eq!((s.accepted, s.error), (8, None));
        let mut done = Vec::new();
        assert_eq!(ctx.reap(8, 8, Some(WAIT), &mut done), Ok(8));
        assert!(done.iter().all(|c| c.result() == Ok(BLOCK as u64)));
        assert_eq!(
            ctx.eventfd().unwrap().read().unwrap(),
            8,
            "one bump per completion"
        );
        // Single reads: reaped blocking without a timeout, then a non-blocking reap finds
        // nothing more.
        done.clear();
        for i in 0..4 {
            ctx.submit(Op::read(file, vec![0; BLOCK], (i * BLOCK) as u64))
                .map_err(|r| r.error)
                .expect("submit");
        }
        let mut got = 0;
        while got < 4 {
            got += ctx
                .reap(1, 4, None, &mut done)
                .expect("reap without a timeout");
        }
        assert_eq!(ctx.reap(0, 4, Some(Duration::ZERO), &mut done), Ok(0));
        assert_eq!(ctx.reap(0, 4, None, &mut done), Ok(0));
        for c in done.drain(..) {
            assert_eq!(c.result(), Ok(BLOCK as u64));
            let buf = c.into_buf().unwrap();
            assert!(buf.iter().all(|&b| b == buf[0]) && buf[0].is_ascii_lowercase());
        }
        // A poll on an eventfd: a timed wait expires, a write wakes it.
        let kick = EventFd::new().expect("EventFd::new");
        let poll = ctx
            .submit(Op::poll(&kick, PollFlags::IN))
            .map_err(|r| r.error)
            .expect("submit poll");
        assert_eq!(
            ctx.reap(1, 1, Some(Duration::from_millis(30)), &mut done),
            Ok(0)
        );
        assert!(ctx.is_in_flight(poll));
        kick.write(1).expect("EventFd::write");
        assert_eq!(ctx.wait_all(&[poll], Some(WAIT), &mut done), Ok(1));
        assert_eq!(
            done.pop().unwrap().result(),
            Ok(PollFlags::IN.bits() as u64)
        );
        // A poll cancelled.
        let (pipe_r, _pipe_w) = rustix::pipe::pipe().unwrap();
        let token = ctx
            .submit(Op::poll(&pipe_r, PollFlags::IN))
            .map_err(|r| r.error)
            .expect("submit poll");
        assert_eq!(ctx.cancel(token), Ok(()));
        assert_eq!(ctx.wait_any(&[token], Some(WAIT), &mut done), Ok(1));
        assert_eq!(done.pop().unwrap().result(), Ok(0));
        // Everything is signalled on the eventfd: 4 reads, 2 polls.
        assert_eq!(ctx.eventfd().unwrap().read().unwrap(), 6);
        assert_eq!(ctx.in_flight(), 0);
        ctx.destroy().expect("Context::destroy");
    }
    // Backpressure: 300 writes through the smallest context, and a LIO_WAIT batch.
    let small: Context = Context::new(1).expect("Context::new");
    let mut ops: VecDeque<Op<'_, Vec<u8>>> = (0..300)
        .map(|i| Op::write(file, block(i), (i % 8 * BLOCK) as u64))
        .collect();
    let (mut tokens, mut done) = (Vec::new(), Vec::new());
    let s = small.submit_all(&mut ops, &mut tokens, &mut done, Some(WAIT));
    assert_eq!((s.accepted, s.error), (300, None));
    assert_eq!(small.wait_all(&tokens, Some(WAIT), &mut done), Ok(300));
    assert_eq!(done.len(), 300);
    let mut ops: VecDeque<Op<'_, Vec<u8>>> = (0..3)
        .map(|i| Op::read(file, vec![0; BLOCK], (i * BLOCK) as u64))
        .collect();
    done.clear();
    let s = small.submit_and_wait(&mut ops, &mut done, Some(WAIT));
    assert_eq!((s.accepted, s.error, done.len()), (3, None, 3));
    drop(small);

    // The libaio layer: getevents with and without a timeout, queue_run.
    let ctx = libaio::queue_init(4).expect("queue_init");
    let mut buf = vec![0u8; BLOCK];
    let mut cb = rawaio::abi::iocb::default();
    libaio::prep_pread(&mut cb, file.as_raw_fd(), buf.as_mut_ptr(), buf.len(), 0);
    let mut events = [io_event::default(); 4];
    // SAFETY: `buf` and `cb` outlive the request, which is reaped before they go.
    unsafe {
        assert_eq!(libaio::submit(ctx, &mut [&mut cb]), Ok(1));
        assert_eq!(libaio::getevents(ctx, 1, &mut events, Some(WAIT)), Ok(1));
        assert_eq!(libaio::submit(ctx, &mut [&mut cb]), Ok(1));
        assert_eq!(libaio::getevents(ctx, 1, &mut events, None), Ok(1));
        assert_eq!(libaio::queue_run(ctx), Ok(0));
        libaio::queue_release(ctx).expect("queue_release");
    }
    // Offset 0 holds one of the backpressure writes: one letter, 4096 times.
    assert!(
        buf.iter().all(|&b| b == buf[0]) && buf[0].is_ascii_lowercase(),
        "read back"
    );

    // The probe, and the alignment query.
    let features = rawaio::probe::probe_kernel().expect("probe_kernel");
    assert!(features.opcodes.pread.is_supported() && features.opcodes.pwrite.is_supported());
    let align = rawaio::direct::dio_align(file).expect("dio_align");
    assert!(align.memory.is_power_of_two());
}

/// A context with one completion waiting, reaped with a signal mask: the call fails with
/// `errno`, unchanged, and the completion is still there for a plain reap.
pub fn the_mask_calls_fail_with(errno: Errno) {
    let scratch = Scratch::new("mask");
    let file = &scratch.file;
    for user_space_reaping in [true, false] {
        let ctx: Context = Context::with_options(
            4,
            Options {
                user_space_reaping,
                eventfd: false,
            },
        )
        .unwrap();
        // A poll nothing wakes stays in flight, so that every reap below has something
        // to wait for (a reap never waits for requests that are not in flight).
        let (pipe_r, _pipe_w) = rustix::pipe::pipe().unwrap();
        let poll = ctx
            .submit(Op::poll(&pipe_r, PollFlags::IN))
            .map_err(|r| r.error)
            .unwrap();
        let token = ctx
            .submit(Op::write(file, block(1), 0))
            .map_err(|r| r.error)
            .unwrap();
        let mut done = Vec::new();
        let mask = SigSet::default();
        // min 2 > ready 1 makes even a user-space reaper wait, so the call is made.
        assert_eq!(
            ctx.reap_with_sigmask(2, 2, Some(Duration::from_millis(10)), &mask, &mut done)
                .map(|_| ()),
            if user_space_reaping {
                Ok(())
            } else {
                Err(errno)
            },
            "reap_with_sigmask (user-space reaping {user_space_reaping})"
        );
        if user_space_reaping {
            // The ready completion came from the ring; the wait for the second failed
            // with `errno` and was reported as the count already reaped.
            assert_eq!(done.len(), 1);
        } else {
            assert!(done.is_empty(), "nothing reaped, nothing lost");
            assert_eq!(ctx.reap(1, 1, Some(WAIT), &mut done), Ok(1));
        }
        assert_eq!(done[0].token(), token);
        // With nothing ready, the error reaches the caller whatever the reaping.
        assert_eq!(
            ctx.reap_with_sigmask(1, 1, Some(Duration::from_millis(10)), &mask, &mut done),
            Err(errno),
            "reap_with_sigmask with nothing ready"
        );
        assert_eq!(ctx.cancel(poll), Ok(()));
        assert_eq!(ctx.reap(1, 1, Some(WAIT), &mut done), Ok(1));
    }
    // The raw calls answer `errno` too.
    let ctx: Context = Context::new(1).unwrap();
    let mut events = [io_event::default(); 1];
    let ts = __kernel_timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000,
    };
    let mask = SigSet::default();
    let usig = __aio_sigset {
        sigmask: &mask,
        sigsetsize: KERNEL_SIGSET_SIZE,
    };
    // SAFETY: room for one event; the timeout and mask outlive the call.
    let raw =
        unsafe { rawaio::sys::io_pgetevents(ctx.raw(), 1, 1, events.as_mut_ptr(), &ts, &usig) };
    assert_eq!(raw, Err(errno), "sys::io_pgetevents");
    #[cfg(target_pointer_width = "32")]
    {
        let old = rawaio::abi::__kernel_old_timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        // SAFETY: as above.
        let raw = unsafe {
            rawaio::sys::io_pgetevents_time32(ctx.raw(), 1, 1, events.as_mut_ptr(), &old, &usig)
        };
        assert_eq!(raw, Err(errno), "sys::io_pgetevents_time32");
    }
}

/// With nothing denied, reaping with a signal mask works (from the ring and through the
/// call).
pub fn the_mask_calls_work() {
    let scratch = Scratch::new("mask-ok");
    for user_space_reaping in [true, false] {
        let ctx: Context = Context::with_options(
            4,
            Options {
                user_space_reaping,
                eventfd: false,
            },
        )
        .unwrap();
        ctx.submit(Op::write(&scratch.file, block(2), 0))
            .map_err(|r| r.error)
            .unwrap();
        let mut done = Vec::new();
        let mask = SigSet::default();
        assert_eq!(
            ctx.reap_with_sigmask(1, 1, Some(WAIT), &mask, &mut done),
            Ok(1)
        );
        assert_eq!(done[0].result(), Ok(BLOCK as u64));
    }
}
