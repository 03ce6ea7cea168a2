//! One run (an engine, an access pattern, a reaping mode): its threads, their passes,
//! and the report that merges them.

use crate::aio::{AsyncEngine, Awaited, Buf, FixedEngine, PollReactor, RawaioEngine};
use crate::cli::{Config, EngineKind, Reap, Rw};
use crate::drive::{Pass, Shared, Tally, drive};
use crate::engine::{Dir, Engine};
use crate::pattern::{Order, WORD_STEP, XorShift, fill_pattern, share, splitmix64};
use crate::progress::Progress;
use crate::psync::PsyncEngine;
use crate::stats::{Latencies, cpu_times};
use crate::target::Target;
use crate::uring::UringEngine;
use rawaio::FixedContext;
use rawaio::reactor::{BusyPoll, Driven};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// One run: an engine, an access pattern and (for rawaio) a reaping mode.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub engine: EngineKind,
    pub rw: Rw,
    pub reap: Option<Reap>,
}

impl Case {
    pub fn label(&self) -> String {
        match self.reap {
            Some(reap) => format!("{}/{} {}", self.engine.name(), reap.name(), self.rw.name()),
            None => format!("{} {}", self.engine.name(), self.rw.name()),
        }
    }

    /// Requests in flight per thread.
    fn depth(&self, cfg: &Config) -> usize {
        if self.engine == EngineKind::Psync {
            1
        } else {
            cfg.qd
        }
    }

    /// The queue depth shown: psync has one request in flight per thread.
    pub fn shown_qd(&self, cfg: &Config) -> usize {
        if self.engine == EngineKind::Psync {
            cfg.threads
        } else {
            cfg.qd
        }
    }

    pub fn batch(&self, cfg: &Config) -> usize {
        if self.engine == EngineKind::Psync {
            1
        } else {
            cfg.batch
        }
    }
}

/// Every combination of `--rw`, `--engine` and (for rawaio) `--reap`, in that nesting.
pub fn cases(cfg: &Config) -> Vec<Case> {
    let mut cases = Vec::new();
    for &rw in &cfg.rws {
        for &engine in &cfg.engines {
            if engine == EngineKind::Rawaio {
                for &reap in &cfg.reaps {
                    cases.push(Case {
                        engine,
                        rw,
                        reap: Some(reap),
                    });
                }
            } else {
                cases.push(Case {
                    engine,
                    rw,
                    reap: None,
                });
            }
        }
    }
    cases
}

/// What one run's threads need to know.
pub struct Plan<'a> {
    pub cfg: &'a Config,
    pub target: &'a Target,
    pub case: Case,
    /// Seeds this run's offsets and verify pattern (distinct per run, so a block left
    /// over from an earlier verify never passes for a new one).
    pub seed: u64,
}

struct ThreadResult {
    tally: Tally,
    start: Instant,
    end: Instant,
}

/// What a run measured.
pub struct Report {
    pub case: Case,
    pub qd: usize,
    pub batch: usize,
    pub ios: u64,
    pub secs: f64,
    pub latencies: Latencies,
    pub user: Duration,
    pub system: Duration,
    pub mismatches: u64,
}

