//! The one place a raw syscall return becomes a `Result`.

use rustix::io::Errno;

/// Decodes a raw syscall return: a value in `-4095..=-1` (as a signed word) is an errno,
/// anything else a result.
#[inline]
pub(crate) fn decode(raw: usize) -> Result<usize, Errno> {
    if raw > (-4096isize) as usize {
        Err(Errno::from_raw_os_error(raw.wrapping_neg() as i32))
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_range_is_exactly_minus_4095_to_minus_1() {
        assert_eq!(decode(0), Ok(0));
        assert_eq!(decode(12345), Ok(12345));
        assert_eq!(decode((-1isize) as usize), Err(Errno::PERM));
        assert_eq!(decode((-22isize) as usize), Err(Errno::INVAL));
        assert_eq!(decode((-115isize) as usize), Err(Errno::INPROGRESS));
        assert_eq!(
            decode((-4095isize) as usize).map_err(|e| e.raw_os_error()),
            Err(4095)
        );
        // One below the range is a value (a high address, say), not an error.
        assert_eq!(decode((-4096isize) as usize), Ok((-4096isize) as usize));
        assert_eq!(decode(usize::MAX / 2), Ok(usize::MAX / 2));
    }
}
