//! A storage engine's page reader on tokio: one task reads a temporary file through fixed
//! requests (a slot per read in flight, each keeping its buffer), awaiting the completions
//! with `AsyncFixedContext` through `Relay<Tokio>`, while a second task on the same
//! current-thread runtime ticks every millisecond. Every page is checked; the ticks show
//! that the reader never blocked the thread while it waited for the disk.
//!
//! Run: `cargo run --release --features tokio --example fixed_tokio [MiB] [DIR]` (defaults:
//! 32 MiB, the system temporary directory). Exits with status 1 when a check fails, 2 on
//! an error.

use rawaio::direct::open_direct;
use rawaio::reactor::{Relay, Tokio};
use rawaio::{AlignedBuf, AsyncFixedContext, Op};
use std::error::Error;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PAGE: usize = 4096;
const DEPTH: usize = 32;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("fixed_tokio: error: {e}");
            ExitCode::from(2)
        }
    }
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
    let mib: u64 = args.next().map_or(Ok(32), |a| a.parse())?;
    let dir = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let pages = mib * 1024 * 1024 / PAGE as u64;
    let path = Temp(dir.join(format!("rawaio-fixed-tokio-{}", std::process::id())));
    {
        // Each page starts with its own number, so that a page read from the wrong place
        // shows.
        let mut f = File::create(&path.0)?;
        let mut page = vec![0u8; PAGE];
        for i in 0..pages {
            page[..8].copy_from_slice(&i.to_le_bytes());
            f.write_all(&page)?;
        }
        f.sync_all()?;
    }
    let (file, how) = match open_direct(&path.0, File::options().read(true)) {
        Ok(f) => (f, "O_DIRECT"),
        Err(_) => (File::open(&path.0)?, "buffered (no O_DIRECT here)"),
    };
    println!("{pages} pages of {PAGE} bytes, {DEPTH} in flight, {how}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ticks = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let (bad, waits) = rt.block_on(async {
        let ticker = tokio::spawn({
            let (ticks, done) = (Arc::clone(&ticks), Arc::clone(&done));
            async move {
                while !done.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let result = read_all(&file, pages).await;
        done.store(true, Ordering::Relaxed);
        ticker.await?;
        result
    })?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "read {pages} pages in {secs:.3} s ({:.0} pages/s), {bad} wrong; the reader awaited \
         the disk {waits} times, and the ticker ticked {} times meanwhile",
        pages as f64 / secs,
        ticks.load(Ordering::Relaxed)
    );
    Ok(bad == 0)
}

/// Reads every page once, `DEPTH` at a time in random order; returns the pages that
/// came back wrong and how many reaps had to wait.
async fn read_all(file: &File, pages: u64) -> Result<(u64, u64), Box<dyn Error>> {
    let mut ctx = AsyncFixedContext::<Relay<Tokio>, AlignedBuf>::new(DEPTH as u32)?;
    let mut idle = Vec::with_capacity(DEPTH);
    for _ in 0..DEPTH.min(pages as usize) {
        let buf = AlignedBuf::new(PAGE, PAGE)?;
        idle.push(ctx.fixed_mut().insert(Op::read(file, buf, 0))?);
    }
    // Every page once, in an order that jumps around the file (a multiplicative step
    // coprime with the page count).
    let step = (1..pages).rev().find(|s| gcd(*s, pages) == 1).unwrap_or(1);
    let mut next = (0..pages).map(|i| i * step % pages);
    let (mut bad, mut waits, mut in_flight) = (0, 0, 0);
    let mut done = Vec::with_capacity(DEPTH);
    loop {
        while let Some(slot) = idle.pop() {
            match next.next() {
                Some(page) => {
                    let offset = page * PAGE as u64;
                    ctx.fixed_mut().push_at(slot, offset).map_err(|(_, e)| e)?;
                    in_flight += 1;
                }
                None => {
                    idle.push(slot);
                    break;
                }
            }
        }
        if in_flight == 0 {
            return Ok((bad, waits));
        }
        let s = ctx.fixed_mut().submit();
        if let Some(e) = s.error {
            return Err(e.into());
        }
        if ctx.fixed().ready() == 0 {
            waits += 1;
        }
        in_flight -= ctx.reap(&mut done).await?;
        for c in done.drain(..) {
            let read = c.result()?;
            let slot = c.into_slot();
            let page = ctx.fixed().offset(&slot).unwrap_or(0) / PAGE as u64;
            let buf = &ctx.fixed().bufs(&slot).ok_or("a slot without buffers")?[0];
            if read != PAGE as u64 || buf[..8] != page.to_le_bytes() {
                bad += 1;
            }
            idle.push(slot);
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}
