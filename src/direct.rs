//! Direct I/O (`O_DIRECT`): opening files for it, asking the kernel how buffers and
//! offsets must be aligned, and checking requests against that alignment.
//!
//! Native AIO is only truly asynchronous for files opened with `O_DIRECT`: buffered
//! requests may make `io_submit` block. Direct I/O bypasses the page cache, and in
//! exchange the kernel requires that
//!
//! - every buffer address is a multiple of [`DioAlign::memory`],
//! - every file offset and every segment length is a multiple of [`DioAlign::offset`].
//!
//! A misaligned request may be accepted by `io_submit` and fail only in its completion,
//! with `res = -EINVAL`; [`DioAlign::check`] finds the mistake before submission.
//!
//! # Examples
//!
//! ```
//! use rawaio::direct::{dio_align, open_direct};
//! use std::fs::OpenOptions;
//!
//! let path = std::env::temp_dir().join(format!("rawaio-direct-doc-{}", std::process::id()));
//! match open_direct(&path, OpenOptions::new().read(true).write(true).create(true)) {
//!     Ok(file) => {
//!         let align = dio_align(&file)?;
//!         assert!(align.memory.is_power_of_two() && align.offset.is_power_of_two());
//!         // A 4 KiB request at offset 0 from a page-aligned buffer fits any such alignment
//!         // up to a page.
//!         if align.offset <= 4096 && align.memory <= 4096 {
//!             assert!(align.check(4096 * 3, 4096, 0).is_ok());
//!         }
//!     }
//!     // The filesystem holding the temporary directory refused O_DIRECT.
//!     Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {}
//!     Err(e) => return Err(e),
//! }
//! std::fs::remove_file(&path)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # References
//!
//! - [open(2)](https://man7.org/linux/man-pages/man2/open.2.html), section "O_DIRECT"
//! - [statx(2)](https://man7.org/linux/man-pages/man2/statx.2.html), `STATX_DIOALIGN`

use rustix::fs::{AtFlags, FileType, OFlags, StatxFlags};
use rustix::io::Errno;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The alignment used when the kernel does not report one: 4096 bytes for both memory
/// and offsets. It is a constant rather than the page size because rustix's `param`
/// feature (which provides `page_size`) is not enabled.
const FALLBACK_ALIGN: usize = 4096;

/// The alignment direct I/O (`O_DIRECT`) needs on one file, as found by [`dio_align`].
///
/// Both values are in bytes and, when they come from the kernel, powers of two.
/// `memory` may be smaller than `offset`: a device that can DMA to any 4-byte boundary
/// reports `memory = 4` even though it transfers whole 512- or 4096-byte blocks.
///
/// # Examples
///
/// ```
/// use rawaio::direct::DioAlign;
///
/// let align = DioAlign { memory: 512, offset: 4096 };
/// assert!(align.check(0x1000, 8192, 4096).is_ok());
/// assert_eq!(align.round_up(5000), Some(8192));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(alias = "STATX_DIOALIGN")]
pub struct DioAlign {
    /// Required alignment of buffer addresses in memory (`stx_dio_mem_align`): the
    /// start of every buffer, and of every `iovec` segment for vectored requests.
    pub memory: usize,
    /// Required alignment of file offsets and of the length of every buffer or
    /// segment (`stx_dio_offset_align`).
    pub offset: usize,
}

/// Which part of a direct-I/O request breaks the alignment, in a [`Misaligned`] error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MisalignedPart {
    /// The buffer's address in memory, checked against [`DioAlign::memory`].
    Address,
    /// The buffer's (or segment's) length, checked against [`DioAlign::offset`].
    Length,
    /// The file offset, checked against [`DioAlign::offset`].
    Offset,
}

impl MisalignedPart {
    fn describe(self) -> &'static str {
        match self {
            Self::Address => "buffer address",
            Self::Length => "length",
            Self::Offset => "file offset",
        }
    }
}

