//! Fixed requests against the kernel: slots that keep their `iocb`, descriptors and
//! buffers between submissions, and the owning path's guarantees for them (drop waits,
//! forget leaks, a panic unwinds through a wait, a `fork` child touches nothing).

mod support;

use rawaio::{
    AlignedBuf, Errno, Error, FixedCompletion, FixedContext, FixedSlot, InvalidOp, Op, Options,
    PollFlags, RwfFlags,
};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{
    DropCheck, DropLog, Fs, TIMEOUT, TempFile, Tracked, Watchdog, aligned_zeroed, pattern, pipe,
    write_byte,
};

const BLOCK: usize = 4096;
const POLLIN: u64 = 0x001;

/// Reaps exactly `n` completions within [`TIMEOUT`].
fn reap_n(fixed: &mut FixedContext<'_, impl rawaio::IoBuf>, n: usize) -> Vec<FixedCompletion> {
    let mut done = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while done.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out: {} of {n} completions",
            done.len()
        );
        fixed
            .reap(1, n - done.len(), Some(left), &mut done)
            .unwrap();
    }
    done
}

fn submit_all(fixed: &mut FixedContext<'_, impl rawaio::IoBuf>, n: usize) {
    let s = fixed.submit();
    assert_eq!((s.accepted, s.error), (n, None));
}

#[test]
fn slots_read_many_offsets_into_the_same_buffers() {
    const BLOCKS: usize = 64;
    const SLOTS: usize = 8;
    let data = pattern(3, BLOCKS * BLOCK);
    let file = TempFile::new(Fs::direct(), "fixed-read", &data);
    let f = file.open_direct();
    let mut fixed = FixedContext::<AlignedBuf>::new(SLOTS as u32).unwrap();
    assert!(fixed.capacity() >= SLOTS);
    let mut slots: Vec<FixedSlot> = (0..SLOTS)
        .map(|_| {
            fixed
                .insert(Op::read(&f, aligned_zeroed(BLOCK), 0))
                .unwrap()
        })
        .collect();
    assert_eq!(fixed.occupied(), SLOTS);
    let addrs: Vec<usize> = slots
        .iter()
        .map(|s| fixed.bufs(s).unwrap()[0].as_ptr() as usize)
        .collect();
    // Every block, eight at a time, in a scrambled order.
    let order: Vec<usize> = (0..BLOCKS).map(|i| (i * 37) % BLOCKS).collect();
    for chunk in order.chunks(SLOTS) {
        let mut block_of = [0usize; SLOTS];
        for &block in chunk {
            let slot = slots.pop().unwrap();
            block_of[slot.index()] = block;
            fixed.push_at(slot, (block * BLOCK) as u64).unwrap();
        }
        assert_eq!(fixed.queued(), chunk.len());
        submit_all(&mut fixed, chunk.len());
        assert_eq!((fixed.in_flight(), fixed.queued()), (chunk.len(), 0));
        for c in reap_n(&mut fixed, chunk.len()) {
            assert_eq!(c.result(), Ok(BLOCK as u64));
            let slot = c.into_slot();
            let block = block_of[slot.index()];
            let buf = &fixed.bufs(&slot).unwrap()[0];
            assert_eq!(
                buf.as_ptr() as usize,
                addrs[slot.index()],
                "the buffer stays put"
            );
            assert!(
                buf[..] == data[block * BLOCK..(block + 1) * BLOCK],
                "block {block}"
            );
            assert_eq!(fixed.offset(&slot), Some((block * BLOCK) as u64));
            slots.push(slot);
        }
    }
    assert_eq!(fixed.in_flight(), 0);
    // The requests come back whole, buffers included.
    for slot in slots {
        let op = fixed.remove(slot).unwrap();
        assert_eq!(op.len(), BLOCK as u64);
        assert_eq!(op.into_bufs().len(), 1);
    }
    assert_eq!(fixed.occupied(), 0);
}

