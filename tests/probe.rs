//! `rawaio::probe` against the real kernel: what it finds on tmpfs and ext4 files, that it
//! changes no data, how it reports files opened for one direction only, and the kernel
//! facts its classification rests on.
//!
//! Assertions are limited to what is stable: rules of `fs/aio.c` and `include/linux/fs.h`
//! (`RWF_ATOMIC` is refused on reads, an access-mode mismatch gives `EBADF`, an unknown
//! `RWF_*` bit gives `EOPNOTSUPP`), and flags every kernel since their introduction
//! accepts on these filesystems (gated on the running kernel's version). What a
//! filesystem may change its mind about (tmpfs refusing `RWF_NOWAIT`, ext4 refusing
//! buffered `RWF_NOWAIT` writes) is printed, not asserted.

use rawaio::probe::{Features, ProbeOptions, Support, probe_file, probe_kernel};
use rawaio::{AlignedBuf, Context, Errno, Op, RwfFlags};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// `TMPFS_MAGIC` from `linux/magic.h`.
const TMPFS_MAGIC: u64 = 0x0102_1994;
/// `EXT4_SUPER_MAGIC` from `linux/magic.h`.
const EXT4_SUPER_MAGIC: u64 = 0xEF53;

const SYNC: ProbeOptions = ProbeOptions {
    sync: true,
    poll_events: rawaio::PollFlags::IN.union(rawaio::PollFlags::OUT),
    timeout: Duration::from_secs(5),
};

/// The running kernel's `(major, minor)`, from `/proc/sys/kernel/osrelease`.
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn fs_magic(path: &Path) -> u64 {
    // `f_type` is signed on some targets; every magic fits in 32 bits.
    (rustix::fs::statfs(path).expect("statfs").f_type as u64) & 0xffff_ffff
}

fn tmpfs_dir() -> PathBuf {
    let dir = PathBuf::from("/dev/shm");
    assert_eq!(fs_magic(&dir), TMPFS_MAGIC, "/dev/shm is not tmpfs");
    dir
}

/// Cargo's per-target temporary directory, and whether it is on ext4.
fn ext4_dir() -> (PathBuf, bool) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).expect("create CARGO_TARGET_TMPDIR");
    let is_ext4 = fs_magic(&dir) == EXT4_SUPER_MAGIC;
    (dir, is_ext4)
}

