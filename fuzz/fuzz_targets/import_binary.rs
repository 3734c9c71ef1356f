//! Arbitrary bytes as a binary import into a store with history: an error or a verified import,
//! never a panic, and a rejected import leaves the store as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind_core::{DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Query, Store};

fuzz_target!(|data: &[u8]| {
    let (mut store, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    let s = store.create_session("own", Default::default()).unwrap();
    store
        .checkpoint(NewCheckpoint::new(s, "own", b"{}"))
        .unwrap();
    let before = store.metrics();
    match store.import_binary(data) {
        Ok(_) => {
            assert!(store.verify().is_ok());
            read_all(&store);
        }
        Err(_) => assert_eq!(store.metrics().checkpoints, before.checkpoints),
    }
});

/// Every state and attachment of an accepted import reads back.
fn read_all(store: &Store<MemoryBackend, DeterministicEnv>) {
    let page = store.list(&Query::new()).unwrap();
    for cp in &page.items {
        store.state(cp.id).unwrap();
        for key in store.attachment_keys(cp.id).unwrap() {
            store.attachment(cp.id, key).unwrap().unwrap();
        }
    }
}
