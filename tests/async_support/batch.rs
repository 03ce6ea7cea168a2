//! `AsyncContext::submit_batch` of mixed requests: the policy's decision per request
//! (reused for a request like the one before it, made afresh otherwise), the requests
//! past the capacity left queued as they were, polls among reads.

use super::join_all;
use crate::support::{Fs, TempFile, pattern, pipe, write_byte};
use rawaio::reactor::Reactor;
use rawaio::{AsyncContext, Errno, Op, PollFlags};
use std::collections::VecDeque;

/// What one request of the batch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A read of the tmpfs file, borrowed.
    Mem,
    /// A read of the disk file, borrowed.
    Disk,
    /// A read of the disk file through a descriptor of its own, owned by the request.
    DiskOwned,
    /// A poll of a readable pipe.
    Poll,
}

/// Runs, alternations, owned descriptors (a new number each) and polls, 24 requests.
const KINDS: [Kind; 24] = {
    use Kind::*;
    [
        Mem, Mem, Mem, Disk, Mem, Disk, Disk, DiskOwned, DiskOwned, Poll, Mem, Disk, Mem, Mem,
        Disk, DiskOwned, Mem, Poll, Mem, Disk, Disk, Mem, Mem, Disk,
    ]
};

const CAPACITY: usize = 16;
/// Requests kept in flight while a batch is submitted: 4 of the 16 are free.
const BUSY: usize = 12;
const LEN: usize = 512;
const SIZE: usize = 64 * 1024;

