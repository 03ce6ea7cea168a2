//! Fault: a storm of signals at a thread blocked in `reap`.
//!
//! One thread waits in `Context::reap` for all of N completions (a blocking
//! `io_getevents` once the ring is empty); a second thread fires `SIGUSR1` at it
//! continuously (a handler without `SA_RESTART`, so every signal that lands during the
//! wait interrupts it with `EINTR`); a third produces the completions slowly, by writing
//! to the pipes of pending polls (the writes, submitted before the wait begins, complete
//! at once: a reap waits only for requests in flight). Expected outcome: the reaper gets
//! every one of the N completions exactly once, with its token, and returns only then;
//! thousands of signals were delivered meanwhile. Both reaping paths: the ring in user
//! space and `io_getevents` alone, each with a timeout and without one (a wait without
//! a timeout takes a loop of its own).

mod support;

use rawaio::{Context, Op, Options, PollFlags, Token};
use std::collections::HashSet;
use std::os::unix::thread::JoinHandleExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{Fs, TempFile, Watchdog, pipe, write_byte};

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigusr1(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

fn install_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let handler = on_sigusr1 as extern "C" fn(libc::c_int);
        // SAFETY: a zeroed sigaction is a valid start; the handler only touches an
        // atomic, which is async-signal-safe. No SA_RESTART: waits are interrupted.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        }
    });
}

/// A storm at a reap waiting up to `timeout` (`None`: for ever, the path without a clock).
fn storm(user_space_reaping: bool, timeout: Option<Duration>) {
    // One storm at a time, so each counts its own signals.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    install_handler();
    const POLLS: usize = 40;
    const WRITES: usize = 40;
    let n = POLLS + WRITES;
    let file = TempFile::new(Fs::Tmpfs, "fault-signal-storm", &[]);
    let f = file.open_rw();
    let pipes: Vec<_> = (0..POLLS).map(|_| pipe()).collect();
    let ctx = Arc::new(
        Context::<Vec<u8>>::with_options(
            64,
            Options {
                user_space_reaping,
                ..Options::default()
            },
        )
        .unwrap(),
    );
    let mut submitted: HashSet<Token> = HashSet::new();
    for (i, (r, _)) in pipes.iter().enumerate() {
        submitted.insert(
            ctx.submit(Op::poll(r, PollFlags::IN).user_data(i as u64))
                .unwrap(),
        );
    }
    for i in 0..WRITES {
        let op = Op::write(&f, vec![i as u8; 16], i as u64 * 16).user_data(1000 + i as u64);
        submitted.insert(ctx.submit(op).unwrap());
    }
    let before = SIGNALS.load(Ordering::Relaxed);
    let _watchdog = Watchdog::new(Duration::from_secs(60), "reap during a signal storm");

    let stop = Arc::new(AtomicBool::new(false));
    let reaper = {
        let ctx = Arc::clone(&ctx);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut done = Vec::new();
            let got = ctx.reap(n, n, timeout, &mut done);
            stop.store(true, Ordering::SeqCst);
            (got, done)
        })
    };
    let pthread = reaper.as_pthread_t();
    let sender = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut sent = 0usize;
            while !stop.load(Ordering::SeqCst) {
                // SAFETY: the reaper is joined only after this thread is, so its
                // pthread_t is valid (once it has exited, pthread_kill gives ESRCH);
                // SIGUSR1 has a handler.
                let r = unsafe { libc::pthread_kill(pthread, libc::SIGUSR1) };
                assert!(r == 0 || r == libc::ESRCH, "pthread_kill: {r}");
                sent += 1;
                std::thread::sleep(Duration::from_micros(50));
            }
            sent
        })
    };

    // The completions trickle in while the storm goes on: each step waits 5 ms and for at
    // least SIGNALS_PER_STEP more signals handled, so that however slowly a loaded
    // machine runs the sender, the reaper waits through more than 100 of them.
    const SIGNALS_PER_STEP: usize = 3;
    let start = Instant::now();
    for (i, (_, w)) in pipes.iter().enumerate() {
        std::thread::sleep(Duration::from_millis(5));
        let owed = (i + 1) * SIGNALS_PER_STEP;
        while SIGNALS.load(Ordering::Relaxed) - before < owed && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_micros(100));
        }
        write_byte(w);
    }
    let sent = sender.join().unwrap(); // returns once the reaper is done
    let (got, done) = reaper.join().unwrap();
    let delivered = SIGNALS.load(Ordering::Relaxed) - before;
    eprintln!(
        "user-space reaping {user_space_reaping}, timeout {timeout:?}: {sent} signals sent, \
         {delivered} handled, {n} completions reaped in {:?}",
        start.elapsed()
    );
    assert_eq!(got, Ok(n), "reap returned early: {} of {n}", done.len());
    assert!(
        delivered >= 100,
        "the storm never hit the reaper ({delivered} signals)"
    );
    let completed: HashSet<Token> = done.iter().map(|c| c.token()).collect();
    assert_eq!(completed.len(), n, "a completion came twice");
    assert_eq!(completed, submitted, "every request, exactly once");
    for c in &done {
        match c.user_data() {
            i @ 0..1000 => assert_ne!(c.result().unwrap() & 1, 0, "poll {i}"),
            i => assert_eq!(c.result(), Ok(16), "write {i}"),
        }
    }
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn signal_storm_during_a_blocking_reap_from_the_ring() {
    storm(true, Some(Duration::from_secs(30)));
}

#[test]
fn signal_storm_during_a_blocking_io_getevents() {
    storm(false, Some(Duration::from_secs(30)));
}

#[test]
fn signal_storm_during_a_reap_without_timeout_from_the_ring() {
    storm(true, None);
}

#[test]
fn signal_storm_during_an_io_getevents_without_timeout() {
    storm(false, None);
}
