//! One context shared by several threads: submitters and reapers running concurrently
//! must see every completion exactly once, and one thread waiting must not hold up the
//! others.

mod support;

use rawaio::eventfd::EventFd;
use rawaio::{Context, Errno, Error, Op, Options, PollFlags, Token};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{Fs, TIMEOUT, TempFile, pipe, reap_one, write_byte};

const POLLIN: u64 = 0x001;
const SUBMITTERS: u64 = 2;
const PER_SUBMITTER: u64 = 2500;
const TOTAL: u64 = SUBMITTERS * PER_SUBMITTER;
/// Generous: a correct run takes well under a second.
const DEADLINE: Duration = Duration::from_secs(20);

/// Even ids write their own id at `id * 8` in a tmpfs file; odd ids poll an eventfd
/// that is always readable. Both complete at once, during `io_submit`.
fn stress(user_space_reaping: bool) {
    let file = TempFile::new(Fs::Tmpfs, "threads-stress", &[]);
    let f = file.open_rw();
    let efd = EventFd::new().unwrap();
    efd.write(1).unwrap();
    let options = Options {
        user_space_reaping,
        ..Options::default()
    };
    let ctx = Context::<Vec<u8>>::with_options(128, options).unwrap();
    assert_eq!(ctx.reaps_in_user_space(), user_space_reaping);
    let reaped = AtomicUsize::new(0);
    let start = Instant::now();

    let (submitted, seen) = std::thread::scope(|s| {
        let submitters: Vec<_> = (0..SUBMITTERS)
            .map(|t| {
                let (ctx, f, efd) = (&ctx, &f, &efd);
                s.spawn(move || {
                    let mut tokens: Vec<Token> = Vec::new();
                    let mut ops = VecDeque::new();
                    let mut eagain = 0usize;
                    let ids: Vec<u64> = (t * PER_SUBMITTER..(t + 1) * PER_SUBMITTER).collect();
                    for chunk in ids.chunks(16) {
                        for &id in chunk {
                            ops.push_back(if id % 2 == 0 {
                                Op::write(f, id.to_le_bytes().to_vec(), id * 8).user_data(id)
                            } else {
                                Op::poll(efd, PollFlags::IN).user_data(id)
                            });
                        }
                        // Submitter 0 batches; submitter 1 submits one at a time.
                        loop {
                            let error = if t == 0 {
                                ctx.submit_batch(&mut ops, &mut tokens).error
                            } else {
                                let op = ops.pop_front().expect("an op to submit");
                                match ctx.submit(op) {
                                    Ok(token) => {
                                        tokens.push(token);
                                        if !ops.is_empty() {
                                            continue;
                                        }
                                        None
                                    }
                                    Err(rejected) => {
                                        ops.push_front(rejected.op);
                                        Some(rejected.error)
                                    }
                                }
                            };
                            match error {
                                None => break,
                                Some(Error::Os(Errno::AGAIN)) => {
                                    eagain += 1;
                                    assert!(start.elapsed() < DEADLINE, "submitter stuck");
                                    std::thread::yield_now();
                                }
                                Some(e) => panic!("submission failed: {e}"),
                            }
                        }
                    }
                    (tokens, eagain)
                })
            })
            .collect();
        let reapers: Vec<_> = (0..2)
            .map(|_| {
                let (ctx, reaped) = (&ctx, &reaped);
                s.spawn(move || {
                    let mut done = Vec::with_capacity(32);
                    let mut mine = Vec::new();
                    let mut round = 0u64;
                    while reaped.load(Ordering::SeqCst) < TOTAL as usize {
                        assert!(start.elapsed() < DEADLINE, "reaper stuck");
                        // Alternate waiting reaps with ones that never wait.
                        let result = if round % 2 == 0 {
                            ctx.reap(1, 32, Some(Duration::from_millis(10)), &mut done)
                        } else {
                            ctx.reap(0, 32, None, &mut done)
                        };
                        let n = result.expect("reap");
                        assert_eq!(n, done.len(), "reap returns what it delivered");
                        for c in done.drain(..) {
                            let id = c.user_data();
                            if id % 2 == 0 {
                                assert_eq!(c.result(), Ok(8));
                                assert_eq!(c.into_buf().unwrap(), id.to_le_bytes());
                            } else {
                                assert_ne!(c.result().unwrap() & POLLIN, 0);
                            }
                            mine.push(id);
                        }
                        reaped.fetch_add(n, Ordering::SeqCst);
                        round += 1;
                    }
                    mine
                })
            })
            .collect();
        let submitted: Vec<(Vec<Token>, usize)> =
            submitters.into_iter().map(|h| h.join().unwrap()).collect();
        let seen: Vec<Vec<u64>> = reapers.into_iter().map(|h| h.join().unwrap()).collect();
        (submitted, seen)
    });

    let eagain: usize = submitted.iter().map(|(_, e)| e).sum();
    let per_reaper: Vec<usize> = seen.iter().map(Vec::len).collect();
    eprintln!(
        "user_space_reaping {user_space_reaping}: {TOTAL} requests in {:?}, {eagain} EAGAIN \
         retries, per reaper {per_reaper:?}",
        start.elapsed()
    );
    let tokens: Vec<Token> = submitted.into_iter().flat_map(|(t, _)| t).collect();
    assert_eq!(tokens.len(), TOTAL as usize);
    let mut all: Vec<u64> = seen.into_iter().flatten().collect();
    assert_eq!(
        all.len(),
        TOTAL as usize,
        "a completion was lost or duplicated"
    );
    all.sort_unstable();
    assert!(
        all.iter().copied().eq(0..TOTAL),
        "every user_data exactly once"
    );
    assert_eq!(ctx.in_flight(), 0);
    assert_eq!(ctx.ready(), 0);
    let mut done = Vec::new();
    assert_eq!(ctx.reap(0, 8, None, &mut done), Ok(0), "nothing left over");
    drop(ctx);
    let contents = file.contents();
    for id in (0..TOTAL).step_by(2) {
        let at = id as usize * 8;
        assert_eq!(contents[at..at + 8], id.to_le_bytes());
    }
}