/// A uniquely named file holding `contents`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(dir: &Path, contents: &[u8]) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = dir.join(format!(
            "rawaio-probe-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).expect("create the test file");
        Self(path)
    }

    /// Opens the file for reading and/or writing, with `O_DIRECT` if `direct`; `None`
    /// when the filesystem refuses `O_DIRECT` (`EINVAL`).
    fn open(&self, read: bool, write: bool, direct: bool) -> Option<File> {
        let flags = if direct {
            rustix::fs::OFlags::DIRECT.bits() as i32
        } else {
            0
        };
        match OpenOptions::new()
            .read(read)
            .write(write)
            .custom_flags(flags)
            .open(&self.0)
        {
            Ok(file) => Some(file),
            Err(e) if direct && e.raw_os_error() == Some(Errno::INVAL.raw_os_error()) => None,
            Err(e) => panic!("open {}: {e}", self.0.display()),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn flag_support(features: &Features, flag: RwfFlags) -> (Support, Support) {
    let f = features.flag(flag).expect("every single flag is probed");
    (f.read, f.write)
}

/// Checks what every read-write regular file on a local filesystem must answer.
fn assert_regular_file_basics(features: &Features, what: &str) {
    let ops = &features.opcodes;
    for (name, _, support) in ops.iter() {
        assert_eq!(
            support,
            Some(Support::Supported),
            "{what}: opcode {name}\n{features}"
        );
    }
    let (major, minor) = kernel_version();
    let at_least = |maj: u32, min: u32| (major, minor) >= (maj, min);
    // Since 4.7 (DSYNC, SYNC), 4.6 (HIPRI, accepted by AIO and cleared), 4.16 (APPEND).
    let mut writes = RwfFlags::HIPRI | RwfFlags::DSYNC | RwfFlags::SYNC | RwfFlags::APPEND;
    if at_least(6, 9) {
        writes |= RwfFlags::NOAPPEND;
    }
    if at_least(6, 18) {
        writes |= RwfFlags::NOSIGNAL;
    }
    assert!(
        features.write_flags.contains(writes),
        "{what}: write flags {:?} lack {:?}\n{features}",
        features.write_flags,
        writes - features.write_flags
    );
    // The kernel does not check the sync flags' direction: reads accept them too.
    let reads = RwfFlags::HIPRI | RwfFlags::DSYNC | RwfFlags::SYNC;
    assert!(
        features.read_flags.contains(reads),
        "{what}: read flags {:?}\n{features}",
        features.read_flags
    );
    // kiocb_set_rw_flags refuses RWF_ATOMIC on anything but a write, whatever the file.
    assert_eq!(
        flag_support(features, RwfFlags::ATOMIC).0,
        Support::Unsupported(Errno::OPNOTSUPP),
        "{what}\n{features}"
    );
    // The summary sets are exactly the flags whose answer is Supported.
    for f in &features.flags {
        assert_eq!(features.read_flags.contains(f.flag), f.read.is_supported());
        assert_eq!(
            features.write_flags.contains(f.flag),
            f.write.is_supported()
        );
    }
    assert_eq!(features.flags.len(), RwfFlags::all().iter().count());
}

#[test]
fn tmpfs_file_opcodes_and_flags() {
    let file = TempFile::new(&tmpfs_dir(), b"tmpfs");
    for direct in [false, true] {
        if direct && !rawaio::probe::direct_io_in(tmpfs_dir()).unwrap() {
            println!("skipped: probe::direct_io_in: this tmpfs refuses O_DIRECT (Linux 6.6+)");
            continue;
        }
        let f = file
            .open(true, true, direct)
            .expect("probe::direct_io_in said yes");
        let features = probe_file(&f, SYNC).unwrap();
        let what = format!("tmpfs, {}", if direct { "O_DIRECT" } else { "buffered" });
        println!("{what}:\n{features}");
        assert_eq!(features.direct, direct);
        assert_regular_file_basics(&features, &what);
    }
}

#[test]
fn ext4_file_opcodes_and_flags() {
    let (dir, is_ext4) = ext4_dir();
    if !is_ext4 {
        println!(
            "skipped: {} is not on ext4 (magic {:#x})",
            dir.display(),
            fs_magic(&dir)
        );
        return;
    }
    let file = TempFile::new(&dir, b"ext4");
    let direct = file.open(true, true, true).expect("ext4 accepts O_DIRECT");
    let features = probe_file(&direct, SYNC).unwrap();
    println!("ext4, O_DIRECT:\n{features}");
    assert!(features.direct);
    assert_regular_file_basics(&features, "ext4, O_DIRECT");
    // ext4 sets FMODE_NOWAIT and handles IOCB_NOWAIT on direct I/O both ways.
    assert_eq!(
        flag_support(&features, RwfFlags::NOWAIT),
        (Support::Supported, Support::Supported),
        "{features}"
    );

    let buffered = file.open(true, true, false).unwrap();
    let features = probe_file(&buffered, SYNC).unwrap();
    println!("ext4, buffered:\n{features}");
    assert!(!features.direct);
    assert_regular_file_basics(&features, "ext4, buffered");
    let (read, write) = flag_support(&features, RwfFlags::NOWAIT);
    assert_eq!(read, Support::Supported, "{features}");
    // ext4 accepts the flag at submission (FMODE_NOWAIT) but, as of 6.18, its buffered
    // write path refuses IOCB_NOWAIT when the I/O starts: the completion says
    // EOPNOTSUPP, which the probe reports as unsupported too.
    assert!(
        matches!(
            write,
            Support::Supported | Support::Unsupported(Errno::OPNOTSUPP)
        ),
        "{write:?}"
    );
    println!("ext4 buffered RWF_NOWAIT write: {write}");
}

/// Data, length and modification time are unchanged by a probe that includes every
/// opcode, every flag, FSYNC and FDSYNC.
#[test]
fn probing_does_not_modify_the_file() {
    // Not a multiple of any block size, so that a rounded-up write would show.
    let pattern: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
    let (ext4, _) = ext4_dir();
    for dir in [tmpfs_dir(), ext4] {
        for direct in [false, true] {
            let file = TempFile::new(&dir, &pattern);
            let before = std::fs::metadata(&file.0).unwrap();
            let Some(f) = file.open(true, true, direct) else {
                println!("{}: O_DIRECT refused, skipped", dir.display());
                continue;
            };
            let features = probe_file(&f, SYNC).unwrap();
            // Something was written with each flag (the probe really ran).
            assert!(features.opcodes.pwrite.is_supported());
            assert!(!features.write_flags.is_empty());
            drop(f);
            let after = std::fs::metadata(&file.0).unwrap();
            let what = format!("{} (O_DIRECT {direct})", dir.display());
            assert_eq!(after.len(), pattern.len() as u64, "{what}: length");
            assert_eq!(
                (after.mtime(), after.mtime_nsec()),
                (before.mtime(), before.mtime_nsec()),
                "{what}: mtime"
            );
            let mut back = Vec::new();
            File::open(&file.0).unwrap().read_to_end(&mut back).unwrap();
            assert!(back == pattern, "{what}: contents changed");
        }
    }
}

/// An `O_APPEND` file, probed with `RWF_NOAPPEND` and `RWF_APPEND` among the rest, keeps
/// its length too.
#[test]
fn probing_an_append_only_descriptor_appends_nothing() {
    let file = TempFile::new(&tmpfs_dir(), b"0123456789");
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .open(&file.0)
        .unwrap();
    let features = probe_file(&f, ProbeOptions::default()).unwrap();
    assert!(
        features.write_flags.contains(RwfFlags::APPEND),
        "{features}"
    );
    assert_eq!(std::fs::metadata(&file.0).unwrap().len(), 10);
    f.write_all(b"!").unwrap();
    let mut back = String::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_string(&mut back).unwrap();
    assert_eq!(back, "0123456789!");
}

#[test]
fn read_only_file_reports_writes_as_not_applicable() {
    let (ext4, _) = ext4_dir();
    for dir in [tmpfs_dir(), ext4] {
        let file = TempFile::new(&dir, b"read only");
        let f = file.open(true, false, false).unwrap();
        let features = probe_file(&f, SYNC).unwrap();
        let ops = &features.opcodes;
        let badf = Support::NotApplicable(Errno::BADF);
        assert_eq!(ops.pwrite, badf, "{features}");
        assert_eq!(ops.pwritev, badf, "{features}");
        // Reads, syncs and polls need no write access.
        assert!(ops.pread.is_supported() && ops.preadv.is_supported());
        assert!(ops.poll.is_supported());
        assert_eq!(ops.fsync, Some(Support::Supported));
        assert_eq!(ops.fdsync, Some(Support::Supported));
        // No write flag is called supported, and none that a writable descriptor accepts
        // is called unsupported: the flags are checked before the access mode, so a
        // flag the file refuses still says EOPNOTSUPP, and any other says EBADF.
        assert_eq!(features.write_flags, RwfFlags::empty());
        assert_eq!(flag_support(&features, RwfFlags::DSYNC).1, badf);
        assert_eq!(flag_support(&features, RwfFlags::SYNC).1, badf);
        assert_eq!(
            flag_support(&features, RwfFlags::ATOMIC).1,
            Support::Unsupported(Errno::OPNOTSUPP),
            "{features}"
        );
        for f in &features.flags {
            assert!(
                matches!(
                    f.write,
                    Support::NotApplicable(Errno::BADF) | Support::Unsupported(Errno::OPNOTSUPP)
                ),
                "{:?}: {}",
                f.flag,
                f.write
            );
        }
    }
}

#[test]
fn write_only_file_reports_reads_as_not_applicable() {
    let file = TempFile::new(&tmpfs_dir(), b"write only");
    let f = file.open(false, true, false).unwrap();
    let features = probe_file(&f, ProbeOptions::default()).unwrap();
    let badf = Support::NotApplicable(Errno::BADF);
    assert_eq!(features.opcodes.pread, badf, "{features}");
    assert_eq!(features.opcodes.preadv, badf, "{features}");
    assert!(features.opcodes.pwrite.is_supported());
    assert_eq!(features.read_flags, RwfFlags::empty());
    assert_eq!(flag_support(&features, RwfFlags::DSYNC).0, badf);
}

/// A poll that finds nothing ready is cancelled after the timeout and counts as
/// supported; a pipe has no fsync.
#[test]
fn pipe_poll_not_ready_is_cancelled_and_supported() {
    let (reader, _writer) = rustix::pipe::pipe().unwrap();
    let options = ProbeOptions {
        sync: true,
        poll_events: rawaio::PollFlags::IN,
        timeout: Duration::from_millis(50),
    };
    let start = Instant::now();
    let features = probe_file(&reader, options).unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(features.opcodes.poll, Support::Supported, "{features}");
    assert_eq!(
        features.opcodes.fsync,
        Some(Support::Unsupported(Errno::INVAL))
    );
    assert_eq!(
        features.opcodes.fdsync,
        Some(Support::Unsupported(Errno::INVAL))
    );
    // A zero-length read of an empty pipe returns 0 at once.
    assert_eq!(features.opcodes.pread, Support::Supported);
    assert_eq!(features.opcodes.pwrite, Support::NotApplicable(Errno::BADF));
}

#[test]
fn probe_kernel_finds_the_basics_and_leaves_no_file() {
    let features = probe_kernel().unwrap();
    println!("probe_kernel():\n{features}");
    for (name, _, support) in features.opcodes.iter() {
        assert_eq!(support, Some(Support::Supported), "{name}\n{features}");
    }
    assert!(!features.direct);
    assert!(
        features
            .write_flags
            .contains(RwfFlags::DSYNC | RwfFlags::SYNC),
        "{features}"
    );
    let prefix = format!(".rawaio-probe-{}-", std::process::id());
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn display_lists_every_opcode_and_flag() {
    let file = TempFile::new(&tmpfs_dir(), b"x");
    let f = file.open(true, false, false).unwrap();
    let text = probe_file(&f, ProbeOptions::default()).unwrap().to_string();
    for name in [
        "PREAD",
        "PWRITEV",
        "POLL",
        "NOWAIT",
        "NOSIGNAL",
        "DONTCACHE",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    assert!(text.contains("FSYNC      not probed"), "{text}");
    assert!(text.contains("not applicable (EBADF)"), "{text}");
}

/// The fact behind the flag classification: a bit the kernel does not know fails the
/// submission with EOPNOTSUPP. `RwfFlags::all()` holds only the bits rawaio knows, so
/// the probe never sends such a bit; one can still be built with `from_bits_retain`.
#[test]
fn an_unknown_rwf_bit_is_refused_with_eopnotsupp_at_submission() {
    let file = TempFile::new(&tmpfs_dir(), b"x");
    let f = file.open(true, true, false).unwrap();
    let unknown = RwfFlags::from_bits_retain(1 << 31);
    assert!(!RwfFlags::all().contains(unknown));
    let ctx = Context::<AlignedBuf>::new(4).unwrap();
    for op in [
        Op::read(&f, AlignedBuf::new(0, 4096).unwrap(), 0),
        Op::write(&f, AlignedBuf::new(0, 4096).unwrap(), 0),
    ] {
        let rejected = ctx.submit(op.rw_flags(unknown)).unwrap_err();
        assert_eq!(rejected.error.errno(), Some(Errno::OPNOTSUPP));
    }
}

/// The `RWF_*` names of `flags`, `|`-separated (`-` for none).
fn flag_names(flags: RwfFlags) -> String {
    let names: Vec<&str> = flags.iter_names().map(|(n, _)| n).collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join("|")
    }
}

/// Prints what `probe_kernel` and `direct_io_in` find on this kernel as one line,
/// `note: probe: key=value ...`, which the qemu-system runner (.ci/qemu) collects into
/// docs/abi.md's probe table; and checks the answers that follow from the version alone.
#[test]
fn record_for_the_probe_table() {
    let f = probe_kernel().expect("probe_kernel");
    let tmpfs_direct = rawaio::probe::direct_io_in(tmpfs_dir()).expect("direct_io_in");
    let yes = |s: Option<Support>| match s {
        Some(s) if s.is_supported() => "yes",
        Some(_) => "no",
        None => "?",
    };
    // On a line of its own: libtest prints `test NAME ... ` without a newline first.
    println!(
        "\nnote: probe: poll={} fsync={} fdsync={} preadv={} pwritev={} rwf-read={} \
         rwf-write={} tmpfs-direct={}",
        yes(Some(f.opcodes.poll)),
        yes(f.opcodes.fsync),
        yes(f.opcodes.fdsync),
        yes(Some(f.opcodes.preadv)),
        yes(Some(f.opcodes.pwritev)),
        flag_names(f.read_flags),
        flag_names(f.write_flags),
        if tmpfs_direct { "yes" } else { "no" }
    );
    let (major, minor) = kernel_version();
    assert_eq!(
        tmpfs_direct,
        (major, minor) >= (6, 6),
        "tmpfs takes O_DIRECT exactly from Linux 6.6"
    );
    assert!(
        f.opcodes.poll.is_supported(),
        "POLL: every kernel since 4.18"
    );
}
