//! Arbitrary bytes as a store's log: opening must return a store or an error, never panic, and a
//! store that opens must answer every read, then take writes and a compaction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind_core::{
    DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Query, RetentionPolicy, Store,
};
use rewind_fuzz::reopens_the_same;

fuzz_target!(|data: &[u8]| {
    let backend = MemoryBackend::from_bytes(data.to_vec());
    let Ok((mut store, _)) = Store::open(backend, DeterministicEnv::new(), Options::default())
    else {
        return;
    };
    let ids: Vec<_> = match store.list(&Query::new()) {
        Ok(page) => page.items.iter().map(|c| c.id).collect(),
        Err(_) => return,
    };
    for &id in &ids {
        let _ = store.state(id);
        let _ = store.diff(id, id);
        let keys: Vec<String> = match store.attachment_keys(id) {
            Ok(keys) => keys.map(String::from).collect(),
            Err(_) => Vec::new(),
        };
        for key in keys {
            let _ = store.attachment(id, &key);
        }
        let _ = store.annotations(id);
        if let Ok(history) = store.history(id) {
            history.for_each(drop);
        }
    }
    let _ = store.verify();
    let _ = store.export_json(None);
    let _ = store.export_binary(None);
    // Writes on top of what loaded: a child of the newest checkpoint, with an attachment that
    // derives from its parent's, then a compaction that rewrites the log.
    if let Some(&newest) = ids.first() {
        if let Ok(cp) = store.get(newest) {
            let session = cp.session;
            let new = NewCheckpoint::new(session, "fuzz", b"{\"k\":1}")
                .parent(newest)
                .attach("c:messages", "application/json", b"[1,2,3]");
            let _ = store.checkpoint(new);
        }
    }
    let _ = store.compact(&RetentionPolicy::keep_last(1));
    let _ = store.vacuum();
    reopens_the_same(&store);
});
