//! A direct-I/O file copy through AIO, with reads and writes pipelined.
//!
//! Run: `cargo run --release --example copy -- SRC DST [--qd N] [--bs SIZE]`
//! (defaults: 32 requests in flight, 1 MiB blocks; SIZE takes a `K`, `M` or `G` suffix).
//! With no `SRC DST` it creates a temporary source of 64 MiB (plus an odd tail) of
//! pseudo-random data, copies it, verifies, and removes both files.
//!
//! Each of the `qd` buffers cycles on its own: read a block of SRC into it, write that
//! same buffer to DST at the same offset, then read the next unclaimed block into it. The
//! context owns each buffer while its request is in flight and hands it back with the
//! completion, so there is no copying, and no allocation after start-up but for the
//! shorter tail block.
//!
//! **The tail.** `O_DIRECT` lengths must be multiples of the alignment, and a file's size
//! need not be. The last block is read with a rounded-up length (the read stops at the
//! end of the file and says how many bytes it read), the bytes past the end are zeroed,
//! the rounded-up block is written, and at the end DST is truncated (`ftruncate`) to
//! SRC's size. DST is sized to the rounded-up length before the copy, so that no write
//! extends the file (ext4 takes the inode lock exclusively for an extending direct write).
//!
//! It copies as many bytes as `stat` reports for SRC (so not procfs files, which report
//! 0). Files on a filesystem that refuses `O_DIRECT` are read or written through the page
//! cache instead (said in the output). At the end DST is flushed with an AIO `FSYNC`,
//! included in the time, and compared with SRC chunk by chunk. Exits with status 1 when
//! they differ, 2 on an error.

#[path = "support/size.rs"]
mod size;
use size::parse_size;

use rawaio::direct::{DioAlign, dio_align, open_direct};
use rawaio::{AlignedBuf, Context, Errno, Op};
use std::collections::VecDeque;
use std::error::Error;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The size of the generated source: 64 MiB plus a tail that no alignment divides.
const TEMP_SOURCE_LEN: u64 = (64 << 20) + 12_345;
/// The longest wait for any one completion before giving up.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The largest queue depth accepted.
const MAX_QD: usize = 4096;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("copy: error: {e}");
            ExitCode::from(2)
        }
    }
}

struct Args {
    paths: Vec<PathBuf>,
    qd: usize,
    bs: usize,
}

const USAGE: &str = "usage: copy [SRC DST] [--qd N] [--bs SIZE]";

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        paths: Vec::new(),
        qd: 32,
        bs: 1 << 20,
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<String, Box<dyn Error>> {
            let v = it.next().ok_or(format!("{name} needs a value; {USAGE}"))?;
            v.into_string()
                .map_err(|v| format!("{name} {v:?} is not UTF-8").into())
        };
        match arg.to_str() {
            Some("--qd") => {
                let v = value("--qd")?;
                args.qd = v.parse().map_err(|e| format!("--qd {v}: {e}"))?;
                if !(1..=MAX_QD).contains(&args.qd) {
                    return Err(format!("--qd must be 1 to {MAX_QD}").into());
                }
            }
            Some("--bs") => {
                let v = value("--bs")?;
                args.bs = parse_size(&v)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or(format!("--bs {v}: not a size like 4096, 64K, 1M"))?;
                if args.bs == 0 {
                    return Err("--bs must not be 0".into());
                }
            }
            Some("-h" | "--help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Some(s) if s.starts_with("--") => {
                return Err(format!("unknown option {s}; {USAGE}").into());
            }
            _ => args.paths.push(arg.into()),
        }
    }
    if !matches!(args.paths.len(), 0 | 2) {
        return Err(USAGE.into());
    }
    Ok(args)
}

/// Removes the file when dropped, so that an error or a panic leaves nothing behind.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `len` bytes of xorshift64* output to a new file at `path`, flushed to disk (so
/// that the timed copy does not wait for its writeback).
fn make_source(path: &Path, len: u64) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            word.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

/// Opens with `O_DIRECT` when the filesystem accepts it; returns the file and its
/// direct-I/O alignment (`None`: buffered).
fn open(path: &Path, options: &OpenOptions) -> io::Result<(File, Option<DioAlign>)> {
    match open_direct(path, &mut options.clone()) {
        Ok(file) => {
            let align = dio_align(&file)?;
            Ok((file, Some(align)))
        }
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            eprintln!("copy: {e}; using buffered I/O for it");
            Ok((options.open(path)?, None))
        }
        Err(e) => Err(e),
    }
}

fn describe(align: Option<DioAlign>) -> String {
    match align {
        Some(a) => format!("O_DIRECT (alignment {}/{})", a.memory, a.offset),
        None => "buffered".to_owned(),
    }
}

