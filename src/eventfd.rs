//! An eventfd for completion notifications (`IOCB_FLAG_RESFD`).
//!
//! A request submitted with `IOCB_FLAG_RESFD` and an eventfd in `aio_resfd` makes the
//! kernel add 1 to the eventfd's counter when it completes. The eventfd becomes
//! readable, so it can sit in `poll`, `epoll` or an async reactor beside other
//! descriptors, and reading it tells how many completions were signalled since the
//! last read. The completions themselves are still reaped from the context.
//!
//! The kernel adds exactly 1 per completion: there is no way to be woken only once
//! N requests have completed. Wait for the eventfd, then reap what is there.
//!
//! # Examples
//!
//! Read a file with one request and learn of its completion through an eventfd:
//!
//! ```
//! use rawaio::abi::{aio_context_t, io_event, iocb, IOCB_CMD_PREAD};
//! use rawaio::eventfd::EventFd;
//! use std::os::fd::AsRawFd;
//!
//! let file = std::fs::File::open("Cargo.toml")?;
//! let efd = EventFd::new()?;
//! let mut buf = [0u8; 9];
//! let mut ctx: aio_context_t = 0;
//! // SAFETY: `ctx` is a zeroed handle that io_setup may write.
//! unsafe { rawaio::sys::io_setup(1, &mut ctx) }?;
//!
//! let mut cb = iocb::default();
//! cb.aio_lio_opcode = IOCB_CMD_PREAD;
//! cb.aio_fildes = file.as_raw_fd() as u32;
//! cb.set_buf(buf.as_mut_ptr(), buf.len());
//! cb.set_resfd(efd.as_raw_fd() as u32);
//! let mut list = [&mut cb as *mut iocb];
//! let mut events = [io_event::default(); 1];
//! // SAFETY: `buf`, `file` and `efd` outlive the request: it is reaped before the
//! // context is destroyed, and the context before they go away.
//! unsafe {
//!     assert_eq!(rawaio::sys::io_submit(ctx, 1, list.as_mut_ptr())?, 1);
//!     let n = rawaio::sys::io_getevents(ctx, 1, 1, events.as_mut_ptr(), core::ptr::null())?;
//!     assert_eq!(n, 1);
//!     rawaio::sys::io_destroy(ctx)?;
//! }
//! // The completion was signalled once, and reading reset the counter.
//! assert_eq!(efd.read()?, 1);
//! assert_eq!(efd.read()?, 0);
//! assert_eq!(events[0].res, 9);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # References
//!
//! - [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html)
//! - [io_submit(2)](https://man7.org/linux/man-pages/man2/io_submit.2.html),
//!   `IOCB_FLAG_RESFD`

use rustix::event::EventfdFlags;
use rustix::io::Errno;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

/// An eventfd, non-blocking and close-on-exec, to pass in `aio_resfd` with
/// `IOCB_FLAG_RESFD` so that every completion adds 1 to its counter.
///
/// Pass it to the kernel as `efd.as_raw_fd() as u32`, and keep it open until every
/// request naming it has completed.
///
/// # Examples
///
/// ```
/// use rawaio::eventfd::EventFd;
///
/// let efd = EventFd::new()?;
/// efd.write(2)?;
/// efd.write(1)?;
/// assert_eq!(efd.read()?, 3);
/// assert_eq!(efd.read()?, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[doc(alias = "eventfd")]
#[doc(alias = "IOCB_FLAG_RESFD")]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// Creates an eventfd with a zero counter, flags `EFD_CLOEXEC | EFD_NONBLOCK`.
    ///
    /// # Errors
    ///
    /// The `eventfd2` error: `EMFILE`/`ENFILE` when out of descriptors, `ENOMEM`.
    ///
    /// # References
    ///
    /// - [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html)
    pub fn new() -> io::Result<Self> {
        let fd = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Self { fd })
    }

    /// Reads the counter and resets it to zero: the number of completions signalled
    /// (plus any [`write`](Self::write)s) since the last read.
    ///
    /// Returns `Ok(0)` when the counter is zero, where the non-blocking `read(2)` fails
    /// with `EAGAIN`; it never blocks. A read interrupted by a signal is retried.
    ///
    /// # Errors
    ///
    /// Any other `read(2)` error, which a valid eventfd does not produce.
    ///
    /// # Examples
    ///
    /// ```
    /// let efd = rawaio::eventfd::EventFd::new()?;
    /// assert_eq!(efd.read()?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # References
    ///
    /// - [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html), "read(2)"
    pub fn read(&self) -> io::Result<u64> {
        let mut buf = [0u8; 8];
        loop {
            match rustix::io::read(&self.fd, &mut buf) {
                Ok(8) => return Ok(u64::from_ne_bytes(buf)),
                Ok(n) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("eventfd read returned {n} bytes instead of 8"),
                    ));
                }
                Err(Errno::AGAIN) => return Ok(0),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// [`read`](Self::read) in the words of a reactor's `read` function: the count, or
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) when it is zero.
    pub(crate) fn drain(&self) -> io::Result<u64> {
        match self.read()? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    /// [`drain`](Self::drain) of a context's eventfd, if it has one (a reactor's `read`
    /// function for the context; an error, never a panic, without one).
    pub(crate) fn drain_of(efd: Option<&Self>) -> io::Result<u64> {
        efd.ok_or_else(|| io::Error::other("the context has no eventfd"))?
            .drain()
    }

    /// Registers a close-on-exec duplicate of this eventfd with a reactor, made by
    /// `register` (what [`Reactor::register`](crate::reactor::Reactor::register) is
    /// handed).
    pub(crate) fn register_duplicate<R>(
        &self,
        register: impl FnOnce(OwnedFd) -> io::Result<R>,
    ) -> io::Result<R> {
        register(rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?)
    }

    /// Adds `n` to the counter, waking anyone polling the eventfd (for tests, or to
    /// wake a waiter without a completion). A write interrupted by a signal is retried.
    ///
    /// # Errors
    ///
    /// - `EINVAL` (kind [`InvalidInput`](io::ErrorKind::InvalidInput)) when `n` is
    ///   `u64::MAX`.
    /// - `EAGAIN` (kind [`WouldBlock`](io::ErrorKind::WouldBlock)) when the counter
    ///   would exceed `u64::MAX - 1`; nothing is added.
    ///
    /// # References
    ///
    /// - [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html), "write(2)"
    pub fn write(&self, n: u64) -> io::Result<()> {
        let buf = n.to_ne_bytes();
        loop {
            match rustix::io::write(&self.fd, &buf) {
                Ok(8) => return Ok(()),
                Ok(written) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("eventfd write took {written} bytes instead of 8"),
                    ));
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for EventFd {
    #[inline]
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for EventFd {
    #[inline]
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for EventFd {
    #[inline]
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<EventFd> for OwnedFd {
    #[inline]
    fn from(efd: EventFd) -> Self {
        efd.fd
    }
}
