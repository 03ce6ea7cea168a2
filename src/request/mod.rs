//! A request's life before and after the kernel, all of it pure: the buffers it owns
//! ([`buf`]), the descriptors it names ([`fd`]), the request itself ([`op`]), the checks
//! rawaio makes ([`check`]), the one encoder to an `iocb` ([`encode`]) and what comes
//! back ([`completion`]). No system call is made here; the slot table
//! ([`crate::slots`]) owns what a submitted request leaves to the kernel.

pub(crate) mod buf;
pub(crate) mod check;
pub(crate) mod completion;
pub(crate) mod encode;
pub(crate) mod fd;
pub(crate) mod op;

/// Standard input, borrowed for requests that unit tests build but never submit.
#[cfg(test)]
pub(crate) fn stdin_fd() -> std::os::fd::BorrowedFd<'static> {
    use std::os::fd::AsFd;
    // A process-wide handle, so its descriptor is borrowed for `'static`.
    static STDIN: std::sync::LazyLock<std::io::Stdin> = std::sync::LazyLock::new(std::io::stdin);
    STDIN.as_fd()
}
