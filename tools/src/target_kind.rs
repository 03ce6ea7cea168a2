//! What a path names: the file system under it, or a block device.

use std::fmt;
use std::io;
use std::os::fd::AsFd;

/// A file system's name from its `statfs` magic number (`f_type`), as `mount` shows it:
/// `ext4`, `xfs`, `btrfs`, `tmpfs`, ...; `0x...` for one not in this table.
///
/// ext2, ext3 and ext4 share one magic number and are all called `ext4` (the kernel's
/// ext4 driver serves all three).
///
/// # Examples
///
/// ```
/// use rawaio_tools::target_kind::fs_name;
/// assert_eq!(fs_name(0xEF53), "ext4");
/// assert_eq!(fs_name(0x0102_1994), "tmpfs");
/// assert_eq!(fs_name(0x1234), "0x1234");
/// ```
pub fn fs_name(magic: u64) -> String {
    let name = match magic {
        0xEF53 => "ext4",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x2FC1_2FC1 => "zfs",
        0xF2F5_2010 => "f2fs",
        0x6969 => "nfs",
        0x6573_5546 => "fuse",
        0x794C_7630 => "overlay",
        0x5346_544E => "ntfs",
        0x4D44 => "vfat",
        0x2011_BAB0 => "exfat",
        0x9FA0 => "proc",
        0x6265_6572 => "sysfs",
        0x1373 => "devtmpfs",
        0xFF53_4D42 => "cifs",
        0x0BAD_1DEA => "bcachefs",
        0xCA45_1A4E => "bcachefs",
        0x7366_7362 => "erofs",
        0x7371_7368 => "squashfs",
        0x858458F6 => "ramfs",
        _ => return format!("{magic:#x}"),
    };
    name.to_owned()
}

/// The name of the file system that holds the open file `fd` (see [`fs_name`]).
///
/// # Errors
///
/// The `fstatfs` error.
pub fn fs_of(fd: impl AsFd) -> io::Result<String> {
    let st = rustix::fs::fstatfs(fd)?;
    // f_type is signed on some targets; the magic numbers are 32-bit patterns.
    Ok(fs_name(u64::from(st.f_type as u32)))
}

/// The running kernel's release (`uname -r`), e.g. `6.18.44`.
pub fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// Whether a path is a regular file, a directory or a block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A block device.
    BlockDevice,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::File => "file",
            Self::Directory => "directory",
            Self::BlockDevice => "block device",
        })
    }
}

/// The [`Kind`] of `meta`; `None` for anything else (a character device, a FIFO, ...).
pub fn kind_of(meta: &std::fs::Metadata) -> Option<Kind> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        Some(Kind::File)
    } else if t.is_dir() {
        Some(Kind::Directory)
    } else if t.is_block_device() {
        Some(Kind::BlockDevice)
    } else {
        None
    }
}
