//! The system calls each public entry point can make, as data: what a sandbox (a VMM's
//! seccomp allow-list, a container profile) must allow for the parts of rawaio and of the
//! C library (`capi/`, librawaio) it uses.
//!
//! [`RUST`] and [`C`] list every public entry point with the calls it can make and when
//! ([`When`]). [`allow_list`] turns entry-point names into the set of calls to allow on
//! the target being built; [`COMMON_PATH`] names the entry points of an I/O thread's
//! loop (submit, reap with or without a timeout, eventfd notification, drop), whose
//! calls are only `io_submit`, `io_getevents` and `io_destroy`, the eventfd's `read`,
//! `write` and `close`, `futex` when threads contend for a lock, and `clock_gettime`,
//! which the vDSO answers without a system call wherever it can read the clock (and, in
//! builds with debug assertions, the `fcntl(F_GETFD)` with which std checks a descriptor
//! before closing it).
//! docs/syscalls.md shows the same tables; a test keeps the two equal, and the seccomp
//! tests (`tests/seccomp_*.rs`) run the entry points under filters built from this data.
//!
//! Not listed, because they are the program's and not rawaio's: the global allocator's
//! calls (`brk`, `mmap`, `munmap`, `madvise`, `mremap` with glibc's malloc) when an entry
//! point allocates (creating a context, growing a `Vec` it was handed), and a reactor's
//! own calls (`epoll_ctl`, `epoll_wait`) for the async layer. rawaio never uses
//! `io_uring`, and it never calls `io_pgetevents` except where a signal mask is asked
//! for ([`Context::reap_with_sigmask`](crate::Context::reap_with_sigmask), the C
//! library's `io_pgetevents`): a filter that answers it with `EPERM` or `ENOSYS` costs
//! only those, which then fail with that errno, unchanged.
//!
//! # Examples
//!
//! The calls a VMM's I/O thread must allow, with their numbers where rawaio's ABI
//! crate has them (the AIO calls; the others come from the VMM's own table, `libc::SYS_*`
//! say):
//!
//! ```
//! use rawaio::syscalls::{self, Syscall};
//!
//! let calls = syscalls::allow_list(syscalls::COMMON_PATH).expect("known entry points");
//! assert!(calls.contains(&Syscall::IoSubmit));
//! assert!(calls.contains(&Syscall::IoGetevents));
//! assert!(calls.contains(&Syscall::IoDestroy));
//! assert!(!calls.contains(&Syscall::IoPgetevents));
//! for call in &calls {
//!     match call.number() {
//!         Some(nr) => println!("{:<16} {nr}", call.name()),
//!         None => println!("{:<16} ({})", call.name(), call.target_names().join(", ")),
//!     }
//! }
//! ```

use core::fmt;
use rawaio_abi::nr::native as nr;

/// A system call (or, for [`Fstat`](Self::Fstat), a family of them), by the name of its
/// 64-bit form; [`target_names`](Self::target_names) gives the names on the target being
/// built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Syscall {
    /// `io_setup`.
    IoSetup,
    /// `io_destroy`.
    IoDestroy,
    /// `io_submit`.
    IoSubmit,
    /// `io_cancel`.
    IoCancel,
    /// `io_getevents` (on 32-bit targets the call with the 32-bit timeout).
    IoGetevents,
    /// `io_pgetevents` (on 32-bit targets the call with the 32-bit timeout).
    IoPgetevents,
    /// `io_pgetevents_time64` (32-bit targets only).
    IoPgeteventsTime64,
    /// `eventfd2`.
    Eventfd2,
    /// `read`.
    Read,
    /// `write`.
    Write,
    /// `close`.
    Close,
    /// `fcntl` (`fcntl64` on 32-bit targets).
    Fcntl,
    /// `mmap` (`mmap2` on 32-bit targets).
    Mmap,
    /// `madvise`.
    Madvise,
    /// `munmap`.
    Munmap,
    /// `futex`.
    Futex,
    /// `sched_yield`.
    SchedYield,
    /// `clock_gettime` (`clock_gettime64`, then `clock_gettime`, on 32-bit targets).
    ClockGettime,
    /// `openat`.
    Openat,
    /// `unlinkat`.
    Unlinkat,
    /// `statx`.
    Statx,
    /// The `stat` family used where `statx` is missing: `fstat` and `newfstatat`
    /// (`fstat64` and `fstatat64` on 32-bit targets).
    Fstat,
    /// `ioctl`.
    Ioctl,
    /// `fstatfs` (`fstatfs64` on 32-bit targets).
    Fstatfs,
    /// `timerfd_create`.
    TimerfdCreate,
    /// `timerfd_settime` (`timerfd_settime64` on 32-bit targets).
    TimerfdSettime,
    /// `clone3` (or `clone`): a thread starts, with the calls the C library makes for it
    /// (`mmap`, `mprotect`, `rt_sigprocmask`, `set_robust_list`, `rseq`, ...).
    Clone,
}

