//! Arbitrary sequences of submit, batch submit, reap, cancel and drop through the safe
//! API, against a real context with a real tmpfs file, a pipe and eventfds, checked step
//! by step against a model:
//! - every completion arrives exactly once, with its token, its user data, its own
//!   buffer and the result the model predicts (reads return the bytes written before);
//! - a reap that must find `min` completions finds them (none is lost);
//! - a refused request hands its buffers back; dropping a busy context frees every
//!   buffer exactly once; nothing leaks (each buffer is counted) and nothing hangs (every
//!   wait has a timeout).

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rawaio::{Completion, Context, Errno, Error, IoBuf, IoBufMut, Op, PollFlags, Token};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;
use std::time::Duration;

const POLLIN: u64 = 0x1;
/// Long enough for a completion the kernel owes us; a correct run never waits it out.
const TIMEOUT: Duration = Duration::from_secs(5);
const SLOT: u64 = 512;

thread_local! {
    /// How many times each buffer (by id) has been dropped, this input.
    static DROPS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    /// The context inputs share while they leave it empty: `io_destroy` waits for an RCU
    /// grace period (milliseconds), so one per input would make the fuzzer crawl.
    static CONTEXT: RefCell<Option<Context<Buf>>> = const { RefCell::new(None) };
}

/// A buffer that knows its id and counts its drops.
#[derive(Debug)]
struct Buf {
    id: usize,
    bytes: Vec<u8>,
}

impl Buf {
    fn new(len: usize, fill: u8) -> Self {
        let id = DROPS.with(|d| {
            let mut d = d.borrow_mut();
            d.push(0);
            d.len() - 1
        });
        Self {
            id,
            bytes: vec![fill; len],
        }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        DROPS.with(|d| d.borrow_mut()[self.id] += 1);
    }
}

// SAFETY: the bytes live in the Vec's heap allocation, which does not move with the
// `Buf`, and only the `Buf` reaches them.
unsafe impl IoBuf for Buf {
    fn io_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.bytes.len()
    }
}

// SAFETY: as above; the same address, writable.
unsafe impl IoBufMut for Buf {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.as_mut_ptr()
    }
}

/// The descriptors every input uses, opened once per process.
struct Files {
    file: File,
    readonly: File,
    pipe_r: OwnedFd,
    pipe_w: OwnedFd,
    efd: OwnedFd,
    notify: OwnedFd,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let path = format!("/dev/shm/rawaio-fuzz-queue-{}", std::process::id());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("tmpfs file");
        let readonly = File::open(&path).expect("read-only");
        let _ = std::fs::remove_file(&path);
        let (pipe_r, pipe_w) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )
        .expect("pipe");
        let flags = rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK;
        let efd = rustix::event::eventfd(0, flags).expect("eventfd");
        let notify = rustix::event::eventfd(0, flags).expect("eventfd");
        Files {
            file,
            readonly,
            pipe_r,
            pipe_w,
            efd,
            notify,
        }
    })
}

/// Empties a non-blocking pipe or eventfd; returns what it read as an eventfd count.
fn drain(fd: &OwnedFd) -> u64 {
    let mut total = 0;
    let mut buf = [0u8; 4096];
    while let Ok(n) = rustix::io::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        if n == 8 {
            total += u64::from_ne_bytes(buf[..8].try_into().unwrap());
        }
    }
    total
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Source {
    Pipe,
    EventFd,
}

