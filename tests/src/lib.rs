//! Test support shared by rewind's cross-host suites.
//!
//! The suites themselves live in `tests/tests/`: the conformance scenarios of
//! `rewind_core::conformance` run once per backend and host, and each host's transcript of the
//! same scripted run must match the in-memory reference byte for byte.

#![warn(missing_docs)]

pub mod file_harness;
pub mod netns;
pub mod pg_cluster;
pub mod pg_harness;
pub mod pg_writers;
pub mod power_loss;

pub use file_harness::FileHarness;
pub use netns::NetHost;
pub use pg_cluster::PgCluster;
pub use pg_harness::PgHarness;
pub use power_loss::{PowerLossFiles, SimulatedDisk};
/// Temporary directories, removed when dropped.
pub use tempfile::TempDir;

use rewind::{MemoryBackend, Options, Store, SystemEnv};

/// Opens a memory store on log bytes written elsewhere (another host, an export) with the native
/// environment, as a user moving a store between hosts would.
pub fn open_native(log: Vec<u8>) -> rewind::Result<Store<MemoryBackend, SystemEnv>> {
    let (store, _) = Store::open(
        MemoryBackend::from_bytes(log),
        SystemEnv::new(),
        Options::default(),
    )?;
    Ok(store)
}

/// The state the crash writer stores as checkpoint `n`: JSON of a size that varies with `n`
/// (tens of bytes to ~6 KB), so frames of many sizes are cut by the kills.
pub fn crash_state(n: u64) -> Vec<u8> {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let words = (n % 97) * 8;
    let mut text = String::new();
    for _ in 0..words {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(&format!("{:x} ", x & 0xfffff));
    }
    format!("{{\"n\":{n},\"notes\":\"{text}\"}}").into_bytes()
}

/// Incompressible bytes (the engine's conformance helper, shared with its own tests).
pub use rewind_core::conformance::noise;

/// The root README's examples, compiled and run as doctests so the README cannot drift from the
/// API.
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
