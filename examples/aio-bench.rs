//! A fio-like benchmark: rawaio against `pread`/`pwrite` from a thread pool (psync) and
//! io_uring, reporting IOPS, MB/s, submit-to-completion latency percentiles and CPU time
//! per I/O.
//!
//! Run: `cargo run --release --example aio-bench -- [options]` (`--help` lists them).
//!
//! With no options it creates a 128 MiB file in the temporary directory, runs a short
//! random write, random read and verify on every engine, prints a table and removes the
//! file. Every combination of the `--rw`, `--engine` and `--reap` lists is one run.
//!
//! **The loop.** Each thread has its own engine (a rawaio [`Context`], an io_uring, or a
//! plain file handle for psync) with `--qd` slots, each slot a buffer that is reused for
//! every request it carries: a completion's buffer goes straight back into the next
//! request, and nothing is allocated per I/O. Requests are submitted `--batch` at a time;
//! the thread then waits for enough completions to fill the next batch. Latency is
//! measured from the submitting call to the return of the call that reaped the
//! completion, into a preallocated log-linear histogram (about 3% resolution).
//!
//! **verify** writes blocks in a pseudo-random order, each filled with a pattern derived
//! from its offset and a per-run seed, then reads every one of them back and checks every
//! byte. Mismatches are reported and make the exit status 1.
//!
//! **Engines.** rawaio: a [`Context`] per thread, `submit_batch`, and `--reap` ring
//! (`Context::reap`: user-space ring, `io_getevents` only to wait), syscall (every reap an
//! `io_getevents`) or eventfd (block on the context's eventfd, then reap exactly as many
//! completions as it counted). psync: `--threads` threads doing `pread`/`pwrite`
//! (`--qd` is ignored). io_uring (the `io-uring` crate): plain READ/WRITE on the same
//! buffers and offsets, no SQPOLL, no registered files or buffers, set up as fio does
//! (`COOP_TASKRUN | SINGLE_ISSUER | DEFER_TASKRUN` where the kernel has them); where
//! io_uring is forbidden it is skipped with a message. async (not in the default list):
//! rawaio's [`AsyncContext`], one future per request, on a minimal single-threaded
//! executor written below (it polls the futures whose wakers fired, and blocks in `poll(2)`
//! on the context's eventfd when none did); see the engine's section for why not tokio.
//! fixed (not in the default list): rawaio's [`FixedContext`], a slot per queue slot
//! that keeps its `iocb` and buffer, only the offset set per request.
//!
//! **CPU time** is the whole process's user and system time (`getrusage`) over the run,
//! divided by the I/Os done: it includes io_uring's kernel workers, and the progress
//! display (a wake-up every 20 ms).
//!
//! Exit status: 0, 1 when a verify found a mismatch, 2 for a usage error or a failed run.

#[path = "support/size.rs"]
mod size;
use size::parse_size;

use rawaio::direct::{dio_align, open_direct};
use rawaio::reactor::Reactor;
use rawaio::{
    AlignedBuf, AsyncContext, Completion, Context, Errno, FixedCompletion, FixedContext, FixedSlot,
    Op, OpFuture, Options, Token,
};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Seek, SeekFrom, Write as _};
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The size of a file the benchmark creates, unless `--size` says otherwise.
const DEFAULT_SIZE: u64 = 128 << 20;
/// The time per run when neither `--runtime` nor `--ios` is given.
const DEFAULT_RUNTIME: Duration = Duration::from_secs(2);
/// The longest wait for a completion before a run is declared stuck.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The pattern seed of a created file's initial contents.
const FILL_SEED: u64 = 0x6a09_e667_f3bc_c908;
const MAX_QD: usize = 4096;
const MAX_THREADS: usize = 256;
const MAX_BS: u64 = 64 << 20;

fn main() -> ExitCode {
    let cfg = match parse_args(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(cfg)) => cfg,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("aio-bench: {e}\nTry 'aio-bench --help'.");
            return ExitCode::from(2);
        }
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

// ---------------------------------------------------------------------------------------
// Configuration and argument parsing
// ---------------------------------------------------------------------------------------

const USAGE: &str = "\
usage: aio-bench [options]

Runs every combination of --rw, --engine and --reap (each takes a comma-separated list).

  --target PATH      file or block device (default: a temporary file, removed at the end);
                     a missing file is created and filled to --size
  --size SIZE        size of a created file (default 128m); a smaller file is extended
  --rw LIST          read, write, randread, randwrite, verify
                     (default randwrite,randread,verify)
  --engine LIST      rawaio, fixed, psync, io_uring, async, or all
                     (default rawaio,psync,io_uring)
  --reap LIST        how rawaio reaps: ring, syscall, eventfd, or all (default ring)
  --bs SIZE          block size, a multiple of 512 (default 4k)
  --qd N             requests in flight per thread (default 32; psync: one per thread)
  --batch N          requests per submission call, 1 to --qd (default qd/4)
  --threads N        threads, each with its own context or ring (default 1)
  --runtime SECONDS  time per run (default 2, unless --ios is given)
  --ios N            I/Os per run over all threads (verify: blocks written and read back);
                     with --runtime too, the run ends at whichever comes first
  --buffered         go through the page cache (default: O_DIRECT)
  --seed N           seed of the offsets and the verify patterns (default 1)
  --force            allow writing to a block device (destroys its data)
  --json             one JSON object per run on stdout instead of the table
  -h, --help         this text

SIZE: 4096, 4k, 64k, 1m, 256m, 2g (powers of 1024).
";

/// What the benchmark was asked to do.
#[derive(Debug)]
struct Config {
    target: Option<PathBuf>,
    size: Option<u64>,
    rws: Vec<Rw>,
    engines: Vec<EngineKind>,
    reaps: Vec<Reap>,
    bs: usize,
    qd: usize,
    batch: usize,
    threads: usize,
    runtime: Option<Duration>,
    ios: Option<u64>,
    buffered: bool,
    seed: u64,
    force: bool,
    json: bool,
}

enum Parsed {
    Run(Config),
    Help,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rw {
    Read,
    Write,
    RandRead,
    RandWrite,
    Verify,
}

impl Rw {
    const ALL: [Self; 5] = [
        Self::Read,
        Self::Write,
        Self::RandRead,
        Self::RandWrite,
        Self::Verify,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::RandRead => "randread",
            Self::RandWrite => "randwrite",
            Self::Verify => "verify",
        }
    }

    fn writes(self) -> bool {
        matches!(self, Self::Write | Self::RandWrite | Self::Verify)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EngineKind {
    Rawaio,
    Psync,
    IoUring,
    Async,
    Fixed,
}

impl EngineKind {
    const ALL: [Self; 5] = [
        Self::Rawaio,
        Self::Psync,
        Self::IoUring,
        Self::Async,
        Self::Fixed,
    ];
    /// Without `--engine`.
    const DEFAULT: [Self; 3] = [Self::Rawaio, Self::Psync, Self::IoUring];

    fn name(self) -> &'static str {
        match self {
            Self::Rawaio => "rawaio",
            Self::Psync => "psync",
            Self::IoUring => "io_uring",
            Self::Async => "async",
            Self::Fixed => "fixed",
        }
    }
}

/// How the rawaio engine learns of completions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reap {
    /// `Context::reap`: from the ring in user space, `io_getevents` only to wait.
    Ring,
    /// Every reap is an `io_getevents` call (`user_space_reaping: false`).
    Syscall,
    /// Wait on the context's eventfd, then reap exactly as many as it counted.
    Eventfd,
}

impl Reap {
    const ALL: [Self; 3] = [Self::Ring, Self::Syscall, Self::Eventfd];

    fn name(self) -> &'static str {
        match self {
            Self::Ring => "ring",
            Self::Syscall => "syscall",
            Self::Eventfd => "eventfd",
        }
    }
}

/// Parses `a,b,c` against the names of `all` (plus `all` itself when `allow_all`).
fn parse_list<T: Copy + PartialEq>(
    option: &str,
    value: &str,
    all: &[T],
    name: fn(T) -> &'static str,
    allow_all: bool,
) -> Result<Vec<T>, String> {
    let mut list = Vec::new();
    for word in value.split(',') {
        if allow_all && word == "all" {
            list.extend_from_slice(all);
            continue;
        }
        match all.iter().find(|&&item| name(item) == word) {
            Some(&item) => list.push(item),
            None => {
                let names: Vec<_> = all.iter().map(|&item| name(item)).collect();
                let extra = if allow_all { ", all" } else { "" };
                return Err(format!(
                    "{option}: unknown value {word:?} (expected {}{extra})",
                    names.join(", ")
                ));
            }
        }
    }
    let mut unique = Vec::new();
    for item in list {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    Ok(unique)
}

fn parse_number(option: &str, value: &str, max: u64) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ if max == u64::MAX => Err(format!(
            "{option}: expected a positive whole number, got {value:?}"
        )),
        _ => Err(format!(
            "{option}: expected a number from 1 to {max}, got {value:?}"
        )),
    }
}

