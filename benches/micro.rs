//! Micro-benchmarks of rawaio's submit and reap paths: what each call costs, with and
//! without the kernel, beside the raw system calls it wraps.
//!
//! ```text
//! cargo bench --bench micro            # every case
//! cargo bench --bench micro -- reap    # the cases whose name contains "reap"
//! ```
//!
//! Each case runs in samples of about 20 ms; the table shows the median and the fastest
//! sample, in nanoseconds per operation, and how many samples ran. Requests read from
//! `/dev/zero`, which completes them inside `io_submit`, so the figures are the cost of
//! the calls themselves, not of a device.
//!
//! A harness of our own rather than criterion: the cases need a context set up once and
//! a fixed number of requests per iteration, and the figures we want (median and minimum
//! per operation) fit in a hundred lines without a dependency tree in every build.

use rawaio::{AlignedBuf, Completion, Context, Op, Token};
use rawaio_abi::{IOCB_CMD_PREAD, io_event, iocb};
use std::collections::VecDeque;
use std::fs::File;
use std::hint::black_box;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const SAMPLES: usize = 15;
const SAMPLE_TIME: Duration = Duration::from_millis(20);
/// Requests per batch in the batched cases (the aio-bench default).
const BATCH: usize = 32;
/// Bytes per read: small, so that copying zeros costs little beside the calls.
const LEN: usize = 512;

/// What the cases work on, set up once.
struct Bench {
    /// Leaked: the queued requests borrow it for the program's life.
    zero: &'static File,
    idle: Context<AlignedBuf>,
    ctx: Context<AlignedBuf>,
    done: Vec<Completion<AlignedBuf>>,
    bufs: Vec<AlignedBuf>,
    queue: VecDeque<Op<'static, AlignedBuf>>,
    tokens: Vec<Token>,
    raw_ctx: RawContext,
    /// Declared after `raw_ctx`, so that it outlives the context reading into it.
    raw_mem: Vec<u8>,
    raw_cbs: Vec<iocb>,
    raw_events: Vec<io_event>,
}

/// One case: `run(bench, iters)` performs `iters * ops_per_iter` operations.
struct Case {
    name: &'static str,
    what: &'static str,
    ops_per_iter: u64,
    run: fn(&mut Bench, u64),
}

struct Figures {
    median: f64,
    min: f64,
    samples: usize,
}

fn measure(bench: &mut Bench, case: &Case) -> Figures {
    // Calibrate: how many iterations fill one sample.
    let mut iters = 1u64;
    loop {
        let start = Instant::now();
        (case.run)(bench, iters);
        let took = start.elapsed();
        if took >= SAMPLE_TIME / 4 || iters >= 1 << 30 {
            let scale = SAMPLE_TIME.as_secs_f64() / took.as_secs_f64().max(1e-9);
            iters = ((iters as f64 * scale) as u64).max(1);
            break;
        }
        iters *= 4;
    }
    let mut per_op: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            (case.run)(bench, iters);
            start.elapsed().as_nanos() as f64 / (iters * case.ops_per_iter) as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    Figures {
        median: per_op[per_op.len() / 2],
        min: per_op[0],
        samples: per_op.len(),
    }
}

