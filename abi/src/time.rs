//! The timespec layouts the AIO syscalls take.

/// `struct __kernel_timespec`: 64-bit seconds and nanoseconds on every target; what
/// `io_pgetevents` takes on 64-bit targets and `io_pgetevents_time64` on 32-bit ones.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct __kernel_timespec {
    /// Seconds.
    pub tv_sec: i64,
    /// Nanoseconds, 0 to 999 999 999.
    pub tv_nsec: i64,
}

/// `struct __kernel_old_timespec`: `long` seconds and nanoseconds, what `io_getevents`
/// takes. The same layout as [`__kernel_timespec`] on 64-bit targets and as
/// [`old_timespec32`] on 32-bit ones.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct __kernel_old_timespec {
    /// Seconds (`__kernel_old_time_t`, a `long`).
    pub tv_sec: isize,
    /// Nanoseconds (`long`).
    pub tv_nsec: isize,
}

/// `struct old_timespec32`: the 32-bit timespec of the time32 syscalls
/// (`io_getevents` and `io_pgetevents` on 32-bit targets), which ends in 2038.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct old_timespec32 {
    /// Seconds.
    pub tv_sec: i32,
    /// Nanoseconds.
    pub tv_nsec: i32,
}
