//! `/init` of the test VM: mounts what the tests need, runs every test of every test
//! binary in the manifest as its own process, then every example, prints one protocol line
//! per outcome (see `protocol.rs`) and powers the machine off, which ends qemu.
//!
//! It runs as PID 1: it must never exit (the kernel would panic) and never hang, so each
//! child has a deadline, and every path ends in `reboot(RB_POWER_OFF)`.

mod protocol;

use protocol::{EXAMPLES, Entry, MANIFEST, MARK, Status};
use rustix::mount::{MountFlags, mount};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The longest one test may take (the VM is emulated: everything is slow).
const TEST_DEADLINE: Duration = Duration::from_secs(180);
/// The longest one example may take.
const EXAMPLE_DEADLINE: Duration = Duration::from_secs(300);
/// Where a child's output goes (tmpfs).
const OUTPUT: &str = "/tmp/rawaio-qemu-output";

fn main() {
    let outcome = std::panic::catch_unwind(run);
    if !matches!(outcome, Ok(Ok(()))) {
        if let Ok(Err(e)) = outcome {
            say(&format!("error {e}"));
        }
        // No `done` line: the runner counts the run as failed.
        println!("rawaio-qemu init failed");
    }
    power_off();
}

fn say(line: &str) {
    // One write per line, so that kernel messages do not land inside it.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{MARK} {line}\n").as_bytes());
    let _ = out.flush();
}

fn power_off() -> ! {
    rustix::fs::sync();
    let _ = rustix::system::reboot(rustix::system::RebootCommand::PowerOff);
    // Only reached if the reboot call failed: spin rather than exit (which would panic
    // the kernel and, with panic=-1, reboot into the same run again; -no-reboot stops it).
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn mount_fs(fstype: &str, target: &str) -> Result<(), String> {
    std::fs::create_dir_all(target).map_err(|e| format!("mkdir {target}: {e}"))?;
    mount(fstype, target, fstype, MountFlags::empty(), None)
        .map_err(|e| format!("mount {fstype} on {target}: {e}"))
}

fn run() -> Result<(), String> {
    mount_fs("proc", "/proc")?;
    mount_fs("sysfs", "/sys")?;
    mount_fs("devtmpfs", "/dev")?;
    mount_fs("tmpfs", "/dev/shm")?;
    // /tmp stays on the root file system, the initramfs's own tmpfs: a repository checked
    // out under /tmp has the tests' ext4 directory (its target/.../tmp) there, which a new
    // mount would hide.

    let root_fs = rustix::fs::statfs("/").map(|s| s.f_type as u64 & 0xffff_ffff);
    println!(
        "rawaio-qemu init: / (and /tmp) is {}",
        match root_fs {
            Ok(0x0102_1994) => "tmpfs".to_string(),
            Ok(0x8584_58f6) => "ramfs".to_string(),
            other => format!("{other:x?}"),
        }
    );
    let uname = rustix::system::uname();
    say(&format!(
        "kernel {} {} {}",
        uname.release().to_string_lossy(),
        uname.machine().to_string_lossy(),
        uname.version().to_string_lossy()
    ));

    let manifest =
        std::fs::read_to_string(MANIFEST).map_err(|e| format!("reading {MANIFEST}: {e}"))?;
    let entries: Vec<Entry> = manifest
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Entry::parse(l).ok_or_else(|| format!("bad manifest line {l:?}")))
        .collect::<Result<_, _>>()?;

    for e in &entries {
        match e {
            Entry::Module(path) => load_module(path)?,
            Entry::Tmpfs(dir) => mount_fs("tmpfs", dir)?,
            Entry::Ext4 { image, dir } => mount_ext4(image, dir)?,
            Entry::Test { .. } | Entry::Example { .. } => {}
        }
    }
    for e in &entries {
        if let Entry::Test { name, path } = e {
            run_test_binary(name, path)?;
        }
    }
    let examples: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Example { name, path, args } => Some((name, path, args)),
            _ => None,
        })
        .collect();
    say(&format!("plan {EXAMPLES} {}", examples.len()));
    for (name, path, args) in examples {
        let mut cmd = Command::new(path);
        cmd.args(args);
        let (status, output) = run_child(cmd, EXAMPLE_DEADLINE)?;
        let status = match status {
            Outcome::Exited(s, ms) if s.success() => (Status::Ok, ms),
            Outcome::Exited(_, ms) => (Status::Fail, ms),
            Outcome::TimedOut(ms) => (Status::Timeout, ms),
        };
        report(EXAMPLES, name, status, &output);
    }
    say("done");
    Ok(())
}

fn load_module(path: &str) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    match rustix::system::finit_module(&file, c"", 0) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(format!("loading {path}: {e}")),
    }
}

