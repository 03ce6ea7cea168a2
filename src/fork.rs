//! Noticing, without a system call, that this process is a `fork` child.
//!
//! A child inherits the parent's completion ring mapping, but every AIO call on the
//! inherited context fails with `EINVAL`. Were the child to reap from the ring in user
//! space it would steal the parent's completions, so the ring is used only while a page
//! marked `MADV_WIPEONFORK` (Linux 4.14) still holds its marker: the kernel hands a child
//! that page zeroed.
//!
//! One page serves the whole process: the first guard maps it (`mmap`, `madvise`), later
//! guards share it, and it is never unmapped. So creating a context costs no system call
//! for the marker after the first, and dropping one costs none at all: a thread under a
//! seccomp filter that allows only the AIO calls can drop a context (see
//! [`crate::syscalls`]). A `fork` child, whose copy of the page reads zero, maps a page of
//! its own the first time it makes a guard; the inherited one stays mapped, marking the
//! parent's contexts as foreign.
//!
//! # Safety
//!
//! This module maps private anonymous pages and never unmaps one once published: a
//! guard's address stays valid for the life of the process (and reads zero in a child).

#![allow(unsafe_code)]

use rustix::mm::{Advice, MapFlags, ProtFlags, madvise, mmap_anonymous, munmap};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Bytes to map: the kernel rounds it up to one page, whatever the page size.
const LEN: usize = 1;

/// The page of this process, or null before the first guard (or an inherited page that
/// reads zero, in a `fork` child).
static PAGE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

/// A marker that reads as zero in any `fork` child.
#[derive(Clone, Copy)]
pub(crate) struct ForkGuard {
    page: NonNull<u8>,
}

// SAFETY: the page is process memory that is never unmapped, read only through volatile
// loads of one byte after it was written once, before it was published.
unsafe impl Send for ForkGuard {}
// SAFETY: as above.
unsafe impl Sync for ForkGuard {}

impl ForkGuard {
    /// A guard, or `None` when the kernel lacks `MADV_WIPEONFORK` (or mapping fails).
    pub(crate) fn new() -> Option<Self> {
        let mut current = PAGE.load(Ordering::Acquire);
        loop {
            if let Some(page) = NonNull::new(current) {
                let guard = Self { page };
                if !guard.forked() {
                    return Some(guard);
                }
            }
            let fresh = map_marked_page()?;
            match PAGE.compare_exchange(
                current,
                fresh.as_ptr(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Self { page: fresh }),
                Err(winner) => {
                    // Another thread published a page first: use it (the loop checks it),
                    // and unmap ours, which nobody else has seen.
                    // SAFETY: `fresh` was mapped above and never published.
                    let _ = unsafe { munmap(fresh.as_ptr().cast(), LEN) };
                    current = winner;
                }
            }
        }
    }

    /// Whether this process is not the one that created the guard.
    #[inline]
    pub(crate) fn forked(&self) -> bool {
        // SAFETY: the page is never unmapped; in a child it reads as zero.
        unsafe { self.page.as_ptr().read_volatile() == 0 }
    }
}

/// Maps a private page, marks it `MADV_WIPEONFORK` and writes 1 into it.
fn map_marked_page() -> Option<NonNull<u8>> {
    // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
    let addr = unsafe {
        mmap_anonymous(
            std::ptr::null_mut(),
            LEN,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE,
        )
    }
    .ok()?;
    let page = NonNull::new(addr.cast::<u8>())?;
    // SAFETY: `addr` is the mapping just made.
    let wiped = unsafe { madvise(addr, LEN, Advice::LinuxWipeOnFork) };
    if wiped.is_err() {
        // SAFETY: the mapping is ours and nothing else refers to it.
        let _ = unsafe { munmap(addr, LEN) };
        return None;
    }
    // SAFETY: the page is mapped writable and not yet shared.
    unsafe { page.as_ptr().write_volatile(1) };
    Some(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_share_one_page_that_reads_not_forked() {
        let Some(a) = ForkGuard::new() else {
            eprintln!("skipped: no MADV_WIPEONFORK (Linux before 4.14)");
            return;
        };
        let b = ForkGuard::new().expect("the page exists already");
        assert_eq!(a.page, b.page, "one page per process");
        assert!(!a.forked() && !b.forked());
    }
}
