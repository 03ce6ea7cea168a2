//! The target: a file (created and filled when missing, removed at the end when it is
//! the default temporary file) or a block device.

use crate::aio;
use crate::cli::{Config, DEFAULT_SIZE};
use crate::pattern::fill_pattern;
use rawaio_tools::size::fmt_bytes;
use rawaio_tools::target_kind::{Kind, kind_of};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The pattern seed of a created file's initial contents.
const FILL_SEED: u64 = 0x6a09_e667_f3bc_c908;

/// Removes the file when dropped, so that an error or a panic leaves nothing behind.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub struct Target {
    pub path: PathBuf,
    /// Opened for the runs: `O_DIRECT` unless buffered, writable if any run writes.
    pub file: File,
    /// Usable bytes: whole blocks only.
    pub size: u64,
    pub direct: bool,
    /// Buffer alignment in memory.
    pub mem_align: usize,
    pub description: String,
    _temp: Option<TempPath>,
}

impl Target {
    pub fn blocks(&self, bs: usize) -> u64 {
        self.size / bs as u64
    }
}

pub fn prepare(cfg: &Config) -> Result<Target, String> {
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
        Ok(meta) => match kind_of(&meta) {
            Some(Kind::BlockDevice) => {
                if writes && !cfg.force {
                    let rws: Vec<_> = cfg.rws.iter().map(|rw| rw.name()).collect();
                    return Err(format!(
                        "{shown} is a block device and --rw {} writes to it, destroying its data: \
                         add --force to allow that",
                        rws.join(",")
                    ));
                }
                let mut dev = File::open(&path).map_err(|e| format!("opening {shown}: {e}"))?;
                let size = dev
                    .seek(SeekFrom::End(0))
                    .map_err(|e| format!("finding the size of {shown}: {e}"))?;
                (size, "block device".to_owned())
            }
            Some(Kind::File) => match cfg.size {
                Some(want) if want > meta.len() => {
                    let took = create_or_extend(&path, meta.len(), want, false)?;
                    (
                        want,
                        format!("file, extended to {} in {took:.2?}", fmt_bytes(want)),
                    )
                }
                _ => (meta.len(), "file".to_owned()),
            },
            _ => {
                return Err(format!(
                    "{shown} is neither a regular file nor a block device"
                ));
            }
        },
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
fn create_or_extend(path: &Path, from: u64, to: u64, create: bool) -> Result<Duration, String> {
    let start = Instant::now();
    let shown = path.display();
    let file = OpenOptions::new()
        .write(true)
        .create_new(create)
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
fn open_for_io(cfg: &Config, path: &Path, writes: bool) -> Result<(File, bool, usize), String> {
    let shown = path.display();
    let mut options = OpenOptions::new();
    options.read(true).write(writes);
    if !cfg.buffered {
        match aio::open_direct(path, &options) {
            Ok(direct) => {
                // A 4 KiB (page) alignment in memory suits every device; a file may ask
                // for more, and lengths and offsets must follow its own rule.
                let offset = direct.offset.max(1);
                if cfg.bs % offset != 0 {
                    return Err(format!(
                        "--bs {} is not a multiple of {offset}, the direct-I/O alignment of {shown}",
                        cfg.bs
                    ));
                }
                let mem_align = direct.memory.max(4096).next_power_of_two();
                return Ok((direct.file, true, mem_align));
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
