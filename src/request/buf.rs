//! Buffers the kernel may use while a request is in flight.
//!
//! A buffer handed to the safe API is owned by the [`Context`](crate::Context) from
//! submission until its completion is reaped (or the context is destroyed), so the
//! kernel never writes into memory that Rust has freed or lent out elsewhere. Borrowed
//! buffers (`&mut [u8]` on the stack, a part of a larger mapping) reach the kernel only
//! inside [`Context::scope`](crate::Context::scope), which does not return before every
//! request made in it has completed.
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
use std::ops::{Bound, Deref, DerefMut, RangeBounds};
use std::ptr::NonNull;

/// Memory a request may hand to the kernel: the bytes a write is submitted from.
///
/// A buffer is handed to a request by value, and the [`Context`](crate::Context) owns it
/// from submission until the request's completion is reaped (or the context is
/// destroyed, which waits for the kernel). The methods are named `io_*` so that
/// importing the trait never shadows a slice's own `len` or `as_ptr`.
///
/// rawaio implements it for `Vec<u8>`, `Box<[u8]>`, [`AlignedBuf`], `Arc<[u8]>`,
/// `&[u8]` and `&mut [u8]` (non-`'static` borrows only inside
/// [`Context::scope`](crate::Context::scope)), [`Slice`](crate::Slice) and, with the
/// `bytes` feature, `bytes::Bytes` and `bytes::BytesMut`.
///
/// # Safety
///
/// Implementors guarantee that, for as long as the value is alive and not accessed
/// through `&mut self` (other than by [`IoBufMut::io_mut_ptr`]):
/// - [`io_ptr`](Self::io_ptr) returns a pointer valid for reading
///   [`io_len`](Self::io_len) bytes, and the memory stays allocated (or mapped) and is not
///   reused for anything else;
/// - the pointer and length stay the same when the value is moved (the bytes live on the
///   heap, in a mapping or in memory borrowed for the value's lifetime, not inline);
/// - nobody writes the bytes while the kernel may read them: the value is the only way
///   to write them (shared owners, such as `Arc<[u8]>`'s, only read).
///
/// Memory shared with another party that may write it at any time (a guest's RAM in a
/// virtual machine monitor, a region shared with another process or a device) meets the
/// contract when the value keeps the mapping alive and no Rust reference to those bytes
/// (`&[u8]`, `&mut [u8]`) is used while the kernel may access them: the other parties
/// reach them only through raw pointers, volatile or atomic operations. The kernel then
/// transfers whatever the bytes hold at the time it copies them, exactly as a device
/// doing DMA would; what a racing writer sees is unspecified, but no Rust code observes
/// undefined behaviour.
pub unsafe trait IoBuf: Send {
    /// The address of the first byte the kernel may read.
    fn io_ptr(&self) -> *const u8;
    /// How many bytes the kernel may read (or, for [`IoBufMut`], write).
    fn io_len(&self) -> usize;
}

/// Memory the kernel may also write into: what a read is submitted into.
///
/// # Safety
///
/// As for [`IoBuf`], and:
/// - [`io_mut_ptr`](Self::io_mut_ptr) returns a pointer valid for writing
///   [`io_len`](IoBuf::io_len) bytes, at the same address as [`IoBuf::io_ptr`];
/// - nobody reads or writes those bytes through a Rust reference while the kernel may
///   write them (the value is the only way to them, or the other parties use raw,
///   volatile or atomic accesses only, as described for [`IoBuf`]).
pub unsafe trait IoBufMut: IoBuf {
    /// The address of the first byte, for writing.
    fn io_mut_ptr(&mut self) -> *mut u8;
}

// SAFETY: a Vec's bytes live on the heap (or nowhere, for len 0) and do not move when the
// Vec does; only the Vec reaches them.
unsafe impl IoBuf for Vec<u8> {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf`, and `io_mut_ptr` is the same address.
unsafe impl IoBufMut for Vec<u8> {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
}

// SAFETY: a boxed slice's bytes live on the heap and do not move with the box.
unsafe impl IoBuf for Box<[u8]> {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf`, and `io_mut_ptr` is the same address.
unsafe impl IoBufMut for Box<[u8]> {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
}

// SAFETY: a shared borrow keeps the bytes alive and unwritten for its lifetime `'a`, and
// the kernel only reads them. (A non-`'static` borrow can only reach a context inside
// `Context::scope`, which outlives no request.)
unsafe impl IoBuf for &[u8] {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: an exclusive borrow is the only way to the bytes for its lifetime.
unsafe impl IoBuf for &mut [u8] {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf`, and `io_mut_ptr` is the same address.
unsafe impl IoBufMut for &mut [u8] {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
}

// SAFETY: the bytes live on the heap as long as any `Arc` does, and no owner can write
// them (an `Arc<[u8]>` gives only shared access): the kernel only reads them.
unsafe impl IoBuf for std::sync::Arc<[u8]> {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: `Bytes` is an immutable, reference-counted view of bytes that stay allocated
// and unwritten while any view lives; moving it does not move them.
#[cfg(feature = "bytes")]
unsafe impl IoBuf for bytes::Bytes {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: a `BytesMut` is the unique owner of its view; its bytes live on the heap and
// do not move with the value.
#[cfg(feature = "bytes")]
unsafe impl IoBuf for bytes::BytesMut {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf`, and `io_mut_ptr` is the same address.
#[cfg(feature = "bytes")]
unsafe impl IoBufMut for bytes::BytesMut {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
}

/// A part of a buffer: `buf[start..end]` for I/O, with the whole buffer kept (and given
/// back by [`into_inner`](Self::into_inner)).
///
/// For one request, [`Op::range`](crate::Op::range) does the same without changing the
/// buffer type; a `Slice` is for a context whose buffer type is a part of something
/// larger (several requests into one big buffer, each owning a slice of a clone of an
/// `Arc<[u8]>`, say).
///
/// ```
/// use rawaio::{IoBuf, Slice};
/// let whole: std::sync::Arc<[u8]> = vec![1u8, 2, 3, 4, 5].into();
/// let part = Slice::new(whole.clone(), 1..4)?;
/// assert_eq!(part.io_len(), 3);
/// assert_eq!(part.as_bytes(), &[2, 3, 4]);
/// assert!(Slice::new(whole, 2..9).is_err());
/// # Ok::<(), rawaio::InvalidOp>(())
/// ```
pub struct Slice<B> {
    buf: B,
    start: usize,
    end: usize,
}

impl<B: IoBuf> Slice<B> {
    /// `buf[range]`.
    ///
    /// # Errors
    /// [`InvalidOp::Range`](crate::InvalidOp::Range) when the range is not inside the
    /// buffer.
    pub fn new(buf: B, range: impl std::ops::RangeBounds<usize>) -> Result<Self, crate::InvalidOp> {
        let (start, end) = resolve_range(&range, buf.io_len())?;
        Ok(Self { buf, start, end })
    }

