//! What is being qualified: a scratch file in a directory (created, filled, unlinked at
//! once so that nothing is left behind whatever happens), or a block device (read-only
//! unless `--write`).

use crate::aio;
use rawaio_tools::size::fmt_bytes;
use rawaio_tools::target_kind::{Kind, fs_of, kind_of};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The subject, opened twice: with `O_DIRECT` (when the file system allows it) and
/// through the page cache.
pub struct Subject {
    pub path: PathBuf,
    pub kind: Kind,
    /// The file system (`ext4`, `tmpfs`, ...), or `block device`.
    pub fs: String,
    pub direct: Option<File>,
    pub buffered: File,
    /// Bytes that reads may touch.
    pub size: u64,
    /// Whether writes are allowed: always for a scratch file, with `--write` for a device.
    pub writable: bool,
    /// The scratch file's name while it was linked (for messages), or `None`.
    pub scratch: Option<PathBuf>,
}

/// Opens `path`: a directory gets a scratch file of `size` bytes, a block device is
/// opened read-only unless `write`.
pub fn open(path: &Path, size: u64, write: bool) -> Result<Subject, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    match kind_of(&meta) {
        Some(Kind::Directory) => scratch_file(path, size),
        Some(Kind::BlockDevice) => block_device(path, write),
        Some(Kind::File) => Err(format!(
            "{shown} is a file: give the directory it is in (aio-qualify works on a scratch file of its own there) or a block device"
        )),
        None => Err(format!("{shown} is neither a directory nor a block device")),
    }
}

fn scratch_file(dir: &Path, size: u64) -> Result<Subject, String> {
    let name = format!(".aio-qualify-{}-{:x}", std::process::id(), nanos());
    let path = dir.join(name);
    let shown = path.display();
    let buffered = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("creating a scratch file in {}: {e}", dir.display()))?;
    let mut rw = OpenOptions::new();
    rw.read(true).write(true);
    let direct = aio::open_direct(&path, &rw);
    // Unlinked now: the file lives only as long as these descriptors, so it is gone when
    // the process ends, however it ends.
    let removed = std::fs::remove_file(&path);
    let direct = direct.map_err(|e| format!("opening {shown} with O_DIRECT: {e}"))?;
    removed.map_err(|e| format!("removing {shown}: {e}"))?;
    let fs = fs_of(&buffered).map_err(|e| format!("statfs {shown}: {e}"))?;
    fill(&buffered, size)
        .map_err(|e| format!("filling the scratch file to {}: {e}", fmt_bytes(size)))?;
    Ok(Subject {
        path: dir.to_path_buf(),
        kind: Kind::Directory,
        fs,
        direct,
        buffered,
        size,
        writable: true,
        scratch: Some(path),
    })
}

/// Writes `size` bytes of non-zero data and flushes them, so that reads find allocated,
/// clean blocks on the device (not holes, which a file system answers without I/O).
fn fill(file: &File, size: u64) -> io::Result<()> {
    let mut chunk = vec![0u8; 1 << 20];
    let mut offset = 0;
    while offset < size {
        let n = chunk.len().min((size - offset) as usize);
        for (i, b) in chunk[..n].iter_mut().enumerate() {
            *b = (offset as usize + i).wrapping_mul(31) as u8 | 1;
        }
        file.write_all_at(&chunk[..n], offset)?;
        offset += n as u64;
    }
    file.sync_all()?;
    // Out of the page cache too: every measurement starts cold, as on a fresh open.
    rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed)?;
    Ok(())
}

fn block_device(path: &Path, write: bool) -> Result<Subject, String> {
    let shown = path.display();
    let mut options = OpenOptions::new();
    options.read(true).write(write);
    // With --write, the first opening claims the device (O_EXCL): the kernel refuses it
    // while the device is mounted or claimed by another program, whose writes could
    // otherwise race with the ones that put data back.
    let mut exclusive = options.clone();
    if write {
        exclusive.custom_flags(libc::O_EXCL);
    }
    let mut buffered = exclusive.open(path).map_err(|e| {
        if write && e.raw_os_error() == Some(libc::EBUSY) {
            return format!(
                "{shown} is in use (mounted, or claimed by another program): --write needs it to itself"
            );
        }
        let mode = if write {
            "read-write (--write)"
        } else {
            "read-only"
        };
        format!("opening {shown} {mode}: {e}")
    })?;
    let size = buffered
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("finding the size of {shown}: {e}"))?;
    let direct = aio::open_direct(path, &options)
        .map_err(|e| format!("opening {shown} with O_DIRECT: {e}"))?;
    Ok(Subject {
        path: path.to_path_buf(),
        kind: Kind::BlockDevice,
        fs: "block device".into(),
        direct,
        buffered,
        size,
        writable: write,
        scratch: None,
    })
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}