fn parse_args(args: impl Iterator<Item = OsString>) -> Result<Parsed, String> {
    let mut cfg = Config {
        target: None,
        size: None,
        rws: vec![Rw::RandWrite, Rw::RandRead, Rw::Verify],
        engines: EngineKind::DEFAULT.to_vec(),
        reaps: vec![Reap::Ring],
        bs: 4096,
        qd: 32,
        batch: 0,
        threads: 1,
        runtime: None,
        ios: None,
        buffered: false,
        seed: 1,
        force: false,
        json: false,
    };
    let mut batch = None;
    let mut args = args;
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str().map(str::to_owned) else {
            return Err(format!("argument {arg:?} is not UTF-8"));
        };
        let mut value = || -> Result<String, String> {
            let v = args.next().ok_or(format!("{arg} needs a value"))?;
            v.into_string()
                .map_err(|v| format!("{arg}: value {v:?} is not UTF-8"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--target" => cfg.target = Some(PathBuf::from(value()?)),
            "--size" => {
                let v = value()?;
                cfg.size = match parse_size(&v) {
                    Some(n) if n > 0 => Some(n),
                    _ => return Err(format!("--size: expected a size like 256m, got {v:?}")),
                };
            }
            "--rw" => cfg.rws = parse_list("--rw", &value()?, &Rw::ALL, Rw::name, false)?,
            "--engine" => {
                let v = value()?;
                cfg.engines = parse_list("--engine", &v, &EngineKind::ALL, EngineKind::name, true)?;
            }
            "--reap" => cfg.reaps = parse_list("--reap", &value()?, &Reap::ALL, Reap::name, true)?,
            "--bs" => {
                let v = value()?;
                cfg.bs = match parse_size(&v) {
                    Some(n) if n >= 512 && n % 512 == 0 && n <= MAX_BS => n as usize,
                    _ => {
                        return Err(format!(
                            "--bs: expected a multiple of 512 up to 64m, like 4k or 1m, got {v:?}"
                        ));
                    }
                };
            }
            "--qd" => cfg.qd = parse_number("--qd", &value()?, MAX_QD as u64)? as usize,
            "--batch" => batch = Some(parse_number("--batch", &value()?, MAX_QD as u64)? as usize),
            "--threads" => {
                cfg.threads = parse_number("--threads", &value()?, MAX_THREADS as u64)? as usize;
            }
            "--runtime" => {
                let v = value()?;
                let secs = v.strip_suffix('s').unwrap_or(&v).parse::<f64>();
                cfg.runtime = match secs {
                    Ok(s) if s > 0.0 && s <= 1e6 => Some(Duration::from_secs_f64(s)),
                    _ => {
                        return Err(format!(
                            "--runtime: expected seconds, like 10 or 0.5, got {v:?}"
                        ));
                    }
                };
            }
            "--ios" => cfg.ios = Some(parse_number("--ios", &value()?, u64::MAX)?),
            "--seed" => {
                let v = value()?;
                cfg.seed = v
                    .parse()
                    .map_err(|_| format!("--seed: expected a number, got {v:?}"))?;
            }
            "--buffered" => cfg.buffered = true,
            "--force" => cfg.force = true,
            "--json" => cfg.json = true,
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            other => {
                return Err(format!(
                    "unexpected argument {other:?} (options start with --)"
                ));
            }
        }
    }
    cfg.batch = match batch {
        Some(b) if b > cfg.qd => {
            return Err(format!("--batch {b} is larger than --qd {}", cfg.qd));
        }
        Some(b) => b,
        None => (cfg.qd / 4).max(1),
    };
    if cfg.runtime.is_none() && cfg.ios.is_none() {
        cfg.runtime = Some(DEFAULT_RUNTIME);
    }
    Ok(Parsed::Run(cfg))
}

// ---------------------------------------------------------------------------------------
// The target: a file (created and filled when missing) or a block device
// ---------------------------------------------------------------------------------------

/// Removes the file when dropped, so that an error or a panic leaves nothing behind.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct Target {
    path: PathBuf,
    /// Opened for the runs: `O_DIRECT` unless buffered, writable if any run writes.
    file: File,
    /// Usable bytes: whole blocks only.
    size: u64,
    direct: bool,
    /// Buffer alignment in memory.
    mem_align: usize,
    description: String,
    _temp: Option<TempPath>,
}

impl Target {
    fn blocks(&self, bs: usize) -> u64 {
        self.size / bs as u64
    }
}

