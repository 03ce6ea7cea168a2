//! The system-wide context budget: `fs.aio-max-nr`, what is taken (`fs.aio-nr`), what a
//! context of the planned depth costs (measured: set one up and watch `aio-nr`), and the
//! sysctl that makes the planned contexts fit.

use crate::aio::{self, HeldContext};
use crate::report::Budget;

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The CPUs the kernel counts as possible (`/sys/devices/system/cpu/possible`, e.g.
/// `0-3,8`), which sizes the per-CPU part of a context; the CPUs online when unreadable.
fn possible_cpus() -> u64 {
    let parsed = std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|text| count_cpus(text.trim()));
    parsed.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
}

/// Counts the CPUs of a list like `0-3,8`.
fn count_cpus(list: &str) -> Option<u64> {
    let mut n = 0;
    for part in list.split(',') {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<u64>().ok()?.checked_sub(a.parse().ok()?)? + 1,
            None => {
                part.parse::<u64>().ok()?;
                1
            }
        };
    }
    Some(n)
}

/// The bytes of a completion ring of `events` events: a 32-byte header and 32 bytes per
/// event, in whole pages.
fn ring_bytes(events: u32) -> u64 {
    let raw = 32 + 32 * u64::from(events);
    raw.div_ceil(4096) * 4096
}

/// The value to give `fs.aio-max-nr` so that `needed` more fit beside `taken`: rounded
/// up to a multiple of 65536 (the default), never below `max`.
pub fn raise_to(max: u64, taken: u64, needed: u64) -> u64 {
    let want = taken.saturating_add(needed);
    want.div_ceil(65536).saturating_mul(65536).max(max)
}

/// Measures the budget for `contexts` contexts of `depth`.
pub fn measure(depth: u32, contexts: u32) -> Budget {
    let aio_max_nr = read_number("/proc/sys/fs/aio-max-nr");
    let mut budget = Budget {
        aio_max_nr,
        aio_nr: read_number("/proc/sys/fs/aio-nr"),
        depth,
        cost: None,
        ring_events: None,
        ring_bytes: None,
        contexts,
        needed: None,
        fits: None,
        sysctl: None,
        error: None,
    };
    // Other processes change aio-nr too, so one delta may be off. The kernel charges a
    // context either the events asked for (Linux 4.13 and later) or its internal
    // doubled count, max(nr, 4 x possible CPUs) x 2 (before): the cost is the first
    // delta that is one of the two, out of up to 10 tries.
    let candidates = [
        u64::from(depth),
        u64::from(depth).max(4 * possible_cpus()) * 2,
    ];
    let mut cost = None;
    for _ in 0..10 {
        let before = read_number("/proc/sys/fs/aio-nr");
        match HeldContext::new(depth) {
            Ok(ctx) => {
                let after = read_number("/proc/sys/fs/aio-nr");
                budget.ring_events = Some(ctx.ring_events());
                budget.ring_bytes = Some(ring_bytes(ctx.ring_events()));
                if let (Some(b), Some(a)) = (before, after) {
                    let delta = a.wrapping_sub(b);
                    if candidates.contains(&delta) {
                        cost = Some(delta);
                        break;
                    }
                }
            }
            Err(e) => {
                budget.error = Some(format!("io_setup({depth}): {}", aio::errno_name(e)));
                break;
            }
        }
    }
    if cost.is_none() && budget.error.is_none() {
        budget.error = Some(
            "fs.aio-nr kept changing under other processes: the cost could not be measured".into(),
        );
    }
    budget.cost = cost;
    if let (Some(max), Some(nr), Some(cost)) = (aio_max_nr, budget.aio_nr, cost) {
        let needed = cost.saturating_mul(u64::from(contexts));
        let fits = nr.saturating_add(needed) <= max;
        budget.needed = Some(needed);
        budget.fits = Some(fits);
        if !fits {
            let value = raise_to(max, nr, needed);
            budget.sysctl = Some(format!(
                "sysctl -w fs.aio-max-nr={value}  (and, to keep it across reboots: \
                 echo 'fs.aio-max-nr = {value}' > /etc/sysctl.d/90-aio-max-nr.conf)"
            ));
        }
    } else if budget.error.is_some() {
        if let (Some(max), Some(nr)) = (aio_max_nr, budget.aio_nr) {
            let value = raise_to(max, nr, u64::from(depth) * u64::from(contexts) * 2);
            budget.sysctl = Some(format!("sysctl -w fs.aio-max-nr={value}"));
        }
    }
    budget
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(count_cpus("0-1"), Some(2));
        assert_eq!(count_cpus("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpus("0"), Some(1));
        assert_eq!(count_cpus("x"), None);
        assert_eq!(count_cpus("3-1"), None);
    }

    #[test]
    fn rings_are_whole_pages() {
        assert_eq!(ring_bytes(127), 4096);
        assert_eq!(ring_bytes(128), 8192);
        assert_eq!(ring_bytes(383), 12288);
    }

    #[test]
    fn raising_rounds_up_and_never_lowers() {
        assert_eq!(raise_to(65536, 60000, 10000), 131072);
        assert_eq!(raise_to(65536, 0, 100), 65536);
        assert_eq!(raise_to(1 << 20, 0, 100), 1 << 20);
    }
}
