//! The progress display on stderr (indicatif): a bar redrawn in place on a terminal,
//! nothing when stderr is a file or a pipe.

use crate::cli::Rw;
use crate::drive::Shared;
use crate::run::Plan;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::Ordering::Relaxed;
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

/// Steps of the bar: per mille of the run.
const STEPS: u64 = 1000;

/// The display of the runs' progress.
pub struct Progress;

impl Progress {
    /// Updates the bar until every thread of `handles` has finished (it wakes every
    /// 20 ms: counted in the run's CPU time, as a display costs).
    pub fn watch<T>(&self, plan: &Plan, shared: &Shared, handles: &[ScopedJoinHandle<'_, T>]) {
        let bar = ProgressBar::with_draw_target(Some(STEPS), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("[{bar:24}] {percent:>3}% {elapsed_precise} {msg}")
                .expect("a valid template")
                .progress_chars("#>."),
        );
        let start = Instant::now();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
            let elapsed = start.elapsed();
            let done = shared.completed.load(Relaxed);
            let iops = done as f64 / elapsed.as_secs_f64().max(1e-9);
            bar.set_position((fraction(plan, elapsed, done) * STEPS as f64) as u64);
            bar.set_message(format!(
                "{:<28} {:>9} IOPS",
                plan.case.label(),
                fmt_count(iops)
            ));
        }
        bar.finish_and_clear();
    }
}

/// How far the run is, 0 to 1: by time, by I/Os, whichever is further.
fn fraction(plan: &Plan, elapsed: Duration, done: u64) -> f64 {
    let cfg = plan.cfg;
    let by_time = cfg.runtime.map(|r| elapsed.as_secs_f64() / r.as_secs_f64());
    let per_block = if plan.case.rw == Rw::Verify { 2 } else { 1 };
    let by_ios = cfg
        .ios
        .map(|n| done as f64 / (n.saturating_mul(per_block)) as f64);
    match (by_time, by_ios) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => 0.0,
    }
    .clamp(0.0, 1.0)
}

/// `950`, `12.3k`, `1.25M`.
fn fmt_count(n: f64) -> String {
    if n < 1e3 {
        format!("{n:.0}")
    } else if n < 1e6 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{:.2}M", n / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_count;

    #[test]
    fn counts() {
        assert_eq!(fmt_count(950.0), "950");
        assert_eq!(fmt_count(12_345.0), "12.3k");
        assert_eq!(fmt_count(1_250_000.0), "1.25M");
    }
}
