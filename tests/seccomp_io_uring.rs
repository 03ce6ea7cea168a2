//! The `io_uring` calls denied (`EPERM`, what Docker's default profile answers): rawaio
//! never uses them, so its whole workload runs unchanged. The filter is proved active by
//! `io_uring_setup` itself answering `EPERM`.

mod sandbox;
#[path = "sandbox/workload.rs"]
mod workload;

use sandbox::{Filter, in_child, install_or_skip, number_of};

#[test]
fn io_uring_denied() {
    in_child("io_uring_denied", || {
        let numbers: Vec<i64> = ["io_uring_setup", "io_uring_enter", "io_uring_register"]
            .iter()
            .map(|n| number_of(n).expect("io_uring's numbers"))
            .collect();
        install_or_skip(&Filter::deny(&numbers, libc::EPERM));
        let mut params = [0u8; 120]; // struct io_uring_params
        // SAFETY: io_uring_setup with room for its parameters; the filter answers first.
        let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, params.as_mut_ptr()) };
        assert_eq!(
            (rc, std::io::Error::last_os_error().raw_os_error()),
            (-1, Some(libc::EPERM)),
            "io_uring_setup is denied"
        );
        workload::everything_without_a_mask();
        workload::the_mask_calls_work();
        println!("io_uring denied: the workload ran unchanged");
    });
}
