//! `aio_flags` and `aio_rw_flags` bits.

bitflags::bitflags! {
    /// Bits of [`iocb::aio_flags`](crate::iocb::aio_flags).
    ///
    /// The kernel silently ignores bits it does not know here (unlike
    /// [`RwfFlags`], whose unknown bits fail the submission).
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct IocbFlags: u32 {
        /// `IOCB_FLAG_RESFD`: add 1 to the eventfd in `aio_resfd` when this request
        /// completes.
        const RESFD = 1 << 0;
        /// `IOCB_FLAG_IOPRIO`: use `aio_reqprio` as an I/O priority value
        /// (see [`ioprio_prio_value`](crate::ioprio_prio_value)). Linux 4.18.
        const IOPRIO = 1 << 1;
    }
}

/// `IOCB_FLAG_RESFD` as the header spells it.
pub const IOCB_FLAG_RESFD: u32 = IocbFlags::RESFD.bits();
/// `IOCB_FLAG_IOPRIO` as the header spells it.
pub const IOCB_FLAG_IOPRIO: u32 = IocbFlags::IOPRIO.bits();

bitflags::bitflags! {
    /// Per-request `RWF_*` flags, stored in [`iocb::aio_rw_flags`](crate::iocb::aio_rw_flags),
    /// never in `aio_flags`.
    ///
    /// A bit the running kernel (or the file) does not support makes `io_submit` fail that
    /// request with `EOPNOTSUPP`. They apply to reads and writes (vectored or not); an
    /// `FSYNC`, `FDSYNC` or `POLL` request with any of them set is rejected with `EINVAL`.
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct RwfFlags: u32 {
        /// `RWF_HIPRI`: high-priority request, polled where the device supports it.
        /// Linux 4.6.
        const HIPRI = 0x0000_0001;
        /// `RWF_DSYNC`: per-request `O_DSYNC`. Linux 4.7.
        const DSYNC = 0x0000_0002;
        /// `RWF_SYNC`: per-request `O_SYNC`. Linux 4.7.
        const SYNC = 0x0000_0004;
        /// `RWF_NOWAIT`: fail with `EAGAIN` instead of blocking. Linux 4.14 (4.13 for
        /// `preadv2`).
        const NOWAIT = 0x0000_0008;
        /// `RWF_APPEND`: per-request `O_APPEND`. Linux 4.16.
        const APPEND = 0x0000_0010;
        /// `RWF_NOAPPEND`: write at the given offset even on an `O_APPEND` file.
        /// Linux 6.9.
        const NOAPPEND = 0x0000_0020;
        /// `RWF_ATOMIC`: write all of it or none of it (untorn writes). Linux 6.11.
        const ATOMIC = 0x0000_0040;
        /// `RWF_DONTCACHE`: buffered I/O that drops its pages from the page cache once
        /// done. Linux 6.14.
        const DONTCACHE = 0x0000_0080;
        /// `RWF_NOSIGNAL`: a write to a broken pipe or socket gives `EPIPE` without
        /// raising `SIGPIPE`. Linux 6.18.
        const NOSIGNAL = 0x0000_0100;
    }
}

/// `RWF_SUPPORTED` as of Linux 6.18: every bit of [`RwfFlags`].
pub const RWF_SUPPORTED: u32 = RwfFlags::all().bits();

macro_rules! rwf_consts {
    ($($name:ident = $flag:ident),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "` as the header spells it: [`RwfFlags::", stringify!($flag), "`].")]
            pub const $name: crate::__kernel_rwf_t = RwfFlags::$flag.bits() as crate::__kernel_rwf_t;
        )*
    };
}

rwf_consts! {
    RWF_HIPRI = HIPRI,
    RWF_DSYNC = DSYNC,
    RWF_SYNC = SYNC,
    RWF_NOWAIT = NOWAIT,
    RWF_APPEND = APPEND,
    RWF_NOAPPEND = NOAPPEND,
    RWF_ATOMIC = ATOMIC,
    RWF_DONTCACHE = DONTCACHE,
    RWF_NOSIGNAL = NOSIGNAL,
}
