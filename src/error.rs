//! Errors of the safe API: the kernel's [`Errno`], a request or argument refused by
//! rawaio's own checks before it reached the kernel, or the system-wide AIO budget spent.

use crate::direct::Misaligned;
use rustix::io::Errno;
use std::fmt;

/// Why a request was refused, or a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The kernel said no.
    Os(Errno),
    /// rawaio refused the request or argument before it reached the kernel: the kernel
    /// would have accepted it, or failed in a less useful way, but it cannot be what was
    /// meant.
    Invalid(InvalidOp),
    /// `io_setup` answered `EAGAIN` because the system-wide budget of AIO events
    /// (`/proc/sys/fs/aio-max-nr`) has too little room left for the context asked for.
    Budget(Budget),
}

/// The system-wide AIO budget, read when a context did not fit in it: see
/// [`Error::Budget`].
///
/// ```
/// let b = rawaio::Budget { requested: 65536, max: 65536, in_use: 128 };
/// assert_eq!(b.free(), 65408);
/// assert!(b.to_string().contains("sysctl -w fs.aio-max-nr=65664"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The events the context asked for (`io_setup`'s `nr_events`, what the kernel
    /// counts against the budget).
    pub requested: u32,
    /// `/proc/sys/fs/aio-max-nr` (0 when it could not be read).
    pub max: u64,
    /// `/proc/sys/fs/aio-nr`: the events held by every context on the machine (0 when
    /// it could not be read).
    pub in_use: u64,
}

impl Budget {
    /// The events still free.
    pub fn free(&self) -> u64 {
        self.max.saturating_sub(self.in_use)
    }

    /// Reads the budget from `/proc` after `io_setup(requested)` failed with `EAGAIN`.
    pub(crate) fn read(requested: u32) -> Self {
        let number = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        Self {
            requested,
            max: number("/proc/sys/fs/aio-max-nr"),
            in_use: number("/proc/sys/fs/aio-nr"),
        }
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.max == 0 {
            return write!(
                f,
                "the system-wide AIO budget has no room for a context of {} events \
                 (/proc/sys/fs/aio-max-nr could not be read)",
                self.requested
            );
        }
        write!(
            f,
            "the system-wide AIO budget has no room for a context of {} events: \
             /proc/sys/fs/aio-max-nr is {}, {} in use, {} free; raise it with \
             `sysctl -w fs.aio-max-nr={}` or ask for fewer events",
            self.requested,
            self.max,
            self.in_use,
            self.free(),
            self.in_use
                .saturating_add(self.requested.into())
                .max(self.max)
        )
    }
}

/// A request or argument rawaio refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidOp {
    /// The offset, or the offset plus the length, does not fit the kernel's signed 64-bit
    /// offset (`loff_t`).
    OffsetTooLarge {
        /// The offset asked for.
        offset: u64,
        /// The total length of the request.
        len: u64,
    },
    /// The total length exceeds `isize::MAX`, which no read or write can transfer.
    LengthTooLarge {
        /// The total length asked for.
        len: u64,
    },
    /// A vectored request with more buffers than `IOV_MAX` (1024), or none.
    BufferCount {
        /// How many buffers it had.
        count: usize,
    },
    /// `RWF_*` flags on an `FSYNC`, `FDSYNC` or `POLL` request, which the kernel rejects.
    FlagsNotAllowed,
    /// [`Op::range`](crate::Op::range) (or [`limit`](crate::Op::limit)) on a request
    /// other than a plain read or write.
    RangeNotAllowed,
    /// [`Op::range`](crate::Op::range) (or [`limit`](crate::Op::limit)) outside the
    /// buffer, or a [`Slice`](crate::Slice) outside its buffer.
    Range {
        /// Where the range starts.
        start: usize,
        /// Where it ends (exclusive).
        end: usize,
        /// The buffer's length.
        len: usize,
    },
    /// An I/O priority level outside 0 to 7.
    PriorityLevel {
        /// The level asked for.
        level: u8,
    },
    /// A buffer or offset that does not meet the direct-I/O alignment the request was
    /// checked against ([`Op::aligned_to`](crate::Op::aligned_to)).
    Misaligned(Misaligned),
    /// [`Op::notify`](crate::Op::notify) on a context that signals its own eventfd for
    /// every request: a request can signal only one.
    NotifyConflict,
    /// A [`Token`](crate::Token) of another context.
    ForeignToken,
    /// A [`FixedSlot`](crate::FixedSlot) of another [`FixedContext`](crate::FixedContext).
    ForeignSlot,
    /// [`Context::scope`](crate::Context::scope) on a context with requests in flight.
    InFlight {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for InvalidOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::OffsetTooLarge { offset, len } => write!(
                f,
                "offset {offset} plus length {len} does not fit a signed 64-bit file offset"
            ),
            Self::LengthTooLarge { len } => write!(f, "length {len} exceeds isize::MAX"),
            Self::BufferCount { count } => {
                write!(f, "a vectored request needs 1 to 1024 buffers, not {count}")
            }
            Self::FlagsNotAllowed => f.write_str("RWF flags are only allowed on reads and writes"),
            Self::RangeNotAllowed => {
                f.write_str("a buffer range applies only to plain reads and writes")
            }
            Self::Range { start, end, len } => {
                write!(
                    f,
                    "range {start}..{end} is outside the buffer's {len} bytes"
                )
            }
            Self::PriorityLevel { level } => {
                write!(f, "I/O priority level {level} is outside 0 to 7")
            }
            Self::Misaligned(m) => fmt::Display::fmt(&m, f),
            Self::NotifyConflict => f.write_str(
                "the context signals its own eventfd for every request; a request can \
                 signal only one, so Op::notify is refused here",
            ),
            Self::ForeignToken => f.write_str("the token belongs to another context"),
            Self::ForeignSlot => f.write_str("the fixed slot belongs to another fixed context"),
            Self::InFlight { count } => write!(
                f,
                "the context has {count} requests in flight; a scope needs an idle context"
            ),
        }
    }
}

