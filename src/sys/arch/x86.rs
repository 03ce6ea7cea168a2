//! i386: `int 0x80`, number in eax, arguments in ebx, ecx, edx, esi, edi, ebp.
//!
//! LLVM reserves esi (base pointer) and ebp (frame pointer), so the six-argument stub
//! saves them on the stack and loads the last three arguments from memory itself.

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
    // memory and preserves every register but eax.
    unsafe {
        asm!(
            "int 0x80",
            inlateout("eax") nr => ret,
            in("ebx") a0,
            in("ecx") a1,
            in("edx") a2,
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
    let rest = [a3, a4, a5];
    // SAFETY: as in `syscall3`. ebp and esi are pushed and restored around the call (the
    // stack is used, so no `nostack`); edi carries the address of `rest`, which lives
    // until the block ends, and is overwritten with the fifth argument last.
    unsafe {
        asm!(
            "push ebp",
            "push esi",
            "mov esi, [edi]",
            "mov ebp, [edi + 8]",
            "mov edi, [edi + 4]",
            "int 0x80",
            "pop esi",
            "pop ebp",
            inlateout("eax") nr => ret,
            in("ebx") a0,
            in("ecx") a1,
            in("edx") a2,
            inlateout("edi") rest.as_ptr() => _,
            options(preserves_flags),
        );
    }
    ret
}