fn prepare_target(cfg: &Config) -> Result<Target, String> {
    let writes = cfg.rws.iter().any(|rw| rw.writes());
    let (path, temp) = match &cfg.target {
        Some(path) => (path.clone(), false),
        None => {
            let name = format!("aio-bench-{}.tmp", std::process::id());
            (std::env::temp_dir().join(name), true)
        }
    };
    let shown = path.display();
    let mut guard = None;
    let (size, what) = match std::fs::metadata(&path) {
        Ok(meta) if meta.file_type().is_block_device() => {
            if writes && !cfg.force {
                return Err(format!(
                    "{shown} is a block device and --rw {} writes to it, destroying its data: \
                     add --force to allow that",
                    cfg.rws
                        .iter()
                        .map(|rw| rw.name())
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
            let mut dev = File::open(&path).map_err(|e| format!("opening {shown}: {e}"))?;
            let size = dev
                .seek(SeekFrom::End(0))
                .map_err(|e| format!("finding the size of {shown}: {e}"))?;
            (size, "block device".to_owned())
        }
        Ok(meta) if meta.is_file() => match cfg.size {
            Some(want) if want > meta.len() => {
                let took = create_or_extend(&path, meta.len(), want, false)?;
                (
                    want,
                    format!("file, extended to {} in {took:.2?}", fmt_bytes(want)),
                )
            }
            _ => (meta.len(), "file".to_owned()),
        },
        Ok(_) => {
            return Err(format!(
                "{shown} is neither a regular file nor a block device"
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let size = cfg.size.unwrap_or(DEFAULT_SIZE);
            if temp {
                // Removed on every way out from here on, errors included.
                guard = Some(TempPath(path.clone()));
            }
            let took = create_or_extend(&path, 0, size, true)?;
            let kind = if temp { "temporary file" } else { "file" };
            (size, format!("{kind}, created and filled in {took:.2?}"))
        }
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    let (file, direct, mem_align) = open_for_io(cfg, &path, writes)?;
    let usable = size - size % cfg.bs as u64;
    let blocks = usable / cfg.bs as u64;
    if blocks < cfg.threads as u64 {
        return Err(format!(
            "{shown} holds {blocks} blocks of {} bytes: fewer than --threads {} (use a larger --size)",
            cfg.bs, cfg.threads
        ));
    }
    let mode = if direct { "O_DIRECT" } else { "buffered" };
    let description = format!(
        "{shown}, {} ({what}), {mode}, buffers aligned to {mem_align}",
        fmt_bytes(usable)
    );
    Ok(Target {
        path,
        file,
        size: usable,
        direct,
        mem_align,
        description,
        _temp: guard,
    })
}

/// Creates (or extends) the file at `path` to `to` bytes of pattern data and flushes it.
fn create_or_extend(path: &PathBuf, from: u64, to: u64, create: bool) -> Result<Duration, String> {
    let start = Instant::now();
    let shown = path.display();
    let mut options = OpenOptions::new();
    options.write(true).create_new(create);
    let file = options
        .open(path)
        .map_err(|e| format!("creating {shown}: {e}"))?;
    eprintln!("aio-bench: filling {shown} to {} ...", fmt_bytes(to));
    let mut chunk = vec![0u8; 1 << 20];
    let mut offset = from;
    while offset < to {
        let n = chunk.len().min((to - offset) as usize);
        fill_pattern(&mut chunk, offset, FILL_SEED);
        file.write_all_at(&chunk[..n], offset)
            .map_err(|e| format!("writing {shown}: {e}"))?;
        offset += n as u64;
    }
    file.sync_all()
        .map_err(|e| format!("flushing {shown}: {e}"))?;
    Ok(start.elapsed())
}

/// Opens the target for the runs; returns the file, whether it is `O_DIRECT`, and the
/// buffer alignment.
fn open_for_io(cfg: &Config, path: &PathBuf, writes: bool) -> Result<(File, bool, usize), String> {
    let shown = path.display();
    let mut options = OpenOptions::new();
    options.read(true).write(writes);
    if !cfg.buffered {
        match open_direct(path, &mut options.clone()) {
            Ok(file) => {
                // A 4 KiB (page) alignment in memory suits every device; a file may ask
                // for more, and lengths and offsets must follow its own rule.
                let (mem, offset) = dio_align(&file).map_or((4096, 512), |a| (a.memory, a.offset));
                if cfg.bs % offset.max(1) != 0 {
                    return Err(format!(
                        "--bs {} is not a multiple of {offset}, the direct-I/O alignment of {shown}",
                        cfg.bs
                    ));
                }
                let mem_align = mem.max(4096).next_power_of_two();
                return Ok((file, true, mem_align));
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                eprintln!("aio-bench: {e}; using buffered I/O");
            }
            Err(e) => return Err(format!("opening {shown}: {e}")),
        }
    }
    let file = options
        .open(path)
        .map_err(|e| format!("opening {shown}: {e}"))?;
    Ok((file, false, 4096))
}

// ---------------------------------------------------------------------------------------
// Patterns, random numbers and offsets
// ---------------------------------------------------------------------------------------

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The step between consecutive 8-byte words of a pattern.
const WORD_STEP: u64 = 0x9e37_79b9_7f4a_7c15;

/// Fills `buf` (a multiple of 8 bytes) with the pattern of the block at `offset`: words
/// that follow from a hash of the offset and `seed`, so a block read from the wrong place
/// or left over from an earlier run does not match.
fn fill_pattern(buf: &mut [u8], offset: u64, seed: u64) {
    let mut word = splitmix64(seed ^ offset);
    for chunk in buf.chunks_exact_mut(8) {
        chunk.copy_from_slice(&word.to_le_bytes());
        word = word.wrapping_add(WORD_STEP);
    }
}

/// The first byte of `buf` that differs from the pattern of the block at `offset`.
struct Mismatch {
    at: u64,
    expected: u64,
    found: u64,
}

fn check_pattern(buf: &[u8], offset: u64, seed: u64) -> Option<Mismatch> {
    let mut word = splitmix64(seed ^ offset);
    for (i, chunk) in buf.chunks_exact(8).enumerate() {
        let found = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if found != word {
            let byte = chunk
                .iter()
                .zip(word.to_le_bytes())
                .position(|(a, b)| *a != b)
                .unwrap_or(0);
            return Some(Mismatch {
                at: offset + (i * 8 + byte) as u64,
                expected: word,
                found,
            });
        }
        word = word.wrapping_add(WORD_STEP);
    }
    None
}

/// xorshift64*: fast, and good enough to spread offsets.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(splitmix64(seed) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (multiply-high, no division).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// Which block the `i`-th request of a pass goes to.
enum Order {
    /// `first, first + 1, ...`, wrapping within `len` blocks.
    Sequential { first: u64, len: u64 },
    /// Uniformly random over the whole target.
    Random { blocks: u64, rng: XorShift },
    /// Every block of `first..first + len` once, in a scrambled order
    /// (`i * stride mod len`, with `stride` coprime to `len`).
    Permuted {
        first: u64,
        len: u64,
        stride: u64,
        start: u64,
    },
}

impl Order {
    fn permuted(first: u64, len: u64, seed: u64) -> Self {
        let mut rng = XorShift::new(seed);
        let mut stride = rng.below(len) | 1;
        while gcd(stride, len) != 1 {
            stride += 1;
        }
        Self::Permuted {
            first,
            len,
            stride,
            start: rng.below(len),
        }
    }

    fn block(&mut self, i: u64) -> u64 {
        match self {
            Self::Sequential { first, len } => *first + i % *len,
            Self::Random { blocks, rng } => rng.below(*blocks),
            Self::Permuted {
                first,
                len,
                stride,
                start,
            } => {
                let step = (u128::from(i) * u128::from(*stride)) % u128::from(*len);
                *first + ((step as u64 + *start) % *len)
            }
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Part `i` of `parts` of `0..total`: `(first, len)`.
fn share(total: u64, parts: usize, i: usize) -> (u64, u64) {
    let at = |k: usize| (u128::from(total) * k as u128 / parts as u128) as u64;
    (at(i), at(i + 1) - at(i))
}

// ---------------------------------------------------------------------------------------
// Latency histogram and CPU time
// ---------------------------------------------------------------------------------------

/// Linear sub-buckets per power of two: 2^5 = 32, so a bucket is at most ~3% wide.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A log-linear histogram of nanoseconds, allocated once.
struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    sum: u128,
    max: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            sum: 0,
            max: 0,
        }
    }

    fn bucket(ns: u64) -> usize {
        if ns < SUB as u64 {
            return ns as usize;
        }
        let shift = 63 - ns.leading_zeros() - SUB_BITS;
        ((shift as usize + 1) << SUB_BITS) + (ns >> shift) as usize - SUB
    }

    /// The middle of bucket `i`.
    fn value(i: usize) -> u64 {
        if i < SUB {
            return i as u64;
        }
        let shift = (i >> SUB_BITS) - 1;
        let low = ((SUB + (i & (SUB - 1))) as u64) << shift;
        low + ((1u64 << shift) - 1) / 2
    }

    fn record(&mut self, ns: u64) {
        self.counts[Self::bucket(ns)] += 1;
        self.total += 1;
        self.sum += u128::from(ns);
        self.max = self.max.max(ns);
    }

    fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// The latency (ns) at or below which a fraction `p` of the samples fall.
    fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }

    fn mean(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            (self.sum / u128::from(self.total)) as u64
        }
    }
}

/// User and system CPU time of the whole process so far.
fn cpu_times() -> (Duration, Duration) {
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

// ---------------------------------------------------------------------------------------
// The benchmark loop, common to every engine
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

/// An engine's side of the loop: `depth()` slots, each owning one buffer of `bs` bytes.
/// A slot is free (its buffer the driver's to fill) until `prepare`d, then in flight
/// until its completion is handed to `reap`'s callback.
trait Engine {
    fn depth(&self) -> usize;
    /// The buffer of a free slot, to fill before a write.
    fn buf_mut(&mut self, slot: usize) -> &mut [u8];
    /// Queues a request on a free slot; it goes to the kernel at the next `submit`.
    fn prepare(&mut self, slot: usize, offset: u64, dir: Dir) -> Result<(), String>;
    /// Submits the queued requests; returns how many were accepted (from the front of
    /// the queue: the rest stay queued, in order). 0 means the queue is full for now.
    fn submit(&mut self) -> Result<usize, String>;
    /// Waits for at least `min` completions and calls `done(slot, result, buffer)` for
    /// each one reaped (`result`: bytes transferred, or a negative errno); returns how
    /// many it reaped.
    fn reap(
        &mut self,
        min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String>;
}

/// One pass over the target: what to do, where, and when to stop.
struct Pass {
    dir: Dir,
    order: Order,
    /// Requests to issue at most.
    limit: u64,
    deadline: Option<Instant>,
    /// Fill each write's buffer with the pattern of this seed.
    fill_seed: Option<u64>,
    /// Check each read against the pattern of this seed.
    check_seed: Option<u64>,
}

/// What the threads of one run share.
struct Shared {
    epoch: Instant,
    /// Completions so far, for the progress display.
    completed: AtomicU64,
    /// Set by a failing thread: the others stop.
    abort: AtomicBool,
    setup: Barrier,
    go: Barrier,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// A thread's results.
struct Tally {
    hist: Histogram,
    ios: u64,
    mismatches: u64,
}

#[derive(Clone, Copy, Default)]
struct SlotInfo {
    offset: u64,
    submitted_ns: u64,
}

/// Runs one pass: keeps up to `depth` requests in flight, submitting `batch` at a time;
/// returns how many requests it issued (all of which completed in full).
fn drive<E: Engine>(
    engine: &mut E,
    pass: &mut Pass,
    bs: usize,
    batch: usize,
    shared: &Shared,
    tally: &mut Tally,
) -> Result<u64, String> {
    let depth = engine.depth();
    let batch = batch.clamp(1, depth);
    let mut free: Vec<usize> = (0..depth).rev().collect();
    let mut slots = vec![SlotInfo::default(); depth];
    let mut queued: VecDeque<usize> = VecDeque::with_capacity(depth);
    let mut in_flight = 0;
    let mut issued = 0;
    let mut failure: Option<String> = None;
    loop {
        let stopping = issued >= pass.limit
            || shared.abort.load(Relaxed)
            || pass.deadline.is_some_and(|d| Instant::now() >= d);
        // Submit `batch` requests per call while slots are free. A short batch goes in
        // only when nothing else would move: nothing in flight, or no more to issue.
        loop {
            if !stopping {
                while queued.len() < batch && issued < pass.limit {
                    let Some(slot) = free.pop() else { break };
                    let offset = pass.order.block(issued) * bs as u64;
                    slots[slot].offset = offset;
                    if let Some(seed) = pass.fill_seed {
                        fill_pattern(engine.buf_mut(slot), offset, seed);
                    }
                    engine.prepare(slot, offset, pass.dir)?;
                    queued.push_back(slot);
                    issued += 1;
                }
            }
            let ready = queued.len() >= batch || in_flight == 0 || stopping;
            if queued.is_empty() || !ready {
                break;
            }
            let now = shared.now_ns();
            for &slot in &queued {
                slots[slot].submitted_ns = now;
            }
            let accepted = engine.submit()?;
            if accepted == 0 && in_flight == 0 {
                return Err("the kernel accepted no request, with none in flight".into());
            }
            queued.drain(..accepted);
            in_flight += accepted;
            if !queued.is_empty() {
                // Full for now: reap first.
                break;
            }
        }
        if in_flight == 0 {
            if stopping && queued.is_empty() {
                return Ok(issued);
            }
            continue;
        }
        // Wait for enough completions to make up the next batch.
        let want = batch.saturating_sub(queued.len()).clamp(1, in_flight);
        let mut reaped_at = None;
        let check_seed = pass.check_seed;
        let got = engine.reap(want, &mut |slot, result, buf| {
            let now = *reaped_at.get_or_insert_with(|| shared.now_ns());
            let info = slots[slot];
            tally.hist.record(now.saturating_sub(info.submitted_ns));
            free.push(slot);
            if result != bs as i64 {
                failure.get_or_insert_with(|| describe_failure(pass.dir, info.offset, result, bs));
                return;
            }
            tally.ios += 1;
            if let Some(seed) = check_seed {
                if let Some(m) = check_pattern(buf, info.offset, seed) {
                    tally.mismatches += 1;
                    if tally.mismatches <= 5 {
                        eprintln!(
                            "aio-bench: verify: block at offset {}: first bad byte {} bytes in \
                             (word {:#018x}, expected {:#018x})",
                            info.offset,
                            m.at - info.offset,
                            m.found,
                            m.expected
                        );
                    }
                }
            }
        })?;
        in_flight = in_flight
            .checked_sub(got)
            .ok_or("the engine reaped more requests than were in flight")?;
        shared.completed.fetch_add(got as u64, Relaxed);
        if let Some(failure) = failure {
            shared.abort.store(true, Relaxed);
            return Err(failure);
        }
    }
}

fn describe_failure(dir: Dir, offset: u64, result: i64, bs: usize) -> String {
    let what = if dir == Dir::Read { "read" } else { "write" };
    if result < 0 {
        let err = io::Error::from_raw_os_error((-result) as i32);
        format!("{what} at offset {offset}: {err}")
    } else {
        format!("{what} at offset {offset}: {result} of {bs} bytes transferred")
    }
}

// ---------------------------------------------------------------------------------------
// Engine: rawaio
// ---------------------------------------------------------------------------------------

/// A rawaio [`Context`] with one owned buffer per slot: a slot's buffer moves into its
/// [`Op`] and comes back with the [`Completion`].
struct RawaioEngine<'f> {
    ctx: Context<AlignedBuf>,
    file: &'f File,
    reap: Reap,
    /// `None` while the slot's request is queued or in flight.
    bufs: Vec<Option<AlignedBuf>>,
    queue: VecDeque<Op<'f, AlignedBuf>>,
    tokens: Vec<Token>,
    done: Vec<Completion<AlignedBuf>>,
    /// Completions the eventfd counted and `reap` has not yet delivered.
    signalled: usize,
}

impl<'f> RawaioEngine<'f> {
    fn new(target: &'f Target, qd: usize, bs: usize, reap: Reap) -> Result<Self, String> {
        let options = Options {
            user_space_reaping: reap != Reap::Syscall,
            eventfd: reap == Reap::Eventfd,
        };
        let ctx = Context::with_options(qd as u32, options).map_err(|e| {
            let hint = if e.errno() == Some(Errno::AGAIN) {
                " (the system-wide /proc/sys/fs/aio-max-nr is used up: lower --qd or --threads)"
            } else {
                ""
            };
            format!("io_setup({qd}): {e}{hint}")
        })?;
        Ok(Self {
            ctx,
            file: &target.file,
            reap,
            bufs: alloc_bufs(qd, bs, target.mem_align)?
                .into_iter()
                .map(Some)
                .collect(),
            queue: VecDeque::with_capacity(qd),
            tokens: Vec::with_capacity(qd),
            done: Vec::with_capacity(qd),
            signalled: 0,
        })
    }

    /// Blocks until the eventfd counts completions, then reaps exactly that many.
    fn reap_by_eventfd(&mut self, min: usize) -> Result<usize, String> {
        let efd = self.ctx.eventfd().ok_or("the context has no eventfd")?;
        let mut got = 0;
        while got < min {
            let mut count = efd
                .read()
                .map_err(|e| format!("reading the eventfd: {e}"))?;
            if count == 0 && self.signalled == 0 {
                wait_readable(efd)?;
                count = efd
                    .read()
                    .map_err(|e| format!("reading the eventfd: {e}"))?;
            }
            let n = self.signalled + count as usize;
            // The kernel posts the event to the ring before it bumps the eventfd, so all
            // `n` are there: no waiting.
            let reaped = self
                .ctx
                .reap(n, n, Some(Duration::ZERO), &mut self.done)
                .map_err(|e| format!("reaping: {e}"))?;
            self.signalled = n - reaped;
            got += reaped;
        }
        Ok(got)
    }
}

/// How many requests a `submit_batch` took. Full (EAGAIN), or a later request refused:
/// what was accepted counts, the rest is retried (and a lasting error reported) on the
/// next call.
fn accepted(submitted: &rawaio::Submitted) -> Result<usize, String> {
    match &submitted.error {
        None => Ok(submitted.accepted),
        Some(e) if e.errno() == Some(Errno::AGAIN) || submitted.accepted > 0 => {
            Ok(submitted.accepted)
        }
        Some(e) => Err(format!("io_submit: {e}")),
    }
}

/// The request for a free slot: its buffer, taken out of `bufs` until the completion
/// hands it back.
fn take_op<'f>(
    bufs: &mut [Option<AlignedBuf>],
    file: &'f File,
    slot: usize,
    offset: u64,
    dir: Dir,
) -> Op<'f, AlignedBuf> {
    let buf = bufs[slot].take().expect("a free slot has its buffer");
    match dir {
        Dir::Read => Op::read(file, buf, offset),
        Dir::Write => Op::write(file, buf, offset),
    }
}

fn alloc_bufs(count: usize, bs: usize, align: usize) -> Result<Vec<AlignedBuf>, String> {
    (0..count)
        .map(|_| AlignedBuf::new(bs, align))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("allocating {count} buffers of {bs} bytes: {e}"))
}

/// Waits (up to [`TIMEOUT`]) until the eventfd is readable.
fn wait_readable(efd: &rawaio::EventFd) -> Result<(), String> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let timeout = Timespec {
        tv_sec: TIMEOUT.as_secs() as _,
        tv_nsec: 0,
    };
    loop {
        let mut fds = [PollFd::new(efd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Err(format!("no completion signalled within {TIMEOUT:?}")),
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(format!("polling the eventfd: {e}")),
        }
    }
}

impl Engine for RawaioEngine<'_> {
    fn depth(&self) -> usize {
        self.bufs.len()
    }

    fn buf_mut(&mut self, slot: usize) -> &mut [u8] {
        self.bufs[slot]
            .as_mut()
            .expect("a free slot has its buffer")
    }

    fn prepare(&mut self, slot: usize, offset: u64, dir: Dir) -> Result<(), String> {
        let op = take_op(&mut self.bufs, self.file, slot, offset, dir);
        self.queue.push_back(op.user_data(slot as u64));
        Ok(())
    }

    fn submit(&mut self) -> Result<usize, String> {
        self.tokens.clear();
        let submitted = self.ctx.submit_batch(&mut self.queue, &mut self.tokens);
        accepted(&submitted)
    }

    fn reap(
        &mut self,
        min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String> {
        let got = match self.reap {
            Reap::Ring | Reap::Syscall => {
                let max = self.bufs.len();
                let got = self
                    .ctx
                    .reap(min, max, Some(TIMEOUT), &mut self.done)
                    .map_err(|e| format!("reaping: {e}"))?;
                if got == 0 {
                    return Err(format!("no completion within {TIMEOUT:?}"));
                }
                got
            }
            Reap::Eventfd => self.reap_by_eventfd(min)?,
        };
        for completion in self.done.drain(..) {
            let slot = completion.user_data() as usize;
            let result = completion.raw_result();
            let buf = completion
                .into_buf()
                .expect("reads and writes own a buffer");
            done(slot, result, &buf);
            self.bufs[slot] = Some(buf);
        }
        Ok(got)
    }
}

// ---------------------------------------------------------------------------------------
// Engine: async (rawaio's AsyncContext on a minimal executor)
// ---------------------------------------------------------------------------------------
//
// Why a minimal executor rather than tokio: aio-bench must build and run with no optional
// feature (CI and the benchmark scripts run it plain), and the figure wanted is the cost
// of rawaio's async layer itself (a future, a waker and a table entry per request, eventfd
// readiness) next to the synchronous API, not that of a runtime's scheduler. The executor
// is what a single-threaded runtime does at its simplest: poll the futures whose wakers
// fired; when none did, block in `poll(2)` on the eventfd and wake what the reactor holds.

/// The reactor of the minimal executor: keeps the waker the context leaves when the
/// eventfd would block; the executor polls the eventfd and wakes it.
struct PollReactor {
    fd: std::os::fd::OwnedFd,
    waker: std::sync::Mutex<Option<std::task::Waker>>,
}

impl Reactor for PollReactor {
    fn register(eventfd: std::os::fd::OwnedFd) -> io::Result<Self> {
        Ok(Self {
            fd: eventfd,
            waker: std::sync::Mutex::new(None),
        })
    }

    fn poll_read(
        &self,
        cx: &mut std::task::Context<'_>,
        read: &mut dyn FnMut() -> io::Result<u64>,
    ) -> std::task::Poll<io::Result<u64>> {
        match read() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *self.waker.lock().unwrap() = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
            other => std::task::Poll::Ready(other),
        }
    }
}

/// Slots whose futures were woken, to poll next.
type Woken = std::sync::Arc<std::sync::Mutex<Vec<usize>>>;

/// One slot's waker: queues the slot for polling.
struct SlotWaker {
    slot: usize,
    woken: Woken,
}

impl std::task::Wake for SlotWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.woken.lock().unwrap().push(self.slot);
    }
}