/// The error [`DioAlign::check`] returns: one part of a direct-I/O request is not a
/// multiple of the alignment the file needs.
///
/// # Examples
///
/// ```
/// use rawaio::direct::{DioAlign, MisalignedPart};
///
/// let align = DioAlign { memory: 512, offset: 4096 };
/// let err = align.check(0x1000, 4096, 100).unwrap_err();
/// assert_eq!(err.part(), MisalignedPart::Offset);
/// assert_eq!(err.value(), 100);
/// assert_eq!(err.required(), 4096);
/// assert_eq!(err.to_string(), "direct I/O file offset 100 is not a multiple of 4096");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misaligned {
    part: MisalignedPart,
    value: u64,
    required: usize,
}

impl Misaligned {
    /// Which part of the request is misaligned.
    #[inline]
    pub const fn part(&self) -> MisalignedPart {
        self.part
    }

    /// The misaligned value: the address, the length or the offset.
    #[inline]
    pub const fn value(&self) -> u64 {
        self.value
    }

    /// The alignment that value must be a multiple of.
    #[inline]
    pub const fn required(&self) -> usize {
        self.required
    }
}

impl fmt::Display for Misaligned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.part {
            MisalignedPart::Address => write!(
                f,
                "direct I/O {} {:#x} is not a multiple of {}",
                self.part.describe(),
                self.value,
                self.required
            ),
            _ => write!(
                f,
                "direct I/O {} {} is not a multiple of {}",
                self.part.describe(),
                self.value,
                self.required
            ),
        }
    }
}

impl std::error::Error for Misaligned {}

impl From<Misaligned> for io::Error {
    /// Converts into an error of kind [`InvalidInput`](io::ErrorKind::InvalidInput),
    /// the kind the kernel's `EINVAL` for a misaligned request maps to.
    fn from(err: Misaligned) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, err)
    }
}

impl DioAlign {
    /// Checks one direct-I/O request: its buffer address `addr` against
    /// [`memory`](Self::memory), its length `len` and file offset `offset` against
    /// [`offset`](Self::offset). For a vectored request, check every segment (each with
    /// its own address and length) and the request's offset.
    ///
    /// An alignment of 0 is treated as 1 (no constraint). A zero `len` is aligned.
    ///
    /// # Errors
    ///
    /// [`Misaligned`] naming the first misaligned part, in the order address, length,
    /// offset.
    ///
    /// # Examples
    ///
    /// ```
    /// use rawaio::direct::{DioAlign, MisalignedPart};
    ///
    /// let align = DioAlign { memory: 512, offset: 512 };
    /// let buf = vec![0u8; 1024];
    /// match align.check(buf.as_ptr() as usize, buf.len(), 0) {
    ///     // A Vec<u8> is only guaranteed byte alignment.
    ///     Err(e) => assert_eq!(e.part(), MisalignedPart::Address),
    ///     Ok(()) => assert_eq!(buf.as_ptr() as usize % 512, 0),
    /// }
    /// assert_eq!(align.check(0x200, 100, 0).unwrap_err().part(), MisalignedPart::Length);
    /// ```
    pub fn check(&self, addr: usize, len: usize, offset: u64) -> Result<(), Misaligned> {
        let memory = self.memory.max(1);
        let file = self.offset.max(1);
        if addr % memory != 0 {
            return Err(Misaligned {
                part: MisalignedPart::Address,
                value: addr as u64,
                required: memory,
            });
        }
        if len % file != 0 {
            return Err(Misaligned {
                part: MisalignedPart::Length,
                value: len as u64,
                required: file,
            });
        }
        // `usize` is at most 64 bits on every Linux target, so this cannot truncate.
        if offset % file as u64 != 0 {
            return Err(Misaligned {
                part: MisalignedPart::Offset,
                value: offset,
                required: file,
            });
        }
        Ok(())
    }

    /// Rounds `len` up to the next multiple of [`offset`](Self::offset), the length
    /// granularity of direct I/O. An alignment of 0 is treated as 1.
    ///
    /// `None` if the rounded length does not fit in `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rawaio::direct::DioAlign;
    ///
    /// let align = DioAlign { memory: 512, offset: 4096 };
    /// assert_eq!(align.round_up(0), Some(0));
    /// assert_eq!(align.round_up(1), Some(4096));
    /// assert_eq!(align.round_up(4096), Some(4096));
    /// assert_eq!(align.round_up(4097), Some(8192));
    /// assert_eq!(align.round_up(usize::MAX), None);
    /// ```
    pub fn round_up(&self, len: usize) -> Option<usize> {
        len.checked_next_multiple_of(self.offset.max(1))
    }
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("direct I/O (O_DIRECT) is not supported on {what}"),
    )
}

