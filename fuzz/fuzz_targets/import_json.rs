//! Arbitrary bytes as a JSON import: an error or a verified import, never a panic, and a rejected
//! import leaves the store as it was; either way the log opens again into the same store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind_fuzz::{empty, read_all, reopens_the_same};

fuzz_target!(|data: &[u8]| {
    let mut store = empty();
    match store.import_json(data) {
        Ok(_) => {
            assert!(store.verify().is_ok());
            read_all(&store);
        }
        Err(_) => assert_eq!(store.metrics().checkpoints, 0),
    }
    reopens_the_same(&store);
});
