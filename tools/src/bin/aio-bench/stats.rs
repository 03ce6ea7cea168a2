//! Latency percentiles (an HDR histogram) and the process's CPU time.

use hdrhistogram::Histogram;
use std::time::Duration;

/// The longest latency recorded exactly: an hour. Longer ones are clamped to it (a run
/// declares itself stuck after 30 s, so none should be).
const HIGHEST_NS: u64 = 3_600_000_000_000;

/// Submit-to-completion latencies in nanoseconds, 3 significant digits (0.1%), allocated
/// once: recording never allocates.
pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> Self {
        Self(Histogram::new_with_bounds(1, HIGHEST_NS, 3).expect("valid histogram bounds"))
    }

    pub fn record(&mut self, ns: u64) {
        self.0.saturating_record(ns.max(1));
    }

    pub fn merge(&mut self, other: &Self) {
        self.0.add(&other.0).expect("histograms of the same bounds");
    }

    /// The latency (ns) at or below which a fraction `p` of the samples fall; 0 when
    /// there are none.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_quantile(p)
        }
    }

    pub fn mean(&self) -> u64 {
        self.0.mean() as u64
    }

    pub fn max(&self) -> u64 {
        self.0.max()
    }
}

/// User and system CPU time of the whole process so far.
pub fn cpu_times() -> (Duration, Duration) {
    // SAFETY: `rusage` is plain integers, for which all zeroes is a valid value, and
    // getrusage writes one `rusage` through a pointer to this local.
    let (rc, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let rc = libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        (rc, usage)
    };
    if rc != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    let time = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    (time(usage.ru_utime), time(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_within_a_tenth_of_a_percent() {
        let mut h = Latencies::new();
        assert_eq!(h.percentile(0.5), 0, "empty");
        (1..=1000).for_each(|us| h.record(us * 1000));
        assert!(h.percentile(0.5).abs_diff(500_000) <= 500);
        assert!(h.percentile(0.99).abs_diff(990_000) <= 990);
        assert!(h.max().abs_diff(1_000_000) <= 1000);
        let mut other = Latencies::new();
        other.record(5_000_000);
        h.merge(&other);
        assert!(h.max().abs_diff(5_000_000) <= 5000);
        assert!(h.mean().abs_diff(505_000) <= 1000, "{}", h.mean());
    }

    #[test]
    fn extremes_are_clamped_not_lost() {
        let mut h = Latencies::new();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.percentile(0.0), 1);
        assert!(h.max() >= HIGHEST_NS / 2);
    }
}
