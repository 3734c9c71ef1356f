//! In-memory benchmarks of the core engine that have no counterpart in the reference suite:
//! creates that hit deduplication, and the bytes and time of a growing conversation (the
//! reference suite's groups are in the `suite` bench).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rewind_benches::{agent_state, conversation_step, memory_store};
use rewind_core::NewCheckpoint;

/// rewind's dedup hit: the same 64 states again and again, so every chunk is already stored and
/// a create writes only its record (the like-for-like creates, each with a fresh state, are in
/// the `suite` bench).
fn repeat_state(c: &mut Criterion) {
    let mut group = c.benchmark_group("checkpoint_creation");
    for (name, bytes) in [("repeat_state_200b", 200), ("repeat_state_10kb", 10 * 1024)] {
        let states: Vec<Vec<u8>> = (0..64).map(|i| agent_state(bytes, i)).collect();
        let mut store = memory_store();
        let session = store.create_session("bench", Default::default()).unwrap();
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let state = &states[i % states.len()];
                black_box(
                    store
                        .checkpoint(NewCheckpoint::new(session, "step", state))
                        .unwrap()
                        .seq,
                )
            })
        });
    }
    group.finish();
}

/// Not a timing: the bytes a 1,000-step growing conversation (+1 KB per step) stores, printed
/// beside the sum of its state sizes.
fn dedup(c: &mut Criterion) {
    let mut store = memory_store();
    let session = store.create_session("dedup", Default::default()).unwrap();
    for n in 1..=1000 {
        let state = conversation_step(n, 1024);
        store
            .checkpoint(NewCheckpoint::new(session, "turn", &state))
            .unwrap();
    }
    let m = store.metrics();
    println!(
        "dedup: 1000 steps, {} logical bytes, {} chunk bytes stored ({:.0}x), log {} bytes ({:.0}x)",
        m.logical_bytes,
        m.stored_bytes,
        m.dedup_ratio(),
        m.log_bytes,
        m.logical_bytes as f64 / m.log_bytes as f64
    );
    let mut group = c.benchmark_group("dedup");
    let state = conversation_step(1000, 1024);
    group.throughput(Throughput::Bytes(state.len() as u64));
    group.bench_function("checkpoint_growing_1mb", |b| {
        b.iter(|| {
            black_box(
                store
                    .checkpoint(NewCheckpoint::new(session, "turn", &state))
                    .unwrap()
                    .seq,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, repeat_state, dedup);
criterion_main!(benches);
