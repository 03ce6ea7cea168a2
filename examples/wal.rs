//! A database's write path on `O_DIRECT`: a write-ahead log whose commits are batches of
//! blocks made durable by one flush after the batch, a page store written by checkpoints,
//! and a recovery pass that reads the log back and checks every record.
//!
//! - commit: the transaction's log blocks, one `submit_and_flush` (the writes, then one
//!   `FDSYNC` that covers them: one submitted with them would not);
//! - checkpoint: every dirty page with `write_all_at`, which resubmits short writes;
//! - recovery: `read_exact_at` of each log block, whose header and checksum are checked,
//!   then the page store compared with what the log says.
//!
//! Run: `cargo run --release --example wal [DIR]` (default: the system temporary directory).

use rawaio::direct::{dio_align, open_direct};
use rawaio::{AlignedBuf, Context, Flush, Op};
use std::collections::VecDeque;
use std::error::Error;
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::Instant;

const BLOCK: usize = 4096;
const PAGES: u64 = 64;
const COMMITS: u64 = 50;

/// A log block: `[lsn: u64][page: u64][checksum: u64][page image ...]`.
fn record(lsn: u64, page: u64) -> AlignedBuf {
    let mut block = AlignedBuf::new(BLOCK, BLOCK).expect("layout");
    for (i, byte) in block[24..].iter_mut().enumerate() {
        *byte = (lsn as usize * 31 + i) as u8;
    }
    let sum = checksum(&block[24..]);
    for (field, value) in [lsn, page, sum].into_iter().enumerate() {
        block[field * 8..field * 8 + 8].copy_from_slice(&value.to_le_bytes());
    }
    block
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn field(block: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(block[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
}

fn open(path: &Path) -> Result<File, Box<dyn Error>> {
    open_direct(path, OpenOptions::new().read(true).write(true).create(true)).map_err(|e| {
        format!(
            "{e}: give a directory on a file system that takes O_DIRECT (ext4, XFS, \
             btrfs; tmpfs from Linux 6.6): cargo run --example wal DIR"
        )
        .into()
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, Into::into);
    let log_path = dir.join(format!("rawaio-wal-log-{}", std::process::id()));
    let store_path = dir.join(format!("rawaio-wal-pages-{}", std::process::id()));
    let result = run(&log_path, &store_path);
    let _ = std::fs::remove_file(&log_path);
    let _ = std::fs::remove_file(&store_path);
    result
}

fn run(log_path: &Path, store_path: &Path) -> Result<(), Box<dyn Error>> {
    let (log, store) = (open(log_path)?, open(store_path)?);
    if BLOCK % dio_align(&log)?.offset != 0 {
        return Err("the log's direct-I/O alignment exceeds the block size".into());
    }
    let ctx = Context::<AlignedBuf>::new(64)?;
    let mut done = Vec::new();
    let mut latest = vec![0u64; PAGES as usize]; // page -> the LSN of its last image
    let (mut lsn, start) = (0u64, Instant::now());
    for commit in 0..COMMITS {
        // A transaction touching 1 to 4 pages: one log block each, appended at the tail.
        let mut batch = VecDeque::new();
        for i in 0..1 + commit % 4 {
            lsn += 1;
            let page = (commit * 7 + i * 13) % PAGES;
            latest[page as usize] = lsn;
            batch.push_back(Op::write(&log, record(lsn, page), (lsn - 1) * BLOCK as u64));
        }
        done.clear();
        ctx.submit_and_flush(&mut batch, &log, Flush::Data, &mut done)?;
        for c in &done {
            c.full()?; // every write of the commit, and the flush, in full
        }
    }
    let commit_time = start.elapsed();
    // Checkpoint: each page's latest image into the page store.
    for page in 0..PAGES {
        let image = match latest[page as usize] {
            0 => AlignedBuf::new(BLOCK, BLOCK)?,
            lsn => record(lsn, page),
        };
        ctx.write_all_at(&store, image, page * BLOCK as u64, &mut done)?;
    }
    // Recovery: read the whole log back, check each record, replay into a page table.
    let mut replayed = vec![0u64; PAGES as usize];
    let mut buf = AlignedBuf::new(BLOCK, BLOCK)?;
    for expected in 1..=lsn {
        buf = ctx.read_exact_at(&log, buf, (expected - 1) * BLOCK as u64, &mut done)?;
        let (got, page, sum) = (field(&buf, 0), field(&buf, 1), field(&buf, 2));
        if got != expected || sum != checksum(&buf[24..]) || page >= PAGES {
            return Err(format!("log record {expected} is damaged").into());
        }
        replayed[page as usize] = got;
    }
    for page in 0..PAGES {
        buf = ctx.read_exact_at(&store, buf, page * BLOCK as u64, &mut done)?;
        let stored = if replayed[page as usize] == 0 {
            0
        } else {
            field(&buf, 0)
        };
        if stored != replayed[page as usize] || replayed[page as usize] != latest[page as usize] {
            return Err(format!("page {page}: the store and the log disagree").into());
        }
    }
    println!(
        "wal: {COMMITS} commits, {lsn} log records ({:.1} ms per commit with its flush), \
         {PAGES} pages checkpointed, log and pages verified: OK",
        commit_time.as_secs_f64() * 1e3 / COMMITS as f64
    );
    Ok(())
}
