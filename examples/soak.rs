//! Soak test: several threads, each with its own context, doing random verified writes
//! and reads for a bounded time, then a final read-back of everything.
//!
//! Every block written carries a header (thread, block, version, checksum of the rest),
//! and the worker remembers the version it last wrote to each block; every read is
//! checked against both. At most one request per block is in flight at a time, so the
//! expected contents are always known. It reports I/Os done, bytes verified, mismatches,
//! errors and lost completions (submitted but never completed), and exits non-zero if
//! any of the last three is not zero.
//!
//! Run: `cargo run --release --example soak -- [--secs N] [--threads N] [--depth N]
//! [--blocks N] [--dir DIR]` (defaults: 20 s, 4 threads, depth 32, 256 blocks of 4 KiB
//! per thread, the system temp dir). `O_DIRECT` is used where the file system allows it.
//! `.ci/soak.sh` runs it.

use rawaio::{AlignedBuf, Completion, Context, Op, Token};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BLOCK: usize = 4096;
const HEADER: usize = 32;

struct Config {
    secs: u64,
    threads: usize,
    depth: usize,
    blocks: usize,
    dir: PathBuf,
}

#[derive(Default, Debug, Clone, Copy)]
struct Stats {
    writes: u64,
    reads: u64,
    bytes_verified: u64,
    mismatches: u64,
    errors: u64,
    lost: u64,
    batches: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.writes += o.writes;
        self.reads += o.reads;
        self.bytes_verified += o.bytes_verified;
        self.mismatches += o.mismatches;
        self.errors += o.errors;
        self.lost += o.lost;
        self.batches += o.batches;
    }
}

/// FNV-1a, 64 bits.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The bytes of `block` at `version`, written by `thread`: a header, then a payload
/// derived from all three.
fn fill(buf: &mut [u8], thread: usize, block: usize, version: u64) {
    let mut x = (thread as u64) << 48 ^ (block as u64) << 24 ^ version ^ 0x9e37_79b9_7f4a_7c15;
    for chunk in buf[HEADER..].chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let sum = checksum(&buf[HEADER..]);
    buf[0..8].copy_from_slice(&(thread as u64).to_le_bytes());
    buf[8..16].copy_from_slice(&(block as u64).to_le_bytes());
    buf[16..24].copy_from_slice(&version.to_le_bytes());
    buf[24..32].copy_from_slice(&sum.to_le_bytes());
}

/// Whether `buf` is the block `fill` makes for this thread, block and version (version
/// 0: never written, all zeroes).
fn verify(buf: &[u8], thread: usize, block: usize, version: u64) -> bool {
    if version == 0 {
        return buf.iter().all(|&b| b == 0);
    }
    let word = |at: usize| u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
    if (word(0), word(8), word(16)) != (thread as u64, block as u64, version) {
        return false;
    }
    if word(24) != checksum(&buf[HEADER..]) {
        return false;
    }
    let mut expected = vec![0u8; buf.len()];
    fill(&mut expected, thread, block, version);
    expected == buf
}

#[derive(Clone, Copy)]
enum Kind {
    Write(u64),
    Read(u64),
}

struct Worker {
    thread: usize,
    ctx: Context<AlignedBuf>,
    file: Arc<File>,
    base: u64,
    /// The version last written (and completed) per block; 0: never written.
    versions: Vec<u64>,
    busy: Vec<bool>,
    in_flight: HashMap<Token, (usize, Kind)>,
    stats: Stats,
    rng: Rng,
}

impl Worker {
    fn offset(&self, block: usize) -> u64 {
        self.base + (block * BLOCK) as u64
    }

