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

/// How a session's state changes from one step to the next.
#[derive(Clone, Copy, Debug)]
enum Change {
    /// One of sixteen ~200-byte notes in a ~3 KB state is rewritten with fresh text.
    EditInPlace,
    /// A ~200-byte note is appended and the oldest dropped, keeping ~3 KB.
    SlidingWindow,
    /// A ~200-byte note is appended; a session that reaches ~3 KB starts over as a new one.
    Append,
}

/// The log per checkpoint when states change a little at each step: four sessions of ~3 KB
/// JSON states, `count` checkpoints in all. Returns (log bytes, new chunk bytes) per checkpoint.
fn log_per_checkpoint(change: Change, count: usize) -> (f64, f64) {
    let (mut store, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    let mut sessions: Vec<_> = (0..4)
        .map(|i| {
            store
                .create_session(format!("agent {i}"), Default::default())
                .unwrap()
        })
        .collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut fresh_text = move || {
        let mut text = String::with_capacity(200);
        while text.len() < 150 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(&format!("{x:016x} "));
        }
        text.truncate(150);
        text
    };
    let mut notes: Vec<Vec<Value>> = (0..sessions.len())
        .map(|_| {
            (0..16)
                .map(|i| json!({ "slot": i, "role": "note", "content": fresh_text() }))
                .collect()
        })
        .collect();
    for step in 0..count {
        let which = step % sessions.len();
        let list = &mut notes[which];
        let note = json!({ "step": step, "role": "note", "content": fresh_text() });
        match change {
            Change::EditInPlace => {
                let slot = (step / sessions.len()) % list.len();
                list[slot] = note;
            }
            Change::SlidingWindow => {
                list.push(note);
                list.remove(0);
            }
            Change::Append => {
                if list.len() >= 16 {
                    list.clear();
                    sessions[which] = store
                        .create_session(format!("agent {step}"), Default::default())
                        .unwrap();
                }
                list.push(note);
            }
        }
        let state = serde_json::to_vec(&json!({ "agent": which, "notes": list })).unwrap();
        store
            .checkpoint(NewCheckpoint::new(
                sessions[which],
                format!("step {step}"),
                &state,
            ))
            .unwrap();
    }
    let m = store.metrics();
    let log = store.backend().bytes().len() as f64;
    let n = count as f64;
    (log / n, m.stored_bytes as f64 / n)
}

/// A record costs far less than a state's new bytes: chunks named by number, the parent by
/// seq, no stored hashes but a short check (format version 3). Every frame header and seal is
/// counted. A state that changes in place keeps sharing what follows the change.
#[test]
fn a_checkpoint_that_changes_a_little_costs_its_new_bytes_and_a_small_record() {
    let count = std::env::var("REWIND_WINDOW_CHECKPOINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for change in [Change::Append, Change::EditInPlace, Change::SlidingWindow] {
        let (log, chunks) = log_per_checkpoint(change, count);
        let record = log - chunks;
        println!(
            "{change:?}, {count} checkpoints of ~3 KB states: {log:.0} B of log per checkpoint, \
             {chunks:.0} B of new chunk bytes, {record:.0} B of records, frames and seals"
        );
        assert!(
            record <= 150.0,
            "{change:?}: {record:.0} B of record per checkpoint"
        );
        // What the chunker must store of a change depends on where it falls: an append
        // rewrites the last chunk, an edit in the middle the chunks around it.
        if let Change::Append = change {
            assert!(log <= 700.0, "{change:?}: {log:.0} B of log per checkpoint");
        }
    }
}