impl Syscall {
    /// Every call some entry point can make.
    pub const ALL: [Syscall; 27] = [
        Self::IoSetup,
        Self::IoDestroy,
        Self::IoSubmit,
        Self::IoCancel,
        Self::IoGetevents,
        Self::IoPgetevents,
        Self::IoPgeteventsTime64,
        Self::Eventfd2,
        Self::Read,
        Self::Write,
        Self::Close,
        Self::Fcntl,
        Self::Mmap,
        Self::Madvise,
        Self::Munmap,
        Self::Futex,
        Self::SchedYield,
        Self::ClockGettime,
        Self::Openat,
        Self::Unlinkat,
        Self::Statx,
        Self::Fstat,
        Self::Ioctl,
        Self::Fstatfs,
        Self::TimerfdCreate,
        Self::TimerfdSettime,
        Self::Clone,
    ];

    /// The kernel's name for the call's 64-bit form (the name the tables use).
    pub const fn name(self) -> &'static str {
        match self {
            Self::IoSetup => "io_setup",
            Self::IoDestroy => "io_destroy",
            Self::IoSubmit => "io_submit",
            Self::IoCancel => "io_cancel",
            Self::IoGetevents => "io_getevents",
            Self::IoPgetevents => "io_pgetevents",
            Self::IoPgeteventsTime64 => "io_pgetevents_time64",
            Self::Eventfd2 => "eventfd2",
            Self::Read => "read",
            Self::Write => "write",
            Self::Close => "close",
            Self::Fcntl => "fcntl",
            Self::Mmap => "mmap",
            Self::Madvise => "madvise",
            Self::Munmap => "munmap",
            Self::Futex => "futex",
            Self::SchedYield => "sched_yield",
            Self::ClockGettime => "clock_gettime",
            Self::Openat => "openat",
            Self::Unlinkat => "unlinkat",
            Self::Statx => "statx",
            Self::Fstat => "fstat",
            Self::Ioctl => "ioctl",
            Self::Fstatfs => "fstatfs",
            Self::TimerfdCreate => "timerfd_create",
            Self::TimerfdSettime => "timerfd_settime",
            Self::Clone => "clone3",
        }
    }

    /// The kernel's names for the call on the target being built: what an allow-list
    /// must hold (several for a call whose C library or fallback may use either).
    pub const fn target_names(self) -> &'static [&'static str] {
        if cfg!(target_pointer_width = "32") {
            match self {
                Self::Fcntl => return &["fcntl64"],
                Self::Mmap => return &["mmap2"],
                Self::ClockGettime => return &["clock_gettime64", "clock_gettime"],
                Self::Fstat => return &["fstat64", "fstatat64"],
                Self::Fstatfs => return &["fstatfs64"],
                Self::TimerfdSettime => return &["timerfd_settime64", "timerfd_settime"],
                _ => {}
            }
        }
        match self {
            Self::Fstat => &["fstat", "newfstatat"],
            Self::IoSetup => &["io_setup"],
            Self::IoDestroy => &["io_destroy"],
            Self::IoSubmit => &["io_submit"],
            Self::IoCancel => &["io_cancel"],
            Self::IoGetevents => &["io_getevents"],
            Self::IoPgetevents => &["io_pgetevents"],
            Self::IoPgeteventsTime64 => &["io_pgetevents_time64"],
            Self::Eventfd2 => &["eventfd2"],
            Self::Read => &["read"],
            Self::Write => &["write"],
            Self::Close => &["close"],
            Self::Fcntl => &["fcntl"],
            Self::Mmap => &["mmap"],
            Self::Madvise => &["madvise"],
            Self::Munmap => &["munmap"],
            Self::Futex => &["futex"],
            Self::SchedYield => &["sched_yield"],
            Self::ClockGettime => &["clock_gettime"],
            Self::Openat => &["openat"],
            Self::Unlinkat => &["unlinkat"],
            Self::Statx => &["statx"],
            Self::Ioctl => &["ioctl"],
            Self::Fstatfs => &["fstatfs"],
            Self::TimerfdCreate => &["timerfd_create"],
            Self::TimerfdSettime => &["timerfd_settime"],
            Self::Clone => &["clone3", "clone"],
        }
    }

    /// The call's number on the target being built, for the AIO calls
    /// ([`rawaio::abi::nr`](crate::abi::nr)); `None` for the others (take them from the
    /// C library's table, `libc::SYS_*`) and for `io_pgetevents_time64` on 64-bit
    /// targets, which have no such call.
    pub fn number(self) -> Option<u32> {
        match self {
            Self::IoSetup => Some(nr::__NR_io_setup),
            Self::IoDestroy => Some(nr::__NR_io_destroy),
            Self::IoSubmit => Some(nr::__NR_io_submit),
            Self::IoCancel => Some(nr::__NR_io_cancel),
            Self::IoGetevents => Some(nr::__NR_io_getevents),
            Self::IoPgetevents => Some(nr::__NR_io_pgetevents),
            #[cfg(target_pointer_width = "32")]
            Self::IoPgeteventsTime64 => Some(nr::__NR_io_pgetevents_time64),
            _ => None,
        }
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When an entry point makes a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum When {
    /// Whenever it does its job.
    Always,
    /// Only to wait for completions: when fewer than asked for are ready, or when the
    /// ring is not read in user space (a `fork` child, [`Options::user_space_reaping`]
    /// off, a context the C library did not create).
    ///
    /// [`Options::user_space_reaping`]: crate::Options::user_space_reaping
    ToWait,
    /// Only when another thread holds a lock it needs.
    Contended,
    /// Only with a timeout: the clock is read through the vDSO, which makes this call
    /// only where it cannot read the clock itself (some virtual machines' clock
    /// sources).
    WithTimeout,
    /// Only the first time in a process, and the first time in each `fork` child: the
    /// page that tells a `fork` child (`munmap` only when `madvise` fails or another
    /// thread was first).
    FirstInProcess,
    /// Only for a context created with an eventfd ([`Options::eventfd`]; for an
    /// [`AsyncContext`](crate::AsyncContext), every reactor's but
    /// [`Driven`](crate::reactor::Driven)'s and [`BusyPoll`](crate::reactor::BusyPoll)'s).
    ///
    /// [`Options::eventfd`]: crate::Options::eventfd
    WithEventfd,
    /// Only on a failure after a descriptor was opened, to close it.
    OnFailure,
    /// Only for `POLL` requests.
    PollRequests,
    /// Only where `statx` answers `ENOSYS` (before Linux 4.11).
    OldKernel,
    /// Only for block devices.
    BlockDevice,
    /// Only in builds with debug assertions, where std checks that a descriptor is open
    /// (`fcntl(F_GETFD)`) before it closes it.
    DebugBuild,
    /// Only on 64-bit targets.
    Only64Bit,
    /// Only on 32-bit targets.
    Only32Bit,
    /// Only for a request the kernel refused to start without blocking (`RWF_NOWAIT`),
    /// which the async layer finishes another way.
    Refused,
    /// Only for a request that owns its descriptor (`Op::read(file, ..)` with a `File`
    /// or `OwnedFd` by value), closed once the request is submitted.
    OwnedDescriptor,
    /// Only when `io_setup` answered `EAGAIN`: `/proc/sys/fs/aio-max-nr` and `aio-nr` are
    /// read to explain the spent budget.
    BudgetSpent,
}

impl When {
    /// The words the docs' table puts after the call, in parentheses (empty for
    /// [`Always`](Self::Always)).
    pub const fn label(self) -> &'static str {
        match self {
            Self::Always => "",
            Self::ToWait => "to wait",
            Self::Contended => "contended",
            Self::WithTimeout => "timeout, vDSO",
            Self::FirstInProcess => "first in process",
            Self::WithEventfd => "eventfd",
            Self::OnFailure => "on failure",
            Self::PollRequests => "POLL",
            Self::OldKernel => "before 4.11",
            Self::BlockDevice => "block device",
            Self::DebugBuild => "debug build",
            Self::Only64Bit => "64-bit",
            Self::Only32Bit => "32-bit",
            Self::OwnedDescriptor => "owned descriptor",
            Self::Refused => "refused NOWAIT",
            Self::BudgetSpent => "budget spent",
        }
    }

    /// Whether a call with this condition can happen on the target being built.
    pub const fn on_this_target(self) -> bool {
        match self {
            Self::Only64Bit => cfg!(target_pointer_width = "64"),
            Self::Only32Bit => cfg!(target_pointer_width = "32"),
            Self::DebugBuild => cfg!(debug_assertions),
            _ => true,
        }
    }
}

