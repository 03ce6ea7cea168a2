//! Seccomp sandboxes for the tests: filters built with a well-kept crate, installed in a
//! child process (the test binary run again), and an allocator that makes no system call.
//!
//! - [`Filter::allow_only`]: an allow-list; any other call stops the process with
//!   `SIGSYS`, after [`confined`]'s handler has printed which call it was.
//! - [`Filter::deny`]: the listed calls answer an errno; everything else runs.
//! - [`in_child`]: a test runs itself again as a child process and judges it, so a filter
//!   never reaches the test harness.
//! - [`Arena`]: the global allocator of every binary that includes this module. It hands
//!   out memory from one static block and never gives it back, so allocating and freeing
//!   make no system call: an allow-list needs no `mmap`, `munmap`, `madvise` or `brk`, and
//!   a call of those under it is rawaio's own.
//!
//! Filters come from `seccompiler` (rust-vmm's; what cloud-hypervisor and Firecracker
//! build their filters with) on x86_64, aarch64 and riscv64, and from `libseccomp` on the
//! targets seccompiler does not know (x86, arm, s390x, powerpc64), where the build sets
//! `--cfg rawaio_libseccomp` and links the library. Either way the program is installed
//! with `prctl(PR_SET_NO_NEW_PRIVS)` and `seccomp(SECCOMP_SET_MODE_FILTER)` on the calling
//! thread only.

#![allow(dead_code)]
#![allow(unsafe_code)]
// `c_long` (the type of `libc::SYS_*`) is i64 on 64-bit targets and i32 on 32-bit ones.
#![allow(clippy::useless_conversion)]

use rawaio::syscalls::Syscall;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::io;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Whether this target can build filters (see the module's docs).
pub const CAN_FILTER: bool = cfg!(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    rawaio_libseccomp
));

// ---------------------------------------------------------------------------------------
// The allocator

/// Bytes in the static block.
const ARENA: usize = 128 << 20;

/// A bump allocator over one static block (never freed), falling back to the system
/// allocator when the block is used up.
pub struct Arena {
    block: UnsafeCell<[u8; ARENA]>,
    used: AtomicUsize,
}

// SAFETY: every byte of the block is handed out at most once (the bump index only grows,
// by compare-and-swap), so no two allocations overlap.
unsafe impl Sync for Arena {}

#[global_allocator]
static ALLOCATOR: Arena = Arena {
    block: UnsafeCell::new([0; ARENA]),
    used: AtomicUsize::new(0),
};

impl Arena {
    fn contains(&self, ptr: *mut u8) -> bool {
        let start = self.block.get() as usize;
        (start..start + ARENA).contains(&(ptr as usize))
    }
}

