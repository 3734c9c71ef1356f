//! Every write, accepted or refused, leaves a log that reopens into the same store: the
//! conformance scenario `random_writes` (every host runs a few seeds) over many more seeds, each
//! write checked against a copy of the log.
//!
//! Seeds: 400 by default; set `REOPEN_SEEDS` for more.

use rewind_core::conformance::{MemoryHarness, RandomFaultsHarness, random_writes_seeds};

#[test]
fn every_write_leaves_a_log_that_reopens_into_the_same_store() {
    random_writes_seeds(&mut MemoryHarness, 1..=seeds("REOPEN_SEEDS", 400));
}

/// How many seeds to run: `var` from the environment, or `default`.
fn seeds(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The same random writes on backends whose appends and rewrite steps fail at random (10% of
/// calls): every refused write leaves the store in memory exactly as a reopen of its log finds
/// it, and the log verifies.
///
/// Seeds: 200 by default; set `FAULT_SEEDS` for more.
#[test]
fn writes_refused_by_random_backend_failures_leave_memory_equal_to_a_reopen() {
    let mut harness = RandomFaultsHarness {
        seed: 7,
        percent: 10,
        most_fired: 0,
    };
    random_writes_seeds(&mut harness, 1..=seeds("FAULT_SEEDS", 200));
    assert!(harness.most_fired > 0, "no failure was injected");
}
