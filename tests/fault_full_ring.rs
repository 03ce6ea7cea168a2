//! Fault: the completion ring is full of completions nobody has reaped.
//!
//! Buffered tmpfs writes complete inside `io_submit`, so each accepted write leaves its
//! event in the ring. Expected outcome:
//! - submissions are accepted until the context's limit, then refused with `EAGAIN`
//!   (backpressure), the refused request handed back with its buffer; the kernel never
//!   overwrites an unreaped event;
//! - every accepted write's completion is in the ring, found without a system call;
//! - reaping part of them makes room again, and submission resumes;
//! - in the end every request completes exactly once, in submission order, with its own
//!   buffer; `submit_all` gets thousands of writes through a small context.
//!
//! (`context_edges.rs` covers the same limit reached with requests still pending.)

mod support;

use rawaio::{Context, Errno, Error, Op};
use std::collections::VecDeque;
use support::{Fs, TIMEOUT, TempFile, Watchdog};

fn write(file: &std::fs::File, i: u64) -> Op<'_, Vec<u8>> {
    Op::write(file, i.to_le_bytes().to_vec(), i * 8).user_data(i)
}

/// Submits one write at a time until the context refuses one; returns how many it took.
fn fill(ctx: &Context<Vec<u8>>, file: &std::fs::File, next: &mut u64) -> usize {
    let mut accepted = 0;
    loop {
        match ctx.submit(write(file, *next)) {
            Ok(_) => {
                accepted += 1;
                *next += 1;
            }
            Err(rejected) => {
                assert_eq!(rejected.error, Error::Os(Errno::AGAIN));
                assert_eq!(rejected.op.get_user_data(), *next);
                assert_eq!(rejected.op.into_bufs(), vec![next.to_le_bytes().to_vec()]);
                return accepted;
            }
        }
        assert!(accepted <= 100_000, "the context never pushed back");
    }
}

#[test]
fn a_full_ring_pushes_back_and_loses_nothing() {
    let file = TempFile::new(Fs::Tmpfs, "fault-full-ring", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(1).unwrap();
    assert!(ctx.reaps_in_user_space());
    let ring = ctx.ring_size() as usize;
    let mut next = 0u64;

    let first = fill(&ctx, &f, &mut next);
    eprintln!("Context::new(1): ring of {ring}, {first} completions fill it");
    assert!(first > 0 && first < ring, "{first} of {ring}");
    assert_eq!(ctx.in_flight(), first);
    assert_eq!(ctx.ready(), first, "every completion waits in the ring");
    // Still full: a batch gets nothing in either.
    let mut ops: VecDeque<_> = (0..4).map(|k| write(&f, next + k)).collect();
    let s = ctx.submit_batch(&mut ops, &mut Vec::new());
    assert_eq!((s.accepted, s.error), (0, Some(Error::Os(Errno::AGAIN))));
    assert_eq!(ops.len(), 4);

    // Reap half, from the ring alone (min 0: no system call, no wait).
    let mut done = Vec::new();
    let half = first / 2;
    assert_eq!(ctx.reap(0, half, None, &mut done), Ok(half));
    let second = fill(&ctx, &f, &mut next);
    eprintln!("after reaping {half}, {second} more went in");
    assert!(second > 0, "reaping made no room");
    assert_eq!(ctx.in_flight(), first - half + second);

    // Everything, exactly once, in submission order, each with its own buffer.
    let total = first + second;
    let left = total - half;
    assert_eq!(ctx.reap(left, left, Some(TIMEOUT), &mut done), Ok(left));
    assert_eq!(ctx.in_flight(), 0);
    let order: Vec<u64> = done.iter().map(|c| c.user_data()).collect();
    assert_eq!(order, (0..total as u64).collect::<Vec<_>>());
    for c in done {
        let i = c.user_data();
        assert_eq!(c.result(), Ok(8));
        assert_eq!(c.into_buf().unwrap(), i.to_le_bytes());
    }

    // Backpressure all the way: thousands through a context of 1.
    let n = 20 * ring;
    let mut ops: VecDeque<_> = (0..n as u64).map(|i| write(&f, next + i)).collect();
    let mut tokens = Vec::new();
    let mut done = Vec::new();
    let s = {
        let _watchdog = Watchdog::new(std::time::Duration::from_secs(30), "submit_all");
        ctx.submit_all(&mut ops, &mut tokens, &mut done, None)
    };
    assert_eq!((s.accepted, s.error), (n, None));
    let left = ctx.in_flight();
    assert_eq!(ctx.reap(left, left, Some(TIMEOUT), &mut done), Ok(left));
    assert_eq!(done.len(), n);
    let mut seen: Vec<u64> = done.iter().map(|c| c.user_data() - next).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..n as u64).collect::<Vec<_>>());
    let contents = file.contents();
    for i in 0..next + n as u64 {
        let at = i as usize * 8;
        assert_eq!(contents[at..at + 8], i.to_le_bytes());
    }
}
