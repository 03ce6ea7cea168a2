//! The completion ring the kernel maps at the context's address: its header right after
//! `io_setup`, and reaping completions from it in user space without `io_getevents`.

mod common;

use common::{
    Ctx, POLLIN, TIMEOUT, assert_no_event, getevents, obj_of, pipe, pipe_write_byte, poll_iocb,
    reap_one, submit, submit_one,
};
use rawaio::abi::{
    AIO_RING_COMPAT_FEATURES, AIO_RING_HEADER_SIZE, AIO_RING_INCOMPAT_FEATURES, AIO_RING_MAGIC,
    aio_ring, io_event, iocb,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const TOKEN: u64 = 0xa10a_0000_0000_0000;

/// A snapshot of the ring header.
fn header(ctx: &Ctx) -> aio_ring {
    // SAFETY: the context is live, so its ring header is mapped and readable at the
    // handle's address; the kernel may update it concurrently, hence the volatile read.
    unsafe { std::ptr::read_volatile(ctx.ring()) }
}

/// The ring's `tail`, loaded with acquire ordering (pairs with the kernel's release).
fn load_tail(ctx: &Ctx) -> u32 {
    // SAFETY: `tail` is an aligned u32 in the live, mapped ring header; the kernel only
    // writes it atomically.
    let tail = unsafe { AtomicU32::from_ptr(&raw const (*ctx.ring()).tail as *mut u32) };
    tail.load(Ordering::Acquire)
}

/// Stores the ring's `head` with release ordering: the events before it are consumed.
fn store_head(ctx: &Ctx, head: u32) {
    // SAFETY: `head` is an aligned u32 in the live, mapped ring header, the one field
    // user space may write; this test is the context's only consumer.
    let h = unsafe { AtomicU32::from_ptr(&raw const (*ctx.ring()).head as *mut u32) };
    h.store(head, Ordering::Release);
}

/// Event `index` (< `nr`) of the ring.
fn ring_event(ctx: &Ctx, hdr: &aio_ring, index: u32) -> io_event {
    assert!(index < hdr.nr);
    let base = ctx.id() + hdr.header_length as usize;
    let ev = (base + index as usize * std::mem::size_of::<io_event>()) as *const io_event;
    // SAFETY: the ring maps `nr` events after the header; `index < nr`, and the event was
    // published by the tail this caller loaded with acquire ordering.
    unsafe { std::ptr::read_volatile(ev) }
}

/// Waits (without `io_getevents`) until the ring's tail moves away from `from`.
fn wait_tail_change(ctx: &Ctx, from: u32) -> u32 {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let t = load_tail(ctx);
        if t != from {
            return t;
        }
        assert!(Instant::now() < deadline, "tail stayed at {from}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn header_after_setup() {
    for n in [1u32, 8, 32] {
        let ctx = Ctx::new(n);
        let h = header(&ctx);
        assert_eq!(h.magic, AIO_RING_MAGIC, "magic, n={n}");
        assert_eq!(h.incompat_features, AIO_RING_INCOMPAT_FEATURES);
        assert_eq!(h.incompat_features, 0);
        assert_eq!(h.compat_features, AIO_RING_COMPAT_FEATURES);
        assert_eq!(h.compat_features, 1);
        assert_eq!(h.header_length, 32);
        assert_eq!(h.header_length as usize, AIO_RING_HEADER_SIZE);
        assert!(h.nr >= n, "nr {} < requested {n}", h.nr);
        assert_eq!((h.head, h.tail), (0, 0), "a fresh ring is empty");
        assert!(h.is_readable());
        assert_eq!(h.ready(), Some(0));
        // The ring is page-granular: the header plus `nr` events fill whole pages
        // exactly, whatever the page size (the kernel rounds nr up to fill them).
        let bytes = AIO_RING_HEADER_SIZE + h.nr as usize * std::mem::size_of::<io_event>();
        let page = rustix::param::page_size();
        assert_eq!(bytes % page, 0, "ring of {bytes} bytes, page {page}");
    }
}

#[test]
fn reap_one_event_in_user_space() {
    let (r, w) = pipe();
    let ctx = Ctx::new(4);
    let h0 = header(&ctx);
    assert_eq!(h0.tail, 0);

    let mut cb = poll_iocb(&r, POLLIN, TOKEN | 1);
    assert_eq!(submit_one(&ctx, &mut cb), Ok(1));
    // Still pending: the tail has not moved.
    assert_eq!(load_tail(&ctx), 0);
    pipe_write_byte(&w);

    let tail = wait_tail_change(&ctx, 0);
    assert_eq!(tail, 1, "one completion published");
    let h = header(&ctx);
    assert_eq!(h.head, 0, "the kernel does not move head by itself");
    assert_eq!(h.ready(), Some(1));
    let ev = ring_event(&ctx, &h, 0);
    assert_eq!(ev.data, TOKEN | 1);
    assert_eq!(ev.obj, obj_of(&cb));
    assert_ne!(ev.res as u64 & POLLIN, 0, "res {:#x}", ev.res);
    assert_eq!(ev.res2, 0);

    // Consume it: io_getevents must now see an empty ring.
    store_head(&ctx, 1);
    assert_no_event(&ctx);
    assert_eq!(header(&ctx).head, 1);

    // The kernel carries on from the new head: the next completion lands in slot 1 and
    // io_getevents returns it (and only it).
    let mut cb2 = poll_iocb(&r, POLLIN, TOKEN | 2);
    assert_eq!(submit_one(&ctx, &mut cb2), Ok(1));
    assert_eq!(wait_tail_change(&ctx, 1), 2);
    assert_eq!(ring_event(&ctx, &header(&ctx), 1).data, TOKEN | 2);
    let ev = reap_one(&ctx);
    assert_eq!(ev.data, TOKEN | 2);
    assert_eq!(ev.obj, obj_of(&cb2));
    let h = header(&ctx);
    assert_eq!((h.head, h.tail), (2, 2), "io_getevents advanced head");
}

#[test]
fn user_space_reaping_wraps_around_the_ring() {
    // The pipe stays readable, so every poll completes inside io_submit.
    let (r, w) = pipe();
    pipe_write_byte(&w);
    let ctx = Ctx::new(1);
    let nr = header(&ctx).nr;
    const BATCH: usize = 8;
    let mut cbs = [iocb::default(); BATCH];
    let total = 2 * nr as u64 + 5;
    let mut next = 0u64;
    let mut head = 0u32;
    while next < total {
        let k = BATCH.min((total - next) as usize);
        for (i, cb) in cbs[..k].iter_mut().enumerate() {
            *cb = poll_iocb(&r, POLLIN, TOKEN | 0x1000 | (next + i as u64));
        }
        let mut list: Vec<*mut iocb> = cbs[..k].iter_mut().map(|c| c as *mut iocb).collect();
        // Only possible past `nr` requests because the kernel sees the slots freed by
        // the head this loop stores.
        assert_eq!(
            submit(&ctx, &mut list),
            Ok(k),
            "at request {next} of {total}"
        );
        let deadline = Instant::now() + TIMEOUT;
        let expect_tail = (head + k as u32) % nr;
        while load_tail(&ctx) != expect_tail {
            assert!(
                Instant::now() < deadline,
                "tail did not reach {expect_tail}"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let h = header(&ctx);
        assert_eq!(h.ready(), Some(k as u32));
        for (i, cb) in cbs[..k].iter().enumerate() {
            let ev = ring_event(&ctx, &h, (head + i as u32) % nr);
            assert_eq!(ev.data, TOKEN | 0x1000 | (next + i as u64), "slot order");
            assert_eq!(ev.obj, obj_of(cb));
            assert_ne!(ev.res as u64 & POLLIN, 0);
        }
        head = expect_tail;
        store_head(&ctx, head);
        next += k as u64;
    }
    assert!(
        u64::from(head) < total,
        "the indices wrapped: head {head} after {total} events"
    );
    let evs = getevents(ctx.id(), 0, 4, Some(Duration::ZERO)).unwrap();
    assert!(evs.is_empty(), "every event was consumed in user space");
}