/// What `statx` (or `stat`, where `statx` is missing) says about a file.
struct Probe {
    file_type: FileType,
    /// `(stx_dio_mem_align, stx_dio_offset_align)` when `stx_mask` has `STATX_DIOALIGN`.
    dio: Option<(u32, u32)>,
}

impl Probe {
    fn from_statx(stx: &rustix::fs::Statx) -> Self {
        let dio = StatxFlags::from_bits_retain(stx.stx_mask)
            .contains(StatxFlags::DIOALIGN)
            .then_some((stx.stx_dio_mem_align, stx.stx_dio_offset_align));
        Self {
            file_type: FileType::from_raw_mode(rustix::fs::RawMode::from(stx.stx_mode)),
            dio,
        }
    }

    fn from_stat(st: &rustix::fs::Stat) -> Self {
        // The type of `st_mode` differs between targets.
        let mode = st.st_mode as rustix::fs::RawMode;
        Self {
            file_type: FileType::from_raw_mode(mode),
            dio: None,
        }
    }

    /// Turns the probe into an alignment; `logical_block_size` runs the `BLKSSZGET`
    /// ioctl, only for a block device whose alignment `statx` did not report (or
    /// reported as 0).
    fn resolve(self, logical_block_size: impl FnOnce() -> io::Result<u32>) -> io::Result<DioAlign> {
        match (self.dio, self.file_type) {
            (Some((memory, offset)), _) if memory != 0 && offset != 0 => Ok(DioAlign {
                memory: memory as usize,
                offset: offset as usize,
            }),
            // Not reported, or reported as 0: no kernel does that for a block device
            // (which always does direct I/O), but emulators such as qemu-user 7.2 pass
            // STATX_DIOALIGN in the mask without the values.
            (_, FileType::BlockDevice) => {
                let size = logical_block_size()? as usize;
                if size == 0 {
                    return Err(unsupported(
                        "this block device (BLKSSZGET reported a logical block size of 0)",
                    ));
                }
                Ok(DioAlign {
                    memory: size,
                    offset: size,
                })
            }
            (Some(_), _) => Err(unsupported(
                "this file (statx reported a direct I/O alignment of 0)",
            )),
            (None, FileType::RegularFile) => Ok(DioAlign {
                memory: FALLBACK_ALIGN,
                offset: FALLBACK_ALIGN,
            }),
            (None, other) => Err(unsupported(&format!(
                "a {} (only regular files and block devices do direct I/O)",
                describe_type(other)
            ))),
        }
    }
}

fn describe_type(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Directory => "directory",
        FileType::CharacterDevice => "character device",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::Symlink => "symbolic link",
        _ => "file of unknown type",
    }
}

const PROBE_MASK: StatxFlags = StatxFlags::TYPE.union(StatxFlags::DIOALIGN);

