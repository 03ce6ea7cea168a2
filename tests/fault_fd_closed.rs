//! Fault: the file descriptor is closed while its request is in flight.
//!
//! Expected outcome: nothing changes for the request. The kernel took its own reference
//! to the file at submission, so:
//! - `O_DIRECT` writes on disk whose descriptor was closed right after submission all
//!   complete with their full length, and the data is on file;
//! - a poll on a pipe whose read end was closed (by us: the request still holds it)
//!   completes with `POLLIN` once the pipe is written;
//! - a poll whose descriptor was closed can still be cancelled (result 0);
//!
//! (A request whose descriptor was closed *before* submission is refused with `EBADF`:
//! `fault_ebadf.rs`, alone in its binary so that no other test reuses the number.)

mod support;

use rawaio::{AlignedBuf, Context, Op, PollFlags};
use std::collections::VecDeque;
use std::time::Duration;
use support::{
    Fs, TempFile, aligned_with, assert_nothing_within, pattern, pipe, reap_n, reap_one, write_byte,
};

const POLLIN: u64 = 0x1;

#[test]
fn direct_writes_complete_after_their_descriptor_is_closed() {
    const N: usize = 32;
    const LEN: usize = 64 * 1024;
    // Written and synced in full first, so the direct writes are overwrites, which ext4
    // runs asynchronously (still in flight when the descriptor goes).
    let file = TempFile::new(Fs::Disk, "fault-fd-closed", &vec![0u8; N * LEN]);
    file.open_rw().sync_all().unwrap();
    let ctx = Context::<AlignedBuf>::new(64).unwrap();
    let f = file.open_direct();
    let mut ops: VecDeque<Op<AlignedBuf>> = (0..N)
        .map(|i| Op::write(&f, aligned_with(&pattern(i as u64, LEN)), (i * LEN) as u64))
        .collect();
    let mut tokens = Vec::new();
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!((s.accepted, s.error), (N, None));
    let unreaped = ctx.in_flight();
    drop(f);
    let mut done = Vec::new();
    reap_n(&ctx, N, &mut done);
    eprintln!("closed the descriptor with {unreaped} writes unreaped; all completed");
    assert!(
        done.iter().all(|c| c.result() == Ok(LEN as u64)),
        "{done:?}"
    );
    let contents = file.contents();
    for i in 0..N {
        assert_eq!(
            contents[i * LEN..(i + 1) * LEN],
            pattern(i as u64, LEN)[..],
            "write {i}"
        );
    }
}

#[test]
fn a_poll_outlives_its_closed_descriptor() {
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let (r, w) = pipe();
    let token = ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    drop(r);
    assert_nothing_within(&ctx, Duration::from_millis(20));
    assert!(ctx.is_in_flight(token));
    // The request holds the read end open, so the pipe still has a reader.
    write_byte(&w);
    let c = reap_one(&ctx);
    assert_eq!(c.token(), token);
    assert_ne!(c.result().unwrap() & POLLIN, 0);

    // Closed, then cancelled: the cancellation still reaches the request.
    let (r, _w) = pipe();
    let token = ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    drop(r);
    assert_eq!(ctx.cancel(token), Ok(()));
    let c = reap_one(&ctx);
    assert_eq!((c.token(), c.result()), (token, Ok(0)));
    assert_eq!(ctx.in_flight(), 0);
}
