//! Records the runs in docs/abi.md:
//! - the "Kernel runs" table (between `<!-- begin runs -->` and `<!-- end runs -->`): one
//!   row per architecture and Debian release, with the kernel and the per-run counts,
//!   replaced when that pair runs again;
//! - the "Probe" table (`<!-- begin probe -->`): what `rawaio::probe` found on each of
//!   those kernels (the `probe:` note of `tests/probe.rs`);
//! - the "verified on a real kernel" column of the Targets table, rebuilt from the runs
//!   table: every kernel that passed on the architecture, and the latest date.

use crate::arch::{ALL, RELEASES};
use crate::vm::Report;
use std::path::Path;

/// The column's header.
pub const COLUMN: &str = "verified on a real kernel";

const RUNS_HEADER: &str = "| architecture | Debian | kernel | package | tests passed | failed | \
ignored | skip notes | examples passed | seconds | date |\n\
|---|---|---|---|---|---|---|---|---|---|---|\n";

const PROBE_HEADER: &str = "| architecture | Debian | kernel | POLL | FSYNC | FDSYNC | \
PREADV, PWRITEV | `RWF_*` on reads | `RWF_*` on writes | tmpfs `O_DIRECT` |\n\
|---|---|---|---|---|---|---|---|---|---|\n";

/// Updates the tables (with `whole` false, a subset of the suite ran: only the probe
/// table); returns the names of the runs recorded.
pub fn update(path: &Path, reports: &[Report], whole: bool) -> Result<Vec<String>, String> {
    let mut text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let date = today();
    let mut recorded = Vec::new();

    let mut runs = rows(section(&text, "runs")?);
    let mut probes = rows(section(&text, "probe")?);
    for r in reports.iter().filter(|r| r.kernel.is_some()) {
        let release = r.kernel_release().unwrap_or("?").to_string();
        let version = r.package.as_ref().map_or("?", |p| p.1.as_str()).to_string();
        let key = [r.arch.name.to_string(), r.release.to_string()];
        if let Some(probe) = &r.probe {
            probes.retain(|row| row[..2] != key);
            probes.push(probe_row(&key, &release, probe));
        }
        recorded.push(r.name());
        if !whole {
            continue;
        }
        runs.retain(|row| row[..2] != key);
        runs.push(vec![
            key[0].clone(),
            key[1].clone(),
            release.clone(),
            version,
            r.tests(|s| s == crate::protocol::Status::Ok).to_string(),
            r.failed().to_string(),
            r.tests(|s| s == crate::protocol::Status::Ignored)
                .to_string(),
            r.noted().to_string(),
            r.examples(|s| s == crate::protocol::Status::Ok).to_string(),
            format!("{:.0}", r.seconds),
            date.clone(),
        ]);
    }
    sort(&mut runs);
    sort(&mut probes);
    text = replace_section(&text, "runs", &table(RUNS_HEADER, &runs))?;
    text = replace_section(&text, "probe", &table(PROBE_HEADER, &probes))?;
    text = update_verified_column(&text, &runs)?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(recorded)
}

/// A probe-table row from a `key=value ...` note.
fn probe_row(key: &[String; 2], release: &str, probe: &str) -> Vec<String> {
    let get = |k: &str| {
        probe
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or("?")
            .to_string()
    };
    let flags = |k: &str| get(k).replace('|', ", ");
    let vectored = match (get("preadv").as_str(), get("pwritev").as_str()) {
        (a, b) if a == b => a.to_string(),
        (a, b) => format!("{a}, {b}"),
    };
    vec![
        key[0].clone(),
        key[1].clone(),
        release.to_string(),
        get("poll"),
        get("fsync"),
        get("fdsync"),
        vectored,
        flags("rwf-read"),
        flags("rwf-write"),
        get("tmpfs-direct"),
    ]
}

/// Orders rows by architecture (as `arch::ALL` lists them), then release, oldest first.
fn sort(rows: &mut [Vec<String>]) {
    let arch_pos = |a: &str| ALL.iter().position(|x| x.name == a).unwrap_or(usize::MAX);
    let rel_pos = |r: &str| RELEASES.iter().position(|x| x.0 == r).unwrap_or(usize::MAX);
    rows.sort_by_key(|r| (arch_pos(&r[0]), rel_pos(&r[1])));
}

