//! The libaio C ABI of `capi/` (librawaio) fed arbitrary sequences of calls whose
//! pointers lie in a guarded arena, are null, or are wild:
//! `io_submit` with arbitrary iocb arrays, `io_getevents`, `io_pgetevents`, the old-ABI
//! `io_getevents`/`io_cancel`/`io_queue_wait`, `io_cancel`, `io_queue_run`,
//! `io_queue_wait`, `io_setup`, `io_queue_init`, `io_destroy`, `io_queue_release`, on live,
//! destroyed, null and made-up context handles.
//!
//! Properties:
//! - nothing crashes: every pointer the kernel validates (the iocb array, the iocbs, the
//!   buffers, the iovec arrays, `io_setup`'s handle, `io_cancel`'s iocb and event, the signal
//!   mask, `io_queue_wait`'s timeout) may be garbage, and the library must not dereference
//!   it; the pointers libaio's contract says must be valid (`io_getevents`' events array when
//!   completions may be copied into it, its timeout when the library may read it,
//!   `io_queue_init`'s handle) are valid here, at any alignment (see docs/libaio.md, "Bad
//!   buffers when the ring serves the call");
//! - every return value follows libaio's convention: a count in range or a negative errno
//!   from the set the kernel documents for that call;
//! - every completion is one owed (an accepted request: its iocb address and its `data`),
//!   exactly once, with `res` in range and `res2` 0; `io_queue_run` hands each one to its
//!   callback; `io_getevents` writes nothing but the events it returns;
//! - at the end of every input each accepted request has completed (polls are cancelled
//!   through `io_cancel`): nothing is lost and nothing hangs (every wait is bounded).
//!
//! # The arena
//!
//! One mapping per process, its regions separated by `PROT_NONE` guard pages:
//! `| G | iocbs (2 pages) | G | iocb array | G | iovecs | G | out | G | data (4 pages) | G |`.
//! The kernel writes user memory only into `data` (reads), `out` (events, `io_setup`'s
//! handle) and the `aio_key` field of submitted iocbs, so a request that reads into the
//! arena cannot corrupt anything outside it, nor an iocb or array still to be submitted.
//! Each region is zeroed at the start of an input. Wild pointers are addresses nothing can
//! map: page 0, kernel-half and non-canonical addresses, the top of the address space.
//! The descriptors are the harness's own (a tmpfs file, /dev/zero, /dev/null, a pipe, an
//! eventfd, a directory) or invalid numbers, never the process's stdio.
//!
//! # Linking the C API
//!
//! `rawaio-capi` builds only a cdylib and a staticlib (an rlib would share the file name
//! `librawaio.rlib` with the `rawaio` crate's). Linking its staticlib into a Rust binary
//! would bring a second copy of std and leave the library uninstrumented (no coverage
//! feedback, no AddressSanitizer). So this target compiles the C API's own source files,
//! `capi/src/exports.rs` and `capi/src/registry.rs`, as modules, against the same `rawaio`
//! dependency, and calls the exported `extern "C"` functions: the code under test is the
//! library's, byte for byte, instrumented like the rest of the target. (Without
//! `cfg(rawaio_symver)` the functions carry their plain libaio names, as in an unversioned
//! build.)

#![no_main]

#[allow(dead_code)]
#[path = "../../capi/src/exports.rs"]
mod exports;
#[allow(dead_code)]
#[path = "../../capi/src/registry.rs"]
mod registry;

use core::ffi::{c_int, c_long};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rawaio::abi::{
    __kernel_old_timespec, IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC, IOCB_CMD_POLL, IOCB_CMD_PREAD,
    IOCB_CMD_PREADV, IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV, io_event, iocb, kernel_sigset_t,
};
use std::cell::RefCell;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PAGE: usize = 4096;
const IOCB_SIZE: usize = 64;
const EVENT_SIZE: usize = 32;
/// The main context's size: small, as the system-wide AIO budget is shared.
const MAIN_EVENTS: c_int = 8;
/// How long the end of an input waits for owed completions before calling them lost.
const LOST_AFTER: Duration = Duration::from_secs(10);

const EFAULT: c_int = 14;
const EINVAL: c_int = 22;
const EBADF: c_int = 9;
const EAGAIN: c_int = 11;
const EPERM: c_int = 1;
const EOPNOTSUPP: c_int = 95;
const EINPROGRESS: c_int = 115;
const EINTR: c_int = 4;

/// What `io_submit` may answer when it accepts nothing.
const SUBMIT_ERRNOS: &[c_int] = &[EFAULT, EINVAL, EBADF, EAGAIN, EOPNOTSUPP, EPERM];

// ---------------------------------------------------------------------------------------
// The arena

#[derive(Clone, Copy, Debug)]
struct Region {
    start: usize,
    len: usize,
}

impl Region {
    fn end(&self) -> usize {
        self.start + self.len
    }
    fn holds(&self, addr: u64, size: usize) -> bool {
        let addr = addr as usize;
        addr >= self.start && addr.checked_add(size).is_some_and(|e| e <= self.end())
    }
    fn zero(&self) {
        // SAFETY: the region is mapped read-write for the life of the process, and no
        // request in flight reads or writes it between inputs (the last input drained).
        unsafe { std::ptr::write_bytes(self.start as *mut u8, 0, self.len) };
    }
    /// An address at which `size` bytes fit inside, from an arbitrary offset.
    fn inside(&self, offset: u16, size: usize) -> u64 {
        assert!(size <= self.len);
        (self.start + usize::from(offset) % (self.len - size + 1)) as u64
    }
}

