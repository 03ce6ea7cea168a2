//! librawaio under seccomp filters answering `io_pgetevents` with `EPERM` or `ENOSYS`:
//! the C library's waits never depend on it. The filters are built by the workspace's
//! seccomp helpers (`tests/sandbox/`), which the published package does not hold: the
//! build script sets `rawaio_sandbox` only where they are, so these tests run from the
//! repository (CI's every run) and are compiled out of the package's.
//!
//! Environment: `RAWAIO_CAPI_CC` names the C compiler (default `cc`).

#![cfg(all(target_os = "linux", rawaio_native, rawaio_sandbox))]

mod common;
#[path = "../../tests/sandbox/mod.rs"]
mod sandbox;

use common::{Link, build_program, check_passed};
use rawaio::syscalls::Syscall;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// `c/seccomp.c` under a seccomp filter that answers `io_pgetevents` (and
/// `io_pgetevents_time64`) with `errno`: every wait through `io_getevents`,
/// `io_queue_run` and `io_queue_wait` works, and `io_pgetevents` fails with that errno.
/// The filter is installed between `fork` and `exec` (filters survive `exec`).
fn under_pgetevents_filter(errno: i32, link: Link) {
    if !sandbox::CAN_FILTER {
        println!("skipped: no seccomp filter builder for this target (see tests/sandbox)");
        return;
    }
    let binary = build_program("seccomp", link);
    let numbers: Vec<i64> = [Syscall::IoPgetevents, Syscall::IoPgeteventsTime64]
        .iter()
        .filter_map(|s| s.number())
        .map(i64::from)
        .collect();
    let filter = sandbox::Filter::deny(&numbers, errno);
    let mut command = Command::new(&binary);
    command
        .env("RAWAIO_TEST_DIR", env!("CARGO_TARGET_TMPDIR"))
        .env("RAWAIO_EXPECT_ERRNO", errno.to_string())
        .env_remove("LD_LIBRARY_PATH");
    // SAFETY: the hook makes two system calls (prctl, seccomp) and allocates nothing.
    unsafe { command.pre_exec(move || filter.install()) };
    let output = match command.output() {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
            println!("skipped: the kernel has no seccomp filters ({e})");
            return;
        }
        other => other.expect("running the C test under the filter"),
    };
    check_passed("seccomp", link, &command, &output);
}

mod seccomp {
    use super::{Link, under_pgetevents_filter};

    #[test]
    fn io_pgetevents_answering_eperm_shared() {
        under_pgetevents_filter(libc::EPERM, Link::Shared);
    }

    #[test]
    fn io_pgetevents_answering_enosys_shared() {
        under_pgetevents_filter(libc::ENOSYS, Link::Shared);
    }

    #[test]
    fn io_pgetevents_answering_eperm_static() {
        under_pgetevents_filter(libc::EPERM, Link::Static);
    }
}
