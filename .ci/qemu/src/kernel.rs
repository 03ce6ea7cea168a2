//! Debian's kernels for the foreign architectures, resolved through apt and cached.
//!
//! apt runs with its own package lists and cache under the runner's cache directory and
//! the foreign architectures given as options (`APT::Architectures`), so the host's dpkg
//! architectures, package lists and locks are never touched: other people's apt runs on
//! the same machine see nothing of it. The sources are the host's (Debian 12 here).
//!
//! The lists are refreshed when older than a day (or with `RAWAIO_QEMU_REFRESH=1`).
//! The flavour metapackage (`linux-image-arm64`, ...) names the current kernel package
//! (`linux-image-6.1.0-50-arm64`); its `/boot/vmlinuz-*` is kept in
//! `kernels/<package>_<version>/`, with the few modules of [`WANTED_MODULES`] and their
//! dependencies (read from each module's `.modinfo`) in load order. Without the network, the newest cached kernel of the
//! flavour is used, with a warning.

use crate::arch::{Arch, Run};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

/// A kernel ready to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Debian's package name, e.g. `linux-image-6.1.0-50-arm64`.
    pub package: String,
    /// Its version, e.g. `6.1.176-1`.
    pub version: String,
    /// The kernel image.
    pub vmlinuz: PathBuf,
    /// The modules to load, dependencies first.
    pub modules: Vec<PathBuf>,
}

/// The modules the VM loads: an ext4 file system on a loop device gives the tests a
/// disk file system with `O_DIRECT` (tmpfs has it only from Linux 6.6). ext4 asks the
/// crypto API for crc32c at mount time, which no modprobe in the VM could answer.
const WANTED_MODULES: &[&str] = &["loop", "crc32c_generic", "ext4"];