/// One call an entry point can make, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Call {
    /// The system call.
    pub syscall: Syscall,
    /// When it is made.
    pub when: When,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.when.label() {
            "" => write!(f, "{}", self.syscall),
            label => write!(f, "{} ({label})", self.syscall),
        }
    }
}

/// Which library an entry point belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// The `rawaio` crate.
    Rust,
    /// librawaio, the libaio-compatible C library (`capi/`).
    C,
}

/// A public entry point (or a group of them that make the same calls) and the system
/// calls it can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryPoint {
    /// The library.
    pub api: Api,
    /// Its names, `, `-separated when several share a row: `Context::reap`,
    /// `drop(Context)`, `io_getevents`. Each name is also accepted alone by
    /// [`allow_list`].
    pub name: &'static str,
    /// The calls it can make; empty when it makes none.
    pub calls: &'static [Call],
    /// What else it may call that is not rawaio's to list (a reactor's registration),
    /// or "".
    pub note: &'static str,
}

impl EntryPoint {
    /// Its names, one by one.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.name.split(", ")
    }

    /// The calls it can make on the target being built.
    pub fn target_calls(&self) -> impl Iterator<Item = Syscall> + '_ {
        self.calls
            .iter()
            .filter(|c| c.when.on_this_target())
            .map(|c| c.syscall)
    }
}

