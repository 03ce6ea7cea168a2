//! Cross-check with C: compiles `probe/aio_probe.c` against the system's kernel headers,
//! runs it, and compares every figure it prints with this crate's.
//!
//! Environment:
//! - `RAWAIO_PROBE_CC`: the C compiler, optionally followed by arguments, split on
//!   whitespace (default `cc`). The probe is always built with `-O0 -Wall -Werror`.
//! - `RAWAIO_PROBE_STATIC=1`: link the probe statically (for qemu-user).
//! - `RAWAIO_PROBE_RUNNER`: a command, split on whitespace, to run the probe with
//!   (e.g. `qemu-s390x`).
//!
//! The test fails if the compiler cannot be run, if the probe prints a figure this test
//! cannot check, if a figure differs, or if a core figure is missing.

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use rawaio_abi::layout::STRUCTS;
use rawaio_abi::nr;

const PROBE_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/probe/aio_probe.c");

/// Figures keyed by name, as the probe prints them.
type Figures = BTreeMap<String, i128>;

/// A whitespace-separated command from the environment, or `None` if unset or blank.
fn command_from_env(var: &str) -> Option<Vec<String>> {
    let value = match env::var(var) {
        Ok(value) => value,
        Err(env::VarError::NotPresent) => return None,
        Err(e) => panic!("{var}: {e}"),
    };
    let words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() { None } else { Some(words) }
}

fn link_static() -> bool {
    match env::var("RAWAIO_PROBE_STATIC").as_deref() {
        Err(env::VarError::NotPresent) | Ok("") | Ok("0") => false,
        Ok("1") => true,
        other => panic!("RAWAIO_PROBE_STATIC must be 1, 0 or empty, not {other:?}"),
    }
}

/// Compiles the probe and returns the path of the binary.
fn compile_probe() -> PathBuf {
    let cc = command_from_env("RAWAIO_PROBE_CC").unwrap_or_else(|| vec!["cc".to_owned()]);
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(out_dir).expect("creating CARGO_TARGET_TMPDIR");
    // The temporary directory is shared by every target: name the binary after this one,
    // and after this process so that concurrent runs do not collide.
    let binary = out_dir.join(format!(
        "aio_probe-{}-{}-{}",
        env::consts::ARCH,
        if cfg!(target_endian = "big") {
            "be"
        } else {
            "le"
        },
        std::process::id()
    ));

    let mut command = Command::new(&cc[0]);
    command.args(&cc[1..]).args(["-O0", "-Wall", "-Werror"]);
    if link_static() {
        command.arg("-static");
    }
    command.arg("-o").arg(&binary).arg(PROBE_SOURCE);

    let output = match command.output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "C compiler {:?} not found: install one (e.g. gcc) or name it in RAWAIO_PROBE_CC; \
             this test needs it and is not skipped",
            cc[0]
        ),
        Err(e) => panic!("cannot run the C compiler {:?}: {e}", cc[0]),
    };
    assert!(
        output.status.success(),
        "compiling the probe failed ({}): {command:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    binary
}