#[derive(Arbitrary, Debug)]
enum Action {
    Write {
        slot: u8,
        len: u16,
        fill: u8,
        notify: bool,
    },
    Read {
        slot: u8,
        len: u16,
        notify: bool,
    },
    Writev {
        slot: u8,
        a: u8,
        b: u8,
        fill: u8,
    },
    Fsync {
        notify: bool,
    },
    Poll {
        source: Source,
        notify: bool,
    },
    /// A write through a read-only descriptor: `EBADF` at submission.
    BadWrite {
        len: u8,
    },
    Batch {
        writes: Vec<(u8, u8, u8)>,
        bad_at: Option<u8>,
    },
    MakeReady(Source),
    Drain(Source),
    Cancel {
        pick: u8,
    },
    Reap {
        min: u8,
        max: u8,
    },
    /// Drops the context with whatever is in flight and makes a new one. `io_destroy`
    /// waits for an RCU grace period (~20 ms here), so it takes a key byte, and happens at
    /// most once per input: inputs that need it keep it, the rest stay fast.
    DropContext { key: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PollState {
    Pending,
    /// Woken (completing, perhaps through a kernel work queue).
    Ready,
    /// `cancel` succeeded: the completion is owed, with 0 or a ready mask.
    Cancelled,
}

#[derive(Debug)]
enum Expect {
    Write { len: usize },
    Read { bytes: Vec<u8> },
    Fsync,
    Poll { source: Source, state: PollState },
}

#[derive(Debug)]
struct Live {
    user_data: u64,
    bufs: Vec<(usize, Vec<u8>)>,
    expect: Expect,
}

impl Live {
    /// Whether its completion is sure to come without anything more happening.
    fn owed(&self) -> bool {
        !matches!(
            self.expect,
            Expect::Poll {
                state: PollState::Pending,
                ..
            }
        )
    }
}

struct Model {
    ctx: Context<Buf>,
    live: HashMap<Token, Live>,
    reaped: Vec<Token>,
    contents: Vec<u8>,
    ready: [bool; 2],
    next_user_data: u64,
    notified: u64,
    dropped: bool,
}

fn new_context() -> Context<Buf> {
    Context::new(4).expect("io_setup(4): is /proc/sys/fs/aio-max-nr exhausted?")
}

impl Model {
    fn source_index(source: Source) -> usize {
        match source {
            Source::Pipe => 0,
            Source::EventFd => 1,
        }
    }

    fn fd(source: Source) -> &'static OwnedFd {
        match source {
            Source::Pipe => &files().pipe_r,
            Source::EventFd => &files().efd,
        }
    }

    fn user_data(&mut self) -> u64 {
        self.next_user_data += 1;
        self.next_user_data
    }

    fn write_op(&mut self, slot: u8, len: usize, fill: u8, notify: bool) -> (Op<'static, Buf>, Live) {
        let offset = u64::from(slot % 16) * SLOT;
        let buf = Buf::new(len, fill);
        let user_data = self.user_data();
        let live = Live {
            user_data,
            bufs: vec![(buf.id, vec![fill; len])],
            expect: Expect::Write { len },
        };
        let mut op = Op::write(&files().file, buf, offset).user_data(user_data);
        if notify {
            op = op.notify(&files().notify);
        }
        (op, live)
    }

    /// Records what an accepted write did to the file (buffered tmpfs writes complete
    /// inside `io_submit`, in submission order).
    fn apply_write(&mut self, offset: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return; // an empty write does not extend the file
        }
        let end = offset as usize + bytes.len();
        if self.contents.len() < end {
            self.contents.resize(end, 0);
        }
        self.contents[offset as usize..end].copy_from_slice(bytes);
    }

    fn submit(&mut self, op: Op<'static, Buf>, live: Live, offset: Option<u64>, notify: bool) {
        let ids: Vec<usize> = live.bufs.iter().map(|(id, _)| *id).collect();
        match self.ctx.submit(op) {
            Ok(token) => {
                assert!(!self.reaped.contains(&token), "token {token:?} reused");
                if let (Some(offset), Expect::Write { .. }) = (offset, &live.expect) {
                    let bytes: Vec<u8> = live.bufs.iter().flat_map(|(_, b)| b.clone()).collect();
                    self.apply_write(offset, &bytes);
                }
                if notify {
                    self.notified += 1;
                }
                assert!(self.live.insert(token, live).is_none(), "duplicate token");
            }
            Err(rejected) => {
                assert_eq!(rejected.error, Error::Os(Errno::AGAIN), "{rejected:?}");
                let back: Vec<usize> = rejected.op.into_bufs().iter().map(|b| b.id).collect();
                assert_eq!(back, ids, "a refused request hands its buffers back");
            }
        }
    }