/// An [`AsyncContext`] with one owned buffer and one future per slot.
struct AsyncEngine<'f> {
    ctx: AsyncContext<PollReactor, AlignedBuf>,
    file: &'f File,
    /// `None` while the slot's request is queued or in flight.
    bufs: Vec<Option<AlignedBuf>>,
    queue: VecDeque<Op<'f, AlignedBuf>>,
    /// The slots of `queue`'s requests, in order.
    queued: VecDeque<usize>,
    futures: Vec<Option<OpFuture<PollReactor, AlignedBuf>>>,
    submitted: Vec<OpFuture<PollReactor, AlignedBuf>>,
    wakers: Vec<std::task::Waker>,
    woken: Woken,
    /// The slots being polled (swapped with `woken`'s list).
    polling: Vec<usize>,
}

impl<'f> AsyncEngine<'f> {
    fn new(target: &'f Target, qd: usize, bs: usize) -> Result<Self, String> {
        let ctx = AsyncContext::new(qd as u32).map_err(|e| format!("io_setup({qd}): {e}"))?;
        let woken: Woken = std::sync::Arc::new(std::sync::Mutex::new(Vec::with_capacity(qd)));
        let wakers = (0..qd)
            .map(|slot| {
                let woken = std::sync::Arc::clone(&woken);
                std::task::Waker::from(std::sync::Arc::new(SlotWaker { slot, woken }))
            })
            .collect();
        Ok(Self {
            ctx,
            file: &target.file,
            bufs: alloc_bufs(qd, bs, target.mem_align)?
                .into_iter()
                .map(Some)
                .collect(),
            queue: VecDeque::with_capacity(qd),
            queued: VecDeque::with_capacity(qd),
            futures: (0..qd).map(|_| None).collect(),
            submitted: Vec::with_capacity(qd),
            wakers,
            woken,
            polling: Vec::with_capacity(qd),
        })
    }