struct Arena {
    iocbs: Region,
    array: Region,
    iovecs: Region,
    out: Region,
    data: Region,
}

fn arena() -> &'static Arena {
    static ARENA: OnceLock<Arena> = OnceLock::new();
    ARENA.get_or_init(|| {
        use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};
        // Pages: guard, then (region, guard) for each region.
        let sizes = [2, 1, 1, 1, 4];
        let total = 1 + sizes.iter().map(|s| s + 1).sum::<usize>();
        // SAFETY: a fresh anonymous mapping, aliasing nothing; never unmapped.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                total * PAGE,
                ProtFlags::empty(),
                MapFlags::PRIVATE,
            )
        }
        .expect("mmap of the arena") as usize;
        let mut regions = Vec::new();
        let mut page = 1;
        for pages in sizes {
            let start = base + page * PAGE;
            // SAFETY: inside the mapping made above.
            unsafe {
                rustix::mm::mprotect(
                    start as *mut _,
                    pages * PAGE,
                    MprotectFlags::READ | MprotectFlags::WRITE,
                )
            }
            .expect("mprotect of an arena region");
            regions.push(Region {
                start,
                len: pages * PAGE,
            });
            page += pages + 1;
        }
        Arena {
            iocbs: regions[0],
            array: regions[1],
            iovecs: regions[2],
            out: regions[3],
            data: regions[4],
        }
    })
}

/// Writes `value` at `addr`, which lies inside an arena region (any alignment).
fn put<T>(addr: u64, value: T) {
    // SAFETY: callers check `addr..addr + size_of::<T>()` is inside a read-write region.
    unsafe { std::ptr::write_unaligned(addr as usize as *mut T, value) }
}

/// Reads a `T` at `addr`, inside an arena region (any alignment).
fn get<T>(addr: u64) -> T {
    // SAFETY: as `put`; every `T` used here is plain data, valid for any bytes.
    unsafe { std::ptr::read_unaligned(addr as usize as *const T) }
}

/// An address nothing can map.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Wild {
    /// In page 0 (below `vm.mmap_min_addr`).
    LowPage(u16),
    /// In the kernel's half.
    Kernel(u32),
    /// Between the halves (non-canonical).
    NonCanonical(u32),
    /// The last page of the address space.
    Top(u16),
}

impl Wild {
    fn addr(self) -> u64 {
        match self {
            Wild::LowPage(k) => 1 + u64::from(k) % (PAGE as u64 - 1),
            Wild::Kernel(k) => 0xffff_8000_0000_0000 + (u64::from(k) << 8),
            Wild::NonCanonical(k) => 0x0000_8000_0000_0000 + (u64::from(k) << 16),
            Wild::Top(k) => u64::MAX - u64::from(k) % (PAGE as u64),
        }
    }
}

/// Where a pointer goes, relative to one region.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Place {
    /// Anywhere from the region's start (objects near its end run into the guard page).
    At(u16),
    /// `k + 1` bytes before the end: anything longer straddles the guard after it.
    NearEnd(u8),
    /// In the guard page before the region.
    InGuard(u16),
    Null,
    Wild(Wild),
}

