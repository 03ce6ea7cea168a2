//! Writes N 4 KiB blocks, each filled with its own index (a little-endian `u64`,
//! repeated), through direct-I/O AIO to a temporary file, reads them all back with up to
//! 100 requests in flight (a new request is submitted as each one completes), sums the
//! indices read and checks the sum against N(N-1)/2.
//!
//! Run: `cargo run --release --example sum [N] [DIR]` (defaults: 4096 blocks, the system
//! temporary directory). Exits with status 1 when a check fails, 2 on an I/O error.
//!
//! Files on a filesystem that refuses `O_DIRECT` are written and read through the page
//! cache instead (said on the first line of output).

use rawaio::direct::{DioAlign, dio_align, open_direct};
use rawaio::{AlignedBuf, Completion, Context, Errno, Op};
use std::collections::VecDeque;
use std::error::Error;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The block size asked for; rounded up to the file's direct-I/O alignment if larger.
const BLOCK: usize = 4096;
/// Requests in flight at most.
const DEPTH: usize = 100;
/// The longest wait for any one completion before giving up.
const TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sum: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Removes the file when dropped, so that an error or a panic leaves nothing behind.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run() -> Result<bool, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let blocks: u64 = match args.next() {
        Some(n) => n.parse().map_err(|e| format!("N = {n:?}: {e}"))?,
        None => 4096,
    };
    let dir = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let temp = TempPath(dir.join(format!("rawaio-sum-{}", std::process::id())));
    let (file, align) = open(&temp.0)?;
    let direct = align.is_some();
    // Direct I/O needs block-aligned buffers, lengths and offsets: a 4 KiB block suits
    // every common device, but a file may ask for more.
    let align = align.unwrap_or(DioAlign {
        memory: 8,
        offset: 1,
    });
    let block = align.round_up(BLOCK).ok_or("the block size overflows")?;
    let mem_align = align.memory.max(8);
    println!(
        "sum: {blocks} blocks of {block} bytes in {} ({})",
        temp.0.display(),
        if direct {
            format!(
                "O_DIRECT, alignment {} in memory, {} in the file",
                align.memory, align.offset
            )
        } else {
            "buffered: the filesystem refuses O_DIRECT".to_owned()
        }
    );

    let ctx = Context::<AlignedBuf>::new(DEPTH as u32)?;
    let pool = (0..DEPTH)
        .map(|_| AlignedBuf::new(block, mem_align))
        .collect::<Result<Vec<_>, _>>()?;

    let start = Instant::now();
    let pool = pipeline(
        &ctx,
        blocks,
        pool,
        |index, mut buf| {
            for word in buf.chunks_exact_mut(8) {
                word.copy_from_slice(&index.to_le_bytes());
            }
            Op::write(&file, buf, index * block as u64)
        },
        |_| Ok(()),
    )?;
    let wrote = start.elapsed();

    let start = Instant::now();
    let mut sum: u128 = 0;
    let mut bad_blocks = 0u64;
    pipeline(
        &ctx,
        blocks,
        pool,
        |index, buf| Op::read(&file, buf, index * block as u64),
        |done| {
            let buf = done.buf().expect("a read owns its buffer");
            let first = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
            sum += u128::from(first);
            let whole = buf
                .chunks_exact(8)
                .all(|w| w == first.to_le_bytes().as_slice());
            if first != done.user_data() || !whole {
                bad_blocks += 1;
                if bad_blocks <= 5 {
                    eprintln!(
                        "sum: block {} holds {first}{}",
                        done.user_data(),
                        if whole { "" } else { " (not repeated)" }
                    );
                }
            }
            Ok(())
        },
    )?;
    let read = start.elapsed();
    drop(ctx);
    drop(file);

    let expected = u128::from(blocks) * u128::from(blocks.saturating_sub(1)) / 2;
    let ok = sum == expected && bad_blocks == 0;
    let mib = (blocks * block as u64) as f64 / (1 << 20) as f64;
    println!(
        "sum: wrote {mib:.1} MiB in {wrote:.2?}, read it back in {read:.2?} with up to {DEPTH} in flight"
    );
    println!(
        "sum: sum of indices = {sum}, expected N(N-1)/2 = {expected}, blocks with wrong contents: {bad_blocks}: {}",
        if ok { "OK" } else { "MISMATCH" }
    );
    Ok(ok)
}

/// Creates the file, with `O_DIRECT` when the filesystem accepts it; returns its
/// direct-I/O alignment, or `None` for a buffered file.
fn open(path: &Path) -> io::Result<(File, Option<DioAlign>)> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    match open_direct(path, &mut options) {
        Ok(file) => {
            let align = dio_align(&file)?;
            Ok((file, Some(align)))
        }
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            eprintln!("sum: {e}; falling back to buffered I/O");
            // The refused open may have created the file (tmpfs before Linux 6.6 does):
            // it is ours, as `create_new` found nothing there.
            let _ = std::fs::remove_file(path);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)?;
            Ok((file, None))
        }
        Err(e) => Err(e),
    }
}

/// Runs requests `0..count` with at most `pool.len()` in flight: `make(index, buffer)`
/// builds request `index` around a free buffer, `check` looks at each completion (which
/// has already been checked for a full transfer), and the buffer goes back to the pool for
/// the next request. Returns the pool.
fn pipeline<'f>(
    ctx: &Context<AlignedBuf>,
    count: u64,
    mut pool: Vec<AlignedBuf>,
    mut make: impl FnMut(u64, AlignedBuf) -> Op<'f, AlignedBuf>,
    mut check: impl FnMut(&Completion<AlignedBuf>) -> io::Result<()>,
) -> Result<Vec<AlignedBuf>, Box<dyn Error>> {
    let depth = pool.len();
    let mut next = 0;
    let mut in_flight = 0;
    let mut queue = VecDeque::new();
    let mut tokens = Vec::new();
    let mut done = Vec::new();
    while next < count || in_flight > 0 || !queue.is_empty() {
        while next < count {
            let Some(buf) = pool.pop() else { break };
            queue.push_back(make(next, buf).user_data(next));
            next += 1;
        }
        tokens.clear();
        let submitted = ctx.submit_batch(&mut queue, &mut tokens);
        in_flight += submitted.accepted;
        match submitted.error {
            // Full: what is queued goes in once completions free some room.
            Some(e) if e.errno() == Some(Errno::AGAIN) && in_flight > 0 => {}
            Some(e) => {
                let index = queue.front().map_or(next, Op::get_user_data);
                return Err(format!("submitting block {index}: {e}").into());
            }
            None => {}
        }
        if in_flight == 0 {
            continue;
        }
        done.clear();
        if ctx.reap(1, depth, Some(TIMEOUT), &mut done)? == 0 {
            return Err(format!("no completion within {TIMEOUT:?}").into());
        }
        for completion in done.drain(..) {
            in_flight -= 1;
            let index = completion.user_data();
            match completion.result() {
                Ok(n) if n == completion.requested_len() => {}
                Ok(n) => {
                    return Err(format!(
                        "block {index}: {n} of {} bytes transferred",
                        completion.requested_len()
                    )
                    .into());
                }
                Err(e) => return Err(format!("block {index}: {e}").into()),
            }
            check(&completion)?;
            pool.push(
                completion
                    .into_buf()
                    .expect("reads and writes own a buffer"),
            );
        }
    }
    Ok(pool)
}