const fn call(syscall: Syscall, when: When) -> Call {
    Call { syscall, when }
}

const fn always(syscall: Syscall) -> Call {
    call(syscall, When::Always)
}

use Syscall as S;
use When as W;

/// The fork marker's page, made by the first context (or marker) of a process.
const MARKER: [Call; 3] = [
    call(S::Mmap, W::FirstInProcess),
    call(S::Madvise, W::FirstInProcess),
    call(S::Munmap, W::FirstInProcess),
];

const CONTENDED: Call = call(S::Futex, W::Contended);
/// std's check before it closes a descriptor, in debug builds.
const CLOSE_CHECK: Call = call(S::Fcntl, W::DebugBuild);
const CLOCK: Call = call(S::ClockGettime, W::WithTimeout);
/// Closing the descriptors a request owns, once it is submitted.
const OWNED: Call = call(S::Close, W::OwnedDescriptor);
/// Reading `/proc/sys/fs/aio-max-nr` and `aio-nr` after `EAGAIN` from `io_setup`.
const BUDGET: [Call; 3] = [
    call(S::Openat, W::BudgetSpent),
    call(S::Read, W::BudgetSpent),
    call(S::Close, W::BudgetSpent),
];

const fn rust(name: &'static str, calls: &'static [Call]) -> EntryPoint {
    EntryPoint {
        api: Api::Rust,
        name,
        calls,
        note: "",
    }
}

const fn c(name: &'static str, calls: &'static [Call]) -> EntryPoint {
    EntryPoint {
        api: Api::C,
        name,
        calls,
        note: "",
    }
}

const fn noted(entry: EntryPoint, note: &'static str) -> EntryPoint {
    EntryPoint { note, ..entry }
}

