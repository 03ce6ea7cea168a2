//! The file descriptors a request names, held so that they cannot close before the
//! request is submitted.
//!
//! The kernel resolves a request's descriptors (its file, and the eventfd of
//! [`Op::notify`](crate::Op::notify)) when the request is submitted, and holds its own
//! reference from then on. Until then the request must keep them open: a descriptor
//! closed early has its number free for reuse, and the request would reach whatever file
//! is opened next. A [`Target`] makes that impossible: it borrows the descriptor for the
//! request's lifetime `'fd`, or owns it, or shares its ownership.

use std::fmt;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

/// A descriptor a request names, kept open by the request until it is submitted.
///
/// Made by [`IntoTarget`]: from a borrow (`&File`, `&OwnedFd`, `BorrowedFd<'fd>`, any
/// `&T` where `T: AsFd`), from an owned descriptor (`File`, `OwnedFd`) or from a shared
/// one (`Arc<T>` where `T: AsFd`). An owned or shared descriptor lets a request outlive
/// the scope that opened the file; it is released (an owned one closed) once the request
/// is submitted or dropped.
pub struct Target<'fd> {
    repr: Repr<'fd>,
}

enum Repr<'fd> {
    Borrowed(BorrowedFd<'fd>),
    Owned(OwnedFd),
    Shared(Arc<dyn AsFd + Send + Sync>),
}

impl Target<'_> {
    /// The descriptor's number, valid while the target lives.
    #[inline]
    pub fn raw(&self) -> RawFd {
        match &self.repr {
            Repr::Borrowed(fd) => fd.as_raw_fd(),
            Repr::Owned(fd) => fd.as_raw_fd(),
            Repr::Shared(fd) => fd.as_fd().as_raw_fd(),
        }
    }

    /// Whether the target owns or shares the descriptor (rather than borrowing it).
    #[inline]
    pub fn is_held(&self) -> bool {
        !matches!(self.repr, Repr::Borrowed(_))
    }

    /// The target with the lifetime it really has when it owns or shares the descriptor;
    /// a borrowing target comes back unchanged. For the async layer, which keeps held
    /// descriptors of requests it may have to resubmit after they completed.
    pub(crate) fn into_static(self) -> Result<Target<'static>, Self> {
        match self.repr {
            Repr::Owned(fd) => Ok(Target {
                repr: Repr::Owned(fd),
            }),
            Repr::Shared(fd) => Ok(Target {
                repr: Repr::Shared(fd),
            }),
            borrowed @ Repr::Borrowed(_) => Err(Target { repr: borrowed }),
        }
    }
}

impl AsFd for Target<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.repr {
            Repr::Borrowed(fd) => fd.as_fd(),
            Repr::Owned(fd) => fd.as_fd(),
            Repr::Shared(fd) => fd.as_fd(),
        }
    }
}

impl fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.repr {
            Repr::Borrowed(_) => "borrowed",
            Repr::Owned(_) => "owned",
            Repr::Shared(_) => "shared",
        };
        f.debug_struct("Target")
            .field("fd", &self.raw())
            .field("kind", &kind)
            .finish()
    }
}

/// What a request's descriptor can be made from: see [`Target`].
///
/// ```
/// use rawaio::Op;
/// use std::sync::Arc;
///
/// let file = std::fs::File::open("README.md")?;
/// let borrowed = Op::read(&file, vec![0u8; 8], 0); // `file` must outlive the request
/// let shared = Arc::new(std::fs::File::open("README.md")?);
/// let kept = Op::read(Arc::clone(&shared), vec![0u8; 8], 0); // the request holds it
/// let owned = Op::read(std::fs::File::open("README.md")?, vec![0u8; 8], 0); // closed after
/// # drop((borrowed, kept, owned));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A request that borrows a descriptor cannot outlive it, so it can never reach another
/// file that reuses the number:
///
/// ```compile_fail
/// use rawaio::{Context, Op};
/// let ctx = Context::new(1).unwrap();
/// let a = std::fs::File::create("/tmp/rawaio-doc-a").unwrap();
/// let op = Op::write(&a, vec![1u8], 0);
/// drop(a); // error: `a` is borrowed by `op`
/// let b = std::fs::File::create("/tmp/rawaio-doc-b").unwrap();
/// ctx.submit(op).unwrap();
/// # drop(b);
/// ```
pub trait IntoTarget<'fd> {
    /// The target.
    fn into_target(self) -> Target<'fd>;
}

impl<'fd, T: AsFd + ?Sized> IntoTarget<'fd> for &'fd T {
    fn into_target(self) -> Target<'fd> {
        Target {
            repr: Repr::Borrowed(self.as_fd()),
        }
    }
}

impl<'fd> IntoTarget<'fd> for BorrowedFd<'fd> {
    fn into_target(self) -> Target<'fd> {
        Target {
            repr: Repr::Borrowed(self),
        }
    }
}

impl<'fd> IntoTarget<'fd> for OwnedFd {
    fn into_target(self) -> Target<'fd> {
        Target {
            repr: Repr::Owned(self),
        }
    }
}

impl<'fd> IntoTarget<'fd> for File {
    fn into_target(self) -> Target<'fd> {
        OwnedFd::from(self).into_target()
    }
}

impl<'fd, T: AsFd + Send + Sync + 'static> IntoTarget<'fd> for Arc<T> {
    fn into_target(self) -> Target<'fd> {
        Target {
            repr: Repr::Shared(self),
        }
    }
}

impl<'fd> IntoTarget<'fd> for Target<'fd> {
    fn into_target(self) -> Target<'fd> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_names_the_same_descriptor_while_it_lives() {
        // Standard input: open in every test process, Miri's too, with no system call.
        let stdin = std::io::stdin();
        let raw = stdin.as_fd().as_raw_fd();
        let borrowed = (&stdin).into_target();
        assert_eq!((borrowed.raw(), borrowed.is_held()), (raw, false));
        assert_eq!(stdin.as_fd().into_target().raw(), raw);
        assert_eq!(borrowed.as_fd().as_raw_fd(), raw);
        drop(borrowed);
        let shared = Arc::new(std::io::stdin());
        let target = Arc::clone(&shared).into_target();
        assert_eq!((target.raw(), target.is_held()), (raw, true));
        assert_eq!(Arc::strong_count(&shared), 2, "the target shares ownership");
        assert!(format!("{target:?}").contains("shared"));
        drop(target);
        assert_eq!(Arc::strong_count(&shared), 1);
        if !cfg!(miri) {
            // An owned descriptor (opening one is a system call Miri does not model).
            let file = File::open("/dev/null").unwrap();
            let raw = file.as_raw_fd();
            let owned = file.into_target();
            assert_eq!((owned.raw(), owned.is_held()), (raw, true));
            assert!(format!("{owned:?}").contains("owned"));
        }
    }
}