impl std::error::Error for InvalidOp {}

impl std::error::Error for Budget {}

impl From<Misaligned> for InvalidOp {
    fn from(m: Misaligned) -> Self {
        Self::Misaligned(m)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Os(e) => fmt::Display::fmt(e, f),
            Self::Invalid(e) => write!(f, "invalid AIO request: {e}"),
            Self::Budget(b) => fmt::Display::fmt(b, f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os(e) => Some(e),
            Self::Invalid(e) => Some(e),
            Self::Budget(b) => Some(b),
        }
    }
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Self::Os(e)
    }
}

impl From<InvalidOp> for Error {
    fn from(e: InvalidOp) -> Self {
        Self::Invalid(e)
    }
}

impl From<Budget> for Error {
    fn from(b: Budget) -> Self {
        Self::Budget(b)
    }
}

impl From<Error> for std::io::Error {
    /// The kernel's errno as is; a refusal of rawaio's as
    /// [`InvalidInput`](std::io::ErrorKind::InvalidInput); a spent budget as
    /// [`QuotaExceeded`](std::io::ErrorKind::QuotaExceeded) carrying its explanation.
    fn from(e: Error) -> Self {
        match e {
            Error::Os(errno) => errno.into(),
            Error::Invalid(invalid) => {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, invalid)
            }
            Error::Budget(b) => std::io::Error::new(std::io::ErrorKind::QuotaExceeded, b),
        }
    }
}

impl Error {
    /// The errno: the kernel's, or `EAGAIN` for a spent budget; `None` for rawaio's own
    /// refusals.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::Os(e) => Some(*e),
            Self::Invalid(_) => None,
            Self::Budget(_) => Some(Errno::AGAIN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn every_refusal_explains_itself() {
        let cases = [
            (
                InvalidOp::OffsetTooLarge { offset: 9, len: 3 },
                "offset 9 plus length 3",
            ),
            (InvalidOp::LengthTooLarge { len: 5 }, "length 5 exceeds"),
            (InvalidOp::BufferCount { count: 0 }, "not 0"),
            (InvalidOp::FlagsNotAllowed, "RWF flags"),
            (InvalidOp::RangeNotAllowed, "buffer range"),
            (
                InvalidOp::Range {
                    start: 0,
                    end: 5,
                    len: 4,
                },
                "range 0..5 is outside the buffer's 4 bytes",
            ),
            (InvalidOp::PriorityLevel { level: 8 }, "level 8"),
            (
                crate::direct::DioAlign {
                    memory: 1,
                    offset: 512,
                }
                .check(0, 512, 0x10)
                .unwrap_err()
                .into(),
                "file offset 16 is not a multiple of 512",
            ),
            (InvalidOp::NotifyConflict, "only one"),
            (InvalidOp::ForeignToken, "another context"),
            (InvalidOp::ForeignSlot, "another fixed context"),
            (InvalidOp::InFlight { count: 3 }, "3 requests in flight"),
        ];
        for (invalid, text) in cases {
            assert!(invalid.to_string().contains(text), "{invalid}");
            let error = Error::from(invalid);
            assert_eq!(error, Error::Invalid(invalid));
            assert_eq!(error.errno(), None);
            assert!(error.to_string().starts_with("invalid AIO request: "));
            assert_eq!(error.source().unwrap().to_string(), invalid.to_string());
            let io = std::io::Error::from(error);
            assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!(io.to_string(), invalid.to_string());
        }
    }

    #[test]
    fn a_spent_budget_says_what_was_asked_and_what_is_free() {
        let b = Budget {
            requested: 65536,
            max: 65536,
            in_use: 1024,
        };
        let error = Error::from(b);
        assert_eq!(error.errno(), Some(Errno::AGAIN));
        let text = error.to_string();
        for part in [
            "65536 events",
            "aio-max-nr is 65536",
            "1024 in use",
            "64512 free",
        ] {
            assert!(text.contains(part), "{text}");
        }
        assert!(text.contains("sysctl -w fs.aio-max-nr=66560"), "{text}");
        let io = std::io::Error::from(error);
        assert_eq!(io.kind(), std::io::ErrorKind::QuotaExceeded);
        let unknown = Budget {
            requested: 8,
            max: 0,
            in_use: 0,
        };
        assert!(unknown.to_string().contains("could not be read"));
    }

    #[test]
    fn kernel_errors_keep_their_errno() {
        let error = Error::from(Errno::AGAIN);
        assert_eq!(error.errno(), Some(Errno::AGAIN));
        assert_eq!(error.to_string(), Errno::AGAIN.to_string());
        assert!(error.source().is_some());
        let io = std::io::Error::from(error);
        assert_eq!(io.raw_os_error(), Some(Errno::AGAIN.raw_os_error()));
    }
}
