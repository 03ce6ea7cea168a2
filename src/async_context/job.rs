//! A request taken apart, so that the context can submit it again after the kernel
//! refused it: its [`Shell`] (everything but the descriptor and the buffers), its
//! descriptor, and its buffers, which come back with the refusal's completion.
//!
//! # Safety
//!
//! A request that borrows its descriptor is split into a [`Lent`] descriptor number,
//! which is used (to duplicate the descriptor) only while the submitting call that
//! received the request runs: the borrow the request carried outlives that call, so the
//! number names the same open file meanwhile. Nothing keeps a `Lent` past that call.

#![allow(unsafe_code)]

use super::policy::Kind;
use crate::direct::DioAlign;
use crate::request::buf::IoBuf;
use crate::request::completion::{Completion, Token};
use crate::request::fd::{IntoTarget, Target};
use crate::request::op::{Bufs, IoPriority, Op};
use rawaio_abi::{IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE, RwfFlags};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};

/// Everything of a request but its descriptor and its buffers.
pub(super) struct Shell<B> {
    pub(super) opcode: u16,
    addr_of: fn(&mut B) -> *mut u8,
    pub(super) offset: u64,
    poll_events: u16,
    /// The caller's flags, without the `RWF_NOWAIT` the policy adds.
    rw_flags: RwfFlags,
    ioprio: Option<IoPriority>,
    pub(super) user_data: u64,
    align: Option<DioAlign>,
    range: Option<(usize, Option<usize>)>,
}

/// A request's descriptor once the request is taken apart.
pub(super) enum Fd {
    /// Owned or shared by the request: kept as long as needed.
    Held(Target<'static>),
    /// Borrowed by the request: the number, valid until the submitting call returns.
    Lent(RawFd),
}

// The number of a `Lent` is only used inside the call that made it (module notes).

impl Fd {
    /// The descriptor, borrowed.
    ///
    /// # Safety
    /// For a [`Fd::Lent`], only while the submitting call that took the request apart
    /// runs (see the module's safety notes).
    pub(super) unsafe fn borrow(&self) -> BorrowedFd<'_> {
        match self {
            Self::Held(t) => t.as_fd(),
            // SAFETY: the caller's contract: the request's borrow, which outlives the
            // running call, keeps the descriptor open.
            Self::Lent(fd) => unsafe { BorrowedFd::borrow_raw(*fd) },
        }
    }

    /// A descriptor that lives as long as needed: the held one, or a duplicate of the
    /// lent one.
    ///
    /// # Safety
    /// As [`borrow`](Self::borrow).
    pub(super) unsafe fn keep(self) -> io::Result<Target<'static>> {
        match self {
            Self::Held(t) => Ok(t),
            Self::Lent(_) => {
                // SAFETY: the caller's contract, as for `borrow`.
                let fd = unsafe { self.borrow() };
                Ok(rustix::io::fcntl_dupfd_cloexec(fd, 0)?.into_target())
            }
        }
    }
}

/// Takes a submitted (or refused) request apart. Its buffers, if it still has them, come
/// back separately. `nowait_added` says whether the policy added `RWF_NOWAIT`, which the
/// shell leaves out.
pub(super) fn split<B>(op: Op<'_, B>, nowait_added: bool) -> (Shell<B>, Fd, Bufs<B>) {
    let Op {
        opcode,
        bufs,
        addr_of,
        fd,
        offset,
        poll_events,
        mut rw_flags,
        ioprio,
        notify: _,
        user_data,
        align,
        range,
    } = op;
    if nowait_added {
        rw_flags.remove(RwfFlags::NOWAIT);
    }
    let fd = match fd.into_static() {
        Ok(held) => Fd::Held(held),
        Err(borrowed) => Fd::Lent(borrowed.raw()),
    };
    let shell = Shell {
        opcode,
        addr_of,
        offset,
        poll_events,
        rw_flags,
        ioprio,
        user_data,
        align,
        range,
    };
    (shell, fd, bufs)
}

impl<B: IoBuf> Shell<B> {
    /// The request again, on `fd` with `bufs`, with `RWF_NOWAIT` if `nowait`, skipping
    /// the first `skip` bytes of a plain request's transfer.
    pub(super) fn op<'fd>(
        &self,
        fd: impl IntoTarget<'fd>,
        bufs: Bufs<B>,
        nowait: bool,
        skip: u64,
    ) -> Op<'fd, B> {
        let (start, end) = self.range.unwrap_or((0, None));
        let mut rw_flags = self.rw_flags;
        if nowait {
            rw_flags.insert(RwfFlags::NOWAIT);
        }
        Op {
            opcode: self.opcode,
            bufs,
            addr_of: self.addr_of,
            fd: fd.into_target(),
            offset: self.offset + skip,
            poll_events: self.poll_events,
            rw_flags,
            ioprio: self.ioprio,
            notify: None,
            user_data: self.user_data,
            align: self.align,
            range: if skip > 0 || self.range.is_some() {
                Some((start.saturating_add(skip as usize), end))
            } else {
                None
            },
        }
    }

    /// One buffer of a vectored request as a plain request at `offset`, skipping `skip`
    /// bytes of it: for finishing a vectored transfer cut short.
    pub(super) fn plain_part<'fd>(
        &self,
        fd: impl IntoTarget<'fd>,
        buf: B,
        offset: u64,
        skip: usize,
    ) -> Op<'fd, B> {
        let opcode = if self.opcode == IOCB_CMD_PREADV {
            IOCB_CMD_PREAD
        } else {
            IOCB_CMD_PWRITE
        };
        Op {
            opcode,
            bufs: Bufs::One(buf),
            addr_of: self.addr_of,
            fd: fd.into_target(),
            offset,
            poll_events: 0,
            rw_flags: self.rw_flags,
            ioprio: self.ioprio,
            notify: None,
            user_data: self.user_data,
            align: None,
            range: (skip > 0).then_some((skip, None)),
        }
    }
}

