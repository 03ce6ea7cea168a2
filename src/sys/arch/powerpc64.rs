//! 64-bit PowerPC (either byte order): `sc`, number in r0, arguments in r3 to r8,
//! result in r3. The kernel flags an error with cr0.SO and a *positive* errno in r3; the
//! stubs negate it so that every architecture returns the same `-errno` convention.
//!
//! `sc` leaves r0 and r4 to r12, cr0, cr1, cr5 to cr7, ctr and xer undefined.

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
    // memory; every register `sc` may change is declared clobbered.
    unsafe {
        asm!(
            "sc",
            "bns 0f",
            "neg 3, 3",
            "0:",
            inlateout("r0") nr => _,
            inlateout("r3") a0 => ret,
            inlateout("r4") a1 => _,
            inlateout("r5") a2 => _,
            lateout("r6") _,
            lateout("r7") _,
            lateout("r8") _,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r11") _,
            lateout("r12") _,
            lateout("cr0") _,
            lateout("cr1") _,
            lateout("cr5") _,
            lateout("cr6") _,
            lateout("cr7") _,
            lateout("ctr") _,
            lateout("xer") _,
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
    // SAFETY: as in `syscall3`, with the fourth to sixth arguments in r6 to r8.
    unsafe {
        asm!(
            "sc",
            "bns 0f",
            "neg 3, 3",
            "0:",
            inlateout("r0") nr => _,
            inlateout("r3") a0 => ret,
            inlateout("r4") a1 => _,
            inlateout("r5") a2 => _,
            inlateout("r6") a3 => _,
            inlateout("r7") a4 => _,
            inlateout("r8") a5 => _,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r11") _,
            lateout("r12") _,
            lateout("cr0") _,
            lateout("cr1") _,
            lateout("cr5") _,
            lateout("cr6") _,
            lateout("cr7") _,
            lateout("ctr") _,
            lateout("xer") _,
            options(nostack),
        );
    }
    ret
}