/// The entry points of the `rawaio` crate.
pub static RUST: &[EntryPoint] = &[
    rust(
        "Context::new",
        &[
            always(S::IoSetup),
            MARKER[0],
            MARKER[1],
            MARKER[2],
            BUDGET[0],
            BUDGET[1],
            BUDGET[2],
            CLOSE_CHECK,
        ],
    ),
    rust(
        "Context::with_options",
        &[
            always(S::IoSetup),
            MARKER[0],
            MARKER[1],
            MARKER[2],
            call(S::Eventfd2, W::WithEventfd),
            call(S::Close, W::OnFailure),
            BUDGET[0],
            BUDGET[1],
            BUDGET[2],
            CLOSE_CHECK,
        ],
    ),
    rust(
        "Context::submit, Context::submit_batch",
        &[always(S::IoSubmit), OWNED, CLOSE_CHECK, CONTENDED],
    ),
    rust("Context::submit_raw", &[always(S::IoSubmit), CONTENDED]),
    rust(
        "Context::submit_all, Context::submit_and_wait",
        &[
            always(S::IoSubmit),
            call(S::IoGetevents, W::ToWait),
            CLOCK,
            OWNED,
            CLOSE_CHECK,
            CONTENDED,
        ],
    ),
    rust(
        "Context::reap, Context::wait_any, Context::wait_all",
        &[call(S::IoGetevents, W::ToWait), CLOCK, CONTENDED],
    ),
    rust(
        "Context::reap_ready",
        &[call(S::IoGetevents, W::ToWait), CONTENDED],
    ),
    // Through `Context::exclusive`: the same calls, without the locks (no futex).
    rust("Context::exclusive", &[]),
    rust(
        "Exclusive::submit, Exclusive::submit_batch",
        &[always(S::IoSubmit), OWNED, CLOSE_CHECK],
    ),
    rust("Exclusive::reap", &[call(S::IoGetevents, W::ToWait), CLOCK]),
    rust("Exclusive::reap_ready", &[call(S::IoGetevents, W::ToWait)]),
    rust(
        "Context::read_exact_at, Context::write_all_at, Context::submit_and_flush",
        &[
            always(S::IoSubmit),
            call(S::IoGetevents, W::ToWait),
            CONTENDED,
        ],
    ),
    noted(
        rust(
            "Context::scope",
            &[
                call(S::IoCancel, W::PollRequests),
                call(S::IoGetevents, W::ToWait),
                call(S::IoDestroy, W::OnFailure),
                CONTENDED,
            ],
        ),
        "at its end, to cancel the polls left in flight and wait for every request; \
         the calls made inside the scope are those of the Context methods called",
    ),
    rust(
        "Context::reap_with_sigmask",
        &[
            call(S::IoPgetevents, W::Only64Bit),
            call(S::IoPgeteventsTime64, W::Only32Bit),
            CLOCK,
            CONTENDED,
        ],
    ),
    rust("Context::cancel", &[always(S::IoCancel), CONTENDED]),
    rust("Context::in_flight, Context::is_in_flight", &[CONTENDED]),
    rust(
        "Context::ready, Context::ring_size, Context::requested_size, Context::raw, \
         Context::eventfd, Context::reaps_in_user_space",
        &[],
    ),
    rust(
        "Context::destroy, drop(Context)",
        &[
            always(S::IoDestroy),
            call(S::Close, W::WithEventfd),
            CLOSE_CHECK,
        ],
    ),
    rust(
        "FixedContext::new",
        &[
            always(S::IoSetup),
            MARKER[0],
            MARKER[1],
            MARKER[2],
            BUDGET[0],
            BUDGET[1],
            BUDGET[2],
            CLOSE_CHECK,
        ],
    ),
    rust(
        "FixedContext::with_options",
        &[
            always(S::IoSetup),
            MARKER[0],
            MARKER[1],
            MARKER[2],
            call(S::Eventfd2, W::WithEventfd),
            call(S::Close, W::OnFailure),
            BUDGET[0],
            BUDGET[1],
            BUDGET[2],
            CLOSE_CHECK,
        ],
    ),
    noted(
        rust(
            "FixedContext::insert, FixedContext::remove, FixedContext::set_offset, \
             FixedContext::set_len, FixedContext::set_rw_flags, FixedContext::push, \
             FixedContext::push_at, FixedContext::take_queued, FixedContext::bufs, \
             FixedContext::bufs_mut, FixedContext::offset, FixedContext::len, \
             FixedContext::queued, FixedContext::in_flight, FixedContext::is_in_flight, \
             FixedContext::occupied, FixedContext::capacity, FixedContext::ready, \
             FixedContext::eventfd, FixedContext::raw",
            &[],
        ),
        "a slot keeps its descriptors: nothing is closed until it is removed or the \
         context dropped",
    ),
    rust("FixedContext::submit", &[always(S::IoSubmit)]),
    rust(
        "FixedContext::reap",
        &[call(S::IoGetevents, W::ToWait), CLOCK],
    ),
    rust(
        "FixedContext::reap_ready",
        &[call(S::IoGetevents, W::ToWait)],
    ),
    rust(
        "FixedContext::reap_with_sigmask",
        &[
            call(S::IoPgetevents, W::Only64Bit),
            call(S::IoPgeteventsTime64, W::Only32Bit),
            CLOCK,
        ],
    ),
    rust("FixedContext::cancel", &[always(S::IoCancel)]),
    rust(
        "FixedContext::destroy, drop(FixedContext)",
        &[
            always(S::IoDestroy),
            call(S::Close, W::WithEventfd),
            OWNED,
            CLOSE_CHECK,
        ],
    ),
    noted(
        rust(
            "AsyncFixedContext::new, AsyncFixedContext::with_reactor",
            &[
                always(S::IoSetup),
                MARKER[0],
                MARKER[1],
                MARKER[2],
                always(S::Eventfd2),
                always(S::Fcntl),
                call(S::Close, W::OnFailure),
                BUDGET[0],
                BUDGET[1],
                BUDGET[2],
                CLOSE_CHECK,
            ],
        ),
        "and the reactor's registration of the eventfd",
    ),
    noted(
        rust(
            "AsyncFixedContext::reap, AsyncFixedContext::poll_reap",
            &[call(S::Read, W::ToWait), call(S::IoGetevents, W::ToWait)],
        ),
        "read only when the ring is empty and requests are in flight; and the reactor's \
         wait (busy-polling, reactor::BusyPoll: neither, only the ring)",
    ),
    rust(
        "AsyncFixedContext::fixed, AsyncFixedContext::fixed_mut, AsyncFixedContext::reactor",
        &[],
    ),
    noted(
        rust(
            "drop(AsyncFixedContext)",
            &[always(S::IoDestroy), always(S::Close), OWNED, CLOSE_CHECK],
        ),
        "and the reactor's deregistration",
    ),
    noted(
        rust(
            "AsyncContext::new, AsyncContext::with_reactor",
            &[
                always(S::IoSetup),
                MARKER[0],
                MARKER[1],
                MARKER[2],
                always(S::Eventfd2),
                always(S::Fcntl),
                call(S::Close, W::OnFailure),
            ],
        ),
        "and the reactor's registration of the eventfd (for reactor::Driven and \
         reactor::BusyPoll, whose requests carry none, the eventfd that wakes block_on, \
         which no completion signals)",
    ),
    noted(
        rust(
            "AsyncContext::submit, AsyncContext::submit_batch",
            &[
                always(S::IoSubmit),
                call(S::Fcntl, W::Refused),
                call(S::Fstat, W::Refused),
                call(S::Fstatfs, W::Refused),
                call(S::Close, W::Refused),
                call(S::Clone, W::Refused),
                call(S::IoSetup, W::Refused),
                call(S::IoGetevents, W::Refused),
                call(S::IoDestroy, W::Refused),
                OWNED,
                CLOSE_CHECK,
                CONTENDED,
            ],
        ),
        "a request the kernel refuses to start without blocking (RWF_NOWAIT) is learnt \
         about (fcntl, fstat, fstatfs), its borrowed descriptor duplicated, and finished by a \
         poll on the same context or a helper thread, whose first use starts the thread and \
         its one-request context; AsyncPolicy::as_given() makes none of these calls",
    ),
    rust("AsyncContext::reserve", &[CONTENDED]),
    noted(
        rust(
            "AsyncContext::readiness, Readiness::ready",
            &[
                always(S::IoSubmit),
                call(S::IoCancel, W::PollRequests),
                CONTENDED,
            ],
        ),
        "one IOCB_CMD_POLL per wait",
    ),
    rust(
        "reactor::Preemption::new",
        &[
            always(S::TimerfdCreate),
            always(S::TimerfdSettime),
            always(S::IoSetup),
            MARKER[0],
            MARKER[1],
            MARKER[2],
            always(S::IoSubmit),
        ],
    ),
    rust("reactor::Preemption::should_yield", &[]),
    rust(
        "reactor::Preemption::rearm",
        &[
            call(S::IoGetevents, W::ToWait),
            always(S::Read),
            always(S::IoSubmit),
        ],
    ),
    rust(
        "reactor::Preemption::set_period",
        &[always(S::TimerfdSettime)],
    ),
    rust(
        "drop(reactor::Preemption)",
        &[always(S::IoDestroy), always(S::Close), CLOSE_CHECK],
    ),
    rust("AsyncContext::policy, AsyncContext::stats", &[CONTENDED]),
    noted(
        rust(
            "OpFuture::poll, AsyncContext::reap_ready",
            &[
                call(S::Read, W::WithEventfd),
                call(S::IoGetevents, W::ToWait),
                call(S::IoSubmit, W::Refused),
                call(S::IoCancel, W::PollRequests),
                CONTENDED,
            ],
        ),
        "and the reactor's wait (busy-polling, reactor::BusyPoll: none, only the ring)",
    ),
    noted(
        rust(
            "AsyncContext::park",
            &[
                call(S::IoGetevents, W::ToWait),
                CLOCK,
                call(S::IoSubmit, W::Refused),
                call(S::IoCancel, W::PollRequests),
                CONTENDED,
            ],
        ),
        "the idle loop's wait of an executor on reactor::Driven; a refused request whose \
         file became ready is resubmitted by whoever reaps the readiness poll's completion",
    ),
    noted(
        rust(
            "AsyncContext::block_on",
            &[
                call(S::IoSubmit, W::ToWait),
                call(S::IoGetevents, W::ToWait),
                CLOCK,
                call(S::Read, W::ToWait),
                call(S::IoCancel, W::ToWait),
                CONTENDED,
            ],
        ),
        "and what its future calls; while parked, a poll request on the context's wake-up \
         eventfd, which a waker called from another thread writes (write, on that thread), \
         cancelled when it returns",
    ),
    rust(
        "OpFuture::cancel, drop(OpFuture)",
        &[call(S::IoCancel, W::PollRequests), CONTENDED],
    ),
    rust("AsyncContext::in_flight", &[CONTENDED]),
    rust(
        "AsyncContext::ring_size, AsyncContext::reactor, OpFuture::token",
        &[],
    ),
    noted(
        rust(
            "drop(AsyncContext)",
            &[
                always(S::IoDestroy),
                always(S::Close),
                CLOSE_CHECK,
                CONTENDED,
            ],
        ),
        "when the last handle and future go; and the reactor's deregistration",
    ),
    rust("EventFd::new", &[always(S::Eventfd2)]),
    rust("EventFd::read", &[always(S::Read)]),
    rust("EventFd::write", &[always(S::Write)]),
    rust("drop(EventFd)", &[always(S::Close), CLOSE_CHECK]),
    rust(
        "probe::probe_file",
        &[
            always(S::Fcntl),
            always(S::IoSetup),
            MARKER[0],
            MARKER[1],
            MARKER[2],
            always(S::IoSubmit),
            always(S::IoGetevents),
            call(S::IoCancel, W::PollRequests),
            always(S::ClockGettime),
            always(S::IoDestroy),
        ],
    ),
    rust(
        "probe::probe_kernel",
        &[
            always(S::Openat),
            always(S::Unlinkat),
            always(S::Eventfd2),
            always(S::IoSetup),
            MARKER[0],
            MARKER[1],
            MARKER[2],
            always(S::IoSubmit),
            always(S::IoGetevents),
            always(S::IoCancel),
            always(S::ClockGettime),
            always(S::IoDestroy),
            always(S::Close),
            CLOSE_CHECK,
        ],
    ),
    rust(
        "probe::direct_io_in",
        &[
            always(S::Openat),
            always(S::Unlinkat),
            always(S::Close),
            CLOSE_CHECK,
        ],
    ),
    rust(
        "direct::dio_align",
        &[
            always(S::Statx),
            call(S::Fstat, W::OldKernel),
            call(S::Ioctl, W::BlockDevice),
        ],
    ),
    rust(
        "direct::dio_align_path",
        &[
            always(S::Statx),
            call(S::Fstat, W::OldKernel),
            call(S::Openat, W::BlockDevice),
            call(S::Ioctl, W::BlockDevice),
            call(S::Close, W::BlockDevice),
            CLOSE_CHECK,
        ],
    ),
    rust("direct::open_direct", &[always(S::Openat)]),
    rust("direct::is_direct", &[always(S::Fcntl)]),
    rust("libaio::queue_init", &[always(S::IoSetup)]),
    rust("libaio::queue_release", &[always(S::IoDestroy)]),
    rust("libaio::submit", &[always(S::IoSubmit)]),
    rust("libaio::cancel", &[always(S::IoCancel)]),
    rust(
        "libaio::getevents, libaio::queue_run",
        &[always(S::IoGetevents)],
    ),
    rust(
        "libaio::prep_pread, libaio::prep_pwrite, libaio::prep_preadv, libaio::prep_pwritev, \
         libaio::prep_fsync, libaio::prep_fdsync, libaio::prep_poll, libaio::set_eventfd, \
         libaio::set_callback, libaio::event_result",
        &[],
    ),
    rust(
        "raw::RingView::new, raw::RingView::nr, raw::RingView::ready, raw::RingView::reap, \
         raw::ForkMarker::forked, drop(raw::ForkMarker)",
        &[],
    ),
    rust("raw::ForkMarker::new", &MARKER),
    rust("sys::io_setup", &[always(S::IoSetup)]),
    rust("sys::io_destroy", &[always(S::IoDestroy)]),
    rust("sys::io_submit", &[always(S::IoSubmit)]),
    rust("sys::io_cancel", &[always(S::IoCancel)]),
    rust("sys::io_getevents", &[always(S::IoGetevents)]),
    rust(
        "sys::io_pgetevents",
        &[
            call(S::IoPgetevents, W::Only64Bit),
            call(S::IoPgeteventsTime64, W::Only32Bit),
        ],
    ),
    rust(
        "sys::io_pgetevents_time32",
        &[call(S::IoPgetevents, W::Only32Bit)],
    ),
];

