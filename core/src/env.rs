//! The host environment: a clock and a source of randomness.
//!
//! Core has neither of its own, so that it runs unchanged in a browser, a native program and a
//! sandbox. Hosts pass an [`Env`]; tests pass a [`DeterministicEnv`], which makes whole runs
//! reproducible byte for byte (same ids, same timestamps, same log).

/// Clock and entropy supplied by the host.
pub trait Env {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&mut self) -> u64;
    /// Fills `buf` with random bytes (used for the random part of UUID v7 ids).
    fn fill_random(&mut self, buf: &mut [u8]);
}

impl<E: Env + ?Sized> Env for &mut E {
    fn now_ms(&mut self) -> u64 {
        (**self).now_ms()
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        (**self).fill_random(buf)
    }
}

/// A reproducible [`Env`]: the clock starts at `start_ms` and advances by `step_ms` on every
/// reading; randomness comes from a seeded xorshift generator.
#[derive(Clone, Debug)]
pub struct DeterministicEnv {
    now: u64,
    step: u64,
    rng: u64,
}

impl DeterministicEnv {
    /// A clock starting at 2026-01-01T00:00:00Z that advances 1 ms per reading, seed 1.
    pub fn new() -> Self {
        Self::with(1_767_225_600_000, 1, 1)
    }

    /// A clock at `start_ms` advancing `step_ms` per reading, with random bytes from `seed`.
    pub fn with(start_ms: u64, step_ms: u64, seed: u64) -> Self {
        DeterministicEnv {
            now: start_ms,
            step: step_ms,
            // xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// Moves the clock forward by `ms` without reading it.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now.saturating_add(ms);
    }

    /// Sets the clock to `ms`.
    pub fn set_now(&mut self, ms: u64) {
        self.now = ms;
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

impl Default for DeterministicEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for DeterministicEnv {
    fn now_ms(&mut self) -> u64 {
        let now = self.now;
        self.now = self.now.saturating_add(self.step);
        now
    }

    fn fill_random(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