    /// Blocks until the eventfd is readable (or [`TIMEOUT`]), then wakes what the reactor
    /// holds; if it holds nothing, every future in flight is polled.
    fn wait(&mut self) -> Result<(), String> {
        let efd = self.ctx.reactor();
        let readable = {
            use rustix::event::{PollFd, PollFlags, Timespec, poll};
            let timeout = Timespec {
                tv_sec: TIMEOUT.as_secs() as _,
                tv_nsec: 0,
            };
            let mut fds = [PollFd::new(&efd.fd, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(n) => n > 0,
                Err(Errno::INTR) => true,
                Err(e) => return Err(format!("polling the eventfd: {e}")),
            }
        };
        if !readable {
            return Err(format!("no completion signalled within {TIMEOUT:?}"));
        }
        let waker = efd.waker.lock().unwrap().take();
        match waker {
            Some(waker) => waker.wake(),
            None => {
                let mut woken = self.woken.lock().unwrap();
                woken.extend((0..self.futures.len()).filter(|&s| self.futures[s].is_some()));
            }
        }
        Ok(())
    }
}

impl Engine for AsyncEngine<'_> {
    fn depth(&self) -> usize {
        self.bufs.len()
    }

    fn buf_mut(&mut self, slot: usize) -> &mut [u8] {
        self.bufs[slot]
            .as_mut()
            .expect("a free slot has its buffer")
    }

    fn prepare(&mut self, slot: usize, offset: u64, dir: Dir) -> Result<(), String> {
        let op = take_op(&mut self.bufs, self.file, slot, offset, dir);
        self.queue.push_back(op);
        self.queued.push_back(slot);
        Ok(())
    }

    fn submit(&mut self) -> Result<usize, String> {
        let submitted = self.ctx.submit_batch(&mut self.queue, &mut self.submitted);
        let mut woken = self.woken.lock().unwrap();
        for future in self.submitted.drain(..) {
            let slot = self.queued.pop_front().expect("a slot per request");
            self.futures[slot] = Some(future);
            // Polled once, to leave its waker.
            woken.push(slot);
        }
        accepted(&submitted)
    }

    fn reap(
        &mut self,
        min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String> {
        let mut got = 0;
        loop {
            std::mem::swap(&mut self.polling, &mut *self.woken.lock().unwrap());
            for slot in self.polling.drain(..) {
                let Some(future) = self.futures[slot].as_mut() else {
                    continue;
                };
                let mut cx = std::task::Context::from_waker(&self.wakers[slot]);
                match std::pin::Pin::new(future).poll(&mut cx) {
                    std::task::Poll::Pending => {}
                    std::task::Poll::Ready(Ok(completion)) => {
                        self.futures[slot] = None;
                        let result = completion.raw_result();
                        let buf = completion
                            .into_buf()
                            .expect("reads and writes own a buffer");
                        done(slot, result, &buf);
                        self.bufs[slot] = Some(buf);
                        got += 1;
                    }
                    std::task::Poll::Ready(Err(e)) => return Err(format!("reaping: {e}")),
                }
            }
            if got >= min {
                return Ok(got);
            }
            if self.woken.lock().unwrap().is_empty() {
                self.wait()?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Engine: fixed (rawaio's FixedContext)
// ---------------------------------------------------------------------------------------

/// A [`FixedContext`] with one slot per queue slot: the slot keeps its `iocb` and buffer,
/// and a request only sets its offset (`push_at`). A slot is made a read or a write
/// when first used, and made again when a pass changes direction.
struct FixedEngine<'f> {
    fixed: FixedContext<'f, AlignedBuf>,
    file: &'f File,
    /// The handle of each idle slot, by slot number (`None` while queued or in flight).
    slots: Vec<Option<FixedSlot>>,
    /// The direction each slot's request was made for.
    dirs: Vec<Dir>,
    done: Vec<FixedCompletion>,
}

impl<'f> FixedEngine<'f> {
    fn new(target: &'f Target, qd: usize, bs: usize) -> Result<Self, String> {
        let mut fixed = FixedContext::new(qd as u32).map_err(|e| format!("io_setup({qd}): {e}"))?;
        let mut slots = Vec::with_capacity(qd);
        for (n, buf) in alloc_bufs(qd, bs, target.mem_align)?
            .into_iter()
            .enumerate()
        {
            let slot = fixed
                .insert(Op::read(&target.file, buf, 0))
                .map_err(|r| format!("preparing slot {n}: {}", r.error))?;
            // Inserted in order into an empty context: slot n is the context's slot n.
            assert_eq!(slot.index(), n);
            slots.push(Some(slot));
        }
        Ok(Self {
            fixed,
            file: &target.file,
            slots,
            dirs: vec![Dir::Read; qd],
            done: Vec::with_capacity(qd),
        })
    }

    fn idle(&mut self, slot: usize) -> FixedSlot {
        self.slots[slot].take().expect("a free slot is idle")
    }

    /// Makes `slot`'s request one in direction `dir`, keeping its buffer.
    fn redirect(&mut self, handle: FixedSlot, dir: Dir) -> Result<FixedSlot, String> {
        let op = self.fixed.remove(handle).map_err(|(_, e)| e.to_string())?;
        let buf = op.into_bufs().pop().expect("reads and writes own a buffer");
        let op = match dir {
            Dir::Read => Op::read(self.file, buf, 0),
            Dir::Write => Op::write(self.file, buf, 0),
        };
        self.fixed
            .insert(op)
            .map_err(|r| format!("preparing a slot: {}", r.error))
    }
}

impl Engine for FixedEngine<'_> {
    fn depth(&self) -> usize {
        self.slots.len()
    }

    fn buf_mut(&mut self, slot: usize) -> &mut [u8] {
        let handle = self.slots[slot].as_ref().expect("a free slot is idle");
        &mut self.fixed.bufs_mut(handle).expect("a slot of this context")[0]
    }

    fn prepare(&mut self, slot: usize, offset: u64, dir: Dir) -> Result<(), String> {
        let mut handle = self.idle(slot);
        if self.dirs[slot] != dir {
            // The slot just vacated is the first taken again: same number.
            handle = self.redirect(handle, dir)?;
            assert_eq!(handle.index(), slot);
            self.dirs[slot] = dir;
        }
        self.fixed
            .push_at(handle, offset)
            .map_err(|(_, e)| format!("slot {slot}: {e}"))
    }

    fn submit(&mut self) -> Result<usize, String> {
        accepted(&self.fixed.submit())
    }

    fn reap(
        &mut self,
        min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String> {
        let max = self.slots.len();
        let got = self
            .fixed
            .reap(min, max, Some(TIMEOUT), &mut self.done)
            .map_err(|e| format!("reaping: {e}"))?;
        if got == 0 {
            return Err(format!("no completion within {TIMEOUT:?}"));
        }
        for completion in self.done.drain(..) {
            let result = completion.raw_result();
            let handle = completion.into_slot();
            let slot = handle.index();
            done(
                slot,
                result,
                &self.fixed.bufs(&handle).expect("a slot of this context")[0],
            );
            self.slots[slot] = Some(handle);
        }
        Ok(got)
    }
}

// ---------------------------------------------------------------------------------------
// Engine: psync (one blocking pread/pwrite at a time per thread)
// ---------------------------------------------------------------------------------------

struct PsyncEngine<'f> {
    file: &'f File,
    buf: AlignedBuf,
    queued: Option<(u64, Dir)>,
    result: i64,
}

impl<'f> PsyncEngine<'f> {
    fn new(target: &'f Target, bs: usize) -> Result<Self, String> {
        Ok(Self {
            file: &target.file,
            buf: alloc_bufs(1, bs, target.mem_align)?.remove(0),
            queued: None,
            result: 0,
        })
    }
}

impl Engine for PsyncEngine<'_> {
    fn depth(&self) -> usize {
        1
    }

    fn buf_mut(&mut self, _slot: usize) -> &mut [u8] {
        &mut self.buf
    }

    fn prepare(&mut self, _slot: usize, offset: u64, dir: Dir) -> Result<(), String> {
        self.queued = Some((offset, dir));
        Ok(())
    }

    fn submit(&mut self) -> Result<usize, String> {
        let Some((offset, dir)) = self.queued.take() else {
            return Ok(0);
        };
        let result = match dir {
            Dir::Read => self.file.read_at(&mut self.buf, offset),
            Dir::Write => self.file.write_at(&self.buf, offset),
        };
        self.result = match result {
            Ok(n) => n as i64,
            Err(e) => -i64::from(e.raw_os_error().unwrap_or(libc::EIO)),
        };
        Ok(1)
    }

    fn reap(
        &mut self,
        _min: usize,
        done: &mut impl FnMut(usize, i64, &[u8]),
    ) -> Result<usize, String> {
        done(0, self.result, &self.buf);
        Ok(1)
    }
}

// ---------------------------------------------------------------------------------------
// Engine: io_uring (the `io-uring` crate; plain READ/WRITE, no SQPOLL, no registered
// buffers or files, so that it does what the other engines do)
// ---------------------------------------------------------------------------------------

#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "powerpc64"
))]
mod uring {
    use super::{Dir, Engine, Target, alloc_bufs};
    use io_uring::{IoUring, opcode, squeue, types};
    use rawaio::AlignedBuf;
    use std::io;
    use std::os::fd::AsRawFd;

