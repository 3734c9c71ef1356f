//! Deduplication of a growing conversation: the case agents hit on every step.

use rewind_core::{DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Store};
use serde_json::{Value, json};

/// 1,000 steps, each appending a message of about 1 KB of fresh text.
fn growing_conversation() -> Vec<Vec<u8>> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut messages: Vec<Value> = Vec::new();
    let mut states = Vec::new();
    for step in 0..1000 {
        let mut text = String::with_capacity(1024);
        while text.len() < 1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(&format!("{:016x} ", x));
        }
        text.truncate(1000);
        let role = if step % 2 == 0 { "user" } else { "assistant" };
        messages.push(json!({ "role": role, "content": text }));
        states.push(serde_json::to_vec(&json!({ "messages": messages })).unwrap());
    }
    states
}

#[test]
fn a_growing_conversation_stores_each_byte_about_once() {
    let states = growing_conversation();
    let (mut store, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    let session = store.create_session("chat", Default::default()).unwrap();
    for (i, state) in states.iter().enumerate() {
        store
            .checkpoint(NewCheckpoint::new(session, format!("turn {i}"), state))
            .unwrap();
    }
    let sum: u64 = states.iter().map(|s| s.len() as u64).sum();
    // Each state is a prefix-extension of the previous one: the unique content is the last.
    let unique = states.last().unwrap().len() as u64;
    let m = store.metrics();
    let log = store.backend().bytes().len() as u64;
    println!(
        "sum of states {sum}, unique {unique}, chunk bytes {} ({:.2}x unique), log {log} ({:.2}x unique), {:.0}x smaller than the sum",
        m.stored_bytes,
        m.stored_bytes as f64 / unique as f64,
        log as f64 / unique as f64,
        sum as f64 / log as f64
    );
    assert_eq!(m.logical_bytes, sum);
    assert!(
        sum > 400 * unique,
        "the sum of states is ~500x the unique bytes"
    );
    assert!(
        m.stored_bytes * 2 <= unique * 3,
        "chunk bytes {} exceed 1.5x the unique {unique}",
        m.stored_bytes
    );
    // The whole log, records and framing included, stays far below the sum of the states.
    assert!(
        log * 100 <= sum,
        "log {log} is not 100x below the sum {sum}"
    );
    // Every state is still complete on its own.
    for (i, cp) in store
        .list(&rewind_core::Query::new().order(rewind_core::Order::Ascending))
        .unwrap()
        .items
        .iter()
        .enumerate()
        .step_by(97)
    {
        assert_eq!(store.state(cp.id).unwrap(), states[i]);
    }
}