/// `iters` reads of `/dev/zero` through one buffer, each handed to `round`, which submits
/// it and reaps its completion into `done`; the buffer goes back to `bufs`.
fn one_at_a_time(
    zero: &'static File,
    bufs: &mut Vec<AlignedBuf>,
    done: &mut Vec<Completion<AlignedBuf>>,
    iters: u64,
    mut round: impl FnMut(Op<'static, AlignedBuf>, &mut Vec<Completion<AlignedBuf>>),
) {
    let mut buf = bufs.pop();
    for _ in 0..iters {
        round(Op::read(zero, buf.take().expect("buffer"), 0), done);
        buf = done.pop().and_then(Completion::into_buf);
    }
    bufs.push(buf.expect("buffer back"));
}

const CASES: &[Case] = &[
    Case {
        name: "reap_empty",
        what: "reap(min 0) on an idle context: no system call",
        ops_per_iter: 1,
        run: |b, iters| {
            let mut out: Vec<Completion<AlignedBuf>> = Vec::new();
            for _ in 0..iters {
                let n = b
                    .idle
                    .reap(0, BATCH, Some(Duration::ZERO), black_box(&mut out));
                black_box(n.ok());
            }
        },
    },
    Case {
        name: "ready",
        what: "ready(): completions waiting in the ring",
        ops_per_iter: 1,
        run: |b, iters| {
            for _ in 0..iters {
                black_box(black_box(&b.idle).ready());
            }
        },
    },
    Case {
        name: "op_build",
        what: "build an Op (a write of a static buffer) with user data, drop it",
        ops_per_iter: 1,
        run: |b, iters| {
            static DATA: [u8; LEN] = [0; LEN];
            for i in 0..iters {
                let op: Op<&'static [u8]> =
                    Op::write(b.zero, &DATA[..], i * LEN as u64).user_data(i);
                drop(black_box(op));
            }
        },
    },
    Case {
        name: "submit_reap_1",
        what: "submit one read of /dev/zero, reap it",
        ops_per_iter: 1,
        run: |b, iters| {
            let ctx = &b.ctx;
            one_at_a_time(b.zero, &mut b.bufs, &mut b.done, iters, |op, done| {
                ctx.submit(op).map_err(|r| r.error).expect("submit");
                ctx.reap(1, 1, None, done).expect("reap");
            });
        },
    },
    Case {
        name: "submit_reap_1_exclusive",
        what: "the same through Context::exclusive: no lock taken",
        ops_per_iter: 1,
        run: |b, iters| {
            let mut ctx = b.ctx.exclusive();
            one_at_a_time(b.zero, &mut b.bufs, &mut b.done, iters, |op, done| {
                ctx.submit(op).map_err(|r| r.error).expect("submit");
                ctx.reap(1, 1, None, done).expect("reap");
            });
        },
    },
    Case {
        name: "locked_swap",
        what: "one locked instruction (an uncontended AtomicU32::swap), back to back",
        ops_per_iter: 1,
        run: |_, iters| {
            let word = std::sync::atomic::AtomicU32::new(0);
            for i in 0..iters {
                black_box(word.swap(black_box(i as u32), std::sync::atomic::Ordering::AcqRel));
            }
        },
    },
    Case {
        name: "raw_submit_getevents_1",
        what: "the floor: io_submit + io_getevents, one raw iocb",
        ops_per_iter: 1,
        run: |b, iters| {
            for _ in 0..iters {
                b.raw_ctx.submit(&mut b.raw_cbs[..1]);
                b.raw_ctx.getevents(1, &mut b.raw_events[..1]);
            }
        },
    },
    Case {
        name: "submit_reap_batch",
        what: "submit_batch of 32 reads, reap 32 (per read)",
        ops_per_iter: BATCH as u64,
        run: |b, iters| {
            for _ in 0..iters {
                let zero = b.zero;
                b.queue
                    .extend(b.bufs.drain(..).map(|buf| Op::read(zero, buf, 0)));
                b.tokens.clear();
                let s = b.ctx.submit_batch(&mut b.queue, &mut b.tokens);
                assert!(s.error.is_none() && s.accepted == BATCH, "submit_batch");
                b.ctx.reap(BATCH, BATCH, None, &mut b.done).expect("reap");
                b.bufs
                    .extend(b.done.drain(..).filter_map(Completion::into_buf));
            }
        },
    },
    Case {
        name: "raw_submit_getevents_batch",
        what: "the floor: io_submit of 32 raw iocbs + io_getevents (per read)",
        ops_per_iter: BATCH as u64,
        run: |b, iters| {
            for _ in 0..iters {
                b.raw_ctx.submit(&mut b.raw_cbs);
                b.raw_ctx.getevents(BATCH, &mut b.raw_events);
            }
        },
    },
];

fn main() {
    // `cargo bench` passes `--bench`; anything else is a filter on case names.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let zero: &'static File = Box::leak(Box::new(
        File::open("/dev/zero").expect("opening /dev/zero"),
    ));
    let fd = zero.as_raw_fd();
    let mut raw_mem = vec![0u8; LEN * BATCH];
    let raw_cbs = (0..BATCH)
        .map(|i| {
            let mut cb = iocb {
                aio_lio_opcode: IOCB_CMD_PREAD,
                aio_fildes: fd as u32,
                aio_data: i as u64,
                ..iocb::default()
            };
            cb.set_buf(raw_mem[i * LEN..].as_mut_ptr(), LEN);
            cb
        })
        .collect();
    let mut bench = Bench {
        idle: Context::new(BATCH as u32).expect("io_setup"),
        ctx: Context::new(BATCH as u32).expect("io_setup"),
        done: Vec::with_capacity(BATCH),
        bufs: (0..BATCH)
            .map(|_| AlignedBuf::new(LEN, 512).expect("allocating"))
            .collect(),
        queue: VecDeque::with_capacity(BATCH),
        tokens: Vec::with_capacity(BATCH),
        raw_ctx: RawContext::new(BATCH as u32),
        raw_mem,
        raw_cbs,
        raw_events: vec![io_event::default(); BATCH],
        zero,
    };
    println!(
        "{:<28} {:>10} {:>10} {:>8}  what",
        "case", "median ns", "min ns", "samples"
    );
    for case in CASES {
        if !filters.is_empty() && !filters.iter().any(|f| case.name.contains(f.as_str())) {
            continue;
        }
        let f = measure(&mut bench, case);
        println!(
            "{:<28} {:>10.1} {:>10.1} {:>8}  {}",
            case.name, f.median, f.min, f.samples, case.what
        );
    }
    black_box(&bench.raw_mem);
}

/// A context driven through the raw system calls, for the floor cases.
struct RawContext(rawaio_abi::aio_context_t);

impl RawContext {
    fn new(nr: u32) -> Self {
        let mut id = 0;
        // SAFETY: `id` is a valid, zeroed out-pointer.
        unsafe { rawaio::sys::io_setup(nr, &mut id) }.expect("io_setup");
        Self(id)
    }

    fn submit(&self, cbs: &mut [iocb]) {
        let mut list: [*mut iocb; BATCH] = [std::ptr::null_mut(); BATCH];
        for (p, cb) in list.iter_mut().zip(cbs.iter_mut()) {
            *p = cb;
        }
        // SAFETY: every iocb names a live slice of `Bench::raw_mem`, which is dropped after
        // the context (field order), and completes before the next submission reuses it.
        let n = unsafe { rawaio::sys::io_submit(self.0, cbs.len() as isize, list.as_mut_ptr()) };
        assert_eq!(n, Ok(cbs.len()), "io_submit");
    }

    fn getevents(&self, n: usize, events: &mut [io_event]) {
        // SAFETY: `events` has room for `n` events.
        let got = unsafe {
            rawaio::sys::io_getevents(
                self.0,
                n as isize,
                n as isize,
                events.as_mut_ptr(),
                std::ptr::null(),
            )
        };
        assert_eq!(got, Ok(n), "io_getevents");
    }
}

impl Drop for RawContext {
    fn drop(&mut self) {
        // SAFETY: nothing is in flight (every submission was reaped).
        let _ = unsafe { rawaio::sys::io_destroy(self.0) };
    }
}