/// Attaches `image` to a free loop device and mounts it as ext4 on `dir`.
fn mount_ext4(image: &str, dir: &str) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    const LOOP_SET_FD: libc::c_ulong = 0x4C00;
    const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
    let control = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/loop-control")
        .map_err(|e| format!("/dev/loop-control: {e}"))?;
    // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
    let n = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
    if n < 0 {
        return Err(format!(
            "LOOP_CTL_GET_FREE: {}",
            std::io::Error::last_os_error()
        ));
    }
    let device = format!("/dev/loop{n}");
    let backing = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .map_err(|e| format!("{image}: {e}"))?;
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&device)
        .map_err(|e| format!("{device}: {e}"))?;
    // SAFETY: LOOP_SET_FD takes the backing file's descriptor by value.
    let r = unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_SET_FD as _, backing.as_raw_fd()) };
    if r < 0 {
        return Err(format!("LOOP_SET_FD: {}", std::io::Error::last_os_error()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    mount(device.as_str(), dir, "ext4", MountFlags::empty(), None)
        .map_err(|e| format!("mount ext4 {device} on {dir}: {e}"))?;
    println!("rawaio-qemu init: {image} is ext4 on {device}, mounted on {dir}");
    Ok(())
}

/// Lists the tests of one libtest binary and runs each on its own.
fn run_test_binary(name: &str, path: &str) -> Result<(), String> {
    let list = Command::new(path)
        .args(["--list", "--format", "terse"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .map_err(|e| format!("{path} --list: {e}"))?;
    reap_orphans();
    if !list.status.success() {
        return Err(format!(
            "{path} --list failed: {}",
            String::from_utf8_lossy(&list.stderr)
        ));
    }
    let tests: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect();
    say(&format!("plan {name} {}", tests.len()));
    for test in &tests {
        let mut cmd = Command::new(path);
        cmd.args(["--exact", test, "--test-threads=1", "--nocapture"])
            // This machine is the tests' alone: the ones that take a system-wide resource
            // from every other user (tests/fault_aio_max_nr.rs) run only where this is set.
            .env("RAWAIO_TEST_SOLE_AIO_USER", "1");
        let (outcome, output) = run_child(cmd, TEST_DEADLINE)?;
        let status = match outcome {
            Outcome::Exited(s, ms) => (judge(s, &output), ms),
            Outcome::TimedOut(ms) => (Status::Timeout, ms),
        };
        report(name, test, status, &output);
    }
    Ok(())
}

/// A test passed when libtest exited 0 and counted exactly one pass.
fn judge(status: ExitStatus, output: &str) -> Status {
    let summary = output
        .lines()
        .rev()
        .find(|l| l.starts_with("test result: "))
        .unwrap_or("");
    let count = |what: &str| {
        summary
            .split([';', '.'])
            .filter_map(|part| part.trim().strip_suffix(what))
            .find_map(|n| n.trim().parse::<u32>().ok())
    };
    if !status.success() {
        Status::Fail
    } else if count(" passed") == Some(1) {
        Status::Ok
    } else if count(" ignored") == Some(1) {
        Status::Ignored
    } else {
        // Exit 0 without a pass: the filter matched nothing, say. Not a pass.
        Status::Fail
    }
}

fn report(binary: &str, test: &str, (status, ms): (Status, u64), output: &str) {
    say(&format!("result {binary} {test} {} {ms}", status.as_str()));
    for line in output.lines() {
        if line.contains("skipped") || line.starts_with("note:") {
            say(&format!("note {binary} {test} {}", line.trim()));
        }
    }
    if status != Status::Ok {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "---- output of {binary} {test}:");
        for line in output.lines() {
            let _ = writeln!(out, "  | {line}");
        }
        let _ = out.flush();
    }
}

enum Outcome {
    Exited(ExitStatus, u64),
    TimedOut(u64),
}

/// Runs a child with its stdout and stderr in one file, kills it at the deadline.
fn run_child(mut cmd: Command, deadline: Duration) -> Result<(Outcome, String), String> {
    let file = File::create(OUTPUT).map_err(|e| format!("{OUTPUT}: {e}"))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .env("RUST_BACKTRACE", "1");
    let start = Instant::now();
    let mut child: Child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let outcome = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break Outcome::Exited(status, start.elapsed().as_millis() as u64),
            None if start.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Outcome::TimedOut(start.elapsed().as_millis() as u64);
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    reap_orphans();
    let output = std::fs::read(OUTPUT).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(Path::new(OUTPUT));
    Ok((outcome, String::from_utf8_lossy(&output).into_owned()))
}

/// As PID 1, collects the exit status of any process a test left behind.
fn reap_orphans() {
    while let Ok(Some(_)) = rustix::process::waitpid(None, rustix::process::WaitOptions::NOHANG) {}
}
