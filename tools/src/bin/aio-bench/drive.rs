//! The benchmark loop, common to every engine: keep requests in flight, submit them in
//! batches, time each from submission to reaping, check what verify reads.

use crate::engine::{Dir, Engine};
use crate::pattern::{Order, check_pattern, fill_pattern};
use crate::stats::Latencies;
use std::collections::VecDeque;
use std::io;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// One pass over the target: what to do, where, and when to stop.
pub struct Pass {
    pub dir: Dir,
    pub order: Order,
    /// Requests to issue at most.
    pub limit: u64,
    pub deadline: Option<Instant>,
    /// Fill each write's buffer with the pattern of this seed.
    pub fill_seed: Option<u64>,
    /// Check each read against the pattern of this seed.
    pub check_seed: Option<u64>,
}

/// What the threads of one run share.
pub struct Shared {
    pub epoch: Instant,
    /// Completions so far, for the progress display.
    pub completed: AtomicU64,
    /// Set by a failing thread: the others stop.
    pub abort: AtomicBool,
    pub setup: Barrier,
    pub go: Barrier,
}

impl Shared {
    pub fn new(threads: usize) -> Self {
        Self {
            epoch: Instant::now(),
            completed: AtomicU64::new(0),
            abort: AtomicBool::new(false),
            setup: Barrier::new(threads + 1),
            go: Barrier::new(threads + 1),
        }
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// A thread's results.
pub struct Tally {
    pub latencies: Latencies,
    pub ios: u64,
    pub mismatches: u64,
}

#[derive(Clone, Copy, Default)]
struct SlotInfo {
    offset: u64,
    submitted_ns: u64,
}

/// Runs one pass: keeps up to `depth` requests in flight, submitting `batch` at a time;
/// returns how many requests it issued (all of which completed in full).
pub fn drive<E: Engine>(
    engine: &mut E,
    pass: &mut Pass,
    bs: usize,
    batch: usize,
    shared: &Shared,
    tally: &mut Tally,
) -> Result<u64, String> {
    let depth = engine.depth();
    let batch = batch.clamp(1, depth);
    let mut free: Vec<usize> = (0..depth).rev().collect();
    let mut slots = vec![SlotInfo::default(); depth];
    let mut queued: VecDeque<usize> = VecDeque::with_capacity(depth);
    let mut in_flight = 0;
    let mut issued = 0;
    let mut failure: Option<String> = None;
    loop {
        let stopping = issued >= pass.limit
            || shared.abort.load(Relaxed)
            || pass.deadline.is_some_and(|d| Instant::now() >= d);
        // Submit `batch` requests per call while slots are free. A short batch goes in
        // only when nothing else would move: nothing in flight, or no more to issue.
        loop {
            if !stopping {
                while queued.len() < batch && issued < pass.limit {
                    let Some(slot) = free.pop() else { break };
                    let offset = pass.order.block(issued) * bs as u64;
                    slots[slot].offset = offset;
                    if let Some(seed) = pass.fill_seed {
                        fill_pattern(engine.buf_mut(slot), offset, seed);
                    }
                    engine.prepare(slot, offset, pass.dir)?;
                    queued.push_back(slot);
                    issued += 1;
                }
            }
            let ready = queued.len() >= batch || in_flight == 0 || stopping;
            if queued.is_empty() || !ready {
                break;
            }
            let now = shared.now_ns();
            for &slot in &queued {
                slots[slot].submitted_ns = now;
            }
            let accepted = engine.submit()?;
            if accepted == 0 && in_flight == 0 {
                return Err("the kernel accepted no request, with none in flight".into());
            }
            queued.drain(..accepted);
            in_flight += accepted;
            if !queued.is_empty() {
                // Full for now: reap first.
                break;
            }
        }
        if in_flight == 0 {
            if stopping && queued.is_empty() {
                return Ok(issued);
            }
            continue;
        }
        // Wait for enough completions to make up the next batch.
        let want = batch.saturating_sub(queued.len()).clamp(1, in_flight);
        let mut reaped_at = None;
        let check_seed = pass.check_seed;
        let got = engine.reap(want, &mut |slot, result, buf| {
            let now = *reaped_at.get_or_insert_with(|| shared.now_ns());
            let info = slots[slot];
            tally
                .latencies
                .record(now.saturating_sub(info.submitted_ns));
            free.push(slot);
            if result != bs as i64 {
                failure.get_or_insert_with(|| describe_failure(pass.dir, info.offset, result, bs));
                return;
            }
            tally.ios += 1;
            if let Some(seed) = check_seed {
                if let Some(m) = check_pattern(buf, info.offset, seed) {
                    tally.mismatches += 1;
                    if tally.mismatches <= 5 {
                        eprintln!(
                            "aio-bench: verify: block at offset {}: first bad byte {} bytes in \
                             (word {:#018x}, expected {:#018x})",
                            info.offset,
                            m.at - info.offset,
                            m.found,
                            m.expected
                        );
                    }
                }
            }
        })?;
        in_flight = in_flight
            .checked_sub(got)
            .ok_or("the engine reaped more requests than were in flight")?;
        shared.completed.fetch_add(got as u64, Relaxed);
        if let Some(failure) = failure {
            shared.abort.store(true, Relaxed);
            return Err(failure);
        }
    }
}

fn describe_failure(dir: Dir, offset: u64, result: i64, bs: usize) -> String {
    let what = if dir == Dir::Read { "read" } else { "write" };
    if result < 0 {
        let err = io::Error::from_raw_os_error((-result) as i32);
        format!("{what} at offset {offset}: {err}")
    } else {
        format!("{what} at offset {offset}: {result} of {bs} bytes transferred")
    }
}
