//! A thread-per-core reader: one thread per CPU, each with its own `AsyncContext` of the
//! `Driven` reactor (no eventfd) and its own executor, `AsyncContext::block_on`, which
//! parks in the context when its task has nothing to do. Each thread reads its share of a
//! temporary file with up to 32 reads in flight, as futures, and checks every block.
//!
//! Run: `cargo run --release --example thread_per_core [MiB] [DIR]` (defaults: 64 MiB, the
//! system temporary directory). Exits with status 1 when a check fails, 2 on an error.

use rawaio::direct::open_direct;
use rawaio::reactor::Driven;
use rawaio::{AlignedBuf, AsyncContext, Op, OpFuture};
use std::error::Error;
use std::fs::File;
use std::future::{Future, poll_fn};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::Poll;
use std::time::Instant;

const BLOCK: usize = 4096;
const DEPTH: usize = 32;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("thread_per_core: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The first bytes of block `i`: its index, so that a block read from the wrong place
/// shows.
fn stamp(i: u64) -> [u8; 8] {
    i.to_le_bytes()
}

/// Removes the file when dropped.
struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run() -> Result<bool, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map_or(Ok(64), |a| a.parse())?;
    let dir = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let blocks = mib * 1024 * 1024 / BLOCK as u64;
    let path = Temp(dir.join(format!("rawaio-thread-per-core-{}", std::process::id())));
    {
        let mut f = File::create(&path.0)?;
        let mut block = vec![0u8; BLOCK];
        for i in 0..blocks {
            block[..8].copy_from_slice(&stamp(i));
            f.write_all(&block)?;
        }
        f.sync_all()?;
    }
    let direct = open_direct(&path.0, File::options().read(true)).is_ok();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    println!(
        "{blocks} blocks of {BLOCK} bytes, {threads} threads, {}",
        if direct {
            "O_DIRECT"
        } else {
            "through the page cache (O_DIRECT refused)"
        }
    );
    let start = Instant::now();
    let results: Vec<_> = (0..threads)
        .map(|t| {
            let path = path.0.clone();
            std::thread::spawn(move || -> Result<(u64, u64), String> {
                let file = if direct {
                    open_direct(&path, File::options().read(true)).map_err(|e| e.to_string())?
                } else {
                    File::open(&path).map_err(|e| e.to_string())?
                };
                let ctx = AsyncContext::<Driven, AlignedBuf>::new(DEPTH as u32)
                    .map_err(|e| format!("io_setup: {e}"))?;
                // Blocks t, t + threads, t + 2 threads, ...
                let mine = (t..blocks).step_by(threads as usize);
                ctx.block_on(read_all(&ctx, &file, mine))
                    .map_err(|e| format!("block_on: {e}"))?
            })
        })
        .collect();
    let (mut read, mut bad) = (0, 0);
    for r in results {
        let (n, wrong) = r.join().map_err(|_| "a reader panicked")??;
        read += n;
        bad += wrong;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "read {read} blocks in {:.3} s ({:.0} IOPS); {bad} wrong",
        secs,
        read as f64 / secs
    );
    // The file as the kernel has it, one block, through an ordinary read.
    let mut check = [0u8; 8];
    File::open(&path.0)?.read_exact_at(&mut check, BLOCK as u64)?;
    Ok(bad == 0 && read == blocks && check == stamp(1))
}

/// Reads `blocks` with up to [`DEPTH`] reads in flight; returns how many were read and
/// how many held the wrong stamp.
async fn read_all(
    ctx: &AsyncContext<Driven, AlignedBuf>,
    file: &File,
    mut blocks: impl Iterator<Item = u64>,
) -> Result<(u64, u64), String> {
    let mut in_flight: Vec<(u64, OpFuture<Driven, AlignedBuf>)> = Vec::with_capacity(DEPTH);
    let (mut read, mut wrong) = (0, 0);
    loop {
        while in_flight.len() < DEPTH {
            let Some(i) = blocks.next() else { break };
            let buf = AlignedBuf::new(BLOCK, BLOCK).map_err(|e| e.to_string())?;
            let future = ctx
                .submit(Op::read(file, buf, i * BLOCK as u64))
                .map_err(|r| format!("submit: {}", r.error))?;
            in_flight.push((i, future));
        }
        if in_flight.is_empty() {
            return Ok((read, wrong));
        }
        // The first of them to complete.
        let (at, i, c) = poll_fn(|cx| {
            for (at, (i, f)) in in_flight.iter_mut().enumerate() {
                if let Poll::Ready(c) = Pin::new(f).poll(cx) {
                    return Poll::Ready((at, *i, c));
                }
            }
            Poll::Pending
        })
        .await;
        // Resolved: dropping it frees nothing the kernel still uses.
        drop(in_flight.swap_remove(at));
        let c = c.map_err(|e| format!("read: {e}"))?;
        if c.result() != Ok(BLOCK as u64) {
            return Err(format!("block {i}: {:?}", c.result()));
        }
        let buf = c.into_buf().ok_or("no buffer")?;
        read += 1;
        if buf[..8] != stamp(i) {
            wrong += 1;
        }
    }
}
