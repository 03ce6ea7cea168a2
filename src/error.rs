//! Errors of the safe API: the kernel's [`Errno`], or a request refused by rawaio's own
//! checks before it reached the kernel.

use rustix::io::Errno;
use std::fmt;

/// Why a request was refused, or a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The kernel said no.
    Os(Errno),
    /// rawaio refused the request before submitting it: the kernel would have accepted
    /// it, or failed it in a less useful way, but it cannot be what was meant.
    Invalid(InvalidOp),
}

/// A request rawaio refuses to submit.
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
    /// [`Op::limit`](crate::Op::limit) on a request other than a plain read or write.
    LimitNotAllowed,
    /// An I/O priority level outside 0 to 7.
    PriorityLevel {
        /// The level asked for.
        level: u8,
    },
    /// A buffer or offset that does not meet the direct-I/O alignment the request was
    /// checked against.
    Misaligned {
        /// What is misaligned: `"address"`, `"length"` or `"offset"`.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The alignment it needs.
        align: usize,
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
            Self::LimitNotAllowed => {
                f.write_str("a length limit applies only to plain reads and writes")
            }
            Self::PriorityLevel { level } => {
                write!(f, "I/O priority level {level} is outside 0 to 7")
            }
            Self::Misaligned { what, value, align } => write!(
                f,
                "direct I/O {what} {value:#x} is not a multiple of {align}"
            ),
        }
    }
}

impl std::error::Error for InvalidOp {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Os(e) => fmt::Display::fmt(e, f),
            Self::Invalid(e) => write!(f, "invalid AIO request: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os(e) => Some(e),
            Self::Invalid(e) => Some(e),
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

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Os(errno) => errno.into(),
            Error::Invalid(invalid) => {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, invalid)
            }
        }
    }
}

impl Error {
    /// The errno, if the kernel gave one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::Os(e) => Some(*e),
            Self::Invalid(_) => None,
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
            (InvalidOp::LimitNotAllowed, "length limit"),
            (InvalidOp::PriorityLevel { level: 8 }, "level 8"),
            (
                InvalidOp::Misaligned {
                    what: "offset",
                    value: 0x10,
                    align: 512,
                },
                "offset 0x10 is not a multiple of 512",
            ),
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
    fn kernel_errors_keep_their_errno() {
        let error = Error::from(Errno::AGAIN);
        assert_eq!(error.errno(), Some(Errno::AGAIN));
        assert_eq!(error.to_string(), Errno::AGAIN.to_string());
        assert!(error.source().is_some());
        let io = std::io::Error::from(error);
        assert_eq!(io.raw_os_error(), Some(Errno::AGAIN.raw_os_error()));
    }
}