/// Submits `slot` at `offset` and waits for it; returns the slot.
fn round_trip(fixed: &mut FixedContext<'_, Vec<u8>>, slot: FixedSlot, offset: u64) -> FixedSlot {
    fixed.push_at(slot, offset).unwrap();
    submit_all(fixed, 1);
    let c = reap_n(fixed, 1).pop().unwrap();
    assert!(c.result().is_ok(), "{c:?}");
    c.into_slot()
}

#[test]
fn writes_through_lent_buffers_lengths_and_flags() {
    let file = TempFile::new(Fs::Tmpfs, "fixed-write", &[]);
    let f = file.open_rw();
    let mut fixed = FixedContext::<Vec<u8>>::new(4).unwrap();
    let mut slot = fixed.insert(Op::write(&f, vec![b'a'; 8], 0)).unwrap();
    slot = round_trip(&mut fixed, slot, 0);
    // Change the bytes, then a shorter length and a flag, then replace the buffer.
    fixed.bufs_mut(&slot).unwrap()[0].copy_from_slice(b"BBBBBBBB");
    fixed.set_len(&slot, 4).unwrap();
    fixed.set_rw_flags(&slot, RwfFlags::DSYNC).unwrap();
    slot = round_trip(&mut fixed, slot, 8);
    fixed.bufs_mut(&slot).unwrap()[0] = b"cc".to_vec();
    let (back, e) = fixed.push_at(slot, 12).unwrap_err();
    assert!(
        matches!(e, InvalidOp::Range { .. }),
        "a length of 4 no longer fits: {e}"
    );
    slot = back;
    fixed.set_len(&slot, 2).unwrap();
    slot = round_trip(&mut fixed, slot, 12);
    assert_eq!(file.contents(), b"aaaaaaaaBBBBcc");
    assert_eq!(fixed.len(&slot), Some(2));
    let op = fixed.remove(slot).unwrap();
    assert_eq!(op.into_bufs(), vec![b"cc".to_vec()]);
}

#[test]
fn refused_changes_leave_the_slot_as_it_was() {
    let file = TempFile::new(Fs::direct(), "fixed-refuse", &pattern(5, 2 * BLOCK));
    let f = file.open_direct();
    let align = rawaio::direct::dio_align(&f).unwrap_or(rawaio::DioAlign {
        memory: 4096,
        offset: 4096,
    });
    let mut fixed = FixedContext::<AlignedBuf>::new(2).unwrap();
    let slot = fixed
        .insert(Op::read(&f, aligned_zeroed(BLOCK), 0).aligned_to(align))
        .unwrap();
    assert!(matches!(
        fixed.set_offset(&slot, 1),
        Err(InvalidOp::Misaligned(_))
    ));
    assert!(matches!(
        fixed.set_offset(&slot, u64::MAX),
        Err(InvalidOp::OffsetTooLarge { .. })
    ));
    let (slot, _) = fixed.push_at(slot, 3).unwrap_err();
    assert_eq!((fixed.queued(), fixed.offset(&slot)), (0, Some(0)));
    fixed.push_at(slot, BLOCK as u64).unwrap();
    submit_all(&mut fixed, 1);
    let slot = reap_n(&mut fixed, 1).pop().unwrap().into_slot();
    assert!(fixed.bufs(&slot).unwrap()[0][..] == pattern(5, 2 * BLOCK)[BLOCK..]);
    // Another fixed context's slot is refused, and handed back.
    let mut other = FixedContext::<AlignedBuf>::new(1).unwrap();
    let (slot, e) = other.push(slot).unwrap_err();
    assert_eq!(e, InvalidOp::ForeignSlot);
    assert!(other.bufs(&slot).is_none());
    assert_eq!(other.set_offset(&slot, 0), Err(InvalidOp::ForeignSlot));
    let (slot, e) = other.remove(slot).unwrap_err();
    assert_eq!(e, InvalidOp::ForeignSlot);
    fixed.remove(slot).unwrap();
}

