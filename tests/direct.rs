//! `rawaio::direct` against the real kernel: the alignment `statx` reports on tmpfs and
//! ext4, `O_DIRECT` opens (accepted and refused), and direct I/O with the reported
//! alignment. Block devices are tested only through `/dev/zram0`, when it exists.

use rawaio::direct::{DioAlign, MisalignedPart, dio_align, dio_align_path, is_direct, open_direct};
use rustix::fs::{AtFlags, StatxFlags};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// `TMPFS_MAGIC` from `linux/magic.h`.
const TMPFS_MAGIC: u64 = 0x0102_1994;
/// `EXT4_SUPER_MAGIC` from `linux/magic.h`.
const EXT4_SUPER_MAGIC: u64 = 0xEF53;

/// A file created empty under a directory, removed on drop.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn new(dir: &Path) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = dir.join(format!(
            "rawaio-direct-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        File::create(&path).expect("create the temporary file");
        Self { path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn fs_magic(fd: impl AsFd) -> u64 {
    // `f_type` is `i64` on most 64-bit targets and narrower elsewhere.
    rustix::fs::fstatfs(fd).expect("fstatfs").f_type as u64
}

/// The directory for tmpfs files, if `/dev/shm` is a tmpfs that takes `O_DIRECT`.
fn tmpfs_dir() -> Option<&'static Path> {
    let dir = Path::new("/dev/shm");
    match File::open(dir) {
        Ok(d) if fs_magic(&d) == TMPFS_MAGIC => {}
        _ => {
            eprintln!("skipped: /dev/shm is missing or not a tmpfs");
            return None;
        }
    }
    let probe = TempFile::new(dir);
    if open_direct(&probe.path, &mut read_write()).is_err() {
        eprintln!("skipped: tmpfs refuses O_DIRECT on this kernel (it takes it from Linux 6.6)");
        return None;
    }
    Some(dir)
}

/// The directory for ext4 files, if the target directory is on ext4.
fn ext4_dir() -> Option<&'static Path> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let magic = fs_magic(File::open(dir).expect("open CARGO_TARGET_TMPDIR"));
    if magic == EXT4_SUPER_MAGIC {
        Some(dir)
    } else {
        eprintln!("skipped: CARGO_TARGET_TMPDIR is not on ext4 (magic {magic:#x})");
        None
    }
}

/// Prints what `statx` itself says, for the record.
fn print_statx(label: &str, fd: impl AsFd) {
    let mask = StatxFlags::TYPE | StatxFlags::DIOALIGN;
    let stx = rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, mask).expect("statx");
    eprintln!(
        "{label}: stx_mask has DIOALIGN: {}, stx_dio_mem_align {}, stx_dio_offset_align {}, \
         stx_dio_read_offset_align {}, stx_blksize {}",
        StatxFlags::from_bits_retain(stx.stx_mask).contains(StatxFlags::DIOALIGN),
        stx.stx_dio_mem_align,
        stx.stx_dio_offset_align,
        stx.stx_dio_read_offset_align,
        stx.stx_blksize,
    );
}

fn reports_dioalign(fd: impl AsFd) -> bool {
    let stx = rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::DIOALIGN).unwrap();
    StatxFlags::from_bits_retain(stx.stx_mask).contains(StatxFlags::DIOALIGN)
}

fn assert_sane(align: DioAlign) {
    assert!(
        align.memory > 0 && align.memory.is_power_of_two(),
        "memory alignment {align:?}"
    );
    assert!(
        align.offset > 0 && align.offset.is_power_of_two(),
        "offset alignment {align:?}"
    );
}

/// `len` bytes of `storage`, starting at an address that is a multiple of `align`.
fn aligned(storage: &mut [u8], align: usize, len: usize) -> &mut [u8] {
    let pad = storage.as_ptr().align_offset(align);
    &mut storage[pad..pad + len]
}

fn read_write() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    options
}

