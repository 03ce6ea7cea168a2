//! Sizes in bytes as they are written on a command line: `4096`, `4k`, `256m`, `2g`.

/// Parses `4096`, `4k`, `4K`, `4KiB`, `1m`, `256m`, `2g`, `1t`: bytes, in powers of 1024.
/// `None` for anything else, and for a size that does not fit a `u64`.
///
/// # Examples
///
/// ```
/// use rawaio_tools::size::parse_size;
/// assert_eq!(parse_size("4k"), Some(4096));
/// assert_eq!(parse_size("256MiB"), Some(256 << 20));
/// assert_eq!(parse_size("1x"), None);
/// assert_eq!(parse_size("k"), None);
/// ```
pub fn parse_size(s: &str) -> Option<u64> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(digits);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    n.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// `4k`, `1m`, `128m`: the largest power-of-1024 unit that divides `n`, or plain bytes.
///
/// # Examples
///
/// ```
/// use rawaio_tools::size::fmt_bytes;
/// assert_eq!(fmt_bytes(4096), "4k");
/// assert_eq!(fmt_bytes(128 << 20), "128m");
/// assert_eq!(fmt_bytes(1536), "1536");
/// ```
pub fn fmt_bytes(n: u64) -> String {
    for (shift, unit) in [(40, "t"), (30, "g"), (20, "m"), (10, "k")] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip() {
        for n in [512, 4096, 65536, 1 << 20, 3 << 30, 1 << 40] {
            assert_eq!(parse_size(&fmt_bytes(n)), Some(n), "{n}");
        }
        assert_eq!(parse_size("99999999999t"), None, "overflow");
        assert_eq!(parse_size(""), None);
    }
}
