//! s390x: `svc 0`, number in r1, arguments in r2 to r7, result in r2.

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
    // memory and returns in r2. The condition code is not promised, so no
    // `preserves_flags`.
    unsafe {
        asm!(
            "svc 0",
            in("r1") nr,
            inlateout("r2") a0 => ret,
            in("r3") a1,
            in("r4") a2,
            options(nostack),
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
    // SAFETY: as in `syscall3`, with the fourth to sixth arguments in r5 to r7.
    unsafe {
        asm!(
            "svc 0",
            in("r1") nr,
            inlateout("r2") a0 => ret,
            in("r3") a1,
            in("r4") a2,
            in("r5") a3,
            in("r6") a4,
            in("r7") a5,
            options(nostack),
        );
    }
    ret
}
