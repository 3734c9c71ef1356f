//! The reference suite's groups, like for like: rewind's row of each group, a `floor` row beside
//! each create (the work rewind's design cannot skip: chunking the same state bytes with the same
//! FastCDC parameters and hashing every chunk with blake3), a `wasmtime` row where the sandbox
//! component does the same work (create, listings, restore, compaction, binary export; needs
//! `rewind_store.wasm`, see host-wasm/sandbox/README.md), and, with the `reference` feature, the
//! reference's row (forgekit-reasoning 0.5.0), all measured in the same process:
//! `cargo bench -p rewind-benches --features reference --bench suite`.
//!
//! Like for like:
//! - every create takes a fresh ~3 KB JSON state (made outside the timing), never one stored
//!   before; the reference's state is its `DebugStateSnapshot` holding the same JSON text, stored
//!   through its own `TemporalCheckpoint::new` (checksum) and `ThreadSafeStorage::store`;
//! - stores are made and dropped outside the timing on both sides;
//! - listings read the same fields of every item (id, seq, message, tags);
//! - `restore` reads a 10 KB state back: rewind from its log in memory, the reference from its
//!   in-memory cache (its `get`) — what each store reads from;
//! - rows whose work differs say so in the report (`cargo run -p rewind-benches --bin report`).
//!
//! The reference's crate is GPL-3.0-only: it is linked only with the `reference` feature of this
//! unpublished crate.

#[cfg(feature = "reference")]
use std::collections::HashMap;
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
#[cfg(feature = "reference")]
use forgekit_reasoning as reference;
use rewind::{Durability, FileOptions, SharedStore};
use rewind_benches::{BenchStore, TempDir, agent_state, memory_store, sandbox_component};
use rewind_core::chunker::{chunks, params_for_len};
use rewind_core::{
    DeterministicEnv, Hash, MemoryBackend, NewCheckpoint, Query, RetentionPolicy, SessionId,
};
use rewind_sandbox::{
    Limits, Sandbox, SandboxStore, SummaryFields, input, options, query, retention, summaries,
};

const STATE_BYTES: usize = 3 * 1024;
const RESTORE_BYTES: usize = 10 * 1024;

/// Seeds for fresh states: never one a bench used before in this process.
static SEED: AtomicU64 = AtomicU64::new(1_000_000);

fn fresh_state(bytes: usize) -> Vec<u8> {
    agent_state(bytes, SEED.fetch_add(1, Ordering::Relaxed))
}

/// The floor of a create: chunk the state as rewind does and hash every chunk.
fn floor(state: &[u8]) -> usize {
    let mut n = 0;
    for range in chunks(state, params_for_len(state.len())) {
        black_box(Hash::of(&state[range]));
        n += 1;
    }
    n
}

#[cfg(feature = "reference")]
/// The reference's state holding the same JSON text (its snapshot's map of strings).
fn reference_state(json: &[u8], session: reference::SessionId) -> reference::DebugStateSnapshot {
    let mut env_vars = HashMap::new();
    env_vars.insert(
        "state".to_string(),
        String::from_utf8(json.to_vec()).expect("bench states are UTF-8 JSON"),
    );
    reference::DebugStateSnapshot {
        session_id: session,
        // The reference's restore refuses a snapshot without one.
        working_dir: Some("/".into()),
        env_vars,
        ..Default::default()
    }
}

#[cfg(feature = "reference")]
/// One reference store and session, with its sequence counter.
struct Reference {
    storage: reference::ThreadSafeStorage,
    session: reference::SessionId,
    seq: u64,
}

#[cfg(feature = "reference")]
impl Reference {
    fn new() -> Reference {
        Reference {
            storage: reference::ThreadSafeStorage::in_memory().expect("the reference opens"),
            session: reference::SessionId::new(),
            seq: 0,
        }
    }

    /// The reference's create of a checkpoint from a ready state, as its manager does it
    /// (`checkpoint_with_tags_and_sequence` without capturing the process's state).
    fn create(
        &mut self,
        message: &str,
        state: reference::DebugStateSnapshot,
        tags: &[&str],
    ) -> reference::CheckpointId {
        self.seq += 1;
        let mut checkpoint = reference::TemporalCheckpoint::new(
            self.seq,
            message,
            state,
            reference::CheckpointTrigger::Manual,
            self.session,
        );
        checkpoint.tags = tags.iter().map(|t| t.to_string()).collect();
        self.storage
            .store(&checkpoint)
            .expect("the reference stores");
        checkpoint.id
    }

