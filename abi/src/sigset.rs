//! The signal mask argument of `io_pgetevents`.

/// The kernel's own signal set (`sigset_t` inside the kernel): 64 signals, in
/// `unsigned long` words, on every architecture this crate supports (not MIPS, whose 128
/// signals would need 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct kernel_sigset_t {
    /// The signal bits: signal `n` (1-based) is bit `n - 1`.
    pub sig: [usize; 64 / usize::BITS as usize],
}

/// The `sigsetsize` that `io_pgetevents` insists on: the kernel's `sizeof(sigset_t)`.
pub const KERNEL_SIGSET_SIZE: usize = core::mem::size_of::<kernel_sigset_t>();

impl kernel_sigset_t {
    /// A set holding no signal.
    pub const EMPTY: Self = Self {
        sig: [0; 64 / usize::BITS as usize],
    };

    /// Whether signal `signo` (1 to 64) is in the set; `false` for numbers out of range.
    pub const fn contains(&self, signo: u32) -> bool {
        if signo == 0 || signo > 64 {
            return false;
        }
        let bit = (signo - 1) as usize;
        self.sig[bit / usize::BITS as usize] & (1 << (bit % usize::BITS as usize)) != 0
    }

    /// Adds signal `signo` (1 to 64); returns `false`, changing nothing, if it is out of
    /// range.
    ///
    /// ```
    /// let mut set = rawaio_abi::kernel_sigset_t::EMPTY;
    /// assert!(set.insert(10));
    /// assert!(set.contains(10) && !set.contains(11));
    /// assert!(!set.insert(65));
    /// ```
    pub fn insert(&mut self, signo: u32) -> bool {
        if signo == 0 || signo > 64 {
            return false;
        }
        let bit = (signo - 1) as usize;
        self.sig[bit / usize::BITS as usize] |= 1 << (bit % usize::BITS as usize);
        true
    }
}

/// `struct __aio_sigset`: the last argument of `io_pgetevents`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct __aio_sigset {
    /// The mask to apply while waiting, or null to leave the thread's mask alone.
    pub sigmask: *const kernel_sigset_t,
    /// Must be [`KERNEL_SIGSET_SIZE`], else `EINVAL`.
    pub sigsetsize: usize,
}

impl Default for __aio_sigset {
    fn default() -> Self {
        Self {
            sigmask: core::ptr::null(),
            sigsetsize: KERNEL_SIGSET_SIZE,
        }
    }
}