// SAFETY: `alloc` returns a block of the layout's size and alignment that no other
// allocation overlaps (or the system allocator's); `dealloc` hands the system's blocks
// back to it and keeps the arena's.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let start = self.block.get() as usize;
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let at = (start + used).next_multiple_of(layout.align());
            let end = at + layout.size();
            if end > start + ARENA {
                // SAFETY: the caller's layout, passed on.
                return unsafe { System.alloc(layout) };
            }
            match self.used.compare_exchange_weak(
                used,
                end - start,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return at as *mut u8,
                Err(now) => used = now,
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.contains(ptr) {
            // SAFETY: not the arena's, so the system allocator's, with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Filters

/// A compiled seccomp program.
pub struct Filter {
    program: Vec<libc::sock_filter>,
}

/// What a filter does with a call.
#[derive(Clone, Copy, Debug)]
enum Action {
    Allow,
    Errno(i32),
    Trap,
}

impl Filter {
    /// Allows exactly `numbers`; any other call raises `SIGSYS`.
    pub fn allow_only(numbers: &[i64]) -> Self {
        Self {
            program: build(numbers, Action::Allow, Action::Trap),
        }
    }

    /// Answers `numbers` with `-errno`; allows everything else.
    pub fn deny(numbers: &[i64], errno: i32) -> Self {
        Self {
            program: build(numbers, Action::Errno(errno), Action::Allow),
        }
    }

    /// Installs the filter on the calling thread (and the threads it starts later).
    pub fn install(&self) -> io::Result<()> {
        // SAFETY: plain prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points to the program, which the kernel copies.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
fn build(numbers: &[i64], matched: Action, otherwise: Action) -> Vec<libc::sock_filter> {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    let action = |a| match a {
        Action::Allow => SeccompAction::Allow,
        Action::Errno(e) => SeccompAction::Errno(e as u32),
        Action::Trap => SeccompAction::Trap,
    };
    let rules = numbers.iter().map(|&n| (n, Vec::new())).collect();
    let arch = TargetArch::try_from(std::env::consts::ARCH).expect("a seccompiler target");
    let filter = SeccompFilter::new(rules, action(otherwise), action(matched), arch)
        .expect("a valid filter");
    let program: BpfProgram = filter.try_into().expect("a BPF program");
    program
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

#[cfg(all(
    rawaio_libseccomp,
    not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    ))
))]
fn build(numbers: &[i64], matched: Action, otherwise: Action) -> Vec<libc::sock_filter> {
    use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
    use std::io::Read;
    let action = |a| match a {
        Action::Allow => ScmpAction::Allow,
        Action::Errno(e) => ScmpAction::Errno(e),
        Action::Trap => ScmpAction::Trap,
    };
    let mut ctx = ScmpFilterContext::new(action(otherwise)).expect("seccomp_init");
    for &n in numbers {
        ctx.add_rule(action(matched), ScmpSyscall::from(n as i32))
            .expect("seccomp_rule_add");
    }
    // Exported and installed by hand: libseccomp's own `load` frees memory with the C
    // library's allocator after the filter is in place.
    let (r, w) = rustix::pipe::pipe().expect("pipe");
    ctx.export_bpf(&w).expect("seccomp_export_bpf");
    drop(w);
    let mut bytes = Vec::new();
    std::fs::File::from(r)
        .read_to_end(&mut bytes)
        .expect("reading the program");
    bytes
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    rawaio_libseccomp
)))]
fn build(_: &[i64], _: Action, _: Action) -> Vec<libc::sock_filter> {
    unreachable!("CAN_FILTER is false: in_child skips before building a filter")
}

// ---------------------------------------------------------------------------------------
// System call numbers

/// `clock_gettime64`: 403 on every 32-bit architecture (the time64 calls share their
/// numbers there); the libc crate has no constant for it on x86 and arm.
#[cfg(target_pointer_width = "32")]
const SYS_CLOCK_GETTIME64: i64 = 403;

/// The number of the call named `name` on this target, if it has one.
pub fn number_of(name: &str) -> Option<i64> {
    let n: libc::c_long = match name {
        "read" => libc::SYS_read,
        "write" => libc::SYS_write,
        "close" => libc::SYS_close,
        "openat" => libc::SYS_openat,
        "unlinkat" => libc::SYS_unlinkat,
        "eventfd2" => libc::SYS_eventfd2,
        "madvise" => libc::SYS_madvise,
        "munmap" => libc::SYS_munmap,
        "futex" => libc::SYS_futex,
        "sched_yield" => libc::SYS_sched_yield,
        "statx" => libc::SYS_statx,
        "ioctl" => libc::SYS_ioctl,
        "exit" => libc::SYS_exit,
        "exit_group" => libc::SYS_exit_group,
        "brk" => libc::SYS_brk,
        "mremap" => libc::SYS_mremap,
        "io_uring_setup" => libc::SYS_io_uring_setup,
        "io_uring_enter" => libc::SYS_io_uring_enter,
        "io_uring_register" => libc::SYS_io_uring_register,
        "rt_sigprocmask" => libc::SYS_rt_sigprocmask,
        "sched_getaffinity" => libc::SYS_sched_getaffinity,
        "getrandom" => libc::SYS_getrandom,
        "clock_gettime" => libc::SYS_clock_gettime,
        #[cfg(target_pointer_width = "64")]
        "mmap" => libc::SYS_mmap,
        #[cfg(target_pointer_width = "64")]
        "fcntl" => libc::SYS_fcntl,
        #[cfg(target_pointer_width = "64")]
        "fstat" => libc::SYS_fstat,
        #[cfg(target_pointer_width = "64")]
        "newfstatat" => libc::SYS_newfstatat,
        #[cfg(target_pointer_width = "64")]
        "fstatfs" => libc::SYS_fstatfs,
        #[cfg(target_pointer_width = "32")]
        "fstat64" => libc::SYS_fstat64,
        #[cfg(target_pointer_width = "32")]
        "fstatat64" => libc::SYS_fstatat64,
        #[cfg(target_pointer_width = "32")]
        "fstatfs64" => libc::SYS_fstatfs64,
        "clone" => libc::SYS_clone,
        "clone3" => libc::SYS_clone3,
        #[cfg(target_pointer_width = "32")]
        "mmap2" => libc::SYS_mmap2,
        #[cfg(target_pointer_width = "32")]
        "fcntl64" => libc::SYS_fcntl64,
        #[cfg(target_pointer_width = "32")]
        "clock_gettime64" => SYS_CLOCK_GETTIME64 as libc::c_long,
        _ => {
            return Syscall::ALL
                .iter()
                .find(|s| s.target_names() == [name])
                .and_then(|s| s.number())
                .map(i64::from);
        }
    };
    Some(i64::from(n))
}

