//! What `RWF_NOWAIT` does, per direction, read off the timed cases. A request that runs
//! synchronously without the flag (it blocks in `io_submit`) should fail fast with
//! `EAGAIN` with it: the flag is *honoured*. A request that completes asynchronously
//! without the flag, or a read of cached data, has no reason to block: an `EAGAIN` there
//! is *spurious*, and the caller pays a retry for nothing.

use crate::blocking::Kind;
use crate::report::{Case, Nowait, NowaitDirection};

fn find(cases: &[Case], kind: Kind, nowait: bool) -> Option<&Case> {
    cases
        .iter()
        .find(|c| c.case == kind.name() && c.nowait == nowait && c.skipped.is_none())
}

/// The verdict for the requests of one direction.
fn direction(cases: &[Case], kinds: &[Kind]) -> NowaitDirection {
    let (mut honoured, mut ignored, mut spurious_in) = (Vec::new(), Vec::new(), Vec::new());
    let (mut spurious, mut spurious_of, mut tested, mut unsupported) = (0, 0, false, false);
    for &kind in kinds {
        let (Some(plain), Some(flagged)) = (find(cases, kind, false), find(cases, kind, true))
        else {
            continue;
        };
        tested = true;
        if flagged.verdict == "unsupported" {
            unsupported = true;
            continue;
        }
        let blocks = plain.verdict == "synchronous" && kind != Kind::BufferedCached;
        if blocks && flagged.eagain > 0 && flagged.verdict != "synchronous" {
            honoured.push(format!(
                "{}: {}/{} EAGAIN in {} us (without the flag it blocks {} us)",
                kind.name(),
                flagged.eagain,
                flagged.samples,
                flagged.total_us,
                plain.submit_us
            ));
        } else if blocks {
            ignored.push(format!(
                "{}: still blocks {} us in io_submit",
                kind.name(),
                flagged.submit_us
            ));
        } else {
            spurious += flagged.eagain;
            spurious_of += flagged.samples;
            if flagged.eagain > 0 {
                spurious_in.push(format!(
                    "{} ({}/{}, asynchronous or cached without the flag)",
                    kind.name(),
                    flagged.eagain,
                    flagged.samples
                ));
            }
        }
    }
    let (verdict, mut evidence) = if unsupported {
        (
            "unsupported",
            vec!["io_submit refuses the flag (EOPNOTSUPP)".to_owned()],
        )
    } else if !honoured.is_empty() && ignored.is_empty() {
        ("honoured", honoured)
    } else if !honoured.is_empty() {
        honoured.extend(ignored);
        ("partly honoured", honoured)
    } else if !ignored.is_empty() {
        ("ignored", ignored)
    } else if tested {
        (
            "not needed",
            vec!["none of these requests blocks without the flag".to_owned()],
        )
    } else {
        (
            "untested",
            vec!["needs writes (--write on a block device)".to_owned()],
        )
    };
    if !spurious_in.is_empty() {
        evidence.push(format!("spurious EAGAIN on {}", spurious_in.join(", ")));
    }
    NowaitDirection {
        verdict,
        evidence: evidence.join("; "),
        spurious,
        spurious_of,
    }
}

/// The verdicts, from the cases run with and without `RWF_NOWAIT`.
pub fn judge(cases: &[Case]) -> Nowait {
    Nowait {
        reads: direction(
            cases,
            &[
                Kind::BufferedUncached,
                Kind::DirectRead,
                Kind::BufferedCached,
            ],
        ),
        writes: direction(cases, &[Kind::DirectAppend, Kind::DirectOverwrite]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(kind: Kind, nowait: bool, verdict: &'static str, eagain: u32) -> Case {
        Case {
            case: kind.name(),
            nowait,
            skipped: None,
            samples: 8,
            done: 8 - eagain,
            eagain,
            errors: 0,
            first_error: None,
            submit_us: 1.0,
            total_us: 2.0,
            submit_share: 0.5,
            verdict,
        }
    }

    #[test]
    fn honoured_spurious_and_not_needed() {
        let cases = [
            case(Kind::DirectAppend, false, "synchronous", 0),
            case(Kind::DirectAppend, true, "eagain", 8),
            case(Kind::DirectOverwrite, false, "asynchronous", 0),
            case(Kind::DirectOverwrite, true, "asynchronous", 3),
        ];
        let w = judge(&cases).writes;
        assert_eq!((w.verdict, w.spurious, w.spurious_of), ("honoured", 3, 8));
        assert!(
            w.evidence.contains("spurious EAGAIN on direct_overwrite"),
            "{}",
            w.evidence
        );
        // Appends that do not block: EAGAIN on them is spurious, nothing is honoured.
        let cases = [
            case(Kind::DirectAppend, false, "asynchronous", 0),
            case(Kind::DirectAppend, true, "eagain", 8),
        ];
        let w = judge(&cases).writes;
        assert_eq!((w.verdict, w.spurious, w.spurious_of), ("not needed", 8, 8));
        // A read that blocks with the flag too.
        let cases = [
            case(Kind::BufferedUncached, false, "synchronous", 0),
            case(Kind::BufferedUncached, true, "synchronous", 0),
        ];
        assert_eq!(judge(&cases).reads.verdict, "ignored");
        assert_eq!(judge(&[]).reads.verdict, "untested");
        let cases = [
            case(Kind::DirectRead, false, "asynchronous", 0),
            case(Kind::DirectRead, true, "unsupported", 0),
        ];
        assert_eq!(judge(&cases).reads.verdict, "unsupported");
    }
}
