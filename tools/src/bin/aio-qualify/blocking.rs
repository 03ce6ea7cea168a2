//! Whether `io_submit` blocks: each kind of request timed `samples` times, one in flight
//! at a time, comparing the time spent inside `io_submit` with the request's service
//! time (submission to completion). With `RWF_NOWAIT` too, for the reads and writes.

use crate::aio::{self, Buf, Outcome, Request, Timer, Timing};
use crate::report::Case;
use crate::subject::Subject;
use rawaio::RwfFlags;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// A kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `O_DIRECT` reads of written blocks.
    DirectRead,
    /// `O_DIRECT` writes over written blocks (a device: the data read just before).
    DirectOverwrite,
    /// `O_DIRECT` writes at the end of the file, extending it.
    DirectAppend,
    /// Buffered reads of data dropped from the page cache (`POSIX_FADV_DONTNEED`).
    BufferedUncached,
    /// Buffered reads of data just read (in the page cache).
    BufferedCached,
    /// `IOCB_CMD_FDSYNC` after a buffered write dirtied a block.
    Fdsync,
}

impl Kind {
    pub const ALL: [Self; 6] = [
        Self::DirectRead,
        Self::BufferedUncached,
        Self::BufferedCached,
        Self::DirectOverwrite,
        Self::DirectAppend,
        Self::Fdsync,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::DirectRead => "direct_read",
            Self::DirectOverwrite => "direct_overwrite",
            Self::DirectAppend => "direct_append",
            Self::BufferedUncached => "buffered_read_uncached",
            Self::BufferedCached => "buffered_read_cached",
            Self::Fdsync => "fdsync",
        }
    }

    /// Whether `RWF_NOWAIT` applies (reads and writes, not syncs).
    pub fn takes_nowait(self) -> bool {
        self != Self::Fdsync
    }

    fn direct(self) -> bool {
        matches!(
            self,
            Self::DirectRead | Self::DirectOverwrite | Self::DirectAppend
        )
    }

    fn writes(self) -> bool {
        matches!(
            self,
            Self::DirectOverwrite | Self::DirectAppend | Self::Fdsync
        )
    }
}

/// Runs one kind of request; never fails: what went wrong is in the result.
pub fn run(
    timer: &mut Timer,
    subject: &Subject,
    kind: Kind,
    nowait: bool,
    samples: u32,
    bs: usize,
) -> Case {
    let skipped = |why: &str| Case {
        case: kind.name(),
        nowait,
        skipped: Some(why.to_owned()),
        samples: 0,
        done: 0,
        eagain: 0,
        errors: 0,
        first_error: None,
        submit_us: 0.0,
        total_us: 0.0,
        submit_share: 0.0,
        verdict: "skipped",
    };
    if kind.direct() && subject.direct.is_none() {
        return skipped("O_DIRECT is refused here");
    }
    if kind.writes() && !subject.writable {
        return skipped("a block device is only read without --write");
    }
    if kind == Kind::DirectAppend && subject.scratch.is_none() {
        return skipped("a block device cannot grow");
    }
    match timings(timer, subject, kind, nowait, samples, bs) {
        Ok(t) => summarize(kind, nowait, &t),
        Err(e) => skipped(&format!("failed: {e}")),
    }
}

/// xorshift64: spreads the offsets.
struct Offsets {
    state: u64,
    blocks: u64,
    bs: u64,
}

impl Offsets {
    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % self.blocks) * self.bs
    }
}

