//! Arbitrary bytes as the body of an index snapshot (wrapped with a valid checksum, so the
//! decoder is reached) beside a fixed log: opening must return a store or an error, never
//! panic, and a store that opens must answer every read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind_core::conformance::seal_snapshot;
use rewind_core::{DeterministicEnv, MemoryBackend, Options, Query, Store};

/// The log the snapshot claims to describe: the `open_log` seed that uses every record kind.
const LOG: &[u8] = include_bytes!("../seeds/open_log/features");

fuzz_target!(|data: &[u8]| {
    let backend = MemoryBackend::with_snapshot(LOG.to_vec(), Some(seal_snapshot(data)));
    let Ok((store, _)) = Store::open(backend, DeterministicEnv::new(), Options::default()) else {
        return;
    };
    let Ok(page) = store.list(&Query::new()) else {
        return;
    };
    for cp in &page.items {
        let _ = store.state(cp.id);
        let _ = store.annotations(cp.id);
        if let Ok(keys) = store.attachment_keys(cp.id) {
            let keys: Vec<String> = keys.map(String::from).collect();
            for key in keys {
                let _ = store.attachment(cp.id, &key);
            }
        }
        if let Ok(history) = store.history(cp.id) {
            history.for_each(drop);
        }
    }
    for s in store.sessions() {
        let _ = store.branches(s.id);
    }
    let _ = store.verify();
});