    fn step(&mut self, action: Action) {
        match action {
            Action::Write {
                slot,
                len,
                fill,
                notify,
            } => {
                let len = usize::from(len % 1024);
                let offset = u64::from(slot % 16) * SLOT;
                let (op, live) = self.write_op(slot, len, fill, notify);
                self.submit(op, live, Some(offset), notify);
            }
            Action::Read { slot, len, notify } => {
                let offset = (u64::from(slot % 16) * SLOT) as usize;
                let len = usize::from(len % 1024);
                let end = (offset + len).min(self.contents.len()).max(offset);
                let bytes = self.contents.get(offset..end).unwrap_or(&[]).to_vec();
                let buf = Buf::new(len, 0xee);
                let user_data = self.user_data();
                let live = Live {
                    user_data,
                    bufs: vec![(buf.id, Vec::new())],
                    expect: Expect::Read { bytes },
                };
                let mut op = Op::read(&files().file, buf, offset as u64).user_data(user_data);
                if notify {
                    op = op.notify(&files().notify);
                }
                self.submit(op, live, None, notify);
            }
            Action::Writev { slot, a, b, fill } => {
                let offset = u64::from(slot % 16) * SLOT;
                let bufs = vec![
                    Buf::new(usize::from(a), fill),
                    Buf::new(usize::from(b), !fill),
                ];
                let user_data = self.user_data();
                let live = Live {
                    user_data,
                    bufs: bufs.iter().map(|b| (b.id, b.bytes.clone())).collect(),
                    expect: Expect::Write {
                        len: usize::from(a) + usize::from(b),
                    },
                };
                let op = Op::writev(&files().file, bufs, offset).user_data(user_data);
                self.submit(op, live, Some(offset), false);
            }
            Action::Fsync { notify } => {
                let user_data = self.user_data();
                let live = Live {
                    user_data,
                    bufs: Vec::new(),
                    expect: Expect::Fsync,
                };
                let mut op = Op::fsync(&files().file).user_data(user_data);
                if notify {
                    op = op.notify(&files().notify);
                }
                self.submit(op, live, None, notify);
            }
            Action::Poll { source, notify } => {
                let user_data = self.user_data();
                let state = if self.ready[Self::source_index(source)] {
                    PollState::Ready
                } else {
                    PollState::Pending
                };
                let live = Live {
                    user_data,
                    bufs: Vec::new(),
                    expect: Expect::Poll { source, state },
                };
                let mut op = Op::poll(Self::fd(source), PollFlags::IN).user_data(user_data);
                if notify {
                    op = op.notify(&files().notify);
                }
                self.submit(op, live, None, notify);
            }
            Action::BadWrite { len } => {
                let buf = Buf::new(usize::from(len), 1);
                let id = buf.id;
                let rejected = self
                    .ctx
                    .submit(Op::write(&files().readonly, buf, 0))
                    .expect_err("a write through a read-only descriptor");
                assert_eq!(rejected.error, Error::Os(Errno::BADF));
                assert_eq!(rejected.op.into_bufs()[0].id, id);
            }
            Action::Batch { writes, bad_at } => {
                let mut ops = VecDeque::new();
                let mut lives = VecDeque::new();
                for (i, &(slot, len, fill)) in writes.iter().take(16).enumerate() {
                    let offset = u64::from(slot % 16) * SLOT;
                    if bad_at.is_some_and(|b| usize::from(b) == i) {
                        let buf = Buf::new(usize::from(len), fill);
                        let live = Live {
                            user_data: 0,
                            bufs: vec![(buf.id, Vec::new())],
                            expect: Expect::Fsync,
                        };
                        ops.push_back(Op::write(&files().readonly, buf, offset));
                        lives.push_back((live, None));
                    } else {
                        let (op, live) = self.write_op(slot, usize::from(len), fill, false);
                        ops.push_back(op);
                        lives.push_back((live, Some(offset)));
                    }
                }
                let n = ops.len();
                let mut tokens = Vec::new();
                let s = self.ctx.submit_batch(&mut ops, &mut tokens);
                assert_eq!(s.accepted, tokens.len());
                assert_eq!(s.accepted + ops.len(), n);
                for token in tokens {
                    let (live, offset) = lives.pop_front().unwrap();
                    let offset = offset.expect("the bad write is never accepted");
                    let bytes = live.bufs[0].1.clone();
                    self.apply_write(offset, &bytes);
                    assert!(self.live.insert(token, live).is_none(), "duplicate token");
                }
                match s.error {
                    None => assert!(ops.is_empty()),
                    Some(Error::Os(Errno::BADF)) => {
                        assert_eq!(lives.front().unwrap().1, None, "EBADF names the bad write");
                    }
                    Some(Error::Os(Errno::AGAIN)) => {}
                    Some(e) => panic!("batch failed with {e:?}"),
                }
                for (op, (live, _)) in ops.into_iter().zip(lives) {
                    assert_eq!(op.into_bufs()[0].id, live.bufs[0].0, "left in order");
                }
            }
            Action::MakeReady(source) => {
                let i = Self::source_index(source);
                if !self.ready[i] {
                    match source {
                        Source::Pipe => assert_eq!(rustix::io::write(&files().pipe_w, b"x"), Ok(1)),
                        Source::EventFd => {
                            assert_eq!(rustix::io::write(&files().efd, &1u64.to_ne_bytes()), Ok(8))
                        }
                    }
                    self.ready[i] = true;
                    for live in self.live.values_mut() {
                        if let Expect::Poll { source: s, state } = &mut live.expect
                            && Self::source_index(*s) == i
                            && *state == PollState::Pending
                        {
                            *state = PollState::Ready;
                        }
                    }
                }
            }
            Action::Drain(source) => {
                drain(Self::fd(source));
                self.ready[Self::source_index(source)] = false;
            }
            Action::Cancel { pick } => {
                let mut tokens: Vec<Token> = self.live.keys().copied().collect();
                tokens.sort_by_key(|t| self.live[t].user_data);
                let n = tokens.len() + self.reaped.len().min(4);
                if n == 0 {
                    return;
                }
                let i = usize::from(pick) % n;
                if i >= tokens.len() {
                    let stale = self.reaped[self.reaped.len() - 1 - (i - tokens.len())];
                    assert_eq!(self.ctx.cancel(stale), Err(Errno::INVAL), "a reaped token");
                    return;
                }
                let token = tokens[i];
                let result = self.ctx.cancel(token);
                let live = self.live.get_mut(&token).unwrap();
                match &mut live.expect {
                    Expect::Poll { state, .. } => match (*state, result) {
                        (PollState::Pending, Ok(())) => *state = PollState::Cancelled,
                        // Woken polls may still be on their way out of the kernel.
                        (PollState::Ready, Ok(())) => *state = PollState::Cancelled,
                        (PollState::Ready | PollState::Cancelled, Err(Errno::INVAL)) => {}
                        (state, result) => panic!("cancel of a {state:?} poll: {result:?}"),
                    },
                    _ => assert_eq!(result, Err(Errno::INVAL), "file I/O cannot be cancelled"),
                }
            }
            Action::Reap { min, max } => {
                let owed = self.live.values().filter(|l| l.owed()).count();
                let min = usize::from(min) % (owed + 1);
                let max = usize::from(max).max(min).max(1);
                let mut done = Vec::new();
                let got = self
                    .ctx
                    .reap(min, max, Some(TIMEOUT), &mut done)
                    .expect("reap");
                assert_eq!(got, done.len());
                assert!(got >= min, "lost completions: {got} reaped of {min} owed");
                assert!(got <= max);
                self.check(done);
            }
            Action::DropContext { key } => {
                if key != 0xd7 || self.dropped {
                    return;
                }
                self.dropped = true;
                let ids: Vec<usize> = self
                    .live
                    .values()
                    .flat_map(|l| l.bufs.iter().map(|(id, _)| *id))
                    .collect();
                let ctx = std::mem::replace(&mut self.ctx, new_context());
                drop(ctx);
                DROPS.with(|d| {
                    let d = d.borrow();
                    for id in ids {
                        assert_eq!(d[id], 1, "buffer {id} freed once by the context's drop");
                    }
                });
                // The dropped context's requests (and their eventfd counts) are gone.
                self.live.clear();
                self.reaped.clear();
                self.notified = 0;
                drain(&files().notify);
            }
        }
        assert_eq!(self.ctx.in_flight(), self.live.len());
    }