/// Whether `statx` claims `STATX_DIOALIGN` for `fd` with a zero alignment, which a
/// kernel does when the file cannot do direct I/O, and qemu-user (7.2) does for every
/// file because it passes the mask through without the values. dio_align must then
/// report Unsupported; the caller skips the rest of its test.
fn zero_dioalign(label: &str, fd: impl AsFd) -> bool {
    let fd = fd.as_fd();
    let stx = rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::DIOALIGN).unwrap();
    let reported = StatxFlags::from_bits_retain(stx.stx_mask).contains(StatxFlags::DIOALIGN);
    if reported && (stx.stx_dio_mem_align == 0 || stx.stx_dio_offset_align == 0) {
        let err = dio_align(fd).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
        eprintln!(
            "skipped: {label}: statx reports STATX_DIOALIGN with a zero alignment (no direct \
             I/O on this file, or an emulator that does not pass the values through)"
        );
        true
    } else {
        false
    }
}

/// dio_align on an open file and on its path agree, and are sane powers of two.
fn check_dio_align_in(label: &str, dir: &Path) {
    let tmp = TempFile::new(dir);
    let file = File::open(&tmp.path).unwrap();
    print_statx(label, &file);
    if zero_dioalign(label, &file) {
        return;
    }
    let align = dio_align(&file).expect("dio_align");
    eprintln!("{label}: dio_align = {align:?}");
    assert_sane(align);
    assert_eq!(dio_align_path(&tmp.path).expect("dio_align_path"), align);
    // The O_DIRECT descriptor of the same file reports the same alignment.
    let direct = open_direct(&tmp.path, &mut read_write()).expect("open_direct");
    assert_eq!(dio_align(&direct).unwrap(), align);
}

#[test]
fn dio_align_on_tmpfs() {
    let Some(dir) = tmpfs_dir() else { return };
    check_dio_align_in("tmpfs", dir);
}

#[test]
fn dio_align_on_ext4() {
    let Some(dir) = ext4_dir() else { return };
    check_dio_align_in("ext4", dir);
}

#[test]
fn open_direct_sets_o_direct_and_plain_open_does_not() {
    for dir in [tmpfs_dir(), ext4_dir()].into_iter().flatten() {
        let tmp = TempFile::new(dir);
        let plain = File::open(&tmp.path).unwrap();
        assert!(!is_direct(&plain).unwrap(), "{}", dir.display());
        let direct = open_direct(&tmp.path, &mut read_write()).unwrap();
        assert!(is_direct(&direct).unwrap(), "{}", dir.display());
        // The options keep O_DIRECT for later opens.
        let mut options = OpenOptions::new();
        options.read(true);
        let first = open_direct(&tmp.path, &mut options).unwrap();
        let again = options.open(&tmp.path).unwrap();
        assert!(is_direct(&first).unwrap() && is_direct(&again).unwrap());
    }
}

#[test]
fn open_direct_can_create_a_file() {
    let Some(dir) = ext4_dir().or_else(tmpfs_dir) else {
        return;
    };
    let tmp = TempFile::new(dir);
    std::fs::remove_file(&tmp.path).unwrap();
    let file = open_direct(&tmp.path, OpenOptions::new().write(true).create_new(true)).unwrap();
    assert!(is_direct(&file).unwrap());
    assert!(tmp.path.exists());
}

#[test]
fn open_direct_refused_by_procfs_is_invalid_input_naming_o_direct() {
    let path = "/proc/self/status";
    let err = open_direct(path, OpenOptions::new().read(true)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let message = err.to_string();
    assert!(message.contains("O_DIRECT"), "{message}");
    assert!(message.contains(path), "{message}");
    // The kernel's EINVAL is kept as the source.
    let source = std::error::Error::source(&err).expect("a source");
    let source = source
        .downcast_ref::<io::Error>()
        .expect("an io::Error source");
    assert_eq!(
        source.raw_os_error(),
        Some(rustix::io::Errno::INVAL.raw_os_error())
    );
    // The same file opens fine without O_DIRECT.
    assert!(File::open(path).is_ok());
}

#[test]
fn open_direct_passes_other_errors_through() {
    let err = open_direct("/nonexistent/rawaio/direct", OpenOptions::new().read(true)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        err.raw_os_error(),
        Some(rustix::io::Errno::NOENT.raw_os_error())
    );
}

#[test]
fn is_direct_is_false_for_a_pipe() {
    let (r, w) = rustix::pipe::pipe().unwrap();
    assert!(!is_direct(&r).unwrap());
    assert!(!is_direct(&w).unwrap());
}

#[test]
fn dio_align_rejects_files_that_cannot_do_direct_io() {
    let dir = File::open(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let err = dio_align(&dir).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("directory"), "{err}");

    let (r, _w) = rustix::pipe::pipe().unwrap();
    let err = dio_align(&r).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("FIFO"), "{err}");

    let err = dio_align_path("/dev/null").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("character device"), "{err}");
}

