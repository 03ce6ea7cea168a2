//! Fault: a context dropped with hundreds of *reads* in flight, the requests whose
//! buffers the kernel writes into.
//!
//! Expected outcome: `drop` returns only after the kernel is done with every buffer, so
//! each buffer, when it is freed, already holds the whole of its read (the file's bytes,
//! not the zeroes it started with); every buffer is freed exactly once; pending polls
//! are torn down with the context. CI runs this under AddressSanitizer (`.ci/asan.sh`),
//! which would flag rawaio touching its in-flight table or a buffer after freeing it.
//! (`context_drop.rs` does the same for writes, and for a leaked context.)

mod support;

use rawaio::{AlignedBuf, Context, IoBuf, IoBufMut, Op, PollFlags};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{Fs, TempFile, Watchdog, aligned_zeroed, pattern, pipe};

const READS: usize = 256;
const LEN: usize = 64 * 1024;

#[derive(Default)]
struct Log {
    dropped: Vec<AtomicUsize>,
    unfinished: AtomicUsize,
}

/// A read buffer that checks, as it is freed, that its read has finished.
struct ReadBuf {
    buf: AlignedBuf,
    id: usize,
    log: Arc<Log>,
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        if self.buf[..] != pattern(self.id as u64, LEN)[..] {
            self.log.unfinished.fetch_add(1, Ordering::SeqCst);
        }
        self.log.dropped[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: the bytes are the `AlignedBuf`'s heap allocation, owned by this value alone;
// it does not move with the value and lives until the value is dropped.
unsafe impl IoBuf for ReadBuf {
    fn io_ptr(&self) -> *const u8 {
        self.buf.io_ptr()
    }
    fn io_len(&self) -> usize {
        self.buf.io_len()
    }
}

// SAFETY: as above; the same address, writable.
unsafe impl IoBufMut for ReadBuf {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.buf.io_mut_ptr()
    }
}

#[test]
fn drop_with_hundreds_of_reads_in_flight_frees_each_buffer_after_its_read() {
    let contents: Vec<u8> = (0..READS).flat_map(|i| pattern(i as u64, LEN)).collect();
    let file = TempFile::new(Fs::Disk, "fault-drop-reads", &contents);
    file.open_rw().sync_all().unwrap();
    let f = file.open_direct();
    let (r, _w) = pipe();
    let log = Arc::new(Log {
        dropped: (0..READS).map(|_| AtomicUsize::new(0)).collect(),
        ..Log::default()
    });

    let ctx = Context::<ReadBuf>::new(512).unwrap();
    let mut ops: VecDeque<Op<ReadBuf>> = (0..READS)
        .map(|id| {
            let buf = ReadBuf {
                buf: aligned_zeroed(LEN),
                id,
                log: Arc::clone(&log),
            };
            Op::read(&f, buf, (id * LEN) as u64)
        })
        .collect();
    for _ in 0..16 {
        ops.push_back(Op::poll(&r, PollFlags::IN));
    }
    let mut tokens = Vec::new();
    let s = ctx.submit_batch(&mut ops, &mut tokens);
    assert_eq!((s.accepted, s.error), (READS + 16, None));
    let ready = ctx.ready();
    let start = Instant::now();
    {
        let _watchdog = Watchdog::new(Duration::from_secs(30), "drop(Context)");
        drop(ctx);
    }
    eprintln!(
        "dropped a context with {} requests in flight ({ready} completions unreaped in the ring) in {:?}",
        READS + 16,
        start.elapsed()
    );
    let counts: Vec<usize> = log
        .dropped
        .iter()
        .map(|d| d.load(Ordering::SeqCst))
        .collect();
    assert!(
        counts.iter().all(|&n| n == 1),
        "each buffer freed once: {counts:?}"
    );
    assert_eq!(
        log.unfinished.load(Ordering::SeqCst),
        0,
        "a buffer was freed before its read finished"
    );
}
