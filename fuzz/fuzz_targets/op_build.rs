//! Builds operations from arbitrary parameters through the safe API (`Op` and its
//! builder methods) and checks what would reach the kernel: either `Op::to_iocb` refuses
//! the request with an error naming a rule it breaks, or the request breaks no rule and
//! its iocb is byte for byte the one the parameters ask for, laid out independently here
//! from the kernel header's offsets. Either way the buffers come back untouched.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rawaio::abi::{
    IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC, IOCB_CMD_POLL, IOCB_CMD_PREAD, IOCB_CMD_PREADV,
    IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV, KEY_OFFSET, RW_FLAGS_OFFSET,
};
use rawaio::{InvalidOp, IoClass, IoPriority, Op, PollFlags, RwfFlags};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

/// Descriptors to build requests on: low and high numbers, so that `aio_fildes` sees
/// both. Opened once; never used for I/O.
fn fds() -> &'static [OwnedFd] {
    static FDS: OnceLock<Vec<OwnedFd>> = OnceLock::new();
    FDS.get_or_init(|| {
        let null = OwnedFd::from(std::fs::File::open("/dev/null").expect("/dev/null"));
        let mut fds = Vec::new();
        for min in [0, 200, 1000, 4000] {
            fds.push(rustix::io::fcntl_dupfd_cloexec(&null, min).expect("dup"));
        }
        fds.push(null);
        fds
    })
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Read,
    Write,
    Readv,
    Writev,
    Fsync,
    Fdsync,
    Poll,
}

#[derive(Arbitrary, Debug)]
struct Params {
    kind: Kind,
    fd: u8,
    /// Buffer lengths: the first for a plain request, all for a vectored one.
    lens: Vec<u16>,
    /// Extra empty buffers for vectored requests, to reach and pass `IOV_MAX`.
    extra_bufs: u16,
    offset: u64,
    /// The top bits of the offset vary a lot, to land near `i64::MAX`.
    offset_near_max: bool,
    rw_flags: Option<u32>,
    priority: Option<(u8, u8)>,
    notify: Option<u8>,
    limit: Option<u32>,
    user_data: u64,
    poll_events: u16,
    alignment: Option<(u16, u16)>,
}

/// The rules `Op` documents; a refusal must name one the request breaks.
fn broken_rules(p: &Params, bufs: &[Vec<u8>], offset: u64, len: u64) -> Vec<InvalidOp> {
    let mut broken = Vec::new();
    let plain = matches!(p.kind, Kind::Read | Kind::Write);
    let vectored = matches!(p.kind, Kind::Readv | Kind::Writev);
    if let Some(limit) = p.limit {
        if !plain {
            broken.push(InvalidOp::RangeNotAllowed);
        } else if limit as usize > bufs[0].len() {
            broken.push(InvalidOp::Range {
                start: 0,
                end: limit as usize,
                len: bufs[0].len(),
            });
        }
    }
    if offset
        .checked_add(len)
        .is_none_or(|end| end > i64::MAX as u64)
    {
        broken.push(InvalidOp::OffsetTooLarge { offset, len });
    }
    if vectored && (bufs.is_empty() || bufs.len() > rawaio::IOV_MAX) {
        broken.push(InvalidOp::BufferCount { count: bufs.len() });
    }
    if p.rw_flags.is_some_and(|f| f != 0) && !plain && !vectored {
        broken.push(InvalidOp::FlagsNotAllowed);
    }
    broken
}

/// The 64 bytes the kernel should read, placed at the header's offsets.
#[allow(clippy::too_many_arguments)]
fn expected_bytes(
    rw_flags: u32,
    opcode: u16,
    reqprio: u16,
    fd: u32,
    buf: u64,
    nbytes: u64,
    offset: u64,
    flags: u32,
    resfd: u32,
) -> [u8; 64] {
    let mut b = [0u8; 64];
    // aio_data (0 here: the context's token goes there) and aio_key (the kernel's) stay 0.
    assert_eq!(&b[KEY_OFFSET..KEY_OFFSET + 4], &[0; 4]);
    b[RW_FLAGS_OFFSET..RW_FLAGS_OFFSET + 4].copy_from_slice(&rw_flags.to_ne_bytes());
    b[16..18].copy_from_slice(&opcode.to_ne_bytes());
    b[18..20].copy_from_slice(&reqprio.to_ne_bytes());
    b[20..24].copy_from_slice(&fd.to_ne_bytes());
    b[24..32].copy_from_slice(&buf.to_ne_bytes());
    b[32..40].copy_from_slice(&nbytes.to_ne_bytes());
    b[40..48].copy_from_slice(&offset.to_ne_bytes());
    // aio_reserved2 at 48 stays 0.
    b[56..60].copy_from_slice(&flags.to_ne_bytes());
    b[60..64].copy_from_slice(&resfd.to_ne_bytes());
    b
}