/// Finds the alignment direct I/O needs on the open file `fd`, whether or not `fd`
/// was itself opened with `O_DIRECT`.
///
/// The answer comes from, in order:
///
/// 1. `statx` with `STATX_DIOALIGN` (Linux 6.1+ for regular files on filesystems that
///    report it, 6.11+ for block devices): `stx_dio_mem_align` and
///    `stx_dio_offset_align`.
/// 2. For a block device whose kernel does not report it (or reports 0, which only
///    emulators such as qemu-user do): the logical block size (`BLKSSZGET`) for both
///    values.
/// 3. For a regular file whose kernel or filesystem does not report it: a conservative
///    guess of 4096 bytes for both values (a constant, not the page size). It is right
///    for every device whose logical block size is at most 4096 bytes, which covers
///    nearly all of them (kernels able to use larger blocks report `STATX_DIOALIGN`),
///    but it cannot tell whether the filesystem accepts `O_DIRECT` at all: opening with
///    [`open_direct`] does. tmpfs is such a filesystem: it accepts `O_DIRECT` (Linux
///    6.6+) without reporting `STATX_DIOALIGN` (as of 6.18), and enforces no alignment.
///
/// On kernels without `statx` (before 4.11) `fstat` gives the file type and the same
/// fallbacks apply.
///
/// # Errors
///
/// - [`Unsupported`](io::ErrorKind::Unsupported) when the kernel reports an alignment
///   of 0 (the file cannot do direct I/O), or when `fd` is neither a regular file nor a
///   block device.
/// - The `statx` error (`EBADF` for a closed descriptor, for instance), or the `ioctl`
///   error for a block device (`EBADF` for an `O_PATH` descriptor).
///
/// # Examples
///
/// ```
/// let file = std::fs::File::open("Cargo.toml")?;
/// match rawaio::direct::dio_align(&file) {
///     Ok(align) => assert!(align.memory > 0 && align.offset > 0),
///     Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # References
///
/// - [statx(2)](https://man7.org/linux/man-pages/man2/statx.2.html), `STATX_DIOALIGN`
/// - [ioctl(2)](https://man7.org/linux/man-pages/man2/ioctl.2.html), `BLKSSZGET` in
///   `linux/fs.h`
#[doc(alias = "statx")]
#[doc(alias = "STATX_DIOALIGN")]
#[doc(alias = "BLKSSZGET")]
pub fn dio_align(fd: impl AsFd) -> io::Result<DioAlign> {
    let fd = fd.as_fd();
    let probe = match rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, PROBE_MASK) {
        Ok(stx) => Probe::from_statx(&stx),
        Err(Errno::NOSYS) => Probe::from_stat(&rustix::fs::fstat(fd)?),
        Err(e) => return Err(e.into()),
    };
    probe.resolve(|| Ok(rustix::fs::ioctl_blksszget(fd)?))
}

/// Finds the alignment direct I/O needs on the file at `path` (symbolic links are
/// followed), as [`dio_align`] does for an open file.
///
/// The file is not opened, except a block device whose alignment `statx` does not
/// report: it is opened read-only for the `BLKSSZGET` ioctl.
///
/// # Errors
///
/// As [`dio_align`]; also [`InvalidInput`](io::ErrorKind::InvalidInput) when `path`
/// contains a NUL byte, the `statx` error for a missing file (`ENOENT`), and the
/// `open` error (`EACCES`, say) for a block device that must be opened.
///
/// # Examples
///
/// ```
/// match rawaio::direct::dio_align_path("Cargo.toml") {
///     Ok(align) => println!("{} bytes in memory, {} in the file", align.memory, align.offset),
///     Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported),
/// }
/// assert!(rawaio::direct::dio_align_path("no/such/file").is_err());
/// ```
///
/// # References
///
/// - [statx(2)](https://man7.org/linux/man-pages/man2/statx.2.html), `STATX_DIOALIGN`
pub fn dio_align_path(path: impl AsRef<Path>) -> io::Result<DioAlign> {
    let path = path.as_ref();
    let probe = match rustix::fs::statx(rustix::fs::CWD, path, AtFlags::empty(), PROBE_MASK) {
        Ok(stx) => Probe::from_statx(&stx),
        Err(Errno::NOSYS) => Probe::from_stat(&rustix::fs::stat(path)?),
        Err(e) => return Err(e.into()),
    };
    probe.resolve(|| {
        let device = File::open(path)?;
        Ok(rustix::fs::ioctl_blksszget(&device)?)
    })
}

/// The error [`open_direct`] returns when `open` refuses `O_DIRECT` with `EINVAL`.
#[derive(Debug)]
struct DirectRefused {
    path: PathBuf,
    source: io::Error,
}

impl fmt::Display for DirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot open {} with O_DIRECT: open returned EINVAL, the filesystem does not \
             support direct I/O on this file",
            self.path.display()
        )
    }
}

