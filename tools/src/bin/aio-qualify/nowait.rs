//! What `RWF_NOWAIT` does, per direction, read off the timed cases: a request that
//! blocks without the flag should fail fast with `EAGAIN` with it (honoured); one that
//! does not block should never fail with it (an `EAGAIN` there is spurious).

use crate::blocking::Kind;
use crate::report::{Case, Nowait, NowaitDirection};

fn find(cases: &[Case], kind: Kind, nowait: bool) -> Option<&Case> {
    cases
        .iter()
        .find(|c| c.case == kind.name() && c.nowait == nowait && c.skipped.is_none())
}

/// The verdict for one direction: `would_block` is the kind of request that may block
/// (uncached reads, appends); `calm` are the kinds that have no reason to.
fn direction(cases: &[Case], would_block: Kind, calm: &[Kind]) -> NowaitDirection {
    let spurious_cases: Vec<&Case> = calm.iter().filter_map(|&k| find(cases, k, true)).collect();
    let spurious = spurious_cases.iter().map(|c| c.eagain).sum();
    let spurious_of = spurious_cases.iter().map(|c| c.samples).sum();
    let plain = find(cases, would_block, false);
    let flagged = find(cases, would_block, true);
    let unsupported = flagged.is_some_and(|c| c.verdict == "unsupported")
        || spurious_cases.iter().any(|c| c.verdict == "unsupported");
    let (verdict, evidence) = match (plain, flagged) {
        _ if unsupported => (
            "unsupported",
            "io_submit refuses the flag (EOPNOTSUPP or EINVAL)".to_owned(),
        ),
        (Some(plain), Some(flagged)) => {
            let name = would_block.name();
            if flagged.eagain > 0 && flagged.verdict != "synchronous" {
                (
                    "honoured",
                    format!(
                        "{name}: {}/{} ended with EAGAIN after {:.1} us (without the flag: {:.1} us, {})",
                        flagged.eagain,
                        flagged.samples,
                        flagged.total_us,
                        plain.total_us,
                        plain.verdict
                    ),
                )
            } else if flagged.verdict == "synchronous" {
                (
                    "ignored",
                    format!(
                        "{name}: io_submit blocked anyway ({:.1} us of {:.1} us)",
                        flagged.submit_us, flagged.total_us
                    ),
                )
            } else if plain.verdict == "asynchronous" {
                (
                    "not needed",
                    format!("{name}: does not block here even without the flag"),
                )
            } else {
                (
                    "not needed",
                    format!(
                        "{name}: completed within io_submit in {:.1} us with the flag, no EAGAIN",
                        flagged.total_us
                    ),
                )
            }
        }
        _ => ("untested", format!("{} was not run", would_block.name())),
    };
    NowaitDirection {
        verdict,
        evidence,
        spurious,
        spurious_of,
    }
}

/// The verdicts, from the cases run with and without `RWF_NOWAIT`.
pub fn judge(cases: &[Case]) -> Nowait {
    Nowait {
        reads: direction(
            cases,
            Kind::BufferedUncached,
            &[Kind::DirectRead, Kind::BufferedCached],
        ),
        writes: direction(cases, Kind::DirectAppend, &[Kind::DirectOverwrite]),
    }
}
