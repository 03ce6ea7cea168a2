//! Noticing, without a system call, that this process is a `fork` child.
//!
//! A child inherits the parent's completion ring mapping, but every AIO call on the
//! inherited context fails with `EINVAL`. Were the child to reap from the ring in user
//! space it would steal the parent's completions, so the ring is used only while a page
//! marked `MADV_WIPEONFORK` (Linux 4.14) still holds its marker: the kernel hands a child
//! that page zeroed.
//!
//! # Safety
//!
//! This module maps one private anonymous page and unmaps it on drop; nothing else holds
//! its address.

#![allow(unsafe_code)]

use rustix::mm::{Advice, MapFlags, ProtFlags, madvise, mmap_anonymous, munmap};
use std::ffi::c_void;
use std::ptr::NonNull;

/// Bytes to map: the kernel rounds it up to one page, whatever the page size.
const LEN: usize = 1;

/// A marker that reads as zero in any `fork` child.
pub(crate) struct ForkGuard {
    page: NonNull<u8>,
}

// SAFETY: the page is process memory, read only through volatile loads of one byte.
unsafe impl Send for ForkGuard {}
// SAFETY: as above; it is written once, before the guard is shared.
unsafe impl Sync for ForkGuard {}

impl ForkGuard {
    /// A guard, or `None` when the kernel lacks `MADV_WIPEONFORK` (or mapping fails).
    pub(crate) fn new() -> Option<Self> {
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
        // SAFETY: the page is mapped writable and owned by this guard.
        unsafe { page.as_ptr().write_volatile(1) };
        Some(Self { page })
    }

    /// Whether this process is not the one that created the guard.
    #[inline]
    pub(crate) fn forked(&self) -> bool {
        // SAFETY: the page stays mapped until `drop`; in a child it reads as zero.
        unsafe { self.page.as_ptr().read_volatile() == 0 }
    }
}

impl Drop for ForkGuard {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `new` and nothing else refers to it.
        let _ = unsafe { munmap(self.page.as_ptr().cast::<c_void>(), LEN) };
    }
}