/// The functions librawaio (the C library in `capi/`) exports. libaio's inline helpers
/// in `libaio.h` (`io_prep_pread`, `io_set_callback`, ...) only fill in structures.
pub static C: &[EntryPoint] = &[
    c(
        "io_setup, io_queue_init",
        &[always(S::IoSetup), MARKER[0], MARKER[1], MARKER[2]],
    ),
    c(
        "io_destroy, io_queue_release",
        &[always(S::IoDestroy), call(S::SchedYield, W::Contended)],
    ),
    c("io_submit", &[always(S::IoSubmit)]),
    c("io_cancel", &[always(S::IoCancel)]),
    c(
        "io_getevents, io_queue_run, io_queue_wait",
        &[
            call(S::IoGetevents, W::ToWait),
            call(S::SchedYield, W::Contended),
        ],
    ),
    c(
        "io_pgetevents",
        &[
            call(S::IoPgetevents, W::ToWait),
            call(S::SchedYield, W::Contended),
        ],
    ),
];

/// The entry points of an I/O thread's loop on a context made elsewhere: submitting,
/// reaping with and without a timeout (and waiting), eventfd notification, and dropping
/// the context. [`allow_list`] of these is `io_submit`, `io_getevents`, `io_destroy`,
/// `read`, `write`, `close`, `futex` and `clock_gettime` (and `fcntl` in builds with debug
/// assertions).
pub const COMMON_PATH: &[&str] = &[
    "Context::submit",
    "Context::submit_batch",
    "Context::reap",
    "Context::wait_all",
    "EventFd::read",
    "EventFd::write",
    "drop(Context)",
];