#[test]
fn concurrent_submit_and_reap_from_the_ring() {
    for _ in 0..4 {
        stress(true);
    }
}

#[test]
fn concurrent_submit_and_reap_with_io_getevents() {
    for _ in 0..4 {
        stress(false);
    }
}

#[test]
fn cancel_from_another_thread_wakes_the_waiting_reaper() {
    let (r, _w) = pipe();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let token = ctx
        .submit(Op::poll(&r, PollFlags::IN).user_data(9))
        .unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let start = Instant::now();
            let c = reap_one(&ctx);
            (c.token(), c.result(), start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        assert_eq!(ctx.cancel(token), Ok(()));
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "cancel waited"
        );
        let (t, result, elapsed) = waiter.join().unwrap();
        assert_eq!((t, result), (token, Ok(0)));
        assert!(elapsed < TIMEOUT);
    });
    assert_eq!(ctx.in_flight(), 0);
}

/// A cancel racing the poll's own completion: whichever wins, each poll completes
/// exactly once, with 0 (cancelled) or its ready mask.
#[test]
fn cancel_racing_completion_delivers_each_poll_once() {
    let ctx = Context::<Vec<u8>>::new(16).unwrap();
    let mut outcomes = [0usize; 2];
    for round in 0..100u64 {
        let (r, w) = pipe();
        let tokens: Vec<Token> = (0..4)
            .map(|i| {
                ctx.submit(Op::poll(&r, PollFlags::IN).user_data(round * 4 + i))
                    .unwrap()
            })
            .collect();
        std::thread::scope(|s| {
            s.spawn(|| write_byte(&w));
            for t in &tokens {
                let r = ctx.cancel(*t);
                assert!(r == Ok(()) || r == Err(Errno::INVAL), "{r:?}");
            }
        });
        let mut done = Vec::new();
        support::reap_n(&ctx, 4, &mut done);
        let mut got: Vec<u64> = done.iter().map(|c| c.user_data()).collect();
        got.sort_unstable();
        assert_eq!(got, (round * 4..round * 4 + 4).collect::<Vec<_>>());
        for c in &done {
            match c.result() {
                Ok(0) => outcomes[0] += 1,
                Ok(mask) if mask & POLLIN != 0 => outcomes[1] += 1,
                other => panic!("unexpected poll result {other:?}"),
            }
        }
        assert_eq!(ctx.in_flight(), 0);
        support::assert_nothing_within(&ctx, Duration::ZERO);
    }
    eprintln!(
        "cancel vs completion: {} cancelled, {} completed",
        outcomes[0], outcomes[1]
    );
}

/// While one thread waits in `reap` (holding the consumer side), the other methods must
/// answer at once: they are queries or submissions, not waits.
#[test]
fn other_calls_do_not_wait_behind_a_blocked_reaper() {
    let (r, w) = pipe();
    let file = TempFile::new(Fs::Tmpfs, "threads-queries", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(8).unwrap();
    let pending = ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    let wait = Duration::from_millis(1500);
    let quick = Duration::from_millis(300);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut done = Vec::new();
            let n = ctx.reap(1, 1, Some(wait), &mut done);
            (n, done.len())
        });
        std::thread::sleep(Duration::from_millis(100));

        let timed = |what: &str, call: &dyn Fn()| {
            let start = Instant::now();
            call();
            let took = start.elapsed();
            eprintln!("{what} took {took:?} while another thread waited in reap");
            took
        };
        let mut slow = Vec::new();
        let checks: [(&str, &dyn Fn()); 6] = [
            ("in_flight", &|| assert_eq!(ctx.in_flight(), 1)),
            ("is_in_flight", &|| assert!(ctx.is_in_flight(pending))),
            ("ready", &|| assert_eq!(ctx.ready(), 0)),
            ("reap(0, ..)", &|| {
                assert_eq!(ctx.reap(0, 8, None, &mut Vec::new()), Ok(0));
            }),
            ("reaps_in_user_space", &|| {
                assert!(ctx.reaps_in_user_space());
            }),
            // Last: its completion ends the wait.
            ("submit", &|| {
                ctx.submit(Op::write(&f, vec![1u8; 4], 0)).unwrap();
            }),
        ];
        for (what, call) in checks {
            if timed(what, call) >= quick {
                slow.push(what);
            }
        }
        write_byte(&w);
        let (n, got) = waiter.join().unwrap();
        assert_eq!(n, Ok(got));
        assert!(
            slow.is_empty(),
            "blocked behind the waiting reaper: {slow:?}"
        );
    });
}
