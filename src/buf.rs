//! Buffers the kernel may use while a request is in flight.
//!
//! A buffer handed to the safe API is owned by the [`Context`](crate::Context) from
//! submission until its completion is reaped (or the context is destroyed), so the
//! kernel never writes into memory that Rust has freed or lent out elsewhere.
//!
//! # Safety
//!
//! This module implements [`IoBuf`] for the standard owning buffers and defines
//! [`AlignedBuf`], whose allocation it manages. Its invariant: every implementation
//! reports a pointer that stays valid for `len` bytes, at the same address, for as long
//! as the value lives, wherever the value is moved.

#![allow(unsafe_code)]

use std::alloc::{Layout, LayoutError, alloc_zeroed, dealloc, handle_alloc_error};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// A buffer whose bytes stay put while the value moves: what a write may be submitted
/// from.
///
/// # Safety
///
/// Implementors guarantee that:
/// - [`as_ptr`](Self::as_ptr) returns a pointer valid for reading [`len`](Self::len)
///   bytes, for as long as the value is alive and not accessed through `&mut self`;
/// - the pointer and length stay the same when the value is moved (the bytes live on the
///   heap or in static memory, not inline);
/// - nothing but the value's own methods reaches those bytes (no shared ownership that
///   could write or free them while the kernel uses them).
pub unsafe trait IoBuf: Send + 'static {
    /// The address of the first byte.
    fn as_ptr(&self) -> *const u8;
    /// How many bytes the kernel may read (or, for [`IoBufMut`], write).
    fn len(&self) -> usize;
    /// Whether the buffer has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A buffer the kernel may also write into: what a read may be submitted into.
///
/// # Safety
///
/// As for [`IoBuf`], and [`as_mut_ptr`](Self::as_mut_ptr) returns a pointer valid for
/// writing [`len`](IoBuf::len) bytes, with the same address as [`IoBuf::as_ptr`].
pub unsafe trait IoBufMut: IoBuf {
    /// The address of the first byte, for writing.
    fn as_mut_ptr(&mut self) -> *mut u8;
}

// SAFETY: a Vec's bytes live on the heap (or nowhere, for len 0) and do not move when the
// Vec does; only the Vec reaches them.
unsafe impl IoBuf for Vec<u8> {
    fn as_ptr(&self) -> *const u8 {
        <[u8]>::as_ptr(self)
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

// SAFETY: as for `IoBuf`, and `as_mut_ptr` is the same address.
unsafe impl IoBufMut for Vec<u8> {
    fn as_mut_ptr(&mut self) -> *mut u8 {
        <[u8]>::as_mut_ptr(self)
    }
}

// SAFETY: a boxed slice's bytes live on the heap and do not move with the box.
unsafe impl IoBuf for Box<[u8]> {
    fn as_ptr(&self) -> *const u8 {
        <[u8]>::as_ptr(self)
    }
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
}

// SAFETY: as for `IoBuf`, and `as_mut_ptr` is the same address.
unsafe impl IoBufMut for Box<[u8]> {
    fn as_mut_ptr(&mut self) -> *mut u8 {
        <[u8]>::as_mut_ptr(self)
    }
}

// SAFETY: static memory never moves and is never freed; a shared static slice is never
// written, and it is only ever read from here.
unsafe impl IoBuf for &'static [u8] {
    fn as_ptr(&self) -> *const u8 {
        <[u8]>::as_ptr(self)
    }
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
}

// SAFETY: static memory never moves; the exclusive reference is the only way to it.
unsafe impl IoBuf for &'static mut [u8] {
    fn as_ptr(&self) -> *const u8 {
        <[u8]>::as_ptr(self)
    }
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
}

// SAFETY: as for `IoBuf`, and `as_mut_ptr` is the same address.
unsafe impl IoBufMut for &'static mut [u8] {
    fn as_mut_ptr(&mut self) -> *mut u8 {
        <[u8]>::as_mut_ptr(self)
    }
}

/// A zero-initialized heap buffer with a chosen alignment, for `O_DIRECT` I/O.
///
/// ```
/// let mut buf = rawaio::AlignedBuf::new(8192, 4096)?;
/// assert_eq!(buf.as_ptr() as usize % 4096, 0);
/// assert_eq!(buf.len(), 8192);
/// buf[0] = 1;
/// assert!(buf[1..].iter().all(|&b| b == 0));
/// # Ok::<(), std::alloc::LayoutError>(())
/// ```
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    align: usize,
}

