//! docs/abi.md's syscall table must say what `rawaio_abi::nr` says.

use rawaio_abi::nr::{ALL, Table};

fn doc_rows() -> Vec<Vec<String>> {
    let doc = include_str!("../../docs/abi.md");
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
        .unwrap_or_else(|| panic!("docs/abi.md names {arch}, which rawaio_abi::nr does not know"))
}

#[test]
fn syscall_table_matches_the_crate() {
    let rows = doc_rows();
    let mut arches_documented = 0;
    for row in &rows {
        assert_eq!(row.len(), 13, "row {row:?} should have 13 columns");
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

#[test]
fn native_row_matches_this_target() {
    let rows = doc_rows();
    let arch = std::env::consts::ARCH;
    let row = rows
        .iter()
        .find(|r| r[0] == arch)
        .expect("this target has a row");
    let iocb = rawaio_abi::layout::IOCB;
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
