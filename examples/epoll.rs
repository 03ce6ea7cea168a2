//! Completion notification through an eventfd and epoll: 128 reads are submitted on a
//! context created with [`Options::eventfd`], so that every completion adds 1 to the
//! context's eventfd; an epoll loop waits for the eventfd, drains its counter, takes the
//! completions that are ready (`reap_ready`: never waiting for the counter's number, which
//! could hang if another reaper took some first), and runs each request's callback, which
//! checks the block it read.
//!
//! Run: `cargo run --release --example epoll [DIR]` (default: the system temporary
//! directory). Exits with status 1 when a check fails, 2 on an I/O error.

use rawaio::direct::open_direct;
use rawaio::{AlignedBuf, Completion, Context, Errno, Op, Options};
use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};
use std::collections::VecDeque;
use std::error::Error;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const BLOCKS: usize = 128;
const BLOCK: usize = 4096;
/// The longest epoll wait before giving up.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What each request runs when it completes.
type Callback = Box<dyn FnOnce(&Completion<AlignedBuf>) -> Result<(), String>>;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("epoll: error: {e}");
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

/// The 8-byte word `word` of block `block`: different in every block and every word.
fn word(block: usize, word: usize) -> [u8; 8] {
    ((block as u64) << 32 | word as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .to_le_bytes()
}

fn block_contents(block: usize) -> Vec<u8> {
    (0..BLOCK / 8).flat_map(|w| word(block, w)).collect()
}

fn run() -> Result<bool, Box<dyn Error>> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let temp = TempPath(dir.join(format!("rawaio-epoll-{}", std::process::id())));
    let contents: Vec<u8> = (0..BLOCKS).flat_map(block_contents).collect();
    std::fs::write(&temp.0, &contents)?;
    // Flushed now, so that the O_DIRECT reads go to the device instead of first waiting,
    // inside io_submit, for the page cache to be written back.
    File::open(&temp.0)?.sync_all()?;
    // Direct I/O makes the reads truly asynchronous; buffered reads (where O_DIRECT is
    // refused) mostly complete inside io_submit, and are signalled all the same.
    let (file, direct) = match open_direct(&temp.0, OpenOptions::new().read(true)) {
        Ok(file) => (file, true),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => (File::open(&temp.0)?, false),
        Err(e) => return Err(e.into()),
    };

    let ctx = Context::<AlignedBuf>::with_options(
        BLOCKS as u32,
        Options {
            eventfd: true,
            ..Options::default()
        },
    )?;
    let efd = ctx.eventfd().expect("created with Options::eventfd");
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(
        &ep,
        efd,
        epoll::EventData::new_u64(0),
        epoll::EventFlags::IN,
    )?;

    // One callback per request, found by the request's user data.
    let mut callbacks: Vec<Option<Callback>> = (0..BLOCKS)
        .map(|block| {
            let callback: Callback = Box::new(move |done| {
                let got = done.buf().ok_or("a read owns its buffer")?;
                match done.result() {
                    Ok(n) if n == BLOCK as u64 && got[..] == block_contents(block)[..] => Ok(()),
                    Ok(n) if n == BLOCK as u64 => Err(format!("block {block}: wrong contents")),
                    Ok(n) => Err(format!("block {block}: read {n} of {BLOCK} bytes")),
                    Err(e) => Err(format!("block {block}: {e}")),
                }
            });
            Some(callback)
        })
        .collect();

    let mut queue: VecDeque<_> = (0..BLOCKS)
        .map(|block| {
            let buf = AlignedBuf::new(BLOCK, BLOCK).expect("a valid layout");
            Op::read(&file, buf, (block * BLOCK) as u64).user_data(block as u64)
        })
        .collect();
    let mut tokens = Vec::new();

    let timeout = Timespec {
        tv_sec: TIMEOUT.as_secs() as _,
        tv_nsec: 0,
    };
    let mut events = Vec::with_capacity(4);
    let mut done = Vec::new();
    let (mut signalled, mut ran, mut failed) = (0, 0, 0);
    // How many completions each wakeup found.
    let mut wakeups = Vec::new();
    while ran < BLOCKS {
        if !queue.is_empty() {
            let submitted = ctx.submit_batch(&mut queue, &mut tokens);
            match submitted.error {
                // The context is full: the rest go in as completions make room.
                Some(e) if e.errno() == Some(Errno::AGAIN) && ctx.in_flight() > 0 => {}
                Some(e) => return Err(format!("io_submit: {e}").into()),
                None => {}
            }
        }
        events.clear();
        epoll::wait(&ep, spare_capacity(&mut events), Some(&timeout))?;
        if events.is_empty() {
            return Err(format!("no completion signalled within {TIMEOUT:?}").into());
        }
        // Readiness: drain the counter, then take what is ready. Never wait for the
        // counter's number: another reaper (here, none; in a real program, another thread
        // or a `submit_all` making room) may have taken some, and it can exceed the ring.
        let n = efd.read()? as usize;
        wakeups.push(n);
        signalled += n;
        done.clear();
        ctx.reap_ready(&mut done)?;
        for completion in &done {
            let index = completion.user_data() as usize;
            let callback = callbacks
                .get_mut(index)
                .and_then(Option::take)
                .ok_or_else(|| format!("no callback (left) for request {index}"))?;
            ran += 1;
            if let Err(e) = callback(completion) {
                failed += 1;
                eprintln!("epoll: {e}");
            }
        }
    }

    // The kernel posts an event to the ring before it bumps the eventfd: the last reap
    // may have taken a completion whose bump has not landed yet. Wait for the rest of the
    // count (each bump comes right after its event), for at most the timeout.
    while signalled < BLOCKS {
        events.clear();
        epoll::wait(&ep, spare_capacity(&mut events), Some(&timeout))?;
        if events.is_empty() {
            break;
        }
        signalled += efd.read()? as usize;
    }

    let ok = failed == 0 && ran == BLOCKS && signalled == BLOCKS;
    println!(
        "epoll: {BLOCKS} reads of {BLOCK} bytes ({}) from {}",
        if direct { "O_DIRECT" } else { "buffered" },
        temp.0.display()
    );
    println!(
        "epoll: {ran} callbacks ran, {failed} failed; {} epoll wakeups (completions per wakeup: {wakeups:?}), the eventfd counted {signalled}: {}",
        wakeups.len(),
        if ok { "OK" } else { "MISMATCH" }
    );
    Ok(ok)
}
