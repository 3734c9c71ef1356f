//! Inputs for the heavy acceptance runs in `scripts/acceptance.sh` (ignored in the test
//! command): each writes a store the script then measures the release CLI on.

use std::fs;
use std::path::PathBuf;

use rewind::{FileOptions, FileStore, NewCheckpoint};

fn target() -> PathBuf {
    PathBuf::from(
        std::env::var_os("REWIND_ACCEPT_DIR").expect("REWIND_ACCEPT_DIR names a new directory"),
    )
}

/// A store whose one 64 MiB frame (an incompressible state) has a flipped byte in its middle,
/// between intact checkpoints: what `rewind repair` must resynchronise past.
#[test]
#[ignore = "writes a 64 MiB store for scripts/acceptance.sh"]
fn store_with_a_damaged_64_mib_frame() {
    let dir = target();
    let mut store = FileStore::open(&dir, FileOptions::default()).unwrap();
    let s = store
        .create_session("acceptance", Default::default())
        .unwrap();
    for n in 0..3u8 {
        store
            .checkpoint(NewCheckpoint::new(s, "before", &[n; 2000]))
            .unwrap();
    }
    let big = rewind_tests::noise(64 << 20, 0x9E37_79B9_7F4A_7C15);
    store
        .checkpoint(NewCheckpoint::new(s, "big", &big))
        .unwrap();
    for n in 0..3u8 {
        store
            .checkpoint(NewCheckpoint::new(s, "after", &[n + 10; 2000]))
            .unwrap();
    }
    drop(store);
    let seg = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&seg, bytes).unwrap();
}