/// The entry point named `name` (one of its `, `-separated names), in [`RUST`] or [`C`].
pub fn entry(api: Api, name: &str) -> Option<&'static EntryPoint> {
    let table = match api {
        Api::Rust => RUST,
        Api::C => C,
    };
    table.iter().find(|e| e.names().any(|n| n == name))
}

/// The calls that the Rust entry points named in `names` can make on the target being
/// built, sorted and without repeats; `None` if a name is not in [`RUST`].
///
/// # Examples
/// ```
/// use rawaio::syscalls::{allow_list, Syscall, When};
///
/// let calls = allow_list(&["Context::submit", "Context::reap"]).unwrap();
/// // `close` for the descriptors a request owns, once it is submitted; `fcntl` only where
/// // rawaio was built with debug assertions (std's check before it closes one).
/// let mut expected = vec![Syscall::IoSubmit, Syscall::IoGetevents, Syscall::Close];
/// if When::DebugBuild.on_this_target() {
///     expected.push(Syscall::Fcntl);
/// }
/// expected.extend([Syscall::Futex, Syscall::ClockGettime]);
/// assert_eq!(calls, expected);
/// assert_eq!(allow_list(&["Context::frobnicate"]), None);
/// ```
pub fn allow_list(names: &[&str]) -> Option<Vec<Syscall>> {
    allow_list_of(Api::Rust, names)
}

