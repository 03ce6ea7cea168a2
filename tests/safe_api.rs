//! The safe API as a new user meets it (issue 12): each request tied to its file and its
//! memory, no waits that cannot end, memory the program does not own as a `'static`
//! value through scopes, whole transfers and flushes, and the papercuts.
//!
//! Each test is one promise of the docs, checked against the running kernel.

mod support;

// Imported on purpose: the trait's methods must not shadow a slice's (`len`, `as_ptr`).
#[allow(unused_imports)]
use rawaio::IoBuf;
use rawaio::{Context, Error, EventFd, Flush, InvalidOp, Op, Options, PollFlags, Slice, Token};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Fs, TempFile, Watchdog, pattern, pipe, reap_n, reap_one, write_byte};

// ---- 1. A request reaches the file it names, and no other ----

#[test]
fn an_owned_or_shared_descriptor_is_held_until_submission() {
    let a = TempFile::new(Fs::Tmpfs, "safe-owned-a", &[]);
    let b = TempFile::new(Fs::Tmpfs, "safe-owned-b", &[]);
    let ctx = Context::<Vec<u8>>::new(4).unwrap();

    // Owned: the request keeps the file open; the next file opened gets another number.
    let file_a = a.open_rw();
    let number_a = file_a.as_raw_fd();
    let op = Op::write(file_a, b"for a".to_vec(), 0);
    let file_b = b.open_rw();
    assert_ne!(file_b.as_raw_fd(), number_a, "a's number is still taken");
    ctx.submit(op).unwrap();
    assert_eq!(reap_one(&ctx).result(), Ok(5));
    assert_eq!(a.contents(), b"for a");
    assert!(b.contents().is_empty(), "nothing reached b");

    // Shared: the last other owner goes away before submission.
    let shared = Arc::new(a.open_rw());
    let op = Op::write(Arc::clone(&shared), b"again".to_vec(), 0);
    drop(shared);
    let other = b.open_rw();
    ctx.submit(op).unwrap();
    assert_eq!(reap_one(&ctx).result(), Ok(5));
    assert_eq!(a.contents(), b"again");
    assert!(b.contents().is_empty());
    drop((file_b, other));

    // The notification eventfd is held the same way.
    let efd = Arc::new(EventFd::new().unwrap());
    let f = a.open_rw();
    let op = Op::write(&f, b"x".to_vec(), 0).notify(Arc::clone(&efd));
    ctx.submit(op).unwrap();
    reap_one(&ctx);
    assert_eq!(efd.read().unwrap(), 1);
}

// ---- 2. Eventfds: one rule, and a reaping pattern that cannot hang ----

#[test]
fn notify_on_a_context_with_its_own_eventfd_is_refused() {
    let file = TempFile::new(Fs::Tmpfs, "safe-notify", &[]);
    let f = file.open_rw();
    let mine = EventFd::new().unwrap();
    let ctx = Context::<Vec<u8>>::with_options(
        4,
        Options {
            eventfd: true,
            ..Options::default()
        },
    )
    .unwrap();
    let rejected = ctx
        .submit(Op::write(&f, vec![1u8; 8], 0).notify(&mine))
        .unwrap_err();
    assert_eq!(rejected.error, Error::Invalid(InvalidOp::NotifyConflict));
    assert_eq!(rejected.op.into_bufs(), vec![vec![1u8; 8]]);
    assert!(
        rejected.error.to_string().contains("only one"),
        "{}",
        rejected.error
    );
    assert_eq!(ctx.in_flight(), 0);
    // Without a notify of its own, the context's eventfd is told.
    ctx.submit(Op::write(&f, vec![1u8; 8], 0)).unwrap();
    reap_one(&ctx);
    assert_eq!(ctx.eventfd().unwrap().read().unwrap(), 1);
    // And on a context without one, the request's own eventfd is.
    let plain = Context::<Vec<u8>>::new(4).unwrap();
    plain
        .submit(Op::write(&f, vec![1u8; 8], 0).notify(&mine))
        .unwrap();
    reap_one(&plain);
    assert_eq!(mine.read().unwrap(), 1);
}

