//! The edges of the safe API against the real kernel: partial batch submission, `EAGAIN`
//! backpressure, cancellation, token uniqueness, signals during a wait, argument errors,
//! the `aio_suspend`/`lio_listio`-style waits, and destroying a busy context.

mod support;

use rawaio::{Completion, Context, Errno, Error, Op, Options, PollFlags, SigSet, Token};
use std::collections::{HashMap, HashSet, VecDeque};
use std::os::unix::thread::JoinHandleExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::{
    DropLog, Fs, TIMEOUT, TempFile, Tracked, Watchdog, assert_nothing_within, pipe, reap_n,
    reap_one, write_byte,
};

const POLLIN: u64 = 0x001;

// ---------------------------------------------------------------------------------------
// Partial submission and backpressure
// ---------------------------------------------------------------------------------------

#[test]
fn partial_batch_leaves_the_refused_requests_in_order() {
    let file = TempFile::new(Fs::Tmpfs, "edges-partial", &[]);
    let rw = file.open_rw();
    // Writing through a read-only descriptor is refused with EBADF at submission.
    let ro = file.open_ro();
    let ctx = Context::<Vec<u8>>::new(8).unwrap();
    let mut ops = VecDeque::from([
        Op::write(&rw, vec![1u8; 4], 0).user_data(1),
        Op::write(&rw, vec![2u8; 4], 4).user_data(2),
        Op::write(&ro, vec![3u8; 4], 8).user_data(3),
        Op::write(&rw, vec![4u8; 4], 12).user_data(4),
    ]);
    let mut tokens = Vec::new();
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!(s.accepted, 2);
    assert_eq!(s.error, Some(Error::Os(Errno::BADF)));
    assert_eq!(tokens.len(), 2);
    assert_ne!(tokens[0], tokens[1]);
    assert_eq!(ctx.in_flight(), 2);
    let left: Vec<u64> = ops.iter().map(Op::get_user_data).collect();
    assert_eq!(
        left,
        [3, 4],
        "the refused request and those after it, in order"
    );

    let mut done = Vec::new();
    reap_n(&ctx, 2, &mut done);
    let mut reaped: Vec<(u64, Token)> = done.iter().map(|c| (c.user_data(), c.token())).collect();
    reaped.sort_by_key(|(data, _)| *data);
    assert_eq!(reaped, [(1, tokens[0]), (2, tokens[1])]);
    assert!(done.iter().all(|c| c.result() == Ok(4)));
    assert_eq!(file.contents(), [[1u8; 4], [2u8; 4]].concat());

    // The bad request alone: nothing accepted, its own error.
    let good = ops.pop_back().unwrap();
    assert_eq!(good.into_bufs(), vec![vec![4u8; 4]]);
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!(s.accepted, 0);
    assert_eq!(s.error, Some(Error::Os(Errno::BADF)));
    assert_eq!(tokens.len(), 2, "no token for a refused request");
    let bad = ops.pop_front().unwrap();
    assert_eq!(bad.get_user_data(), 3);
    assert_eq!(bad.into_bufs(), vec![vec![3u8; 4]]);
    assert!(ops.is_empty());
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn eagain_backpressure_then_submit_all_reaps_its_way_through() {
    let (r, w) = pipe();
    let file = TempFile::new(Fs::Tmpfs, "edges-eagain", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(1).unwrap();
    let ring = ctx.ring_size() as usize;
    // More polls than could ever be in flight; the pipe stays empty for now.
    let polls = ring + 64;
    let mut ops: VecDeque<Op<Vec<u8>>> = (0..polls)
        .map(|i| Op::poll(&r, PollFlags::IN).user_data(i as u64))
        .collect();
    let mut tokens = Vec::new();
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    eprintln!(
        "Context::new(1): ring_size {ring}, {} polls accepted before {:?}",
        s.accepted, s.error
    );
    assert_eq!(s.error, Some(Error::Os(Errno::AGAIN)));
    assert!(s.accepted > 0 && s.accepted < polls, "{s:?}");
    let first_batch = s.accepted;
    assert_eq!(tokens.len(), first_batch);
    assert_eq!(ctx.in_flight(), first_batch);
    assert_eq!(ops.len(), polls - first_batch);
    assert_eq!(ops.front().unwrap().get_user_data(), first_batch as u64);

    // Still full: nothing more goes in, by batch or alone, and the request comes back.
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!(
        s,
        rawaio::Submitted {
            accepted: 0,
            error: Some(Error::Os(Errno::AGAIN))
        }
    );
    let rejected = ctx.submit(Op::write(&f, vec![9u8; 3], 0)).unwrap_err();
    assert_eq!(rejected.error, Error::Os(Errno::AGAIN));
    assert_eq!(rejected.op.into_bufs(), vec![vec![9u8; 3]]);
    assert_nothing_within(&ctx, Duration::from_millis(20));

    // Wake every poll; submit_all pushes the remaining polls and many writes through,
    // reaping to make room.
    write_byte(&w);
    let writes = 3 * ring;
    for i in 0..writes {
        let bytes = (i as u64).to_le_bytes().to_vec();
        ops.push_back(Op::write(&f, bytes, i as u64 * 8).user_data(1_000_000 + i as u64));
    }
    let expect_more = ops.len();
    let mut done = Vec::new();
    let s = {
        let _watchdog = Watchdog::new(Duration::from_secs(20), "submit_all");
        ctx.submit_all(&mut ops, &mut tokens, &mut done, None)
    };
    assert_eq!(s.error, None, "{s:?}");
    assert_eq!(s.accepted, expect_more);
    assert!(ops.is_empty());
    let total = polls + writes;
    assert_eq!(tokens.len(), total);
    assert!(!done.is_empty(), "submit_all had to reap to get through");
    let reaped_by_submit_all = done.len();
    let rest = total - done.len();
    reap_n(&ctx, rest, &mut done);
    eprintln!("submit_all reaped {reaped_by_submit_all} of {total} completions on its way");
    assert_eq!(ctx.in_flight(), 0);
    assert_nothing_within(&ctx, Duration::ZERO);

    // Every request completed exactly once, with its own token.
    let mut seen = HashSet::new();
    for c in &done {
        assert!(seen.insert(c.user_data()), "duplicate {}", c.user_data());
        if c.user_data() < 1_000_000 {
            assert_ne!(c.result().unwrap() & POLLIN, 0);
        } else {
            assert_eq!(c.result(), Ok(8));
            let i = c.user_data() - 1_000_000;
            assert_eq!(c.buf().unwrap(), &i.to_le_bytes());
        }
    }
    let expected: HashSet<u64> = (0..polls as u64)
        .chain((0..writes as u64).map(|i| 1_000_000 + i))
        .collect();
    assert_eq!(seen, expected);
    let submitted: HashSet<Token> = tokens.iter().copied().collect();
    let completed: HashSet<Token> = done.iter().map(Completion::token).collect();
    assert_eq!(submitted.len(), total, "tokens are unique");
    assert_eq!(submitted, completed);
    let contents = file.contents();
    for i in 0..writes {
        assert_eq!(contents[i * 8..i * 8 + 8], (i as u64).to_le_bytes());
    }
}

// ---------------------------------------------------------------------------------------
// Cancellation and tokens
// ---------------------------------------------------------------------------------------

#[test]
fn cancel_a_pending_poll_then_its_completion_arrives() {
    let (r, _w) = pipe();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let token = ctx
        .submit(Op::poll(&r, PollFlags::IN).user_data(5))
        .unwrap();
    let other = ctx
        .submit(Op::poll(&r, PollFlags::IN).user_data(6))
        .unwrap();
    assert_nothing_within(&ctx, Duration::from_millis(20));
    assert_eq!(ctx.cancel(token), Ok(()));
    let c = reap_one(&ctx);
    assert_eq!((c.token(), c.user_data()), (token, 5));
    assert_eq!(c.result(), Ok(0), "a cancelled poll completes with 0");
    assert!(!ctx.is_in_flight(token));
    assert!(ctx.is_in_flight(other), "only the cancelled poll completed");
    assert_nothing_within(&ctx, Duration::from_millis(20));

    // Its token is no longer in flight.
    assert_eq!(ctx.cancel(token), Err(Errno::INVAL));
    assert_eq!(ctx.cancel(other), Ok(()));
    assert_eq!(reap_one(&ctx).token(), other);
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn cancel_of_file_io_or_a_reaped_request_is_einval() {
    let file = TempFile::new(Fs::Tmpfs, "edges-cancel", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let token = ctx.submit(Op::write(&f, vec![1u8; 8], 0)).unwrap();
    // Completed but not yet reaped: the kernel cannot cancel file I/O.
    assert!(ctx.is_in_flight(token));
    assert_eq!(ctx.cancel(token), Err(Errno::INVAL));
    let c = reap_one(&ctx);
    assert_eq!((c.token(), c.result()), (token, Ok(8)));
    // Reaped: unknown to the context.
    assert_eq!(ctx.cancel(token), Err(Errno::INVAL));
}

#[test]
fn tokens_are_unique_over_waves_of_requests() {
    let file = TempFile::new(Fs::Tmpfs, "edges-tokens", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(64).unwrap();
    let total = 1000u64;
    let mut live: HashMap<Token, u64> = HashMap::new();
    let mut ever: HashSet<Token> = HashSet::new();
    let mut reaped: HashSet<u64> = HashSet::new();
    let mut next = 0u64;
    let mut ops = VecDeque::new();
    let mut tokens = Vec::new();
    let mut done = Vec::new();
    while next < total || !live.is_empty() {
        // Submit a wave while half of the previous one is still unreaped.
        let wave = 37.min(total - next);
        for id in next..next + wave {
            ops.push_back(Op::write(&f, vec![id as u8; 4], id * 4).user_data(id));
        }
        next += wave;
        tokens.clear();
        let s = ctx.submit_batch(&mut ops, &mut tokens);
        assert_eq!(s.error, None);
        assert_eq!(s.accepted, wave as usize);
        for (i, t) in tokens.iter().enumerate() {
            let id = next - wave + i as u64;
            assert!(
                live.insert(*t, id).is_none(),
                "two requests in flight share {t:?}"
            );
            assert!(ever.insert(*t), "token {t:?} was reused");
        }
        assert_eq!(ctx.in_flight(), live.len());
        assert!(live.keys().all(|t| ctx.is_in_flight(*t)));

        let k = if next < total {
            live.len() / 2
        } else {
            live.len()
        };
        done.clear();
        reap_n(&ctx, k, &mut done);
        for c in done.drain(..) {
            let id = live
                .remove(&c.token())
                .expect("a completion for a live token");
            assert_eq!(c.user_data(), id, "token and user_data travel together");
            assert!(reaped.insert(id), "request {id} completed twice");
            assert!(!ctx.is_in_flight(c.token()));
        }
    }
    assert_eq!(reaped.len(), total as usize);
    assert_eq!(ever.len(), total as usize);
    assert_eq!(ctx.in_flight(), 0);
}

// ---------------------------------------------------------------------------------------
// Signals during a wait
// ---------------------------------------------------------------------------------------

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigusr1(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Installs a SIGUSR1 handler without `SA_RESTART`, so a signal interrupts a blocked
/// system call with `EINTR`.
fn install_sigusr1_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let handler = on_sigusr1 as extern "C" fn(libc::c_int);
        // SAFETY: a zeroed `sigaction` is a valid starting point; the handler only
        // touches an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as *const () as libc::sighandler_t;
            sa.sa_flags = 0;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        }
    });
}

/// Sends SIGUSR1 to the thread of `handle` (not yet joined, so its id is valid).
fn signal<T>(handle: &JoinHandle<T>) {
    // SAFETY: the thread has not been joined, so its pthread_t is valid (an exited but
    // unjoined thread gives ESRCH); SIGUSR1 has a handler installed.
    let r = unsafe { libc::pthread_kill(handle.as_pthread_t(), libc::SIGUSR1) };
    assert!(r == 0 || r == libc::ESRCH, "pthread_kill: {r}");
}

type ReapOutcome = (Result<usize, Errno>, Vec<Completion<Vec<u8>>>, Duration);

fn spawn_reaper(
    ctx: &Arc<Context<Vec<u8>>>,
    finished: &Arc<AtomicBool>,
    reap: impl FnOnce(&Context<Vec<u8>>, &mut Vec<Completion<Vec<u8>>>) -> Result<usize, Errno>
    + Send
    + 'static,
) -> JoinHandle<ReapOutcome> {
    let ctx = Arc::clone(ctx);
    let finished = Arc::clone(finished);
    std::thread::spawn(move || {
        let mut done = Vec::new();
        let start = Instant::now();
        let result = reap(&ctx, &mut done);
        let elapsed = start.elapsed();
        finished.store(true, Ordering::SeqCst);
        (result, done, elapsed)
    })
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// The premise of the tests below: in this setup a signal does interrupt a raw
/// `io_getevents` with `EINTR` (so the safe `reap` really has something to resume from).
#[test]
fn signals_interrupt_a_raw_io_getevents() {
    install_sigusr1_handler();
    let (r, _w) = pipe();
    let ctx = Arc::new(Context::<Vec<u8>>::new(4).unwrap());
    ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    let reaper = spawn_reaper(&ctx, &finished, |ctx, _| {
        let mut events = [rawaio::abi::io_event::default(); 4];
        let ts = rawaio::abi::__kernel_old_timespec {
            tv_sec: 3,
            tv_nsec: 0,
        };
        // SAFETY: `events` has room for 4 events and `ts` outlives the call. The only
        // request (a poll on an empty pipe) cannot complete, so no event is taken
        // from the safe layer behind its back.
        unsafe { rawaio::sys::io_getevents(ctx.raw(), 1, 4, events.as_mut_ptr(), &ts) }
    });
    let start = Instant::now();
    while !finished.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(2) {
        signal(&reaper);
        sleep_ms(30);
    }
    let (result, _, elapsed) = reaper.join().unwrap();
    assert_eq!(result, Err(Errno::INTR));
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
}

#[test]
fn reap_is_not_ended_by_signals_and_gets_the_completion() {
    install_sigusr1_handler();
    for user_space_reaping in [true, false] {
        let (r, w) = pipe();
        let options = Options {
            user_space_reaping,
            ..Options::default()
        };
        let ctx = Arc::new(Context::<Vec<u8>>::with_options(4, options).unwrap());
        let token = ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
        let finished = Arc::new(AtomicBool::new(false));
        let before = SIGNALS.load(Ordering::SeqCst);
        let reaper = spawn_reaper(&ctx, &finished, |ctx, done| {
            ctx.reap(1, 4, Some(Duration::from_secs(2)), done)
        });
        sleep_ms(50);
        for _ in 0..5 {
            signal(&reaper);
            sleep_ms(20);
        }
        assert!(!finished.load(Ordering::SeqCst), "a signal ended the wait");
        write_byte(&w);
        let (result, done, elapsed) = reaper.join().unwrap();
        assert_eq!(result, Ok(1), "user_space_reaping {user_space_reaping}");
        assert_eq!(done[0].token(), token);
        assert_ne!(done[0].result().unwrap() & POLLIN, 0);
        assert!(elapsed < Duration::from_millis(1900), "{elapsed:?}");
        assert!(
            SIGNALS.load(Ordering::SeqCst) > before,
            "no signal was delivered"
        );
    }
}

#[test]
fn reap_timeout_runs_its_full_length_through_signals() {
    install_sigusr1_handler();
    for user_space_reaping in [true, false] {
        let (r, _w) = pipe();
        let options = Options {
            user_space_reaping,
            ..Options::default()
        };
        let ctx = Arc::new(Context::<Vec<u8>>::with_options(4, options).unwrap());
        ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
        let finished = Arc::new(AtomicBool::new(false));
        let before = SIGNALS.load(Ordering::SeqCst);
        let reaper = spawn_reaper(&ctx, &finished, |ctx, done| {
            ctx.reap(1, 4, Some(Duration::from_millis(300)), done)
        });
        // Signals at about 50, 100, ..., 250 ms into a 300 ms wait.
        for _ in 0..5 {
            sleep_ms(50);
            signal(&reaper);
        }
        let (result, done, elapsed) = reaper.join().unwrap();
        assert_eq!(result, Ok(0), "user_space_reaping {user_space_reaping}");
        assert!(done.is_empty());
        assert!(
            elapsed >= Duration::from_millis(250),
            "the wait ended early: {elapsed:?}"
        );
        // Restarting the full timeout after a signal would end near 550 ms.
        assert!(
            elapsed < Duration::from_millis(500),
            "the wait restarted its timeout: {elapsed:?}"
        );
        assert!(SIGNALS.load(Ordering::SeqCst) > before);
        assert_eq!(ctx.in_flight(), 1);
    }
}

#[test]
fn reap_with_sigmask_is_interrupted_by_an_unblocked_signal() {
    install_sigusr1_handler();
    let (r, w) = pipe();
    let ctx = Arc::new(Context::<Vec<u8>>::new(4).unwrap());
    let token = ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    let reaper = spawn_reaper(&ctx, &finished, |ctx, done| {
        ctx.reap_with_sigmask(1, 4, Some(Duration::from_secs(3)), &SigSet::EMPTY, done)
    });
    // Keep signalling until the wait ends: a signal that lands before the thread enters
    // io_pgetevents is handled without interrupting anything.
    let start = Instant::now();
    while !finished.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(2) {
        signal(&reaper);
        sleep_ms(30);
    }
    let (result, done, elapsed) = reaper.join().unwrap();
    assert_eq!(result, Err(Errno::INTR));
    assert!(done.is_empty());
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    assert!(ctx.is_in_flight(token), "nothing was lost");

    // And with a completion ready, it is reaped as usual.
    write_byte(&w);
    let mut done = Vec::new();
    let n = ctx
        .reap_with_sigmask(1, 4, Some(TIMEOUT), &SigSet::EMPTY, &mut done)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(done[0].token(), token);
}

#[test]
fn reap_with_sigmask_blocking_the_signal_times_out_normally() {
    install_sigusr1_handler();
    let (r, _w) = pipe();
    let ctx = Arc::new(Context::<Vec<u8>>::new(4).unwrap());
    ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    let mut mask = SigSet::EMPTY;
    assert!(mask.insert(libc::SIGUSR1 as u32));
    let finished = Arc::new(AtomicBool::new(false));
    let before = SIGNALS.load(Ordering::SeqCst);
    let reaper = spawn_reaper(&ctx, &finished, move |ctx, done| {
        ctx.reap_with_sigmask(1, 4, Some(Duration::from_millis(400)), &mask, done)
    });
    for _ in 0..5 {
        sleep_ms(50);
        signal(&reaper);
    }
    let (result, done, elapsed) = reaper.join().unwrap();
    assert_eq!(result, Ok(0));
    assert!(done.is_empty());
    assert!(elapsed >= Duration::from_millis(350), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    // The blocked signals were delivered once the thread's own mask came back.
    assert!(SIGNALS.load(Ordering::SeqCst) > before);
}

// ---------------------------------------------------------------------------------------
// Argument errors and non-blocking reaps
// ---------------------------------------------------------------------------------------

#[test]
fn reap_with_min_above_max_is_einval() {
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let mut done = Vec::new();
    assert_eq!(
        ctx.reap(2, 1, Some(Duration::ZERO), &mut done),
        Err(Errno::INVAL)
    );
    assert_eq!(
        ctx.reap_with_sigmask(3, 2, Some(Duration::ZERO), &SigSet::EMPTY, &mut done),
        Err(Errno::INVAL)
    );
    // min beyond the ring can never be met.
    let beyond = ctx.ring_size() as usize + 1;
    assert_eq!(
        ctx.reap(beyond, usize::MAX, Some(Duration::ZERO), &mut done),
        Err(Errno::INVAL)
    );
    assert!(done.is_empty());
}

#[test]
fn non_blocking_reap_of_an_empty_context_returns_at_once() {
    let file = TempFile::new(Fs::Tmpfs, "edges-nonblocking", &[]);
    let f = file.open_rw();
    for user_space_reaping in [true, false] {
        let options = Options {
            user_space_reaping,
            ..Options::default()
        };
        let ctx = Context::<Vec<u8>>::with_options(4, options).unwrap();
        assert_eq!(ctx.reaps_in_user_space(), user_space_reaping);
        assert_eq!(ctx.ready(), 0);
        let mut done = Vec::new();
        let start = Instant::now();
        assert_eq!(ctx.reap(0, 8, Some(Duration::ZERO), &mut done), Ok(0));
        assert_eq!(ctx.reap(0, 8, None, &mut done), Ok(0), "min 0 never waits");
        assert_eq!(ctx.reap(1, 8, Some(Duration::ZERO), &mut done), Ok(0));
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_millis(50), "{elapsed:?}");

        // A buffered tmpfs write completes inside io_submit: its event is in the ring.
        ctx.submit(Op::write(&f, vec![1u8; 4], 0)).unwrap();
        assert_eq!(ctx.ready(), usize::from(user_space_reaping));
        assert_eq!(ctx.reap(0, 8, None, &mut done), Ok(1));
        assert_eq!(ctx.ready(), 0);
        assert_eq!(done.len(), 1);
        assert_eq!(ctx.in_flight(), 0);
    }
}

// ---------------------------------------------------------------------------------------
// aio_suspend / lio_listio analogues
// ---------------------------------------------------------------------------------------

#[test]
fn wait_any_wait_all_and_submit_and_wait() {
    let (r, w) = pipe();
    let file = TempFile::new(Fs::Tmpfs, "edges-wait", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(16).unwrap();
    let pending = ctx
        .submit(Op::poll(&r, PollFlags::IN).user_data(100))
        .unwrap();
    let w1 = ctx
        .submit(Op::write(&f, vec![1u8; 4], 0).user_data(1))
        .unwrap();
    let w2 = ctx
        .submit(Op::write(&f, vec![2u8; 4], 4).user_data(2))
        .unwrap();
    assert!(ctx.is_in_flight(pending) && ctx.is_in_flight(w1) && ctx.is_in_flight(w2));

    let mut done = Vec::new();
    // One of them is done: returns at once, and w2's completion is not lost.
    let start = Instant::now();
    assert_eq!(
        ctx.wait_any(&[pending, w1], Some(TIMEOUT), &mut done),
        Ok(1)
    );
    assert!(start.elapsed() < Duration::from_secs(1));
    let mut got: Vec<u64> = done.iter().map(Completion::user_data).collect();
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
    assert!(!ctx.is_in_flight(w1) && !ctx.is_in_flight(w2));
    assert!(ctx.is_in_flight(pending));

    // Not all done: waits out the timeout and says how many are.
    let start = Instant::now();
    assert_eq!(
        ctx.wait_all(&[pending, w1], Some(Duration::from_millis(200)), &mut done),
        Ok(1)
    );
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        ctx.wait_any(&[pending], Some(Duration::from_millis(50)), &mut done),
        Ok(0)
    );
    assert_eq!(ctx.wait_any(&[], Some(TIMEOUT), &mut done), Ok(0));
    assert_eq!(done.len(), 2);

    write_byte(&w);
    assert_eq!(
        ctx.wait_all(&[pending, w1, w2], Some(TIMEOUT), &mut done),
        Ok(3)
    );
    assert!(!ctx.is_in_flight(pending));
    assert_eq!(done.len(), 3);
    assert_eq!(done[2].token(), pending);

    // lio_listio(LIO_WAIT): everything submitted and completed on return.
    let mut ops: VecDeque<Op<Vec<u8>>> = (0..5u64)
        .map(|i| Op::write(&f, vec![i as u8; 4], 8 + i * 4).user_data(10 + i))
        .chain([Op::poll(&w, PollFlags::OUT).user_data(15)])
        .collect();
    done.clear();
    let s = {
        let _watchdog = Watchdog::new(Duration::from_secs(10), "submit_and_wait");
        ctx.submit_and_wait(&mut ops, &mut done, None)
    };
    assert_eq!(
        s,
        rawaio::Submitted {
            accepted: 6,
            error: None
        }
    );
    assert!(ops.is_empty());
    let mut got: Vec<u64> = done.iter().map(Completion::user_data).collect();
    got.sort_unstable();
    assert_eq!(got, [10, 11, 12, 13, 14, 15]);
    assert_eq!(ctx.in_flight(), 0);
}

// ---------------------------------------------------------------------------------------
// Destroy
// ---------------------------------------------------------------------------------------

#[test]
fn destroy_with_requests_in_flight_waits_then_drops_the_buffers() {
    let (r, _w) = pipe();
    // Synced zeros first, so the direct writes are overwrites that ext4 runs
    // asynchronously rather than inside io_submit.
    let file = TempFile::new(Fs::Disk, "edges-destroy", &[0u8; 8 * 4096]);
    file.open_rw().sync_all().unwrap();
    let f = file.open_direct();
    let log = DropLog::new(8);
    let ctx = Context::<Tracked>::new(16).unwrap();
    for i in 0..3 {
        ctx.submit(Op::poll(&r, PollFlags::IN).user_data(100 + i))
            .unwrap();
    }
    for id in 0..8 {
        let buf = Tracked::filled(&log, id, 4096, id as u8 + 1);
        ctx.submit(Op::write(&f, buf, id as u64 * 4096)).unwrap();
    }
    assert_eq!(ctx.in_flight(), 11);
    assert_eq!(log.total(), 0, "the context owns the buffers");
    let result = {
        let _watchdog = Watchdog::new(Duration::from_secs(10), "Context::destroy");
        ctx.destroy()
    };
    assert_eq!(result, Ok(()));
    assert!(log.each_once(), "every buffer dropped exactly once");
    assert_eq!(log.corrupted(), 0);
    let contents = file.contents();
    assert_eq!(contents.len(), 8 * 4096);
    for id in 0..8 {
        assert!(
            contents[id * 4096..(id + 1) * 4096]
                .iter()
                .all(|&b| b == id as u8 + 1),
            "write {id} finished before destroy returned"
        );
    }
}
