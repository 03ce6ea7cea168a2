//! Boots one image under qemu-system, follows the console and judges the run.

use crate::arch::{Arch, Run};
use crate::kernel::Kernel;
use crate::protocol::{EXAMPLES, Entry, Line, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A packed initramfs and what it holds.
pub struct Image {
    pub path: PathBuf,
    pub manifest: Vec<Entry>,
    pub tests: usize,
    pub examples: usize,
    pub bytes: u64,
}

/// What one run (an architecture and a Debian release's kernel) showed.
pub struct Report {
    pub arch: &'static Arch,
    /// The Debian release whose kernel ran.
    pub release: &'static str,
    /// What the probe test recorded (`probe: ...` notes), if it ran.
    pub probe: Option<String>,
    /// `uname -r`, machine and version as the VM reported them.
    pub kernel: Option<(String, String, String)>,
    pub package: Option<(String, String)>,
    /// Per binary (and "examples"): test name -> outcome.
    pub results: BTreeMap<String, BTreeMap<String, Status>>,
    /// Tests that printed a note (a skip reason, say).
    pub notes: BTreeSet<(String, String)>,
    /// What went wrong beyond failed tests: missing results, a timeout, a crash.
    pub problems: Vec<String>,
    pub seconds: f64,
}

impl Report {
    pub fn broken(run: Run, problem: String) -> Self {
        Report {
            arch: run.arch,
            release: run.release,
            probe: None,
            kernel: None,
            package: None,
            results: BTreeMap::new(),
            notes: BTreeSet::new(),
            problems: vec![problem],
            seconds: 0.0,
        }
    }

    /// `aarch64/bullseye`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.arch.name, self.release)
    }

    /// Tests (not examples) with `pred`'s outcome.
    pub fn tests(&self, pred: impl Fn(Status) -> bool) -> usize {
        self.count(false, pred)
    }

    /// Examples with `pred`'s outcome.
    pub fn examples(&self, pred: impl Fn(Status) -> bool) -> usize {
        self.count(true, pred)
    }

    /// Tests that printed a note (a skip reason, say).
    pub fn noted(&self) -> usize {
        self.notes.iter().filter(|(b, _)| b != EXAMPLES).count()
    }

    fn count(&self, examples: bool, pred: impl Fn(Status) -> bool) -> usize {
        self.results
            .iter()
            .filter(|(bin, _)| (*bin == EXAMPLES) == examples)
            .flat_map(|(_, tests)| tests.values())
            .filter(|s| pred(**s))
            .count()
    }

    /// Tests and examples that passed.
    pub fn passed(&self) -> usize {
        self.count(false, |s| s == Status::Ok) + self.count(true, |s| s == Status::Ok)
    }

    /// Tests and examples that failed or timed out, plus one for a broken run.
    pub fn failed(&self) -> usize {
        let bad = |s| matches!(s, Status::Fail | Status::Timeout);
        self.count(false, bad) + self.count(true, bad) + usize::from(!self.problems.is_empty())
    }

    pub fn ok(&self) -> bool {
        self.failed() == 0 && self.passed() > 0
    }

    pub fn kernel_release(&self) -> Option<&str> {
        self.kernel.as_ref().map(|k| k.0.as_str())
    }

    pub fn summary(&self) -> String {
        let ran = self.count(false, |_| true);
        let mut s = format!(
            "{:16} {}: {} {ran} tests ran, {} passed, {} failed, {} ignored ({} printed a skip note); \
             examples {} ran, {} passed; {:.0} s",
            self.name(),
            if self.ok() { "PASS" } else { "FAIL" },
            self.kernel_release().unwrap_or("(no kernel line)"),
            self.count(false, |s| s == Status::Ok),
            self.count(false, |s| matches!(s, Status::Fail | Status::Timeout)),
            self.count(false, |s| s == Status::Ignored),
            self.notes.iter().filter(|(b, _)| b != EXAMPLES).count(),
            self.count(true, |_| true),
            self.count(true, |s| s == Status::Ok),
            self.seconds,
        );
        for p in &self.problems {
            s.push_str(&format!("\n         problem: {p}"));
        }
        for (bin, tests) in &self.results {
            for (test, st) in tests {
                if matches!(st, Status::Fail | Status::Timeout) {
                    s.push_str(&format!("\n         {}: {bin} {test}", st.as_str()));
                }
            }
        }
        s
    }

    pub fn print(&self) {
        println!("[{}] {}", self.name(), self.summary());
    }
}

