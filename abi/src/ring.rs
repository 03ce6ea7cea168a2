//! The completion ring that an AIO context maps into user memory (`struct aio_ring`,
//! defined in `fs/aio.c`, not in the uapi header).

use crate::io_event;

/// `AIO_RING_MAGIC`: the ring header's `magic` while user space may read the ring.
pub const AIO_RING_MAGIC: u32 = 0xa10a_10a1;
/// `AIO_RING_COMPAT_FEATURES`: compatible feature bits the kernel sets (1).
pub const AIO_RING_COMPAT_FEATURES: u32 = 1;
/// `AIO_RING_INCOMPAT_FEATURES`: incompatible feature bits (0); a reader must refuse a
/// ring with any bit it does not know set here.
pub const AIO_RING_INCOMPAT_FEATURES: u32 = 0;

/// The header of the completion ring, at the address an [`aio_context_t`](crate::aio_context_t)
/// holds; `nr` [`io_event`]s follow it at `header_length` bytes.
///
/// The kernel writes every field but `head`; a user-space reader loads `tail` with
/// acquire ordering, copies the events from `head` up to `tail` (modulo `nr`) and stores
/// the new `head` with release ordering. Only one reader at a time, and never together
/// with `io_getevents` on the same context.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct aio_ring {
    /// The context's slot in the process's table of AIO contexts (0, 1, 2, ...).
    pub id: u32,
    /// Number of event slots in the ring.
    pub nr: u32,
    /// Index of the next event to consume; written by the consumer.
    pub head: u32,
    /// Index one past the last event produced; written by the kernel.
    pub tail: u32,
    /// [`AIO_RING_MAGIC`].
    pub magic: u32,
    /// [`AIO_RING_COMPAT_FEATURES`].
    pub compat_features: u32,
    /// [`AIO_RING_INCOMPAT_FEATURES`].
    pub incompat_features: u32,
    /// Size of this header in bytes (32): where the events start.
    pub header_length: u32,
    /// The events (a flexible array member in C).
    pub io_events: [io_event; 0],
}

/// Size of [`aio_ring`] in bytes, which the kernel reports in `header_length`.
pub const AIO_RING_HEADER_SIZE: usize = 32;

impl aio_ring {
    /// Whether user space may read events from a ring with this header: the magic is
    /// right, no unknown incompatible feature is set, and the header length and slot
    /// count are sane.
    ///
    /// ```
    /// let mut h = rawaio_abi::aio_ring::default();
    /// assert!(!h.is_readable());
    /// h.magic = rawaio_abi::AIO_RING_MAGIC;
    /// h.nr = 64;
    /// h.header_length = 32;
    /// assert!(h.is_readable());
    /// h.incompat_features = 1;
    /// assert!(!h.is_readable());
    /// ```
    pub const fn is_readable(&self) -> bool {
        self.magic == AIO_RING_MAGIC
            && self.incompat_features == AIO_RING_INCOMPAT_FEATURES
            && self.header_length as usize >= AIO_RING_HEADER_SIZE
            && self.header_length as usize % core::mem::align_of::<io_event>() == 0
            && self.nr > 0
    }

    /// Number of events ready between `head` and `tail` in a ring of `nr` slots, or
    /// `None` if the indices are out of range (a corrupt or foreign header).
    ///
    /// ```
    /// let mut h = rawaio_abi::aio_ring::default();
    /// h.nr = 8;
    /// h.head = 6;
    /// h.tail = 2;
    /// assert_eq!(h.ready(), Some(4));
    /// h.tail = 9;
    /// assert_eq!(h.ready(), None);
    /// ```
    pub const fn ready(&self) -> Option<u32> {
        if self.nr == 0 || self.head >= self.nr || self.tail >= self.nr {
            return None;
        }
        if self.tail >= self.head {
            Some(self.tail - self.head)
        } else {
            Some(self.nr - self.head + self.tail)
        }
    }
}