/// [`allow_list`] for either library.
pub fn allow_list_of(api: Api, names: &[&str]) -> Option<Vec<Syscall>> {
    let mut calls = Vec::new();
    for name in names {
        calls.extend(entry(api, name)?.target_calls());
    }
    calls.sort();
    calls.dedup();
    Some(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_found() {
        for api in [Api::Rust, Api::C] {
            let table = if api == Api::Rust { RUST } else { C };
            let mut seen = std::collections::HashSet::new();
            for e in table {
                for n in e.names() {
                    assert!(seen.insert(n), "{n} listed twice");
                    assert_eq!(entry(api, n), Some(e));
                }
            }
        }
    }

    #[test]
    fn the_common_path_is_the_aio_core_plus_eventfd() {
        let mut expected = vec![
            S::IoSubmit,
            S::Fcntl,
            S::IoGetevents,
            S::IoDestroy,
            S::Read,
            S::Write,
            S::Close,
            S::Futex,
            S::ClockGettime,
        ];
        if !cfg!(debug_assertions) {
            expected.retain(|&s| s != S::Fcntl);
        }
        expected.sort();
        assert_eq!(allow_list(COMMON_PATH), Some(expected));
    }

    #[test]
    fn only_a_signal_mask_brings_io_pgetevents() {
        for e in RUST.iter().chain(C) {
            let masked = e.name.contains("sigmask") || e.name.contains("pgetevents");
            let pget = e
                .calls
                .iter()
                .any(|c| matches!(c.syscall, S::IoPgetevents | S::IoPgeteventsTime64));
            assert_eq!(masked, pget, "{}", e.name);
        }
    }

    #[test]
    fn every_call_is_used_and_has_names() {
        for s in Syscall::ALL {
            assert!(!s.target_names().is_empty());
            assert!(
                RUST.iter()
                    .chain(C)
                    .any(|e| e.calls.iter().any(|c| c.syscall == s)),
                "{s} is listed by no entry point"
            );
        }
    }

    #[test]
    fn aio_numbers_come_from_the_abi_crate() {
        assert_eq!(S::IoSubmit.number(), Some(nr::__NR_io_submit));
        assert_eq!(S::Read.number(), None);
        assert_eq!(
            S::IoPgeteventsTime64.number().is_some(),
            cfg!(target_pointer_width = "32")
        );
    }

    #[test]
    fn display() {
        assert_eq!(always(S::IoSubmit).to_string(), "io_submit");
        assert_eq!(
            call(S::IoGetevents, W::ToWait).to_string(),
            "io_getevents (to wait)"
        );
    }
}
