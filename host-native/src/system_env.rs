//! The native environment: the system clock and the operating system's randomness.

use std::time::{SystemTime, UNIX_EPOCH};

use rewind_core::Env;

/// [`Env`] backed by [`SystemTime`] and `getrandom`.
///
/// A clock set before 1970 reads as 0; ids stay strictly increasing regardless, because the
/// store counts up from its newest id when the clock stalls or steps back.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemEnv;

impl SystemEnv {
    /// The system environment.
    pub fn new() -> Self {
        SystemEnv
    }
}

impl Env for SystemEnv {
    fn now_ms(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn fill_random(&mut self, buf: &mut [u8]) {
        if getrandom::fill(buf).is_err() {
            // No OS entropy (an exotic sandbox): fall back to clock-derived bytes. Ids stay
            // unique within the store because it orders them itself; across stores they are
            // merely unlikely to collide.
            let seed = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9E37_79B9_7F4A_7C15);
            let mut x = seed | 1;
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_the_present_and_randomness_varies() {
        let mut env = SystemEnv::new();
        // 2024-01-01 in ms: any machine running this is past it.
        assert!(env.now_ms() > 1_704_067_200_000);
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        env.fill_random(&mut a);
        env.fill_random(&mut b);
        assert_ne!(a, b);
    }
}