    fn populated(count: usize, bytes: usize) -> Reference {
        let mut r = Reference::new();
        for i in 0..count {
            let state = reference_state(&fresh_state(bytes), r.session);
            r.create(&format!("step {i}"), state, &[]);
        }
        r
    }
}

/// The sandbox component, or None (with a note) when it is not built: its rows are then skipped.
fn sandbox() -> Option<Sandbox> {
    let path = sandbox_component();
    match Sandbox::from_file(&path, Limits::default()) {
        Ok(sandbox) => Some(sandbox),
        Err(error) => {
            eprintln!(
                "wasmtime rows skipped: no sandbox component at {}: {error}",
                path.display()
            );
            None
        }
    }
}

/// A sandboxed store in memory with one session.
fn sandbox_open(sandbox: &Sandbox) -> (SandboxStore, String) {
    let mut store = sandbox
        .open(MemoryBackend::new(), DeterministicEnv::new(), &options())
        .unwrap()
        .unwrap();
    let session = store.create_session("bench", "").unwrap().unwrap();
    (store, session)
}

/// A sandboxed store holding `count` checkpoints of fresh states; their ids.
fn sandbox_populated(
    sandbox: &Sandbox,
    count: usize,
    bytes: usize,
) -> (SandboxStore, String, Vec<String>) {
    let (mut store, session) = sandbox_open(sandbox);
    let ids = (0..count)
        .map(|i| {
            let state = fresh_state(bytes);
            let new = input(&session, &format!("step {i}"));
            store.checkpoint(&new, &state).unwrap().unwrap().id
        })
        .collect();
    (store, session, ids)
}

/// rewind's thread-safe store on files in a fresh directory, with one session.
fn shared_store(durability: Durability) -> (TempDir, SharedStore, SessionId) {
    let dir = TempDir::new().expect("a temporary directory");
    let store = SharedStore::open(
        dir.path().join("store"),
        FileOptions::default().durability(durability),
    )
    .unwrap();
    let session = store.create_session("bench", Default::default()).unwrap();
    (dir, store, session)
}

fn rewind_populated(count: usize, bytes: usize) -> (BenchStore, SessionId) {
    let mut store = memory_store();
    let session = store.create_session("bench", Default::default()).unwrap();
    for i in 0..count {
        let state = fresh_state(bytes);
        store
            .checkpoint(NewCheckpoint::new(session, format!("step {i}"), &state))
            .unwrap();
    }
    (store, session)
}

