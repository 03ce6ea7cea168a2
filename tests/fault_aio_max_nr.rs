//! Fault: the system-wide AIO budget (`/proc/sys/fs/aio-max-nr`) is used up.
//!
//! The budget is global (not per namespace or container): every process on the machine
//! draws on it. So the two tests here differ in what they may touch:
//!
//! - `more_than_can_be_free_is_eagain_and_takes_nothing` runs everywhere. Holding one
//!   context of its own (so `aio-nr` is at least 1), it asks for exactly `aio-max-nr`
//!   events: that passes the kernel's first check (`nr <= aio-max-nr`) and must fail the
//!   budget check itself (`aio-nr + nr > aio-max-nr`), whatever other processes do
//!   meanwhile, so nothing is ever taken from them. Expected outcome: `Context::new` fails
//!   cleanly with `EAGAIN`, and the held context and new ones keep working.
//! - `exhausted_budget_gives_eagain_then_recovers` takes the whole free budget with one
//!   raw `io_setup` for a few milliseconds (the sysctl is never changed), which makes
//!   every other AIO user on the machine fail meanwhile. It runs only where the machine
//!   is ours: when `RAWAIO_TEST_SOLE_AIO_USER=1`, which the init of the qemu-system test
//!   kernels sets (`.ci/qemu/src/init.rs`); elsewhere it says it skipped and why.
//!   Expected outcome: while the budget is spent, `Context::new(1)` fails cleanly with
//!   `EAGAIN`; once it is released, contexts work again.

mod common;

use rawaio::abi::aio_context_t;
use rawaio::{Context, Errno, Op};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The environment variable saying that this test run is the machine's only AIO user.
const SOLE_USER: &str = "RAWAIO_TEST_SOLE_AIO_USER";
/// The most events one `io_setup` may ask for before the kernel's size check (`EINVAL`)
/// comes first: it doubles `nr` and refuses more than `0x10000000 / sizeof(io_event)`.
const KERNEL_MAX_EVENTS: u64 = 0x40_0000;

/// The two tests run one at a time: the one that takes the budget would starve the other.
static BUDGET: Mutex<()> = Mutex::new(());

/// Asserts that `Context::new` failed with `EAGAIN`. The one place that knows the type of
/// its error: if that becomes a richer error reporting the errno through `.errno()`,
/// change `error` here.
#[track_caller]
fn assert_eagain(error: rawaio::Error, what: &str) {
    assert_eq!(error.errno(), Some(Errno::AGAIN), "{what}: {error:?}");
}

fn read_number(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn max_nr() -> u64 {
    read_number("/proc/sys/fs/aio-max-nr")
}

fn aio_nr() -> u64 {
    read_number("/proc/sys/fs/aio-nr")
}

/// Checks that `ctx` still does I/O: reads back what was written to a tmpfs file.
fn assert_works(ctx: &Context<Vec<u8>>) {
    const CONTENT: &[u8] = b"the budget is back";
    let temp = common::TempFile::create(&common::tmpfs_dir(), "aio-max-nr", false).unwrap();
    std::fs::write(&temp.path, CONTENT).unwrap();
    ctx.submit(Op::read(&temp.file, vec![0u8; CONTENT.len()], 0))
        .unwrap();
    let mut done = Vec::new();
    assert_eq!(
        ctx.reap(1, 1, Some(Duration::from_secs(5)), &mut done),
        Ok(1)
    );
    assert_eq!(done[0].buf().unwrap(), CONTENT);
}

#[test]
fn more_than_can_be_free_is_eagain_and_takes_nothing() {
    let _one_at_a_time = BUDGET.lock().unwrap_or_else(|e| e.into_inner());
    let held = Context::<Vec<u8>>::new(1).expect("a context of 1 event");
    let max = max_nr();
    let before = aio_nr();
    assert!(before >= 1, "aio-nr is {before} with a context held");
    let ask = u32::try_from(max).unwrap_or(u32::MAX);
    let result = Context::<Vec<u8>>::new(ask);
    if max > KERNEL_MAX_EVENTS {
        // A machine with a huge budget: the kernel's size check refuses first.
        eprintln!("note: aio-max-nr is {max}, above the size limit: EINVAL comes first");
        assert_eq!(
            result.err().and_then(|e| e.errno()),
            Some(Errno::INVAL),
            "Context::new({ask})"
        );
    } else {
        match result {
            Err(e) => assert_eagain(e, &format!("Context::new({ask}) with aio-nr {before}")),
            Ok(_) => panic!("Context::new({ask}) succeeded with aio-nr {before} of {max}"),
        }
    }
    eprintln!(
        "aio-max-nr {max}, aio-nr {before} before and {} after the refused Context::new({ask})",
        aio_nr()
    );
    // Nothing was taken: the context held works, and so does a new one.
    assert_works(&held);
    assert_works(&Context::new(1).expect("a new context after the refusal"));
}

/// Takes every free event of the budget with one `io_setup`; `None` if another process
/// changed the budget between reading it and asking.
fn take_everything() -> Option<(aio_context_t, u64)> {
    let free = max_nr().saturating_sub(aio_nr());
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
    if std::env::var_os(SOLE_USER).is_none_or(|v| v != "1") {
        eprintln!(
            "skipped: this test takes the whole system-wide AIO budget for a few ms, which \
             makes every other AIO user of the machine fail meanwhile; it runs only where \
             the machine is ours ({SOLE_USER}=1, set inside the qemu-system test kernels)"
        );
        return;
    }
    let _one_at_a_time = BUDGET.lock().unwrap_or_else(|e| e.into_inner());
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
    assert_eagain(error, "Context::new(1) with the budget spent");
    assert!(
        held < Duration::from_secs(1),
        "held the budget for {held:?}"
    );

    // Released: contexts work again.
    assert_works(&Context::new(4).expect("the budget is back"));
}