/// Three rounds of the same 24 mixed requests through `submit_batch` on a context of 16
/// with 12 taken (by polls of a pipe nobody writes to yet): each call takes what there is
/// room for (`EAGAIN` for the rest, which stay queued with their buffers, in order), the
/// next call the rest once the first have completed; every read has its bytes, every poll
/// its mask. Then a batch of more polls of that pipe than there is room for: the rest stay
/// queued, in order, and go once the pipe is readable; nothing stays in flight. Once the tmpfs file's refusal of
/// `RWF_NOWAIT` is learnt (if this kernel's tmpfs refuses it), every later tmpfs read is
/// submitted as given and counted inline, and every disk read carries the flag, whatever
/// the requests around it; a request left queued goes again with the policy's choice,
/// not with a flag added for the earlier attempt.
pub async fn mixed_requests<R: Reactor>() {
    let mem_bytes = pattern(61, SIZE);
    let disk_bytes = pattern(62, SIZE);
    let mem = TempFile::new(Fs::Tmpfs, "batch-mem", &mem_bytes);
    let disk = TempFile::new(Fs::Disk, "batch-disk", &disk_bytes);
    let (m, d) = (mem.open_ro(), disk.open_ro());
    let (r, w) = pipe();
    write_byte(&w);
    let ctx = AsyncContext::<R>::new(CAPACITY as u32).expect("context");
    // A tmpfs read alone first: whether this kernel's tmpfs refuses RWF_NOWAIT.
    let first = ctx
        .submit(Op::read(&m, vec![0u8; LEN], 0))
        .expect("submit")
        .await
        .expect("completion");
    assert!(first.into_buf().unwrap()[..] == mem_bytes[..LEN]);
    let mem_refuses = ctx.stats().refused > 0;
    if !mem_refuses {
        eprintln!("note: this kernel's tmpfs takes RWF_NOWAIT: no decision to learn");
    }
    let count = |k: Kind| KINDS.iter().filter(|&&x| x == k).count() as u64;
    let (mems, disks) = (count(Kind::Mem), count(Kind::Disk) + count(Kind::DiskOwned));
    for round in 0..3u64 {
        let offset = |i: usize| (i * 1000 + round as usize * 77) % (SIZE - LEN);
        let mut ops: VecDeque<Op<'_, Vec<u8>>> = KINDS
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let buf = vec![0u8; LEN];
                let off = offset(i) as u64;
                match k {
                    Kind::Mem => Op::read(&m, buf, off),
                    Kind::Disk => Op::read(&d, buf, off),
                    Kind::DiskOwned => Op::read(disk.open_ro(), buf, off),
                    Kind::Poll => Op::poll(&r, PollFlags::IN),
                }
                .user_data(i as u64)
            })
            .collect();
        // Requests that stay in flight meanwhile, so that the batch finds the context
        // nearly full: polls of a pipe nobody writes to yet.
        let (idle_r, idle_w) = pipe();
        let idle = (0..BUSY)
            .map(|_| {
                ctx.submit(Op::poll(&idle_r, PollFlags::IN))
                    .expect("submit")
            })
            .collect::<Vec<_>>();
        let before = ctx.stats();
        let mut done = Vec::new();
        // (Requests that complete inside `io_submit` and are reaped there give their room
        // back at once: one call may take them all.)
        while !ops.is_empty() {
            let mut futures = Vec::new();
            let s = ctx.submit_batch(&mut ops, &mut futures);
            assert_eq!(futures.len(), s.accepted);
            match s.error {
                None => assert!(ops.is_empty(), "round {round}"),
                Some(e) => assert_eq!(e.errno(), Some(Errno::AGAIN), "round {round}"),
            }
            let next = done.len() + s.accepted;
            assert!(
                ops.iter()
                    .zip(next..)
                    .all(|(op, i)| op.get_user_data() == i as u64),
                "the requests not accepted stay queued, in order"
            );
            done.extend(join_all(futures).await);
        }
        let after = ctx.stats();
        // Polls that stay in flight fill the context: a batch of them takes what there is
        // room for, and the rest wait in the queue, in order, until the pipe is readable.
        assert_eq!(ctx.in_flight(), BUSY);
        let free = CAPACITY - BUSY;
        let mut polls: VecDeque<Op<'_, Vec<u8>>> = (0..free as u64 + 2)
            .map(|i| Op::poll(&idle_r, PollFlags::IN).user_data(100 + i))
            .collect();
        let mut waiting = Vec::new();
        let s = ctx.submit_batch(&mut polls, &mut waiting);
        assert_eq!((s.accepted, polls.len()), (free, 2), "round {round}");
        assert_eq!(s.error.and_then(|e| e.errno()), Some(Errno::AGAIN));
        assert!(
            polls
                .iter()
                .zip(100 + free as u64..)
                .all(|(op, i)| op.get_user_data() == i),
            "the polls not accepted stay queued, in order"
        );
        write_byte(&idle_w);
        for c in join_all(idle)
            .await
            .into_iter()
            .chain(join_all(waiting).await)
        {
            assert!(c.expect("idle poll").result().expect("mask") > 0);
        }
        let mut queued = Vec::new();
        let s = ctx.submit_batch(&mut polls, &mut queued);
        assert_eq!((s.accepted, s.error.is_none()), (2, true));
        for (c, i) in join_all(queued).await.into_iter().zip(100 + free as u64..) {
            let c = c.expect("queued poll");
            assert_eq!(c.user_data(), i);
            assert!(c.result().expect("mask") > 0);
        }
        for (i, c) in done.into_iter().enumerate() {
            let c = c.expect("completion");
            assert_eq!(c.user_data(), i as u64);
            if KINDS[i] == Kind::Poll {
                let mask = c.result().expect("poll result");
                assert_ne!(mask & u64::from(PollFlags::IN.bits()), 0, "mask {mask:#x}");
                continue;
            }
            assert_eq!(c.result(), Ok(LEN as u64), "request {i}: {:?}", KINDS[i]);
            let bytes = if KINDS[i] == Kind::Mem {
                &mem_bytes
            } else {
                &disk_bytes
            };
            let off = offset(i);
            assert!(
                c.into_buf().unwrap()[..] == bytes[off..off + LEN],
                "request {i}: {:?}",
                KINDS[i]
            );
        }
        assert_eq!(ctx.in_flight(), 0, "round {round}");
        let delta = |f: fn(&rawaio::AsyncStats) -> u64| f(&after) - f(&before);
        if mem_refuses {
            assert_eq!(
                (
                    delta(|s| s.inline),
                    delta(|s| s.refused),
                    delta(|s| s.nowait)
                ),
                (mems, 0, disks),
                "round {round}: tmpfs reads as given, disk reads with the flag: {after:?}"
            );
        } else {
            assert_eq!(
                (delta(|s| s.inline), delta(|s| s.nowait)),
                (0, mems + disks),
                "round {round}: every read with the flag: {after:?}"
            );
        }
        assert_eq!(
            delta(|s| s.as_given),
            KINDS.len() as u64 - delta(|s| s.nowait),
            "round {round}: polls and inline reads as given: {after:?}"
        );
    }
}

