//! Fault: a bad file descriptor in the middle of a batch (`EBADF`).
//!
//! Expected outcome: the kernel accepts the requests before the bad one and stops there;
//! `submit_batch` reports exactly those as accepted and `EBADF` as its error; the bad
//! request is left at the front of the queue, followed by the rest in order, all with
//! their buffers; the accepted ones complete exactly once; once the bad request is
//! removed, the rest go through. The bad descriptor is open in the wrong mode (a write
//! through a read-only descriptor, a read through a write-only one). A descriptor closed
//! between building a request and submitting it cannot be expressed in safe code any
//! more: a request borrows (or owns) its descriptor until submission, which the
//! `compile_fail` example of `rawaio::IntoTarget` proves.

mod support;

use rawaio::{Context, Errno, Error, Op, Submitted};
use std::collections::VecDeque;
use std::fs::File;
use support::{Fs, TempFile, reap_n};

fn batch_with_bad_request_at(ctx: &Context<Vec<u8>>, good: &File, bad: Op<'_, Vec<u8>>, at: usize) {
    const N: usize = 10;
    let mut bad = Some(bad.user_data(999));
    let mut ops: VecDeque<Op<'_, Vec<u8>>> = (0..N)
        .map(|i| match i == at {
            true => bad.take().unwrap(),
            false => Op::write(good, vec![i as u8; 64], i as u64 * 64).user_data(i as u64),
        })
        .collect();
    let mut tokens = Vec::new();
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!(
        s,
        Submitted {
            accepted: at,
            error: Some(Error::Os(Errno::BADF))
        }
    );
    assert_eq!(tokens.len(), at);
    assert_eq!(
        ops.len(),
        N - at,
        "the bad request and the rest stay queued"
    );
    let bad = ops.pop_front().unwrap();
    assert_eq!(bad.get_user_data(), 999, "the bad request is at the front");
    assert_eq!(bad.into_bufs(), vec![vec![0xbd; 64]], "with its buffer");
    let rest: Vec<u64> = ops.iter().map(Op::get_user_data).collect();
    assert_eq!(
        rest,
        (at as u64 + 1..N as u64).collect::<Vec<_>>(),
        "in order"
    );

    // The accepted ones complete exactly once.
    let mut done = Vec::new();
    reap_n(ctx, at, &mut done);
    let mut got: Vec<u64> = done.iter().map(|c| c.user_data()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..at as u64).collect::<Vec<_>>());
    assert!(done.iter().all(|c| c.result() == Ok(64)));

    // Without the bad one, the rest go through.
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!(
        s,
        Submitted {
            accepted: N - at - 1,
            error: None
        }
    );
    done.clear();
    reap_n(ctx, N - at - 1, &mut done);
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn ebadf_in_the_middle_of_a_batch() {
    let file = TempFile::new(Fs::Tmpfs, "fault-ebadf", &[]);
    let good = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(16).unwrap();

    // Open, but read-only: a write through it is EBADF.
    let readonly = file.open_ro();
    batch_with_bad_request_at(&ctx, &good, Op::write(&readonly, vec![0xbd; 64], 0), 4);

    // The first of a batch: nothing accepted.
    batch_with_bad_request_at(&ctx, &good, Op::write(&readonly, vec![0xbd; 64], 0), 0);
    batch_with_bad_request_at(&ctx, &good, Op::write(&readonly, vec![0xbd; 64], 0), 7);

    // Alone, through `submit`: a read through a write-only descriptor, refused with the
    // buffer back.
    let writeonly = std::fs::OpenOptions::new()
        .write(true)
        .open(file.path())
        .unwrap();
    let op = Op::read(&writeonly, vec![0xbd; 64], 0);
    let rejected = ctx.submit(op).unwrap_err();
    assert_eq!(rejected.error, Error::Os(Errno::BADF));
    assert_eq!(rejected.op.into_bufs(), vec![vec![0xbd; 64]]);
    assert_eq!(ctx.in_flight(), 0);
}