fn run(p: Params) {
    let fds = fds();
    let fd: BorrowedFd<'_> = fds[p.fd as usize % fds.len()].as_fd();
    let offset = if p.offset_near_max {
        i64::MAX as u64 - (p.offset & 0xffff)
    } else {
        p.offset
    };
    let vectored = matches!(p.kind, Kind::Readv | Kind::Writev);
    let mut bufs: Vec<Vec<u8>> = match p.kind {
        Kind::Read | Kind::Write => {
            vec![vec![
                0xa5;
                usize::from(p.lens.first().copied().unwrap_or(0) % 8192)
            ]]
        }
        Kind::Readv | Kind::Writev => p
            .lens
            .iter()
            .map(|&l| vec![l as u8; usize::from(l % 512)])
            .chain((0..p.extra_bufs % 1100).map(|_| Vec::new()))
            .collect(),
        _ => Vec::new(),
    };
    let addrs: Vec<u64> = bufs.iter_mut().map(|b| b.as_mut_ptr() as u64).collect();
    let originals = bufs.clone();
    let events = PollFlags::from_bits_retain(p.poll_events as _);
    let mut op = match p.kind {
        Kind::Read => Op::read(fd, bufs.pop().unwrap(), offset),
        Kind::Write => Op::write(fd, bufs.pop().unwrap(), offset),
        Kind::Readv => Op::readv(fd, bufs, offset),
        Kind::Writev => Op::writev(fd, bufs, offset),
        Kind::Fsync => Op::fsync(fd),
        Kind::Fdsync => Op::fdsync(fd),
        Kind::Poll => Op::poll(fd, events),
    };
    let (opcode, offset) = match p.kind {
        Kind::Read => (IOCB_CMD_PREAD, offset),
        Kind::Write => (IOCB_CMD_PWRITE, offset),
        Kind::Readv => (IOCB_CMD_PREADV, offset),
        Kind::Writev => (IOCB_CMD_PWRITEV, offset),
        Kind::Fsync => (IOCB_CMD_FSYNC, 0),
        Kind::Fdsync => (IOCB_CMD_FDSYNC, 0),
        Kind::Poll => (IOCB_CMD_POLL, 0),
    };
    if let Some(bits) = p.rw_flags {
        op = op.rw_flags(RwfFlags::from_bits_retain(bits));
    }
    let mut reqprio = 0;
    let mut flags = 0;
    if let Some((class, level)) = p.priority {
        let class = [
            IoClass::None,
            IoClass::RealTime,
            IoClass::BestEffort,
            IoClass::Idle,
        ][usize::from(class % 4)];
        match IoPriority::new(class, level) {
            Ok(prio) => {
                assert!(level <= 7);
                reqprio = prio.value();
                assert_eq!(reqprio & 0x1fff, u16::from(level));
                flags |= 2;
                op = op.priority(prio);
            }
            Err(e) => assert_eq!((level > 7, e), (true, InvalidOp::PriorityLevel { level })),
        }
    }
    let mut resfd = 0;
    if let Some(n) = p.notify {
        let efd = fds[n as usize % fds.len()].as_fd();
        resfd = efd.as_raw_fd() as u32;
        flags |= 1;
        op = op.notify(efd);
    }
    if let Some(limit) = p.limit {
        op = op.limit(limit as usize);
    }
    op = op.user_data(p.user_data);
    assert_eq!(op.get_user_data(), p.user_data);
    assert_eq!(op.opcode(), opcode);
    let len: u64 = match p.kind {
        Kind::Read | Kind::Write => {
            let full = originals[0].len() as u64;
            p.limit.map_or(full, |l| u64::from(l).min(full))
        }
        Kind::Readv | Kind::Writev => originals.iter().map(|b| b.len() as u64).sum(),
        _ => 0,
    };
    assert_eq!(op.len(), len);
    let mut broken = broken_rules(&p, &originals, offset, len);
    if let Some((memory, offset_align)) = p.alignment {
        op = op.check_alignment(memory.into(), offset_align.into());
        // Each part checked alone, the others given as aligned (0), so that each expected
        // error names one part; the rule is `DioAlign::check`'s for every buffer.
        let align = rawaio::DioAlign {
            memory: memory.into(),
            offset: offset_align.into(),
        };
        let (memory, offset_align) = (u64::from(memory.max(1)), u64::from(offset_align.max(1)));
        if offset % offset_align != 0 {
            broken.extend(align.check(0, 0, offset).err().map(InvalidOp::Misaligned));
        }
        for (b, &addr) in originals.iter().zip(&addrs) {
            let blen = if vectored { b.len() as u64 } else { len };
            if addr % memory != 0 {
                broken.extend(align.check(addr as usize, 0, 0).err().map(InvalidOp::Misaligned));
            }
            if blen % offset_align != 0 {
                broken.extend(align.check(0, blen as usize, 0).err().map(InvalidOp::Misaligned));
            }
        }
    }

    match op.to_iocb() {
        Err(e) => assert!(
            broken.contains(&e),
            "refused with {e:?}, but it breaks only {broken:?}"
        ),
        Ok(cb) => {
            assert!(broken.is_empty(), "accepted, but it breaks {broken:?}");
            let (buf, nbytes) = match p.kind {
                Kind::Read | Kind::Write => (addrs[0], len),
                Kind::Readv | Kind::Writev => (0, originals.len() as u64),
                Kind::Poll => (u64::from(events.bits()), 0),
                _ => (0, 0),
            };
            let expected = expected_bytes(
                p.rw_flags.unwrap_or(0),
                opcode,
                reqprio,
                fd.as_raw_fd() as u32,
                buf,
                nbytes,
                offset,
                flags,
                resfd,
            );
            assert_eq!(cb.to_bytes(), expected, "{cb:?} for {p:?}");
        }
    }
    // Accepted or refused, the buffers come back, where they were and as they were.
    let back = op.into_bufs();
    assert_eq!(back, originals);
    for (mut b, &addr) in back.into_iter().zip(&addrs) {
        assert_eq!(b.as_mut_ptr() as u64, addr);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if let Ok(p) = Params::arbitrary(&mut u) {
        run(p);
    }
});
