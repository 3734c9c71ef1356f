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

/// A store of `REWIND_ACCEPT_CHECKPOINTS` checkpoints (1,000,000 by default) in 8 sessions:
/// ~3 KB JSON states that share all but ~200 B with their session's previous state, tags on
/// some, closed by its writer (which leaves an index snapshot). What the open-fast figures are
/// measured on.
#[test]
#[ignore = "writes a large store for scripts/acceptance.sh"]
fn store_of_many_checkpoints() {
    let count: u64 = std::env::var("REWIND_ACCEPT_CHECKPOINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let store = rewind::SharedStore::open(
        target(),
        FileOptions::default().durability(rewind::Durability::Never),
    )
    .unwrap();
    let sessions: Vec<_> = (0..8)
        .map(|i| {
            store
                .create_session(&format!("agent {i}"), Default::default())
                .unwrap()
        })
        .collect();
    // Each session's conversation so far: the state is its last 2,800 bytes and a fresh turn.
    let mut history: Vec<String> = (0..8)
        .map(|i| format!("{{\"agent\":{i},\"turns\":["))
        .collect();
    store
        .write(|s| {
            for n in 0..count {
                let which = (n % 8) as usize;
                let turn = hex(&rewind_tests::noise(100, n));
                history[which].push_str(&format!("{{\"n\":{n},\"text\":\"{turn}\"}},"));
                let text = &history[which];
                let tail = &text[text.len().saturating_sub(2800)..];
                let state = format!("{{\"window\":{tail:?}}}");
                let mut new =
                    NewCheckpoint::new(sessions[which], format!("step {n}"), state.as_bytes());
                if n % 10 == 0 {
                    new = new.tag("plan");
                }
                if n % 7 == 0 {
                    new = new.tag("tool");
                }
                s.checkpoint(new)?;
                if history[which].len() > 64 << 10 {
                    let at = history[which].len() - 4096;
                    let keep = history[which].split_off(at);
                    history[which] = keep;
                }
            }
            Ok(())
        })
        .unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
