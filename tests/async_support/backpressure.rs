//! Backpressure: a context accepts at most its capacity (`requested_size`) at once;
//! `reserve` waits for room, reaping completions for futures nobody polls yet.

use super::join_all;
use crate::support::{Fs, TempFile, aligned_zeroed, pattern};
use rawaio::reactor::Reactor;
use rawaio::{AlignedBuf, AsyncContext, Errno, Op};

/// How many requests one task submits before it awaits any.
const REQUESTS: usize = 10_000;

/// 10,000 reads submitted from one task before any is awaited, through a context of 32:
/// never more than 32 in flight, all 32 used, and every read completes with its bytes.
/// `direct`: `O_DIRECT` reads of 512 bytes from a disk file (completions come later);
/// otherwise buffered reads of 16 bytes from a cached tmpfs file (they complete inside
/// `io_submit`, and wait in the ring until someone reaps).
pub async fn ten_thousand_from_one_task<R: Reactor>(direct: bool) {
    const CAPACITY: u32 = 32;
    let len = if direct { 512 } else { 16 };
    let bytes = pattern(31, REQUESTS * len);
    let fs = if direct { Fs::Disk } else { Fs::Tmpfs };
    let file = TempFile::new(fs, "backpressure", &bytes);
    let f = if direct {
        let f = file.open_rw();
        f.sync_all().unwrap();
        file.open_direct()
    } else {
        file.open_ro()
    };
    let ctx = AsyncContext::<R, AlignedBuf>::new(CAPACITY).expect("context");
    assert_eq!(ctx.requested_size(), CAPACITY);
    let mut futures = Vec::with_capacity(REQUESTS);
    let mut most = 0;
    for i in 0..REQUESTS {
        let permit = ctx.reserve().await.expect("room");
        let op = Op::read(&f, aligned_zeroed(len), (i * len) as u64);
        futures.push(permit.submit(op).expect("submit"));
        most = most.max(ctx.in_flight());
        assert!(
            ctx.in_flight() <= CAPACITY as usize,
            "{} in flight",
            ctx.in_flight()
        );
    }
    // Cached reads wait in the ring until someone reaps, so they fill the context
    // whatever the timing. Direct reads of the disk can complete while the loop goes on,
    // and each submission's look at the ring (for refusals of RWF_NOWAIT) then reaps
    // them: how full the context gets depends on the disk's speed against the loop's (a
    // build with AddressSanitizer saw 25), so only the bound above holds for them.
    if !direct {
        assert_eq!(
            most, CAPACITY as usize,
            "the context filled up, and no more"
        );
    }
    println!("at most {most} of {CAPACITY} in flight");
    for (i, c) in join_all(futures).await.into_iter().enumerate() {
        let c = c.expect("completion");
        assert_eq!(c.result().expect("read") as usize, len);
        assert_eq!(
            &c.into_buf().unwrap()[..],
            &bytes[i * len..(i + 1) * len],
            "read {i}"
        );
    }
    assert_eq!(ctx.in_flight(), 0);
    println!(
        "{REQUESTS} reads through a context of {CAPACITY}: {:?}",
        ctx.stats()
    );
}

/// `submit` refuses the request past the capacity with `EAGAIN`, buffer and all; a
/// permit dropped unused gives its room back.
pub async fn past_the_capacity<R: Reactor>() {
    let file = TempFile::new(Fs::Tmpfs, "capacity", &pattern(32, 64));
    let f = file.open_ro();
    let ctx = AsyncContext::<R>::new(2).expect("context");
    let a = ctx.submit(Op::read(&f, vec![0u8; 8], 0)).expect("one");
    let permit = ctx.reserve().await.expect("room for a second");
    assert_eq!(ctx.in_flight(), 2);
    let refused = ctx.submit(Op::read(&f, vec![9u8; 8], 8)).unwrap_err();
    assert_eq!(refused.error.errno(), Some(Errno::AGAIN));
    assert_eq!(
        refused.op.into_bufs(),
        vec![vec![9u8; 8]],
        "the buffer comes back"
    );
    drop(permit);
    assert_eq!(ctx.in_flight(), 1, "the unused permit's room is back");
    let b = ctx
        .submit(Op::read(&f, vec![0u8; 8], 8))
        .expect("room again");
    let done = join_all(vec![a, b]).await;
    assert!(done.iter().all(|c| c.as_ref().unwrap().result() == Ok(8)));
    assert_eq!(ctx.in_flight(), 0);
}