#[test]
fn readiness_then_reap_ready_never_hangs_whoever_reaped_first() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "eventfd reaping pattern");
    let file = TempFile::new(Fs::Tmpfs, "safe-efd-pattern", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::with_options(
        8,
        Options {
            eventfd: true,
            ..Options::default()
        },
    )
    .unwrap();
    let ring = ctx.ring_size() as usize;
    let efd = ctx.eventfd().unwrap();
    let mut seen: Vec<Token> = Vec::new();
    let mut submitted: Vec<Token> = Vec::new();
    // More completions over the rounds than the ring holds: the counter grows past it.
    for round in 0..4 {
        for i in 0..ring / 2 {
            let op = Op::write(&f, vec![round as u8; 8], (i * 8) as u64);
            submitted.push(ctx.submit(op).unwrap());
        }
        // Another kind of reaping takes some first (a blocking reap, as `submit_all`
        // does when the context is full).
        let mut done = Vec::new();
        ctx.reap(3, 3, None, &mut done).unwrap();
        seen.extend(done.iter().map(|c| c.token()));
        // The pattern: readiness (the counter), then what is ready, without waiting.
        let counted = efd.read().unwrap() as usize;
        assert!(counted >= 3);
        let mut done = Vec::new();
        while seen.len() + done.len() < submitted.len() {
            ctx.reap_ready(&mut done).unwrap();
        }
        seen.extend(done.iter().map(|c| c.token()));
    }
    // The old pattern, `reap(n, n)` with the counter's n, no longer hangs (it waits only
    // for what is in flight) but a counter beyond the ring is an error: why reap_ready.
    let mut done = Vec::new();
    assert_eq!(ctx.reap(5, 5, None, &mut done), Ok(0));
    assert_eq!(
        ctx.reap(ring + 1, ring + 1, None, &mut done),
        Err(rawaio::Errno::INVAL)
    );
    seen.sort_by_key(|t| format!("{t:?}"));
    seen.dedup();
    assert_eq!(
        seen.len(),
        submitted.len(),
        "every completion, exactly once"
    );
}

// ---- 3. Waits that end ----

#[test]
fn reap_never_waits_for_requests_that_are_not_in_flight() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "reap with nothing in flight");
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    let mut done = Vec::new();
    assert_eq!(ctx.reap(1, 1, None, &mut done), Ok(0));

    // Two threads wait for the one request in flight: one gets it, the other returns.
    let (r, w) = pipe();
    let ctx = Arc::new(ctx);
    let token = ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let ctx = Arc::clone(&ctx);
            std::thread::spawn(move || {
                let mut done = Vec::new();
                let n = ctx.reap(1, 1, None, &mut done).unwrap();
                (n, done.pop().map(|c| c.token()))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    write_byte(&w);
    let results: Vec<_> = waiters.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().map(|r| r.0).sum::<usize>(), 1, "{results:?}");
    assert!(results.iter().any(|r| r.1 == Some(token)));
}

#[test]
fn submit_all_and_submit_and_wait_end_at_their_timeout() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "submissions with a timeout");
    let (r, _w) = pipe();
    let ctx = Context::<Vec<u8>>::new(8).unwrap();
    // 200 polls nothing wakes: more than the context holds.
    let n = 200.max(ctx.ring_size() as usize + 10);
    let mut ops: VecDeque<_> = (0..n).map(|_| Op::poll(&r, PollFlags::IN)).collect();
    let (mut tokens, mut done) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let s = ctx.submit_all(
        &mut ops,
        &mut tokens,
        &mut done,
        Some(Duration::from_millis(200)),
    );
    let took = start.elapsed();
    eprintln!("submit_all: {s:?} after {took:?}, {} left", ops.len());
    assert_eq!(s.error, Some(Error::Os(rawaio::Errno::TIMEDOUT)));
    assert!(s.accepted > 0 && !ops.is_empty());
    assert_eq!(s.accepted + ops.len(), n);
    assert!(took >= Duration::from_millis(200), "{took:?}");
    for &token in &tokens {
        ctx.cancel(token).unwrap();
    }
    reap_n(&ctx, tokens.len(), &mut done);

    let mut few: VecDeque<_> = (0..5).map(|_| Op::poll(&r, PollFlags::IN)).collect();
    let mut done = Vec::new();
    let s = ctx.submit_and_wait(&mut few, &mut done, Some(Duration::from_millis(100)));
    assert_eq!(
        (s.accepted, s.error),
        (5, Some(Error::Os(rawaio::Errno::TIMEDOUT)))
    );
    assert!(done.is_empty());
    assert_eq!(ctx.in_flight(), 5, "still in flight, for later reaps");
}

