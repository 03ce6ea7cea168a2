//! What goes where: the data pattern of a block, random numbers, and the order in which
//! a pass visits blocks.

pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The step between consecutive 8-byte words of a pattern.
pub const WORD_STEP: u64 = 0x9e37_79b9_7f4a_7c15;

/// Fills `buf` (a multiple of 8 bytes) with the pattern of the block at `offset`: words
/// that follow from a hash of the offset and `seed`, so a block read from the wrong place
/// or left over from an earlier run does not match.
pub fn fill_pattern(buf: &mut [u8], offset: u64, seed: u64) {
    let mut word = splitmix64(seed ^ offset);
    for chunk in buf.chunks_exact_mut(8) {
        chunk.copy_from_slice(&word.to_le_bytes());
        word = word.wrapping_add(WORD_STEP);
    }
}

/// The first byte of a block that differs from its pattern.
pub struct Mismatch {
    /// Its offset in the target.
    pub at: u64,
    pub expected: u64,
    pub found: u64,
}

/// The first byte of `buf` that differs from the pattern of the block at `offset`.
pub fn check_pattern(buf: &[u8], offset: u64, seed: u64) -> Option<Mismatch> {
    let mut word = splitmix64(seed ^ offset);
    for (i, chunk) in buf.chunks_exact(8).enumerate() {
        let found = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if found != word {
            let byte = chunk
                .iter()
                .zip(word.to_le_bytes())
                .position(|(a, b)| *a != b)
                .unwrap_or(0);
            return Some(Mismatch {
                at: offset + (i * 8 + byte) as u64,
                expected: word,
                found,
            });
        }
        word = word.wrapping_add(WORD_STEP);
    }
    None
}

/// xorshift64*: fast, and good enough to spread offsets.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(splitmix64(seed) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (multiply-high, no division).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// Which block the `i`-th request of a pass goes to.
pub enum Order {
    /// `first, first + 1, ...`, wrapping within `len` blocks.
    Sequential { first: u64, len: u64 },
    /// Uniformly random over the whole target.
    Random { blocks: u64, rng: XorShift },
    /// Every block of `first..first + len` once, in a scrambled order
    /// (`i * stride mod len`, with `stride` coprime to `len`).
    Permuted {
        first: u64,
        len: u64,
        stride: u64,
        start: u64,
    },
}

impl Order {
    pub fn permuted(first: u64, len: u64, seed: u64) -> Self {
        let mut rng = XorShift::new(seed);
        let mut stride = rng.below(len) | 1;
        while gcd(stride, len) != 1 {
            stride += 1;
        }
        Self::Permuted {
            first,
            len,
            stride,
            start: rng.below(len),
        }
    }

    pub fn block(&mut self, i: u64) -> u64 {
        match self {
            Self::Sequential { first, len } => *first + i % *len,
            Self::Random { blocks, rng } => rng.below(*blocks),
            Self::Permuted {
                first,
                len,
                stride,
                start,
            } => {
                let step = (u128::from(i) * u128::from(*stride)) % u128::from(*len);
                *first + ((step as u64 + *start) % *len)
            }
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Part `i` of `parts` of `0..total`: `(first, len)`.
pub fn share(total: u64, parts: usize, i: usize) -> (u64, u64) {
    let at = |k: usize| (u128::from(total) * k as u128 / parts as u128) as u64;
    (at(i), at(i + 1) - at(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_detects_any_changed_byte() {
        let mut buf = vec![0u8; 4096];
        fill_pattern(&mut buf, 8192, 7);
        assert!(check_pattern(&buf, 8192, 7).is_none());
        assert!(check_pattern(&buf, 4096, 7).is_some(), "wrong offset");
        assert!(check_pattern(&buf, 8192, 8).is_some(), "wrong seed");
        buf[1234] ^= 0x10;
        assert_eq!(check_pattern(&buf, 8192, 7).unwrap().at, 8192 + 1234);
    }

    #[test]
    fn permutation_visits_every_block_once() {
        for len in [1, 2, 3, 64, 97, 1000] {
            let mut order = Order::permuted(10, len, len);
            let mut seen = vec![false; len as usize];
            for i in 0..len {
                let block = order.block(i);
                assert!((10..10 + len).contains(&block));
                assert!(!std::mem::replace(&mut seen[(block - 10) as usize], true));
            }
        }
    }

    #[test]
    fn random_offsets_stay_in_range() {
        let mut order = Order::Random {
            blocks: 7,
            rng: XorShift::new(3),
        };
        let mut seen = [false; 7];
        for i in 0..1000 {
            let b = order.block(i);
            assert!(b < 7);
            seen[b as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "1000 draws cover 7 blocks");
    }

    #[test]
    fn shares_cover_the_whole() {
        let parts: Vec<_> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(parts, [(0, 3), (3, 3), (6, 4)]);
        assert_eq!(share(u64::MAX, 2, 1).1, u64::MAX - u64::MAX / 2);
    }
}