/// A request the kernel refused, on its way to being finished: by a resubmission after
/// readiness, inline, or on a helper thread.
pub(super) struct Job<B> {
    /// The token the request's future knows.
    pub(super) original: Token,
    pub(super) shell: Shell<B>,
    pub(super) fd: Target<'static>,
    /// The descriptor number the caller's request named, which `fd` may duplicate: the
    /// key of what the policy learns about the file.
    pub(super) named: RawFd,
    pub(super) bufs: Bufs<B>,
    /// What the original request asked to transfer.
    pub(super) requested: u64,
    /// What has been transferred already (by a request cut short).
    pub(super) done: u64,
    /// What the file is, once looked at.
    pub(super) class: Option<Kind>,
    /// Readiness polls after which the request was refused again.
    pub(super) polls: u32,
}

impl<B> Job<B> {
    /// The completion the future gets: the original token, the bytes transferred in all
    /// (an error only when nothing was), and the buffers.
    pub(super) fn complete(self, res: i64) -> Completion<B> {
        let res = match res {
            n if n >= 0 => n + self.done as i64,
            _ if self.done > 0 => self.done as i64,
            e => e,
        };
        Completion {
            token: self.original,
            user_data: self.shell.user_data,
            opcode: self.shell.opcode,
            requested: self.requested,
            res,
            res2: 0,
            bufs: self.bufs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::sync::Arc;

    fn fd() -> BorrowedFd<'static> {
        // SAFETY: standard input is open for the test process's lifetime; nothing is
        // submitted.
        unsafe { BorrowedFd::borrow_raw(0) }
    }

    #[test]
    fn a_request_comes_apart_and_back_together() {
        let shared = Arc::new(fd());
        let op = Op::read(Arc::clone(&shared), vec![0u8; 10], 100)
            .rw_flags(RwfFlags::NOWAIT | RwfFlags::HIPRI)
            .range(2..8)
            .user_data(9);
        let (shell, held, bufs) = split(op, true);
        assert!(matches!(held, Fd::Held(_)), "an Arc is held");
        assert_eq!(
            shell.rw_flags,
            RwfFlags::HIPRI,
            "the policy's flag is left out"
        );
        let again = shell.op(fd(), bufs, true, 3);
        assert_eq!(again.offset(), 103);
        assert_eq!(again.len(), 3, "bytes 5..8 of the buffer");
        assert_eq!(again.rw_flags, RwfFlags::NOWAIT | RwfFlags::HIPRI);
        assert_eq!(again.get_user_data(), 9);
        let (_, lent, _) = split(Op::read(fd(), vec![0u8; 4], 0), false);
        assert!(matches!(lent, Fd::Lent(0)));
        drop(held);
        assert_eq!(Arc::strong_count(&shared), 1, "the shell let the Arc go");
    }

    #[test]
    fn a_vectored_request_continues_buffer_by_buffer() {
        let (shell, _, _) = split(Op::readv(fd(), vec![vec![0u8; 4]], 64), false);
        let part = shell.plain_part(fd(), vec![0u8; 10], 70, 3);
        assert_eq!(
            (part.opcode(), part.offset(), part.len()),
            (rawaio_abi::IOCB_CMD_PREAD, 70, 7)
        );
        assert_eq!(part.target().as_fd().as_raw_fd(), 0);
    }

    #[test]
    fn the_final_completion_adds_what_was_done() {
        let job = |done| {
            let (shell, _, _) = split(Op::read(fd(), vec![0u8; 10], 0), false);
            Job {
                original: Token {
                    index: 1,
                    generation: 2,
                    context: 3,
                },
                shell,
                fd: fd().into_target(),
                named: 0,
                bufs: Bufs::<Vec<u8>>::None,
                requested: 10,
                done,
                class: None,
                polls: 0,
            }
        };
        assert_eq!(job(4).complete(6).res, 10);
        assert_eq!(
            job(4).complete(-11).res,
            4,
            "an error after progress is a short count"
        );
        assert_eq!(job(0).complete(-11).res, -11);
        let c = job(0).complete(0);
        assert_eq!((c.token().index, c.requested_len()), (1, 10));
    }
}