#[test]
fn waiting_on_a_token_of_another_context_is_refused() {
    let (r, w) = pipe();
    let a = Context::<Vec<u8>>::new(4).unwrap();
    let b = Context::<Vec<u8>>::new(4).unwrap();
    let token = a.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    let mut done = Vec::new();
    for result in [
        b.wait_any(&[token], None, &mut done),
        b.wait_all(&[token], Some(Duration::ZERO), &mut done),
    ] {
        assert_eq!(result, Err(Error::Invalid(InvalidOp::ForeignToken)));
    }
    assert!(!b.is_in_flight(token));
    assert_eq!(b.cancel(token), Err(rawaio::Errno::INVAL));
    write_byte(&w);
    assert_eq!(a.wait_any(&[token], None, &mut done), Ok(1));
    assert_eq!(done.len(), 1);
}

// ---- 4. Memory the program does not own as a 'static value ----

#[test]
fn a_scope_reads_into_the_stack_and_into_parts_of_a_buffer() {
    let data = pattern(41, 8192);
    let file = TempFile::new(Fs::Tmpfs, "safe-scope", &data);
    let f = file.open_rw();
    let mut ctx = Context::<Vec<u8>>::new(8).unwrap();
    let mut head = [0u8; 100];
    let mut region = vec![0u8; 4096];
    let (left, right) = region.split_at_mut(1000);
    let total = ctx
        .scope(|s| {
            s.submit(Op::read(&f, &mut head[..], 0)).unwrap();
            s.submit(Op::readv(&f, vec![left, right], 100)).unwrap();
            let mut done = Vec::new();
            reap_n(s, 2, &mut done);
            done.iter().map(|c| c.full().unwrap()).sum::<u64>()
        })
        .unwrap();
    assert_eq!(total, 100 + 4096);
    assert_eq!(&head[..], &data[..100]);
    assert_eq!(&region[..], &data[100..100 + 4096]);
    // The context is whole again: owned requests, reaping, the same ring.
    ctx.submit(Op::read(&f, vec![0u8; 8], 0)).unwrap();
    assert_eq!(reap_one(&ctx).into_buf().unwrap(), &data[..8]);
}

