//! One deadline type for every wait: no timeout, a timeout too far to represent (both
//! wait for ever), or an instant.

use std::time::{Duration, Instant};

/// When a wait must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// Never: no timeout, or one too far in the future to represent.
    Never,
    /// At this instant.
    At(Instant),
}

impl Deadline {
    /// The deadline `timeout` from now (`None`: never).
    pub(crate) fn after(timeout: Option<Duration>) -> Self {
        match timeout.and_then(|t| Instant::now().checked_add(t)) {
            Some(at) => Self::At(at),
            None => Self::Never,
        }
    }

    /// The time left (zero once passed); `None` for a wait without end.
    pub(crate) fn remaining(self) -> Option<Duration> {
        match self {
            Self::Never => None,
            Self::At(at) => Some(at.saturating_duration_since(Instant::now())),
        }
    }

    /// Whether the deadline has passed.
    pub(crate) fn passed(self) -> bool {
        matches!(self, Self::At(at) if Instant::now() >= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_at_and_passed() {
        assert_eq!(Deadline::after(None), Deadline::Never);
        assert_eq!(Deadline::after(Some(Duration::MAX)), Deadline::Never);
        assert_eq!(Deadline::Never.remaining(), None);
        assert!(!Deadline::Never.passed());
        let zero = Deadline::after(Some(Duration::ZERO));
        assert!(zero.passed());
        assert_eq!(zero.remaining(), Some(Duration::ZERO));
        let later = Deadline::after(Some(Duration::from_secs(3600)));
        assert!(!later.passed());
        assert!(later.remaining().unwrap() > Duration::from_secs(3500));
    }
}
