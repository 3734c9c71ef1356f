//! Arbitrary bytes as the body of an index snapshot's delta (made to name a good snapshot of a
//! fixed log and that snapshot's point, with a valid checksum, so the delta is applied): opening
//! must return a store or an error, never panic, and a store that opens must answer every read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind_core::conformance::{seal_snapshot, seal_snapshot_delta};
use rewind_core::{DeterministicEnv, MemoryBackend, Options, Query, Store};

/// The log, and the body of a good snapshot of it: the seeds of `open_log` and `open_snapshot`.
const LOG: &[u8] = include_bytes!("../seeds/open_log/features");
const SNAPSHOT: &[u8] = include_bytes!("../seeds/open_snapshot/features");

fuzz_target!(|data: &[u8]| {
    let snapshot = seal_snapshot(SNAPSHOT);
    let delta = seal_snapshot_delta(data, &snapshot);
    let backend =
        MemoryBackend::with_snapshot(LOG.to_vec(), Some(snapshot)).with_snapshot_delta(Some(delta));
    let Ok((store, _)) = Store::open(backend, DeterministicEnv::new(), Options::default()) else {
        return;
    };
    let Ok(page) = store.list(&Query::new()) else {
        return;
    };
    for cp in &page.items {
        let _ = store.state(cp.id);
        let _ = store.annotations(cp.id);
        if let Ok(history) = store.history(cp.id) {
            history.for_each(drop);
        }
    }
    for s in store.sessions() {
        let _ = store.branches(s.id);
        let _ = store.latest(s.id);
    }
    let _ = store.verify();
});