    /// Where the slice starts in the buffer.
    pub fn start(&self) -> usize {
        self.start
    }

    /// Where the slice ends in the buffer (exclusive).
    pub fn end(&self) -> usize {
        self.end
    }

    /// The whole buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }

    /// The bytes of the slice, for a buffer that can be read as a slice.
    pub fn as_bytes(&self) -> &[u8]
    where
        B: std::ops::Deref<Target = [u8]>,
    {
        &self.buf[self.start..self.end]
    }

    /// Gives the whole buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

/// `range` resolved against a buffer of `len` bytes.
pub(crate) fn resolve_range(
    range: &impl RangeBounds<usize>,
    len: usize,
) -> Result<(usize, usize), crate::InvalidOp> {
    let start = match range.start_bound() {
        Bound::Included(&s) => Some(s),
        Bound::Excluded(&s) => s.checked_add(1),
        Bound::Unbounded => Some(0),
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => Some(len),
    };
    match (start, end) {
        (Some(start), Some(end)) if start <= end && end <= len => Ok((start, end)),
        (start, end) => Err(crate::InvalidOp::Range {
            start: start.unwrap_or(usize::MAX),
            end: end.unwrap_or(usize::MAX),
            len,
        }),
    }
}

impl<B> fmt::Debug for Slice<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slice")
            .field("start", &self.start)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

// SAFETY: the buffer meets the contract for its whole length, and `start <= end <= len`
// was checked when the slice was made (the buffer cannot change length: it is owned by
// the slice and reached only through `&self` here).
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn io_ptr(&self) -> *const u8 {
        self.buf.io_ptr().wrapping_add(self.start)
    }
    fn io_len(&self) -> usize {
        self.end - self.start
    }
}

// SAFETY: as for `IoBuf`, and `io_mut_ptr` is the same address.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.buf.io_mut_ptr().wrapping_add(self.start)
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
    fn io_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len
    }
}

// SAFETY: as for `IoBuf`, and `io_mut_ptr` is the same address.
unsafe impl IoBufMut for AlignedBuf {
    fn io_mut_ptr(&mut self) -> *mut u8 {
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
        let p = v.io_mut_ptr();
        assert_eq!(v.io_ptr(), p as *const u8);
        assert_eq!(v.io_len(), 3);
        let b: Box<[u8]> = v.into_boxed_slice();
        assert_eq!(b.io_len(), 3);
        let s: &'static [u8] = b"abc";
        assert_eq!(s.io_ptr(), s.as_ptr());
        let a: std::sync::Arc<[u8]> = b.into();
        assert_eq!((a.io_ptr(), a.io_len()), (a.as_ptr(), 3));
        let mut stack = [0u8; 4];
        let mut borrowed = &mut stack[1..];
        assert_eq!(borrowed.io_len(), 3);
        assert_eq!(borrowed.io_mut_ptr() as *const u8, borrowed.io_ptr());
    }

    #[test]
    fn importing_the_traits_never_shadows_slice_methods() {
        // `IoBuf` is in scope here: a slice's own `len` and `as_ptr` must still resolve.
        let mut local = [1u8, 2, 3];
        let view: &mut [u8] = &mut local;
        assert_eq!(view.len(), 3);
        assert_eq!(view.as_ptr(), local.as_ptr());
    }

    #[test]
    fn slices_cover_part_of_a_buffer_and_give_it_back() {
        let mut s = Slice::new(vec![1u8, 2, 3, 4, 5], 1..=3).unwrap();
        assert_eq!((s.start(), s.end(), s.io_len()), (1, 4, 3));
        assert_eq!(s.as_bytes(), &[2, 3, 4]);
        let base = s.get_ref().as_ptr();
        assert_eq!(s.io_ptr(), base.wrapping_add(1));
        assert_eq!(s.io_mut_ptr() as *const u8, base.wrapping_add(1));
        assert_eq!(s.into_inner(), vec![1, 2, 3, 4, 5]);
        let empty = Slice::new(vec![0u8; 2], 2..).unwrap();
        assert_eq!(empty.io_len(), 0);
        assert!(Slice::new(vec![0u8; 2], 3..).is_err());
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = Slice::new(vec![0u8; 4], 3..1);
        assert!(reversed.is_err());
    }
}