/// The numbers of `call` on this target (a call may have several names, see
/// [`Syscall::target_names`]).
pub fn numbers(call: Syscall) -> Vec<i64> {
    call.target_names()
        .iter()
        .map(|name| number_of(name).unwrap_or_else(|| panic!("no number for {name}")))
        .collect()
}

/// The name of the call numbered `nr`, among those this module knows.
fn name_of(nr: i64) -> &'static str {
    const KNOWN: &[&str] = &[
        "read",
        "write",
        "close",
        "openat",
        "unlinkat",
        "eventfd2",
        "madvise",
        "munmap",
        "futex",
        "sched_yield",
        "statx",
        "ioctl",
        "exit",
        "exit_group",
        "brk",
        "mremap",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "rt_sigprocmask",
        "sched_getaffinity",
        "getrandom",
        "clock_gettime",
        "mmap",
        "fcntl",
        "mmap2",
        "fcntl64",
        "clock_gettime64",
        "io_setup",
        "io_destroy",
        "io_submit",
        "io_cancel",
        "io_getevents",
        "io_pgetevents",
        "io_pgetevents_time64",
    ];
    KNOWN
        .iter()
        .find(|n| number_of(n) == Some(nr))
        .copied()
        .unwrap_or("not one rawaio lists")
}

// ---------------------------------------------------------------------------------------
// The child process

/// The environment variable that tells a test binary it is a child, and which test.
const CHILD: &str = "RAWAIO_SANDBOX_CHILD";
/// The line a child prints when its confined work succeeded.
const OK: &str = "@@sandbox ok";
/// The line prefix a child prints when the kernel cannot install a filter.
const SKIP: &str = "@@sandbox skip";
/// How long a child may take.
const CHILD_TIMEOUT: Duration = Duration::from_secs(150);

