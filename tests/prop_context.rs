//! A model of the submission/completion state machine, checked against the real
//! `Context` on random command sequences (shrunk to a minimal failing sequence by
//! proptest when one fails).
//!
//! The model: a request is *in flight* from an accepted submission until its completion
//! is reaped; buffered tmpfs reads, writes and syncs complete during `io_submit`; a poll
//! on an empty pipe stays pending until the pipe is written or it is cancelled. After
//! every command the context must agree: the same requests in flight, a reap that must
//! find `min` completions finds them, each completion is one the model expects (its
//! token, user data, buffer and result), and a refused request hands its buffer back.

mod support;

use proptest::prelude::*;
use rawaio::{Context, Errno, Error, Op, PollFlags, Token};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;
use support::{Fs, TIMEOUT, TempFile, pipe};

const SLOT: u64 = 256;

#[derive(Clone, Debug)]
enum Cmd {
    Write {
        slot: u8,
        len: u16,
        fill: u8,
    },
    Read {
        slot: u8,
        len: u16,
    },
    Writev {
        slot: u8,
        a: u8,
        b: u8,
    },
    Fsync,
    Poll,
    Wake,
    Cancel(u8),
    Reap {
        min: u8,
        max: u8,
    },
    /// A batch of writes; `bad_at` makes one of them a write through a read-only
    /// descriptor, which the kernel refuses with `EBADF`.
    Batch {
        n: u8,
        bad_at: Option<u8>,
        fill: u8,
    },
    /// Drops the context (with whatever is in flight) and makes a new one.
    Recreate,
    /// Submits and reaps through `Context::exclusive` (no locks) from now on, or through
    /// the shared calls again: the two kinds of call must agree on one context.
    Exclusive(bool),
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        4 => (any::<u8>(), 0..600u16, any::<u8>()).prop_map(|(slot, len, fill)| Cmd::Write { slot, len, fill }),
        3 => (any::<u8>(), 0..600u16).prop_map(|(slot, len)| Cmd::Read { slot, len }),
        1 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(slot, a, b)| Cmd::Writev { slot, a, b }),
        1 => Just(Cmd::Fsync),
        3 => Just(Cmd::Poll),
        2 => Just(Cmd::Wake),
        2 => any::<u8>().prop_map(Cmd::Cancel),
        4 => (any::<u8>(), any::<u8>()).prop_map(|(min, max)| Cmd::Reap { min, max }),
        2 => (1..12u8, proptest::option::of(0..12u8), any::<u8>())
            .prop_map(|(n, bad_at, fill)| Cmd::Batch { n, bad_at, fill }),
        1 => Just(Cmd::Recreate),
        2 => any::<bool>().prop_map(Cmd::Exclusive),
    ]
}

#[derive(Debug)]
enum Expect {
    Write(Vec<u8>),
    Read(Vec<u8>),
    Sync,
    Poll { woken: bool, cancelled: bool },
}

struct Harness {
    _file: TempFile,
    // Shared, so that the requests hold them: the model's methods take `&mut self`.
    rw: Arc<File>,
    ro: Arc<File>,
    r: Arc<OwnedFd>,
    w: OwnedFd,
    ctx: Context<Vec<u8>>,
    live: HashMap<Token, (u64, Expect)>,
    contents: Vec<u8>,
    woken: bool,
    next: u64,
    /// Whether submissions and reaps go through `Context::exclusive`.
    exclusive: bool,
}

impl Harness {
    fn new() -> Self {
        let file = TempFile::new(Fs::Tmpfs, "prop-context", &[]);
        let (r, w) = pipe();
        Self {
            rw: Arc::new(file.open_rw()),
            ro: Arc::new(file.open_ro()),
            _file: file,
            r: Arc::new(r),
            w,
            ctx: Context::new(4).expect("io_setup(4)"),
            live: HashMap::new(),
            contents: Vec::new(),
            woken: false,
            next: 0,
            exclusive: false,
        }
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let end = offset as usize + bytes.len();
        if self.contents.len() < end {
            self.contents.resize(end, 0);
        }
        self.contents[offset as usize..end].copy_from_slice(bytes);
    }

