//! The command line: options, their defaults and checks, and the [`Config`] they make.

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use rawaio_tools::size::parse_size;
use std::path::PathBuf;
use std::time::Duration;

/// The size of a file the benchmark creates, unless `--size` says otherwise.
pub const DEFAULT_SIZE: u64 = 128 << 20;
/// The time per run when neither `--runtime` nor `--ios` is given.
pub const DEFAULT_RUNTIME: Duration = Duration::from_secs(2);
const MAX_QD: usize = 4096;
const MAX_THREADS: usize = 256;
const MAX_BS: u64 = 64 << 20;

/// A fio-like benchmark of Linux native AIO (rawaio) against pread/pwrite from a thread
/// pool (psync) and io_uring: IOPS, MB/s, submit-to-completion latency percentiles and
/// CPU time per I/O.
///
/// Runs every combination of --rw, --engine and --reap (each takes a comma-separated
/// list). With no options it creates a 128 MiB file in the temporary directory, runs a
/// random write, a random read and a verify pass on each default engine, prints a
/// table and removes the file.
#[derive(Parser, Debug)]
#[command(
    name = "aio-bench",
    version,
    after_help = "SIZE: 4096, 4k, 64k, 1m, 256m, 2g (powers of 1024).\n\
                  Exit status: 0; 1 when a verify found a mismatch; 2 for a usage error or a failed run."
)]
struct Cli {
    /// File or block device (default: a temporary file, removed at the end); a missing
    /// file is created and filled to --size
    #[arg(long, value_name = "PATH")]
    target: Option<PathBuf>,
    /// Size of a created file (default 128m); a smaller file is extended
    #[arg(long, value_name = "SIZE", value_parser = positive_size)]
    size: Option<u64>,
    /// Access patterns
    #[arg(
        long = "rw",
        value_name = "LIST",
        value_enum,
        value_delimiter = ',',
        default_value = "randwrite,randread,verify"
    )]
    rws: Vec<Rw>,
    /// Engines (all: every one)
    #[arg(
        long = "engine",
        value_name = "LIST",
        value_enum,
        value_delimiter = ',',
        default_value = "rawaio,psync,io_uring"
    )]
    engines: Vec<EngineArg>,
    /// How rawaio reaps completions (all: every way)
    #[arg(
        long = "reap",
        value_name = "LIST",
        value_enum,
        value_delimiter = ',',
        default_value = "ring"
    )]
    reaps: Vec<ReapArg>,
    /// Block size, a multiple of 512 up to 64m
    #[arg(long, value_name = "SIZE", default_value = "4k", value_parser = block_size)]
    bs: usize,
    /// Requests in flight per thread (psync: one per thread)
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=MAX_QD as i64))]
    qd: u32,
    /// Requests per submission call, 1 to --qd (default: qd/4)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_QD as i64))]
    batch: Option<u32>,
    /// Threads, each with its own context or ring
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=MAX_THREADS as i64))]
    threads: u32,
    /// Time per run in seconds, like 10 or 0.5 (default 2, unless --ios is given)
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    runtime: Option<Duration>,
    /// I/Os per run over all threads (verify: blocks written and read back); with
    /// --runtime too, the run ends at whichever comes first
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    ios: Option<u64>,
    /// Go through the page cache (default: O_DIRECT)
    #[arg(long)]
    buffered: bool,
    /// Seed of the offsets and the verify patterns
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Allow writing to a block device (destroys its data)
    #[arg(long)]
    force: bool,
    /// One JSON object per run on stdout instead of the table
    #[arg(long)]
    json: bool,
}

/// What the benchmark was asked to do, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub target: Option<PathBuf>,
    pub size: Option<u64>,
    pub rws: Vec<Rw>,
    pub engines: Vec<EngineKind>,
    pub reaps: Vec<Reap>,
    pub bs: usize,
    pub qd: usize,
    pub batch: usize,
    pub threads: usize,
    pub runtime: Option<Duration>,
    pub ios: Option<u64>,
    pub buffered: bool,
    pub seed: u64,
    pub force: bool,
    pub json: bool,
}

/// An access pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Rw {
    Read,
    Write,
    #[value(name = "randread")]
    RandRead,
    #[value(name = "randwrite")]
    RandWrite,
    /// Write blocks in a scrambled order, read every one back and check every byte
    Verify,
}