#[test]
fn a_scope_that_panics_or_returns_early_still_waits_for_its_requests() {
    let data = pattern(43, 1 << 20);
    let file = TempFile::new(Fs::direct(), "safe-scope-panic", &data);
    let f = file.open_direct();
    let (r, _w) = pipe();
    let mut ctx = Context::<Vec<u8>>::new(8).unwrap();
    let mut buf = rawaio::AlignedBuf::new(1 << 20, 4096).unwrap();
    let _watchdog = Watchdog::new(Duration::from_secs(60), "a scope's exit");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ctx.scope(|s| {
            // A 1 MiB direct read and a poll nothing will wake, then a panic.
            s.submit(Op::read(&f, &mut buf[..], 0)).unwrap();
            s.submit(Op::poll(&r, PollFlags::IN)).unwrap();
            assert!(s.in_flight() >= 1);
            panic!("a bug in the middle of a scope");
        })
    }));
    assert!(result.is_err(), "the panic came through");
    assert_eq!(
        &buf[..],
        &data[..],
        "the read finished before the scope unwound"
    );
    assert_eq!(ctx.in_flight(), 0);
    // An early return with a poll in flight: the poll is cancelled, the scope returns.
    let n = ctx
        .scope(|s: &Context<Vec<u8>>| {
            s.submit(Op::poll(&r, PollFlags::IN)).unwrap();
            s.in_flight()
        })
        .unwrap();
    assert_eq!(n, 1);
    // Forgetting inside a scope: a completion holding a borrow, leaked. (Buffered: these
    // buffers are not aligned for O_DIRECT, which ext4 enforces and tmpfs does not.)
    let buffered = file.open_ro();
    let mut small = [0u8; 4];
    ctx.scope(|s| {
        s.submit(Op::read(&buffered, &mut small[..], 0)).unwrap();
        let c = reap_one(s);
        assert_eq!(c.full().unwrap(), 4);
        std::mem::forget(c);
    })
    .unwrap();
    assert_eq!(small, data[..4]);
    ctx.submit(Op::read(&buffered, vec![0u8; 4096], 0)).unwrap();
    let c = reap_one(&ctx);
    assert_eq!(c.full().unwrap(), 4096);
    assert_eq!(c.into_buf().unwrap(), &data[..4096]);
}

#[test]
fn a_scope_needs_an_idle_context() {
    let (r, w) = pipe();
    let mut ctx = Context::<Vec<u8>>::new(4).unwrap();
    ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    let mut ran = false;
    let refused = ctx.scope::<Vec<u8>, _, _>(|_| ran = true).unwrap_err();
    assert_eq!(refused, Error::Invalid(InvalidOp::InFlight { count: 1 }));
    assert!(!ran, "the closure is not run");
    write_byte(&w);
    reap_one(&ctx);
    assert!(ctx.scope::<Vec<u8>, _, _>(|_| true).unwrap());
}

#[test]
fn shared_buffers_and_slices_of_owned_ones() {
    let file = TempFile::new(Fs::Tmpfs, "safe-arc", &[]);
    let f = file.open_rw();
    // One Arc<[u8]> written twice, at two offsets, with no copy.
    let block: Arc<[u8]> = pattern(47, 512).into();
    let ctx = Context::<Arc<[u8]>>::new(4).unwrap();
    ctx.submit(Op::write(&f, Arc::clone(&block), 0)).unwrap();
    ctx.submit(Op::write(&f, Arc::clone(&block), 512)).unwrap();
    reap_n(&ctx, 2, &mut Vec::new());
    assert_eq!(file.contents(), [&block[..], &block[..]].concat());
    // Reads into a part of a larger owned buffer, the whole handed back.
    let ctx = Context::<Slice<Vec<u8>>>::new(4).unwrap();
    let part = Slice::new(vec![0xffu8; 2048], 1024..1536).unwrap();
    ctx.submit(Op::read(&f, part, 0)).unwrap();
    let whole = reap_one(&ctx).into_buf().unwrap().into_inner();
    assert_eq!(&whole[1024..1536], &block[..]);
    assert!(
        whole[..1024]
            .iter()
            .chain(&whole[1536..])
            .all(|&b| b == 0xff)
    );
    // And with Op::range, for any buffer type.
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    ctx.submit(Op::read(&f, vec![0xffu8; 2048], 256).range(100..356))
        .unwrap();
    let whole = reap_one(&ctx).into_buf().unwrap();
    assert_eq!(&whole[100..356], &block[256..]);
    assert_eq!(whole[99], 0xff);
}

#[cfg(feature = "bytes")]
#[test]
fn bytes_buffers_for_writes_and_reads() {
    let file = TempFile::new(Fs::Tmpfs, "safe-bytes", &[]);
    let f = file.open_rw();
    let ctx = Context::<bytes::Bytes>::new(4).unwrap();
    let data = bytes::Bytes::from(pattern(53, 300));
    ctx.submit(Op::write(&f, data.slice(100..), 0)).unwrap();
    assert_eq!(reap_one(&ctx).result(), Ok(200));
    let ctx = Context::<bytes::BytesMut>::new(4).unwrap();
    ctx.submit(Op::read(&f, bytes::BytesMut::zeroed(200), 0))
        .unwrap();
    assert_eq!(&reap_one(&ctx).into_buf().unwrap()[..], &data[100..]);
}

