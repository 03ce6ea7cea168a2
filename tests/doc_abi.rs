//! docs/abi.md's syscall table must say what `rawaio_abi::nr` says.
//!
//! It lives in rawaio's tests, not rawaio-abi's, because docs/abi.md is part of rawaio's
//! package (its docs/) and outside rawaio-abi's: each package's tests read only its own
//! files, so that `cargo test` passes on the published crate.

use rawaio::abi::nr::{ALL, Table};

fn doc_rows() -> Vec<Vec<String>> {
    let doc = include_str!("../docs/abi.md");
    let section = doc
        .split("## Targets")
        .nth(1)
        .expect("docs/abi.md has a Targets section");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| target"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn table_for(arch: &str) -> Table {
    *ALL.iter()
        .find(|t| t.arches.contains(&arch))
        .unwrap_or_else(|| panic!("docs/abi.md names {arch}, which rawaio::abi::nr does not know"))
}

#[test]
fn syscall_table_matches_the_crate() {
    let rows = doc_rows();
    let mut arches_documented = 0;
    for row in &rows {
        assert_eq!(row.len(), 14, "row {row:?} should have 14 columns");
        let t = table_for(&row[0]);
        let numbers: Vec<u32> = row[6..12]
            .iter()
            .map(|c| c.parse().expect("a number"))
            .collect();
        assert_eq!(
            numbers,
            [
                t.io_setup,
                t.io_destroy,
                t.io_getevents,
                t.io_submit,
                t.io_cancel,
                t.io_pgetevents
            ],
            "{}",
            row[0]
        );
        let time64 = (row[12] != "-").then(|| row[12].parse::<u32>().expect("a number"));
        assert_eq!(time64, t.io_pgetevents_time64, "{}", row[0]);
        let word: usize = row[2].parse().unwrap();
        assert_eq!(
            word == 32,
            t.io_pgetevents_time64.is_some(),
            "{}: word size vs time64",
            row[0]
        );
        arches_documented += 1;
    }
    let known: usize = ALL.iter().map(|t| t.arches.len()).sum();
    assert_eq!(arches_documented, known, "every architecture has a row");
}

/// The arches `.ci/qemu-kernels.sh` boots, by their row names (x86_64's row also names
/// the CI host).
const BOOTED_UNDER_QEMU: [&str; 6] = ["x86", "aarch64", "arm", "s390x", "powerpc64", "riscv64"];

/// Whether `s` holds a date written YYYY-MM-DD.
fn has_date(s: &str) -> bool {
    s.as_bytes().windows(10).any(|w| {
        w.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
    })
}

#[test]
fn real_kernel_column_says_which_kernel_and_when() {
    let doc = include_str!("../docs/abi.md");
    assert!(
        doc.lines()
            .any(|l| l.starts_with("| target") && l.contains("| verified on a real kernel |")),
        "the Targets table has a 'verified on a real kernel' column"
    );
    for row in doc_rows() {
        let cell = &row[13];
        if BOOTED_UNDER_QEMU.contains(&row[0].as_str()) {
            // Written by `.ci/qemu-kernels.sh --update-doc docs/abi.md`: the kernel
            // release (which starts with its version), the Debian package version, the
            // date.
            assert!(
                cell.contains("qemu-system") && has_date(cell),
                "{}: {cell:?} names no qemu-system run with a date",
                row[0]
            );
            let release = cell.split_whitespace().next().unwrap_or("");
            assert!(
                release.split('.').take(2).all(|n| n.parse::<u32>().is_ok()),
                "{}: {cell:?} does not start with a kernel release",
                row[0]
            );
        } else if row[0] == "x86_64" {
            assert!(cell.starts_with("every CI run"), "x86_64: {cell:?}");
            assert!(
                cell.contains("qemu-system") && has_date(cell),
                "x86_64: {cell:?} names no qemu-system run"
            );
        } else {
            assert_eq!(cell, "-", "{}: not verified on a real kernel yet", row[0]);
        }
    }
}

#[test]
fn native_row_matches_this_target() {
    let rows = doc_rows();
    let arch = std::env::consts::ARCH;
    let row = rows
        .iter()
        .find(|r| r[0] == arch)
        .expect("this target has a row");
    let iocb = rawaio::abi::layout::IOCB;
    assert_eq!(row[3], iocb.align.to_string());
    let key = iocb.field("aio_key").unwrap().offset.to_string();
    let rw = iocb.field("aio_rw_flags").unwrap().offset.to_string();
    assert!(
        row[4].split(" or ").any(|c| c == key),
        "aio_key offset {key} not in {:?}",
        row[4]
    );
    assert!(
        row[5].split(" or ").any(|c| c == rw),
        "aio_rw_flags offset {rw} not in {:?}",
        row[5]
    );
    assert_eq!(row[2], (usize::BITS).to_string());
}