    fn op(&mut self, block: usize, kind: Kind) -> Op<'static, AlignedBuf> {
        let mut buf = AlignedBuf::new(BLOCK, BLOCK).expect("layout");
        let offset = self.offset(block);
        self.busy[block] = true;
        match kind {
            Kind::Write(version) => {
                fill(&mut buf, self.thread, block, version);
                Op::write(Arc::clone(&self.file), buf, offset).user_data(block as u64)
            }
            Kind::Read(_) => Op::read(Arc::clone(&self.file), buf, offset).user_data(block as u64),
        }
    }

    /// Queues up to `n` requests on blocks not in flight, half writes, half reads.
    fn refill(&mut self, n: usize) {
        let mut ops = VecDeque::new();
        let mut kinds = VecDeque::new();
        for _ in 0..n {
            let block = self.rng.below(self.versions.len());
            if self.busy[block] {
                continue;
            }
            let kind = if self.rng.next() % 2 == 0 {
                Kind::Write(self.versions[block] + 1)
            } else {
                Kind::Read(self.versions[block])
            };
            ops.push_back(self.op(block, kind));
            kinds.push_back((block, kind));
        }
        let mut tokens = Vec::new();
        let s = self.ctx.submit_batch(&mut ops, &mut tokens);
        self.stats.batches += 1;
        for token in tokens {
            let (block, kind) = kinds.pop_front().unwrap();
            self.in_flight.insert(token, (block, kind));
        }
        // Not submitted (the context is full, or an error): forget them.
        for (block, _) in kinds {
            self.busy[block] = false;
        }
        if let Some(e) = s.error {
            if e.errno() != Some(rawaio::Errno::AGAIN) {
                eprintln!("thread {}: submission failed: {e}", self.thread);
                self.stats.errors += 1;
            }
        }
    }

    fn complete(&mut self, done: Vec<Completion<AlignedBuf>>) {
        for c in done {
            let Some((block, kind)) = self.in_flight.remove(&c.token()) else {
                eprintln!("thread {}: completion of an unknown request", self.thread);
                self.stats.mismatches += 1;
                continue;
            };
            self.busy[block] = false;
            if c.user_data() != block as u64 {
                self.stats.mismatches += 1;
            }
            match c.result() {
                Ok(n) if n == BLOCK as u64 => {}
                other => {
                    eprintln!("thread {}: block {block}: {other:?}", self.thread);
                    self.stats.errors += 1;
                    continue;
                }
            }
            let buf = c.into_buf().expect("a buffer");
            match kind {
                Kind::Write(version) => {
                    self.stats.writes += 1;
                    self.versions[block] = version;
                    // The buffer comes back as it went: the kernel only read it.
                    if !verify(&buf, self.thread, block, version) {
                        self.stats.mismatches += 1;
                    }
                }
                Kind::Read(version) => {
                    self.stats.reads += 1;
                    if verify(&buf, self.thread, block, version) {
                        self.stats.bytes_verified += BLOCK as u64;
                    } else {
                        eprintln!(
                            "thread {}: block {block} read back wrong (expected version {version})",
                            self.thread
                        );
                        self.stats.mismatches += 1;
                    }
                }
            }
        }
    }

    fn run(mut self, deadline: Instant, depth: usize) -> Stats {
        let mut done = Vec::new();
        while Instant::now() < deadline {
            let room = depth - self.in_flight.len();
            if room > 0 {
                self.refill(room);
            }
            if !self.in_flight.is_empty() {
                let min = 1 + self.rng.below(self.in_flight.len().min(8));
                match self
                    .ctx
                    .reap(min, depth, Some(Duration::from_secs(10)), &mut done)
                {
                    Ok(n) if n < min => {
                        eprintln!("thread {}: reap timed out with {n} of {min}", self.thread);
                        self.stats.errors += 1;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("thread {}: reap: {e}", self.thread);
                        self.stats.errors += 1;
                    }
                }
                self.complete(std::mem::take(&mut done));
            }
        }
        // Drain: whatever does not complete within the timeout is lost.
        let n = self.in_flight.len();
        let _ = self
            .ctx
            .reap(n, n.max(1), Some(Duration::from_secs(30)), &mut done);
        self.complete(std::mem::take(&mut done));
        self.stats.lost += self.in_flight.len() as u64;
        for block in 0..self.versions.len() {
            self.busy[block] = false;
        }
        // Final pass: every block read back and verified.
        for chunk in (0..self.versions.len()).collect::<Vec<_>>().chunks(depth) {
            let mut ops = VecDeque::new();
            for &block in chunk {
                let kind = Kind::Read(self.versions[block]);
                ops.push_back(self.op(block, kind));
            }
            let mut tokens = Vec::new();
            let s = self.ctx.submit_batch(&mut ops, &mut tokens);
            if s.error.is_some() {
                self.stats.errors += 1;
            }
            for (token, &block) in tokens.iter().zip(chunk) {
                self.in_flight
                    .insert(*token, (block, Kind::Read(self.versions[block])));
            }
            let n = tokens.len();
            let _ = self
                .ctx
                .reap(n, n.max(1), Some(Duration::from_secs(30)), &mut done);
            self.complete(std::mem::take(&mut done));
            self.stats.lost += self.in_flight.len() as u64;
            self.in_flight.clear();
        }
        self.stats
    }
}

