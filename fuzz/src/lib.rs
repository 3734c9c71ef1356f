//! Checks the fuzz targets share.

use rewind_core::{DeterministicEnv, MemoryBackend, Options, Query, Store};

/// The stores the targets drive.
pub type MemStore = Store<MemoryBackend, DeterministicEnv>;

/// A new, empty store.
pub fn empty() -> MemStore {
    Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .expect("an empty log opens")
    .0
}

/// Every state and attachment of the store reads back.
pub fn read_all(store: &MemStore) {
    let page = store.list(&Query::new()).expect("list");
    for cp in &page.items {
        store.state(cp.id).expect("state");
        for key in store.attachment_keys(cp.id).expect("keys") {
            store
                .attachment(cp.id, key)
                .expect("attachment")
                .expect("listed");
        }
    }
}

/// Whatever a write returned, the log opens again into the store held in memory: a write that
/// failed after reaching the log would otherwise make the store unopenable.
pub fn reopens_the_same(store: &MemStore) {
    rewind_core::conformance::assert_log_reopens_the_same(store, "fuzz input");
}