fn timings(
    timer: &mut Timer,
    subject: &Subject,
    kind: Kind,
    nowait: bool,
    samples: u32,
    bs: usize,
) -> io::Result<Vec<Timing>> {
    let flags = if nowait {
        RwfFlags::NOWAIT
    } else {
        RwfFlags::empty()
    };
    let direct = subject.direct.as_ref();
    let buffered = &subject.buffered;
    let mut offsets = Offsets {
        state: 0x9e37_79b9_7f4a_7c15 ^ (kind as u64 + 1) ^ u64::from(nowait) << 32,
        blocks: (subject.size / bs as u64).max(1),
        bs: bs as u64,
    };
    let mut buf: Buf = aio::buffer(bs)?;
    let mut end = subject.size;
    let mut out = Vec::with_capacity(samples as usize);
    for _ in 0..samples {
        let offset = offsets.next();
        let (req, f) = match kind {
            Kind::DirectRead => (
                Request::Read {
                    file: direct.unwrap(),
                    offset,
                },
                flags,
            ),
            Kind::BufferedUncached => {
                // Written and flushed, so clean: DONTNEED drops it from the cache.
                rustix::fs::fadvise(buffered, 0, None, rustix::fs::Advice::DontNeed)?;
                (
                    Request::Read {
                        file: buffered,
                        offset,
                    },
                    flags,
                )
            }
            Kind::BufferedCached => {
                buffered.read_exact_at(&mut buf, offset)?;
                (
                    Request::Read {
                        file: buffered,
                        offset,
                    },
                    flags,
                )
            }
            Kind::DirectOverwrite => {
                let file = direct.unwrap();
                // What is there goes back: a device's data stays as it was.
                file.read_exact_at(&mut buf, offset)?;
                (Request::Write { file, offset }, flags)
            }
            Kind::DirectAppend => (
                Request::Write {
                    file: direct.unwrap(),
                    offset: end,
                },
                flags,
            ),
            Kind::Fdsync => {
                let mut block = vec![0u8; bs];
                buffered.read_exact_at(&mut block, offset)?;
                buffered.write_all_at(&block, offset)?;
                (Request::Fdsync { file: buffered }, RwfFlags::empty())
            }
        };
        let (timing, back) = timer.time(req, buf, f)?;
        buf = back;
        if kind == Kind::DirectAppend {
            if let Outcome::Done(n) = timing.outcome {
                end += n;
            }
        }
        out.push(timing);
    }
    if kind == Kind::BufferedUncached {
        // Leave the cache as the next measurements expect to find it: cold.
        let _ = rustix::fs::fadvise(buffered, 0, None, rustix::fs::Advice::DontNeed);
    }
    if kind == Kind::DirectAppend {
        subject.buffered.set_len(subject.size)?;
    }
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Counts outcomes, takes medians and gives the verdict.
pub fn summarize(kind: Kind, nowait: bool, timings: &[Timing]) -> Case {
    let done: Vec<&Timing> = timings
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Done(_)))
        .collect();
    let eagain = timings
        .iter()
        .filter(|t| t.outcome.errno() == Some(aio::EAGAIN))
        .count() as u32;
    let others: Vec<_> = timings
        .iter()
        .filter_map(|t| t.outcome.errno())
        .filter(|&e| e != aio::EAGAIN)
        .collect();
    let basis: Vec<&Timing> = if done.is_empty() {
        timings.iter().collect()
    } else {
        done.clone()
    };
    let submit_us = median(basis.iter().map(|t| us(t.submit)).collect());
    let total_us = median(basis.iter().map(|t| us(t.total)).collect());
    let submit_share = submit_us / total_us.max(1e-3);
    let all_refused = timings
        .iter()
        .all(|t| matches!(t.outcome, Outcome::Refused(_)));
    let verdict = if !done.is_empty() {
        if submit_share >= 0.5 {
            "synchronous"
        } else {
            "asynchronous"
        }
    } else if eagain as usize == timings.len() {
        "eagain"
    } else if all_refused
        && timings
            .iter()
            .all(|t| t.outcome.errno().is_some_and(aio::means_unsupported))
    {
        "unsupported"
    } else {
        "refused"
    };
    Case {
        case: kind.name(),
        nowait,
        skipped: None,
        samples: timings.len() as u32,
        done: done.len() as u32,
        eagain,
        errors: others.len() as u32,
        first_error: others.first().map(|&e| aio::errno_name(e)),
        submit_us: (submit_us * 10.0).round() / 10.0,
        total_us: (total_us * 10.0).round() / 10.0,
        submit_share: (submit_share * 1000.0).round() / 1000.0,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rawaio::Errno;

    fn t(submit_us: u64, total_us: u64, outcome: Outcome) -> Timing {
        Timing {
            submit: Duration::from_micros(submit_us),
            total: Duration::from_micros(total_us),
            outcome,
        }
    }

    #[test]
    fn verdicts() {
        let fast = [
            t(2, 100, Outcome::Done(4096)),
            t(3, 90, Outcome::Done(4096)),
        ];
        let c = summarize(Kind::DirectRead, false, &fast);
        assert_eq!((c.verdict, c.done, c.eagain), ("asynchronous", 2, 0));
        assert_eq!(c.submit_us, 2.5);
        let slow = [
            t(95, 100, Outcome::Done(4096)),
            t(1, 100, Outcome::Failed(Errno::AGAIN)),
        ];
        let c = summarize(Kind::DirectAppend, true, &slow);
        assert_eq!(
            (c.verdict, c.done, c.eagain, c.errors),
            ("synchronous", 1, 1, 0)
        );
        let refused = [t(1, 1, Outcome::Refused(Errno::OPNOTSUPP))];
        assert_eq!(
            summarize(Kind::DirectRead, true, &refused).verdict,
            "unsupported"
        );
        let failed = [t(1, 9, Outcome::Failed(Errno::IO))];
        let c = summarize(Kind::DirectRead, false, &failed);
        assert_eq!((c.verdict, c.errors), ("refused", 1));
        assert_eq!(c.first_error.as_deref(), Some("EIO"));
    }

    #[test]
    fn offsets_are_aligned_and_in_range() {
        let mut o = Offsets {
            state: 1,
            blocks: 10,
            bs: 4096,
        };
        for _ in 0..100 {
            let off = o.next();
            assert!(off % 4096 == 0 && off < 10 * 4096);
        }
    }
}