impl std::error::Error for DirectRefused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Opens the file at `path` with `options` plus `O_DIRECT`, for direct I/O that
/// bypasses the page cache.
///
/// `O_DIRECT` is set with
/// [`OpenOptionsExt::custom_flags`], which **replaces** any custom flags set before
/// on `options`, and `options` keeps `O_DIRECT` afterwards. To combine it with other
/// custom flags, set them all at once (`custom_flags(O_DIRECT | O_NOATIME)`) and call
/// [`OpenOptions::open`] instead.
///
/// Buffers, lengths and offsets of the file's requests must then follow its
/// [`dio_align`].
///
/// # Errors
///
/// - [`InvalidInput`](io::ErrorKind::InvalidInput), with a message naming `O_DIRECT`
///   and `path`, when `open` fails with `EINVAL`: the filesystem (procfs, older tmpfs,
///   some FUSE filesystems) refuses `O_DIRECT`. The original `EINVAL` is the error's
///   [`source`](std::error::Error::source).
/// - Any other error of [`OpenOptions::open`], unchanged (`ENOENT`, `EACCES`, ...).
///
/// # Examples
///
/// ```
/// use rawaio::direct::{is_direct, open_direct};
/// use std::fs::OpenOptions;
///
/// // procfs refuses O_DIRECT.
/// let err = open_direct("/proc/self/status", OpenOptions::new().read(true)).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// assert!(err.to_string().contains("O_DIRECT"));
///
/// let path = std::env::temp_dir().join(format!("rawaio-open-direct-doc-{}", std::process::id()));
/// match open_direct(&path, OpenOptions::new().write(true).create(true)) {
///     Ok(file) => assert!(is_direct(&file)?),
///     Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput),
/// }
/// let _ = std::fs::remove_file(&path);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # References
///
/// - [open(2)](https://man7.org/linux/man-pages/man2/open.2.html), sections "O_DIRECT"
///   and "EINVAL"
#[doc(alias = "O_DIRECT")]
pub fn open_direct(path: impl AsRef<Path>, options: &mut OpenOptions) -> io::Result<File> {
    let path = path.as_ref();
    // `OFlags` bits are a `u32` whose O_DIRECT bit fits an `i32` on every target.
    options.custom_flags(OFlags::DIRECT.bits() as i32);
    options.open(path).map_err(|err| {
        if err.raw_os_error() == Some(Errno::INVAL.raw_os_error()) {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                DirectRefused {
                    path: path.to_path_buf(),
                    source: err,
                },
            )
        } else {
            err
        }
    })
}

