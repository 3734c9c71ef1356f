//! Every write, accepted or refused, leaves a log that reopens into the same store: the
//! conformance scenario `random_writes` (every host runs a few seeds) over many more seeds, each
//! write checked against a copy of the log.
//!
//! Seeds: 400 by default; set `REOPEN_SEEDS` for more.

use rewind_core::conformance::{MemoryHarness, random_writes_seeds};

#[test]
fn every_write_leaves_a_log_that_reopens_into_the_same_store() {
    let seeds: u64 = std::env::var("REOPEN_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    random_writes_seeds(&mut MemoryHarness, 1..=seeds);
}