    /// `io_uring_enter` flag: wait for completions.
    const IORING_ENTER_GETEVENTS: u32 = 1;

    /// Whether this process may use io_uring at all (sandboxes and
    /// `kernel.io_uring_disabled` forbid it).
    pub fn probe() -> Result<(), String> {
        IoUring::new(2)
            .map(drop)
            .map_err(|e| format!("io_uring_setup failed: {e}"))
    }

    /// An io_uring with one buffer per slot. Prepared entries wait in `pending` and reach
    /// the submission ring only in `submit`, so that waiting for completions never
    /// submits behind the benchmark loop's back.
    pub struct UringEngine<'f> {
        ring: IoUring,
        file: &'f std::fs::File,
        bufs: Vec<AlignedBuf>,
        /// Whether the slot's buffer is named by a prepared or submitted entry.
        busy: Vec<bool>,
        pending: Vec<squeue::Entry>,
        /// Pushed to the submission ring, not yet consumed by the kernel.
        in_ring: usize,
        /// Consumed by the kernel, completion not yet reaped.
        in_flight: usize,
    }

    impl<'f> UringEngine<'f> {
        pub fn new(target: &'f Target, qd: usize, bs: usize) -> Result<Self, String> {
            let entries = qd.next_power_of_two() as u32;
            // As fio sets it up: only this thread submits, and completions run when it
            // asks for them (no interrupting task work). Kernels before 6.1 refuse these
            // flags: fall back to a plain ring.
            let ring = IoUring::builder()
                .setup_coop_taskrun()
                .setup_single_issuer()
                .setup_defer_taskrun()
                .build(entries)
                .or_else(|_| IoUring::new(entries))
                .map_err(|e| format!("io_uring_setup: {e}"))?;
            Ok(Self {
                ring,
                file: &target.file,
                bufs: alloc_bufs(qd, bs, target.mem_align)?,
                busy: vec![false; qd],
                pending: Vec::with_capacity(qd),
                in_ring: 0,
                in_flight: 0,
            })
        }

        /// Delivers every completion waiting in the completion ring.
        fn drain(&mut self, done: &mut impl FnMut(usize, i64, &[u8])) -> usize {
            let mut n = 0;
            for cqe in self.ring.completion() {
                let slot = cqe.user_data() as usize;
                self.busy[slot] = false;
                done(slot, i64::from(cqe.result()), &self.bufs[slot]);
                n += 1;
            }
            self.in_flight -= n;
            n
        }

        /// Waits until at least `want` completions are in the completion ring, without
        /// submitting anything.
        fn wait(&self, want: usize) -> io::Result<usize> {
            let want = want.min(u32::MAX as usize) as u32;
            // SAFETY: `to_submit` is 0, so no submission entry (and no memory it names)
            // is handed to the kernel, and no argument pointer is passed: the call only
            // waits for completions to appear in the ring this `IoUring` owns.
            unsafe {
                self.ring
                    .submitter()
                    .enter::<()>(0, want, IORING_ENTER_GETEVENTS, None)
            }
        }
    }

    fn retryable(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
        )
    }

    impl Engine for UringEngine<'_> {
        fn depth(&self) -> usize {
            self.bufs.len()
        }

        fn buf_mut(&mut self, slot: usize) -> &mut [u8] {
            assert!(!self.busy[slot], "slot {slot} is in use");
            &mut self.bufs[slot]
        }

        fn prepare(&mut self, slot: usize, offset: u64, dir: Dir) -> Result<(), String> {
            assert!(!self.busy[slot], "slot {slot} is in use");
            let fd = types::Fd(self.file.as_raw_fd());
            let buf = &mut self.bufs[slot];
            let len = buf.len() as u32;
            let entry = match dir {
                Dir::Read => opcode::Read::new(fd, buf.as_mut_ptr(), len)
                    .offset(offset)
                    .build(),
                Dir::Write => opcode::Write::new(fd, buf.as_ptr(), len)
                    .offset(offset)
                    .build(),
            };
            self.pending.push(entry.user_data(slot as u64));
            self.busy[slot] = true;
            Ok(())
        }

        fn submit(&mut self) -> Result<usize, String> {
            let mut sq = self.ring.submission();
            let room = sq.capacity() - sq.len();
            let take = self.pending.len().min(room);
            // SAFETY: each entry names the buffer of its slot, heap memory this engine
            // owns, which is not touched (`busy`) until the entry's completion is reaped,
            // and is never freed while a request is in flight (`Drop` waits for them, or
            // leaks the buffers); the descriptor belongs to a `File` that outlives the
            // engine.
            unsafe { sq.push_multiple(&self.pending[..take]) }
                .map_err(|_| "the submission ring is full".to_owned())?;
            drop(sq);
            self.pending.drain(..take);
            self.in_ring += take;
            match self.ring.submit() {
                Ok(n) => {
                    let n = n.min(self.in_ring);
                    self.in_ring -= n;
                    self.in_flight += n;
                    Ok(n)
                }
                Err(e) if retryable(&e) => Ok(0),
                Err(e) => Err(format!("io_uring_enter: {e}")),
            }
        }

        fn reap(
            &mut self,
            min: usize,
            done: &mut impl FnMut(usize, i64, &[u8]),
        ) -> Result<usize, String> {
            let min = min.min(self.in_flight);
            let mut got = self.drain(done);
            while got < min {
                match self.wait(min - got) {
                    Ok(_) => {}
                    Err(e) if retryable(&e) => {}
                    Err(e) => return Err(format!("io_uring_enter: {e}")),
                }
                got += self.drain(done);
            }
            Ok(got)
        }
    }

    impl Drop for UringEngine<'_> {
        fn drop(&mut self) {
            // The kernel may still write into the buffers of requests in flight: wait for
            // them, and if that fails, leak the buffers rather than free them. (Entries
            // never consumed are discarded with the ring.)
            while self.in_flight > 0 {
                match self.wait(self.in_flight) {
                    Ok(_) => {}
                    Err(e) if retryable(&e) => {}
                    Err(_) => {
                        std::mem::forget(std::mem::take(&mut self.bufs));
                        return;
                    }
                }
                self.drain(&mut |_, _, _| {});
            }
        }
    }
}

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "powerpc64"
)))]
mod uring {
    //! The `io-uring` crate has no system-call bindings for this architecture.
    use super::{Dir, Engine, Target};

    pub fn probe() -> Result<(), String> {
        Err("the io-uring crate does not support this architecture".into())
    }

    pub enum UringEngine {}

    impl UringEngine {
        pub fn new(_: &Target, _: usize, _: usize) -> Result<Self, String> {
            Err(probe().unwrap_err())
        }
    }

