//! Runs rawaio's test suite and examples on real Linux kernels of other architectures
//! under qemu-system (issue 8): qemu-user answers ENOSYS to the AIO calls, so only a
//! booted kernel proves the syscall stubs, the big-endian `iocb` and the 32-bit paths.
//!
//! For each architecture it
//! 1. resolves Debian's current kernel package through apt (the flavour metapackage's
//!    dependency) and caches its `vmlinuz` (`kernel.rs`);
//! 2. builds the integration tests, the library's unit tests and the examples as static
//!    binaries with Debian's cross gcc as linker, and our `/init` (`build.rs`);
//! 3. packs them into a gzip'd newc initramfs (`cpio.rs`);
//! 4. boots it, reads the init's protocol lines from the console (`protocol.rs`) and
//!    judges: every test and example planned must report, and every one must pass.
//!
//! Building the next architecture overlaps with booting the previous one.
//!
//! Usage: `rawaio-qemu [--arch x86_64,aarch64,...] [--release bullseye,bookworm,trixie]
//! [--runs aarch64/bullseye,...] [--timeout SECONDS] [--update-doc docs/abi.md]`. Each
//! architecture boots the kernels of its default Debian releases (`arch.rs`). The cache is `$RAWAIO_QEMU_CACHE`, else
//! `~/.cache/rawaio-qemu`. Exit status 0 only when every architecture passed.

mod arch;
mod build;
mod cpio;
mod doc;
mod kernel;
mod protocol;
mod vm;

use arch::{Arch, Run};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Options {
    runs: Vec<Run>,
    subset: build::Subset,
    timeout: Duration,
    update_doc: Option<PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut arches: Option<Vec<&'static Arch>> = None;
    let mut releases: Option<Vec<&'static str>> = None;
    let mut exact: Option<Vec<Run>> = None;
    let mut opts = Options {
        runs: Vec::new(),
        subset: build::Subset::ALL,
        timeout: Duration::from_secs(1500),
        update_doc: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--arch" => {
                arches = Some(
                    value()?
                        .split(',')
                        .map(|n| {
                            arch::find(n).ok_or(format!("unknown arch {n}: {}", arch::names()))
                        })
                        .collect::<Result<_, _>>()?,
                );
            }
            "--release" => {
                releases = Some(
                    value()?
                        .split(',')
                        .map(|n| arch::release(n).ok_or(format!("unknown release {n}")))
                        .collect::<Result<_, _>>()?,
                );
            }
            "--runs" => {
                exact = Some(
                    value()?
                        .split(',')
                        .map(|r| {
                            let (a, rel) =
                                r.split_once('/').ok_or(format!("{r}: not ARCH/RELEASE"))?;
                            Ok(Run {
                                arch: arch::find(a).ok_or(format!("unknown arch {a}"))?,
                                release: arch::release(rel)
                                    .ok_or(format!("unknown release {rel}"))?,
                            })
                        })
                        .collect::<Result<_, String>>()?,
                );
            }
            "--only" => {
                opts.subset.tests = Some(value()?.split(',').map(str::to_string).collect());
            }
            "--no-examples" => opts.subset.examples = false,
            "--timeout" => {
                let s: u64 = value()?.parse().map_err(|e| format!("--timeout: {e}"))?;
                opts.timeout = Duration::from_secs(s);
            }
            "--update-doc" => opts.update_doc = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                return Err(format!(
                    "usage: rawaio-qemu [--arch LIST] [--release LIST] [--runs ARCH/RELEASE,...] \
                     [--only BINARY,PREFIX*,...] [--no-examples] [--timeout SECONDS] [--update-doc FILE]\n\
                     arches: {}\nreleases: bullseye, bookworm, trixie (each arch boots its \
                     default releases unless --release names others)",
                    arch::names()
                ));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    opts.runs = match exact {
        Some(runs) => runs,
        None => {
            let explicit_arches = arches.is_some();
            let arches = arches.unwrap_or_else(|| arch::ALL.iter().collect());
            let mut runs = Vec::new();
            for a in arches {
                let chosen: Vec<&'static str> = match &releases {
                    // Named arches boot the named releases; otherwise each arch boots
                    // those of them it boots by default.
                    Some(r) if explicit_arches => r.clone(),
                    Some(r) => r
                        .iter()
                        .copied()
                        .filter(|r| a.releases.contains(r))
                        .collect(),
                    None => a.releases.to_vec(),
                };
                runs.extend(chosen.into_iter().map(|release| Run { arch: a, release }));
            }
            runs
        }
    };
    if opts.runs.is_empty() {
        return Err("no architecture and release to run".into());
    }

    Ok(opts)
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("rawaio-qemu: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(opts: &Options) -> Result<bool, String> {
    let start = Instant::now();
    let repo = build::Repo::discover()?;
    let cache = kernel::cache_dir()?;
    let kernels = kernel::fetch_all(&cache, &opts.runs)?;
    println!("kernels ready after {:.1} s", start.elapsed().as_secs_f64());

    let (to_boot, booter_in) = mpsc::channel::<(Run, Result<vm::Image, String>)>();
    let kernels_ref = &kernels;
    let reports = std::thread::scope(|s| {
        let booter = s.spawn(move || {
            let mut reports = Vec::new();
            for (run, image) in booter_in {
                let report = match image {
                    Ok(image) => vm::boot_and_judge(run, &kernels_ref[&run], &image, opts.timeout),
                    Err(e) => vm::Report::broken(run, format!("build failed: {e}")),
                };
                report.print();
                reports.push(report);
            }
            reports
        });
        for &run in &opts.runs {
            let t = Instant::now();
            let image = build::image(&repo, run, &kernels[&run], &opts.subset);
            if let Ok(img) = &image {
                println!(
                    "[{}] built and packed {} test binaries and {} examples in {:.1} s ({} MiB)",
                    run.name(),
                    img.tests,
                    img.examples,
                    t.elapsed().as_secs_f64(),
                    img.bytes >> 20
                );
            }
            if to_boot.send((run, image)).is_err() {
                break;
            }
        }
        drop(to_boot);
        booter.join().expect("the boot thread panicked")
    });

    println!(
        "\n=== real-kernel results (qemu-system), {:.0} s in all",
        start.elapsed().as_secs_f64()
    );
    let mut passed = 0;
    let mut failed = 0;
    for r in &reports {
        println!("{}", r.summary());
        passed += r.passed();
        failed += r.failed();
    }
    let all_ok = reports.len() == opts.runs.len() && reports.iter().all(|r| r.ok());
    if let Some(path) = &opts.update_doc {
        // A subset's counts are not a run's: it records only what the probe found.
        let whole = opts.subset.tests.is_none() && opts.subset.examples;
        let updated = doc::update(path, &reports, whole)?;
        println!(
            "{}: updated the rows of {}",
            path.display(),
            updated.join(", ")
        );
    }
    println!("{passed} passed, {failed} failed");
    Ok(all_ok)
}