impl Rw {
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::RandRead => "randread",
            Self::RandWrite => "randwrite",
            Self::Verify => "verify",
        }
    }

    pub fn writes(self) -> bool {
        matches!(self, Self::Write | Self::RandWrite | Self::Verify)
    }
}

/// An engine, as the benchmark runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Rawaio,
    Psync,
    IoUring,
    Async,
    Driven,
    Fixed,
    FixedAsync,
    Busy,
}

impl EngineKind {
    const ALL: [Self; 8] = [
        Self::Rawaio,
        Self::Psync,
        Self::IoUring,
        Self::Async,
        Self::Driven,
        Self::Fixed,
        Self::FixedAsync,
        Self::Busy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Rawaio => "rawaio",
            Self::Psync => "psync",
            Self::IoUring => "io_uring",
            Self::Async => "async",
            Self::Driven => "driven",
            Self::Fixed => "fixed",
            Self::FixedAsync => "fixed-async",
            Self::Busy => "busy",
        }
    }
}

/// An engine as written on the command line (`all` stands for every one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EngineArg {
    /// rawaio's Context, submit_batch, reaping as --reap says
    Rawaio,
    /// pread/pwrite, one request in flight per thread (--qd is ignored)
    Psync,
    /// io_uring: plain READ/WRITE, no SQPOLL, no registered files or buffers
    #[value(name = "io_uring")]
    IoUring,
    /// rawaio's AsyncContext, one future per request, on a minimal executor
    Async,
    /// the same on a context of reactor::Driven (no eventfd): the executor parks in it
    Driven,
    /// rawaio's FixedContext, a slot per queue slot that keeps its iocb and buffer
    Fixed,
    /// the same through an AsyncFixedContext: completions awaited through its eventfd, on
    /// a minimal executor
    #[value(name = "fixed-async")]
    FixedAsync,
    /// rawaio's AsyncContext, one future per request, busy-polling the ring
    /// (reactor::BusyPoll: no eventfd, the executor never sleeps while requests are in
    /// flight)
    Busy,
    All,
}

/// How the rawaio engine learns of completions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reap {
    /// `Context::reap`: from the ring in user space, `io_getevents` only to wait.
    Ring,
    /// Every reap is an `io_getevents` call (`user_space_reaping: false`).
    Syscall,
    /// Wait on the context's eventfd, then reap exactly as many as it counted.
    Eventfd,
}

impl Reap {
    const ALL: [Self; 3] = [Self::Ring, Self::Syscall, Self::Eventfd];

    pub fn name(self) -> &'static str {
        match self {
            Self::Ring => "ring",
            Self::Syscall => "syscall",
            Self::Eventfd => "eventfd",
        }
    }
}

/// A reaping mode as written on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ReapArg {
    /// From the ring in user space; io_getevents only to wait
    Ring,
    /// Every reap an io_getevents call
    Syscall,
    /// Block on the context's eventfd, then reap as many as it counted
    Eventfd,
    All,
}

fn positive_size(s: &str) -> Result<u64, String> {
    match parse_size(s) {
        Some(n) if n > 0 => Ok(n),
        _ => Err("expected a size like 256m".into()),
    }
}

fn block_size(s: &str) -> Result<usize, String> {
    match parse_size(s) {
        Some(n) if n >= 512 && n % 512 == 0 && n <= MAX_BS => Ok(n as usize),
        _ => Err("expected a multiple of 512 up to 64m, like 4k or 1m".into()),
    }
}

fn seconds(s: &str) -> Result<Duration, String> {
    match s.strip_suffix('s').unwrap_or(s).parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 1e6 => Ok(Duration::from_secs_f64(secs)),
        _ => Err("expected seconds, like 10 or 0.5".into()),
    }
}

/// Keeps the first of each item, in order.
fn dedup<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut unique = Vec::new();
    for item in items {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    unique
}

