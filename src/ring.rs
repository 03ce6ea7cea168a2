//! Reaping completions from the ring the kernel maps into user memory.
//!
//! # Safety
//!
//! [`Ring`] reads memory the kernel writes concurrently. Its invariant: it only reads the
//! header and the events between `head` and `tail`, loads `tail` with acquire ordering
//! (pairing with the kernel's barrier before it publishes `tail`), and writes nothing but
//! `head`, with release ordering, once the events before it have been copied out. Whoever
//! creates it guarantees the mapping outlives it and that it is the only consumer.

#![allow(unsafe_code)]

use rawaio_abi::{aio_ring, io_event};
use std::ptr::{NonNull, addr_of, addr_of_mut};
use std::sync::atomic::{AtomicU32, Ordering};

/// The consumer side of a completion ring.
pub(crate) struct Ring {
    header: NonNull<aio_ring>,
    events: NonNull<io_event>,
    nr: u32,
}

// SAFETY: the ring is ordinary process memory; `Ring` is only used through `&mut self`
// (its owner keeps it behind a mutex), so moving it to another thread is sound.
unsafe impl Send for Ring {}

/// The ring's indices no longer make sense (a header someone overwrote).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Corrupt;

impl Ring {
    /// Takes the ring whose header is at `header`, if user space may read it.
    ///
    /// # Safety
    /// - `header` points to a completion ring (header, then `nr` events at
    ///   `header_length`) that stays mapped for as long as the `Ring` is used;
    /// - nothing else consumes from it (advances `head`) while the `Ring` exists, in user
    ///   space or through `io_getevents`, unless the owner of the `Ring` excludes it.
    pub(crate) unsafe fn new(header: NonNull<aio_ring>) -> Option<Self> {
        let p = header.as_ptr();
        // SAFETY: the caller guarantees the header is mapped. These fields are written by
        // the kernel before io_setup returns and never again; `head` and `tail`, which the
        // kernel may be storing to right now, are only ever accessed atomically.
        let snapshot = unsafe {
            aio_ring {
                id: addr_of!((*p).id).read_volatile(),
                nr: addr_of!((*p).nr).read_volatile(),
                magic: addr_of!((*p).magic).read_volatile(),
                compat_features: addr_of!((*p).compat_features).read_volatile(),
                incompat_features: addr_of!((*p).incompat_features).read_volatile(),
                header_length: addr_of!((*p).header_length).read_volatile(),
                ..aio_ring::default()
            }
        };
        if !snapshot.is_readable() {
            return None;
        }
        let offset = snapshot.header_length as usize;
        // SAFETY: the events start `header_length` bytes into the same mapping.
        let events = unsafe { header.cast::<u8>().add(offset).cast::<io_event>() };
        Some(Self {
            header,
            events,
            nr: snapshot.nr,
        })
    }

    /// Number of event slots.
    pub(crate) fn nr(&self) -> u32 {
        self.nr
    }

    /// A view of the indices for lock-free checks; valid as long as the mapping is.
    pub(crate) fn peek(&self) -> Peek {
        Peek {
            header: self.header,
            nr: self.nr,
        }
    }

    fn head(&self) -> &AtomicU32 {
        // SAFETY: `head` is an aligned u32 in the mapping, which outlives `self`; the kernel
        // and this consumer access it only atomically (the kernel under its lock, which the
        // owner of `self` keeps from running concurrently).
        unsafe { AtomicU32::from_ptr(addr_of_mut!((*self.header.as_ptr()).head)) }
    }

    fn tail(&self) -> &AtomicU32 {
        // SAFETY: as in `head`; the kernel stores `tail` after a write barrier.
        unsafe { AtomicU32::from_ptr(addr_of_mut!((*self.header.as_ptr()).tail)) }
    }

    /// Copies up to `out.len()` ready events into `out`, oldest first, consumes them and
    /// returns how many it copied. Makes no system call.
    pub(crate) fn reap(&mut self, out: &mut [io_event]) -> Result<usize, Corrupt> {
        let mut slots = out.iter_mut();
        self.reap_each(slots.len(), |event| {
            if let Some(slot) = slots.next() {
                *slot = event;
            }
        })
    }