// SAFETY: `AlignedBuf` owns its allocation outright, like a `Box<[u8]>`.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only reads, as for `Box<[u8]>`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// Allocates `len` zeroed bytes aligned to `align`.
    ///
    /// # Errors
    /// `LayoutError` when `align` is not a power of two or `len` rounded up to `align`
    /// exceeds `isize::MAX`.
    ///
    /// # Panics
    /// Never for a bad size; aborts through [`handle_alloc_error`] when memory runs out,
    /// as `Vec` does.
    pub fn new(len: usize, align: usize) -> Result<Self, LayoutError> {
        let layout = Layout::from_size_align(len, align)?;
        let ptr = if len == 0 {
            // A dangling but aligned pointer: no allocation, nothing to free.
            NonNull::new(std::ptr::without_provenance_mut(align)).expect("align is non-zero")
        } else {
            // SAFETY: the layout has a non-zero size.
            NonNull::new(unsafe { alloc_zeroed(layout) })
                .unwrap_or_else(|| handle_alloc_error(layout))
        };
        Ok(Self { ptr, len, align })
    }

    /// A buffer for direct I/O on `fd`: aligned as [`dio_align`](crate::direct::dio_align)
    /// reports for that file, with `len` rounded up to its offset alignment.
    ///
    /// # Errors
    /// Those of `dio_align` (`Unsupported` for a file that cannot do direct I/O), and
    /// `InvalidInput` when the rounded length does not fit a buffer.
    ///
    /// ```
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let buf = rawaio::AlignedBuf::for_file(&file, 1000)?;
    /// let align = rawaio::direct::dio_align(&file)?;
    /// assert_eq!(buf.len() % align.offset, 0);
    /// assert_eq!(buf.as_ptr() as usize % align.memory, 0);
    /// assert!(buf.len() >= 1000);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn for_file(fd: impl std::os::fd::AsFd, len: usize) -> std::io::Result<Self> {
        let align = crate::direct::dio_align(fd)?;
        let invalid = |e: &dyn fmt::Display| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
        };
        let len = align
            .round_up(len)
            .ok_or_else(|| invalid(&"direct I/O buffer length overflows usize"))?;
        Self::new(len, align.memory.max(1)).map_err(|e| invalid(&e))
    }

    /// The alignment this buffer was allocated with.
    pub fn align(&self) -> usize {
        self.align
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` initialized bytes (zeroed at allocation) that
        // this value owns; for len 0 a dangling aligned pointer is allowed.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: allocated in `new` with exactly this layout, freed only here.
            unsafe {
                dealloc(
                    self.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(self.len, self.align),
                );
            }
        }
    }
}

impl Clone for AlignedBuf {
    fn clone(&self) -> Self {
        let mut copy = Self::new(self.len, self.align).expect("the layout was valid before");
        copy.copy_from_slice(self);
        copy
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("align", &self.align)
            .finish()
    }
}

impl PartialEq for AlignedBuf {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

// SAFETY: the allocation is owned by the value and does not move with it.
unsafe impl IoBuf for AlignedBuf {
    fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
    fn len(&self) -> usize {
        self.len
    }
}

// SAFETY: as for `IoBuf`, and `as_mut_ptr` is the same address.
unsafe impl IoBufMut for AlignedBuf {
    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buf_is_aligned_zeroed_and_stable_across_moves() {
        for (len, align) in [(1, 512), (4096, 4096), (10_000, 64), (0, 4096)] {
            let buf = AlignedBuf::new(len, align).unwrap();
            assert_eq!(buf.as_ptr() as usize % align, 0);
            assert_eq!(buf.len(), len);
            assert!(buf.iter().all(|&b| b == 0));
            let before = buf.as_ptr();
            let moved = Box::new(buf);
            assert_eq!(moved.as_ptr(), before);
        }
        assert!(AlignedBuf::new(16, 3).is_err());
        assert!(AlignedBuf::new(usize::MAX, 4096).is_err());
    }

    #[test]
    fn clone_copies_bytes_into_a_new_allocation() {
        let mut a = AlignedBuf::new(100, 128).unwrap();
        a[7] = 7;
        let b = a.clone();
        assert_eq!(a, b);
        assert_ne!(a.as_ptr(), b.as_ptr());
        assert_eq!(b.align(), 128);
    }

    #[test]
    fn std_buffers_report_their_bytes() {
        let mut v = vec![1u8, 2, 3];
        let p = IoBufMut::as_mut_ptr(&mut v);
        assert_eq!(IoBuf::as_ptr(&v), p as *const u8);
        assert_eq!(IoBuf::len(&v), 3);
        let b: Box<[u8]> = v.into_boxed_slice();
        assert_eq!(IoBuf::len(&b), 3);
        let s: &'static [u8] = b"abc";
        assert_eq!(IoBuf::as_ptr(&s), s.as_ptr());
    }
}