#[test]
fn the_kernels_refusal_leaves_the_queue_in_order() {
    let file = TempFile::new(Fs::Tmpfs, "fixed-badf", b"0123456789");
    let ro = file.open_ro();
    let rw = file.open_rw();
    let mut fixed = FixedContext::<Vec<u8>>::new(4).unwrap();
    let good = fixed.insert(Op::write(&rw, b"x".to_vec(), 0)).unwrap();
    let bad = fixed.insert(Op::write(&ro, b"y".to_vec(), 1)).unwrap();
    let good2 = fixed.insert(Op::write(&rw, b"z".to_vec(), 2)).unwrap();
    for slot in [good, bad, good2] {
        fixed.push(slot).unwrap();
    }
    let s = fixed.submit();
    assert_eq!((s.accepted, s.error), (1, Some(Error::Os(Errno::BADF))));
    assert_eq!((fixed.queued(), fixed.in_flight()), (2, 1));
    let good = reap_n(&mut fixed, 1).pop().unwrap().into_slot();
    let mut back = Vec::new();
    fixed.take_queued(&mut back);
    assert_eq!(back.len(), 2);
    let (bad, good2) = (back.remove(0), back.remove(0));
    assert_eq!(
        fixed.offset(&bad),
        Some(1),
        "the refused one is at the front"
    );
    fixed.remove(bad).unwrap();
    fixed.push(good2).unwrap();
    submit_all(&mut fixed, 1);
    let good2 = reap_n(&mut fixed, 1).pop().unwrap().into_slot();
    assert_eq!(file.contents(), b"x1z3456789");
    fixed.remove(good).unwrap();
    fixed.remove(good2).unwrap();
}

#[test]
fn a_full_ring_pushes_back_and_the_rest_stays_queued() {
    let (r, w) = pipe();
    let mut fixed = FixedContext::<Vec<u8>>::new(1).unwrap();
    let capacity = fixed.capacity();
    let mut slots = Vec::new();
    for _ in 0..capacity {
        slots.push(fixed.insert(Op::poll(&r, PollFlags::IN)).unwrap());
    }
    let refused = fixed.insert(Op::poll(&r, PollFlags::IN)).unwrap_err();
    assert_eq!(
        refused.error,
        Error::Os(Errno::AGAIN),
        "every slot is taken"
    );
    for slot in slots {
        fixed.push(slot).unwrap();
    }
    let s = fixed.submit();
    let accepted = s.accepted;
    eprintln!("{capacity} polls pushed on a ring of {capacity}: {accepted} accepted");
    assert!(accepted > 0);
    if accepted < capacity {
        assert_eq!(s.error, Some(Error::Os(Errno::AGAIN)));
    }
    assert_eq!(fixed.queued(), capacity - accepted);
    write_byte(&w);
    let done = reap_n(&mut fixed, accepted);
    assert!(done.iter().all(|c| c.result().unwrap() & POLLIN != 0));
    // With room again, what was queued goes in.
    let s = fixed.submit();
    assert_eq!((s.accepted, s.error), (capacity - accepted, None));
    let rest = reap_n(&mut fixed, capacity - accepted);
    assert_eq!(fixed.in_flight(), 0);
    assert_eq!(done.len() + rest.len(), capacity);
}

#[test]
fn a_fixed_poll_is_cancelled_and_reused() {
    let (r, w) = pipe();
    let mut fixed = FixedContext::<Vec<u8>>::new(2).unwrap();
    let slot = fixed.insert(Op::poll(&r, PollFlags::IN)).unwrap();
    let index = slot.index();
    assert_eq!(fixed.cancel(index), Err(Errno::INVAL), "not in flight");
    fixed.push(slot).unwrap();
    submit_all(&mut fixed, 1);
    assert!(fixed.is_in_flight(index));
    let mut done = Vec::new();
    assert_eq!(
        fixed.reap(1, 2, Some(Duration::from_millis(20)), &mut done),
        Ok(0)
    );
    fixed.cancel(index).unwrap();
    let c = reap_n(&mut fixed, 1).pop().unwrap();
    assert_eq!(c.result(), Ok(0), "a cancelled poll completes with 0");
    // The same slot polls again, and this time the pipe is readable.
    fixed.push(c.into_slot()).unwrap();
    submit_all(&mut fixed, 1);
    write_byte(&w);
    let c = reap_n(&mut fixed, 1).pop().unwrap();
    assert_ne!(c.result().unwrap() & POLLIN, 0);
    assert_eq!(
        fixed.reap(1, 1, None, &mut done),
        Ok(0),
        "nothing in flight: no wait"
    );
}

