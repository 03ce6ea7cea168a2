//! `Context::exclusive`: the lock-free calls of a context held by `&mut`, against the
//! real kernel. They must deliver exactly what the shared calls deliver, keep the same
//! count of requests in flight (the two kinds of call take turns on one context), and
//! refuse, hand back and time out the same way.

mod support;

use rawaio::{Context, Errno, Error, InvalidOp, Op, Options, PollFlags, RwfFlags};
use std::collections::VecDeque;
use std::time::Duration;
use support::{Fs, TIMEOUT, TempFile, Watchdog, pattern, pipe, write_byte};

const LEN: usize = 4096;

#[test]
fn reads_and_writes_come_back_whole_through_either_kind_of_call() {
    let data = pattern(1, 8 * LEN);
    let file = TempFile::new(Fs::Disk, "excl-rw", &data);
    let f = file.open_rw();
    for user_space_reaping in [true, false] {
        let mut ctx = Context::<Vec<u8>>::with_options(
            8,
            Options {
                user_space_reaping,
                ..Options::default()
            },
        )
        .unwrap();
        let mut done = Vec::new();
        {
            let mut x = ctx.exclusive();
            let mut tokens = Vec::new();
            for i in 0..4u64 {
                let op = Op::read(&f, vec![0u8; LEN], i * LEN as u64).user_data(i);
                tokens.push(x.submit(op).unwrap());
            }
            // The shared calls, through `Deref`, see what the exclusive ones did.
            assert_eq!(x.in_flight(), 4);
            assert_eq!(x.reap(4, 8, Some(TIMEOUT), &mut done), Ok(4));
            assert_eq!(x.in_flight(), 0);
            done.sort_by_key(|c| c.user_data());
            for (i, c) in done.drain(..).enumerate() {
                assert_eq!(c.token(), tokens[i]);
                assert_eq!(c.result(), Ok(LEN as u64));
                assert_eq!(c.into_buf().unwrap(), data[i * LEN..(i + 1) * LEN]);
            }
            // A batch of writes, exclusive; reaped below by the shared call.
            let mut ops: VecDeque<_> = (4..8u64)
                .map(|i| Op::write(&f, pattern(100 + i, LEN), i * LEN as u64).user_data(i))
                .collect();
            let s = x.submit_batch(&mut ops, &mut tokens);
            assert_eq!((s.accepted, s.error), (4, None));
            assert!(ops.is_empty());
        }
        assert_eq!(ctx.in_flight(), 4, "reaping {user_space_reaping}");
        assert_eq!(ctx.reap(4, 8, Some(TIMEOUT), &mut done), Ok(4));
        assert!(done.iter().all(|c| c.result() == Ok(LEN as u64)));
        done.clear();
        assert_eq!(ctx.in_flight(), 0);
        let back = file.contents();
        for i in 4..8 {
            assert_eq!(back[i * LEN..(i + 1) * LEN], pattern(100 + i as u64, LEN));
        }
        // Shared submission, exclusive reaping.
        ctx.submit(Op::read(&f, vec![0u8; LEN], 0)).unwrap();
        let mut x = ctx.exclusive();
        assert_eq!(x.reap(1, 1, Some(TIMEOUT), &mut done), Ok(1));
        assert_eq!(done.pop().unwrap().into_buf().unwrap(), data[..LEN]);
        assert_eq!(x.in_flight(), 0);
    }
}

#[test]
fn a_wait_for_more_than_is_in_flight_returns_what_there_is() {
    // The count the exclusive calls keep caps `min`: no hang for the request that was
    // never submitted.
    let _watchdog = Watchdog::new(TIMEOUT * 2, "an exclusive reap waited for nothing");
    let file = TempFile::new(Fs::Disk, "excl-min", &pattern(2, LEN));
    let f = file.open_ro();
    let mut ctx = Context::<Vec<u8>>::new(4).unwrap();
    let mut x = ctx.exclusive();
    let mut done = Vec::new();
    x.submit(Op::read(&f, vec![0u8; LEN], 0)).unwrap();
    assert_eq!(x.reap(3, 4, None, &mut done), Ok(1));
    assert_eq!(x.reap(1, 4, None, &mut done), Ok(0), "nothing in flight");
    assert_eq!(x.reap_ready(&mut done), Ok(0));
    assert_eq!(done.len(), 1);
}

