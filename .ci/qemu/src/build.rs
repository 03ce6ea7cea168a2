//! Builds the suite for one architecture as static binaries and packs the initramfs.

use crate::arch::{Arch, Run};
use crate::cpio;
use crate::kernel::Kernel;
use crate::protocol::{Entry, MANIFEST};
use crate::vm::Image;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the repository and its build products are.
pub struct Repo {
    /// The workspace root (rawaio's `CARGO_MANIFEST_DIR`).
    pub root: PathBuf,
    /// Cargo's target directory; the tests' `CARGO_TARGET_TMPDIR` is its `tmp/`.
    pub target_dir: PathBuf,
}

impl Repo {
    pub fn discover() -> Result<Self, String> {
        let out = Command::new("cargo")
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cargo metadata: {e}"))?;
        if !out.status.success() {
            return Err("cargo metadata failed (run from the repository)".into());
        }
        let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        let s = |k: &str| {
            v[k].as_str()
                .map(PathBuf::from)
                .ok_or(format!("cargo metadata has no {k}"))
        };
        Ok(Repo {
            root: s("workspace_root")?,
            target_dir: s("target_directory")?,
        })
    }
}

/// Arguments for the examples: small runs that still check their data. An example not
/// listed here runs without arguments. `disk` is the VM's ext4 directory.
fn example_args(name: &str, disk: &str) -> Vec<String> {
    let fixed: &[&str] = match name {
        "aio-bench" => &[
            "--size",
            "8m",
            "--rw",
            "verify",
            "--engine",
            "rawaio,psync",
            "--reap",
            "all",
            "--ios",
            "1024",
        ],
        "sum" => &["1024"],
        // Its files need O_DIRECT, which the VM's /tmp (tmpfs) refuses before Linux 6.6.
        "wal" => &[disk],
        _ => &[],
    };
    fixed.iter().map(|s| s.to_string()).collect()
}

/// Which test binaries and examples a run packs.
#[derive(Clone, Debug)]
pub struct Subset {
    /// Test binaries by name (`sys_*` matches a prefix); `None`: all of them.
    pub tests: Option<Vec<String>>,
    /// Whether the examples run.
    pub examples: bool,
}

impl Subset {
    /// Everything.
    pub const ALL: Subset = Subset {
        tests: None,
        examples: true,
    };

    /// Whether the test binary `name` is packed (the library's unit tests are
    /// `rawaio`).
    pub fn takes(&self, name: &str) -> bool {
        self.tests.as_ref().is_none_or(|pats| {
            pats.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == p,
            })
        })
    }
}

/// A built executable: its target's name and kind, and its path.
struct Artifact {
    name: String,
    kind: String,
    path: PathBuf,
}

/// Runs a cargo build with `--message-format=json-render-diagnostics` for `arch` and
/// returns the executables it reports.
fn cargo_executables(arch: &Arch, args: &[&str], cwd: &Path) -> Result<Vec<Artifact>, String> {
    let env = arch.cargo_env_prefix();
    // The seccomp tests build filters with libseccomp where seccompiler has no backend
    // (tests/sandbox): Debian's static library for the architecture.
    let mut rustflags =
        "-C target-feature=+crt-static -C debuginfo=0 -C strip=debuginfo".to_string();
    let mut seccomp_lib = None;
    if !matches!(arch.name, "x86_64" | "aarch64" | "riscv64") {
        let out = Command::new("bash")
            .arg(cwd.join(".ci/libseccomp.sh"))
            .arg(arch.deb_arch)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!(".ci/libseccomp.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(".ci/libseccomp.sh {} failed", arch.deb_arch));
        }
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        rustflags.push_str(" --cfg rawaio_libseccomp");
        seccomp_lib = Some(dir);
    }
    let mut cmd = Command::new("cargo");
    cmd.args(args)
        .args([
            "--target",
            arch.target,
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(cwd)
        // Static glibc binaries, linked by Debian's cross gcc. Per-target variables, so
        // that they add to (not replace) the repository's per-target rustflags.
        .env(format!("{env}LINKER"), arch.linker)
        // No debug info (symbols stay, for backtraces): the whole suite lives in the
        // VM's memory, and with debug info it outgrows 1 GiB.
        .env(format!("{env}RUSTFLAGS"), &rustflags)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(dir) = &seccomp_lib {
        cmd.env("LIBSECCOMP_LIB_PATH", dir)
            .env("LIBSECCOMP_LINK_TYPE", "static");
    }
    let mut child = cmd.spawn().map_err(|e| format!("cargo: {e}"))?;
    let mut found = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = v["executable"].as_str() else {
            continue;
        };
        found.push(Artifact {
            name: v["target"]["name"].as_str().unwrap_or("?").to_string(),
            kind: v["target"]["kind"][0].as_str().unwrap_or("?").to_string(),
            path: PathBuf::from(exe),
        });
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!(
            "cargo {} --target {} failed",
            args.join(" "),
            arch.target
        ));
    }
    Ok(found)
}

/// The size of the ext4 file system the VM mounts on the tests' `CARGO_TARGET_TMPDIR`.
const EXT4_SIZE: &str = "64M";

