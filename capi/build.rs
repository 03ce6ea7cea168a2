//! Gives librawaio.so libaio's symbol versions.
//!
//! rustc hands the linker a version script of its own for every cdylib (an anonymous
//! node exporting every `#[no_mangle]` item). GNU ld refuses a second, named script next
//! to it; lld merges them. So the versions are assigned by `.symver` directives in
//! `src/exports.rs`, and `libaio.map` only defines the version nodes, which needs lld:
//! rustc's own `rust-lld` on x86_64-unknown-linux-gnu (the default from Rust 1.90), or an
//! `ld.lld` on `PATH` for any target. Without either the library is built unversioned,
//! exporting the plain names (`cfg(rawaio_symver)` unset), and the build says so.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rawaio_symver)");
    println!("cargo::rustc-check-cfg=cfg(rawaio_native)");
    println!("cargo::rustc-check-cfg=cfg(rawaio_sandbox)");
    // tests/c_seccomp.rs builds its filters with the workspace's seccomp helpers, which a
    // published package does not hold: it runs only from the repository.
    let sandbox =
        Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("../tests/sandbox/mod.rs");
    println!("cargo::rerun-if-changed={}", sandbox.display());
    if sandbox.is_file() {
        println!("cargo::rustc-cfg=rawaio_sandbox");
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=libaio.map");
    println!("cargo::rerun-if-env-changed=PATH");

    let target = env::var("TARGET").unwrap_or_default();
    // The C tests build and run programs for the host: only when the target is the host.
    if env::var("HOST").is_ok_and(|host| host == target) {
        println!("cargo::rustc-cfg=rawaio_native");
    }
    let linux = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let rust_lld_default = target == "x86_64-unknown-linux-gnu"
        && env::var_os("RUSTC_LINKER").is_none()
        && rustc_minor().is_some_and(|minor| minor >= 90);
    let system_lld = on_path("ld.lld");

    if linux && (rust_lld_default || system_lld) {
        let map = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("libaio.map");
        println!("cargo::rustc-cfg=rawaio_symver");
        if !rust_lld_default {
            println!("cargo::rustc-cdylib-link-arg=-fuse-ld=lld");
        }
        println!(
            "cargo::rustc-cdylib-link-arg=-Wl,--version-script={}",
            map.display()
        );
    } else {
        println!(
            "cargo::warning=no lld for {target}: librawaio.so is built without libaio's symbol \
             versions (install lld to get them)"
        );
    }
}

/// The minor version of the rustc building this crate (95 for 1.95.0).
fn rustc_minor() -> Option<u32> {
    let rustc = env::var_os("RUSTC")?;
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace()
        .nth(1)?
        .split('.')
        .nth(1)?
        .parse()
        .ok()
}

fn on_path(program: &str) -> bool {
    env::var_os("PATH")
        .is_some_and(|path| env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
