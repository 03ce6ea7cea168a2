//! The C floor's loop (`benches/c/aio_floor.c`) over rawaio's safe paths: the same
//! random `O_DIRECT` reads, `batch` per submission, the same random numbers, the same
//! clock reads (one per 64 rounds), no latency bookkeeping, and the same output line, so
//! that the two can be run side by side and under callgrind.
//!
//! ```text
//! cargo bench --bench floor -- PATHKIND TARGET [qd=128] [batch=32] [bs=4096] [seconds=5] [reap=ring] [ios=0]
//! ```
//!
//! PATHKIND: `owning` ([`Context`]: an [`Op`] per request, its buffer moved in and back),
//! `fixed` ([`FixedContext`]: a slot per request, only the offset set per round). reap:
//! `ring` (the ring, `io_getevents` to wait when it is empty), `spin` (the ring only,
//! spinning) or `getevents` (every reap an `io_getevents` call), as in the C loop.
//! `ios > 0` stops after that many I/Os, for instruction counts that do not depend on
//! time.

use rawaio::{AlignedBuf, Completion, Context, FixedContext, FixedSlot, Op, Options, Token};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reap {
    Ring,
    Spin,
    Getevents,
}

struct Args {
    kind: String,
    target: String,
    qd: usize,
    batch: usize,
    bs: usize,
    seconds: f64,
    reap: Reap,
    ios: u64,
}

fn parse() -> Result<Args, String> {
    // `cargo bench` adds `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let usage =
        "usage: floor owning|fixed TARGET [qd] [batch] [bs] [seconds] [ring|spin|getevents] [ios]";
    let [kind, target, rest @ ..] = &args[..] else {
        return Err(usage.into());
    };
    let num = |i: usize, default: u64| -> Result<u64, String> {
        rest.get(i).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("bad number {v:?}\n{usage}"))
        })
    };
    let reap = match rest.get(4).map(String::as_str) {
        None | Some("ring") => Reap::Ring,
        Some("spin") => Reap::Spin,
        Some("getevents") => Reap::Getevents,
        Some(other) => return Err(format!("bad reap {other:?}\n{usage}")),
    };
    let a = Args {
        kind: kind.clone(),
        target: target.clone(),
        qd: num(0, 128)? as usize,
        batch: num(1, 32)? as usize,
        bs: num(2, 4096)? as usize,
        seconds: rest.get(3).map_or(Ok(5.0), |v| {
            v.parse().map_err(|_| format!("bad seconds {v:?}"))
        })?,
        reap,
        ios: num(5, 0)?,
    };
    if a.qd < 1 || a.batch < 1 || a.batch > a.qd || a.bs < 512 {
        return Err("bad arguments".into());
    }
    Ok(a)
}

/// The C loop's seed.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The C loop's xorshift.
struct Rng(u64);

