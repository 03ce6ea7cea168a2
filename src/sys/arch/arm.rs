//! 32-bit ARM, EABI: `svc 0`, number in r7, arguments in r0 to r5, result in r0.
//!
//! r7 is the frame pointer in Thumb code and may be reserved, so the stubs save it in a
//! scratch register, load the number into it and restore it after the call.

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
    // memory and preserves every register but r0; r7 is restored before the block ends.
    unsafe {
        asm!(
            "mov {saved}, r7",
            "mov r7, {nr}",
            "svc 0",
            "mov r7, {saved}",
            nr = in(reg) nr,
            saved = out(reg) _,
            inlateout("r0") a0 => ret,
            in("r1") a1,
            in("r2") a2,
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
    // SAFETY: as in `syscall3`, with the fourth to sixth arguments in r3 to r5.
    unsafe {
        asm!(
            "mov {saved}, r7",
            "mov r7, {nr}",
            "svc 0",
            "mov r7, {saved}",
            nr = in(reg) nr,
            saved = out(reg) _,
            inlateout("r0") a0 => ret,
            in("r1") a1,
            in("r2") a2,
            in("r3") a3,
            in("r4") a4,
            in("r5") a5,
            options(nostack, preserves_flags),
        );
    }
    ret
}