fn table(header: &str, rows: &[Vec<String>]) -> String {
    let mut out = header.to_string();
    for r in rows {
        out.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    out
}

/// The text between `<!-- begin NAME -->\n` and `<!-- end NAME -->`.
fn section<'a>(text: &'a str, name: &str) -> Result<&'a str, String> {
    let (start, end) = bounds(text, name)?;
    Ok(&text[start..end])
}

fn bounds(text: &str, name: &str) -> Result<(usize, usize), String> {
    let begin = format!("<!-- begin {name} -->\n");
    let end = format!("<!-- end {name} -->");
    let start = text
        .find(&begin)
        .ok_or(format!("docs/abi.md has no {begin:?}"))?
        + begin.len();
    let stop = start
        + text[start..]
            .find(&end)
            .ok_or(format!("docs/abi.md has no {end:?}"))?;
    Ok((start, stop))
}

fn replace_section(text: &str, name: &str, body: &str) -> Result<String, String> {
    let (start, stop) = bounds(text, name)?;
    Ok(format!("{}{body}{}", &text[..start], &text[stop..]))
}

/// The data rows of a markdown table (after its header and separator).
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(cells)
        .collect()
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

/// Rewrites the Targets table's column from the runs table: for each architecture with
/// runs and no failure, its kernels (oldest release first) and the latest date.
fn update_verified_column(text: &str, runs: &[Vec<String>]) -> Result<String, String> {
    let mut in_targets = false;
    let mut column = None;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut line = line.to_string();
        if line.starts_with("## ") {
            in_targets = line == "## Targets";
        }
        if in_targets && line.starts_with("| target") {
            column = cells(&line).iter().position(|c| c == COLUMN);
            if column.is_none() {
                return Err(format!("the Targets table has no {COLUMN:?} column"));
            }
        } else if let (true, Some(col)) = (in_targets && line.starts_with('|'), column) {
            let mut row = cells(&line);
            let arch = ALL
                .iter()
                .find(|a| row.first().map(String::as_str) == Some(a.doc_row));
            if let (Some(arch), true) = (arch, col < row.len()) {
                let mine: Vec<&Vec<String>> = runs.iter().filter(|r| r[0] == arch.name).collect();
                if !mine.is_empty() && mine.iter().all(|r| r[5] == "0") {
                    let kernels: Vec<String> = mine
                        .iter()
                        .map(|r| format!("{} (Debian {} {})", r[2], r[1], r[3]))
                        .collect();
                    let date = mine.iter().map(|r| r[10].as_str()).max().unwrap_or("?");
                    let cell = format!("{}, qemu-system, {date}", kernels.join(", "));
                    row[col] = if row[col].starts_with("every CI run") {
                        let host = row[col].split("; ").next().unwrap_or("").to_string();
                        format!("{host}; {cell}")
                    } else {
                        cell
                    };
                    line = format!("| {} |", row.join(" | "));
                }
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the era-based method:
/// 400-year eras of 146097 days, years starting in March so that the leap day is last).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn probe_rows_and_sections() {
        let key = ["aarch64".to_string(), "trixie".to_string()];
        let row = probe_row(
            &key,
            "6.12.1",
            "poll=yes fsync=yes fdsync=yes preadv=yes pwritev=yes rwf-read=HIPRI|DSYNC \
             rwf-write=- tmpfs-direct=yes",
        );
        assert_eq!(
            row,
            [
                "aarch64",
                "trixie",
                "6.12.1",
                "yes",
                "yes",
                "yes",
                "yes",
                "HIPRI, DSYNC",
                "-",
                "yes"
            ]
        );
        let text = "a\n<!-- begin runs -->\nold\n<!-- end runs -->\nb\n";
        assert_eq!(section(text, "runs").unwrap(), "old\n");
        assert_eq!(
            replace_section(text, "runs", "new\n").unwrap(),
            "a\n<!-- begin runs -->\nnew\n<!-- end runs -->\nb\n"
        );
        let mut rows = vec![
            vec!["aarch64".to_string(), "trixie".to_string()],
            vec!["x86_64".to_string(), "bookworm".to_string()],
            vec!["aarch64".to_string(), "bullseye".to_string()],
        ];
        sort(&mut rows);
        assert_eq!(rows[0], ["x86_64", "bookworm"]);
        assert_eq!(rows[1], ["aarch64", "bullseye"]);
    }
}