#[test]
fn every_completion_signals_the_eventfd() {
    let file = TempFile::new(Fs::Tmpfs, "fixed-efd", b"abcdefgh");
    let f = file.open_ro();
    let options = Options {
        eventfd: true,
        ..Options::default()
    };
    let mut fixed = FixedContext::<Vec<u8>>::with_options(4, options).unwrap();
    let a = fixed.insert(Op::read(&f, vec![0u8; 2], 0)).unwrap();
    let b = fixed.insert(Op::read(&f, vec![0u8; 2], 4)).unwrap();
    let (e, _) = {
        let r = fixed
            .insert(Op::read(&f, vec![0u8; 1], 0).notify(&f))
            .unwrap_err();
        (r.error, r.op)
    };
    assert_eq!(e, Error::Invalid(InvalidOp::NotifyConflict));
    fixed.push(a).unwrap();
    fixed.push(b).unwrap();
    submit_all(&mut fixed, 2);
    let efd = fixed.eventfd().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut count = 0;
    while count < 2 {
        assert!(Instant::now() < deadline);
        count += efd.read().unwrap();
    }
    assert_eq!(count, 2);
    let mut done = Vec::new();
    assert_eq!(fixed.reap_ready(&mut done), Ok(2));
    let mut got: Vec<Vec<u8>> = done
        .into_iter()
        .map(|c| fixed.bufs(c.slot()).unwrap()[0].clone())
        .collect();
    got.sort();
    assert_eq!(got, [b"ab".to_vec(), b"ef".to_vec()]);
}

#[test]
fn slots_keep_owned_and_shared_descriptors_open() {
    let file = TempFile::new(Fs::Tmpfs, "fixed-fds", b"owned and shared");
    let shared = Arc::new(file.open_ro());
    let mut fixed = FixedContext::<Vec<u8>>::new(4).unwrap();
    let owned = fixed
        .insert(Op::read(file.open_ro(), vec![0u8; 5], 0))
        .unwrap();
    let by_arc = fixed
        .insert(Op::read(Arc::clone(&shared), vec![0u8; 6], 10))
        .unwrap();
    assert_eq!(Arc::strong_count(&shared), 2, "the slot shares the file");
    // Descriptors opened meanwhile cannot take the owned one's number.
    let _others: Vec<File> = (0..4).map(|_| File::open("/dev/null").unwrap()).collect();
    let (mut owned, mut by_arc) = (owned, by_arc);
    for _ in 0..3 {
        fixed.push(owned).unwrap();
        fixed.push(by_arc).unwrap();
        submit_all(&mut fixed, 2);
        let mut done = reap_n(&mut fixed, 2);
        done.sort_by_key(|c| c.slot().index());
        by_arc = done.pop().unwrap().into_slot();
        owned = done.pop().unwrap().into_slot();
        assert_eq!(fixed.bufs(&owned).unwrap()[0], b"owned");
        assert_eq!(fixed.bufs(&by_arc).unwrap()[0], b"shared");
    }
    let op = fixed.remove(by_arc).unwrap();
    assert!(op.target().is_held());
    drop(op);
    assert_eq!(Arc::strong_count(&shared), 1, "released with its request");
    drop(fixed);
    drop(owned);
}

