//! The output: a table for people, or one JSON object per run (serde_json) for programs.

use crate::cli::{Config, Reap, Rw};
use crate::run::{Case, Report};
use crate::target::Target;
use rawaio_tools::size::fmt_bytes;
use serde::Serialize;
use std::time::Duration;

pub fn table_header() -> String {
    format!(
        "{:<11} {:<7} {:<9} {:>5} {:>4} {:>5} {:>3} {:>9} {:>8} {:>7} {:>7} {:>8} {:>6} {:>6}  {}",
        "engine",
        "reap",
        "rw",
        "bs",
        "qd",
        "batch",
        "thr",
        "IOPS",
        "MB/s",
        "p50",
        "p99",
        "p99.9",
        "usr/io",
        "sys/io",
        "verify"
    )
}

pub const TABLE_FOOTER: &str = "latency: submit to reap, in us; cpu: the process's user and \
    system time per I/O, in us; psync: one request in flight per thread";

fn table_prefix(cfg: &Config, case: &Case, qd: usize, batch: usize) -> String {
    format!(
        "{:<11} {:<7} {:<9} {:>5} {:>4} {:>5} {:>3}",
        case.engine.name(),
        case.reap.map_or("-", Reap::name),
        case.rw.name(),
        fmt_bytes(cfg.bs as u64),
        qd,
        batch,
        cfg.threads
    )
}

/// A row that says why a case has no figures (unavailable, failed).
pub fn table_note(cfg: &Config, case: &Case, note: &str) -> String {
    let prefix = table_prefix(cfg, case, case.shown_qd(cfg), case.batch(cfg));
    format!("{prefix} {note}")
}

pub fn table_row(cfg: &Config, r: &Report) -> String {
    let m = Metrics::of(cfg, r);
    let verify = match (r.case.rw, r.mismatches) {
        (Rw::Verify, 0) => "ok".to_owned(),
        (Rw::Verify, n) => format!("{n} BAD"),
        _ => "-".to_owned(),
    };
    format!(
        "{} {:>9.0} {:>8.1} {:>7} {:>7} {:>8} {:>6.2} {:>6.2}  {verify}",
        table_prefix(cfg, &r.case, r.qd, r.batch),
        m.iops,
        m.mbps,
        fmt_us(r.latencies.percentile(0.50)),
        fmt_us(r.latencies.percentile(0.99)),
        fmt_us(r.latencies.percentile(0.999)),
        m.user_us,
        m.system_us,
    )
}

/// The derived numbers of a run.
struct Metrics {
    iops: f64,
    mbps: f64,
    user_us: f64,
    system_us: f64,
}

impl Metrics {
    fn of(cfg: &Config, r: &Report) -> Self {
        let secs = r.secs.max(1e-9);
        let per_io = |d: Duration| {
            if r.ios == 0 {
                0.0
            } else {
                d.as_secs_f64() * 1e6 / r.ios as f64
            }
        };
        Self {
            iops: r.ios as f64 / secs,
            mbps: (r.ios as f64 * cfg.bs as f64) / secs / 1e6,
            user_us: per_io(r.user),
            system_us: per_io(r.system),
        }
    }
}

/// One run as JSON: the fields and their order are what benches/run.sh and
/// benches/factors.sh read.
#[derive(Serialize)]
pub struct JsonRun<'a> {
    engine: &'static str,
    rw: &'static str,
    reap: Option<&'static str>,
    bs: usize,
    qd: usize,
    batch: usize,
    threads: usize,
    direct: bool,
    target: &'a str,
    ios: u64,
    seconds: f64,
    iops: f64,
    mbps: f64,
    lat_mean_us: f64,
    lat_p50_us: f64,
    lat_p99_us: f64,
    lat_p999_us: f64,
    lat_max_us: f64,
    cpu_us_per_io: f64,
    usr_us_per_io: f64,
    sys_us_per_io: f64,
    mismatches: u64,
}

/// `x` rounded to `digits` decimals, so that the JSON shows what was measured and not
/// the float's noise.
fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

pub fn json_line(cfg: &Config, target: &Target, r: &Report) -> String {
    let m = Metrics::of(cfg, r);
    let us = |ns: u64| round(ns as f64 / 1000.0, 3);
    let path = target.path.display().to_string();
    let run = JsonRun {
        engine: r.case.engine.name(),
        rw: r.case.rw.name(),
        reap: r.case.reap.map(Reap::name),
        bs: cfg.bs,
        qd: r.qd,
        batch: r.batch,
        threads: cfg.threads,
        direct: target.direct,
        target: &path,
        ios: r.ios,
        seconds: round(r.secs, 4),
        iops: round(m.iops, 1),
        mbps: round(m.mbps, 2),
        lat_mean_us: us(r.latencies.mean()),
        lat_p50_us: us(r.latencies.percentile(0.50)),
        lat_p99_us: us(r.latencies.percentile(0.99)),
        lat_p999_us: us(r.latencies.percentile(0.999)),
        lat_max_us: us(r.latencies.max()),
        cpu_us_per_io: round(m.user_us + m.system_us, 4),
        usr_us_per_io: round(m.user_us, 4),
        sys_us_per_io: round(m.system_us, 4),
        mismatches: r.mismatches,
    };
    serde_json::to_string(&run).expect("a run serializes")
}

/// Nanoseconds as microseconds with 3 significant digits or so.
fn fmt_us(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us < 10.0 {
        format!("{us:.2}")
    } else if us < 1000.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_keep_three_digits() {
        assert_eq!(fmt_us(1_234), "1.23");
        assert_eq!(fmt_us(123_456), "123.5");
        assert_eq!(fmt_us(12_345_678), "12346");
        assert_eq!(round(1.23456, 2), 1.23);
    }
}
