//! What aio-qualify found: one serializable value (`--json`) and its text for people.

use serde::Serialize;
use std::fmt::{self, Write as _};

/// Everything found, in the order it was asked.
#[derive(Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub kernel: String,
    pub target: Target,
    /// Whether native AIO works there: a context can be set up and a read completes.
    pub usable: bool,
    /// Why it is not usable, or what could not be measured.
    pub problems: Vec<String>,
    pub alignment: Option<Alignment>,
    pub blocking: Vec<Case>,
    pub nowait: Option<Nowait>,
    pub features: Vec<Features>,
    pub budget: Budget,
}

#[derive(Serialize)]
pub struct Target {
    pub path: String,
    /// `directory` or `block device`.
    pub kind: String,
    /// The file system (`ext4`, `xfs`, ...), or `block device`.
    pub fs: String,
    /// Bytes the reads spread over (the scratch file, or the device).
    pub size: u64,
    /// Whether `O_DIRECT` opens work there.
    pub direct_io: bool,
    /// Whether writes were timed (always for a directory; `--write` for a device).
    pub writes: bool,
}

/// One alignment trial: a value and what the kernel answered.
#[derive(Serialize)]
pub struct Trial {
    pub bytes: u64,
    /// `ok`, or the errno name (`EINVAL`).
    pub result: String,
}

#[derive(Serialize)]
pub struct Alignment {
    /// What `statx` (`STATX_DIOALIGN`) or the device reports: `[memory, offset]`.
    pub reported_memory: Option<u64>,
    pub reported_offset: Option<u64>,
    /// The smallest offset-and-length alignment a read succeeded with.
    pub offset: Option<u64>,
    pub offset_trials: Vec<Trial>,
    /// The smallest buffer-address alignment a read succeeded with.
    pub memory: Option<u64>,
    pub memory_trials: Vec<Trial>,
}

/// One kind of request, timed `samples` times, one in flight at a time.
#[derive(Serialize, Clone)]
pub struct Case {
    /// `direct_read`, `direct_overwrite`, `direct_append`, `buffered_read_uncached`,
    /// `buffered_read_cached`, `fdsync`.
    pub case: &'static str,
    pub nowait: bool,
    /// Why it was not run, if it was not.
    pub skipped: Option<String>,
    pub samples: u32,
    /// Completed without error.
    pub done: u32,
    /// Ended with `EAGAIN`, at submission or in the completion.
    pub eagain: u32,
    /// Ended with another error; the first one is named.
    pub errors: u32,
    pub first_error: Option<String>,
    /// Medians over the requests that completed (or, with none, over all).
    pub submit_us: f64,
    pub total_us: f64,
    /// `submit_us / total_us`.
    pub submit_share: f64,
    /// `asynchronous` (io_submit returns before the I/O is done: share < 0.5),
    /// `synchronous` (io_submit did the whole request before returning: it blocks the
    /// caller for the service time, harmless for a 1 us cached copy, not for a disk
    /// read), `eagain` (every request ended with EAGAIN),
    /// `refused` (other errors), `unsupported` (EINVAL/EOPNOTSUPP at submission) or
    /// `skipped`.
    pub verdict: &'static str,
}

/// What `RWF_NOWAIT` does, per direction.
#[derive(Serialize)]
pub struct Nowait {
    pub reads: NowaitDirection,
    pub writes: NowaitDirection,
}

#[derive(Serialize)]
pub struct NowaitDirection {
    /// `honoured` (requests that block without the flag fail fast with EAGAIN with
    /// it), `partly honoured`, `ignored` (they block anyway), `not needed` (none of the
    /// requests tried blocks without the flag), `unsupported` (the flag is refused), or
    /// `untested`.
    pub verdict: &'static str,
    pub evidence: String,
    /// EAGAIN on requests that had no reason to block (asynchronous without the flag,
    /// or cached reads), out of `spurious_of`.
    pub spurious: u32,
    pub spurious_of: u32,
}

/// rawaio's probe on one opening of the target.
#[derive(Serialize)]
pub struct Features {
    /// `O_DIRECT` or `buffered`.
    pub mode: &'static str,
    /// `[name, answer]` per opcode, in opcode order.
    pub opcodes: Vec<(String, String)>,
    pub flags: Vec<FlagAnswer>,
}

#[derive(Serialize)]
pub struct FlagAnswer {
    pub flag: String,
    pub read: String,
    pub write: String,
}

