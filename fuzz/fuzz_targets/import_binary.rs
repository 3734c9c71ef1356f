//! Arbitrary bytes as a binary import into a store with history: an error or a verified import,
//! never a panic, and a rejected import leaves the store as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind_core::NewCheckpoint;
use rewind_fuzz::{empty, read_all, reopens_the_same};

fuzz_target!(|data: &[u8]| {
    let mut store = empty();
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
    reopens_the_same(&store);
});
