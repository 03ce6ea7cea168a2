//! Syscall numbers of the AIO calls, for every supported architecture.
//!
//! Each architecture has a module with the kernel's `__NR_*` names; [`native`] is the one
//! of the target being built (absent on targets this crate does not know), and [`ALL`]
//! lists every table, for documentation and cross-checks.
//!
//! ```
//! assert_eq!(rawaio_abi::nr::x86_64::__NR_io_submit, 209);
//! assert_eq!(rawaio_abi::nr::s390x::TABLE.io_pgetevents, 382);
//! assert_eq!(rawaio_abi::nr::x86::TABLE.io_pgetevents_time64, Some(416));
//! ```

/// The AIO syscall numbers of one architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Table {
    /// The architectures that use this table, as Rust's `target_arch` spells them.
    pub arches: &'static [&'static str],
    /// `__NR_io_setup`.
    pub io_setup: u32,
    /// `__NR_io_destroy`.
    pub io_destroy: u32,
    /// `__NR_io_getevents` (the time32 variant on 32-bit architectures).
    pub io_getevents: u32,
    /// `__NR_io_submit`.
    pub io_submit: u32,
    /// `__NR_io_cancel`.
    pub io_cancel: u32,
    /// `__NR_io_pgetevents` (the time32 variant on 32-bit architectures).
    pub io_pgetevents: u32,
    /// `__NR_io_pgetevents_time64`, which only 32-bit architectures have.
    pub io_pgetevents_time64: Option<u32>,
}

macro_rules! table {
    (
        $(#[$meta:meta])* $module:ident, [$($arch:literal),+],
        $setup:literal, $destroy:literal, $getevents:literal, $submit:literal, $cancel:literal,
        $pgetevents:literal $(, time64 $time64:literal)?
    ) => {
        $(#[$meta])*
        pub mod $module {
            /// `__NR_io_setup`.
            pub const __NR_io_setup: u32 = $setup;
            /// `__NR_io_destroy`.
            pub const __NR_io_destroy: u32 = $destroy;
            /// `__NR_io_getevents`.
            pub const __NR_io_getevents: u32 = $getevents;
            /// `__NR_io_submit`.
            pub const __NR_io_submit: u32 = $submit;
            /// `__NR_io_cancel`.
            pub const __NR_io_cancel: u32 = $cancel;
            /// `__NR_io_pgetevents`.
            pub const __NR_io_pgetevents: u32 = $pgetevents;
            $(
                /// `__NR_io_pgetevents_time64`.
                pub const __NR_io_pgetevents_time64: u32 = $time64;
            )?
            /// This architecture's numbers as a [`Table`](super::Table).
            pub const TABLE: super::Table = super::Table {
                arches: &[$($arch),+],
                io_setup: $setup,
                io_destroy: $destroy,
                io_getevents: $getevents,
                io_submit: $submit,
                io_cancel: $cancel,
                io_pgetevents: $pgetevents,
                io_pgetevents_time64: table!(@opt $($time64)?),
            };
        }
    };
    (@opt $n:literal) => { Some($n) };
    (@opt) => { None };
}

table!(
    /// x86_64 (`arch/x86/entry/syscalls/syscall_64.tbl`).
    x86_64, ["x86_64"], 206, 207, 208, 209, 210, 333
);
table!(
    /// i386 (`arch/x86/entry/syscalls/syscall_32.tbl`).
    x86, ["x86"], 245, 246, 247, 248, 249, 385, time64 416
);
table!(
    /// The generic table (`include/uapi/asm-generic/unistd.h`) that aarch64, riscv64 and
    /// loongarch64 use.
    generic, ["aarch64", "riscv64", "loongarch64"], 0, 1, 4, 2, 3, 292
);
table!(
    /// 32-bit ARM, EABI (`arch/arm/tools/syscall.tbl`).
    arm, ["arm"], 243, 244, 245, 246, 247, 399, time64 416
);
table!(
    /// s390x (`arch/s390/kernel/syscalls/syscall.tbl`).
    s390x, ["s390x"], 243, 244, 245, 246, 247, 382
);
table!(
    /// 64-bit PowerPC, either byte order (`arch/powerpc/kernel/syscalls/syscall.tbl`).
    powerpc64, ["powerpc64"], 227, 228, 229, 230, 231, 388
);

/// The tables of every supported architecture.
pub const ALL: [Table; 6] = [
    x86_64::TABLE,
    x86::TABLE,
    generic::TABLE,
    arm::TABLE,
    s390x::TABLE,
    powerpc64::TABLE,
];

#[cfg(target_arch = "x86_64")]
pub use x86_64 as native;

#[cfg(target_arch = "x86")]
pub use x86 as native;

#[cfg(any(
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64"
))]
pub use generic as native;

#[cfg(target_arch = "arm")]
pub use arm as native;

#[cfg(target_arch = "s390x")]
pub use s390x as native;

#[cfg(target_arch = "powerpc64")]
pub use powerpc64 as native;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_distinct_per_arch_and_complete() {
        for table in ALL {
            let nrs = [
                table.io_setup,
                table.io_destroy,
                table.io_getevents,
                table.io_submit,
                table.io_cancel,
                table.io_pgetevents,
            ];
            for (i, a) in nrs.iter().enumerate() {
                for b in &nrs[i + 1..] {
                    assert_ne!(a, b, "{:?} repeats a number", table.arches);
                }
            }
            let is_32bit = table.arches.iter().any(|a| *a == "x86" || *a == "arm");
            assert_eq!(
                table.io_pgetevents_time64.is_some(),
                is_32bit,
                "{:?}",
                table.arches
            );
        }
        let arches = || ALL.iter().flat_map(|t| t.arches.iter());
        for (i, a) in arches().enumerate() {
            assert_eq!(
                arches().skip(i + 1).filter(|b| *b == a).count(),
                0,
                "{a} twice"
            );
        }
    }
}
