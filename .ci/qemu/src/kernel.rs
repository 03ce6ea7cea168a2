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
//! `kernels/<package>_<version>/`. Without the network, the newest cached kernel of the
//! flavour is used, with a warning.

use crate::arch::Arch;
use std::collections::HashMap;
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
}

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

fn apt_options(cache: &Path) -> Vec<String> {
    let mut o = vec![
        "-o".into(),
        format!("Dir::State::Lists={}", cache.join("apt/lists").display()),
        "-o".into(),
        format!("Dir::Cache={}", cache.join("apt/cache").display()),
        "-o".into(),
        "Acquire::Languages=none".into(),
    ];
    for a in &crate::arch::ALL {
        o.push("-o".into());
        o.push(format!("APT::Architectures::={}", a.deb_arch));
    }
    o
}

/// Resolves and caches the kernel of every architecture in `arches`.
pub fn fetch_all(cache: &Path, arches: &[&Arch]) -> Result<HashMap<&'static str, Kernel>, String> {
    for d in ["apt/lists/partial", "apt/cache/archives/partial", "kernels"] {
        std::fs::create_dir_all(cache.join(d)).map_err(|e| format!("{d}: {e}"))?;
    }
    let opts = apt_options(cache);
    let stamp = cache.join("apt/updated");
    let fresh = std::fs::metadata(&stamp)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < Duration::from_secs(24 * 3600));
    let refresh = std::env::var_os("RAWAIO_QEMU_REFRESH").is_some_and(|v| v == "1");
    let mut update_ok = fresh && !refresh;
    if !update_ok {
        println!("apt: updating the package lists of {}", cache.join("apt").display());
        let out = Command::new("apt-get")
            .args(&opts)
            .args(["-q", "update"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("apt-get: {e}"))?;
        // A suite whose index fails (a mirror mid-sync, say) makes apt exit 100 while
        // the others are fine: judge by whether the package resolves below.
        update_ok = out.status.success();
        if !update_ok {
            println!(
                "apt: update reported errors (going on with what it fetched):\n{}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        } else {
            std::fs::write(&stamp, b"").map_err(|e| e.to_string())?;
        }
    }
    let mut kernels = HashMap::new();
    for &arch in arches {
        let k = match resolve(&opts, arch) {
            Ok((package, version)) => fetch(cache, &opts, arch, package, version)?,
            Err(e) => {
                let k = newest_cached(cache, arch).ok_or_else(|| {
                    format!("{}: cannot resolve the kernel ({e}) and none is cached", arch.name)
                })?;
                println!(
                    "[{}] warning: {e}; using the cached {} {}",
                    arch.name, k.package, k.version
                );
                k
            }
        };
        println!("[{}] kernel {} {}", arch.name, k.package, k.version);
        kernels.insert(arch.name, k);
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
    let deps = apt_cache(opts, &["depends", "--no-recommends", "--no-suggests", &meta])?;
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

fn kernel_dir(cache: &Path, package: &str, version: &str) -> PathBuf {
    cache.join("kernels").join(format!("{package}_{version}"))
}

fn fetch(
    cache: &Path,
    opts: &[String],
    arch: &Arch,
    package: String,
    version: String,
) -> Result<Kernel, String> {
    let dir = kernel_dir(cache, &package, &version);
    let vmlinuz = dir.join("vmlinuz");
    if vmlinuz.is_file() {
        return Ok(Kernel {
            package,
            version,
            vmlinuz,
        });
    }
    println!("[{}] downloading {package} {version}", arch.name);
    let work = cache.join(format!("download-{}", arch.name));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let status = Command::new("apt-get")
        .args(opts)
        .args(["-q", "download", &format!("{package}:{}={version}", arch.deb_arch)])
        .current_dir(&work)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("apt-get download: {e}"))?;
    if !status.success() {
        return Err(format!("apt-get download {package} failed"));
    }
    let deb = std::fs::read_dir(&work)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download left no .deb")?;
    // Only /boot: the modules are not needed (the tests use tmpfs and built-in drivers).
    let status = Command::new("sh")
        .arg("-c")
        .arg("dpkg-deb --fsys-tarfile \"$1\" | tar -x -C \"$2\" --wildcards './boot/vmlinu*' './boot/config-*'")
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
    for e in std::fs::read_dir(&boot).map_err(|e| e.to_string())?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("vmlinu") {
            image = Some(e.path());
        } else if name.starts_with("config-") {
            config = Some(e.path());
        }
    }
    let image = image.ok_or(format!("{package} has no /boot/vmlinuz"))?;
    let tmp = cache.join(format!("kernels/.partial-{}", arch.name));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    std::fs::rename(&image, tmp.join("vmlinuz")).map_err(|e| e.to_string())?;
    if let Some(c) = config {
        std::fs::rename(c, tmp.join("config")).map_err(|e| e.to_string())?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(Kernel {
        package,
        version,
        vmlinuz,
    })
}

/// The most recently cached kernel of this architecture's flavour.
fn newest_cached(cache: &Path, arch: &Arch) -> Option<Kernel> {
    let flavour = arch.kernel_meta.strip_prefix("linux-image-")?;
    std::fs::read_dir(cache.join("kernels"))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (package, version) = name.split_once('_')?;
            let vmlinuz = e.path().join("vmlinuz");
            let ok = package.ends_with(&format!("-{flavour}")) && vmlinuz.is_file();
            let when = e.metadata().ok()?.modified().ok()?;
            ok.then(|| {
                (
                    when,
                    Kernel {
                        package: package.to_string(),
                        version: version.to_string(),
                        vmlinuz,
                    },
                )
            })
        })
        .max_by_key(|(when, _)| *when)
        .map(|(_, k)| k)
}