    /// Hands up to `max` ready events to `f`, oldest first, and consumes them; returns how
    /// many. Makes no system call. Each event is copied out of the ring before `f` sees
    /// it, and is consumed once handed out: if `f` panics, the events handed out so far
    /// (that one included) are consumed and the rest stay for the next reap, so none is
    /// ever handed out twice.
    #[inline]
    pub(crate) fn reap_each(
        &mut self,
        max: usize,
        mut f: impl FnMut(io_event),
    ) -> Result<usize, Corrupt> {
        let tail = self.tail().load(Ordering::Acquire);
        let head = self.head().load(Ordering::Relaxed);
        let n = (distance(head, tail, self.nr)? as usize).min(max);
        if n == 0 {
            return Ok(0);
        }
        /// Stores the new `head` when dropped: at the end, or while unwinding.
        struct Consume<'a> {
            head: &'a AtomicU32,
            index: u32,
        }
        impl Drop for Consume<'_> {
            #[inline]
            fn drop(&mut self) {
                self.head.store(self.index, Ordering::Release);
            }
        }
        let mut consumed = Consume {
            head: self.head(),
            index: head,
        };
        for _ in 0..n {
            // SAFETY: `index < nr`, so the event lies inside the mapping; the kernel wrote
            // it before publishing `tail` (acquire above) and will not overwrite it until
            // `head` moves past it.
            let event = unsafe {
                self.events
                    .add(consumed.index as usize)
                    .as_ptr()
                    .read_volatile()
            };
            consumed.index += 1;
            if consumed.index == self.nr {
                consumed.index = 0;
            }
            f(event);
        }
        Ok(n)
    }
}

/// A read-only view of a ring's indices, for checking whether anything is ready without
/// the consumer's lock.
///
/// It only loads `head` and `tail` atomically; it never reads an event nor writes. Whoever
/// makes one guarantees the mapping outlives it (a context keeps its rings mapped until
/// `io_destroy`, which needs exclusive access).
#[derive(Clone, Copy)]
pub(crate) struct Peek {
    header: NonNull<aio_ring>,
    nr: u32,
}

// SAFETY: a `Peek` only performs atomic loads of process memory that outlives it (the
// creator's guarantee), which any thread may do.
unsafe impl Send for Peek {}
// SAFETY: as for `Send`: shared use is only atomic loads.
unsafe impl Sync for Peek {}

impl Peek {
    /// How many events are ready. A concurrent consumer may take them at any moment, so
    /// this is a hint, except that 0 with no other consumer means empty.
    #[inline]
    pub(crate) fn ready(&self) -> Result<u32, Corrupt> {
        let p = self.header.as_ptr();
        // SAFETY: the mapping outlives `self` (creator's guarantee); `head` and `tail` are
        // aligned u32s that everyone accesses atomically.
        let (tail, head) = unsafe {
            (
                AtomicU32::from_ptr(addr_of_mut!((*p).tail)).load(Ordering::Acquire),
                AtomicU32::from_ptr(addr_of_mut!((*p).head)).load(Ordering::Relaxed),
            )
        };
        distance(head, tail, self.nr)
    }
}