fn parse() -> Result<Config, String> {
    let mut c = Config {
        secs: 20,
        threads: 4,
        depth: 32,
        blocks: 256,
        dir: std::env::temp_dir(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--secs" => c.secs = number()? as u64,
            "--threads" => c.threads = number()?.max(1),
            "--depth" => c.depth = number()?.clamp(1, 256),
            "--blocks" => c.blocks = number()?.max(1),
            "--dir" => c.dir = value.into(),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(c)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let c = parse()?;
    let path = c.dir.join(format!("rawaio-soak-{}", std::process::id()));
    let size = (c.threads * c.blocks * BLOCK) as u64;
    let open = |direct: bool| {
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true).create_new(true);
        if direct {
            rawaio::direct::open_direct(&path, &mut o)
        } else {
            o.open(&path)
        }
    };
    let (file, direct) = match open(true) {
        Ok(f) => (f, true),
        Err(_) => {
            let _ = std::fs::remove_file(&path);
            (open(false)?, false)
        }
    };
    file.set_len(size)?;
    let file = Arc::new(file);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(c.secs);
    let handles: Vec<_> = (0..c.threads)
        .map(|thread| {
            let ctx = Context::new(c.depth as u32)?;
            let worker = Worker {
                thread,
                ctx,
                file: Arc::clone(&file),
                base: (thread * c.blocks * BLOCK) as u64,
                versions: vec![0; c.blocks],
                busy: vec![false; c.blocks],
                in_flight: HashMap::new(),
                stats: Stats::default(),
                rng: Rng(0x2545_f491_4f6c_dd1d
                    ^ ((thread as u64 + 1) << 32)
                    ^ u64::from(std::process::id())),
            };
            let depth = c.depth;
            Ok(std::thread::spawn(move || worker.run(deadline, depth)))
        })
        .collect::<Result<_, rawaio::Error>>()?;
    let mut total = Stats::default();
    for h in handles {
        total.add(&h.join().expect("worker panicked"));
    }
    let elapsed = start.elapsed();
    std::fs::remove_file(&path)?;
    println!(
        "soak: {} threads, one context each, {} ({}), {:.1} s: {} I/Os ({} writes, {} reads) in {} batches, \
         {} bytes verified, {} mismatches, {} errors, {} lost completions",
        c.threads,
        path.display(),
        if direct { "O_DIRECT" } else { "buffered" },
        elapsed.as_secs_f64(),
        total.writes + total.reads,
        total.writes,
        total.reads,
        total.batches,
        total.bytes_verified,
        total.mismatches,
        total.errors,
        total.lost
    );
    if total.mismatches + total.errors + total.lost > 0 {
        return Err("soak found mismatches, errors or lost completions".into());
    }
    if total.reads == 0 || total.writes == 0 {
        return Err("soak did no I/O".into());
    }
    Ok(())
}