/// Runs the probe (through `RAWAIO_PROBE_RUNNER` if set) and returns its output.
fn run_probe(binary: &Path) -> String {
    let mut command = match command_from_env("RAWAIO_PROBE_RUNNER") {
        Some(runner) => {
            let mut command = Command::new(&runner[0]);
            command.args(&runner[1..]).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run the probe: {command:?}: {e}"));
    assert!(
        output.status.success(),
        "the probe failed ({}): {command:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    String::from_utf8(output.stdout).expect("the probe's output is not UTF-8")
}

/// Parses `NAME VALUE` lines; malformed lines and repeated names are errors.
fn parse(output: &str) -> Figures {
    let mut figures = Figures::new();
    for (i, line) in output.lines().enumerate() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(value), None) = (words.next(), words.next(), words.next()) else {
            panic!("probe output line {}: not `NAME VALUE`: {line:?}", i + 1);
        };
        let value: i128 = value
            .parse()
            .unwrap_or_else(|e| panic!("probe output line {}: {line:?}: {e}", i + 1));
        if figures.insert(name.to_owned(), value).is_some() {
            panic!("probe output line {}: {name} printed twice", i + 1);
        }
    }
    figures
}

/// Every figure the Rust side can state for the target being built, by the probe's names.
fn rust_figures() -> Figures {
    let mut rust = Figures::new();
    let mut put = |name: String, value: i128| {
        assert!(
            rust.insert(name.clone(), value).is_none(),
            "{name} twice on the Rust side"
        );
    };
    let n = |v: usize| v as i128;

    put(
        "arch.big_endian".into(),
        i128::from(cfg!(target_endian = "big")),
    );
    put("arch.pointer_bytes".into(), n(size_of::<*const u8>()));
    put(
        "aio_context_t.size".into(),
        n(size_of::<rawaio_abi::aio_context_t>()),
    );
    put(
        "aio_context_t.align".into(),
        n(align_of::<rawaio_abi::aio_context_t>()),
    );
    put(
        "__kernel_rwf_t.size".into(),
        n(size_of::<rawaio_abi::__kernel_rwf_t>()),
    );
    put(
        "__kernel_rwf_t.align".into(),
        n(align_of::<rawaio_abi::__kernel_rwf_t>()),
    );

    for layout in STRUCTS {
        put(format!("{}.size", layout.name), n(layout.size));
        put(format!("{}.align", layout.name), n(layout.align));
        for field in layout.fields {
            put(
                format!("{}.{}.offset", layout.name, field.name),
                n(field.offset),
            );
            put(
                format!("{}.{}.size", layout.name, field.name),
                n(field.size),
            );
        }
    }

    macro_rules! constants {
        ($($name:ident),+ $(,)?) => {
            $(put(stringify!($name).into(), i128::from(rawaio_abi::$name));)+
        };
    }
    constants!(
        IOCB_CMD_PREAD,
        IOCB_CMD_PWRITE,
        IOCB_CMD_FSYNC,
        IOCB_CMD_FDSYNC,
        IOCB_CMD_PREADX,
        IOCB_CMD_POLL,
        IOCB_CMD_NOOP,
        IOCB_CMD_PREADV,
        IOCB_CMD_PWRITEV,
        IOCB_FLAG_RESFD,
        IOCB_FLAG_IOPRIO,
        RWF_HIPRI,
        RWF_DSYNC,
        RWF_SYNC,
        RWF_NOWAIT,
        RWF_APPEND,
        RWF_NOAPPEND,
        RWF_ATOMIC,
        RWF_DONTCACHE,
        RWF_NOSIGNAL,
        IOPRIO_CLASS_SHIFT,
        IOPRIO_NR_CLASSES,
        IOPRIO_CLASS_MASK,
        IOPRIO_PRIO_MASK,
        IOPRIO_CLASS_NONE,
        IOPRIO_CLASS_RT,
        IOPRIO_CLASS_BE,
        IOPRIO_CLASS_IDLE,
        IOPRIO_LEVEL_NR_BITS,
        IOPRIO_NR_LEVELS,
        IOPRIO_LEVEL_MASK,
    );

    let table = nr::native::TABLE;
    put("__NR_io_setup".into(), table.io_setup.into());
    put("__NR_io_destroy".into(), table.io_destroy.into());
    put("__NR_io_getevents".into(), table.io_getevents.into());
    put("__NR_io_submit".into(), table.io_submit.into());
    put("__NR_io_cancel".into(), table.io_cancel.into());
    put("__NR_io_pgetevents".into(), table.io_pgetevents.into());
    if let Some(time64) = table.io_pgetevents_time64 {
        put("__NR_io_pgetevents_time64".into(), time64.into());
    }
    rust
}

/// Figures the probe prints whatever the headers' version: each must be there.
fn core_figures() -> Vec<String> {
    let mut core: Vec<String> = [
        "arch.big_endian",
        "arch.pointer_bytes",
        "aio_context_t.size",
        "aio_context_t.align",
        "IOCB_CMD_PREAD",
        "IOCB_CMD_PWRITE",
        "IOCB_CMD_FSYNC",
        "IOCB_CMD_FDSYNC",
        "IOCB_CMD_POLL",
        "IOCB_CMD_NOOP",
        "IOCB_CMD_PREADV",
        "IOCB_CMD_PWRITEV",
        "__NR_io_setup",
        "__NR_io_destroy",
        "__NR_io_getevents",
        "__NR_io_submit",
        "__NR_io_cancel",
        "__NR_io_pgetevents",
    ]
    .map(str::to_owned)
    .into();
    // Every field of the uapi structs that every supported header has, and of the
    // kernel declarations the probe restates.
    for name in [
        "iocb",
        "io_event",
        "__aio_sigset",
        "kernel_sigset_t",
        "old_timespec32",
        "aio_ring",
    ] {
        let layout = STRUCTS
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no layout for {name} in rawaio_abi::layout::STRUCTS"));
        core.push(format!("{name}.size"));
        core.push(format!("{name}.align"));
        for field in layout.fields {
            core.push(format!("{name}.{}.offset", field.name));
            core.push(format!("{name}.{}.size", field.name));
        }
    }
    core
}

#[test]
fn c_probe_agrees_with_the_crate() {
    let table = nr::native::TABLE;
    assert!(
        table.arches.contains(&env::consts::ARCH),
        "nr::native is {:?}, not this target's {}",
        table.arches,
        env::consts::ARCH
    );

    let binary = compile_probe();
    let output = run_probe(&binary);
    let c = parse(&output);
    let rust = rust_figures();

    let mut errors = String::new();
    let mut compared = 0;
    for (name, &c_value) in &c {
        match rust.get(name) {
            Some(&rust_value) if rust_value == c_value => compared += 1,
            Some(&rust_value) => {
                writeln!(errors, "{name}: C says {c_value}, Rust says {rust_value}").unwrap();
            }
            None if name == "__NR_io_pgetevents_time64" => writeln!(
                errors,
                "{name}: the C headers define it ({c_value}), nr::native::TABLE has None"
            )
            .unwrap(),
            None => writeln!(errors, "{name}: printed by the probe, unknown to this test").unwrap(),
        }
    }
    for name in core_figures() {
        if !c.contains_key(&name) {
            writeln!(
                errors,
                "{name}: core figure missing from the probe's output"
            )
            .unwrap();
        }
    }
    if let Some(time64) = table.io_pgetevents_time64 {
        if !c.contains_key("__NR_io_pgetevents_time64") {
            writeln!(
                errors,
                "__NR_io_pgetevents_time64: nr::native::TABLE has {time64}, the C headers lack it"
            )
            .unwrap();
        }
    }
    // A struct the probe reports must be reported whole, so that no field of it goes
    // unchecked.
    for layout in STRUCTS {
        if !c.contains_key(&format!("{}.size", layout.name)) {
            continue;
        }
        for field in layout.fields {
            for what in ["offset", "size"] {
                let name = format!("{}.{}.{what}", layout.name, field.name);
                if !c.contains_key(&name) {
                    writeln!(
                        errors,
                        "{name}: missing, though the probe reports {}",
                        layout.name
                    )
                    .unwrap();
                }
            }
        }
    }

    let unchecked: Vec<&String> = rust.keys().filter(|name| !c.contains_key(*name)).collect();
    println!(
        "c_probe: {compared} figures compared with C for {} ({}-endian, {}-bit); \
         {} Rust figures not in the probe's output: {unchecked:?}",
        env::consts::ARCH,
        if cfg!(target_endian = "big") {
            "big"
        } else {
            "little"
        },
        usize::BITS,
        unchecked.len(),
    );
    assert!(
        errors.is_empty(),
        "the C probe disagrees with rawaio-abi:\n{errors}--- probe output\n{output}"
    );
    assert_eq!(compared, c.len());

    // Keep the binary of a failed run for inspection; remove it otherwise.
    let _ = std::fs::remove_file(&binary);
}