/// Builds everything for the run's architecture (cargo rebuilds nothing for a second
/// release of one) and writes `target/qemu/<arch>-<release>/initramfs.gz` with the
/// release's kernel modules.
pub fn image(repo: &Repo, run: Run, kernel: &Kernel, subset: &Subset) -> Result<Image, String> {
    let arch = run.arch;
    let root = repo.root.as_path();
    let tests = cargo_executables(arch, &["test", "-p", "rawaio", "--tests", "--no-run"], root)?;
    let mut examples = cargo_executables(arch, &["build", "-p", "rawaio", "--examples"], root)?;
    // aio-bench, the main job, is a binary of the tools crate: it runs with the examples.
    examples.extend(
        cargo_executables(arch, &["build", "-p", "rawaio-tools", "--bin", "aio-bench"], root)?
            .into_iter()
            .filter(|a| a.kind == "bin" && a.name == "aio-bench")
            .map(|a| Artifact {
                kind: "example".into(),
                ..a
            }),
    );
    let runner_dir = root.join(".ci/qemu");
    let qemu_target = repo.target_dir.join("qemu");
    let init = cargo_executables(
        arch,
        &[
            "build",
            "--release",
            "--manifest-path",
            &runner_dir.join("Cargo.toml").to_string_lossy(),
            "--target-dir",
            &qemu_target.to_string_lossy(),
            "--bin",
            "rawaio-qemu-init",
            "--no-default-features",
        ],
        root,
    )?;
    let init = init
        .into_iter()
        .find(|a| a.name == "rawaio-qemu-init")
        .ok_or("no init binary was built")?;

    let out_dir = qemu_target.join(format!("{}-{}", arch.name, run.release));
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;

    let mut entries = Vec::new();
    let mut files: Vec<(String, PathBuf)> = vec![("/init".into(), init.path)];
    for m in &kernel.modules {
        let path = format!("/m/{}", m.file_name().unwrap_or_default().to_string_lossy());
        entries.push(Entry::Module(path.clone()));
        files.push((path, m.clone()));
    }
    // The tests' "disk" directory (CARGO_TARGET_TMPDIR, ext4 on the host) is ext4 here
    // too: a fresh file system on a loop device.
    let ext4 = out_dir.join("ext4.img");
    let _ = std::fs::remove_file(&ext4);
    let status = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "rawaio"])
        .arg(&ext4)
        .arg(EXT4_SIZE)
        .status()
        .map_err(|e| format!("mkfs.ext4: {e}"))?;
    if !status.success() {
        return Err("mkfs.ext4 failed".into());
    }
    // CARGO_TARGET_TMPDIR of a cross build.
    let disk: String = repo
        .target_dir
        .join(arch.target)
        .join("tmp")
        .to_string_lossy()
        .into();
    entries.push(Entry::Ext4 {
        image: "/ext4.img".into(),
        dir: disk.clone(),
    });
    files.push(("/ext4.img".into(), ext4));
    let mut n_tests = 0;
    for t in tests {
        if !subset.takes(&t.name) {
            continue;
        }
        // The library's unit tests are named after the crate.
        let name = if t.kind == "lib" {
            format!("{}-lib", t.name)
        } else {
            t.name
        };
        let path = format!("/t/{name}");
        entries.push(Entry::Test {
            name,
            path: path.clone(),
        });
        files.push((path, t.path));
        n_tests += 1;
    }
    let mut n_examples = 0;
    for x in examples
        .into_iter()
        .filter(|a| a.kind == "example" && subset.examples)
    {
        let path = format!("/x/{}", x.name);
        entries.push(Entry::Example {
            args: example_args(&x.name, &disk),
            name: x.name,
            path: path.clone(),
        });
        files.push((path, x.path));
        n_examples += 1;
    }
    if n_tests == 0 {
        return Err("cargo reported no test binary".into());
    }
    let path = out_dir.join("initramfs.gz");
    let manifest: String = entries.iter().map(|e| e.to_line() + "\n").collect();
    let bytes = pack(&path, &manifest, &files)?;
    Ok(Image {
        path,
        manifest: entries,
        tests: n_tests,
        examples: n_examples,
        bytes,
    })
}

/// Writes the gzip'd cpio: the directories, /dev/console, the manifest and the files.
fn pack(path: &Path, manifest: &str, files: &[(String, PathBuf)]) -> Result<u64, String> {
    let mut dirs = BTreeSet::new();
    for d in ["/dev", "/proc", "/sys", "/tmp", "/t", "/x", "/m"] {
        dirs.insert(d.to_string());
    }
    for (dest, _) in files {
        let mut p = Path::new(dest).parent();
        while let Some(d) = p.filter(|d| *d != Path::new("/")) {
            dirs.insert(d.to_string_lossy().into_owned());
            p = d.parent();
        }
    }
    let out = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut gzip = Command::new("gzip")
        .args(["-1", "-c"])
        .stdin(Stdio::piped())
        .stdout(out)
        .spawn()
        .map_err(|e| format!("gzip: {e}"))?;
    let result = (|| -> std::io::Result<()> {
        let mut w = cpio::Writer::new(BufWriter::new(gzip.stdin.take().expect("piped")));
        // BTreeSet order puts every parent before its children.
        for d in &dirs {
            w.dir(d)?;
        }
        // The console the kernel opens for init's stdin, stdout and stderr.
        w.char_dev("/dev/console", 0o600, 5, 1)?;
        w.file(MANIFEST, 0o644, manifest.as_bytes())?;
        for (dest, src) in files {
            let data = std::fs::read(src)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", src.display())))?;
            let mode = if dest.starts_with("/t/") || dest.starts_with("/x/") || dest == "/init" {
                0o755
            } else {
                0o644
            };
            w.file(dest, mode, &data)?;
        }
        let mut inner = w.finish()?;
        std::io::Write::flush(&mut inner)?;
        Ok(())
    })();
    let status = gzip.wait().map_err(|e| e.to_string())?;
    result.map_err(|e| format!("packing {}: {e}", path.display()))?;
    if !status.success() {
        return Err("gzip failed".into());
    }
    Ok(std::fs::metadata(path).map_err(|e| e.to_string())?.len())
}
