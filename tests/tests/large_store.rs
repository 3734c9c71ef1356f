//! A store holding more unique state than it should ever hold in memory: 2 GiB of random states
//! opens in a fresh process with resident memory far below that, because chunk bytes stay in
//! the segment files and only the index is loaded.

use std::process::Command;

use rewind::{Durability, FileOptions, NewCheckpoint, SharedStore};
use rewind_tests::TempDir;

const STATE_BYTES: usize = 8 << 20;
const STATES: usize = 256; // 2 GiB

fn random_state(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(STATE_BYTES);
    while out.len() < STATE_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

#[test]
fn two_gib_of_state_opens_with_a_small_resident_set() {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join("store");
    let ids = {
        let store =
            SharedStore::open(&path, FileOptions::default().durability(Durability::Never)).unwrap();
        let session = store.create_session("large", Default::default()).unwrap();
        let ids: Vec<_> = (0..STATES as u64)
            .map(|i| {
                let state = random_state(i);
                let new = NewCheckpoint::new(session, format!("blob {i}"), &state)
                    .content_type("application/octet-stream");
                store.checkpoint(new).unwrap().id
            })
            .collect();
        store.flush().unwrap();
        let m = store.metrics();
        assert!(
            m.stored_bytes >= (STATES * STATE_BYTES) as u64,
            "all unique"
        );
        ids
    };
    let disk: u64 = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        disk >= 2 << 30,
        "the store holds at least 2 GiB ({disk} bytes)"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .args(["open", &path.display().to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    assert_eq!(words.next(), Some("peak_rss_kb"), "child said: {text}");
    let peak_kb: u64 = words.next().and_then(|w| w.parse().ok()).unwrap();
    assert_eq!(words.nth(1), Some(STATES.to_string().as_str()));
    let peak = peak_kb * 1024;
    eprintln!(
        "opened {disk} bytes of store with a peak resident set of {peak} bytes ({:.1}%)",
        peak as f64 * 100.0 / disk as f64
    );
    assert!(
        peak * 10 < disk,
        "peak RSS {peak} is not far below the {disk}-byte store"
    );

    // And the data is all there, read back by offset.
    let store = SharedStore::open(&path, FileOptions::default()).unwrap();
    for i in [0usize, 77, STATES - 1] {
        assert_eq!(store.state(ids[i]).unwrap(), random_state(i as u64));
    }
}