pub fn run_case(plan: &Plan, progress: &Progress) -> Result<Report, String> {
    let cfg = plan.cfg;
    let shared = Shared::new(cfg.threads);
    let (results, user, system) = std::thread::scope(|scope| {
        let shared = &shared;
        let handles: Vec<_> = (0..cfg.threads)
            .map(|t| scope.spawn(move || worker(plan, t, shared)))
            .collect();
        // Every engine is set up (contexts created, buffers allocated) before the clock
        // and the CPU counters start.
        shared.setup.wait();
        let cpu_before = cpu_times();
        shared.go.wait();
        progress.watch(plan, shared, &handles);
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect();
        let cpu_after = cpu_times();
        (
            results,
            cpu_after.0.saturating_sub(cpu_before.0),
            cpu_after.1.saturating_sub(cpu_before.1),
        )
    });
    let mut threads = Vec::new();
    let mut first_error = None;
    for result in results {
        match result {
            Ok(r) => threads.push(r),
            // An empty message: stopped because another thread failed.
            Err(e) if e.is_empty() => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let start = threads.iter().map(|r| r.start).min();
    let end = threads.iter().map(|r| r.end).max();
    let secs = match (start, end) {
        (Some(s), Some(e)) => (e - s).as_secs_f64(),
        _ => 0.0,
    };
    let mut report = Report {
        case: plan.case,
        qd: plan.case.shown_qd(cfg),
        batch: plan.case.batch(cfg),
        ios: 0,
        secs,
        latencies: Latencies::new(),
        user,
        system,
        mismatches: 0,
    };
    for r in &threads {
        report.ios += r.tally.ios;
        report.mismatches += r.tally.mismatches;
        report.latencies.merge(&r.tally.latencies);
    }
    Ok(report)
}

fn worker(plan: &Plan, t: usize, shared: &Shared) -> Result<ThreadResult, String> {
    let (cfg, target, case) = (plan.cfg, plan.target, plan.case);
    let depth = case.depth(cfg);
    match case.engine {
        EngineKind::Rawaio => {
            let reap = case.reap.unwrap_or(Reap::Ring);
            let engine = RawaioEngine::new(target, depth, cfg.bs, reap);
            run_thread(engine, plan, t, shared)
        }
        EngineKind::Psync => run_thread(PsyncEngine::new(target, cfg.bs), plan, t, shared),
        EngineKind::IoUring => {
            let engine = UringEngine::new(target, depth, cfg.bs);
            run_thread(engine, plan, t, shared)
        }
        EngineKind::Async => run_thread(
            AsyncEngine::<PollReactor>::new(target, depth, cfg.bs),
            plan,
            t,
            shared,
        ),
        EngineKind::Driven => run_thread(
            AsyncEngine::<Driven>::new(target, depth, cfg.bs),
            plan,
            t,
            shared,
        ),
        EngineKind::Fixed => run_thread(
            FixedEngine::<FixedContext<Buf>>::new(target, depth, cfg.bs),
            plan,
            t,
            shared,
        ),
        EngineKind::FixedAsync => run_thread(
            FixedEngine::<Awaited>::new(target, depth, cfg.bs),
            plan,
            t,
            shared,
        ),
        EngineKind::Busy => run_thread(
            AsyncEngine::<BusyPoll>::new(target, depth, cfg.bs),
            plan,
            t,
            shared,
        ),
    }
}

/// Meets the other threads at the barriers whatever happened during set-up (a thread that
/// skipped them would leave the others waiting for ever), then runs the passes.
fn run_thread<E: Engine>(
    engine: Result<E, String>,
    plan: &Plan,
    t: usize,
    shared: &Shared,
) -> Result<ThreadResult, String> {
    let engine = engine.map(|mut engine| {
        // Writes that do not verify send whatever the buffers hold: make it data, not
        // zeroes, which some devices treat specially.
        for slot in 0..engine.depth() {
            fill_pattern(engine.buf_mut(slot), slot as u64, plan.seed);
        }
        engine
    });
    if engine.is_err() {
        shared.abort.store(true, Relaxed);
    }
    shared.setup.wait();
    shared.go.wait();
    let mut engine = engine?;
    if shared.abort.load(Relaxed) {
        return Err(String::new());
    }
    let start = Instant::now();
    let mut tally = Tally {
        latencies: Latencies::new(),
        ios: 0,
        mismatches: 0,
    };
    let result = run_passes(&mut engine, plan, t, start, shared, &mut tally);
    let end = Instant::now();
    if result.is_err() {
        shared.abort.store(true, Relaxed);
    }
    result.map(|()| ThreadResult { tally, start, end })
}

fn run_passes<E: Engine>(
    engine: &mut E,
    plan: &Plan,
    t: usize,
    start: Instant,
    shared: &Shared,
    tally: &mut Tally,
) -> Result<(), String> {
    let cfg = plan.cfg;
    let blocks = plan.target.blocks(cfg.bs);
    let (first, len) = share(blocks, cfg.threads, t);
    let limit = cfg.ios.map_or(u64::MAX, |n| share(n, cfg.threads, t).1);
    let deadline = cfg.runtime.map(|r| start + r);
    let thread_seed = splitmix64(plan.seed ^ (t as u64 + 1).wrapping_mul(WORD_STEP));
    let simple = |dir, order| Pass {
        dir,
        order,
        limit,
        deadline,
        fill_seed: None,
        check_seed: None,
    };
    let random = || Order::Random {
        blocks,
        rng: XorShift::new(thread_seed),
    };
    let mut run = |mut pass: Pass| drive(engine, &mut pass, cfg.bs, cfg.batch, shared, tally);
    match plan.case.rw {
        Rw::Read => run(simple(Dir::Read, Order::Sequential { first, len })).map(drop),
        Rw::Write => run(simple(Dir::Write, Order::Sequential { first, len })).map(drop),
        Rw::RandRead => run(simple(Dir::Read, random())).map(drop),
        Rw::RandWrite => run(simple(Dir::Write, random())).map(drop),
        Rw::Verify => {
            // Write each block of this thread's share once (or as many as --ios allows,
            // or as fit in half the time), then read back exactly those and check them.
            let written = run(Pass {
                dir: Dir::Write,
                order: Order::permuted(first, len, thread_seed),
                limit: limit.min(len),
                deadline: cfg.runtime.map(|r| start + r / 2),
                fill_seed: Some(plan.seed),
                check_seed: None,
            })?;
            run(Pass {
                dir: Dir::Read,
                order: Order::permuted(first, len, thread_seed),
                limit: written,
                deadline: None,
                fill_seed: None,
                check_seed: Some(plan.seed),
            })
            .map(drop)
        }
    }
}
