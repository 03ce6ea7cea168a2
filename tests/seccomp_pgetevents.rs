//! `io_pgetevents` (and `io_pgetevents_time64`) answering `EPERM`, then `ENOSYS`, as some
//! container profiles and older kernels do: everything that needs no signal mask keeps
//! working, and the calls that need one fail with exactly that errno.
//!
//! Ubuntu's libaio turned `io_getevents` into `io_pgetevents` with a fallback only on
//! `ENOSYS`, so under a filter answering `EPERM` every wait failed. rawaio's waits use
//! `io_getevents` (see `rawaio::syscalls`), so nothing here may notice the filter but
//! `reap_with_sigmask` and `sys::io_pgetevents`. Each case runs in a child process (the
//! test binary run again) with the filter on the test's thread.
//!
//! Run on 32-bit targets too: the i686 build on an x86_64 kernel's compatibility mode
//! (`.ci/i686-kernel.sh`) denies `io_pgetevents` (385) and `io_pgetevents_time64` (416).

mod sandbox;
#[path = "sandbox/workload.rs"]
mod workload;

use rawaio::Errno;
use rawaio::syscalls::Syscall;
use sandbox::{Filter, in_child, install_or_skip};

fn deny_pgetevents(errno: Errno) {
    let numbers: Vec<i64> = [Syscall::IoPgetevents, Syscall::IoPgeteventsTime64]
        .iter()
        .filter_map(|s| s.number())
        .map(i64::from)
        .collect();
    assert_eq!(
        numbers.len(),
        if cfg!(target_pointer_width = "32") {
            2
        } else {
            1
        }
    );
    install_or_skip(&Filter::deny(&numbers, errno.raw_os_error()));
    workload::everything_without_a_mask();
    workload::the_mask_calls_fail_with(errno);
    println!("io_pgetevents denied with {errno:?}: the workload ran unchanged");
}

#[test]
fn io_pgetevents_answering_eperm() {
    in_child("io_pgetevents_answering_eperm", || {
        deny_pgetevents(Errno::PERM)
    });
}

#[test]
fn io_pgetevents_answering_enosys() {
    in_child("io_pgetevents_answering_enosys", || {
        deny_pgetevents(Errno::NOSYS)
    });
}
