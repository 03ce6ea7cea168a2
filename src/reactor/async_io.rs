//! The async-io adapter: the eventfd registered with the `async-io` reactor.

use super::Reactor;
use ::async_io::Async;
use std::io;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll, ready};

/// Drives an [`AsyncContext`](crate::AsyncContext) from the `async-io` reactor (the one
/// smol and async-std use), through `async_io::Async`.
///
/// async-io's reactor is global and runs on its own when a thread blocks in
/// `async_io::block_on` (or in a dedicated thread, started on first use): the context
/// works under any executor.
///
/// # Examples
///
/// ```
/// use rawaio::{AsyncContext, Op, reactor::AsyncIo};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// async_io::block_on(async {
///     let file = std::fs::File::open("README.md")?;
///     let ctx = AsyncContext::<AsyncIo>::new(8)?;
///     let completion = ctx.submit(Op::read(&file, vec![0u8; 8], 0))?.await?;
///     assert_eq!(completion.result()?, 8);
///     assert_eq!(completion.into_buf().unwrap(), b"# rawaio");
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncIo {
    fd: Async<OwnedFd>,
}

impl Reactor for AsyncIo {
    /// Registers the eventfd with the async-io reactor.
    ///
    /// # Errors
    /// The `epoll_ctl` error.
    fn register(eventfd: OwnedFd) -> io::Result<Self> {
        Ok(Self {
            fd: Async::new(eventfd)?,
        })
    }

    fn poll_read(
        &self,
        cx: &mut Context<'_>,
        read: &mut dyn FnMut() -> io::Result<u64>,
    ) -> Poll<io::Result<u64>> {
        loop {
            match read() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
            // Ready when an event arrived since the last registration (then read again),
            // else registers the waker (async-io re-arms its one-shot, level-triggered
            // interest, which fires at once if the eventfd is readable already).
            ready!(self.fd.poll_readable(cx))?;
        }
    }
}
