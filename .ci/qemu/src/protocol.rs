//! What the VM's init and the host runner say to each other.
//!
//! The runner packs a manifest into the initramfs; the init answers on the console with
//! one line per fact, each starting with [`MARK`] (kernel messages may come in between,
//! and the line may follow other console output, so the marker is searched anywhere in a
//! line):
//!
//! ```text
//! @@rawaio-qemu kernel <release> <machine> <version...>
//! @@rawaio-qemu plan <binary> <count>
//! @@rawaio-qemu result <binary> <test> <ok|fail|ignored|timeout> <milliseconds>
//! @@rawaio-qemu note <binary> <test> <a line the test printed, e.g. why it skipped>
//! @@rawaio-qemu done
//! ```
//!
//! Names never contain white space (test paths are `module::name`).

// Each binary uses its half.
#![allow(dead_code)]

/// The marker that starts every line of the protocol.
pub const MARK: &str = "@@rawaio-qemu";

/// Where the manifest is in the initramfs.
pub const MANIFEST: &str = "/rawaio-qemu.manifest";

/// The pseudo binary name of the examples.
pub const EXAMPLES: &str = "examples";

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory to mount a fresh tmpfs on (created first).
    Tmpfs(String),
    /// A kernel module to load, in manifest order (dependencies first).
    Module(String),
    /// An ext4 image to attach to a loop device and mount on a directory.
    Ext4 { image: String, dir: String },
    /// A libtest binary: its name and its path in the initramfs.
    Test { name: String, path: String },
    /// An example: its name, path and arguments.
    Example {
        name: String,
        path: String,
        args: Vec<String>,
    },
}

impl Entry {
    /// The manifest line (without the newline).
    pub fn to_line(&self) -> String {
        match self {
            Entry::Tmpfs(dir) => format!("tmpfs {dir}"),
            Entry::Module(path) => format!("module {path}"),
            Entry::Ext4 { image, dir } => format!("ext4 {image} {dir}"),
            Entry::Test { name, path } => format!("test {name} {path}"),
            Entry::Example { name, path, args } => {
                let mut line = format!("example {name} {path}");
                for a in args {
                    line.push(' ');
                    line.push_str(a);
                }
                line
            }
        }
    }

    /// Parses a manifest line.
    pub fn parse(line: &str) -> Option<Entry> {
        let mut words = line.split_whitespace();
        let entry = match words.next()? {
            "tmpfs" => Entry::Tmpfs(words.next()?.to_string()),
            "module" => Entry::Module(words.next()?.to_string()),
            "ext4" => Entry::Ext4 {
                image: words.next()?.to_string(),
                dir: words.next()?.to_string(),
            },
            "test" => Entry::Test {
                name: words.next()?.to_string(),
                path: words.next()?.to_string(),
            },
            "example" => Entry::Example {
                name: words.next()?.to_string(),
                path: words.next()?.to_string(),
                args: words.map(str::to_string).collect(),
            },
            _ => return None,
        };
        Some(entry)
    }
}

/// The outcome of one test or example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Fail,
    Ignored,
    Timeout,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "fail",
            Status::Ignored => "ignored",
            Status::Timeout => "timeout",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "ok" => Status::Ok,
            "fail" => Status::Fail,
            "ignored" => Status::Ignored,
            "timeout" => Status::Timeout,
            _ => return None,
        })
    }
}

/// One protocol line, as the runner reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Kernel {
        release: String,
        machine: String,
        version: String,
    },
    Plan {
        binary: String,
        count: usize,
    },
    Result {
        binary: String,
        test: String,
        status: Status,
        millis: u64,
    },
    Note {
        binary: String,
        test: String,
        text: String,
    },
    Done,
}

impl Line {
    /// Finds the protocol line in a console line, if there is one. `Err` for a line that
    /// has the marker but does not parse (garbled output is a failure, not ignored).
    pub fn find(console: &str) -> Option<Result<Line, String>> {
        let at = console.find(MARK)?;
        let rest = console[at + MARK.len()..].trim();
        Some(Self::parse(rest).ok_or_else(|| format!("unreadable protocol line: {console:?}")))
    }

    fn parse(rest: &str) -> Option<Line> {
        let (kind, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut words = tail.split_whitespace();
        let line = match kind {
            "kernel" => {
                let release = words.next()?.to_string();
                let machine = words.next()?.to_string();
                let version = words.collect::<Vec<_>>().join(" ");
                Line::Kernel {
                    release,
                    machine,
                    version,
                }
            }
            "plan" => Line::Plan {
                binary: words.next()?.to_string(),
                count: words.next()?.parse().ok()?,
            },
            "result" => {
                let line = Line::Result {
                    binary: words.next()?.to_string(),
                    test: words.next()?.to_string(),
                    status: Status::parse(words.next()?)?,
                    millis: words.next()?.parse().ok()?,
                };
                if words.next().is_some() {
                    return None;
                }
                line
            }
            "note" => {
                let binary = words.next()?.to_string();
                let test = words.next()?.to_string();
                Line::Note {
                    binary,
                    test,
                    text: words.collect::<Vec<_>>().join(" "),
                }
            }
            "done" if tail.is_empty() => Line::Done,
            _ => return None,
        };
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lines_round_trip() {
        for e in [
            Entry::Tmpfs("/a/b".into()),
            Entry::Module("/m/01-crc16.ko".into()),
            Entry::Ext4 {
                image: "/ext4.img".into(),
                dir: "/a/c".into(),
            },
            Entry::Test {
                name: "sys_ring".into(),
                path: "/t/sys_ring".into(),
            },
            Entry::Example {
                name: "sum".into(),
                path: "/x/sum".into(),
                args: vec!["64".into(), "/tmp".into()],
            },
        ] {
            assert_eq!(Entry::parse(&e.to_line()), Some(e));
        }
        assert_eq!(Entry::parse("bogus x"), None);
        assert_eq!(Entry::parse("test only-a-name"), None);
    }

    #[test]
    fn protocol_lines_are_found_in_console_noise() {
        let l = Line::find("[  1.0] x@@rawaio-qemu result sys_ring a::b ok 12\r");
        assert_eq!(
            l,
            Some(Ok(Line::Result {
                binary: "sys_ring".into(),
                test: "a::b".into(),
                status: Status::Ok,
                millis: 12
            }))
        );
        assert_eq!(Line::find("no marker"), None);
        assert!(matches!(
            Line::find("@@rawaio-qemu result sys_ring a::b maybe 12"),
            Some(Err(_))
        ));
        assert!(matches!(
            Line::find("@@rawaio-qemu result sys_ring a::b ok 12 extra"),
            Some(Err(_))
        ));
        assert_eq!(Line::find("@@rawaio-qemu done"), Some(Ok(Line::Done)));
        assert_eq!(
            Line::find("@@rawaio-qemu kernel 6.1.0-50-arm64 aarch64 #1 SMP Debian"),
            Some(Ok(Line::Kernel {
                release: "6.1.0-50-arm64".into(),
                machine: "aarch64".into(),
                version: "#1 SMP Debian".into()
            }))
        );
    }
}