// ---- 5. Whole transfers and a flush that covers its batch ----

#[test]
fn read_exact_at_resubmits_short_reads_and_reports_the_end() {
    let (r, w) = pipe();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    // One read of a pipe returns what is there: short.
    let mut writer = File::from(w);
    writer.write_all(b"abc").unwrap();
    ctx.submit(Op::read(&r, vec![0u8; 8], 0)).unwrap();
    let c = reap_one(&ctx);
    assert!(c.is_short() && c.result() == Ok(3));
    assert_eq!(c.full().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    // read_exact_at resubmits the rest until all 8 bytes came, in two pieces.
    let feeder = std::thread::spawn(move || {
        writer.write_all(b"123").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        writer.write_all(b"45678").unwrap();
    });
    let buf = ctx
        .read_exact_at(&r, vec![0u8; 8], 0, &mut Vec::new())
        .unwrap();
    assert_eq!(buf, b"12345678");
    feeder.join().unwrap();
    // The writer is gone: the end of the stream, with how far it got.
    let incomplete = ctx
        .read_exact_at(&r, vec![0u8; 8], 0, &mut Vec::new())
        .unwrap_err();
    assert_eq!(incomplete.error.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(incomplete.transferred, 0);
    assert_eq!(incomplete.buf.unwrap().len(), 8);
    // A file: past its end.
    let file = TempFile::new(Fs::Tmpfs, "safe-exact", &pattern(59, 100));
    let f = file.open_rw();
    let incomplete = ctx
        .read_exact_at(&f, vec![0u8; 64], 50, &mut Vec::new())
        .unwrap_err();
    assert_eq!(incomplete.transferred, 50);
    assert_eq!(&incomplete.buf.unwrap()[..50], &pattern(59, 100)[50..]);
    assert!(
        io::Error::from(
            ctx.read_exact_at(&f, vec![0u8; 1], 100, &mut Vec::new())
                .unwrap_err()
        )
        .to_string()
        .contains("after 0 bytes")
    );
    let whole = ctx
        .write_all_at(&f, vec![7u8; 300], 0, &mut Vec::new())
        .unwrap();
    assert_eq!(whole.len(), 300);
    assert_eq!(file.contents(), vec![7u8; 300]);
}

#[test]
fn submit_and_flush_flushes_after_the_whole_batch() {
    let file = TempFile::new(Fs::Disk, "safe-flush", &[]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(16).unwrap();
    for flush in [Flush::Data, Flush::All] {
        let mut batch: VecDeque<_> = (0..8u64)
            .map(|i| Op::write(&f, vec![i as u8; 4096], i * 4096).user_data(i))
            .collect();
        let mut done = Vec::new();
        assert_eq!(
            ctx.submit_and_flush(&mut batch, &f, flush, &mut done)
                .unwrap(),
            8
        );
        assert_eq!(done.len(), 9);
        let last = done.last().unwrap();
        let expected = match flush {
            Flush::Data => rawaio::abi::IOCB_CMD_FDSYNC,
            Flush::All => rawaio::abi::IOCB_CMD_FSYNC,
        };
        assert_eq!(
            (last.opcode(), last.result()),
            (expected, Ok(0)),
            "the flush is last"
        );
        assert!(done[..8].iter().all(|c| c.full().unwrap() == 4096));
    }
    // A refused request: the rest stay queued, the accepted ones completed, no flush.
    let ro = file.open_ro();
    let mut batch: VecDeque<_> = [
        Op::write(&f, vec![1u8; 512], 0),
        Op::write(&ro, vec![2u8; 512], 512),
    ]
    .into();
    let mut done = Vec::new();
    let error = ctx
        .submit_and_flush(&mut batch, &f, Flush::Data, &mut done)
        .unwrap_err();
    assert_eq!(
        error.raw_os_error(),
        Some(rawaio::Errno::BADF.raw_os_error())
    );
    assert_eq!((batch.len(), done.len()), (1, 1));
}

// ---- 6. Papercuts ----

#[test]
fn a_rejected_request_converts_with_the_question_mark() {
    fn io_result(ctx: &Context<Vec<u8>>, f: &File) -> io::Result<Token> {
        Ok(ctx.submit(Op::read(f, vec![0u8; 4], u64::MAX))?)
    }
    fn boxed(ctx: &Context<Vec<u8>>, f: &File) -> Result<Token, Box<dyn std::error::Error>> {
        Ok(ctx.submit(Op::read(f, vec![0u8; 4], 0).limit(5))?)
    }
    fn ours(ctx: &Context<Vec<u8>>, f: &File) -> Result<Token, Error> {
        Ok(ctx.submit(Op::<Vec<u8>>::fsync(f).rw_flags(rawaio::RwfFlags::DSYNC))?)
    }
    let file = TempFile::new(Fs::Tmpfs, "safe-question", &[0u8; 16]);
    let f = file.open_rw();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    assert_eq!(
        io_result(&ctx, &f).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    // The limit's message names the buffer, not isize::MAX.
    let message = boxed(&ctx, &f).unwrap_err().to_string();
    assert!(
        message.contains("range 0..5 is outside the buffer's 4 bytes"),
        "{message}"
    );
    assert_eq!(
        ours(&ctx, &f),
        Err(Error::Invalid(InvalidOp::FlagsNotAllowed))
    );
}

#[test]
fn slices_keep_their_methods_with_the_trait_in_scope() {
    // `IoBuf` is imported at the top of this file.
    let mut local = [1u8, 2, 3, 4];
    let view: &mut [u8] = &mut local[1..];
    assert_eq!(view.len(), 3);
    assert_eq!(view.as_ptr(), local[1..].as_ptr());
}

#[test]
fn a_poll_may_report_bits_it_did_not_ask_for() {
    let (r, w): (OwnedFd, OwnedFd) = pipe();
    let ctx = Context::<Vec<u8>>::new(4).unwrap();
    drop(w);
    ctx.submit(Op::poll(&r, PollFlags::IN)).unwrap();
    let mask = reap_one(&ctx).result().unwrap();
    let mask = PollFlags::from_bits_retain(mask as _);
    eprintln!("poll(IN) on a pipe without writer: {mask:?}");
    assert!(mask.contains(PollFlags::HUP), "HUP is reported unasked");
}

#[test]
fn an_async_context_refuses_notify_too() {
    /// A reactor that never wakes anyone: this test only submits.
    struct Idle(#[allow(dead_code)] OwnedFd);
    impl rawaio::reactor::Reactor for Idle {
        fn register(eventfd: OwnedFd) -> io::Result<Self> {
            Ok(Self(eventfd))
        }
        fn poll_read(
            &self,
            _: &mut std::task::Context<'_>,
            _: &mut dyn FnMut() -> io::Result<u64>,
        ) -> std::task::Poll<io::Result<u64>> {
            std::task::Poll::Pending
        }
    }
    let file = TempFile::new(Fs::Tmpfs, "safe-async-notify", &[]);
    let f = file.open_rw();
    let mine = EventFd::new().unwrap();
    let ctx = rawaio::AsyncContext::<Idle>::new(4).unwrap();
    let rejected = ctx
        .submit(Op::write(&f, vec![3u8; 8], 0).notify(&mine))
        .unwrap_err();
    assert_eq!(rejected.error, Error::Invalid(InvalidOp::NotifyConflict));
    assert_eq!(rejected.op.into_bufs(), vec![vec![3u8; 8]]);
    assert_eq!(ctx.in_flight(), 0);
}