/// The system-wide AIO context budget.
#[derive(Serialize)]
pub struct Budget {
    /// `/proc/sys/fs/aio-max-nr`.
    pub aio_max_nr: Option<u64>,
    /// `/proc/sys/fs/aio-nr`: taken by every process now.
    pub aio_nr: Option<u64>,
    /// The depth of the context measured (`--depth`).
    pub depth: u32,
    /// What one context of `depth` takes from the budget (measured on aio-nr).
    pub cost: Option<u64>,
    /// The events of its completion ring, and the ring's memory.
    pub ring_events: Option<u32>,
    pub ring_bytes: Option<u64>,
    /// `--contexts`: how many are planned.
    pub contexts: u32,
    /// What the plan needs on top of what is taken now.
    pub needed: Option<u64>,
    pub fits: Option<bool>,
    /// The command that makes it fit, when it does not.
    pub sysctl: Option<String>,
    pub error: Option<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.target;
        let what = if t.fs == t.kind {
            t.kind.clone()
        } else {
            format!("{}, {}", t.fs, t.kind)
        };
        writeln!(
            f,
            "aio-qualify {}: {} ({what}), Linux {}, {}",
            self.version, t.path, self.kernel, self.date
        )?;
        let usable = if self.usable { "yes" } else { "NO" };
        writeln!(f, "native AIO usable here: {usable}")?;
        for p in &self.problems {
            writeln!(f, "  problem: {p}")?;
        }
        if let Some(a) = &self.alignment {
            writeln!(f, "\nDirect-I/O alignment")?;
            let reported = match (a.reported_memory, a.reported_offset) {
                (Some(m), Some(o)) => format!("memory {m}, offset and length {o}"),
                _ => "not reported".into(),
            };
            writeln!(f, "  reported (statx STATX_DIOALIGN): {reported}")?;
            writeln!(
                f,
                "  offset and length: {}  [{}]",
                smallest(a.offset),
                trials(&a.offset_trials)
            )?;
            writeln!(
                f,
                "  buffer address:    {}  [{}]",
                smallest(a.memory),
                trials(&a.memory_trials)
            )?;
        } else if !t.direct_io {
            writeln!(
                f,
                "\nDirect-I/O alignment: O_DIRECT is refused here (every request is buffered)"
            )?;
        }
        if !self.blocking.is_empty() {
            writeln!(
                f,
                "\nDoes io_submit block? (one request in flight; medians of time inside io_submit and of service time)"
            )?;
            writeln!(
                f,
                "  {:<24} {:<7} {:>10} {:>10} {:>6}  {:<13} outcomes",
                "request", "flags", "submit us", "total us", "share", "verdict"
            )?;
            for c in &self.blocking {
                let flags = if c.nowait { "NOWAIT" } else { "-" };
                if let Some(why) = &c.skipped {
                    writeln!(f, "  {:<24} {:<7} skipped: {why}", c.case, flags)?;
                    continue;
                }
                let mut outcomes = format!("{}/{} done", c.done, c.samples);
                if c.eagain > 0 {
                    let _ = write!(outcomes, ", {} EAGAIN", c.eagain);
                }
                if let Some(e) = &c.first_error {
                    let _ = write!(outcomes, ", {} {e}", c.errors);
                }
                writeln!(
                    f,
                    "  {:<24} {:<7} {:>10.1} {:>10.1} {:>5.0}%  {:<13} {outcomes}",
                    c.case,
                    flags,
                    c.submit_us,
                    c.total_us,
                    c.submit_share * 100.0,
                    c.verdict
                )?;
            }
        }
        if let Some(n) = &self.nowait {
            writeln!(f, "\nRWF_NOWAIT")?;
            for (dir, d) in [("reads", &n.reads), ("writes", &n.writes)] {
                writeln!(
                    f,
                    "  {dir:<7} {}: {}; spurious EAGAIN: {} of {}",
                    d.verdict, d.evidence, d.spurious, d.spurious_of
                )?;
            }
        }
        for feat in &self.features {
            writeln!(
                f,
                "\nOpcodes and RWF_* flags ({} file, zero-length requests)",
                feat.mode
            )?;
            for (name, answer) in &feat.opcodes {
                writeln!(f, "  {name:<10} {answer}")?;
            }
            writeln!(f, "  {:<10} {:<28} write", "flag", "read")?;
            for fl in &feat.flags {
                writeln!(f, "  {:<10} {:<28} {}", fl.flag, fl.read, fl.write)?;
            }
        }
        let b = &self.budget;
        writeln!(f, "\nContext budget (system-wide)")?;
        match (b.aio_max_nr, b.aio_nr) {
            (Some(max), Some(nr)) => {
                writeln!(f, "  fs.aio-max-nr = {max}, fs.aio-nr = {nr} in use now")?
            }
            _ => writeln!(f, "  /proc/sys/fs/aio-max-nr or aio-nr could not be read")?,
        }
        if let (Some(cost), Some(events), Some(bytes)) = (b.cost, b.ring_events, b.ring_bytes) {
            writeln!(
                f,
                "  a context of {} takes {cost} of the budget; its ring holds {events} events ({} KiB)",
                b.depth,
                bytes / 1024
            )?;
        }
        if let (Some(needed), Some(fits)) = (b.needed, b.fits) {
            let verdict = if fits { "fit" } else { "do NOT fit" };
            writeln!(
                f,
                "  {} contexts of {} take {needed}: they {verdict}",
                b.contexts, b.depth
            )?;
        }
        if let Some(cmd) = &b.sysctl {
            writeln!(f, "  to raise it: {cmd}")?;
        }
        if let Some(e) = &b.error {
            writeln!(f, "  error: {e}")?;
        }
        Ok(())
    }
}

fn smallest(v: Option<u64>) -> String {
    v.map_or("none worked".into(), |v| format!("{v} bytes"))
}

fn trials(list: &[Trial]) -> String {
    list.iter()
        .map(|t| format!("{}: {}", t.bytes, t.result))
        .collect::<Vec<_>>()
        .join(", ")
}