#[test]
fn drop_with_writes_in_flight_waits_then_frees_each_buffer_once() {
    const WRITES: usize = 64;
    const LEN: usize = 64 * 1024;
    let (r, _w) = pipe();
    let file = TempFile::new(Fs::Disk, "fixed-drop", &vec![0u8; WRITES * LEN]);
    file.open_rw().sync_all().unwrap();
    let f = file.open_direct();
    let fill = |id: usize| (id % 251) as u8 + 1;
    let reader = file.open_ro();
    let check: DropCheck = Box::new(move |id| {
        use std::os::unix::fs::FileExt;
        let mut region = vec![0u8; LEN];
        reader.read_exact_at(&mut region, (id * LEN) as u64).is_ok()
            && region.iter().all(|&b| b == fill(id))
    });
    let log = DropLog::with_check(WRITES, Some(check));
    let mut fixed = FixedContext::<Tracked>::new(WRITES as u32 + 4).unwrap();
    for id in 0..WRITES {
        let buf = Tracked::filled(&log, id, LEN, fill(id));
        let slot = fixed.insert(Op::write(&f, buf, (id * LEN) as u64)).unwrap();
        fixed.push(slot).unwrap();
    }
    let poll = fixed
        .insert(Op::<Tracked>::poll(&r, PollFlags::IN))
        .unwrap();
    fixed.push(poll).unwrap();
    submit_all(&mut fixed, WRITES + 1);
    assert_eq!(log.total(), 0, "the context owns every buffer");
    {
        let _watchdog = Watchdog::new(Duration::from_secs(20), "drop(FixedContext)");
        drop(fixed);
    }
    assert!(log.each_once(), "every buffer dropped exactly once");
    assert_eq!(log.corrupted(), 0, "no buffer changed under the kernel");
    assert_eq!(
        log.failed_checks(),
        0,
        "a buffer was freed before its write finished"
    );
}

#[test]
fn forgetting_a_busy_fixed_context_never_frees_its_buffers() {
    let (r, _w) = pipe();
    let file = TempFile::new(Fs::Tmpfs, "fixed-forget", &[]);
    let f = file.open_rw();
    let log = DropLog::new(4);
    let mut fixed = FixedContext::<Tracked>::new(8).unwrap();
    let poll = fixed.insert(Op::poll(&r, PollFlags::IN)).unwrap();
    fixed.push(poll).unwrap();
    for id in 0..4 {
        let buf = Tracked::filled(&log, id, BLOCK, 0x5a);
        let slot = fixed
            .insert(Op::write(&f, buf, (id * BLOCK) as u64))
            .unwrap();
        fixed.push(slot).unwrap();
    }
    submit_all(&mut fixed, 5);
    std::mem::forget(fixed);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(log.total(), 0, "a leaked context leaks its buffers");
    assert_eq!(file.contents(), vec![0x5a; 4 * BLOCK]);
}

#[test]
fn a_panic_unwinds_through_the_wait_for_requests_in_flight() {
    let (r, w) = pipe();
    let file = TempFile::new(Fs::Tmpfs, "fixed-panic", &[]);
    let f = file.open_rw();
    let log = DropLog::new(3);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut fixed = FixedContext::<Tracked>::new(4).unwrap();
        for id in 0..3 {
            let buf = Tracked::filled(&log, id, BLOCK, 7);
            let slot = fixed
                .insert(Op::write(&f, buf, (id * BLOCK) as u64))
                .unwrap();
            fixed.push(slot).unwrap();
        }
        let poll = fixed.insert(Op::poll(&r, PollFlags::IN)).unwrap();
        fixed.push(poll).unwrap();
        submit_all(&mut fixed, 4);
        panic!("the caller fails with requests in flight");
    }));
    assert!(result.is_err());
    assert!(log.each_once(), "unwinding dropped the context, once");
    assert_eq!(log.corrupted(), 0);
    assert_eq!(file.contents(), vec![7; 3 * BLOCK]);
    drop(w);
}

// ---------------------------------------------------------------------------------------
// fork
// ---------------------------------------------------------------------------------------

/// What the child found, as bits of its exit status (0: all as expected).
const CHILD_NO_GO: i32 = 1;
const CHILD_REAP_NOT_EINVAL: i32 = 2;
const CHILD_SUBMIT_NOT_EINVAL: i32 = 4;
const CHILD_REAPED_SOMETHING: i32 = 8;
const CHILD_QUEUE_WRONG: i32 = 16;

