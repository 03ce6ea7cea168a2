//! The tokio adapter: the eventfd registered with tokio's reactor through `AsyncFd`.
//!
//! # Safety
//!
//! `AsyncFd::register_with_interest` is `unsafe`: the descriptor must stay open, naming
//! the same file, for as long as the `AsyncFd` lives. This module registers an `OwnedFd`
//! that the `AsyncFd` owns and never hands out (no `into_inner`, no `&mut` access), so
//! the descriptor is closed only when the `AsyncFd` is dropped.

#![allow(unsafe_code)]

use super::Reactor;
use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;
use std::io;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll, ready};

/// Drives an [`AsyncContext`](crate::AsyncContext) from tokio's reactor
/// (`tokio::io::unix::AsyncFd`), on a current-thread or a multi-threaded runtime.
///
/// The context must be created inside a runtime with I/O enabled (`enable_io`, or
/// `enable_all`, as `#[tokio::main]` does); it may then be used from any of that
/// runtime's tasks, and its futures may be spawned.
///
/// # Examples
///
/// ```
/// use rawaio::{AsyncContext, Op, reactor::Tokio};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// rt.block_on(async {
///     let file = std::fs::File::open("README.md")?;
///     let ctx = AsyncContext::<Tokio>::new(8)?;
///     let completion = ctx.submit(Op::read(&file, vec![0u8; 8], 0))?.await?;
///     assert_eq!(completion.result()?, 8);
///     assert_eq!(completion.into_buf().unwrap(), b"# rawaio");
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug)]
#[doc(alias = "AsyncFd")]
pub struct Tokio {
    fd: AsyncFd<OwnedFd>,
}

impl Reactor for Tokio {
    /// Registers the eventfd with the current tokio runtime's reactor.
    ///
    /// # Errors
    /// - [`io::ErrorKind::Unsupported`] outside a tokio runtime, or in one whose I/O
    ///   driver is not enabled.
    /// - The `epoll_ctl` error.
    fn register(eventfd: OwnedFd) -> io::Result<Self> {
        if ::tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "rawaio::reactor::Tokio: not inside a tokio runtime",
            ));
        }
        // A runtime built without `enable_io` makes `AsyncFd` panic rather than fail:
        // turn that into an error too.
        let register = move || {
            // SAFETY: the `AsyncFd` takes ownership of `eventfd` and keeps it, open and
            // unchanged, until it is dropped (see the module's safety notes).
            unsafe { AsyncFd::register_with_interest(eventfd, Interest::READABLE) }
        };
        match std::panic::catch_unwind(register) {
            Ok(Ok(fd)) => Ok(Self { fd }),
            Ok(Err(e)) => Err(e.into_parts().1),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "rawaio::reactor::Tokio: the tokio runtime has no I/O driver (enable_io)",
            )),
        }
    }

    fn poll_read(
        &self,
        cx: &mut Context<'_>,
        read: &mut dyn FnMut() -> io::Result<u64>,
    ) -> Poll<io::Result<u64>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            // `try_io` clears tokio's cached readiness when `read` would block, without
            // losing a readiness event that arrived since `poll_read_ready`.
            match guard.try_io(|_| read()) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }
}
