//! The async examples' body, written once against `rawaio::reactor::Reactor` and run by
//! `async_tokio` and `async_io_reactor` on their runtimes (`#[path]`-included: not an
//! example itself).
//!
//! Three things, in a temporary directory that it removes:
//! 1. reads many files concurrently, every request in flight at once;
//! 2. copies a file with direct I/O, a window of blocks in flight, the read buffers going
//!    straight into the writes;
//! 3. waits for a socket to become readable through `IOCB_CMD_POLL`, and gives up on a
//!    second one (dropping its future cancels the request).

use rawaio::direct::{dio_align, open_direct};
use rawaio::reactor::Reactor;
use rawaio::{AlignedBuf, AsyncContext, Op, OpFuture, PollFlags};
use std::error::Error;
use std::fs::{File, OpenOptions};
use std::future::{Future, poll_fn};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// How many files the first demo reads.
const FILES: usize = 64;
/// The copy's source: 8 MiB and a tail that no alignment divides.
const COPY_LEN: usize = (8 << 20) + 3000;
/// The copy's block size and window.
const BLOCK: usize = 256 << 10;
const WINDOW: usize = 8;

/// A directory of its own under the temporary directory, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("rawaio-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic bytes that differ per `seed` and along the buffer.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Awaits every future; the outputs come back in the futures' order.
async fn join_all<F: Future + Unpin>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Option<F>> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (slot, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match Pin::new(f).poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Runs the three demos on the runtime `R` drives.
pub async fn run<R: Reactor>(dir: &Path) -> Result<()> {
    read_many::<R>(dir).await?;
    direct_copy::<R>(dir).await?;
    poll_socket::<R>().await?;
    Ok(())
}

async fn read_many<R: Reactor>(dir: &Path) -> Result<()> {
    let expected: Vec<Vec<u8>> = (0..FILES)
        .map(|i| pattern(i as u64, 4096 + 100 * i))
        .collect();
    let mut files = Vec::new();
    for (i, bytes) in expected.iter().enumerate() {
        let path = dir.join(format!("file-{i}"));
        std::fs::write(&path, bytes)?;
        files.push(File::open(&path)?);
    }
    let ctx = AsyncContext::<R>::new(FILES as u32)?;
    let start = Instant::now();
    let mut futures: Vec<OpFuture<R>> = Vec::new();
    for (file, bytes) in files.iter().zip(&expected) {
        futures.push(ctx.submit(Op::read(file, vec![0u8; bytes.len()], 0))?);
    }
    let mut total = 0;
    for (completion, bytes) in join_all(futures).await.into_iter().zip(&expected) {
        let completion = completion?;
        total += completion.result()?;
        if completion.into_buf().as_ref() != Some(bytes) {
            return Err("a file read back differs".into());
        }
    }
    println!(
        "read {FILES} files ({total} bytes) concurrently in {:?}",
        start.elapsed()
    );
    Ok(())
}

async fn direct_copy<R: Reactor>(dir: &Path) -> Result<()> {
    let (src_path, dst_path) = (dir.join("copy-src"), dir.join("copy-dst"));
    let bytes = pattern(99, COPY_LEN);
    std::fs::write(&src_path, &bytes)?;
    let src = open_direct(&src_path, OpenOptions::new().read(true))?;
    let dst = open_direct(
        &dst_path,
        OpenOptions::new().write(true).create(true).truncate(true),
    )?;
    let (sa, da) = (dio_align(&src)?, dio_align(&dst)?);
    let memory = sa.memory.max(da.memory);
    let block = BLOCK.next_multiple_of(sa.offset.max(da.offset));
    let blocks = COPY_LEN.div_ceil(block);
    // Sized first, so that no direct write extends the file.
    dst.set_len((blocks * block) as u64)?;
    let ctx = AsyncContext::<R, AlignedBuf>::new(WINDOW as u32)?;
    let start = Instant::now();
    for first in (0..blocks).step_by(WINDOW) {
        let range = first..blocks.min(first + WINDOW);
        let mut reads = Vec::new();
        for b in range.clone() {
            let buf = AlignedBuf::new(block, memory)?;
            reads.push(ctx.submit(Op::read(&src, buf, (b * block) as u64))?);
        }
        let mut writes = Vec::new();
        for (read, b) in join_all(reads).await.into_iter().zip(range) {
            let read = read?;
            let n = read.result()? as usize;
            let mut buf = read.into_buf().ok_or("a read has a buffer")?;
            // The tail: zero what lies past the end of the file; truncated below.
            buf[n..].fill(0);
            writes.push(ctx.submit(Op::write(&dst, buf, (b * block) as u64))?);
        }
        for write in join_all(writes).await {
            if write?.result()? as usize != block {
                return Err("a short write".into());
            }
        }
    }
    dst.set_len(COPY_LEN as u64)?;
    let elapsed = start.elapsed();
    if std::fs::read(&dst_path)? != bytes {
        return Err("the copy differs from the source".into());
    }
    println!(
        "copied {COPY_LEN} bytes with O_DIRECT ({blocks} blocks of {block}, {WINDOW} in flight) \
         in {elapsed:?}; the copy matches"
    );
    Ok(())
}

async fn poll_socket<R: Reactor>() -> Result<()> {
    let ctx = AsyncContext::<R>::new(4)?;
    let (a, mut b) = UnixStream::pair()?;
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        b.write_all(b"ping").map(|()| b)
    });
    let done = ctx.submit(Op::poll(&a, PollFlags::IN))?.await?;
    let mask = done.result()?;
    println!(
        "socket readable after {:?} (IOCB_CMD_POLL mask {mask:#x})",
        start.elapsed()
    );
    let _b = writer.join().map_err(|_| "the writer panicked")??;

    // A poll that is given up on: polled once, then dropped, which cancels it.
    let (c, _d) = UnixStream::pair()?;
    let mut never = ctx.submit(Op::poll(&c, PollFlags::IN))?;
    let polled = Pin::new(&mut never).poll(&mut Context::from_waker(Waker::noop()));
    assert!(polled.is_pending());
    drop(never);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ctx.in_flight() > 0 && Instant::now() < deadline {
        ctx.reap_ready()?;
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "a dropped poll future cancelled its request: {} in flight",
        ctx.in_flight()
    );
    Ok(())
}
