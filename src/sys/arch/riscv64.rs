//! riscv64: `ecall`, number in a7, arguments in a0 to a5, result in a0.

use core::arch::asm;

/// Issues a syscall with up to three arguments.
///
/// # Safety
/// - `nr` and the arguments must form a syscall whose contract the caller upholds: every
///   pointer valid for what the kernel reads or writes through it.
#[inline]
pub(crate) unsafe fn syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> usize {
    let ret;
    // SAFETY: the caller upholds the syscall's contract; the kernel may read and write
    // memory and preserves every register but a0.
    unsafe {
        asm!(
            "ecall",
            in("a7") nr,
            inlateout("a0") a0 => ret,
            in("a1") a1,
            in("a2") a2,
            options(nostack, preserves_flags),
        );
    }
    ret
}

/// Issues a syscall with up to six arguments.
///
/// # Safety
/// - As for [`syscall3`].
#[inline]
pub(crate) unsafe fn syscall6(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> usize {
    let ret;
    // SAFETY: as in `syscall3`, with the fourth to sixth arguments in a3 to a5.
    unsafe {
        asm!(
            "ecall",
            in("a7") nr,
            inlateout("a0") a0 => ret,
            in("a1") a1,
            in("a2") a2,
            in("a3") a3,
            in("a4") a4,
            in("a5") a5,
            options(nostack, preserves_flags),
        );
    }
    ret
}