fn run() -> Result<bool, Box<dyn Error>> {
    let args = parse_args()?;
    let mut temps = Vec::new();
    let (src_path, dst_path) = if args.paths.is_empty() {
        let dir = std::env::temp_dir();
        let pid = std::process::id();
        let src = TempPath(dir.join(format!("rawaio-copy-src-{pid}")));
        let dst = TempPath(dir.join(format!("rawaio-copy-dst-{pid}")));
        let start = Instant::now();
        make_source(&src.0, TEMP_SOURCE_LEN)?;
        println!(
            "copy: made a {TEMP_SOURCE_LEN}-byte pseudo-random source in {:.2?}",
            start.elapsed()
        );
        let paths = (src.0.clone(), dst.0.clone());
        temps.push(src);
        temps.push(dst);
        paths
    } else {
        (args.paths[0].clone(), args.paths[1].clone())
    };

    let (src, src_align) = open(&src_path, OpenOptions::new().read(true))
        .map_err(|e| format!("opening {}: {e}", src_path.display()))?;
    let meta = src.metadata()?;
    // Truncating DST would destroy SRC if they were the same file.
    if let Ok(d) = std::fs::metadata(&dst_path) {
        if (d.dev(), d.ino()) == (meta.dev(), meta.ino()) {
            return Err("SRC and DST are the same file".into());
        }
    }
    let len = meta.len();
    let (dst, dst_align) = open(
        &dst_path,
        OpenOptions::new().write(true).create(true).truncate(true),
    )
    .map_err(|e| format!("opening {}: {e}", dst_path.display()))?;
    // Both files' constraints at once: every alignment is a power of two, so the larger
    // is a multiple of the smaller.
    let align = [src_align, dst_align].into_iter().flatten().fold(
        DioAlign {
            memory: 8,
            offset: 1,
        },
        |a, b| DioAlign {
            memory: a.memory.max(b.memory),
            offset: a.offset.max(b.offset),
        },
    );
    let bs = align
        .round_up(args.bs)
        .ok_or("--bs rounded up to the alignment is too large")?;
    println!(
        "copy: {} -> {}: {len} bytes, qd {}, bs {bs}, source {}, destination {}",
        src_path.display(),
        dst_path.display(),
        args.qd,
        describe(src_align),
        describe(dst_align),
    );

    let start = Instant::now();
    let padded = align
        .round_up(usize::try_from(len)?)
        .ok_or("the source is too large")? as u64;
    dst.set_len(padded)?;
    let mut ctx = Context::<AlignedBuf>::new(args.qd as u32)?;
    copy(&mut ctx, &src, &dst, len, bs, args.qd, align)?;
    // Trim the rounded-up tail, then flush data and size.
    dst.set_len(len)?;
    let token = ctx.submit(Op::fsync(&dst)).map_err(|r| r.error)?;
    let mut done = Vec::new();
    ctx.wait_all(&[token], Some(TIMEOUT), &mut done)?;
    match done.iter().find(|c| c.token() == token) {
        Some(c) => c.result().map_err(|e| format!("fsync: {e}"))?,
        None => return Err("fsync did not complete".into()),
    };
    let elapsed = start.elapsed();
    drop(ctx);
    drop((src, dst));
    let mb_s = len as f64 / 1e6 / elapsed.as_secs_f64();
    println!(
        "copy: copied in {elapsed:.2?} (fsync included): {mb_s:.0} MB/s; tail: {}",
        if padded == len {
            "none, the size is aligned".to_owned()
        } else {
            format!("last block written rounded up to {padded} bytes, then DST truncated to {len}")
        }
    );

    let start = Instant::now();
    let verdict = compare(&src_path, &dst_path)?;
    let ok = verdict.is_none();
    println!(
        "copy: verify ({:.2?}): {}",
        start.elapsed(),
        match verdict {
            None => "DST equals SRC: OK".to_owned(),
            Some(what) => format!("MISMATCH: {what}"),
        }
    );
    drop(temps);
    Ok(ok)
}

/// What a buffer is doing.
#[derive(Clone, Copy)]
enum Stage {
    /// Reading `len` bytes of SRC at `offset`.
    Read { offset: u64, len: usize },
    /// Writing the whole buffer to DST at `offset`.
    Write { offset: u64 },
}

/// The state of a copy: the next block to claim, what each buffer is doing, and the
/// requests waiting to be submitted.
struct Copier<'a> {
    src: &'a File,
    dst: &'a File,
    len: u64,
    bs: usize,
    align: DioAlign,
    /// The first byte of SRC no buffer has claimed yet.
    next: u64,
    /// Each slot's stage; a request's `user_data` is its slot.
    stages: Vec<Stage>,
    queue: VecDeque<Op<'a, AlignedBuf>>,
}