#[test]
fn reap_ready_and_timeouts_never_wait_for_ever() {
    let (r, w) = pipe();
    let mut ctx = Context::<Vec<u8>>::new(4).unwrap();
    let mut x = ctx.exclusive();
    let mut done = Vec::new();
    // A poll (a read of an empty pipe would block inside `io_submit`).
    let token = x.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    assert_eq!(x.reap_ready(&mut done), Ok(0));
    assert_eq!(
        x.reap(1, 4, Some(Duration::from_millis(20)), &mut done),
        Ok(0),
        "the pipe is empty: the timeout ends the wait"
    );
    write_byte(&w);
    assert_eq!(x.reap(1, 4, Some(TIMEOUT), &mut done), Ok(1));
    assert_eq!(done[0].token(), token);
    let revents = done[0].result().expect("poll result");
    assert_ne!(revents & u64::from(PollFlags::IN.bits()), 0, "{revents:#x}");
}

#[test]
fn refused_requests_come_back_with_their_buffers() {
    let file = TempFile::new(Fs::Disk, "excl-refused", &pattern(3, LEN));
    let f = file.open_ro();
    let mut ctx = Context::<Vec<u8>>::new(2).unwrap();
    let ring = ctx.ring_size() as usize;
    let mut x = ctx.exclusive();
    // Our own check: flags on a request without a buffer.
    let rejected = x
        .submit(Op::fsync(&f).rw_flags(RwfFlags::NOWAIT))
        .unwrap_err();
    assert!(
        matches!(rejected.error, Error::Invalid(InvalidOp::FlagsNotAllowed)),
        "{:?}",
        rejected.error
    );
    // The kernel's: a read of a descriptor opened for writing only.
    let wo = std::fs::OpenOptions::new()
        .write(true)
        .open(file.path())
        .unwrap();
    let rejected = x.submit(Op::read(&wo, vec![7u8; 16], 0)).unwrap_err();
    assert_eq!(rejected.error, Error::Os(Errno::BADF));
    assert_eq!(rejected.op.into_bufs(), [vec![7u8; 16]]);
    assert_eq!(x.in_flight(), 0, "nothing was counted for them");
    // More than the ring holds: the kernel takes what fits, the rest stays queued with
    // its buffers, and the count matches what was taken.
    let mut ops: VecDeque<_> = (0..ring + 3)
        .map(|i| Op::read(&f, vec![i as u8; 8], 0))
        .collect();
    let mut tokens = Vec::new();
    let s = x.submit_batch(&mut ops, &mut tokens);
    assert!(s.accepted >= 2 && s.accepted < ring + 3, "{s:?}");
    assert_eq!(s.error, Some(Error::Os(Errno::AGAIN)));
    assert_eq!(tokens.len(), s.accepted);
    assert_eq!(ops.len(), ring + 3 - s.accepted);
    assert_eq!(x.in_flight(), s.accepted);
    let mut done = Vec::new();
    assert_eq!(
        x.reap(s.accepted, ring, Some(TIMEOUT), &mut done),
        Ok(s.accepted)
    );
    for (i, op) in ops.into_iter().enumerate() {
        assert_eq!(op.into_bufs(), [vec![(s.accepted + i) as u8; 8]]);
    }
}

#[test]
fn a_context_used_by_other_threads_then_held_exclusively_agrees_with_them() {
    let data = pattern(4, 4 * LEN);
    let file = TempFile::new(Fs::Disk, "excl-threads", &data);
    let mut ctx = Context::<Vec<u8>>::new(16).unwrap();
    for round in 0..20u64 {
        // Two threads submit through `&Context`; the joins order their writes before
        // the exclusive calls below.
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let (ctx, file) = (&ctx, &file);
                s.spawn(move || {
                    let f = file.open_ro();
                    for i in 0..2u64 {
                        let k = t * 2 + i;
                        let op = Op::read(&f, vec![0u8; LEN], k * LEN as u64).user_data(k);
                        ctx.submit(op).unwrap();
                    }
                });
            }
        });
        let mut x = ctx.exclusive();
        assert_eq!(x.in_flight(), 4, "round {round}");
        let mut done = Vec::new();
        assert_eq!(x.reap(4, 16, Some(TIMEOUT), &mut done), Ok(4));
        assert_eq!(x.reap(1, 16, None, &mut done), Ok(0), "round {round}");
        for c in done {
            let k = c.user_data() as usize;
            assert_eq!(c.into_buf().unwrap(), data[k * LEN..(k + 1) * LEN]);
        }
    }
}