/// `submit_batch` of one request at a time (submitted in place): a read the kernel
/// refuses at submission comes back whole, at the front, with the kernel's error; a
/// buffered read of evicted pages, which `RWF_NOWAIT` makes the kernel refuse inside
/// `io_submit`, is finished elsewhere and resolves with its bytes; a poll resolves with
/// its mask; nothing stays in flight.
pub async fn single_requests<R: Reactor>() {
    let bytes = pattern(63, SIZE);
    let (file, _rw) = super::never_block::evicted_file("batch-single", &bytes);
    let ctx = AsyncContext::<R>::new(4).expect("context");
    // Open for writing only: a read is refused at submission (EBADF).
    let write_only = std::fs::OpenOptions::new()
        .write(true)
        .open(file.path())
        .expect("open for writing");
    let mut ops = VecDeque::from([Op::read(&write_only, vec![7u8; LEN], 0).user_data(1)]);
    let mut futures = Vec::new();
    let s = ctx.submit_batch(&mut ops, &mut futures);
    assert_eq!(s.accepted, 0);
    assert_eq!(s.error.and_then(|e| e.errno()), Some(Errno::BADF));
    assert!(futures.is_empty());
    let op = ops.pop_front().expect("the refused request, whole");
    assert_eq!(op.get_user_data(), 1);
    assert_eq!(
        op.into_bufs(),
        vec![vec![7u8; LEN]],
        "its buffer comes back"
    );
    assert_eq!(ctx.in_flight(), 0, "its room is back");
    // Evicted pages: refused under RWF_NOWAIT (where the file system takes the flag),
    // then read elsewhere.
    let f = file.open_ro();
    for (i, off) in [0, 3 * LEN, SIZE - LEN].into_iter().enumerate() {
        let mut ops = VecDeque::from([Op::read(&f, vec![0u8; LEN], off as u64)]);
        let s = ctx.submit_batch(&mut ops, &mut futures);
        assert_eq!(
            (s.accepted, s.error.is_none(), ops.len()),
            (1, true, 0),
            "read {i}"
        );
    }
    let (r, w) = pipe();
    write_byte(&w);
    let mut ops = VecDeque::from([Op::poll(&r, PollFlags::IN)]);
    let s = ctx.submit_batch(&mut ops, &mut futures);
    assert_eq!((s.accepted, s.error.is_none()), (1, true));
    let mut done = join_all(futures).await;
    let poll = done.pop().expect("the poll").expect("poll completion");
    assert_ne!(
        poll.result().expect("mask") & u64::from(PollFlags::IN.bits()),
        0
    );
    for (c, off) in done.into_iter().zip([0, 3 * LEN, SIZE - LEN]) {
        let c = c.expect("completion");
        assert_eq!(c.result(), Ok(LEN as u64));
        assert!(c.into_buf().unwrap()[..] == bytes[off..off + LEN]);
    }
    assert_eq!(ctx.in_flight(), 0);
    let stats = ctx.stats();
    assert_eq!((stats.nowait, stats.as_given), (3, 1), "{stats:?}");
    if stats.refused == 0 {
        eprintln!("note: no evicted read was refused under RWF_NOWAIT here: {stats:?}");
    }
}
