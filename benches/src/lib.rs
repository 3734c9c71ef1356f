//! Workloads shared by rewind's benchmarks, so every host measures the same inputs.

#![warn(missing_docs)]

use rewind_core::{DeterministicEnv, MemoryBackend, Options, Store};
use serde_json::json;

/// The store every in-memory bench uses.
pub type BenchStore = Store<MemoryBackend, DeterministicEnv>;

/// A fresh in-memory store.
pub fn memory_store() -> BenchStore {
    let (store, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default().event_capacity(0),
    )
    .expect("an empty memory store opens");
    store
}

/// An agent state of about `bytes` bytes: a JSON conversation whose content varies with `seed`
/// (the reference suite's default checkpoint carries ~3 KB).
pub fn agent_state(bytes: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut messages = Vec::new();
    let mut size = 0;
    while size < bytes {
        let mut text = String::new();
        for _ in 0..24 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(&format!("{:x} ", x & 0xffff));
        }
        size += text.len() + 32;
        messages.push(json!({"role": "assistant", "content": text}));
    }
    serde_json::to_vec(&json!({ "messages": messages, "step": seed })).expect("JSON encodes")
}

/// A growing conversation: step `n` holds `n` messages of about `bytes_per_step` bytes each.
pub fn conversation_step(n: usize, bytes_per_step: usize) -> Vec<u8> {
    let messages: Vec<_> = (0..n)
        .map(|i| {
            let state = agent_state(bytes_per_step.saturating_sub(40), i as u64 + 1);
            json!({"turn": i, "content": String::from_utf8_lossy(&state)})
        })
        .collect();
    serde_json::to_vec(&json!({ "messages": messages })).expect("JSON encodes")
}

/// A directory for a bench's store, removed when dropped.
pub use tempfile::TempDir;

/// Where the sandbox component is: `REWIND_SANDBOX_WASM`, or the workspace's build of it.
pub fn sandbox_component() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("REWIND_SANDBOX_WASM") {
        return path.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("wasm32-wasip2/release/rewind_store.wasm")
}