/// Parses the arguments (without the program name); `Err` is clap's error, which prints
/// the help, the version or a usage message and knows its exit status.
pub fn parse<I, T>(args: I) -> Result<Config, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(
        std::iter::once("aio-bench".into()).chain(args.into_iter().map(Into::into)),
    )?;
    let engines = dedup(cli.engines.iter().flat_map(|e| match e {
        EngineArg::Rawaio => vec![EngineKind::Rawaio],
        EngineArg::Psync => vec![EngineKind::Psync],
        EngineArg::IoUring => vec![EngineKind::IoUring],
        EngineArg::Async => vec![EngineKind::Async],
        EngineArg::Driven => vec![EngineKind::Driven],
        EngineArg::Fixed => vec![EngineKind::Fixed],
        EngineArg::FixedAsync => vec![EngineKind::FixedAsync],
        EngineArg::Busy => vec![EngineKind::Busy],
        EngineArg::All => EngineKind::ALL.to_vec(),
    }));
    let reaps = dedup(cli.reaps.iter().flat_map(|r| match r {
        ReapArg::Ring => vec![Reap::Ring],
        ReapArg::Syscall => vec![Reap::Syscall],
        ReapArg::Eventfd => vec![Reap::Eventfd],
        ReapArg::All => Reap::ALL.to_vec(),
    }));
    let qd = cli.qd as usize;
    let batch = match cli.batch {
        Some(b) if b as usize > qd => {
            return Err(Cli::command().error(
                ErrorKind::ArgumentConflict,
                format!("--batch {b} is larger than --qd {qd}"),
            ));
        }
        Some(b) => b as usize,
        None => (qd / 4).max(1),
    };
    let runtime = match (cli.runtime, cli.ios) {
        (None, None) => Some(DEFAULT_RUNTIME),
        (runtime, _) => runtime,
    };
    Ok(Config {
        target: cli.target,
        size: cli.size,
        rws: dedup(cli.rws),
        engines,
        reaps,
        bs: cli.bs,
        qd,
        batch,
        threads: cli.threads as usize,
        runtime,
        ios: cli.ios,
        buffered: cli.buffered,
        seed: cli.seed,
        force: cli.force,
        json: cli.json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Config, clap::Error> {
        parse(line.split_whitespace())
    }

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cfg = args("").unwrap();
        assert_eq!(cfg.rws, [Rw::RandWrite, Rw::RandRead, Rw::Verify]);
        assert_eq!(
            cfg.engines,
            [EngineKind::Rawaio, EngineKind::Psync, EngineKind::IoUring]
        );
        assert_eq!(cfg.reaps, [Reap::Ring]);
        assert_eq!((cfg.bs, cfg.qd, cfg.batch, cfg.threads), (4096, 32, 8, 1));
        assert_eq!(cfg.runtime, Some(DEFAULT_RUNTIME));
        assert_eq!(cfg.ios, None);
        assert!(!cfg.json && !cfg.buffered && !cfg.force);
    }

    #[test]
    fn lists_expand_all_and_drop_repeats() {
        let cfg = args("--qd 128 --batch 32 --engine all,rawaio --reap ring,eventfd,ring").unwrap();
        assert_eq!((cfg.qd, cfg.batch), (128, 32));
        assert_eq!(cfg.engines, EngineKind::ALL);
        assert_eq!(cfg.reaps, [Reap::Ring, Reap::Eventfd]);
        let cfg = args("--rw verify,read --reap all --ios 100").unwrap();
        assert_eq!(cfg.rws, [Rw::Verify, Rw::Read]);
        assert_eq!(cfg.reaps, Reap::ALL);
        assert_eq!(
            (cfg.ios, cfg.runtime),
            (Some(100), None),
            "--ios alone has no time limit"
        );
    }

    #[test]
    fn values_with_units() {
        let cfg = args("--bs 1m --size 2g --runtime 0.5s --seed 7").unwrap();
        assert_eq!(cfg.bs, 1 << 20);
        assert_eq!(cfg.size, Some(2 << 30));
        assert_eq!(cfg.runtime, Some(Duration::from_millis(500)));
        assert_eq!(cfg.seed, 7);
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for bad in [
            "--qd 0",
            "--qd 5000",
            "--bs 100",
            "--bs 128m",
            "--size 0",
            "--rw nope",
            "--engine fio",
            "--batch 9 --qd 8",
            "--threads 0",
            "--runtime -1",
            "--ios 0",
            "--x",
            "--ios",
            "stray",
        ] {
            let err = args(bad).expect_err(bad);
            assert_eq!(err.exit_code(), 2, "{bad}: {err}");
        }
    }
}