impl Rng {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What every path shares: the file, the offsets, the clock, the count.
struct Run {
    blocks: u64,
    bs: usize,
    ios: u64,
    max_ios: u64,
    start: Instant,
    end: f64,
    loops: u64,
    now: f64,
}

impl Run {
    /// Counts `n` I/Os and one round; whether to go on.
    #[inline]
    fn round(&mut self, n: usize) -> bool {
        self.ios += n as u64;
        self.loops += 1;
        if self.loops & 63 == 0 {
            self.now = self.start.elapsed().as_secs_f64();
        }
        self.now < self.end && self.ios < self.max_ios
    }
}

fn options(reap: Reap) -> Options {
    Options {
        user_space_reaping: reap != Reap::Getevents,
        ..Options::default()
    }
}

fn check(res: i64, bs: usize) -> Result<(), String> {
    if res == bs as i64 {
        Ok(())
    } else {
        Err(format!("short read: {res}"))
    }
}

fn owning(a: &Args, file: &File, run: &mut Run) -> Result<(), String> {
    let ctx = Context::<AlignedBuf>::with_options(a.qd as u32, options(a.reap))
        .map_err(|e| format!("io_setup: {e}"))?;
    let mut bufs: Vec<Option<AlignedBuf>> = (0..a.qd)
        .map(|_| AlignedBuf::new(a.bs, 4096).map(Some))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut free: Vec<usize> = (0..a.qd).collect();
    let mut queue: VecDeque<Op<'_, AlignedBuf>> = VecDeque::with_capacity(a.qd);
    let mut tokens: Vec<Token> = Vec::with_capacity(a.qd);
    let mut done: Vec<Completion<AlignedBuf>> = Vec::with_capacity(a.qd);
    let (bs, blocks) = (run.bs, run.blocks);
    let mut rng = Rng(SEED);
    loop {
        while free.len() >= a.batch {
            if a.batch == 1 {
                let slot = free.pop().expect("a free slot");
                let off = (rng.next() % blocks) * bs as u64;
                let buf = bufs[slot].take().expect("its buffer");
                if let Err(r) = ctx.submit(Op::read(file, buf, off).user_data(slot as u64)) {
                    return Err(format!("io_submit: {}", r.error));
                }
            } else {
                for _ in 0..a.batch {
                    let slot = free.pop().expect("a free slot");
                    let off = (rng.next() % blocks) * bs as u64;
                    let buf = bufs[slot].take().expect("its buffer");
                    queue.push_back(Op::read(file, buf, off).user_data(slot as u64));
                }
                tokens.clear();
                let s = ctx.submit_batch(&mut queue, &mut tokens);
                if s.accepted == 0 {
                    return Err(format!("io_submit: {:?}", s.error));
                }
                for op in queue.drain(..) {
                    let slot = op.get_user_data() as usize;
                    bufs[slot] = op.into_bufs().pop();
                    free.push(slot);
                }
            }
        }
        let n = match a.reap {
            Reap::Spin => loop {
                match ctx.reap(0, a.qd, None, &mut done) {
                    Ok(0) => {}
                    other => break other,
                }
            },
            _ => ctx.reap(1, a.qd, None, &mut done),
        }
        .map_err(|e| format!("reap: {e}"))?;
        for c in done.drain(..) {
            check(c.raw_result(), bs)?;
            let slot = c.user_data() as usize;
            bufs[slot] = c.into_buf();
            free.push(slot);
        }
        if !run.round(n) {
            return Ok(());
        }
    }
}

fn fixed(a: &Args, file: &File, run: &mut Run) -> Result<(), String> {
    let mut fixed = FixedContext::<AlignedBuf>::with_options(a.qd as u32, options(a.reap))
        .map_err(|e| format!("io_setup: {e}"))?;
    let mut free: Vec<FixedSlot> = Vec::with_capacity(a.qd);
    for _ in 0..a.qd {
        let buf = AlignedBuf::new(a.bs, 4096).map_err(|e| e.to_string())?;
        let slot = fixed
            .insert(Op::read(file, buf, 0))
            .map_err(|r| r.error.to_string())?;
        free.push(slot);
    }
    let mut done = Vec::with_capacity(a.qd);
    let (bs, blocks) = (run.bs, run.blocks);
    let mut rng = Rng(SEED);
    loop {
        while free.len() >= a.batch {
            for _ in 0..a.batch {
                let slot = free.pop().expect("a free slot");
                let off = (rng.next() % blocks) * bs as u64;
                fixed.push_at(slot, off).map_err(|(_, e)| e.to_string())?;
            }
            let s = fixed.submit();
            if s.accepted == 0 {
                return Err(format!("io_submit: {:?}", s.error));
            }
            // The C loop's "keep the rest free".
            fixed.take_queued(&mut free);
        }
        let n = match a.reap {
            Reap::Spin => loop {
                match fixed.reap(0, a.qd, None, &mut done) {
                    Ok(0) => {}
                    other => break other,
                }
            },
            _ => fixed.reap(1, a.qd, None, &mut done),
        }
        .map_err(|e| format!("reap: {e}"))?;
        for c in done.drain(..) {
            check(c.raw_result(), bs)?;
            free.push(c.into_slot());
        }
        if !run.round(n) {
            return Ok(());
        }
    }
}

/// User and system CPU time of the process, in microseconds.
fn cpu_us() -> (f64, f64) {
    // SAFETY: `rusage` is plain integers; getrusage writes one through the pointer.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let us = |tv: libc::timeval| tv.tv_sec as f64 * 1e6 + tv.tv_usec as f64;
    (us(usage.ru_utime), us(usage.ru_stime))
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut file =
        match rawaio::direct::open_direct(&a.target, std::fs::OpenOptions::new().read(true)) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("open {}: {e}", a.target);
                return ExitCode::from(1);
            }
        };
    let size = file.seek(SeekFrom::End(0)).unwrap_or(0);
    let blocks = size / a.bs as u64;
    if blocks == 0 {
        eprintln!("target too small");
        return ExitCode::from(1);
    }
    let mut run = Run {
        blocks,
        bs: a.bs,
        ios: 0,
        max_ios: if a.ios == 0 { u64::MAX } else { a.ios },
        start: Instant::now(),
        end: a.seconds,
        loops: 0,
        now: 0.0,
    };
    let result = match a.kind.as_str() {
        "owning" => owning(&a, &file, &mut run),
        "fixed" => fixed(&a, &file, &mut run),
        other => Err(format!("unknown path kind {other:?}: owning or fixed")),
    };
    let secs = run.start.elapsed().as_secs_f64();
    if let Err(e) = result {
        eprintln!("{e}");
        return ExitCode::from(1);
    }
    let (usr, sys) = cpu_us();
    println!(
        "ios={} seconds={secs:.3} iops={:.0} usr_us_per_io={:.4} sys_us_per_io={:.4}",
        run.ios,
        run.ios as f64 / secs,
        usr / run.ios as f64,
        sys / run.ios as f64
    );
    ExitCode::SUCCESS
}
