//! aio-qualify end to end: argument errors, the JSON it prints, runs on the disk's file
//! system and on tmpfs that leave nothing behind, and a block device that is only read
//! unless --write is given (and whose data --write leaves as it was).

use serde_json::Value;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn aio_qualify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aio-qualify"))
        .args(args)
        .output()
        .expect("aio-qualify runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh empty directory on the disk (CARGO_TARGET_TMPDIR), removed by the caller.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("qualify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `--json` with few samples; returns the report, asserting exit status 0.
fn qualify_json(path: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        path.to_str().unwrap(),
        "--json",
        "--samples",
        "4",
        "--size",
        "1m",
    ];
    args.extend(extra);
    let out = aio_qualify(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}\nstdout: {}",
        text(&out.stderr),
        text(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

fn case<'a>(report: &'a Value, name: &str, nowait: bool) -> &'a Value {
    report["blocking"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == name && c["nowait"] == nowait)
        .unwrap_or_else(|| panic!("no case {name} nowait={nowait}"))
}

#[test]
fn argument_errors_exit_2_with_a_message() {
    let dir = fresh_dir("args");
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&[], "PATH"),
        (&["/nonexistent/aio-qualify"], "No such file"),
        (&[file.to_str().unwrap()], "is a file"),
        (&["/dev/null"], "neither a directory nor a block device"),
        (&[dir.to_str().unwrap(), "--bs", "100"], "multiple of 512"),
        (&[dir.to_str().unwrap(), "--samples", "0"], "--samples"),
    ];
    for (args, message) in cases {
        let out = aio_qualify(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = aio_qualify(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--write"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_on_the_disk_has_every_finding_and_leaves_nothing() {
    let dir = fresh_dir("disk");
    let r = qualify_json(&dir, &["--depth", "64", "--contexts", "3"]);
    assert_eq!(r["tool"], "aio-qualify");
    assert_eq!(r["usable"], true);
    assert!(
        r["problems"].as_array().unwrap().is_empty(),
        "{}",
        r["problems"]
    );
    let date = r["date"].as_str().unwrap();
    assert!(date.len() == 10 && date.as_bytes()[4] == b'-', "{date}");
    assert!(!r["kernel"].as_str().unwrap().is_empty());
    assert_eq!(r["target"]["kind"], "directory");
    assert_eq!(r["target"]["size"], 1 << 20);
    assert_eq!(r["target"]["writes"], true);
    // Every kind of request, with and without RWF_NOWAIT (fdsync without).
    let cases = r["blocking"].as_array().unwrap();
    assert_eq!(cases.len(), 11);
    for name in [
        "direct_read",
        "direct_overwrite",
        "direct_append",
        "buffered_read_uncached",
        "buffered_read_cached",
    ] {
        for nowait in [false, true] {
            let c = case(&r, name, nowait);
            assert_eq!(c["samples"], 4, "{c}");
            assert!(
                [
                    "asynchronous",
                    "synchronous",
                    "eagain",
                    "unsupported",
                    "refused"
                ]
                .contains(&c["verdict"].as_str().unwrap()),
                "{c}"
            );
        }
    }
    let read = case(&r, "direct_read", false);
    if r["target"]["direct_io"] == true {
        assert_eq!(read["done"], 4, "{read}");
        assert!(read["total_us"].as_f64().unwrap() >= read["submit_us"].as_f64().unwrap());
        let a = &r["alignment"];
        let offset = a["offset"].as_u64().expect("an offset alignment works");
        assert!(offset.is_power_of_two() && offset >= 512, "{a}");
        assert!(a["memory"].as_u64().unwrap().is_power_of_two(), "{a}");
    }
    assert_eq!(case(&r, "fdsync", false)["done"], 4);
    for dir in ["reads", "writes"] {
        let v = r["nowait"][dir]["verdict"].as_str().unwrap();
        assert!(
            [
                "honoured",
                "partly honoured",
                "ignored",
                "not needed",
                "unsupported",
                "untested"
            ]
            .contains(&v),
            "{v}"
        );
    }
    let features = r["features"].as_array().unwrap();
    assert!(!features.is_empty());
    let last = features.last().unwrap();
    assert_eq!(last["mode"], "buffered");
    assert_eq!(
        last["opcodes"][0],
        serde_json::json!(["PREAD", "supported"])
    );
    assert!(
        last["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["flag"] == "NOWAIT")
    );
    let b = &r["budget"];
    assert_eq!(
        (b["depth"].as_u64(), b["contexts"].as_u64()),
        (Some(64), Some(3))
    );
    assert!(b["aio_max_nr"].as_u64().unwrap() > 0);
    assert!(b["ring_events"].as_u64().unwrap() >= 64);
    // The cost is what the kernel charges: 64, or (before Linux 4.13) its doubled count;
    // None only when aio-nr never held still (the error says so).
    match b["cost"].as_u64() {
        Some(cost) => {
            assert!(cost == 64 || cost >= 128, "{b}");
            assert_eq!(b["needed"].as_u64(), Some(3 * cost));
        }
        None => assert!(
            b["error"].as_str().unwrap().contains("kept changing"),
            "{b}"
        ),
    }
    // The scratch file was unlinked: the directory is as it was, empty.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn text_on_tmpfs() {
    let dir = Path::new("/dev/shm");
    let st = rustix::fs::statfs(dir);
    if !st.is_ok_and(|s| s.f_type as u32 == 0x0102_1994) {
        eprintln!("skipped: /dev/shm is not a tmpfs here");
        return;
    }
    let sub = dir.join(format!("aio-qualify-test-{}", std::process::id()));
    std::fs::create_dir_all(&sub).unwrap();
    let out = aio_qualify(&[sub.to_str().unwrap(), "--samples", "4", "--size", "1m"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("(tmpfs, directory)"), "{stdout}");
    assert!(stdout.contains("native AIO usable here: yes"), "{stdout}");
    for heading in [
        "Does io_submit block?",
        "RWF_NOWAIT",
        "Opcodes and RWF_* flags",
        "Context budget",
        "fs.aio-max-nr = ",
    ] {
        assert!(stdout.contains(heading), "{heading}: {stdout}");
    }
    assert_eq!(
        std::fs::read_dir(&sub).unwrap().count(),
        0,
        "nothing left behind"
    );
    std::fs::remove_dir(&sub).unwrap();
}

/// A loop device over a file, detached when dropped.
struct Loop {
    dev: String,
}

impl Loop {
    /// `None` (the test then skips, saying why) without root or losetup.
    fn attach(file: &Path, read_only: bool) -> Option<Self> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: attaching a loop device needs root");
            return None;
        }
        let mut cmd = Command::new("losetup");
        cmd.args(["--find", "--show"]);
        if read_only {
            cmd.arg("--read-only");
        }
        match cmd.arg(file).output() {
            Ok(out) if out.status.success() => Some(Self {
                dev: text(&out.stdout).trim().to_owned(),
            }),
            Ok(out) => panic!("losetup failed: {}", text(&out.stderr)),
            Err(e) => {
                eprintln!("skipped: losetup cannot run: {e}");
                None
            }
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup")
            .args(["--detach", &self.dev])
            .status();
    }
}

#[test]
fn a_block_device_is_read_only_unless_write() {
    let dir = fresh_dir("blockdev");
    let image = dir.join("image");
    let data: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&image, &data).unwrap();

    // A read-only device: every read is timed, every write skipped, and it passes.
    let Some(ro) = Loop::attach(&image, true) else {
        return;
    };
    let dev = Path::new(&ro.dev);
    let r = qualify_json(dev, &[]);
    assert_eq!(r["target"]["kind"], "block device");
    assert_eq!(r["target"]["writes"], false);
    assert_eq!(r["target"]["size"], 4 << 20);
    assert_eq!(case(&r, "direct_read", false)["done"], 4);
    assert_eq!(case(&r, "buffered_read_uncached", false)["done"], 4);
    for name in ["direct_overwrite", "direct_append", "fdsync"] {
        let c = case(&r, name, false);
        assert_eq!(c["verdict"], "skipped", "{c}");
        assert_eq!(c["samples"], 0, "{c}");
    }
    assert_eq!(r["nowait"]["writes"]["verdict"], "untested");
    // --write on a device that cannot be written: the kernel lets it open read-write
    // (Linux 6.x) and refuses each write; reads still work, so AIO is usable.
    let r = qualify_json(dev, &["--write"]);
    let overwrite = case(&r, "direct_overwrite", false);
    assert_eq!(overwrite["done"], 0, "{overwrite}");
    assert!(
        ["EPERM", "EROFS", "EACCES"].contains(&overwrite["first_error"].as_str().unwrap()),
        "{overwrite}"
    );
    drop(ro);

    // A writable device with --write: overwrites and fdsync are timed, appends cannot
    // be, and the data is as it was (each write puts back what it read).
    let rw = Loop::attach(&image, false).unwrap();
    let r = qualify_json(Path::new(&rw.dev), &["--write"]);
    assert_eq!(r["target"]["writes"], true);
    assert_eq!(case(&r, "direct_overwrite", false)["done"], 4);
    assert_eq!(case(&r, "fdsync", false)["done"], 4);
    assert_eq!(case(&r, "direct_append", false)["verdict"], "skipped");
    // While the device is claimed (as a mount claims it), --write is refused.
    let claim = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(&rw.dev)
        .unwrap();
    let out = aio_qualify(&[&rw.dev, "--write", "--samples", "4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is in use"),
        "{}",
        text(&out.stderr)
    );
    drop(claim);
    drop(rw);
    assert!(
        std::fs::read(&image).unwrap() == data,
        "the device's data changed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