    impl Engine for UringEngine {
        fn depth(&self) -> usize {
            match *self {}
        }
        fn buf_mut(&mut self, _: usize) -> &mut [u8] {
            match *self {}
        }
        fn prepare(&mut self, _: usize, _: u64, _: Dir) -> Result<(), String> {
            match *self {}
        }
        fn submit(&mut self) -> Result<usize, String> {
            match *self {}
        }
        fn reap(
            &mut self,
            _: usize,
            _: &mut impl FnMut(usize, i64, &[u8]),
        ) -> Result<usize, String> {
            match *self {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Runs: threads, passes, progress
// ---------------------------------------------------------------------------------------

/// One run: an engine, an access pattern and (for rawaio) a reaping mode.
#[derive(Clone, Copy, Debug)]
struct Case {
    engine: EngineKind,
    rw: Rw,
    reap: Option<Reap>,
}

impl Case {
    fn label(&self) -> String {
        match self.reap {
            Some(reap) => format!("{}/{} {}", self.engine.name(), reap.name(), self.rw.name()),
            None => format!("{} {}", self.engine.name(), self.rw.name()),
        }
    }

    /// Requests in flight per thread.
    fn depth(&self, cfg: &Config) -> usize {
        if self.engine == EngineKind::Psync {
            1
        } else {
            cfg.qd
        }
    }

    /// The queue depth shown: psync has one request in flight per thread.
    fn shown_qd(&self, cfg: &Config) -> usize {
        if self.engine == EngineKind::Psync {
            cfg.threads
        } else {
            cfg.qd
        }
    }

    fn batch(&self, cfg: &Config) -> usize {
        if self.engine == EngineKind::Psync {
            1
        } else {
            cfg.batch
        }
    }
}

/// What one run's threads need to know.
struct Plan<'a> {
    cfg: &'a Config,
    target: &'a Target,
    case: Case,
    /// Seeds this run's offsets and verify pattern (distinct per run, so a block left
    /// over from an earlier verify never passes for a new one).
    seed: u64,
}

struct ThreadResult {
    tally: Tally,
    start: Instant,
    end: Instant,
}

struct Report {
    case: Case,
    qd: usize,
    batch: usize,
    ios: u64,
    secs: f64,
    hist: Histogram,
    user: Duration,
    system: Duration,
    mismatches: u64,
}

fn run_case(plan: &Plan, progress: &Progress) -> Result<Report, String> {
    let cfg = plan.cfg;
    let shared = Shared {
        epoch: Instant::now(),
        completed: AtomicU64::new(0),
        abort: AtomicBool::new(false),
        setup: Barrier::new(cfg.threads + 1),
        go: Barrier::new(cfg.threads + 1),
    };
    let (results, user, system) = std::thread::scope(|scope| {
        let shared = &shared;
        let handles: Vec<_> = (0..cfg.threads)
            .map(|t| scope.spawn(move || worker(plan, t, shared)))
            .collect();
        // Every engine is set up (contexts created, buffers allocated) before the clock
        // and the CPU counters start.
        shared.setup.wait();
        let cpu_before = cpu_times();
        shared.go.wait();
        progress.watch(plan, shared, &handles);
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect();
        let cpu_after = cpu_times();
        (
            results,
            cpu_after.0.saturating_sub(cpu_before.0),
            cpu_after.1.saturating_sub(cpu_before.1),
        )
    });
    let mut threads = Vec::new();
    let mut first_error = None;
    for result in results {
        match result {
            Ok(r) => threads.push(r),
            // An empty message: stopped because another thread failed.
            Err(e) if e.is_empty() => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let start = threads.iter().map(|r| r.start).min();
    let end = threads.iter().map(|r| r.end).max();
    let secs = match (start, end) {
        (Some(s), Some(e)) => (e - s).as_secs_f64(),
        _ => 0.0,
    };
    let mut report = Report {
        case: plan.case,
        qd: plan.case.shown_qd(cfg),
        batch: plan.case.batch(cfg),
        ios: 0,
        secs,
        hist: Histogram::new(),
        user,
        system,
        mismatches: 0,
    };
    for r in &threads {
        report.ios += r.tally.ios;
        report.mismatches += r.tally.mismatches;
        report.hist.merge(&r.tally.hist);
    }
    Ok(report)
}

fn worker(plan: &Plan, t: usize, shared: &Shared) -> Result<ThreadResult, String> {
    let (cfg, target, case) = (plan.cfg, plan.target, plan.case);
    let depth = case.depth(cfg);
    match case.engine {
        EngineKind::Rawaio => {
            let reap = case.reap.unwrap_or(Reap::Ring);
            let engine = RawaioEngine::new(target, depth, cfg.bs, reap);
            run_thread(engine, plan, t, shared)
        }
        EngineKind::Psync => run_thread(PsyncEngine::new(target, cfg.bs), plan, t, shared),
        EngineKind::IoUring => {
            let engine = uring::UringEngine::new(target, depth, cfg.bs);
            run_thread(engine, plan, t, shared)
        }
        EngineKind::Async => run_thread(AsyncEngine::new(target, depth, cfg.bs), plan, t, shared),
        EngineKind::Fixed => run_thread(FixedEngine::new(target, depth, cfg.bs), plan, t, shared),
    }
}

/// Meets the other threads at the barriers whatever happened during set-up (a thread that
/// skipped them would leave the others waiting for ever), then runs the passes.
fn run_thread<E: Engine>(
    engine: Result<E, String>,
    plan: &Plan,
    t: usize,
    shared: &Shared,
) -> Result<ThreadResult, String> {
    let engine = engine.map(|mut engine| {
        // Writes that do not verify send whatever the buffers hold: make it data, not
        // zeroes, which some devices treat specially.
        for slot in 0..engine.depth() {
            fill_pattern(engine.buf_mut(slot), slot as u64, plan.seed);
        }
        engine
    });
    if engine.is_err() {
        shared.abort.store(true, Relaxed);
    }
    shared.setup.wait();
    shared.go.wait();
    let mut engine = engine?;
    if shared.abort.load(Relaxed) {
        return Err(String::new());
    }
    let start = Instant::now();
    let mut tally = Tally {
        hist: Histogram::new(),
        ios: 0,
        mismatches: 0,
    };
    let result = run_passes(&mut engine, plan, t, start, shared, &mut tally);
    let end = Instant::now();
    if result.is_err() {
        shared.abort.store(true, Relaxed);
    }
    result.map(|()| ThreadResult { tally, start, end })
}

fn run_passes<E: Engine>(
    engine: &mut E,
    plan: &Plan,
    t: usize,
    start: Instant,
    shared: &Shared,
    tally: &mut Tally,
) -> Result<(), String> {
    let cfg = plan.cfg;
    let blocks = plan.target.blocks(cfg.bs);
    let (first, len) = share(blocks, cfg.threads, t);
    let limit = cfg.ios.map_or(u64::MAX, |n| share(n, cfg.threads, t).1);
    let deadline = cfg.runtime.map(|r| start + r);
    let thread_seed = splitmix64(plan.seed ^ (t as u64 + 1).wrapping_mul(WORD_STEP));
    let simple = |dir, order| Pass {
        dir,
        order,
        limit,
        deadline,
        fill_seed: None,
        check_seed: None,
    };
    let random = || Order::Random {
        blocks,
        rng: XorShift::new(thread_seed),
    };
    let mut run = |mut pass: Pass| drive(engine, &mut pass, cfg.bs, cfg.batch, shared, tally);
    match plan.case.rw {
        Rw::Read => run(simple(Dir::Read, Order::Sequential { first, len })).map(drop),
        Rw::Write => run(simple(Dir::Write, Order::Sequential { first, len })).map(drop),
        Rw::RandRead => run(simple(Dir::Read, random())).map(drop),
        Rw::RandWrite => run(simple(Dir::Write, random())).map(drop),
        Rw::Verify => {
            // Write each block of this thread's share once (or as many as --ios allows,
            // or as fit in half the time), then read back exactly those and check them.
            let written = run(Pass {
                dir: Dir::Write,
                order: Order::permuted(first, len, thread_seed),
                limit: limit.min(len),
                deadline: cfg.runtime.map(|r| start + r / 2),
                fill_seed: Some(plan.seed),
                check_seed: None,
            })?;
            run(Pass {
                dir: Dir::Read,
                order: Order::permuted(first, len, thread_seed),
                limit: written,
                deadline: None,
                fill_seed: None,
                check_seed: Some(plan.seed),
            })
            .map(drop)
        }
    }
}

/// The progress display on stderr: a bar redrawn in place on a terminal; otherwise a
/// plain line at most every 5 s (none for short runs), to keep logs short.
struct Progress {
    tty: bool,
}

impl Progress {
    fn watch<T>(
        &self,
        plan: &Plan,
        shared: &Shared,
        handles: &[std::thread::ScopedJoinHandle<'_, T>],
    ) {
        let start = Instant::now();
        let cfg = plan.cfg;
        let interval = if self.tty {
            Duration::from_millis(250)
        } else {
            cfg.runtime.map_or(Duration::from_secs(5), |r| {
                (r / 4).max(Duration::from_secs(5))
            })
        };
        let mut next = start + interval;
        let mut shown = false;
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
            let now = Instant::now();
            if now < next {
                continue;
            }
            next += interval;
            let elapsed = now - start;
            let done = shared.completed.load(Relaxed);
            let line = progress_line(plan, elapsed, done);
            if self.tty {
                eprint!("\r{line}");
            } else {
                eprintln!("{line}");
            }
            shown = true;
        }
        if self.tty && shown {
            eprint!("\r{:79}\r", "");
        }
    }
}

fn progress_line(plan: &Plan, elapsed: Duration, done: u64) -> String {
    let cfg = plan.cfg;
    let by_time = cfg.runtime.map(|r| elapsed.as_secs_f64() / r.as_secs_f64());
    let per_block = if plan.case.rw == Rw::Verify { 2 } else { 1 };
    let by_ios = cfg
        .ios
        .map(|n| done as f64 / (n.saturating_mul(per_block)) as f64);
    let fraction = match (by_time, by_ios) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => 0.0,
    }
    .clamp(0.0, 1.0);
    const WIDTH: usize = 24;
    let filled = (fraction * WIDTH as f64) as usize;
    let iops = done as f64 / elapsed.as_secs_f64().max(1e-9);
    format!(
        "[{}{}] {:3.0}% {:6.1}s  {:<28} {:>9} IOPS",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        fraction * 100.0,
        elapsed.as_secs_f64(),
        plan.case.label(),
        fmt_count(iops)
    )
}

// ---------------------------------------------------------------------------------------
// The whole benchmark, and its output
// ---------------------------------------------------------------------------------------

enum Outcome {
    Clean,
    Mismatches,
    Failed,
}

fn cases(cfg: &Config) -> Vec<Case> {
    let mut cases = Vec::new();
    for &rw in &cfg.rws {
        for &engine in &cfg.engines {
            if engine == EngineKind::Rawaio {
                for &reap in &cfg.reaps {
                    cases.push(Case {
                        engine,
                        rw,
                        reap: Some(reap),
                    });
                }
            } else {
                cases.push(Case {
                    engine,
                    rw,
                    reap: None,
                });
            }
        }
    }
    cases
}

fn run_all(cfg: &Config) -> Result<Outcome, String> {
    let uring_unavailable = if cfg.engines.contains(&EngineKind::IoUring) {
        uring::probe().err()
    } else {
        None
    };
    if let Some(why) = &uring_unavailable {
        eprintln!("aio-bench: skipping the io_uring engine: {why}");
    }
    let target = prepare_target(cfg)?;
    if cfg.json {
        eprintln!("aio-bench: target {}", target.description);
    } else {
        println!("target: {}", target.description);
        println!("{}", table_header());
    }
    let progress = Progress {
        tty: io::stderr().is_terminal(),
    };
    let mut outcome = Outcome::Clean;
    for (i, case) in cases(cfg).into_iter().enumerate() {
        if case.engine == EngineKind::IoUring {
            if let Some(why) = &uring_unavailable {
                if !cfg.json {
                    println!("{}", table_note(cfg, &case, &format!("skipped: {why}")));
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
        match run_case(&plan, &progress) {
            Ok(report) => {
                if cfg.json {
                    println!("{}", json_line(cfg, &target, &report));
                } else {
                    println!("{}", table_row(cfg, &report));
                }
                if report.mismatches > 0 && matches!(outcome, Outcome::Clean) {
                    outcome = Outcome::Mismatches;
                }
            }
            Err(e) => {
                eprintln!("aio-bench: {}: {e}", case.label());
                if !cfg.json {
                    println!("{}", table_note(cfg, &case, "failed (see above)"));
                }
                outcome = Outcome::Failed;
            }
        }
        let _ = io::stdout().flush();
    }
    if !cfg.json {
        println!(
            "latency: submit to reap, in us; cpu: the process's user and system time per I/O, \
             in us; psync: one request in flight per thread"
        );
    }
    Ok(outcome)
}

fn table_header() -> String {
    format!(
        "{:<8} {:<7} {:<9} {:>5} {:>4} {:>5} {:>3} {:>9} {:>8} {:>7} {:>7} {:>8} {:>6} {:>6}  {}",
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

fn table_prefix(cfg: &Config, case: &Case, qd: usize, batch: usize) -> String {
    format!(
        "{:<8} {:<7} {:<9} {:>5} {:>4} {:>5} {:>3}",
        case.engine.name(),
        case.reap.map_or("-", Reap::name),
        case.rw.name(),
        fmt_bytes(cfg.bs as u64),
        qd,
        batch,
        cfg.threads
    )
}

fn table_note(cfg: &Config, case: &Case, note: &str) -> String {
    let prefix = table_prefix(cfg, case, case.shown_qd(cfg), case.batch(cfg));
    format!("{prefix} {note}")
}

fn table_row(cfg: &Config, r: &Report) -> String {
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
        fmt_us(r.hist.percentile(0.50)),
        fmt_us(r.hist.percentile(0.99)),
        fmt_us(r.hist.percentile(0.999)),
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

fn json_line(cfg: &Config, target: &Target, r: &Report) -> String {
    let m = Metrics::of(cfg, r);
    let us = |ns: u64| ns as f64 / 1000.0;
    let mut s = String::from("{");
    let _ = write!(
        s,
        "\"engine\":\"{}\",\"rw\":\"{}\",\"reap\":{},\"bs\":{},\"qd\":{},\"batch\":{},\
         \"threads\":{},\"direct\":{},\"target\":{},",
        r.case.engine.name(),
        r.case.rw.name(),
        r.case
            .reap
            .map_or("null".to_owned(), |reap| format!("\"{}\"", reap.name())),
        cfg.bs,
        r.qd,
        r.batch,
        cfg.threads,
        target.direct,
        json_string(&target.path.display().to_string()),
    );
    let _ = write!(
        s,
        "\"ios\":{},\"seconds\":{:.4},\"iops\":{:.1},\"mbps\":{:.2},\"lat_mean_us\":{:.3},\
         \"lat_p50_us\":{:.3},\"lat_p99_us\":{:.3},\"lat_p999_us\":{:.3},\"lat_max_us\":{:.3},\
         \"cpu_us_per_io\":{:.4},\"usr_us_per_io\":{:.4},\"sys_us_per_io\":{:.4},\"mismatches\":{}}}",
        r.ios,
        r.secs,
        m.iops,
        m.mbps,
        us(r.hist.mean()),
        us(r.hist.percentile(0.50)),
        us(r.hist.percentile(0.99)),
        us(r.hist.percentile(0.999)),
        us(r.hist.max),
        m.user_us + m.system_us,
        m.user_us,
        m.system_us,
        r.mismatches,
    );
    s
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `4k`, `1m`, `128m`, or bytes.
fn fmt_bytes(n: u64) -> String {
    for (shift, unit) in [(40, "t"), (30, "g"), (20, "m"), (10, "k")] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
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

// Run with `cargo test --example aio-bench`.
#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Parsed, String> {
        parse_args(line.split_whitespace().map(OsString::from))
    }

    #[test]
    fn histogram_buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for ns in (0..5000).chain([1 << 20, u64::MAX / 3, u64::MAX]) {
            let i = Histogram::bucket(ns);
            assert!(i >= last && i < BUCKETS, "{ns}");
            last = i;
            let mid = Histogram::value(i);
            assert!(mid.abs_diff(ns) <= ns / 32 + 1, "{ns} -> {mid}");
        }
        let mut h = Histogram::new();
        (1..=1000).for_each(|us| h.record(us * 1000));
        assert!(h.percentile(0.5).abs_diff(500_000) < 500_000 / 30);
        assert!(h.percentile(0.99).abs_diff(990_000) < 990_000 / 30);
        assert_eq!(h.percentile(1.0), 1_000_000);
    }

    #[test]
    fn pattern_detects_any_changed_byte() {
        let mut buf = vec![0u8; 4096];
        fill_pattern(&mut buf, 8192, 7);
        assert!(check_pattern(&buf, 8192, 7).is_none());
        assert!(check_pattern(&buf, 4096, 7).is_some(), "wrong offset");
        assert!(check_pattern(&buf, 8192, 8).is_some(), "wrong seed");
        buf[1234] ^= 0x10;
        assert_eq!(check_pattern(&buf, 8192, 7).unwrap().at, 8192 + 1234);
    }

    #[test]
    fn permutation_visits_every_block_once() {
        for len in [1, 2, 3, 64, 97, 1000] {
            let mut order = Order::permuted(10, len, len);
            let mut seen = vec![false; len as usize];
            for i in 0..len {
                let block = order.block(i);
                assert!((10..10 + len).contains(&block));
                assert!(!std::mem::replace(&mut seen[(block - 10) as usize], true));
            }
        }
    }

    #[test]
    fn shares_cover_the_whole() {
        let parts: Vec<_> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(parts, [(0, 3), (3, 3), (6, 4)]);
        assert_eq!(share(u64::MAX, 2, 1).1, u64::MAX - u64::MAX / 2);
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size("256M"), Some(256 << 20));
        assert_eq!(parse_size("1x"), None);
        let Ok(Parsed::Run(cfg)) = args("--qd 128 --batch 32 --engine all --reap ring,eventfd")
        else {
            panic!("valid arguments refused");
        };
        assert_eq!(
            (cfg.qd, cfg.batch, cfg.engines.len()),
            (128, 32, EngineKind::ALL.len())
        );
        assert_eq!(cfg.reaps, [Reap::Ring, Reap::Eventfd]);
        assert_eq!(cfg.runtime, Some(DEFAULT_RUNTIME));
        for bad in [
            "--qd 0",
            "--bs 100",
            "--rw nope",
            "--batch 9 --qd 8",
            "--x",
            "--ios",
        ] {
            assert!(args(bad).is_err(), "{bad}");
        }
    }
}
