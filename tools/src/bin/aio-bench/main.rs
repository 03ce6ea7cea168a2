//! aio-bench: a fio-like benchmark of Linux native AIO through rawaio, against
//! `pread`/`pwrite` from a thread pool (psync) and io_uring, reporting IOPS, MB/s,
//! submit-to-completion latency percentiles and CPU time per I/O.
//!
//! `aio-bench --help` lists the options. With none it creates a 128 MiB file in the
//! temporary directory, runs a short random write, random read and verify on every
//! default engine, prints a table and removes the file. Every combination of the `--rw`,
//! `--engine` and `--reap` lists is one run.
//!
//! **The loop** ([`drive`]). Each thread has its own engine (a rawaio context, an
//! io_uring, or a plain file handle for psync) with `--qd` slots, each slot a buffer
//! reused for every request it carries: nothing is allocated per I/O. Requests are
//! submitted `--batch` at a time; the thread then waits for enough completions to fill
//! the next batch. Latency is measured from the submitting call to the return of the
//! call that reaped the completion, into an HDR histogram (0.1% resolution).
//!
//! **verify** writes blocks in a pseudo-random order, each filled with a pattern derived
//! from its offset and a per-run seed, then reads every one back and checks every byte.
//! Mismatches are reported and make the exit status 1.
//!
//! **Engines.** rawaio ([`aio`]): a context per thread, `submit_batch`, and `--reap` ring
//! (user-space ring, `io_getevents` only to wait), syscall (every reap an
//! `io_getevents`) or eventfd (block on the context's eventfd, then reap as many as it
//! counted). async ([`aio`]): rawaio's `AsyncContext` on a minimal executor that waits
//! for the eventfd; driven: the same on a `reactor::Driven` context, parked in; busy:
//! the same on a `reactor::BusyPoll` context, never waiting (the poller future wakes its
//! own task after each look at the ring). fixed
//! ([`aio`]): rawaio's `FixedContext`, a slot per queue slot that keeps its `iocb` and
//! buffer; fixed-async: the same through an `AsyncFixedContext`, its completions awaited
//! through the eventfd by a minimal executor. psync
//! ([`psync`]): `--threads` threads doing `pread`/`pwrite`. io_uring ([`uring`]): plain
//! READ/WRITE, set up as fio does; where io_uring is denied (seccomp, the
//! `kernel.io_uring_disabled` sysctl) it is reported as unavailable and skipped.
//!
//! **CPU time** is the whole process's user and system time (`getrusage`) over the run,
//! divided by the I/Os done: it includes io_uring's kernel workers and the progress
//! display.
//!
//! Exit status: 0; 1 when a verify found a mismatch; 2 for a usage error or a failed run.

mod aio;
mod cli;
mod drive;
mod engine;
mod pattern;
mod progress;
mod psync;
mod report;
mod run;
mod stats;
mod target;
mod uring;

use cli::{Config, EngineKind};
use pattern::splitmix64;
use progress::Progress;
use run::{Plan, cases, run_case};
use std::io::{self, Write as _};
use std::process::ExitCode;

/// How the runs ended, for the exit status.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Clean,
    Mismatches,
    Failed,
}

fn main() -> ExitCode {
    let cfg = match cli::parse(std::env::args_os().skip(1)) {
        Ok(cfg) => cfg,
        Err(e) => e.exit(),
    };
    match run_all(&cfg) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Mismatches) => ExitCode::from(1),
        Ok(Outcome::Failed) => ExitCode::from(2),
        Err(e) => {
            eprintln!("aio-bench: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_all(cfg: &Config) -> Result<Outcome, String> {
    let uring_unavailable = if cfg.engines.contains(&EngineKind::IoUring) {
        uring::availability().err()
    } else {
        None
    };
    if let Some(why) = &uring_unavailable {
        eprintln!("aio-bench: io_uring unavailable, its runs are skipped: {why}");
    }
    let target = target::prepare(cfg)?;
    if cfg.json {
        eprintln!("aio-bench: target {}", target.description);
    } else {
        println!("target: {}", target.description);
        println!("{}", report::table_header());
    }
    let mut outcome = Outcome::Clean;
    for (i, case) in cases(cfg).into_iter().enumerate() {
        if case.engine == EngineKind::IoUring {
            if let Some(why) = &uring_unavailable {
                if !cfg.json {
                    let note = format!("unavailable: {why}");
                    println!("{}", report::table_note(cfg, &case, &note));
                }
                continue;
            }
        }
        let plan = Plan {
            cfg,
            target: &target,
            case,
            seed: splitmix64(cfg.seed.wrapping_add(i as u64)),
        };
        match run_case(&plan, &Progress) {
            Ok(report) => {
                if cfg.json {
                    println!("{}", report::json_line(cfg, &target, &report));
                } else {
                    println!("{}", report::table_row(cfg, &report));
                }
                if report.mismatches > 0 && outcome == Outcome::Clean {
                    outcome = Outcome::Mismatches;
                }
            }
            Err(e) => {
                eprintln!("aio-bench: {}: {e}", case.label());
                if !cfg.json {
                    println!("{}", report::table_note(cfg, &case, "failed (see above)"));
                }
                outcome = Outcome::Failed;
            }
        }
        let _ = io::stdout().flush();
    }
    if !cfg.json {
        println!("{}", report::TABLE_FOOTER);
    }
    Ok(outcome)
}