/// Events between `head` and `tail` in a ring of `nr` slots.
#[inline]
fn distance(head: u32, tail: u32, nr: u32) -> Result<u32, Corrupt> {
    if head >= nr || tail >= nr {
        return Err(Corrupt);
    }
    Ok(if tail >= head {
        tail - head
    } else {
        nr - head + tail
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rawaio_abi::{AIO_RING_COMPAT_FEATURES, AIO_RING_MAGIC};

    /// A ring in ordinary memory, with a "kernel" side that publishes events the way the
    /// kernel does: write the slot, then store `tail` with release ordering.
    pub(crate) struct FakeRing {
        /// The ring's memory, owned through a raw pointer so that every access (ours,
        /// the "kernel's", and the `Ring`'s) may write it.
        words: NonNull<u64>,
        len: usize,
        nr: u32,
    }

    // SAFETY: the words are only reached through the atomics and volatile accesses below.
    unsafe impl Send for FakeRing {}
    // SAFETY: as above; the producer and consumer touch disjoint slots, synchronized by
    // `tail` and `head`.
    unsafe impl Sync for FakeRing {}

    impl FakeRing {
        pub(crate) fn new(nr: u32) -> Self {
            let len = 4 + 4 * nr as usize;
            let words =
                NonNull::new(Box::into_raw(vec![0u64; len].into_boxed_slice()).cast::<u64>())
                    .unwrap();
            let header = aio_ring {
                nr,
                magic: AIO_RING_MAGIC,
                compat_features: AIO_RING_COMPAT_FEATURES,
                header_length: 32,
                ..aio_ring::default()
            };
            // SAFETY: the words are 8-aligned and at least 32 bytes long.
            unsafe { words.cast::<aio_ring>().write(header) };
            Self { words, len, nr }
        }

        pub(crate) fn header(&self) -> NonNull<aio_ring> {
            self.words.cast::<aio_ring>()
        }

        fn atomic(&self, field: usize) -> &AtomicU32 {
            // SAFETY: field 2 is head and 3 is tail, aligned u32s inside the header.
            unsafe { AtomicU32::from_ptr(self.header().as_ptr().cast::<u32>().add(field)) }
        }

        /// Publishes `event` if there is room (the kernel keeps one slot free).
        pub(crate) fn produce(&self, event: io_event) -> bool {
            let tail = self.atomic(3).load(Ordering::Relaxed);
            let head = self.atomic(2).load(Ordering::Acquire);
            let next = (tail + 1) % self.nr;
            if next == head {
                return false;
            }
            // SAFETY: slot `tail` is inside the words and not readable by the consumer
            // until `tail` is published below.
            unsafe {
                let slot = self
                    .words
                    .as_ptr()
                    .add(4 + 4 * tail as usize)
                    .cast::<io_event>();
                slot.write_volatile(event);
            }
            self.atomic(3).store(next, Ordering::Release);
            true
        }

        pub(crate) fn set_indices(&self, head: u32, tail: u32) {
            assert!(self.len >= 4);
            self.atomic(2).store(head, Ordering::Relaxed);
            self.atomic(3).store(tail, Ordering::Relaxed);
        }
    }

    impl Drop for FakeRing {
        fn drop(&mut self) {
            let slice = std::ptr::slice_from_raw_parts_mut(self.words.as_ptr(), self.len);
            // SAFETY: made by `Box::into_raw` in `new` with this length; freed once.
            drop(unsafe { Box::from_raw(slice) });
        }
    }

    fn event(n: u64) -> io_event {
        io_event {
            data: n,
            obj: n * 2,
            res: n as i64,
            res2: 0,
        }
    }

    #[test]
    fn reaps_in_order_across_the_wrap() {
        let fake = FakeRing::new(8);
        // SAFETY: the fake ring outlives `ring` and nothing else consumes it.
        let mut ring = unsafe { Ring::new(fake.header()) }.unwrap();
        let mut out = [io_event::default(); 8];
        let mut next_in = 0;
        let mut next_out = 0;
        for round in 0..20 {
            for _ in 0..(round % 7 + 1) {
                if fake.produce(event(next_in)) {
                    next_in += 1;
                }
            }
            assert_eq!(ring.peek().ready(), Ok((next_in - next_out) as u32));
            let n = ring.reap(&mut out[..3]).unwrap();
            for ev in &out[..n] {
                assert_eq!(*ev, event(next_out));
                next_out += 1;
            }
        }
        while next_out < next_in {
            let n = ring.reap(&mut out).unwrap();
            assert!(n > 0);
            next_out += n as u64;
        }
        assert_eq!(ring.reap(&mut out), Ok(0));
        assert!(next_in > 50, "the test wrapped the ring several times");
    }

    #[test]
    fn a_panicking_consumer_never_sees_an_event_twice() {
        let fake = FakeRing::new(8);
        // SAFETY: the fake ring outlives `ring` and nothing else consumes it.
        let mut ring = unsafe { Ring::new(fake.header()) }.unwrap();
        for n in 0..5 {
            assert!(fake.produce(event(n)));
        }
        let mut seen = Vec::new();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ring.reap_each(8, |ev| {
                seen.push(ev.data);
                assert_ne!(ev.data, 1, "the consumer fails on the second event");
            })
        }));
        assert!(unwound.is_err());
        assert_eq!(seen, [0, 1]);
        assert_eq!(
            ring.peek().ready(),
            Ok(3),
            "the event that failed is consumed too"
        );
        let mut out = [io_event::default(); 8];
        assert_eq!(ring.reap(&mut out), Ok(3));
        assert_eq!(out[..3], [event(2), event(3), event(4)]);
    }

    #[test]
    fn refuses_bad_headers_and_indices() {
        let fake = FakeRing::new(4);
        // SAFETY: the header is readable memory that outlives the call.
        unsafe {
            fake.header()
                .as_ptr()
                .cast::<u32>()
                .add(4)
                .write(0xdead_beef);
            assert!(Ring::new(fake.header()).is_none());
        }
        let fake = FakeRing::new(4);
        // SAFETY: as above.
        let mut ring = unsafe { Ring::new(fake.header()) }.unwrap();
        fake.set_indices(0, 9);
        assert_eq!(ring.reap(&mut [io_event::default(); 2]), Err(Corrupt));
        fake.set_indices(5, 1);
        assert_eq!(ring.peek().ready(), Err(Corrupt));
    }

    #[test]
    fn concurrent_producer_every_event_exactly_once() {
        let fake = std::sync::Arc::new(FakeRing::new(16));
        let total: u64 = if cfg!(miri) { 200 } else { 20_000 };
        let producer = {
            let fake = fake.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while n < total {
                    if fake.produce(event(n)) {
                        n += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
            })
        };
        // SAFETY: `fake` outlives `ring`; this thread is the only consumer.
        let mut ring = unsafe { Ring::new(fake.header()) }.unwrap();
        let mut out = [io_event::default(); 5];
        let mut expected = 0;
        while expected < total {
            let n = ring.reap(&mut out).unwrap();
            for ev in &out[..n] {
                assert_eq!(*ev, event(expected));
                expected += 1;
            }
            if n == 0 {
                std::thread::yield_now();
            }
        }
        producer.join().unwrap();
        assert_eq!(ring.peek().ready(), Ok(0));
    }
}
