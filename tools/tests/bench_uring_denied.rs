//! aio-bench where io_uring is denied: the io_uring engine reports itself unavailable and
//! the run goes on with the other engines, exit status 0.
//!
//! The denial is real: aio-bench runs in a child process under a seccomp filter (built
//! with seccompiler, installed between fork and exec) that answers `io_uring_setup` with
//! `EPERM`, as Docker's default profile and the `kernel.io_uring_disabled` sysctl do, or
//! with `ENOSYS`, as a filter that hides the call does. Every other call is allowed.
#![cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A seccomp program that answers `io_uring_setup` with `errno` and allows the rest.
fn deny_io_uring(errno: i32) -> BpfProgram {
    let arch = std::env::consts::ARCH
        .try_into()
        .expect("seccompiler knows this architecture");
    SeccompFilter::new(
        [(libc::SYS_io_uring_setup, vec![])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        arch,
    )
    .expect("a valid filter")
    .try_into()
    .expect("the filter compiles to BPF")
}

/// A 4 MiB scratch file on disk (O_DIRECT works there), unique to `name`.
fn scratch(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-uring-denied-{name}-{}", std::process::id()))
}

/// Runs aio-bench with `args`, under a filter returning `errno` for io_uring_setup
/// when `errno` is given.
fn aio_bench(errno: Option<i32>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aio-bench"));
    cmd.args(args);
    if let Some(errno) = errno {
        let filter = deny_io_uring(errno);
        // SAFETY: the closure runs in the child between fork and exec; it only calls
        // prctl and seccomp on a program built (allocated) before the fork, and
        // allocates nothing.
        unsafe {
            cmd.pre_exec(move || seccompiler::apply_filter(&filter).map_err(std::io::Error::other));
        }
    }
    cmd.output().expect("aio-bench runs")
}

fn run_denied(errno: i32, name: &str, expected: &str) {
    let path = scratch(name);
    let target = path.to_str().unwrap();
    let common = [
        "--target", target, "--size", "4m", "--rw", "randread", "--ios", "256", "--qd", "8",
    ];

    // The table: a row of figures for rawaio, an "unavailable" row for io_uring.
    let mut args = common.to_vec();
    args.extend(["--engine", "rawaio,io_uring"]);
    let out = aio_bench(Some(errno), &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let uring_row = stdout
        .lines()
        .find(|l| l.starts_with("io_uring "))
        .unwrap_or_else(|| panic!("no io_uring row:\n{stdout}"));
    assert!(
        uring_row.contains("unavailable") && uring_row.contains(expected),
        "{uring_row}"
    );
    let rawaio_row = stdout
        .lines()
        .find(|l| l.starts_with("rawaio "))
        .unwrap_or_else(|| panic!("no rawaio row:\n{stdout}"));
    assert!(!rawaio_row.contains("failed"), "{rawaio_row}");
    assert!(stderr.contains("io_uring unavailable"), "{stderr}");

    // JSON: only the engines that ran have a line; the reason goes to stderr.
    args.push("--json");
    let out = aio_bench(Some(errno), &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].contains("\"engine\":\"rawaio\""), "{stdout}");
    assert!(lines[0].contains("\"ios\":256"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(expected));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn eperm_from_io_uring_setup_makes_the_engine_unavailable() {
    run_denied(libc::EPERM, "eperm", "denied");
}

#[test]
fn enosys_from_io_uring_setup_makes_the_engine_unavailable() {
    run_denied(libc::ENOSYS, "enosys", "does not exist");
}

/// The control: the same run without the filter measures io_uring, so the two tests
/// above show the filter's effect and not a machine without io_uring.
#[test]
fn without_the_filter_io_uring_runs() {
    let path = scratch("control");
    let target = path.to_str().unwrap();
    let out = aio_bench(
        None,
        &[
            "--target", target, "--size", "4m", "--rw", "randread", "--ios", "256", "--engine",
            "io_uring", "--json",
        ],
    );
    std::fs::remove_file(&path).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    if stderr.contains("io_uring unavailable") {
        eprintln!("skipped: io_uring is unavailable on this kernel without any filter: {stderr}");
        return;
    }
    assert!(stdout.contains("\"engine\":\"io_uring\""), "{stdout}");
}
