//! The unit tests' deterministic random numbers.

/// xorshift64 (13, 7, 17): the same sequence for the same seed, anywhere.
pub(crate) struct Xorshift(pub u64);

impl Xorshift {
    /// The next state.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next state's top 53 bits as a number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
