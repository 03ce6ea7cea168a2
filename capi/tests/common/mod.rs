//! What the C tests share: the compiler, running programs, parsing their figures.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A whitespace-separated command from the environment variable `var`, or `default`.
pub fn command_from_env(var: &str, default: &str) -> Vec<String> {
    let value = env::var(var).unwrap_or_default();
    let words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        vec![default.to_owned()]
    } else {
        words
    }
}

/// Runs the C compiler (`cc` + `args`), panicking with its output if it fails.
pub fn compile(cc: &[String], args: &[&str], out: &Path) {
    let mut command = Command::new(&cc[0]);
    command.args(&cc[1..]).args(args).arg("-o").arg(out);
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "cannot run the C compiler {:?}: {e} (install gcc, or name one in \
             RAWAIO_CAPI_CC); these tests need it and are not skipped",
            cc[0]
        )
    });
    assert_success(&command, &output);
}

/// Panics with the command's output unless it exited 0.
pub fn assert_success(command: &Command, output: &Output) {
    assert!(
        output.status.success(),
        "{command:?} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// `NAME VALUE` lines, each name once.
pub fn figures(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(value), None) = (words.next(), words.next(), words.next()) else {
            panic!("not `NAME VALUE`: {line:?}");
        };
        assert!(
            map.insert(name.to_owned(), value.to_owned()).is_none(),
            "{name} twice"
        );
    }
    map
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");
/// What a Rust staticlib needs from the system (`--print native-static-libs`).
const STATIC_LIBS: [&str; 7] = [
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// The directory holding librawaio.so and librawaio.a, built once per test run.
pub fn library_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let target = tmp.parent().expect("CARGO_TARGET_TMPDIR is <target>/tmp");
        let exe = std::env::current_exe().unwrap();
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name);
        let target_dir = if profile.is_some_and(|p| p == "release") {
            target.join("capi-nested")
        } else {
            target.to_owned()
        };
        let mut command = Command::new(env!("CARGO"));
        command
            .args(["build", "--release", "--offline", "-p", "rawaio-capi"])
            .arg("--manifest-path")
            .arg(Path::new(MANIFEST).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_TARGET_DIR");
        let output = command.output().expect("running cargo");
        assert_success(&command, &output);
        let dir = target_dir.join("release");
        for file in ["librawaio.so", "librawaio.a"] {
            assert!(
                dir.join(file).is_file(),
                "{} missing",
                dir.join(file).display()
            );
        }
        dir
    })
}

#[derive(Clone, Copy, Debug)]
pub enum Link {
    Shared,
    Static,
}

/// Compiles `c/<name>.c` linked as `link`; returns the program's path.
pub fn build_program(name: &str, link: Link) -> PathBuf {
    let lib = library_dir();
    let cc = command_from_env("RAWAIO_CAPI_CC", "cc");
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capi-c");
    std::fs::create_dir_all(&out_dir).unwrap();
    let binary = out_dir.join(format!("{name}-{link:?}").to_lowercase());
    // Tests running in parallel may want the same program: it is built once, under a
    // lock, so that none runs it while another is still writing it (ETXTBSY).
    static BUILT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.contains(&binary) {
        return binary;
    }
    let include = format!("-I{MANIFEST}/include");
    let source = format!("{MANIFEST}/tests/c/{name}.c");
    let lib_dir = format!("-L{}", lib.display());
    let rpath = format!("-Wl,-rpath,{}", lib.display());
    let archive = lib.join("librawaio.a").display().to_string();
    let mut args = vec![
        "-std=gnu11",
        "-O1",
        "-g",
        "-Wall",
        "-Wextra",
        "-Werror",
        &include,
        &source,
    ];
    if cfg!(rawaio_symver) {
        args.push("-DRAWAIO_TEST_VERSIONED");
    }
    match link {
        Link::Shared => args.extend([lib_dir.as_str(), "-lrawaio", rpath.as_str(), "-lpthread"]),
        Link::Static => {
            args.push(&archive);
            args.extend(STATIC_LIBS);
        }
    }
    compile(&cc, &args, &binary);
    built.push(binary.clone());
    binary
}

/// Checks that a C test program exited 0 and printed its PASS line.
pub fn check_passed(name: &str, link: Link, command: &Command, output: &std::process::Output) {
    assert_success(command, output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("PASS {name}"))),
        "{name} exited 0 without PASS:\n{stdout}"
    );
    println!("{name} ({link:?}): {}", stdout.trim_end());
}