impl Place {
    fn addr(self, region: &Region) -> u64 {
        match self {
            Place::At(off) => (region.start + usize::from(off) % region.len) as u64,
            Place::NearEnd(k) => (region.end() - 1 - usize::from(k)) as u64,
            Place::InGuard(k) => (region.start - 1 - usize::from(k) % PAGE) as u64,
            Place::Null => 0,
            Place::Wild(w) => w.addr(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Descriptors

struct Files {
    file: File,
    zero: File,
    null: File,
    dir: File,
    pipe_r: OwnedFd,
    pipe_w: OwnedFd,
    efd: OwnedFd,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let path = format!("/dev/shm/rawaio-fuzz-capi-{}", std::process::id());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("tmpfs file");
        let _ = std::fs::remove_file(&path);
        let rw = |p: &str| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .expect(p)
        };
        let (pipe_r, pipe_w) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )
        .expect("pipe");
        let efd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .expect("eventfd");
        Files {
            file,
            zero: rw("/dev/zero"),
            null: rw("/dev/null"),
            dir: File::open("/dev/shm").expect("/dev/shm"),
            pipe_r,
            pipe_w,
            efd,
        }
    })
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Fd {
    File,
    Zero,
    Null,
    Dir,
    PipeRead,
    PipeWrite,
    EventFd,
    /// A number no descriptor has.
    Closed,
    /// -1.
    Negative,
}

impl Fd {
    fn raw(self) -> u32 {
        let f = files();
        match self {
            Fd::File => f.file.as_raw_fd() as u32,
            Fd::Zero => f.zero.as_raw_fd() as u32,
            Fd::Null => f.null.as_raw_fd() as u32,
            Fd::Dir => f.dir.as_raw_fd() as u32,
            Fd::PipeRead => f.pipe_r.as_raw_fd() as u32,
            Fd::PipeWrite => f.pipe_w.as_raw_fd() as u32,
            Fd::EventFd => f.efd.as_raw_fd() as u32,
            Fd::Closed => 1 << 24,
            Fd::Negative => u32::MAX,
        }
    }
}

/// Empties a non-blocking pipe or eventfd.
fn drain_fd(fd: &OwnedFd) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = rustix::io::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The input

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Opcode {
    Pread,
    Pwrite,
    Fsync,
    Fdsync,
    Poll,
    Preadv,
    Pwritev,
    Other(u16),
}

impl Opcode {
    fn code(self) -> u16 {
        match self {
            Opcode::Pread => IOCB_CMD_PREAD,
            Opcode::Pwrite => IOCB_CMD_PWRITE,
            Opcode::Fsync => IOCB_CMD_FSYNC,
            Opcode::Fdsync => IOCB_CMD_FDSYNC,
            Opcode::Poll => IOCB_CMD_POLL,
            Opcode::Preadv => IOCB_CMD_PREADV,
            Opcode::Pwritev => IOCB_CMD_PWRITEV,
            Opcode::Other(c) => c,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Len {
    Zero,
    Small(u16),
    Any(u64),
}

impl Len {
    fn value(self) -> u64 {
        match self {
            Len::Zero => 0,
            Len::Small(n) => u64::from(n),
            Len::Any(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Offset {
    Small(u16),
    Pages(u16),
    Negative(u8),
    NearMax(u16),
}

impl Offset {
    fn value(self) -> i64 {
        match self {
            Offset::Small(n) => i64::from(n),
            Offset::Pages(n) => i64::from(n) * PAGE as i64,
            Offset::Negative(n) => -1 - i64::from(n),
            Offset::NearMax(n) => i64::MAX - i64::from(n),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Rwf {
    None,
    /// Bits among the ones the kernel knows.
    Known(u16),
    Any(u32),
}

#[derive(Arbitrary, Debug)]
struct IocbSpec {
    opcode: Opcode,
    fd: Fd,
    /// The buffer (in the data region), or for vectored requests the iovec array (in the
    /// iovec region); for polls `poll_events` is used instead.
    buf: Place,
    nbytes: Len,
    /// For vectored requests: the iovecs written at `buf` (`nbytes` is their count if
    /// `count` is `None`).
    iovs: Vec<(Place, Len)>,
    count: Option<u16>,
    poll_events: u16,
    offset: Offset,
    rwf: Rwf,
    /// Bits 0-1: IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO; the rest: unknown flags.
    flags: u8,
    resfd: Fd,
    reqprio: i16,
    reserved2: bool,
    key: u32,
    data: u64,
}

/// One pointer of an iocb array.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Entry {
    /// The iocb written for that spec (index modulo their number).
    Spec(u8),
    Null,
    Wild(Wild),
    /// An iocb starting `k % 63 + 1` bytes before the end of the iocb region.
    Straddle(u8),
    /// An iocb starting in the guard page before the iocb region.
    Guard(u16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum CtxSel {
    Main,
    Extra,
    /// The last context destroyed.
    Stale,
    Zero,
    Wild(u64),
    /// An address in the arena.
    Arena(u16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Count {
    /// For `io_submit` the number of entries; for `io_getevents` the number owed.
    Natural,
    Small(i8),
    Any(i64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Timeout {
    Null,
    Zero,
    /// Up to a millisecond.
    Micros(u16),
    /// Negative (waits for ever when it waits): only where no wait can happen.
    Negative,
    /// `tv_nsec` out of range (the kernel does not check it).
    BadNsec,
    /// Not readable: only where the kernel alone reads it.
    Unreadable(Place),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum GetCall {
    GetEvents,
    /// `io_getevents@LIBAIO_0.1(ctx, nr, events, timeout)`: `min_nr` is 1.
    GetEventsOld,
    PGetEvents {
        sigmask: Place,
        bits: u64,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum CancelTarget {
    /// The address of the k-th request owed on the context.
    Owed(u8),
    /// An iocb slot (whatever it holds now).
    Slot(u8, u8),
    Bad(Entry),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum MaxEvents {
    Small(u8),
    Zero,
    Negative(u16),
    Huge(u16),
}

impl MaxEvents {
    fn value(self) -> c_int {
        match self {
            MaxEvents::Small(n) => 1 + c_int::from(n % 32),
            MaxEvents::Zero => 0,
            MaxEvents::Negative(n) => -1 - c_int::from(n),
            // Beyond what io_setup allows (EINVAL), never a size it would grant.
            MaxEvents::Huge(n) => 0x4000_0000 + c_int::from(n),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Action {
    Submit {
        ctx: CtxSel,
        nr: Count,
        array: Place,
        /// The first spec's iocb slot; the others follow.
        base: u8,
        /// Added to every iocb's address (0-63): misaligned iocbs.
        shift: u8,
        specs: Vec<IocbSpec>,
        entries: Vec<Entry>,
    },
    GetEvents {
        ctx: CtxSel,
        call: GetCall,
        min_nr: i8,
        nr: Count,
        events: Place,
        timeout: Timeout,
    },
    QueueRun {
        ctx: CtxSel,
    },
    QueueWait {
        ctx: CtxSel,
        timeout: Timeout,
        old: bool,
    },
    Cancel {
        ctx: CtxSel,
        target: CancelTarget,
        evt: Place,
        /// Restore the iocb's `aio_key` to 0 first (a later submit may have changed it).
        fix_key: bool,
        old: bool,
    },
    Setup {
        maxevents: MaxEvents,
        ctxp: Place,
        prefill: bool,
        queue_init: bool,
        /// Creating (and so later destroying) a context costs milliseconds (an RCU grace
        /// period in io_destroy): a successful one needs this byte, once per input.
        key: u8,
    },
    Destroy {
        ctx: CtxSel,
        release: bool,
        /// As for `Setup`, to destroy the main context.
        key: u8,
    },
    /// The caller changing its own memory after a submission (iocbs, arrays, iovecs).
    Scribble {
        region: u8,
        offset: u16,
        bytes: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Every iocb's `data` is the harness's callback (so `io_queue_run` may be called);
    /// otherwise `data` is arbitrary and `io_queue_run` is not called.
    callbacks: bool,
    actions: Vec<Action>,
}

// ---------------------------------------------------------------------------------------
// The model

/// An accepted request whose completion is owed.
#[derive(Debug, Clone, Copy)]
struct Owed {
    obj: u64,
    data: u64,
    opcode: u16,
    /// The largest `res` it may complete with.
    max_res: i64,
}

#[derive(Debug, Default)]
struct Ctx {
    handle: u64,
    owed: Vec<Owed>,
}

thread_local! {
    /// The main context, shared by inputs (each leaves it idle): io_destroy waits for an
    /// RCU grace period, so one per input would make the fuzzer crawl.
    static MAIN: RefCell<u64> = const { RefCell::new(0) };
    /// What the harness callback received during `io_queue_run`.
    static CALLS: RefCell<Vec<(u64, u64, i64, i64)>> = const { RefCell::new(Vec::new()) };
}

unsafe extern "C" fn callback(ctx: exports::IoContext, iocb: *mut iocb, res: c_long, res2: c_long) {
    CALLS.with(|c| {
        c.borrow_mut()
            .push((ctx as u64, iocb as usize as u64, res as i64, res2 as i64))
    });
}

fn callback_addr() -> u64 {
    callback as exports::IoCallback as usize as u64
}

fn new_main() -> u64 {
    let mut handle: exports::IoContext = 0;
    // SAFETY: a valid handle to write.
    let r = unsafe { exports::io_queue_init(MAIN_EVENTS, &mut handle) };
    assert_eq!(
        r, 0,
        "io_queue_init({MAIN_EVENTS}): is /proc/sys/fs/aio-max-nr exhausted?"
    );
    handle as u64
}

struct Model {
    callbacks: bool,
    main: Ctx,
    extra: Option<Ctx>,
    stale: u64,
    /// A context was created or the main one destroyed in this input (at most once).
    expensive_done: bool,
}

fn is_errno(r: c_int, set: &[c_int]) -> bool {
    r < 0 && set.contains(&-r)
}

impl Model {
    fn live(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.main.handle)
            .chain(self.extra.as_ref().map(|c| c.handle))
            .filter(|&h| h != 0)
    }

    /// The handle to pass, and which live context it is (0 main, 1 extra) if any.
    fn ctx(&mut self, sel: CtxSel) -> (u64, Option<usize>) {
        let raw = match sel {
            CtxSel::Main => return (self.main.handle, Some(0)),
            CtxSel::Extra => match &self.extra {
                Some(c) => return (c.handle, Some(1)),
                None => return (self.main.handle, Some(0)),
            },
            CtxSel::Stale => self.stale,
            CtxSel::Zero => 0,
            CtxSel::Wild(v) => v,
            CtxSel::Arena(off) => arena().iocbs.inside(off, 1),
        };
        if self.live().any(|h| h == raw) {
            return (Wild::Kernel(0xdead).addr(), None); // never a live one by accident
        }
        (raw, None)
    }

    fn ctx_mut(&mut self, which: usize) -> &mut Ctx {
        if which == 0 {
            &mut self.main
        } else {
            self.extra.as_mut().unwrap()
        }
    }

    /// Checks one completion against what is owed on context `which`, and forgets it.
    fn complete(&mut self, which: usize, ev: io_event) {
        let ctx = self.ctx_mut(which);
        let fits = |o: &Owed| {
            o.obj == ev.obj
                && o.data == ev.data
                && ev.res2 == 0
                && ev.res >= -4095
                && match o.opcode {
                    IOCB_CMD_POLL => ev.res <= i64::from(u32::MAX),
                    IOCB_CMD_FSYNC | IOCB_CMD_FDSYNC => ev.res <= 0,
                    _ => ev.res <= o.max_res,
                }
        };
        let Some(i) = ctx.owed.iter().position(fits) else {
            panic!(
                "a completion not owed (or out of range): {ev:?}; owed: {:?}",
                ctx.owed
            );
        };
        ctx.owed.swap_remove(i);
    }

    fn step(&mut self, action: Action) {
        let a = arena();
        match action {
            Action::Submit {
                ctx,
                nr,
                array,
                base,
                shift,
                specs,
                entries,
            } => {
                let (handle, which) = self.ctx(ctx);
                let specs = &specs[..specs.len().min(16)];
                let entries = &entries[..entries.len().min(32)];
                a.array.zero();
                a.iovecs.zero();
                let shift = usize::from(shift % 64);
                let slots = a.iocbs.len / IOCB_SIZE;
                let mut written = Vec::new(); // (address, owed if accepted)
                for (i, spec) in specs.iter().enumerate() {
                    let addr = (a.iocbs.start
                        + ((usize::from(base) + i) % slots) * IOCB_SIZE
                        + shift) as u64;
                    let owed = self.write_iocb(addr, spec);
                    written.push((addr, owed));
                }
                // The array: each entry's pointer, and whether the kernel may accept it.
                let array_addr = array.addr(&a.array);
                let mut acceptable = Vec::new();
                for (i, entry) in entries.iter().enumerate() {
                    let (ptr, owed) = match *entry {
                        Entry::Spec(k) if !written.is_empty() => {
                            let (addr, owed) = written[usize::from(k) % written.len()];
                            let whole = a.iocbs.holds(addr, IOCB_SIZE);
                            (addr, whole.then_some(owed))
                        }
                        Entry::Spec(_) | Entry::Null => (0, None),
                        Entry::Wild(w) => (w.addr(), None),
                        Entry::Straddle(k) => {
                            ((a.iocbs.end() - 1 - usize::from(k % 63)) as u64, None)
                        }
                        Entry::Guard(k) => (Place::InGuard(k).addr(&a.iocbs), None),
                    };
                    let slot = array_addr.wrapping_add(8 * i as u64);
                    if a.array.holds(slot, 8) {
                        put(slot, ptr);
                        acceptable.push(owed);
                    } else {
                        acceptable.push(None); // the kernel cannot read this pointer
                    }
                }
                let n: c_long = match nr {
                    Count::Natural => entries.len() as c_long,
                    Count::Small(k) => c_long::from(k),
                    Count::Any(k) => k as c_long,
                };
                // SAFETY: every pointer the kernel may accept is a complete iocb in the
                // arena whose buffers are in the data region (or unmapped); the arena
                // outlives every request (they are all reaped or the context destroyed).
                let r = unsafe {
                    exports::io_submit(handle as _, n, array_addr as usize as *mut *mut iocb)
                };
                let Some(which) = which else {
                    assert_eq!(r, -EINVAL, "io_submit on a dead context {handle:#x}");
                    return;
                };
                if n < 0 {
                    assert_eq!(r, -EINVAL, "io_submit(nr = {n})");
                } else if n == 0 {
                    assert_eq!(r, 0, "io_submit(nr = 0)");
                } else if r > 0 {
                    assert!((r as c_long) <= n, "io_submit accepted {r} of {n}");
                    for (i, owed) in acceptable.iter().take(r as usize).enumerate() {
                        let Some(owed) = owed else {
                            panic!(
                                "io_submit accepted entry {i} ({:?}), which it cannot read",
                                entries.get(i)
                            );
                        };
                        self.ctx_mut(which).owed.push(*owed);
                    }
                } else {
                    assert!(
                        is_errno(r, SUBMIT_ERRNOS),
                        "io_submit returned {r} (entries {acceptable:?})"
                    );
                }
            }
            Action::GetEvents {
                ctx,
                call,
                min_nr,
                nr,
                events,
                timeout,
            } => {
                let (handle, which) = self.ctx(ctx);
                let owed = which.map_or(0, |w| self.ctx_mut(w).owed.len());
                let mut nr: c_long = match nr {
                    Count::Natural => owed as c_long,
                    Count::Small(k) => c_long::from(k),
                    Count::Any(k) => k as c_long,
                };
                let max_room = (a.out.len / EVENT_SIZE) as c_long;
                if nr > max_room && owed as c_long > max_room {
                    nr = max_room; // the out region holds 128 events
                }
                let min_nr: c_long = match call {
                    GetCall::GetEventsOld => 1,
                    _ => c_long::from(min_nr),
                };
                // Room the call may write: at most what is owed, at most nr.
                let need = if nr > 0 { (nr as usize).min(owed) } else { 0 };
                let out = a.out;
                out.zero();
                let mut events_addr = events.addr(&out);
                if need > 0 && events_addr != 0 && !out.holds(events_addr, need * EVENT_SIZE) {
                    // The C contract: room for the events it may return.
                    let off = match events {
                        Place::At(o) => o,
                        _ => 0,
                    };
                    events_addr = out.inside(off, need * EVENT_SIZE);
                }
                // Whether librawaio may read the timeout itself (it serves the call from
                // the ring): then it must be readable, as libaio requires.
                let user_space = which.is_some()
                    && nr > 0
                    && min_nr >= 0
                    && min_nr <= nr
                    && events_addr != 0
                    && events_addr % 8 == 0;
                let may_wait = which.is_some() && min_nr > 0 && min_nr <= nr;
                // The mask first: the timeout, written after it, wins where they overlap
                // (a mask's bits must never turn into a long timeout).
                let sigmask = match call {
                    GetCall::PGetEvents { sigmask, bits } => {
                        let addr = sigmask.addr(&out);
                        if out.holds(addr, 8) {
                            // Never block what libFuzzer needs to stop a run.
                            put(addr, bits & !((1 << 13) | (1 << 5) | (1 << 10)));
                        }
                        Some(addr)
                    }
                    _ => None,
                };
                let ts_addr = self.timeout(timeout, user_space, may_wait);
                let before = snapshot(&out);
                // SAFETY: `events` has room for every event the call may write (or is
                // null/unmapped when none may be written: nothing is owed, nr <= 0, or
                // the context is dead); the timeout is readable where the library reads it.
                let r = unsafe {
                    let ev = events_addr as usize as *mut io_event;
                    let ts = ts_addr as usize as *const __kernel_old_timespec;
                    match call {
                        GetCall::GetEvents => {
                            exports::io_getevents(handle as _, min_nr, nr, ev, ts)
                        }
                        GetCall::GetEventsOld => exports::io_getevents_0_1(handle as _, nr, ev, ts),
                        GetCall::PGetEvents { .. } => exports::io_pgetevents(
                            handle as _,
                            min_nr,
                            nr,
                            ev,
                            ts,
                            sigmask.unwrap() as usize as *const kernel_sigset_t,
                        ),
                    }
                };
                let Some(which) = which else {
                    assert!(
                        is_errno(r, &[EINVAL, EFAULT]),
                        "io_getevents on a dead context: {r}"
                    );
                    assert_eq!(before, snapshot(&out), "io_getevents wrote on failure");
                    return;
                };
                // A signal (libFuzzer's watchdog alarm) may interrupt a wait: -EINTR,
                // nothing reaped.
                if r == -EINTR && may_wait {
                    assert_eq!(before, snapshot(&out), "io_getevents wrote on EINTR");
                    return;
                }
                if r < 0 {
                    assert!(is_errno(r, &[EINVAL, EFAULT]), "io_getevents returned {r}");
                    // The kernel reads the timeout and the mask before it checks the
                    // counts.
                    let ts_ok = ts_addr == 0 || out.holds(ts_addr, 16);
                    let mask_ok = sigmask.is_none_or(|m| m == 0 || out.holds(m, 8));
                    if (min_nr < 0 || min_nr > nr) && ts_ok && mask_ok {
                        assert_eq!(r, -EINVAL, "io_getevents with min_nr {min_nr}, nr {nr}");
                    }
                    assert_eq!(before, snapshot(&out), "io_getevents wrote on failure");
                    return;
                }
                let r = r as usize;
                assert!(
                    r as c_long <= nr.max(0) && r <= owed,
                    "{r} events of {owed} owed, nr {nr}"
                );
                // Nothing but the returned events was written.
                let after = snapshot(&out);
                let first = (events_addr as usize).wrapping_sub(out.start);
                for (i, (b, c)) in before.iter().zip(&after).enumerate() {
                    let inside = r > 0 && i >= first && i < first + r * EVENT_SIZE;
                    assert!(
                        inside || b == c,
                        "io_getevents wrote byte {i} of the out region"
                    );
                }
                for i in 0..r {
                    let ev: io_event = get(events_addr + (i * EVENT_SIZE) as u64);
                    self.complete(which, ev);
                }
            }
            Action::QueueRun { ctx } => {
                if !self.callbacks {
                    return;
                }
                let (handle, which) = self.ctx(ctx);
                CALLS.with(|c| c.borrow_mut().clear());
                // SAFETY: every owed request's data is `callback`.
                let r = unsafe { exports::io_queue_run(handle as _) };
                let calls = CALLS.with(|c| std::mem::take(&mut *c.borrow_mut()));
                let Some(which) = which else {
                    assert_eq!(r, -EINVAL, "io_queue_run on a dead context");
                    assert!(calls.is_empty());
                    return;
                };
                assert_eq!(r, 0, "io_queue_run on a live context");
                for (c, obj, res, res2) in calls {
                    assert_eq!(c, handle, "the callback's context");
                    let data = callback_addr();
                    self.complete(
                        which,
                        io_event {
                            data,
                            obj,
                            res,
                            res2,
                        },
                    );
                }
            }
            Action::QueueWait { ctx, timeout, old } => {
                let (handle, which) = self.ctx(ctx);
                // The library never reads this timeout (nr is 0): the kernel does.
                let ts = self.timeout(timeout, false, false);
                // SAFETY: no event is written; the kernel validates the timeout.
                let r = unsafe {
                    let ts = ts as usize as *const __kernel_old_timespec;
                    if old {
                        exports::io_queue_wait_0_1(handle as _, ts)
                    } else {
                        exports::io_queue_wait(handle as _, ts)
                    }
                };
                if which.is_some() {
                    assert!(r == 0 || r == -EFAULT, "io_queue_wait: {r}");
                } else {
                    assert!(
                        is_errno(r, &[EINVAL, EFAULT]),
                        "io_queue_wait on a dead context: {r}"
                    );
                }
            }
            Action::Cancel {
                ctx,
                target,
                evt,
                fix_key,
                old,
            } => {
                let (handle, which) = self.ctx(ctx);
                let owed: Vec<Owed> = which.map_or(Vec::new(), |w| self.ctx_mut(w).owed.clone());
                let iocb_addr = match target {
                    CancelTarget::Owed(k) if !owed.is_empty() => {
                        owed[usize::from(k) % owed.len()].obj
                    }
                    CancelTarget::Owed(_) => 0,
                    CancelTarget::Slot(s, shift) => {
                        let slots = a.iocbs.len / IOCB_SIZE;
                        (a.iocbs.start
                            + usize::from(s) % slots * IOCB_SIZE
                            + usize::from(shift % 64)) as u64
                    }
                    CancelTarget::Bad(Entry::Spec(_) | Entry::Null) => 0,
                    CancelTarget::Bad(Entry::Wild(w)) => w.addr(),
                    CancelTarget::Bad(Entry::Straddle(k)) => {
                        (a.iocbs.end() - 1 - usize::from(k % 63)) as u64
                    }
                    CancelTarget::Bad(Entry::Guard(k)) => Place::InGuard(k).addr(&a.iocbs),
                };
                if fix_key && a.iocbs.holds(iocb_addr, IOCB_SIZE) {
                    let mut cb: iocb = get(iocb_addr);
                    cb.aio_key = 0;
                    put(iocb_addr, cb);
                }
                let evt_addr = evt.addr(&a.out);
                // SAFETY: both pointers are only handed to the kernel, which checks them.
                let r = unsafe {
                    let cb = iocb_addr as usize as *mut iocb;
                    if old {
                        exports::io_cancel_0_1(handle as _, cb)
                    } else {
                        exports::io_cancel(handle as _, cb, evt_addr as usize as *mut io_event)
                    }
                };
                assert!(
                    is_errno(r, &[EINPROGRESS, EINVAL, EFAULT]),
                    "io_cancel returned {r}"
                );
                if r == -EINPROGRESS {
                    // Only a poll owed on this context can be cancelled; its event comes.
                    assert!(
                        which.is_some()
                            && owed
                                .iter()
                                .any(|o| o.obj == iocb_addr && o.opcode == IOCB_CMD_POLL),
                        "io_cancel cancelled {iocb_addr:#x}, not an owed poll: {owed:?}"
                    );
                }
            }
            Action::Setup {
                maxevents,
                ctxp,
                prefill,
                queue_init,
                key,
            } => {
                let out = a.out;
                out.zero();
                let mut maxevents = maxevents.value();
                let mut addr = ctxp.addr(&out);
                if queue_init && !out.holds(addr, 8) {
                    // io_queue_init writes the handle itself (so does libaio): it must be
                    // writable or null.
                    addr = 0;
                }
                if out.holds(addr, 8) && prefill && !queue_init {
                    put(addr, 0x5a5a_u64); // a non-zero handle: EINVAL
                }
                let would_create = maxevents > 0 && out.holds(addr, 8) && (queue_init || !prefill);
                let allowed = key == 0x5e && !self.expensive_done && self.extra.is_none();
                if would_create && !allowed {
                    maxevents = 0;
                }
                // SAFETY: `addr` is null, unmapped, or 8 bytes of the out region (at any
                // alignment); for io_queue_init it is null or in the out region.
                let r = unsafe {
                    let p = addr as usize as *mut exports::IoContext;
                    if queue_init {
                        exports::io_queue_init(maxevents, p)
                    } else {
                        exports::io_setup(maxevents, p)
                    }
                };
                if r == 0 {
                    assert!(
                        would_create && allowed,
                        "io_setup({maxevents}, {addr:#x}) succeeded"
                    );
                    let handle: u64 = get(addr);
                    assert_ne!(handle, 0);
                    self.expensive_done = true;
                    self.extra = Some(Ctx {
                        handle,
                        owed: Vec::new(),
                    });
                } else {
                    assert!(
                        is_errno(r, &[EINVAL, EFAULT, EAGAIN]),
                        "io_setup returned {r}"
                    );
                    if maxevents <= 0 && queue_init {
                        assert_eq!(r, -EINVAL);
                    }
                }
            }
            Action::Destroy { ctx, release, key } => {
                let (handle, which) = self.ctx(ctx);
                if which == Some(0) && (key != 0xd7 || self.expensive_done) {
                    return;
                }
                // SAFETY: destroying waits for the context's requests; the arena stays.
                let r = unsafe {
                    if release {
                        exports::io_queue_release(handle as _)
                    } else {
                        exports::io_destroy(handle as _)
                    }
                };
                match which {
                    None => assert_eq!(r, -EINVAL, "io_destroy of a dead context"),
                    Some(w) => {
                        assert_eq!(r, 0, "io_destroy of a live context");
                        self.stale = handle;
                        if w == 0 {
                            self.expensive_done = true;
                            self.main.owed.clear();
                            self.main.handle = new_main();
                        } else {
                            self.extra = None;
                        }
                    }
                }
            }
            Action::Scribble {
                region,
                offset,
                bytes,
            } => {
                let r = match region % 4 {
                    0 => a.iocbs,
                    1 => a.array,
                    2 => a.iovecs,
                    _ => a.data,
                };
                let bytes = &bytes[..bytes.len().min(256)];
                let start = r.inside(offset, bytes.len());
                for (i, b) in bytes.iter().enumerate() {
                    put(start + i as u64, *b);
                }
            }
        }
    }

    /// Writes the iocb `spec` asks for at `addr` (its part inside the iocb region) and
    /// returns what is owed if the kernel accepts it.
    fn write_iocb(&self, addr: u64, spec: &IocbSpec) -> Owed {
        let a = arena();
        let opcode = spec.opcode.code();
        let vectored = matches!(spec.opcode, Opcode::Preadv | Opcode::Pwritev);
        let (buf, nbytes) = match spec.opcode {
            Opcode::Poll => (u64::from(spec.poll_events), spec.nbytes.value()),
            _ if vectored => {
                let at = spec.buf.addr(&a.iovecs);
                for (i, (place, len)) in spec.iovs.iter().take(8).enumerate() {
                    let slot = at.wrapping_add(16 * i as u64);
                    if a.iovecs.holds(slot, 16) {
                        put(slot, [place.addr(&a.data), len.value()]);
                    }
                }
                let count = spec.count.map_or(spec.iovs.len().min(8) as u64, u64::from);
                (at, count)
            }
            _ => (spec.buf.addr(&a.data), spec.nbytes.value()),
        };
        let rw_flags = match spec.rwf {
            Rwf::None => 0,
            Rwf::Known(b) => i32::from(b & 0x1ff),
            Rwf::Any(b) => b as i32,
        };
        let data = if self.callbacks {
            callback_addr()
        } else {
            spec.data
        };
        let cb = iocb {
            aio_data: data,
            aio_key: spec.key,
            aio_rw_flags: rw_flags,
            aio_lio_opcode: opcode,
            aio_reqprio: spec.reqprio,
            aio_fildes: spec.fd.raw(),
            aio_buf: buf,
            aio_nbytes: nbytes,
            aio_offset: spec.offset.value(),
            aio_reserved2: u64::from(spec.reserved2),
            aio_flags: u32::from(spec.flags & 3) | (u32::from(spec.flags & 0xfc) << 8),
            aio_resfd: spec.resfd.raw(),
        };
        // SAFETY: `iocb` is 64 bytes of integers without padding (asserted by rawaio-abi).
        let bytes: [u8; IOCB_SIZE] = unsafe { std::mem::transmute(cb) };
        for (i, b) in bytes.iter().enumerate() {
            let p = addr + i as u64;
            if a.iocbs.holds(p, 1) {
                put(p, *b);
            }
        }
        Owed {
            obj: addr,
            data,
            opcode,
            max_res: if vectored {
                i64::MAX
            } else {
                i64::try_from(nbytes).unwrap_or(i64::MAX)
            },
        }
    }

    /// Places a timeout in the out region and returns its address. `readable`: the
    /// library may read it, so it must be readable; `may_wait`: the call may wait, so it
    /// must be bounded.
    fn timeout(&self, t: Timeout, readable: bool, may_wait: bool) -> u64 {
        let out = arena().out;
        let t = match t {
            Timeout::Null | Timeout::Negative | Timeout::BadNsec if may_wait => Timeout::Zero,
            Timeout::Unreadable(_) if readable => Timeout::Zero,
            t => t,
        };
        let value = match t {
            Timeout::Null => return 0,
            Timeout::Unreadable(p) => {
                let addr = p.addr(&out);
                // Never null (that would be "wait for ever"), never readable.
                return if addr == 0 || out.holds(addr, 16) {
                    Place::NearEnd(7).addr(&out)
                } else {
                    addr
                };
            }
            Timeout::Zero => __kernel_old_timespec::default(),
            Timeout::Micros(us) => __kernel_old_timespec {
                tv_sec: 0,
                tv_nsec: (us % 1000) as isize * 1000,
            },
            Timeout::Negative => __kernel_old_timespec {
                tv_sec: -1,
                tv_nsec: 0,
            },
            Timeout::BadNsec => __kernel_old_timespec {
                tv_sec: 0,
                tv_nsec: 2_000_000_000,
            },
        };
        // After the events' room (which starts low in the region) as far as possible.
        let addr = (out.end() - 16) as u64;
        put(addr, value);
        addr
    }

    /// Reaps everything owed on `which` (cancelling what will not complete by itself).
    fn drain(&mut self, which: usize) {
        let start = Instant::now();
        let handle = self.ctx_mut(which).handle;
        let mut events = vec![io_event::default(); 64];
        let ms = __kernel_old_timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        while !self.ctx_mut(which).owed.is_empty() {
            // SAFETY: room for 64 events, a readable timeout.
            let r = unsafe { exports::io_getevents(handle as _, 1, 64, events.as_mut_ptr(), &ms) };
            if r == -EINTR {
                continue; // libFuzzer's watchdog alarm
            }
            assert!(r >= 0, "io_getevents while draining: {r}");
            for ev in &events[..r as usize] {
                self.complete(which, *ev);
            }
            if r == 0 {
                let objs: Vec<u64> = self.ctx_mut(which).owed.iter().map(|o| o.obj).collect();
                for obj in objs {
                    let mut cb: iocb = get(obj);
                    cb.aio_key = 0;
                    put(obj, cb);
                    let mut ev = io_event::default();
                    // SAFETY: an iocb in the arena and an event of our own.
                    let r = unsafe {
                        exports::io_cancel(handle as _, obj as usize as *mut iocb, &mut ev)
                    };
                    assert!(
                        r == -EINPROGRESS || r == -EINVAL,
                        "io_cancel while draining: {r}"
                    );
                }
            }
            assert!(
                start.elapsed() < LOST_AFTER,
                "lost completions: {:?}",
                self.ctx_mut(which).owed
            );
        }
        // Nothing more comes.
        let zero = __kernel_old_timespec::default();
        // SAFETY: as above.
        let r = unsafe { exports::io_getevents(handle as _, 0, 64, events.as_mut_ptr(), &zero) };
        assert_eq!(
            r,
            0,
            "completions nobody owed: {:?}",
            &events[..r.max(0) as usize]
        );
    }

    fn finish(mut self) {
        self.drain(0);
        if self.extra.is_some() {
            self.drain(1);
            let extra = self.extra.take().unwrap();
            // SAFETY: nothing is in flight on it.
            assert_eq!(unsafe { exports::io_destroy(extra.handle as _) }, 0);
        }
        MAIN.with(|m| *m.borrow_mut() = self.main.handle);
        let f = files();
        drain_fd(&f.pipe_r);
        drain_fd(&f.efd);
        f.file.set_len(0).expect("truncate");
    }
}

fn snapshot(r: &Region) -> Vec<u8> {
    // SAFETY: the region is mapped read-write; no request writes it during this call
    // (the kernel writes the out region only inside io_getevents and io_setup).
    unsafe { std::slice::from_raw_parts(r.start as *const u8, r.len) }.to_vec()
}

fuzz_target!(|input: Input| {
    let a = arena();
    for r in [a.iocbs, a.array, a.iovecs, a.out, a.data] {
        r.zero();
    }
    let mut handle = MAIN.with(|m| *m.borrow());
    if handle == 0 {
        handle = new_main();
    }
    let mut model = Model {
        callbacks: input.callbacks,
        main: Ctx {
            handle,
            owed: Vec::new(),
        },
        extra: None,
        stale: 0,
        expensive_done: false,
    };
    for action in input.actions.into_iter().take(48) {
        model.step(action);
    }
    model.finish();
});