    fn submit(&mut self, op: Op<Vec<u8>>, expect: Expect, write_at: Option<u64>) {
        let user_data = op.get_user_data();
        let submitted = if self.exclusive {
            self.ctx.exclusive().submit(op)
        } else {
            self.ctx.submit(op)
        };
        match submitted {
            Ok(token) => {
                if let (Some(offset), Expect::Write(bytes)) = (write_at, &expect) {
                    let bytes = bytes.clone();
                    self.write_at(offset, &bytes);
                }
                assert!(self.live.insert(token, (user_data, expect)).is_none());
            }
            Err(rejected) => {
                // Only backpressure can refuse these well-formed requests.
                assert_eq!(rejected.error, Error::Os(Errno::AGAIN));
                if let Expect::Write(bytes) = expect {
                    assert_eq!(rejected.op.into_bufs(), vec![bytes]);
                }
            }
        }
    }

    fn user_data(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn run(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Write { slot, len, fill } => {
                let offset = u64::from(slot % 32) * SLOT;
                let bytes = vec![fill; len.into()];
                let user_data = self.user_data();
                let op =
                    Op::write(Arc::clone(&self.rw), bytes.clone(), offset).user_data(user_data);
                self.submit(op, Expect::Write(bytes), Some(offset));
            }
            Cmd::Read { slot, len } => {
                let offset = (u64::from(slot % 32) * SLOT) as usize;
                let end = (offset + usize::from(len))
                    .min(self.contents.len())
                    .max(offset);
                let expected = self.contents.get(offset..end).unwrap_or(&[]).to_vec();
                let user_data = self.user_data();
                let op = Op::read(Arc::clone(&self.rw), vec![0xee; len.into()], offset as u64)
                    .user_data(user_data);
                self.submit(op, Expect::Read(expected), None);
            }
            Cmd::Writev { slot, a, b } => {
                let offset = u64::from(slot % 32) * SLOT;
                let bufs = vec![vec![a; a.into()], vec![b; b.into()]];
                let user_data = self.user_data();
                let op =
                    Op::writev(Arc::clone(&self.rw), bufs.clone(), offset).user_data(user_data);
                self.submit(op, Expect::Write(bufs.concat()), Some(offset));
            }
            Cmd::Fsync => {
                let user_data = self.user_data();
                let op = Op::fsync(Arc::clone(&self.rw)).user_data(user_data);
                self.submit(op, Expect::Sync, None);
            }
            Cmd::Poll => {
                let user_data = self.user_data();
                let op = Op::poll(Arc::clone(&self.r), PollFlags::IN).user_data(user_data);
                let woken = self.woken;
                self.submit(
                    op,
                    Expect::Poll {
                        woken,
                        cancelled: false,
                    },
                    None,
                );
            }
            Cmd::Wake => {
                if !self.woken {
                    support::write_byte(&self.w);
                    self.woken = true;
                    for (_, expect) in self.live.values_mut() {
                        if let Expect::Poll { woken, .. } = expect {
                            *woken = true;
                        }
                    }
                }
            }
            Cmd::Cancel(pick) => {
                if self.live.is_empty() {
                    return;
                }
                let mut tokens: Vec<Token> = self.live.keys().copied().collect();
                tokens.sort_by_key(|t| self.live[t].0);
                let token = tokens[usize::from(pick) % tokens.len()];
                let result = self.ctx.cancel(token);
                match &mut self.live.get_mut(&token).unwrap().1 {
                    Expect::Poll {
                        woken: false,
                        cancelled,
                    } if !*cancelled => {
                        assert_eq!(result, Ok(()), "a pending poll can be cancelled");
                        *cancelled = true;
                    }
                    Expect::Poll { cancelled, .. } => {
                        // Woken (maybe still completing) or cancelled already.
                        assert!(matches!(result, Ok(()) | Err(Errno::INVAL)), "{result:?}");
                        *cancelled |= result.is_ok();
                    }
                    _ => assert_eq!(result, Err(Errno::INVAL), "file I/O is not cancellable"),
                }
            }
            Cmd::Reap { min, max } => {
                let owed = self
                    .live
                    .values()
                    .filter(|(_, e)| {
                        !matches!(
                            e,
                            Expect::Poll {
                                woken: false,
                                cancelled: false
                            }
                        )
                    })
                    .count();
                let min = usize::from(min) % (owed + 1);
                let max = usize::from(max).max(min).max(1);
                self.reap(min, max);
            }
            Cmd::Batch { n, bad_at, fill } => {
                let mut ops = VecDeque::new();
                let mut expected = VecDeque::new();
                for i in 0..n {
                    let offset = u64::from(fill.wrapping_add(i) % 32) * SLOT;
                    let bytes = vec![fill.wrapping_add(i); 100];
                    let user_data = self.user_data();
                    let fd = if bad_at == Some(i) {
                        Arc::clone(&self.ro)
                    } else {
                        Arc::clone(&self.rw)
                    };
                    ops.push_back(Op::write(fd, bytes.clone(), offset).user_data(user_data));
                    expected.push_back((offset, bytes, bad_at == Some(i), user_data));
                }
                let mut tokens = Vec::new();
                let s = if self.exclusive {
                    self.ctx.exclusive().submit_batch(&mut ops, &mut tokens)
                } else {
                    self.ctx.submit_batch(&mut ops, &mut tokens)
                };
                assert_eq!(s.accepted, tokens.len());
                for token in tokens {
                    let (offset, bytes, bad, user_data) = expected.pop_front().unwrap();
                    assert!(!bad, "a write through a read-only descriptor was accepted");
                    self.write_at(offset, &bytes);
                    assert!(
                        self.live
                            .insert(token, (user_data, Expect::Write(bytes)))
                            .is_none()
                    );
                }
                match s.error {
                    None => assert!(ops.is_empty() && expected.is_empty()),
                    Some(Error::Os(Errno::BADF)) => {
                        assert!(expected.front().unwrap().2, "EBADF names the bad write")
                    }
                    Some(Error::Os(Errno::AGAIN)) => {}
                    Some(e) => panic!("batch: {e:?}"),
                }
                assert_eq!(ops.len(), expected.len(), "the rest stay queued, in order");
                for (op, (_, bytes, _, user_data)) in ops.into_iter().zip(expected) {
                    assert_eq!(op.get_user_data(), user_data);
                    assert_eq!(op.into_bufs(), vec![bytes]);
                }
            }
            Cmd::Recreate => {
                let old = std::mem::replace(&mut self.ctx, Context::new(4).expect("io_setup(4)"));
                drop(old);
                self.live.clear();
            }
            Cmd::Exclusive(on) => self.exclusive = on,
        }
        assert_eq!(
            self.ctx.in_flight(),
            self.live.len(),
            "in flight, after {:?}",
            self.live
        );
    }

