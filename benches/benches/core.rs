//! In-memory benchmarks of the core engine. Group names follow the reference suite so results
//! line up (see benches/README.md).

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rewind_benches::{agent_state, conversation_step, memory_store, populated};
use rewind_core::{NewCheckpoint, Query, RetentionPolicy};

const STATE_BYTES: usize = 3 * 1024;

fn checkpoint_creation(c: &mut Criterion) {
    let mut group = c.benchmark_group("checkpoint_creation");
    for (name, bytes) in [
        ("single", STATE_BYTES),
        ("single_200b", 200),
        ("single_10kb", 10 * 1024),
    ] {
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

    let mut group = c.benchmark_group("checkpoint_creation_batch");
    for n in [10usize, 100, 1000] {
        let states: Vec<Vec<u8>> = (0..n as u64).map(|i| agent_state(STATE_BYTES, i)).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || {
                    let mut store = memory_store();
                    let s = store.create_session("bench", Default::default()).unwrap();
                    (store, s)
                },
                |(mut store, s)| {
                    for state in &states {
                        store
                            .checkpoint(NewCheckpoint::new(s, "step", state))
                            .unwrap();
                    }
                    store
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("checkpoint_with_tags");
    let states: Vec<Vec<u8>> = (0..64).map(|i| agent_state(STATE_BYTES, i)).collect();
    let mut store = memory_store();
    let session = store.create_session("bench", Default::default()).unwrap();
    let mut i = 0usize;
    group.bench_function("with_3_tags", |b| {
        b.iter(|| {
            i += 1;
            let new = NewCheckpoint::new(session, "step", &states[i % states.len()]).tags([
                "plan",
                "tool",
                "important",
            ]);
            black_box(store.checkpoint(new).unwrap().seq)
        })
    });
    group.finish();
}

fn queries_and_reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("query_operations");
    let (store, session) = populated(100, STATE_BYTES);
    group.bench_function("list_all", |b| {
        b.iter(|| black_box(store.list(&Query::new()).unwrap().items.len()))
    });
    group.bench_function("list_by_session", |b| {
        b.iter(|| {
            black_box(
                store
                    .list(&Query::new().session(session))
                    .unwrap()
                    .items
                    .len(),
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group("restore");
    let (mut store, session) = populated(100, 10 * 1024);
    let target = store.latest(session).unwrap().unwrap().id;
    group.bench_function("single", |b| {
        b.iter(|| black_box(store.restore(target).unwrap().state.len()))
    });
    group.finish();
}

fn compaction(c: &mut Criterion) {
    let mut group = c.benchmark_group("compaction");
    group.sample_size(20);
    for n in [100usize, 500, 1000] {
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || populated(n, STATE_BYTES).0,
                |mut store| {
                    store.compact(&RetentionPolicy::keep_last(10)).unwrap();
                    store
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn export(c: &mut Criterion) {
    let mut group = c.benchmark_group("export");
    for n in [10usize, 100, 500] {
        let (mut store, _) = populated(n, STATE_BYTES);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("binary", n), &n, |b, _| {
            b.iter(|| black_box(store.export_binary(None).unwrap().len()))
        });
        group.bench_with_input(BenchmarkId::new("json", n), &n, |b, _| {
            b.iter(|| black_box(store.export_json(None).unwrap().len()))
        });
    }
    group.finish();
}

fn service_operations(c: &mut Criterion) {
    let mut group = c.benchmark_group("service_operations");
    let mut store = memory_store();
    group.bench_function("create_session", |b| {
        b.iter(|| black_box(store.create_session("s", Default::default()).unwrap()))
    });
    let (store, _) = populated(100, STATE_BYTES);
    group.bench_function("metrics", |b| {
        b.iter(|| black_box(store.metrics().checkpoints))
    });
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

criterion_group!(
    benches,
    checkpoint_creation,
    queries_and_reads,
    compaction,
    export,
    service_operations,
    dedup
);
criterion_main!(benches);
