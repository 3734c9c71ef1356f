//! Arbitrary bytes as a JSON import: an error or a verified import, never a panic, and a rejected
//! import leaves the store as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind_core::{DeterministicEnv, MemoryBackend, Options, Store};

fuzz_target!(|data: &[u8]| {
    let (mut store, _) =
        Store::open(MemoryBackend::new(), DeterministicEnv::new(), Options::default()).unwrap();
    match store.import_json(data) {
        Ok(_) => assert!(store.verify().is_ok()),
        Err(_) => assert_eq!(store.metrics().checkpoints, 0),
    }
});