    fn check(&mut self, done: Vec<Completion<Buf>>) {
        for c in done {
            let token = c.token();
            let live = self
                .live
                .remove(&token)
                .unwrap_or_else(|| panic!("completion of {token:?} not in flight (twice?)"));
            assert!(!self.ctx.is_in_flight(token));
            self.reaped.push(token);
            assert_eq!(c.user_data(), live.user_data);
            let result = c.result();
            match &live.expect {
                Expect::Write { len } => assert_eq!(result, Ok(*len as u64)),
                Expect::Read { bytes } => {
                    assert_eq!(result, Ok(bytes.len() as u64));
                    let buf = c.buf().unwrap();
                    assert_eq!(
                        &buf.bytes[..bytes.len()],
                        &bytes[..],
                        "read what was written"
                    );
                    assert!(buf.bytes[bytes.len()..].iter().all(|&b| b == 0xee));
                }
                Expect::Fsync => assert_eq!(result, Ok(0)),
                Expect::Poll { state, .. } => {
                    let mask = result.expect("poll result");
                    match state {
                        PollState::Pending => panic!("a poll completed with nothing ready"),
                        PollState::Ready => assert_ne!(mask & POLLIN, 0),
                        PollState::Cancelled => assert!(mask == 0 || mask & POLLIN != 0),
                    }
                }
            }
            let bufs = c.into_bufs();
            assert_eq!(bufs.len(), live.bufs.len());
            for (b, (id, bytes)) in bufs.iter().zip(&live.bufs) {
                assert_eq!(b.id, *id, "each completion carries its own buffer");
                if matches!(live.expect, Expect::Write { .. }) {
                    assert_eq!(&b.bytes, bytes, "a write leaves its buffer as it was");
                }
            }
        }
    }

