//! aio-qualify: what a user of Linux native AIO must know about a directory or a block
//! device, found by trying it (`aio-qualify --help`).
//!
//! The checks, each in its module: [`alignment`] (direct-I/O alignment, tried),
//! [`blocking`] (whether `io_submit` blocks, per kind of request, with and without
//! `RWF_NOWAIT`), [`nowait`] (the `RWF_NOWAIT` verdicts), [`features`] (opcodes and
//! flags, by rawaio's probe), [`budget`] (the context budget). [`subject`] opens what is
//! qualified, [`aio`] holds every call into rawaio, [`report`] the findings and their
//! text.
//!
//! Exit status: 0 when native AIO is usable there; 1 when it is not; 2 for a usage error
//! or a target that cannot be opened.

mod aio;
mod alignment;
mod blocking;
mod budget;
mod cli;
mod features;
mod nowait;
mod progress;
mod report;
mod subject;

use clap::Parser;
use report::{Report, Target};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match qualify(&cli) {
        Ok(report) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("a report serializes")
                );
            } else {
                print!("{report}");
            }
            if report.usable {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("aio-qualify: {e}");
            ExitCode::from(2)
        }
    }
}

fn qualify(cli: &cli::Cli) -> Result<Report, String> {
    let contexts = cli
        .contexts
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let steps = 4 + 2 * blocking::Kind::ALL.len() as u64;
    let bar = progress::bar(steps);
    bar.set_message(format!("opening {}", cli.path.display()));
    let subject = subject::open(&cli.path, cli.size, cli.write)?;
    bar.inc(1);
    let mut problems = Vec::new();
    let mut usable = true;

    bar.set_message("direct-I/O alignment");
    let alignment = match &subject.direct {
        Some(file) if subject.size >= 128 << 10 => match alignment::measure(file) {
            Ok(a) => Some(a),
            Err(e) => {
                problems.push(format!("the alignment trials failed: {e}"));
                None
            }
        },
        Some(_) => {
            problems.push("too small for the alignment trials (128 KiB needed)".into());
            None
        }
        None => None,
    };
    bar.inc(1);
    if let Some(offset) = alignment.as_ref().and_then(|a| a.offset) {
        if cli.bs as u64 % offset != 0 {
            return Err(format!(
                "--bs {} is not a multiple of {offset}, the direct-I/O alignment here",
                cli.bs
            ));
        }
    }

    let mut cases = Vec::new();
    match aio::Timer::new() {
        Ok(mut timer) => {
            for kind in blocking::Kind::ALL {
                for nowait in [false, true] {
                    if nowait && !kind.takes_nowait() {
                        bar.inc(1);
                        continue;
                    }
                    let flag = if nowait { " with RWF_NOWAIT" } else { "" };
                    bar.set_message(format!("{}{flag}", kind.name()));
                    cases.push(blocking::run(
                        &mut timer,
                        &subject,
                        kind,
                        nowait,
                        cli.samples,
                        cli.bs,
                    ));
                    bar.inc(1);
                }
            }
        }
        Err(e) => {
            usable = false;
            problems.push(format!(
                "io_setup(8) failed: {} (ENOSYS: no native AIO in this kernel or a seccomp filter; \
                 EAGAIN: the system-wide budget is used up, see below)",
                aio::errno_name(e)
            ));
        }
    }
    let read_ok = cases.iter().any(|c| {
        !c.nowait
            && (c.case == blocking::Kind::DirectRead.name()
                || c.case == blocking::Kind::BufferedUncached.name())
            && c.done > 0
    });
    if usable && !read_ok {
        usable = false;
        problems.push("no read completed (see the table)".into());
    }
    let nowait = (!cases.is_empty()).then(|| nowait::judge(&cases));

    bar.set_message("opcodes and RWF_* flags");
    let mut features = Vec::new();
    let openings = [
        (subject.direct.as_ref(), true),
        (Some(&subject.buffered), false),
    ];
    for (file, direct) in openings {
        if let Some(file) = file {
            match features::probe(file, direct, subject.writable) {
                Ok(f) => features.push(f),
                Err(e) => problems.push(format!("the feature probe failed: {e}")),
            }
        }
    }
    bar.inc(1);

    bar.set_message("context budget");
    let budget = budget::measure(cli.depth, contexts);
    bar.inc(1);
    bar.finish_and_clear();

    Ok(Report {
        tool: "aio-qualify",
        version: env!("CARGO_PKG_VERSION"),
        date: today(),
        kernel: rawaio_tools::target_kind::kernel_release(),
        target: Target {
            path: subject.path.display().to_string(),
            kind: subject.kind.to_string(),
            fs: subject.fs.clone(),
            size: subject.size,
            direct_io: subject.direct.is_some(),
            writes: subject.writable,
        },
        usable,
        problems,
        alignment,
        blocking: cases,
        nowait,
        features,
        budget,
    })
}

/// Today's date, `YYYY-MM-DD` in UTC.
fn today() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d").to_string()
}
