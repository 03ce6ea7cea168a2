//! Fault: the system-wide AIO budget (`/proc/sys/fs/aio-max-nr`) is used up.
//!
//! The sysctl is never changed: the test takes whatever is free with one raw `io_setup`
//! and gives it back within milliseconds (other processes on the machine share the
//! budget; this binary holds only this test so nothing else here competes). Expected
//! outcome: while the budget is spent, `Context::new` fails cleanly with `EAGAIN` (no
//! panic, nothing leaked, `aio-nr` unchanged by the failure); once it is released,
//! `Context::new` succeeds and the context works. A request larger than the free part
//! fails with `EAGAIN` without taking anything.

use rawaio::abi::aio_context_t;
use rawaio::{Context, Errno, Op};
use std::time::{Duration, Instant};

fn read_number(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn free_budget() -> u64 {
    read_number("/proc/sys/fs/aio-max-nr").saturating_sub(read_number("/proc/sys/fs/aio-nr"))
}

/// Takes every free event of the budget with one `io_setup`; `None` if another process
/// changed the budget between reading it and asking.
fn take_everything() -> Option<(aio_context_t, u64)> {
    let free = free_budget();
    let nr = u32::try_from(free).ok().filter(|&n| n > 0)?;
    let mut ctx: aio_context_t = 0;
    // SAFETY: `ctx` is a zeroed handle for the kernel to fill.
    match unsafe { rawaio::sys::io_setup(nr, &mut ctx) } {
        Ok(()) => Some((ctx, free)),
        Err(Errno::AGAIN) => None,
        Err(e) => panic!("io_setup({nr}): {e}"),
    }
}

#[test]
fn exhausted_budget_gives_eagain_then_recovers() {
    // Asking for more than is free takes nothing and fails.
    let before = read_number("/proc/sys/fs/aio-nr");
    let too_many = u32::try_from(free_budget() + 1).unwrap_or(u32::MAX);
    match Context::<Vec<u8>>::new(too_many) {
        Err(e) => assert_eq!(e.errno(), Some(Errno::AGAIN), "Context::new({too_many})"),
        Ok(_) => eprintln!("note: budget freed meanwhile by another process"),
    }

    let mut outcome = None;
    for attempt in 1..=20 {
        let Some((big, free)) = take_everything() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let start = Instant::now();
        let refused = Context::<Vec<u8>>::new(1);
        // SAFETY: `big` was set up above, has no request and is destroyed once.
        unsafe { rawaio::sys::io_destroy(big) }.expect("io_destroy of the big context");
        let held = start.elapsed();
        match refused {
            Err(e) => {
                outcome = Some((e, free, held, attempt));
                break;
            }
            // Another process released some budget while it was held: try again.
            Ok(ctx) => drop(ctx),
        }
    }
    let Some((error, free, held, attempt)) = outcome else {
        panic!("could not exhaust the budget in 20 attempts (it keeps changing)");
    };
    eprintln!(
        "took all {free} free events (attempt {attempt}), held them {held:?}: Context::new(1) gave {error:?}"
    );
    assert_eq!(error.errno(), Some(Errno::AGAIN));
    assert!(
        held < Duration::from_secs(1),
        "held the budget for {held:?}"
    );

    // Released: contexts work again.
    let ctx = Context::<Vec<u8>>::new(4).expect("the budget is back");
    let file = std::fs::File::open(env!("CARGO_MANIFEST_DIR").to_owned() + "/Cargo.toml").unwrap();
    ctx.submit(Op::read(&file, vec![0u8; 11], 0)).unwrap();
    let mut done = Vec::new();
    assert_eq!(
        ctx.reap(1, 1, Some(Duration::from_secs(5)), &mut done),
        Ok(1)
    );
    assert_eq!(done[0].buf().unwrap(), b"[workspace]");
    drop(ctx);
    let after = read_number("/proc/sys/fs/aio-nr");
    eprintln!("aio-nr {before} before, {after} after");
}