/// Runs the test named `test` (its path in the binary) again as a child process, in which
/// `child` runs; returns in the parent once the child passed. Skips, saying why, where
/// no filter can be built or installed.
pub fn in_child(test: &str, child: impl FnOnce()) {
    if std::env::var(CHILD).as_deref() == Ok(test) {
        child();
        say(&format!("{OK}\n"));
        return;
    }
    if !CAN_FILTER {
        println!(
            "skipped: no seccomp filter builder for {} in this build (seccompiler knows \
             x86_64, aarch64 and riscv64; elsewhere build with --cfg rawaio_libseccomp)",
            std::env::consts::ARCH
        );
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the child");
    let deadline = Instant::now() + CHILD_TIMEOUT;
    while child.try_wait().expect("waiting for the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("the child's output");
            panic!(
                "{test}: the child hung for {CHILD_TIMEOUT:?}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("the child's output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(reason) = stdout.lines().find_map(|l| l.strip_prefix(SKIP)) {
        println!("skipped:{reason}");
        return;
    }
    assert!(
        out.status.success() && stdout.lines().any(|l| l == OK),
        "{test}: the child failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    print!("{stdout}");
}

/// Writes `text` to standard output with one `write`, past any buffer.
pub fn say(text: &str) {
    // SAFETY: a valid buffer of that length.
    unsafe { libc::write(1, text.as_ptr().cast(), text.len()) };
}

/// Installs `filter` on this thread, or (in a child) reports that the kernel cannot and
/// exits 0, which the parent reads as a skip.
pub fn install_or_skip(filter: &Filter) {
    if let Err(e) = filter.install() {
        let reason = match e.raw_os_error() {
            Some(libc::EINVAL | libc::ENOSYS) => "the kernel has no seccomp filters",
            Some(libc::EACCES | libc::EPERM) => "seccomp filters are not allowed here",
            _ => panic!("installing the seccomp filter: {e}"),
        };
        say(&format!("{SKIP} {reason} ({e})\n"));
        // SAFETY: ends the process at once, as the parent expects.
        unsafe { libc::_exit(0) };
    }
}

/// The `siginfo_t` of a `SIGSYS` from seccomp (`struct siginfo` with its `_sigsys`
/// member): three ints, then the union, aligned for a pointer.
#[repr(C)]
struct SigsysInfo {
    signo: c_int,
    errno: c_int,
    code: c_int,
    call_addr: *mut c_void,
    syscall: c_int,
    arch: u32,
}

/// Exit status of a child stopped by a call its filter denies.
pub const DENIED: i32 = 86;

extern "C" fn on_sigsys(_: c_int, info: *mut libc::siginfo_t, _: *mut c_void) {
    // SAFETY: the kernel passes a siginfo for SIGSYS with SA_SIGINFO.
    let nr = unsafe { (*(info as *const SigsysInfo)).syscall };
    let mut line = [0u8; 160];
    let mut len = 0;
    let mut push = |s: &[u8]| {
        let n = s.len().min(line.len() - len);
        line[len..len + n].copy_from_slice(&s[..n]);
        len += n;
    };
    push(b"@@sandbox denied: system call ");
    let mut digits = [0u8; 12];
    let mut i = digits.len();
    let mut v = nr.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    push(&digits[i..]);
    push(b" (");
    push(name_of(i64::from(nr)).as_bytes());
    push(b") is outside the allow-list\n");
    // SAFETY: writing a stack buffer to stderr: on every allow-list, and no allocation.
    unsafe { libc::write(2, line.as_ptr().cast(), len) };
    exit_group(DENIED)
}

/// Runs `work(state)` on a new thread under the allow-list `filter` and ends the child
/// process: exit 0 after printing the OK line if `work` returned, [`DENIED`] (after
/// naming the call) if it made a call outside the list, 101 if it panicked. The calls
/// the harness itself needs under the filter are `write` (the report) and `exit_group`.
pub fn confined<S: Send + 'static>(
    state: S,
    filter: Filter,
    work: impl FnOnce(S) + Send + 'static,
) -> ! {
    // SAFETY: a handler that only writes and exits, installed before any filter.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigsys as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()),
            0
        );
    }
    let worker = std::thread::spawn(move || {
        install_or_skip(&filter);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(state)));
        match outcome {
            Ok(()) => {
                say(&format!("{OK}\n"));
                exit_group(0)
            }
            // The panic message is already on stderr.
            Err(_) => exit_group(101),
        }
    });
    let _ = worker.join();
    // The worker never returns; this is reached only if it was killed.
    exit_group(102)
}

/// Ends the process with `exit_group(code)`, made directly: not through code that might
/// make calls the filter denies (a thread's exit unmaps its stack, `_exit` runs exit
/// hooks of sanitizers and libc).
fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group takes a status and does not return.
    unsafe { libc::syscall(libc::SYS_exit_group, libc::c_long::from(code)) };
    unreachable!("exit_group returned")
}

/// The allow-list numbers of `calls`, plus the harness's `exit_group` and `write`, and,
/// in a build under AddressSanitizer (`.ci/asan.sh` sets `--cfg rawaio_asan`), the
/// `sigaltstack` query ASan makes before every call that does not return (its
/// `PlatformUnpoisonStacks`): the harness's exit is one, so is a panic.
pub fn allow_numbers(calls: &[Syscall]) -> Vec<i64> {
    let mut out: Vec<i64> = calls.iter().flat_map(|&c| numbers(c)).collect();
    out.push(i64::from(libc::SYS_exit_group));
    out.push(i64::from(libc::SYS_write));
    if cfg!(rawaio_asan) {
        out.push(i64::from(libc::SYS_sigaltstack));
    }
    out.sort_unstable();
    out.dedup();
    out
}