pub fn cache_dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("RAWAIO_QEMU_CACHE") {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME").ok_or("neither RAWAIO_QEMU_CACHE nor HOME")?;
            Path::new(&home).join(".cache/rawaio-qemu")
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// The apt directory of one Debian release: its own lists, cache and sources.
fn apt_dir(cache: &Path, release: &str) -> PathBuf {
    cache.join("apt").join(release)
}

fn apt_options(cache: &Path, release: &str, deb_arches: &[&str]) -> Vec<String> {
    let dir = apt_dir(cache, release);
    let mut o = vec![
        "-o".into(),
        format!("Dir::State::Lists={}", dir.join("lists").display()),
        "-o".into(),
        format!("Dir::Cache={}", dir.join("cache").display()),
        "-o".into(),
        format!(
            "Dir::Etc::SourceList={}",
            dir.join("sources.list").display()
        ),
        "-o".into(),
        format!("Dir::Etc::SourceParts={}", dir.join("parts").display()),
        "-o".into(),
        "Acquire::Languages=none".into(),
        // The cache is root's: apt's unprivileged download user could not write it.
        "-o".into(),
        "APT::Sandbox::User=root".into(),
    ];
    for a in deb_arches {
        o.push("-o".into());
        o.push(format!("APT::Architectures::={a}"));
    }
    o
}

/// The host's Debian codename (`bookworm`), from /etc/os-release.
fn host_codename() -> Result<String, String> {
    let text =
        std::fs::read_to_string("/etc/os-release").map_err(|e| format!("/etc/os-release: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| "/etc/os-release names no VERSION_CODENAME".into())
}

/// The sources of `release`: the host's own Debian archives (read from apt, never
/// written here), with the host's codename replaced by `release`: its main suite and its
/// security suite.
fn sources_for(release: &str) -> Result<String, String> {
    let host = host_codename()?;
    let out = Command::new("apt-get")
        .args([
            "indextargets",
            "--format",
            "$(REPO_URI) $(RELEASE) $(TARGET_OF)",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("apt-get indextargets: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
    let signed = if keyring.is_file() {
        format!("[signed-by={}] ", keyring.display())
    } else {
        String::new()
    };
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (uri, suite, kind) = (w.next()?, w.next()?, w.next()?);
            if kind != "deb" {
                return None;
            }
            let suite = if suite == host {
                release.to_string()
            } else if suite == format!("{host}-security") {
                format!("{release}-security")
            } else {
                return None;
            };
            Some(format!("deb {signed}{uri} {suite} main\n"))
        })
        .collect();
    lines.sort();
    lines.dedup();
    if lines.is_empty() {
        return Err(format!(
            "apt knows no Debian archive for {host} to derive {release}'s from"
        ));
    }
    Ok(lines.concat())
}

/// Resolves and caches the kernel of every run in `runs`.
pub fn fetch_all(cache: &Path, runs: &[Run]) -> Result<HashMap<Run, Kernel>, String> {
    let mut kernels = HashMap::new();
    let releases: BTreeSet<&str> = runs.iter().map(|r| r.release).collect();
    for release in releases {
        let arches: Vec<&'static Arch> = runs
            .iter()
            .filter(|r| r.release == release)
            .map(|r| r.arch)
            .collect();
        for (arch, k) in fetch_release(cache, release, &arches)? {
            kernels.insert(Run { arch, release }, k);
        }
    }
    Ok(kernels)
}

/// Resolves and caches the kernels of one Debian release for `arches`.
fn fetch_release(
    cache: &Path,
    release: &'static str,
    arches: &[&'static Arch],
) -> Result<Vec<(&'static Arch, Kernel)>, String> {
    let dir = apt_dir(cache, release);
    for d in ["lists/partial", "cache/archives/partial", "parts"] {
        std::fs::create_dir_all(dir.join(d)).map_err(|e| format!("{d}: {e}"))?;
    }
    std::fs::create_dir_all(cache.join("kernels")).map_err(|e| e.to_string())?;
    let mut deb_arches: Vec<&str> = arches.iter().map(|a| a.deb_arch).collect();
    deb_arches.sort();
    deb_arches.dedup();
    let opts = apt_options(cache, release, &deb_arches);
    // Fresh: updated within a day, for these architectures and these sources.
    let sources = sources_for(release);
    let want_stamp = format!(
        "{}\n{}",
        deb_arches.join(" "),
        sources.as_deref().unwrap_or("")
    );
    let stamp = dir.join("updated");
    let fresh = std::fs::read_to_string(&stamp).is_ok_and(|s| s == want_stamp)
        && std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < Duration::from_secs(24 * 3600));
    let refresh = std::env::var_os("RAWAIO_QEMU_REFRESH").is_some_and(|v| v == "1");
    let updated = sources.is_ok() && (!fresh || refresh);
    if updated {
        std::fs::write(dir.join("sources.list"), sources.as_deref().unwrap_or(""))
            .map_err(|e| e.to_string())?;
        println!(
            "apt: updating the package lists of {} ({})",
            dir.display(),
            deb_arches.join(", ")
        );
        let out = Command::new("apt-get")
            .args(&opts)
            .args(["-q", "update"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("apt-get: {e}"))?;
        // A suite whose index fails (a mirror mid-sync, say) makes apt exit 100 while
        // the others are fine: judge by whether the package resolves below.
        if !out.status.success() {
            println!(
                "apt: update reported errors (going on with what it fetched):\n{}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    // Resolved one by one (quick), then fetched and unpacked in parallel (unpacking a
    // package decompresses all of it); apt's downloads themselves take turns.
    let resolved: Vec<_> = arches.iter().map(|&a| (a, resolve(&opts, a))).collect();
    let all_resolved = resolved.iter().all(|(_, r)| r.is_ok());
    let apt_turn = std::sync::Mutex::new(());
    let fetched: Vec<Result<Kernel, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = resolved
            .into_iter()
            .map(|(arch, r)| {
                let (opts, apt_turn) = (&opts, &apt_turn);
                s.spawn(move || match r {
                    Ok((package, version)) => {
                        fetch(
                            cache,
                            opts,
                            apt_turn,
                            arch,
                            release,
                            package.clone(),
                            version,
                        )
                        .or_else(|e| {
                            // A security mirror mid-sync lists packages it cannot serve
                            // yet: take the release's own (main) kernel instead.
                            let mut main_opts = opts.clone();
                            main_opts.push("-o".into());
                            main_opts.push(format!("APT::Default-Release={release}"));
                            let (p, v) = resolve(&main_opts, arch)?;
                            if p == package {
                                return Err(e);
                            }
                            println!(
                                "[{}/{release}] warning: {e}; using {p} {v} from {release} itself",
                                arch.name
                            );
                            fetch(cache, &main_opts, apt_turn, arch, release, p, v)
                        })
                    }
                    Err(e) => {
                        let k = newest_cached(cache, arch, release).ok_or_else(|| {
                            format!(
                                "{}/{release}: cannot resolve the kernel ({e}) and none is cached",
                                arch.name
                            )
                        })?;
                        println!(
                            "[{}/{release}] warning: {e}; using the cached {} {}",
                            arch.name, k.package, k.version
                        );
                        Ok(k)
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("fetch thread panicked"))
            .collect()
    });
    let mut kernels = Vec::new();
    for (&arch, k) in arches.iter().zip(fetched) {
        let k = k?;
        println!(
            "[{}/{release}] kernel {} {}",
            arch.name, k.package, k.version
        );
        kernels.push((arch, k));
    }
    // Lists good enough to resolve every kernel are kept for a day, even when a suite
    // failed to update (the security suite's index mid-sync, say).
    if updated && all_resolved {
        std::fs::write(&stamp, want_stamp).map_err(|e| e.to_string())?;
    }
    Ok(kernels)
}

fn apt_cache(opts: &[String], args: &[&str]) -> Result<String, String> {
    let out = Command::new("apt-cache")
        .args(opts)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("apt-cache: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "apt-cache {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The kernel package the flavour metapackage depends on, and its candidate version.
fn resolve(opts: &[String], arch: &Arch) -> Result<(String, String), String> {
    let meta = format!("{}:{}", arch.kernel_meta, arch.deb_arch);
    let deps = apt_cache(
        opts,
        &["depends", "--no-recommends", "--no-suggests", &meta],
    )?;
    let package = deps
        .lines()
        .filter_map(|l| l.trim().trim_start_matches('|').strip_prefix("Depends: "))
        .map(|p| p.split(':').next().unwrap_or(p).trim())
        .find(|p| p.starts_with("linux-image-") && p != &arch.kernel_meta)
        .ok_or(format!("{meta} names no linux-image package"))?
        .to_string();
    let policy = apt_cache(opts, &["policy", &format!("{package}:{}", arch.deb_arch)])?;
    let version = policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate: "))
        .filter(|v| *v != "(none)")
        .ok_or(format!("{package}: no candidate version"))?
        .to_string();
    Ok((package, version))
}

fn kernel_dir(cache: &Path, release: &str, package: &str, version: &str) -> PathBuf {
    cache
        .join("kernels")
        .join(release)
        .join(format!("{package}_{version}"))
}

fn fetch(
    cache: &Path,
    opts: &[String],
    apt_turn: &std::sync::Mutex<()>,
    arch: &Arch,
    release: &str,
    package: String,
    version: String,
) -> Result<Kernel, String> {
    let dir = kernel_dir(cache, release, &package, &version);
    if let Some(k) = load_cached(&dir, &package, &version) {
        return Ok(k);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("[{}] downloading {package} {version}", arch.name);
    let work = cache.join(format!("download-{}-{release}", arch.name));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let turn = apt_turn.lock().unwrap_or_else(|e| e.into_inner());
    let status = Command::new("apt-get")
        .args(opts)
        .args([
            "-q",
            "download",
            &format!("{package}:{}={version}", arch.deb_arch),
        ])
        .current_dir(&work)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("apt-get download: {e}"))?;
    drop(turn);
    if !status.success() {
        return Err(format!("apt-get download {package} failed"));
    }
    let deb = std::fs::read_dir(&work)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download left no .deb")?;
    // /boot, and the module directories the wanted modules and their dependencies are in.
    let status = Command::new("sh")
        .arg("-c")
        .arg(
            // Modules live in /lib/modules up to bookworm and /usr/lib/modules from trixie
            // (tar's `*` matches `/` too), compressed with xz from trixie: unpacked here,
            // so that the init loads plain modules and their .modinfo can be read.
            "dpkg-deb --fsys-tarfile \"$1\" | tar -x -C \"$2\" --wildcards './boot/vmlinu*' \
             './boot/config-*' '*lib/modules/*/modules.builtin' '*lib/modules/*/kernel/fs/*' \
             '*lib/modules/*/kernel/lib/*' '*lib/modules/*/kernel/crypto/*' \
             '*lib/modules/*/kernel/drivers/block/*' && \
             find \"$2\" -name '*.ko.xz' -exec xz -d {} +",
        )
        .arg("sh")
        .arg(&deb)
        .arg(&work)
        .status()
        .map_err(|e| format!("dpkg-deb: {e}"))?;
    if !status.success() {
        return Err(format!("extracting {}", deb.display()));
    }
    let boot = work.join("boot");
    let mut image = None;
    let mut config = None;
    for e in std::fs::read_dir(&boot)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("vmlinu") {
            image = Some(e.path());
        } else if name.starts_with("config-") {
            config = Some(e.path());
        }
    }
    let image = image.ok_or(format!("{package} has no /boot/vmlinuz"))?;
    let tmp = cache.join(format!("kernels/.partial-{}-{release}", arch.name));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    std::fs::rename(&image, tmp.join("vmlinuz")).map_err(|e| e.to_string())?;
    if let Some(c) = config {
        std::fs::rename(c, tmp.join("config")).map_err(|e| e.to_string())?;
    }
    let modules_dir = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| work.join(d))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| work.join("lib/modules"));
    let modules_root = std::fs::read_dir(modules_dir)
        .map_err(|e| format!("{package}: no /lib/modules: {e}"))?
        .flatten()
        .next()
        .ok_or(format!("{package}: empty /lib/modules"))?
        .path();
    let order = module_order(&modules_root, WANTED_MODULES)?;
    std::fs::create_dir_all(tmp.join("modules")).map_err(|e| e.to_string())?;
    for (i, (name, path)) in order.iter().enumerate() {
        std::fs::rename(path, tmp.join(format!("modules/{i:02}-{name}.ko")))
            .map_err(|e| e.to_string())?;
    }
    std::fs::create_dir_all(dir.parent().expect("kernels/<release>")).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &dir).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&work);
    load_cached(&dir, &package, &version).ok_or(format!("{}: incomplete", dir.display()))
}

/// A complete cached kernel: the image and its modules directory.
fn load_cached(dir: &Path, package: &str, version: &str) -> Option<Kernel> {
    let vmlinuz = dir.join("vmlinuz");
    let mut modules: Vec<PathBuf> = std::fs::read_dir(dir.join("modules"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    modules.sort();
    (vmlinuz.is_file() && !modules.is_empty()).then(|| Kernel {
        package: package.to_string(),
        version: version.to_string(),
        vmlinuz,
        modules,
    })
}

/// The modules to load for `wanted`, dependencies first, as (name, path); modules built
/// into the kernel (`modules.builtin`) are left out.
fn module_order(root: &Path, wanted: &[&str]) -> Result<Vec<(String, PathBuf)>, String> {
    let norm = |s: &str| s.replace('-', "_");
    let mut index = HashMap::new();
    let mut stack = vec![root.join("kernel")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| e.to_string())?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(stem) = p.file_name().and_then(|n| n.to_str()?.strip_suffix(".ko")) {
                index.insert(norm(stem), p);
            }
        }
    }
    let builtin: Vec<String> = std::fs::read_to_string(root.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| Some(norm(l.rsplit('/').next()?.strip_suffix(".ko")?)))
        .collect();
    let mut order = Vec::new();
    fn visit(
        name: &str,
        index: &HashMap<String, PathBuf>,
        builtin: &[String],
        order: &mut Vec<(String, PathBuf)>,
        depth: usize,
    ) -> Result<(), String> {
        if order.iter().any(|(n, _)| n == name) || builtin.iter().any(|b| b == name) {
            return Ok(());
        }
        if depth > 32 {
            return Err(format!("module dependencies too deep at {name}"));
        }
        let path = index.get(name).ok_or(format!(
            "module {name} is neither built in nor in the package"
        ))?;
        let data = std::fs::read(path).map_err(|e| e.to_string())?;
        for dep in modinfo(&data, "depends")
            .split(',')
            .filter(|d| !d.is_empty())
        {
            visit(&dep.replace('-', "_"), index, builtin, order, depth + 1)?;
        }
        order.push((name.to_string(), path.clone()));
        Ok(())
    }
    for w in wanted {
        visit(&norm(w), &index, &builtin, &mut order, 0)?;
    }
    Ok(order)
}

/// A `key=value` of a module's `.modinfo` section (NUL-separated strings), found by
/// scanning the file: "" when absent.
fn modinfo(data: &[u8], key: &str) -> String {
    let needle = format!("\0{key}=");
    data.windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .map(|at| {
            let v = &data[at + needle.len()..];
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            String::from_utf8_lossy(&v[..end]).into_owned()
        })
        .unwrap_or_default()
}

/// The most recently cached kernel of this architecture's flavour and release.
fn newest_cached(cache: &Path, arch: &Arch, release: &str) -> Option<Kernel> {
    let flavour = arch.kernel_meta.strip_prefix("linux-image-")?;
    std::fs::read_dir(cache.join("kernels").join(release))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (package, version) = name.split_once('_')?;
            if !package.ends_with(&format!("-{flavour}")) {
                return None;
            }
            let when = e.metadata().ok()?.modified().ok()?;
            Some((when, load_cached(&e.path(), package, version)?))
        })
        .max_by_key(|(when, _)| *when)
        .map(|(_, k)| k)
}