    fn reap(&mut self, min: usize, max: usize) {
        let mut done = Vec::new();
        let got = if self.exclusive {
            self.ctx
                .exclusive()
                .reap(min, max, Some(TIMEOUT), &mut done)
        } else {
            self.ctx.reap(min, max, Some(TIMEOUT), &mut done)
        }
        .unwrap();
        assert!(got >= min, "{got} completions of {min} owed: lost");
        assert_eq!(got, done.len());
        for c in done {
            let (user_data, expect) = self
                .live
                .remove(&c.token())
                .unwrap_or_else(|| panic!("unexpected or repeated completion {c:?}"));
            assert_eq!(c.user_data(), user_data);
            match expect {
                Expect::Write(bytes) => {
                    assert_eq!(c.result(), Ok(bytes.len() as u64));
                    assert_eq!(c.into_bufs().concat(), bytes);
                }
                Expect::Read(bytes) => {
                    assert_eq!(c.result(), Ok(bytes.len() as u64));
                    let buf = c.into_buf().unwrap();
                    assert_eq!(buf[..bytes.len()], bytes[..]);
                    assert!(buf[bytes.len()..].iter().all(|&b| b == 0xee));
                }
                Expect::Sync => assert_eq!(c.result(), Ok(0)),
                Expect::Poll { woken, cancelled } => {
                    let mask = c.result().unwrap();
                    assert!(woken || cancelled, "a poll completed with nothing to read");
                    assert!(mask & 1 != 0 || (cancelled && mask == 0), "mask {mask:#x}");
                }
            }
        }
    }

    /// Wakes every poll, reaps everything, and checks the file against the model.
    fn finish(mut self) {
        self.run(Cmd::Wake);
        let n = self.live.len();
        self.reap(n, n.max(1));
        assert!(self.live.is_empty());
        let mut extra = Vec::new();
        assert_eq!(self.ctx.reap(0, 4, Some(Duration::ZERO), &mut extra), Ok(0));
        let mut on_file = vec![0u8; self.contents.len() + 1];
        let len = self.rw.read_at(&mut on_file, 0).unwrap();
        assert_eq!(on_file[..len], self.contents[..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn context_agrees_with_the_model(cmds in proptest::collection::vec(cmd(), 1..40)) {
        let mut h = Harness::new();
        for cmd in cmds {
            h.run(cmd);
        }
        h.finish();
    }
}
