//! The C tests: each program in `c/` is compiled against `include/libaio.h` and linked
//! against librawaio twice, shared (`-lrawaio`) and static (`librawaio.a`), then run.
//! A program prints `PASS <name>` and exits 0 when every check in it held.
//!
//! # Where the library comes from
//!
//! `cargo test` does not build a cdylib or a staticlib it does not need, so this test
//! builds them itself: `cargo build --release -p rawaio-capi`, into the workspace's
//! `target/release/` (the artifacts the docs and `capi/fio-preload.sh` use). Cargo locks
//! each profile's directory separately, so this nested build cannot wait on the
//! `cargo test` that runs it, unless that one builds the release profile too; then the
//! nested build uses a directory of its own (`target/capi-nested/`).
//!
//! Environment: `RAWAIO_CAPI_CC` names the C compiler (default `cc`).

#![cfg(all(target_os = "linux", rawaio_native))]

mod common;

use common::{Link, assert_success, build_program, check_passed, library_dir};
use std::process::Command;

/// Compiles `c/<name>.c` linked as `link`, runs it, and checks it passed.
fn run(name: &str, link: Link) {
    let binary = build_program(name, link);
    let mut command = Command::new(&binary);
    command
        .env("RAWAIO_TEST_DIR", env!("CARGO_TARGET_TMPDIR"))
        // `cargo test` puts target/debug on LD_LIBRARY_PATH, which the dynamic linker
        // searches before the program's RUNPATH: the shared programs would load
        // whatever debug librawaio.so an earlier `cargo build` left there, not the
        // library just built.
        .env_remove("LD_LIBRARY_PATH");
    let output = command.output().expect("running the C test");
    check_passed(name, link, &command, &output);
}

macro_rules! c_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn shared() {
                    super::run(stringify!($name), super::Link::Shared);
                }
                #[test]
                fn static_() {
                    super::run(stringify!($name), super::Link::Static);
                }
            }
        )+
    };
}

c_tests!(api, epoll, sum, fork, threads, mremap);

/// The symbols and versions libaio exports, as `nm -D --with-symbol-versions` shows them.
const LIBAIO_SYMBOLS: [&str; 13] = [
    "io_queue_init@@LIBAIO_0.1",
    "io_queue_run@@LIBAIO_0.1",
    "io_queue_release@@LIBAIO_0.1",
    "io_submit@@LIBAIO_0.1",
    "io_cancel@LIBAIO_0.1",
    "io_getevents@LIBAIO_0.1",
    "io_queue_wait@LIBAIO_0.1",
    "io_setup@@LIBAIO_0.4",
    "io_destroy@@LIBAIO_0.4",
    "io_cancel@@LIBAIO_0.4",
    "io_getevents@@LIBAIO_0.4",
    "io_queue_wait@@LIBAIO_0.4",
    "io_pgetevents@@LIBAIO_0.5",
];

#[test]
fn exports_libaio_symbol_versions() {
    let so = library_dir().join("librawaio.so");
    let mut command = Command::new("nm");
    command
        .args(["-D", "--defined-only", "--with-symbol-versions"])
        .arg(&so);
    let output = command.output().expect("running nm (binutils)");
    assert_success(&command, &output);
    let text = String::from_utf8(output.stdout).unwrap();
    let exported: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    if !cfg!(rawaio_symver) {
        println!("skip: librawaio.so was built without symbol versions (no lld, see build.rs)");
        return;
    }
    for symbol in LIBAIO_SYMBOLS {
        assert!(
            exported.contains(&symbol),
            "{symbol} not exported by {}:\n{text}",
            so.display()
        );
    }
    // Nothing else under libaio's names or versions.
    for symbol in &exported {
        if symbol.starts_with("io_") || symbol.contains("LIBAIO") {
            assert!(
                LIBAIO_SYMBOLS.contains(symbol),
                "unexpected export {symbol}"
            );
        }
    }
}
