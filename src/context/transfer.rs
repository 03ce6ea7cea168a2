//! Whole transfers and flushes, the calls every write-ahead log writes by hand: a read or
//! write that resubmits what a short transfer left, and a batch followed by a flush that
//! covers it.

use super::Context;
use crate::error::Error;
use crate::request::buf::{IoBuf, IoBufMut};
use crate::request::completion::{Completion, Token};
use crate::request::op::Op;
use rustix::io::Errno;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

/// Which flush [`Context::submit_and_flush`] submits after its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// `IOCB_CMD_FDSYNC`: the data, and the metadata needed to read it back.
    Data,
    /// `IOCB_CMD_FSYNC`: the data and all metadata.
    All,
}

/// A whole transfer ([`Context::read_exact_at`], [`Context::write_all_at`]) that did
/// not finish: why, how far it got, and the buffer when it could be taken back.
pub struct Incomplete<B> {
    /// Why: the request's error, `UnexpectedEof` for a read that met the end of the
    /// file, `WriteZero` for a write that transferred nothing, or an error of rawaio's
    /// or of waiting.
    pub error: io::Error,
    /// The bytes transferred before it stopped.
    pub transferred: usize,
    /// The buffer; `None` only when waiting for the request failed while the kernel
    /// still owned it (it is then freed when the request completes).
    pub buf: Option<B>,
}

impl<B> fmt::Debug for Incomplete<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incomplete")
            .field("error", &self.error)
            .field("transferred", &self.transferred)
            .field("buf", &self.buf.is_some())
            .finish()
    }
}

impl<B> fmt::Display for Incomplete<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "transfer stopped after {} bytes: {}",
            self.transferred, self.error
        )
    }
}

impl<B> std::error::Error for Incomplete<B> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<B> From<Incomplete<B>> for io::Error {
    fn from(i: Incomplete<B>) -> Self {
        io::Error::new(i.error.kind(), i.to_string())
    }
}