/// The data rows of the table between `<!-- begin NAME -->` and `<!-- end NAME -->`.
fn marked_rows(name: &str) -> Vec<Vec<String>> {
    let doc = include_str!("../docs/abi.md");
    let begin = format!("<!-- begin {name} -->\n");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("docs/abi.md has no {begin:?}"));
    let rest = &doc[start + begin.len()..];
    let end = rest.find("<!-- end").expect("the section ends");
    rest[..end]
        .lines()
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// `(major, minor)` of a kernel release such as `6.12.118+deb13-amd64`.
fn version(release: &str) -> (u32, u32) {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The kernel series of each Debian release the runner boots.
const RELEASES: [(&str, (u32, u32)); 3] = [
    ("bullseye", (5, 10)),
    ("bookworm", (6, 1)),
    ("trixie", (6, 12)),
];

#[test]
fn kernel_runs_cover_six_architectures_and_three_releases() {
    let rows = marked_rows("runs");
    let mut arches = std::collections::BTreeSet::new();
    for row in &rows {
        assert_eq!(row.len(), 11, "{row:?}");
        let series = RELEASES
            .iter()
            .find(|r| r.0 == row[1])
            .unwrap_or_else(|| panic!("{row:?}: not a release the runner boots"))
            .1;
        assert_eq!(
            version(&row[2]),
            series,
            "{row:?}: the release's kernel series"
        );
        let passed: u32 = row[4].parse().expect("a count");
        assert!(passed > 100, "{row:?}: the whole suite ran");
        assert_eq!(row[5], "0", "{row:?}: nothing failed");
        assert!(has_date(&row[10]), "{row:?}");
        arches.insert(row[0].clone());
    }
    assert!(arches.len() >= 6, "six architectures: {arches:?}");
    for arch in ["x86_64", "aarch64"] {
        for (release, _) in RELEASES {
            assert!(
                rows.iter().any(|r| r[0] == arch && r[1] == release),
                "{arch} on Debian {release}'s kernel"
            );
        }
    }
}

/// When each `RWF_*` flag arrived (`include/uapi/linux/fs.h`, the crate's docs).
const RWF_SINCE: [(&str, (u32, u32)); 9] = [
    ("HIPRI", (4, 6)),
    ("DSYNC", (4, 7)),
    ("SYNC", (4, 7)),
    ("NOWAIT", (4, 14)),
    ("APPEND", (4, 16)),
    ("NOAPPEND", (6, 9)),
    ("ATOMIC", (6, 11)),
    ("DONTCACHE", (6, 14)),
    ("NOSIGNAL", (6, 18)),
];

#[test]
fn probe_table_agrees_with_each_kernel_version() {
    let runs = marked_rows("runs");
    let probes = marked_rows("probe");
    assert_eq!(probes.len(), runs.len(), "a probe row for every run");
    for row in &probes {
        assert_eq!(row.len(), 10, "{row:?}");
        let run = runs
            .iter()
            .find(|r| r[0] == row[0] && r[1] == row[1])
            .unwrap_or_else(|| panic!("{row:?}: no such run"));
        assert_eq!(run[2], row[2], "the same kernel");
        let v = version(&row[2]);
        for col in 3..7 {
            assert_eq!(
                row[col], "yes",
                "{row:?}: POLL, FSYNC, FDSYNC, vectored since 4.18"
            );
        }
        for col in [7, 8] {
            for flag in row[col].split(", ").filter(|f| *f != "-") {
                let since = RWF_SINCE
                    .iter()
                    .find(|(n, _)| *n == flag)
                    .unwrap_or_else(|| panic!("{row:?}: unknown flag {flag}"))
                    .1;
                assert!(v >= since, "{row:?}: RWF_{flag} accepted before {since:?}");
            }
            assert!(
                row[col].contains("HIPRI") && row[col].contains("DSYNC"),
                "{row:?}"
            );
        }
        let direct = if v >= (6, 6) { "yes" } else { "no" };
        assert_eq!(row[9], direct, "{row:?}: tmpfs O_DIRECT exactly from 6.6");
    }
}
