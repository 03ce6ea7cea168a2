//! Records the runs in docs/abi.md: the "verified on a real kernel" column of the
//! Targets table gets the kernel and the date, for each architecture that passed.

use crate::vm::Report;
use std::path::Path;

/// The column's header.
pub const COLUMN: &str = "verified on a real kernel";

/// Updates the rows of the architectures that passed; returns their names.
pub fn update(path: &Path, reports: &[Report]) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let date = today();
    let mut in_targets = false;
    let mut column = None;
    let mut updated = Vec::new();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut line = line.to_string();
        if line.starts_with("## ") {
            in_targets = line == "## Targets";
        }
        if in_targets && line.starts_with("| target") {
            column = cells(&line).iter().position(|c| c == COLUMN);
            if column.is_none() {
                return Err(format!(
                    "{}: the Targets table has no {COLUMN:?} column",
                    path.display()
                ));
            }
        } else if let (true, Some(col)) = (in_targets && line.starts_with('|'), column) {
            let mut row = cells(&line);
            for r in reports.iter().filter(|r| r.ok()) {
                if row.first().map(String::as_str) == Some(r.arch.doc_row) && col < row.len() {
                    let release = r.kernel_release().unwrap_or("?");
                    let version = r.package.as_ref().map_or("?", |p| p.1.as_str());
                    row[col] = format!("{release} (Debian {version}), qemu-system, {date}");
                    line = format!("| {} |", row.join(" | "));
                    updated.push(r.arch.name.to_string());
                }
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(updated)
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
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
}