impl Copier<'_> {
    /// Claims the next block of SRC for `slot` and queues its read, into `buf` unless
    /// that is the wrong size (the tail block is shorter).
    fn read_next(&mut self, slot: usize, buf: Option<AlignedBuf>) -> Result<(), Box<dyn Error>> {
        let want = (self.len - self.next).min(self.bs as u64) as usize;
        let read_len = self.align.round_up(want).ok_or("block too large")?;
        let buf = match buf {
            Some(buf) if buf.len() == read_len => buf,
            _ => AlignedBuf::new(read_len, self.align.memory.max(8))?,
        };
        let stage = Stage::Read {
            offset: self.next,
            len: want,
        };
        if slot == self.stages.len() {
            self.stages.push(stage);
        } else {
            self.stages[slot] = stage;
        }
        self.queue
            .push_back(Op::read(self.src, buf, self.next).user_data(slot as u64));
        self.next += want as u64;
        Ok(())
    }

    /// Handles one completion: a finished read becomes a write of the same buffer, a
    /// finished write frees the buffer for the next read.
    fn complete(
        &mut self,
        slot: usize,
        result: Result<u64, Errno>,
        mut buf: AlignedBuf,
    ) -> Result<(), Box<dyn Error>> {
        match self.stages[slot] {
            Stage::Read { offset, len: want } => {
                let n = result.map_err(|e| format!("read at {offset}: {e}"))?;
                if n != want as u64 {
                    return Err(format!(
                        "read at {offset}: {n} bytes instead of {want} (did SRC change?)"
                    )
                    .into());
                }
                // Past the end of SRC: zeros, not what the buffer held before.
                buf[want..].fill(0);
                self.stages[slot] = Stage::Write { offset };
                self.queue
                    .push_back(Op::write(self.dst, buf, offset).user_data(slot as u64));
            }
            Stage::Write { offset } => {
                let n = result.map_err(|e| format!("write at {offset}: {e}"))?;
                if n != buf.len() as u64 {
                    return Err(format!("write at {offset}: {n} of {} bytes", buf.len()).into());
                }
                if self.next < self.len {
                    self.read_next(slot, Some(buf))?;
                }
            }
        }
        Ok(())
    }
}

/// Copies `len` bytes with at most `qd` blocks of `bs` bytes in flight. This thread is
/// the context's only user, so it submits and reaps through `Context::exclusive`: no
/// locks.
fn copy(
    ctx: &mut Context<AlignedBuf>,
    src: &File,
    dst: &File,
    len: u64,
    bs: usize,
    qd: usize,
    align: DioAlign,
) -> Result<(), Box<dyn Error>> {
    let mut copier = Copier {
        src,
        dst,
        len,
        bs,
        align,
        next: 0,
        stages: Vec::with_capacity(qd),
        queue: VecDeque::new(),
    };
    for slot in 0..qd {
        if copier.next >= len {
            break;
        }
        copier.read_next(slot, None)?;
    }
    let mut ctx = ctx.exclusive();
    let mut tokens = Vec::new();
    let mut done = Vec::new();
    let mut in_flight = 0;
    while in_flight > 0 || !copier.queue.is_empty() {
        tokens.clear();
        let submitted = ctx.submit_batch(&mut copier.queue, &mut tokens);
        in_flight += submitted.accepted;
        match submitted.error {
            // Full: the rest go in once completions free some room.
            Some(e) if e.errno() == Some(Errno::AGAIN) && in_flight > 0 => {}
            Some(e) => return Err(format!("io_submit: {e}").into()),
            None => {}
        }
        done.clear();
        if ctx.reap(1, qd, Some(TIMEOUT), &mut done)? == 0 {
            return Err(format!("no completion within {TIMEOUT:?}").into());
        }
        in_flight -= done.len();
        for completion in done.drain(..) {
            let slot = completion.user_data() as usize;
            let result = completion.result();
            let buf = completion
                .into_buf()
                .expect("reads and writes own a buffer");
            copier.complete(slot, result, buf)?;
        }
    }
    Ok(())
}

/// Compares two files chunk by chunk; `None` when they are equal, else where they differ.
fn compare(a: &Path, b: &Path) -> io::Result<Option<String>> {
    let (mut a, mut b) = (File::open(a)?, File::open(b)?);
    let (len_a, len_b) = (a.metadata()?.len(), b.metadata()?.len());
    if len_a != len_b {
        return Ok(Some(format!("SRC has {len_a} bytes, DST {len_b}")));
    }
    let mut buf_a = vec![0u8; 1 << 20];
    let mut buf_b = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut a, &mut buf_a)?;
        let m = read_full(&mut b, &mut buf_b)?;
        if n != m {
            return Ok(Some(format!("the files end differently after {offset}")));
        }
        if n == 0 {
            return Ok(None);
        }
        if buf_a[..n] != buf_b[..n] {
            let at = buf_a[..n]
                .iter()
                .zip(&buf_b[..n])
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            return Ok(Some(format!(
                "first difference at byte {}",
                offset + at as u64
            )));
        }
        offset += n as u64;
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
