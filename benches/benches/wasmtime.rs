//! The same workloads inside wasmtime, through the sandbox component (group names prefixed
//! with `wasmtime/`), for the native/wasm ratio.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use rewind_benches::{agent_state, sandbox_component};
use rewind_core::{DeterministicEnv, MemoryBackend};
use rewind_sandbox::{Limits, Sandbox, SandboxStore, input, options, query, retention};

const STATE_BYTES: usize = 3 * 1024;

fn open(sandbox: &Sandbox) -> (SandboxStore, String) {
    let mut store = sandbox
        .open(MemoryBackend::new(), DeterministicEnv::new(), &options())
        .unwrap()
        .unwrap();
    let session = store.create_session("bench", "").unwrap().unwrap();
    (store, session)
}

fn populated(sandbox: &Sandbox, n: usize, bytes: usize) -> (SandboxStore, String, Vec<String>) {
    let (mut store, session) = open(sandbox);
    let ids = (0..n)
        .map(|i| {
            let state = agent_state(bytes, i as u64);
            store
                .checkpoint(&input(&session, "step"), &state)
                .unwrap()
                .unwrap()
                .id
        })
        .collect();
    (store, session, ids)
}

fn wasmtime_workloads(c: &mut Criterion) {
    let sandbox = Sandbox::from_file(sandbox_component(), Limits::default())
        .expect("the sandbox component is built (see host-wasm/sandbox/README.md)");
    let mut group = c.benchmark_group("wasmtime");

    let states: Vec<Vec<u8>> = (0..64).map(|i| agent_state(STATE_BYTES, i)).collect();
    let (mut store, session) = open(&sandbox);
    let inp = input(&session, "step");
    let mut i = 0usize;
    group.bench_function("checkpoint_creation/single", |b| {
        b.iter(|| {
            i += 1;
            black_box(
                store
                    .checkpoint(&inp, &states[i % states.len()])
                    .unwrap()
                    .unwrap()
                    .seq,
            )
        })
    });

    let (mut store, session, _) = populated(&sandbox, 100, STATE_BYTES);
    let all = query();
    let mut by_session = query();
    by_session.session = Some(session);
    group.bench_function("query_operations/list_all", |b| {
        b.iter(|| black_box(store.list(&all).unwrap().unwrap().items.len()))
    });
    group.bench_function("query_operations/list_by_session", |b| {
        b.iter(|| black_box(store.list(&by_session).unwrap().unwrap().items.len()))
    });

    let (mut store, _, ids) = populated(&sandbox, 100, 10 * 1024);
    let last = ids.last().unwrap().clone();
    group.bench_function("restore/single", |b| {
        b.iter(|| black_box(store.restore(&last).unwrap().unwrap().len()))
    });

    for n in [100usize, 1000] {
        group.bench_with_input(BenchmarkId::new("compaction", n), &n, |b, &n| {
            b.iter_batched(
                || populated(&sandbox, n, STATE_BYTES).0,
                |mut store| {
                    let mut keep = retention();
                    keep.keep_last = Some(10);
                    store.compact(&keep).unwrap().unwrap();
                    store
                },
                BatchSize::LargeInput,
            )
        });
    }
    for n in [100usize, 500] {
        let (mut store, _, _) = populated(&sandbox, n, STATE_BYTES);
        group.bench_with_input(BenchmarkId::new("export/binary", n), &n, |b, _| {
            b.iter(|| black_box(store.export_binary().unwrap().unwrap().len()))
        });
    }
    group.finish();
}

criterion_group!(benches, wasmtime_workloads);
criterion_main!(benches);