impl<B: IoBuf> Context<B> {
    /// Reads exactly `buf.io_len()` bytes at `offset` into `buf`, resubmitting the rest
    /// whenever the kernel transfers less (a signal, a page-cache boundary), and gives the
    /// buffer back filled. Completions of other requests reaped meanwhile go to `done`.
    ///
    /// It waits for its own completion, so only this thread may reap the context while it
    /// runs (another reaper could take that completion: the call then fails rather than
    /// wait for ever).
    ///
    /// # Errors
    /// [`Incomplete`], with the buffer: the request's errno, `UnexpectedEof` at the end
    /// of the file, or the submission's or wait's error.
    ///
    /// ```
    /// use rawaio::Context;
    /// let file = std::fs::File::open("README.md")?;
    /// let ctx = Context::new(4)?;
    /// let buf = ctx.read_exact_at(&file, vec![0u8; 8], 0, &mut Vec::new())?;
    /// assert_eq!(buf, b"# rawaio");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_exact_at(
        &self,
        fd: impl AsFd,
        buf: B,
        offset: u64,
        done: &mut Vec<Completion<B>>,
    ) -> Result<B, Incomplete<B>>
    where
        B: IoBufMut,
    {
        self.whole(
            fd.as_fd(),
            buf,
            offset,
            Op::read,
            io::ErrorKind::UnexpectedEof,
            done,
        )
    }

    /// Writes all of `buf` at `offset`, resubmitting the rest whenever the kernel
    /// transfers less, and gives the buffer back. Completions of other requests reaped
    /// meanwhile go to `done`.
    ///
    /// # Errors
    /// [`Incomplete`], with the buffer: the request's errno (`ENOSPC`, `EFBIG`, ...),
    /// `WriteZero` when a write transferred nothing, or the submission's or wait's error.
    pub fn write_all_at(
        &self,
        fd: impl AsFd,
        buf: B,
        offset: u64,
        done: &mut Vec<Completion<B>>,
    ) -> Result<B, Incomplete<B>> {
        self.whole(
            fd.as_fd(),
            buf,
            offset,
            Op::write,
            io::ErrorKind::WriteZero,
            done,
        )
    }

    /// The loop of a whole transfer: `make` builds each request (`Op::read` or
    /// `Op::write`), `nothing` is the error of a transfer of 0 bytes.
    fn whole<'f>(
        &self,
        fd: BorrowedFd<'f>,
        mut buf: B,
        offset: u64,
        make: fn(BorrowedFd<'f>, B, u64) -> Op<'f, B>,
        nothing: io::ErrorKind,
        done: &mut Vec<Completion<B>>,
    ) -> Result<B, Incomplete<B>> {
        let len = buf.io_len();
        let mut pos = 0;
        while pos < len {
            let op = make(fd, buf, offset.saturating_add(pos as u64)).range(pos..);
            let completion = match self.run(op, done) {
                Ok(c) => c,
                Err((error, buf)) => {
                    return Err(Incomplete {
                        error,
                        transferred: pos,
                        buf,
                    });
                }
            };
            let result = completion.result();
            buf = completion
                .into_buf()
                .expect("a plain request gives its buffer back");
            match result {
                Ok(0) => {
                    return Err(Incomplete {
                        error: io::Error::new(nothing, format!("{pos} of {len} bytes transferred")),
                        transferred: pos,
                        buf: Some(buf),
                    });
                }
                Ok(n) => pos += n as usize,
                Err(errno) => {
                    return Err(Incomplete {
                        error: errno.into(),
                        transferred: pos,
                        buf: Some(buf),
                    });
                }
            }
        }
        Ok(buf)
    }

    /// Submits `op`, making room by reaping if the context is full, and waits for its own
    /// completion (others reaped meanwhile go to `done`).
    fn run(
        &self,
        mut op: Op<'_, B>,
        done: &mut Vec<Completion<B>>,
    ) -> Result<Completion<B>, (io::Error, Option<B>)> {
        let token = loop {
            match self.submit(op) {
                Ok(token) => break token,
                Err(r) if r.error == Error::Os(Errno::AGAIN) && self.kernel.outstanding() > 0 => {
                    op = r.op;
                    if let Err(e) = self.reap(1, self.ring_size() as usize, None, done) {
                        return Err((e.into(), op.into_bufs().pop()));
                    }
                }
                Err(r) => return Err((r.error.into(), r.op.into_bufs().pop())),
            }
        };
        self.wait_for(token, done).map_err(|e| (e, None))
    }

    /// Waits for `token`'s completion and takes it out of `done`.
    fn wait_for(&self, token: Token, done: &mut Vec<Completion<B>>) -> io::Result<Completion<B>> {
        let before = done.len();
        loop {
            if let Some(i) = done[before..].iter().position(|c| c.token() == token) {
                return Ok(done.remove(before + i));
            }
            if !self.is_in_flight(token) {
                return Err(io::Error::other(
                    "the request's completion was reaped by another thread: whole \
                     transfers and flushes need a context whose completions their thread \
                     reaps alone",
                ));
            }
            self.reap(1, self.ring_size() as usize, None, done)?;
        }
    }

    /// Submits every request in `ops`, waits until all that were accepted have
    /// completed, then submits one flush of `fd` ([`Flush::Data`]: `FDSYNC`,
    /// [`Flush::All`]: `FSYNC`) and waits for it: the flush covers the batch, which a
    /// flush submitted alongside it would not (see [Ordering](crate::Op#ordering)).
    /// Completions go to `done`, the flush's included; returns how many requests of `ops`
    /// were accepted.
    ///
    /// Check the batch's completions in `done` (with
    /// [`Completion::full`](crate::Completion::full), say): the flush is made even when
    /// a write failed, and says only whether the flush itself succeeded.
    ///
    /// Like the whole transfers, it needs a context whose completions only this thread
    /// reaps while it runs (another reaper could take the flush's completion).
    ///
    /// # Errors
    /// - The submission's error ([`Submitted::error`](crate::Submitted::error)): the
    ///   requests not accepted stay in `ops`; those accepted have completed, and no flush
    ///   is made.
    /// - The flush's errno (`EIO`: the data may not be on stable storage).
    /// - The errors of waiting ([`reap`](Self::reap)).
    ///
    /// ```
    /// use rawaio::{Context, Flush, Op};
    /// use std::collections::VecDeque;
    ///
    /// let path = std::env::temp_dir().join(format!("rawaio-flush-doc-{}", std::process::id()));
    /// let wal = std::fs::File::create(&path)?;
    /// let ctx = Context::new(8)?;
    /// let mut batch: VecDeque<_> =
    ///     (0..4u64).map(|i| Op::write(&wal, vec![b'a' + i as u8; 512], i * 512)).collect();
    /// let mut done = Vec::new();
    /// assert_eq!(ctx.submit_and_flush(&mut batch, &wal, Flush::Data, &mut done)?, 4);
    /// assert_eq!(done.len(), 5, "four writes and the flush");
    /// assert!(done.iter().all(|c| c.full().is_ok()));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "fdatasync")]
    pub fn submit_and_flush(
        &self,
        ops: &mut VecDeque<Op<'_, B>>,
        fd: impl AsFd,
        flush: Flush,
        done: &mut Vec<Completion<B>>,
    ) -> io::Result<usize> {
        let mut tokens = Vec::with_capacity(ops.len());
        let submitted = self.submit_all(ops, &mut tokens, done, None);
        self.wait_all(&tokens, None, done)?;
        if let Some(error) = submitted.error {
            return Err(error.into());
        }
        let op = match flush {
            Flush::Data => Op::fdsync(fd.as_fd()),
            Flush::All => Op::fsync(fd.as_fd()),
        };
        let completion = self.run(op, done).map_err(|(e, _)| e)?;
        let result = completion.result();
        done.push(completion);
        result?;
        Ok(submitted.accepted)
    }
}
