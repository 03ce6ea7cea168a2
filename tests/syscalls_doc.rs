//! docs/syscalls.md's tables must say what `rawaio::syscalls` says, row for row.
//!
//! On a mismatch the test prints the tables the data gives; `RAWAIO_BLESS=1 cargo test
//! --test syscalls_doc` writes them into the document.

use rawaio::syscalls::{Api, C, EntryPoint, RUST, Syscall};
use std::path::Path;

const DOC: &str = "docs/syscalls.md";

/// The markdown table of one library's entry points.
fn entry_table(entries: &[EntryPoint]) -> String {
    let mut out = String::from("| entry point | system calls | besides |\n|---|---|---|\n");
    for e in entries {
        let names: Vec<String> = e.names().map(|n| format!("`{n}`")).collect();
        let calls: Vec<String> = e.calls.iter().map(|c| format!("`{}`", c)).collect();
        let calls = if calls.is_empty() {
            "none".to_string()
        } else {
            calls.join(", ")
        };
        out += &format!("| {} | {calls} | {} |\n", names.join(", "), e.note);
    }
    out
}

/// The names each call has on 32-bit targets, where they differ.
fn names_table() -> String {
    let mut out = String::from("| call | on 32-bit targets |\n|---|---|\n");
    for s in Syscall::ALL {
        let on32: &[&str] = match s {
            Syscall::Fcntl => &["fcntl64"],
            Syscall::Mmap => &["mmap2"],
            Syscall::ClockGettime => &["clock_gettime64", "clock_gettime"],
            Syscall::Fstat => &["fstat64", "fstatat64"],
            _ => continue,
        };
        if cfg!(target_pointer_width = "32") {
            assert_eq!(s.target_names(), on32, "{s}");
        }
        let names: Vec<String> = on32.iter().map(|n| format!("`{n}`")).collect();
        out += &format!("| `{}` | {} |\n", s.name(), names.join(", "));
    }
    out
}

/// The text between the line `<!-- begin NAME -->` and `<!-- end NAME -->`.
fn section<'a>(doc: &'a str, name: &str) -> (usize, usize, &'a str) {
    let begin = format!("<!-- begin {name} -->\n");
    let end = format!("<!-- end {name} -->");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("{DOC}: no {begin:?}"))
        + begin.len();
    let stop = start
        + doc[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("{DOC}: no {end:?}"));
    (start, stop, &doc[start..stop])
}

#[test]
fn tables_match_the_crate() {
    // Compiled in, so that the check runs where the repository is not (a VM's initramfs).
    let mut doc = include_str!("../docs/syscalls.md").to_string();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC);
    let expected = [
        ("rust", entry_table(RUST)),
        ("c", entry_table(C)),
        ("names", names_table()),
    ];
    let bless = std::env::var_os("RAWAIO_BLESS").is_some_and(|v| v == "1");
    let mut wrong = Vec::new();
    for (name, table) in &expected {
        let (start, stop, found) = section(&doc, name);
        if found != table {
            if bless {
                doc.replace_range(start..stop, table);
            } else {
                wrong.push(format!("<!-- begin {name} -->\n{table}<!-- end {name} -->"));
            }
        }
    }
    if bless {
        std::fs::write(&path, &doc).expect("writing docs/syscalls.md");
    }
    assert!(
        wrong.is_empty(),
        "{DOC} differs from rawaio::syscalls; it should read (or run with RAWAIO_BLESS=1):\n\n{}",
        wrong.join("\n\n")
    );
}

#[test]
fn every_entry_point_belongs_to_its_table() {
    assert!(RUST.iter().all(|e| e.api == Api::Rust));
    assert!(C.iter().all(|e| e.api == Api::C));
}