#[test]
fn dio_align_path_errors() {
    let err = dio_align_path("/nonexistent/rawaio/direct").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let err = dio_align_path("nul\0byte").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

/// Direct I/O shaped by the reported alignment succeeds and reads back what it wrote;
/// a request `check` rejects for its offset or length is also rejected by the kernel.
fn direct_io_follows_the_alignment(dir: &Path) {
    let tmp = TempFile::new(dir);
    let file = open_direct(&tmp.path, &mut read_write()).unwrap();
    if zero_dioalign(&dir.display().to_string(), &file) {
        return;
    }
    let align = dio_align(&file).unwrap();
    let len = align.round_up(3 * align.offset.max(512)).unwrap();
    let mut storage = vec![0u8; len + align.memory];
    let buf = aligned(&mut storage, align.memory, len);
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    let offset = align.offset as u64;
    align
        .check(buf.as_ptr() as usize, buf.len(), offset)
        .unwrap();
    assert_eq!(file.write_at(buf, offset).unwrap(), len);

    let mut storage2 = vec![0u8; len + align.memory];
    let back = aligned(&mut storage2, align.memory, len);
    assert_eq!(file.read_at(back, offset).unwrap(), len);
    assert_eq!(
        back,
        &storage[storage.as_ptr().align_offset(align.memory)..][..len]
    );

    // Only an alignment the kernel reported is enforced: tmpfs accepts O_DIRECT without
    // reporting STATX_DIOALIGN (its "direct" I/O goes through the page cache), so
    // dio_align falls back to a 4096 guess that the kernel does not hold requests to.
    if !reports_dioalign(&file) {
        eprintln!(
            "{}: no STATX_DIOALIGN, not checking that the kernel rejects misaligned requests",
            dir.display()
        );
    } else if align.offset > 1 {
        let buf = aligned(&mut storage2, align.memory, len);
        let bad_offset = offset + align.offset as u64 / 2;
        let err = align
            .check(buf.as_ptr() as usize, len, bad_offset)
            .unwrap_err();
        assert_eq!(err.part(), MisalignedPart::Offset);
        let err = file.write_at(buf, bad_offset).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");

        let bad_len = len - align.offset / 2;
        let err = align
            .check(buf.as_ptr() as usize, bad_len, offset)
            .unwrap_err();
        assert_eq!(err.part(), MisalignedPart::Length);
        let err = file.write_at(&buf[..bad_len], offset).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    } else {
        eprintln!(
            "{}: offset alignment 1, no misaligned offset to try",
            dir.display()
        );
    }
}

#[test]
fn direct_io_on_tmpfs_follows_the_alignment() {
    let Some(dir) = tmpfs_dir() else { return };
    direct_io_follows_the_alignment(dir);
}

#[test]
fn direct_io_on_ext4_follows_the_alignment() {
    let Some(dir) = ext4_dir() else { return };
    direct_io_follows_the_alignment(dir);
}

#[test]
fn dio_align_on_a_block_device_matches_blksszget() {
    let path = "/dev/zram0";
    let device = match File::open(path) {
        Ok(device) => device,
        Err(e) => {
            eprintln!("skipped: cannot open {path} read-only: {e}");
            return;
        }
    };
    print_statx(path, &device);
    let logical = rustix::fs::ioctl_blksszget(&device).expect("BLKSSZGET") as usize;
    let align = dio_align(&device).unwrap();
    eprintln!("{path}: dio_align = {align:?}, BLKSSZGET = {logical}");
    assert_sane(align);
    assert_eq!(align.offset, logical);
    assert!(align.memory <= align.offset, "{align:?}");
    assert_eq!(dio_align_path(path).unwrap(), align);
}