/// `checkpoint_creation/single`, `checkpoint_with_tags/with_3_tags`, `storage_backends/in_memory`:
/// one create of a fresh 3 KB state, with `tags`.
fn single_create(c: &mut Criterion, group: &str, name: &str, tags: &'static [&'static str]) {
    let mut group = c.benchmark_group(group);
    let mut store = memory_store();
    let session = store.create_session("bench", Default::default()).unwrap();
    group.bench_function(BenchmarkId::new(name, "rewind"), |b| {
        b.iter_batched(
            || fresh_state(STATE_BYTES),
            |state| {
                let new = NewCheckpoint::new(session, "step", &state).tags(tags.iter().copied());
                black_box(store.checkpoint(new).unwrap().seq)
            },
            BatchSize::SmallInput,
        )
    });
    #[cfg(feature = "reference")]
    {
        let mut r = Reference::new();
        let session = r.session;
        group.bench_function(BenchmarkId::new(name, "reference"), |b| {
            b.iter_batched(
                || reference_state(&fresh_state(STATE_BYTES), session),
                |state| black_box(r.create("step", state, tags)),
                BatchSize::SmallInput,
            )
        });
    }
    group.bench_function(BenchmarkId::new(name, "floor"), |b| {
        b.iter_batched(
            || fresh_state(STATE_BYTES),
            |state| black_box(floor(&state)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn checkpoint_creation(c: &mut Criterion) {
    single_create(c, "checkpoint_creation", "single", &[]);
    if let Some(sandbox) = sandbox() {
        let mut group = c.benchmark_group("checkpoint_creation");
        let (mut store, session) = sandbox_open(&sandbox);
        let new = input(&session, "step");
        group.bench_function(BenchmarkId::new("single", "wasmtime"), |b| {
            b.iter_batched(
                || fresh_state(STATE_BYTES),
                |state| black_box(store.checkpoint(&new, &state).unwrap().unwrap().seq),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }

    // rewind's dedup hit: the same 64 states again and again (every chunk already stored).
    let mut group = c.benchmark_group("checkpoint_creation");
    let states: Vec<Vec<u8>> = (0..64).map(|i| agent_state(STATE_BYTES, i)).collect();
    let mut store = memory_store();
    let session = store.create_session("bench", Default::default()).unwrap();
    let mut i = 0usize;
    group.bench_function(BenchmarkId::new("repeat_state", "rewind"), |b| {
        b.iter(|| {
            i += 1;
            let new = NewCheckpoint::new(session, "step", &states[i % states.len()]);
            black_box(store.checkpoint(new).unwrap().seq)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("checkpoint_creation_batch");
    for n in [10usize, 100, 1000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new(n.to_string(), "rewind"), |b| {
            b.iter_batched(
                || {
                    let mut store = memory_store();
                    let s = store.create_session("bench", Default::default()).unwrap();
                    let states: Vec<Vec<u8>> = (0..n).map(|_| fresh_state(STATE_BYTES)).collect();
                    (store, s, states)
                },
                |(mut store, s, states)| {
                    for state in &states {
                        store
                            .checkpoint(NewCheckpoint::new(s, "step", state))
                            .unwrap();
                    }
                    (store, states)
                },
                BatchSize::PerIteration,
            )
        });
        #[cfg(feature = "reference")]
        {
            group.bench_function(BenchmarkId::new(n.to_string(), "reference"), |b| {
                b.iter_batched(
                    || {
                        let r = Reference::new();
                        let states: Vec<_> = (0..n)
                            .map(|_| reference_state(&fresh_state(STATE_BYTES), r.session))
                            .collect();
                        (r, states)
                    },
                    |(mut r, states)| {
                        for state in states {
                            r.create("step", state, &[]);
                        }
                        r
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        group.bench_function(BenchmarkId::new(n.to_string(), "floor"), |b| {
            b.iter_batched(
                || (0..n).map(|_| fresh_state(STATE_BYTES)).collect::<Vec<_>>(),
                |states| {
                    for state in &states {
                        black_box(floor(state));
                    }
                    states
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();

    single_create(
        c,
        "checkpoint_with_tags",
        "with_3_tags",
        &["important", "critical", "release"],
    );
    single_create(c, "storage_backends", "in_memory", &[]);
}

/// Sums what a caller reads of each listed checkpoint: id, seq, message and tags.
fn read_summary<'a>(
    id: &[u8],
    seq: u64,
    message: &str,
    tags: impl IntoIterator<Item = &'a str>,
) -> usize {
    id.len() + seq as usize + message.len() + tags.into_iter().map(str::len).sum::<usize>()
}

fn queries_and_reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("query_operations");
    let (store, session) = rewind_populated(100, STATE_BYTES);
    #[cfg(feature = "reference")]
    let r = Reference::populated(100, STATE_BYTES);
    #[cfg(feature = "reference")]
    let manager = reference::ThreadSafeCheckpointManager::new(r.storage.clone(), r.session);
    for (name, query) in [
        ("list_all", Query::new()),
        ("list_by_session", Query::new().session(session)),
    ] {
        group.bench_function(BenchmarkId::new(name, "rewind"), |b| {
            b.iter(|| {
                let page = store.list(&query).unwrap();
                let mut sum = 0;
                for cp in &page.items {
                    sum += read_summary(
                        cp.id.as_bytes(),
                        cp.seq,
                        &cp.message,
                        cp.tags.iter().map(String::as_str),
                    );
                }
                black_box((page.items.len(), sum))
            })
        });
        #[cfg(feature = "reference")]
        group.bench_function(BenchmarkId::new(name, "reference"), |b| {
            b.iter(|| {
                let items = if name == "list_all" {
                    manager.list().unwrap()
                } else {
                    manager.list_by_session(&r.session).unwrap()
                };
                let sum: usize = items
                    .iter()
                    .map(|s| {
                        read_summary(
                            s.id.0.as_bytes(),
                            s.sequence_number,
                            &s.message,
                            s.tags.iter().map(String::as_str),
                        )
                    })
                    .sum();
                black_box((items.len(), sum))
            })
        });
    }
    if let Some(sandbox) = sandbox() {
        let (mut sandboxed, session, _) = sandbox_populated(&sandbox, 100, STATE_BYTES);
        let mut by_session = query();
        by_session.session = Some(session);
        // The fields read below: id and seq always come, message and tags are asked for.
        let fields = SummaryFields {
            message: true,
            tags: true,
        };
        for (name, q) in [("list_all", query()), ("list_by_session", by_session)] {
            group.bench_function(BenchmarkId::new(name, "wasmtime"), |b| {
                // The component packs what is read into one buffer, which the host owns and
                // reads in place (`list` would lift every field of every checkpoint as its own
                // string).
                b.iter(|| {
                    let page = sandboxed.list_summaries(&q, fields).unwrap().unwrap();
                    let items = summaries(&page).unwrap();
                    let mut sum = 0;
                    for s in items {
                        sum += read_summary(s.id.as_bytes(), s.seq, s.message, s.tags);
                    }
                    black_box((items.len(), sum))
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("restore");
    let (mut store, session) = rewind_populated(100, RESTORE_BYTES);
    let target = store.latest(session).unwrap().unwrap().id;
    group.bench_function(BenchmarkId::new("single", "rewind"), |b| {
        b.iter(|| black_box(store.restore(target).unwrap().state.len()))
    });
    if let Some(sandbox) = sandbox() {
        let (mut sandboxed, _, ids) = sandbox_populated(&sandbox, 100, RESTORE_BYTES);
        let last = ids.last().unwrap().clone();
        group.bench_function(BenchmarkId::new("single", "wasmtime"), |b| {
            b.iter(|| black_box(sandboxed.restore(&last).unwrap().unwrap().len()))
        });
    }
    #[cfg(feature = "reference")]
    {
        let mut r = Reference::populated(99, RESTORE_BYTES);
        let state = reference_state(&fresh_state(RESTORE_BYTES), r.session);
        let id = r.create("latest", state, &[]);
        let manager = reference::ThreadSafeCheckpointManager::new(r.storage.clone(), r.session);
        group.bench_function(BenchmarkId::new("single", "reference"), |b| {
            b.iter(|| {
                let checkpoint = manager.get(&id).unwrap().unwrap();
                black_box(manager.restore(&checkpoint).unwrap().env_vars.len())
            })
        });
    }
    group.finish();
}

fn compaction(c: &mut Criterion) {
    let mut group = c.benchmark_group("compaction");
    group.sample_size(20);
    let sandbox = sandbox();
    for n in [100usize, 500, 1000] {
        if let Some(sandbox) = &sandbox {
            group.bench_function(BenchmarkId::new(n.to_string(), "wasmtime"), |b| {
                b.iter_batched(
                    || sandbox_populated(sandbox, n, STATE_BYTES).0,
                    |mut store| {
                        let mut keep = retention();
                        keep.keep_last = Some(10);
                        store.compact(&keep).unwrap().unwrap();
                        store
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        group.bench_function(BenchmarkId::new(n.to_string(), "rewind"), |b| {
            b.iter_batched(
                || rewind_populated(n, STATE_BYTES).0,
                |mut store| {
                    store.compact(&RetentionPolicy::keep_last(10)).unwrap();
                    store
                },
                BatchSize::PerIteration,
            )
        });
        #[cfg(feature = "reference")]
        {
            group.bench_function(BenchmarkId::new(n.to_string(), "reference"), |b| {
                b.iter_batched(
                    || {
                        let r = Reference::populated(n, STATE_BYTES);
                        reference::ThreadSafeCheckpointManager::new(r.storage.clone(), r.session)
                    },
                    |manager| {
                        manager.compact(10).unwrap();
                        manager
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

fn concurrent_creation(c: &mut Criterion) {
    let mut group = c.benchmark_group("concurrent_creation");
    for threads in [2usize, 4, 8] {
        group.throughput(Throughput::Elements(threads as u64 * 10));
        // The floor: the same states chunked and hashed by as many threads.
        group.bench_function(BenchmarkId::new(threads.to_string(), "floor"), |b| {
            b.iter_batched(
                || {
                    (0..threads * 10)
                        .map(|_| fresh_state(STATE_BYTES))
                        .collect::<Vec<_>>()
                },
                |states| {
                    std::thread::scope(|s| {
                        for chunk in states.chunks(10) {
                            s.spawn(move || {
                                for state in chunk {
                                    black_box(floor(state));
                                }
                            });
                        }
                    });
                    states
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function(BenchmarkId::new(threads.to_string(), "rewind"), |b| {
            b.iter_batched(
                || {
                    let (dir, store, session) = shared_store(Durability::Never);
                    let states: Vec<Vec<u8>> = (0..threads * 10)
                        .map(|_| fresh_state(STATE_BYTES))
                        .collect();
                    (dir, store, session, states)
                },
                |(dir, store, session, states)| {
                    std::thread::scope(|s| {
                        for chunk in states.chunks(10) {
                            let store = &store;
                            s.spawn(move || {
                                for state in chunk {
                                    store
                                        .checkpoint(NewCheckpoint::new(session, "step", state))
                                        .unwrap();
                                }
                            });
                        }
                    });
                    (dir, store, states)
                },
                BatchSize::PerIteration,
            )
        });
        #[cfg(feature = "reference")]
        {
            group.bench_function(BenchmarkId::new(threads.to_string(), "reference"), |b| {
                b.iter_batched(
                    || {
                        let storage = reference::ThreadSafeStorage::in_memory().unwrap();
                        let session = reference::SessionId::new();
                        let states: Vec<Vec<_>> = (0..threads)
                            .map(|_| {
                                (0..10)
                                    .map(|_| reference_state(&fresh_state(STATE_BYTES), session))
                                    .collect()
                            })
                            .collect();
                        (storage, session, states)
                    },
                    |(storage, session, states)| {
                        std::thread::scope(|s| {
                            for (t, states) in states.into_iter().enumerate() {
                                let storage = &storage;
                                s.spawn(move || {
                                    for (k, state) in states.into_iter().enumerate() {
                                        let checkpoint = reference::TemporalCheckpoint::new(
                                            (t * 10 + k) as u64 + 1,
                                            "step",
                                            state,
                                            reference::CheckpointTrigger::Manual,
                                            session,
                                        );
                                        storage.store(&checkpoint).unwrap();
                                    }
                                });
                            }
                        });
                        storage
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

fn export(c: &mut Criterion) {
    let mut group = c.benchmark_group("export");
    let sandbox = sandbox();
    for n in [10usize, 100, 500] {
        group.throughput(Throughput::Elements(n as u64));
        let (mut store, session) = rewind_populated(n, STATE_BYTES);
        group.bench_function(BenchmarkId::new(format!("json/{n}"), "rewind"), |b| {
            b.iter(|| black_box(store.export_json(Some(&[session])).unwrap().len()))
        });
        group.bench_function(BenchmarkId::new(format!("binary/{n}"), "rewind"), |b| {
            b.iter(|| black_box(store.export_binary(Some(&[session])).unwrap().len()))
        });
        if let Some(sandbox) = &sandbox {
            let (mut sandboxed, _, _) = sandbox_populated(sandbox, n, STATE_BYTES);
            group.bench_function(BenchmarkId::new(format!("binary/{n}"), "wasmtime"), |b| {
                b.iter(|| black_box(sandboxed.export_binary().unwrap().unwrap().len()))
            });
        }
        #[cfg(feature = "reference")]
        {
            let r = Reference::populated(n, STATE_BYTES);
            let exporter = reference::CheckpointExporter::new(r.storage.clone());
            group.bench_function(BenchmarkId::new(format!("json/{n}"), "reference"), |b| {
                b.iter(|| black_box(exporter.export_session(&r.session).unwrap().len()))
            });
        }
    }
    group.finish();
}

fn service_operations(c: &mut Criterion) {
    let mut group = c.benchmark_group("service_operations");
    let mut store = memory_store();
    group.bench_function(BenchmarkId::new("create_session", "rewind"), |b| {
        b.iter(|| black_box(store.create_session("bench", Default::default()).unwrap()))
    });
    #[cfg(feature = "reference")]
    {
        let service =
            reference::CheckpointService::new(reference::ThreadSafeStorage::in_memory().unwrap());
        group.bench_function(BenchmarkId::new("create_session", "reference"), |b| {
            b.iter(|| black_box(service.create_session("bench").unwrap()))
        });
    }

    // Through each one's thread-safe service: rewind's SharedStore with a fresh state; the
    // reference's CheckpointService captures its own state (this process's environment).
    let (_dir, shared, session) = shared_store(Durability::Never);
    group.bench_function(
        BenchmarkId::new("checkpoint_through_service", "floor"),
        |b| {
            b.iter_batched(
                || fresh_state(STATE_BYTES),
                |state| black_box(floor(&state)),
                BatchSize::SmallInput,
            )
        },
    );
    group.bench_function(
        BenchmarkId::new("checkpoint_through_service", "rewind"),
        |b| {
            b.iter_batched(
                || fresh_state(STATE_BYTES),
                |state| {
                    black_box(
                        shared
                            .checkpoint(NewCheckpoint::new(session, "step", &state))
                            .unwrap()
                            .seq,
                    )
                },
                BatchSize::SmallInput,
            )
        },
    );
    #[cfg(feature = "reference")]
    {
        let service =
            reference::CheckpointService::new(reference::ThreadSafeStorage::in_memory().unwrap());
        let ref_session = service.create_session("bench").unwrap();
        group.bench_function(
            BenchmarkId::new("checkpoint_through_service", "reference"),
            |b| b.iter(|| black_box(service.checkpoint(&ref_session, "step").unwrap())),
        );
    }

    // metrics: the reference's lists every checkpoint of every session to count them (10 here);
    // rewind's reads counters, and `metrics_by_listing` does the reference's work with rewind.
    let (store, session) = rewind_populated(10, STATE_BYTES);
    group.bench_function(BenchmarkId::new("metrics", "rewind"), |b| {
        b.iter(|| black_box(store.metrics().checkpoints))
    });
    group.bench_function(BenchmarkId::new("metrics_by_listing", "rewind"), |b| {
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
    #[cfg(feature = "reference")]
    {
        let service =
            reference::CheckpointService::new(reference::ThreadSafeStorage::in_memory().unwrap());
        let ref_session = service.create_session("bench").unwrap();
        for _ in 0..10 {
            service.checkpoint(&ref_session, "step").unwrap();
        }
        group.bench_function(BenchmarkId::new("metrics", "reference"), |b| {
            b.iter(|| black_box(service.metrics().unwrap().total_checkpoints))
        });
    }
    group.finish();
}

/// File stores: rewind under `Always` (fdatasync per write) beside one raw fdatasync of the
/// same bytes (its floor), and at the reference's durability — SQLite WAL with
/// `synchronous=NORMAL` (no sync per commit: survives the process, not a power loss) — under
/// `Never`.
fn file_based(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage_backends");
    group.sample_size(30);
    for (name, durability) in [
        ("file_based", Durability::Always),
        (
            "file_based_batched",
            Durability::Batched {
                max_delay: std::time::Duration::from_millis(50),
            },
        ),
        ("file_based_never", Durability::Never),
    ] {
        let (_dir, store, session) = shared_store(durability);
        group.bench_function(BenchmarkId::new(name, "rewind"), |b| {
            b.iter_batched(
                || fresh_state(STATE_BYTES),
                |state| {
                    black_box(
                        store
                            .checkpoint(NewCheckpoint::new(session, "step", &state))
                            .unwrap()
                            .seq,
                    )
                },
                BatchSize::SmallInput,
            )
        });
    }
    let dir = TempDir::new().expect("a temporary directory");
    let mut raw = std::fs::File::create(dir.path().join("raw")).unwrap();
    group.bench_function(BenchmarkId::new("file_based", "fdatasync"), |b| {
        b.iter_batched(
            || fresh_state(STATE_BYTES),
            |state| {
                raw.write_all(&state).unwrap();
                raw.sync_data().unwrap();
            },
            BatchSize::SmallInput,
        )
    });
    #[cfg(feature = "reference")]
    {
        let dir = TempDir::new().expect("a temporary directory");
        let storage = reference::ThreadSafeStorage::open(dir.path().join("reference.db")).unwrap();
        let session = reference::SessionId::new();
        let mut r = Reference {
            storage,
            session,
            seq: 0,
        };
        group.bench_function(BenchmarkId::new("file_based", "reference"), |b| {
            b.iter_batched(
                || reference_state(&fresh_state(STATE_BYTES), session),
                |state| black_box(r.create("step", state, &[])),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    checkpoint_creation,
    queries_and_reads,
    compaction,
    concurrent_creation,
    export,
    service_operations,
    file_based
);
criterion_main!(benches);