/// Tells whether the open file `fd` has `O_DIRECT` set in its status flags.
///
/// # Errors
///
/// The `fcntl(F_GETFL)` error: `EBADF` for a closed descriptor.
///
/// # Examples
///
/// ```
/// let file = std::fs::File::open("Cargo.toml")?;
/// assert!(!rawaio::direct::is_direct(&file)?);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # References
///
/// - [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html), `F_GETFL`
pub fn is_direct(fd: impl AsFd) -> io::Result<bool> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    Ok(flags.contains(OFlags::DIRECT))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: DioAlign = DioAlign {
        memory: 512,
        offset: 4096,
    };

    #[test]
    fn check_accepts_aligned_requests() {
        assert_eq!(A.check(0, 0, 0), Ok(()));
        assert_eq!(A.check(512, 4096, 4096), Ok(()));
        assert_eq!(A.check(0x7fff_f000, 8192, 1 << 40), Ok(()));
    }

    #[test]
    fn check_reports_address_then_length_then_offset() {
        let e = A.check(513, 100, 1).unwrap_err();
        assert_eq!(
            (e.part(), e.value(), e.required()),
            (MisalignedPart::Address, 513, 512)
        );
        let e = A.check(1024, 100, 1).unwrap_err();
        assert_eq!(
            (e.part(), e.value(), e.required()),
            (MisalignedPart::Length, 100, 4096)
        );
        let e = A.check(1024, 4096, 1).unwrap_err();
        assert_eq!(
            (e.part(), e.value(), e.required()),
            (MisalignedPart::Offset, 1, 4096)
        );
        // The length is held to the offset alignment, not the memory one.
        assert_eq!(
            A.check(0, 512, 0).unwrap_err().part(),
            MisalignedPart::Length
        );
        // Offsets beyond 4 GiB keep their low bits.
        assert_eq!(
            A.check(0, 0, (1 << 32) + 512).unwrap_err().part(),
            MisalignedPart::Offset
        );
    }

    #[test]
    fn misaligned_messages_name_the_part_and_the_alignment() {
        assert_eq!(
            A.check(0x1001, 0, 0).unwrap_err().to_string(),
            "direct I/O buffer address 0x1001 is not a multiple of 512"
        );
        assert_eq!(
            A.check(0, 10, 0).unwrap_err().to_string(),
            "direct I/O length 10 is not a multiple of 4096"
        );
        let io: io::Error = A.check(0, 0, 7).unwrap_err().into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidInput);
        assert!(io.to_string().contains("file offset 7"));
    }

    #[test]
    fn zero_alignment_means_no_constraint() {
        let none = DioAlign {
            memory: 0,
            offset: 0,
        };
        assert_eq!(none.check(3, 5, 7), Ok(()));
        assert_eq!(none.round_up(5), Some(5));
    }

    #[test]
    fn round_up_to_the_offset_alignment() {
        assert_eq!(A.round_up(0), Some(0));
        assert_eq!(A.round_up(1), Some(4096));
        assert_eq!(A.round_up(4095), Some(4096));
        assert_eq!(A.round_up(4096), Some(4096));
        assert_eq!(A.round_up(4097), Some(8192));
        let odd = DioAlign {
            memory: 1,
            offset: 3,
        };
        assert_eq!(odd.round_up(4), Some(6));
        assert_eq!(A.round_up(usize::MAX - 4095), Some(usize::MAX - 4095));
    }

    #[test]
    fn round_up_reports_overflow() {
        assert_eq!(A.round_up(usize::MAX - 4094), None);
    }

    fn probe(file_type: FileType, dio: Option<(u32, u32)>) -> Probe {
        Probe { file_type, dio }
    }

    fn no_ioctl() -> io::Result<u32> {
        panic!("BLKSSZGET must not be needed here")
    }

    #[test]
    fn resolve_prefers_statx() {
        let got = probe(FileType::RegularFile, Some((4, 512))).resolve(no_ioctl);
        assert_eq!(
            got.unwrap(),
            DioAlign {
                memory: 4,
                offset: 512
            }
        );
        let got = probe(FileType::BlockDevice, Some((512, 4096))).resolve(no_ioctl);
        assert_eq!(
            got.unwrap(),
            DioAlign {
                memory: 512,
                offset: 4096
            }
        );
    }

    #[test]
    fn resolve_zero_alignment_is_unsupported() {
        for dio in [(0, 0), (0, 512), (512, 0)] {
            let err = probe(FileType::RegularFile, Some(dio))
                .resolve(no_ioctl)
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
            assert!(err.to_string().contains("O_DIRECT"), "{err}");
        }
    }

    #[test]
    fn resolve_block_device_without_statx_uses_blksszget() {
        let got = probe(FileType::BlockDevice, None).resolve(|| Ok(4096));
        assert_eq!(
            got.unwrap(),
            DioAlign {
                memory: 4096,
                offset: 4096
            }
        );
        let err = probe(FileType::BlockDevice, None)
            .resolve(|| Err(Errno::BADF.into()))
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::BADF.raw_os_error()));
        let err = probe(FileType::BlockDevice, None)
            .resolve(|| Ok(0))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }

    #[test]
    fn resolve_block_device_reported_as_zero_uses_blksszget() {
        let got = probe(FileType::BlockDevice, Some((0, 0))).resolve(|| Ok(512));
        assert_eq!(
            got.unwrap(),
            DioAlign {
                memory: 512,
                offset: 512
            }
        );
    }

    #[test]
    fn resolve_regular_file_without_statx_guesses_4096() {
        let got = probe(FileType::RegularFile, None).resolve(no_ioctl);
        assert_eq!(
            got.unwrap(),
            DioAlign {
                memory: 4096,
                offset: 4096
            }
        );
    }

    #[test]
    fn resolve_other_file_types_are_unsupported() {
        for t in [
            FileType::Directory,
            FileType::Fifo,
            FileType::CharacterDevice,
            FileType::Socket,
        ] {
            let err = probe(t, None).resolve(no_ioctl).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
            assert!(err.to_string().contains(describe_type(t)), "{err}");
        }
    }
}