    /// Completes everything still in flight, checks the final accounting, and hands back
    /// the (now idle) context and the file's expected contents.
    fn finish(mut self) -> (Context<Buf>, Vec<u8>) {
        for source in [Source::Pipe, Source::EventFd] {
            self.step(Action::MakeReady(source));
        }
        let mut done = Vec::new();
        let n = self.live.len();
        let got = self
            .ctx
            .reap(n, n.max(1), Some(TIMEOUT), &mut done)
            .expect("final reap");
        assert_eq!(got, n, "every request in flight completes");
        self.check(done);
        assert!(self.live.is_empty());
        let mut extra = Vec::new();
        assert_eq!(self.ctx.reap(0, 8, Some(Duration::ZERO), &mut extra), Ok(0));
        assert!(
            extra.is_empty(),
            "no completion beyond the requests submitted"
        );
        assert_eq!(
            drain(&files().notify),
            self.notified,
            "one eventfd count per notified completion"
        );
        assert_eq!(self.ctx.in_flight(), 0);
        for source in [Source::Pipe, Source::EventFd] {
            drain(Model::fd(source));
        }
        (self.ctx, self.contents)
    }
}

fuzz_target!(|data: &[u8]| {
    let files = files();
    files.file.set_len(0).expect("truncate");
    for source in [Source::Pipe, Source::EventFd] {
        drain(Model::fd(source));
    }
    drain(&files.notify);
    DROPS.with(|d| d.borrow_mut().clear());
    let mut u = Unstructured::new(data);
    let ctx = CONTEXT
        .with(|c| c.borrow_mut().take())
        .unwrap_or_else(new_context);
    let mut model = Model {
        ctx,
        live: HashMap::new(),
        reaped: Vec::new(),
        contents: Vec::new(),
        ready: [false; 2],
        next_user_data: 0,
        notified: 0,
        dropped: false,
    };
    let mut steps = 0;
    while !u.is_empty() && steps < 64 {
        let Ok(action) = Action::arbitrary(&mut u) else {
            break;
        };
        model.step(action);
        steps += 1;
    }
    let (ctx, contents) = model.finish();
    CONTEXT.with(|c| *c.borrow_mut() = Some(ctx));
    // Every buffer made this input was dropped exactly once.
    DROPS.with(|d| {
        for (id, &n) in d.borrow().iter().enumerate() {
            assert_eq!(n, 1, "buffer {id} dropped {n} times");
        }
    });
    // The file holds what the model says was written.
    let mut on_disk = vec![0u8; 16 * 1024];
    let n = files.file.read_at(&mut on_disk, 0).expect("read back");
    assert_eq!(&on_disk[..n], &contents[..]);
});
