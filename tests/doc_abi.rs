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

/// The arches `.ci/qemu-kernels.sh` boots, by their row names.
const BOOTED_UNDER_QEMU: [&str; 4] = ["x86", "aarch64", "arm", "s390x"];

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
