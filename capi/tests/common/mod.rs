//! What the C tests share: the compiler, running programs, parsing their figures.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::env;
use std::path::Path;
use std::process::{Command, Output};

/// A whitespace-separated command from the environment variable `var`, or `default`.
pub fn command_from_env(var: &str, default: &str) -> Vec<String> {
    let value = env::var(var).unwrap_or_default();
    let words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        vec![default.to_owned()]
    } else {
        words
    }
}

/// Runs the C compiler (`cc` + `args`), panicking with its output if it fails.
pub fn compile(cc: &[String], args: &[&str], out: &Path) {
    let mut command = Command::new(&cc[0]);
    command.args(&cc[1..]).args(args).arg("-o").arg(out);
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "cannot run the C compiler {:?}: {e} (install gcc, or name one in \
             RAWAIO_CAPI_CC); these tests need it and are not skipped",
            cc[0]
        )
    });
    assert_success(&command, &output);
}

/// Panics with the command's output unless it exited 0.
pub fn assert_success(command: &Command, output: &Output) {
    assert!(
        output.status.success(),
        "{command:?} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// `NAME VALUE` lines, each name once.
pub fn figures(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(value), None) = (words.next(), words.next(), words.next()) else {
            panic!("not `NAME VALUE`: {line:?}");
        };
        assert!(
            map.insert(name.to_owned(), value.to_owned()).is_none(),
            "{name} twice"
        );
    }
    map
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