/// Boots `image` with `kernel`, waits for the VM to power off (or `timeout`), and
/// checks that every planned test and example reported, and passed.
pub fn boot_and_judge(run: Run, kernel: &Kernel, image: &Image, timeout: Duration) -> Report {
    let arch = run.arch;
    let tag = run.name();
    let mut report = Report::broken(run, String::new());
    report.problems.clear();
    report.package = Some((kernel.package.clone(), kernel.version.clone()));
    let start = Instant::now();
    let log_path = image.path.with_file_name("console.log");
    let mut log = File::create(&log_path).ok();
    let append = format!("console={} rdinit=/init panic=-1 quiet", arch.console);
    let mut cmd = Command::new(arch.qemu);
    cmd.args(arch.machine)
        .args(["-m", "1024", "-smp", "1"])
        .arg("-kernel")
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(&image.path)
        .args(["-append", &append])
        .args(["-nographic", "-no-reboot", "-nic", "none"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    println!(
        "[{tag}] booting {} {} ({:?})",
        kernel.package, kernel.version, cmd
    );
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Report::broken(run, format!("{}: {e}", arch.qemu)),
    };
    let (tx, rx) = mpsc::channel::<String>();
    for pipe in [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut buf = Vec::new();
            while r
                .read_until(b'\n', &mut buf)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                buf.clear();
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    let deadline = start + timeout;
    let mut plans: BTreeMap<String, usize> = BTreeMap::new();
    let mut done = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                report.problems.push(format!(
                    "timed out after {} s: qemu killed",
                    timeout.as_secs()
                ));
                break;
            }
        };
        if let Some(f) = log.as_mut() {
            let _ = writeln!(f, "{line}");
        }
        match Line::find(&line) {
            // Kernel messages, and the output of a failed test: shown, never judged.
            // (Terminal control sequences, such as SeaBIOS's screen clearing, are dropped.)
            None => println!("[{tag}] {}", printable(&line)),
            Some(Err(e)) => report.problems.push(e),
            Some(Ok(l)) => match l {
                Line::Kernel {
                    release,
                    machine,
                    version,
                } => {
                    println!("[{tag}] kernel {release} {machine} {version}");
                    report.kernel = Some((release, machine, version));
                }
                Line::Plan { binary, count } => {
                    if plans.insert(binary.clone(), count).is_some() {
                        report.problems.push(format!("{binary} planned twice"));
                    }
                }
                Line::Result {
                    binary,
                    test,
                    status,
                    millis,
                } => {
                    if status != Status::Ok {
                        println!("[{tag}] {} {binary} {test} ({millis} ms)", status.as_str());
                    }
                    let tests = report.results.entry(binary.clone()).or_default();
                    if tests.insert(test.clone(), status).is_some() {
                        report
                            .problems
                            .push(format!("{binary} {test} reported twice"));
                    }
                }
                Line::Note { binary, test, text } => {
                    println!("[{tag}] note {binary} {test}: {text}");
                    if let Some(probe) = text.strip_prefix("note: probe: ") {
                        report.probe = Some(probe.trim().to_string());
                    } else {
                        report.notes.insert((binary, test));
                    }
                }
                Line::Done => done = true,
            },
        }
    }
    let _ = child.wait();
    report.seconds = start.elapsed().as_secs_f64();

    // Every binary of the manifest planned, and reported as many results as planned.
    let mut expected: Vec<(String, Option<usize>)> = image
        .manifest
        .iter()
        .filter_map(|e| match e {
            Entry::Test { name, .. } => Some((name.clone(), None)),
            _ => None,
        })
        .collect();
    expected.push((EXAMPLES.to_string(), Some(image.examples)));
    for (binary, must) in expected {
        match plans.get(&binary) {
            None => report
                .problems
                .push(format!("{binary}: no plan (never ran)")),
            Some(&n) => {
                if let Some(m) = must.filter(|m| *m != n) {
                    report
                        .problems
                        .push(format!("{binary}: planned {n}, packed {m}"));
                }
                if n == 0 && binary != EXAMPLES {
                    // Its tests are all behind features this build leaves off (the async
                    // adapters'): it listed fine, with nothing in it.
                    println!("note: {binary} lists no test (feature-gated)");
                }
                let got = report.results.get(&binary).map_or(0, BTreeMap::len);
                if got != n {
                    report
                        .problems
                        .push(format!("{binary}: {got} results of {n} planned"));
                }
            }
        }
    }
    if report.kernel.is_none() {
        report.problems.push("the init never started".into());
    }
    if !done {
        report.problems.push(format!(
            "the init did not finish (console log: {})",
            log_path.display()
        ));
    }
    report
}

/// `line` without terminal escape sequences (`ESC [ params letter`, or `ESC` and one
/// character) and other control characters but tabs.
fn printable(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for p in chars.by_ref() {
                    if p.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_sequences_are_dropped() {
        let seabios = "\u{1b}c\u{1b}[?7l\u{1b}[2J\u{1b}[0mSeaBIOS (version 1.16)\r";
        assert_eq!(super::printable(seabios), "SeaBIOS (version 1.16)");
        assert_eq!(super::printable("a\tb"), "a\tb");
    }
}
