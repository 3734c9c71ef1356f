//! Arbitrary bytes as a store's log: opening must return a store or an error, never panic, and a
//! store that opens must answer every read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind_core::{DeterministicEnv, MemoryBackend, Options, Query, Store};

fuzz_target!(|data: &[u8]| {
    let backend = MemoryBackend::from_bytes(data.to_vec());
    if let Ok((mut store, _)) = Store::open(backend, DeterministicEnv::new(), Options::default()) {
        let ids: Vec<_> = match store.list(&Query::new()) {
            Ok(page) => page.items.iter().map(|c| c.id).collect(),
            Err(_) => return,
        };
        for id in ids {
            let _ = store.state(id);
            let _ = store.diff(id, id);
        }
        let _ = store.verify();
        let _ = store.export_json(None);
        let _ = store.vacuum();
    }
});