/// Runs in the fork child: only system calls and memory allocated before the fork.
fn child(
    fixed: &mut FixedContext<'_, Vec<u8>>,
    go: &OwnedFd,
    slot: FixedSlot,
    done: &mut Vec<FixedCompletion>,
) -> i32 {
    let mut code = 0;
    let mut byte = [0u8; 1];
    if rustix::io::read(go, &mut byte) != Ok(1) {
        code |= CHILD_NO_GO;
    }
    if fixed.reap(0, 4, Some(Duration::ZERO), done) != Err(Errno::INVAL) {
        code |= CHILD_REAP_NOT_EINVAL;
    }
    if fixed.push(slot).is_err() {
        code |= CHILD_QUEUE_WRONG;
    }
    let s = fixed.submit();
    if (s.accepted, s.error) != (0, Some(Error::Os(Errno::INVAL))) {
        code |= CHILD_SUBMIT_NOT_EINVAL;
    }
    if fixed.queued() != 1 {
        code |= CHILD_QUEUE_WRONG;
    }
    if !done.is_empty() {
        code |= CHILD_REAPED_SOMETHING;
    }
    code
}

#[test]
fn a_fork_child_can_neither_submit_nor_steal_completions() {
    let (r, w) = pipe();
    let (go_r, go_w) = pipe();
    let file = TempFile::new(Fs::Tmpfs, "fixed-fork", &[]);
    let f = file.open_rw();
    let mut fixed = FixedContext::<Vec<u8>>::new(4).unwrap();
    let poll = fixed.insert(Op::poll(&r, PollFlags::IN)).unwrap();
    let poll_index = poll.index();
    fixed.push(poll).unwrap();
    submit_all(&mut fixed, 1);
    let write = fixed.insert(Op::write(&f, b"child".to_vec(), 0)).unwrap();
    let mut child_done = Vec::with_capacity(8);

    // SAFETY: the child runs only `child`, which makes system calls and uses memory
    // allocated before the fork (this context takes no lock), then leaves with `_exit`,
    // running no destructors.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child(&mut fixed, &go_r, write, &mut child_done);
        // SAFETY: ends the child at once, without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(go_r);
    write_byte(&w);
    let deadline = Instant::now() + TIMEOUT;
    while fixed.ready() == 0 {
        assert!(Instant::now() < deadline, "the poll did not complete");
        std::thread::sleep(Duration::from_millis(1));
    }
    rustix::io::write(&go_w, b"g").unwrap();
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if got == pid {
            break;
        }
        if Instant::now() > deadline + TIMEOUT {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the fork child hung");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(libc::WIFEXITED(status));
    assert_eq!(libc::WEXITSTATUS(status), 0, "child exit code");
    // The parent's event is still there, exactly once.
    assert_eq!(fixed.ready(), 1);
    let c = reap_n(&mut fixed, 1).pop().unwrap();
    assert_eq!(c.slot().index(), poll_index);
    assert!(
        file.contents().is_empty(),
        "the child's write never happened"
    );
    // And the parent keeps working (its copy of the write slot is still its own).
    assert_eq!(fixed.occupied(), 2);
    let _ = c.into_slot();
}

#[test]
fn a_fixed_context_moves_to_another_thread() {
    fn sendable<T: Send>(_: &T) {}
    let file = TempFile::new(Fs::Tmpfs, "fixed-send", b"across threads");
    let f = Arc::new(file.open_ro());
    let mut fixed = FixedContext::<Vec<u8>>::new(2).unwrap();
    let slot = fixed
        .insert(Op::read(Arc::clone(&f), vec![0u8; 6], 0))
        .unwrap();
    sendable(&fixed);
    // The context, its slot and its handle go to another thread and are used there.
    let (fixed, bytes) = std::thread::spawn(move || {
        let mut fixed = fixed;
        fixed.push_at(slot, 7).unwrap();
        submit_all(&mut fixed, 1);
        let slot = reap_n(&mut fixed, 1).pop().unwrap().into_slot();
        let bytes = fixed.bufs(&slot).unwrap()[0].clone();
        (fixed, bytes)
    })
    .join()
    .unwrap();
    assert_eq!(bytes, b"thread");
    assert_eq!(fixed.in_flight(), 0);
}
