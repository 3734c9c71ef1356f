//! The native host: file stores under each durability, the thread-safe store, group commit
//! against the disk's raw fdatasync latency, reopening large stores, and allocations per
//! checkpoint.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rewind::{Durability, FileOptions, FileStore, NewCheckpoint, SharedStore};
use rewind_benches::{TempDir, agent_state, memory_store};

/// Counts heap allocations so a bench can report allocations per operation.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const STATE_BYTES: usize = 3 * 1024;

/// `Always` durability with 1 and 8 writers, beside the raw latency of appending 300 bytes and
/// calling fdatasync on the same disk.
fn durable_writes(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable");
    group.sample_size(30);
    let dir = TempDir::new().expect("a temporary directory");
    let raw_path = dir.path().join("raw");
    let mut raw = std::fs::File::create(&raw_path).unwrap();
    let payload = [7u8; 300];
    group.bench_function("raw_fdatasync_300b", |b| {
        b.iter(|| {
            raw.write_all(&payload).unwrap();
            raw.sync_data().unwrap();
        })
    });
    let state = agent_state(200, 1);
    let store = SharedStore::open(
        dir.path().join("store"),
        FileOptions::default().durability(Durability::Always),
    )
    .unwrap();
    let session = store.create_session("bench", Default::default()).unwrap();
    group.bench_function("always_1_writer", |b| {
        b.iter(|| {
            store
                .checkpoint(NewCheckpoint::new(session, "step", &state))
                .unwrap()
                .seq
        })
    });
    group.throughput(Throughput::Elements(8 * 16));
    group.bench_function("always_8_writers_x16", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for _ in 0..8 {
                    let (store, state) = (&store, &state);
                    s.spawn(move || {
                        for _ in 0..16 {
                            store
                                .checkpoint(NewCheckpoint::new(session, "step", state))
                                .unwrap();
                        }
                    });
                }
            })
        })
    });
    group.finish();
}

/// Reopening stores of many small checkpoints (built once, outside the timing): a writer and a
/// reader starting from the index snapshot the store's writer left at close, beside a reader
/// of the same segments without it, which replays the whole log.
fn open(c: &mut Criterion) {
    let mut group = c.benchmark_group("open");
    group.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let dir = TempDir::new().expect("a temporary directory");
        let path = dir.path().join("store");
        {
            let store =
                SharedStore::open(&path, FileOptions::default().durability(Durability::Never))
                    .unwrap();
            let session = store.create_session("bench", Default::default()).unwrap();
            store
                .write(|s| {
                    for i in 0..n {
                        let state = format!("{{\"step\":{i}}}");
                        s.checkpoint(NewCheckpoint::new(session, "step", state.as_bytes()))?;
                    }
                    Ok(())
                })
                .unwrap();
            store.flush().unwrap();
        }
        assert!(path.join(rewind::INDEX_FILE).exists());
        // The same segments without the snapshot (hard links: no copy).
        let bare = dir.path().join("bare");
        std::fs::create_dir(&bare).unwrap();
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name != rewind::INDEX_FILE
                && name != rewind::INDEX_DELTA_FILE
                && name != rewind::LOCK_FILE
            {
                std::fs::hard_link(entry.path(), bare.join(name)).unwrap();
            }
        }
        let id = |how: &str| BenchmarkId::new(how, n);
        group.bench_with_input(id("writer"), &n, |b, &n| {
            b.iter(|| {
                let store = FileStore::open(&path, FileOptions::default()).unwrap();
                assert_eq!(store.metrics().checkpoints, n as u64);
            })
        });
        group.bench_with_input(id("read_only"), &n, |b, &n| {
            b.iter(|| {
                let store = FileStore::open_read_only(&path, FileOptions::default()).unwrap();
                assert_eq!(store.metrics().checkpoints, n as u64);
            })
        });
        group.bench_with_input(id("replay"), &n, |b, &n| {
            b.iter(|| {
                let store = FileStore::open_read_only(&bare, FileOptions::default()).unwrap();
                assert_eq!(store.metrics().checkpoints, n as u64);
            })
        });
    }
    group.finish();
}

/// Following a writer: a reader's refresh after one new checkpoint on a store of 100,000,
/// beside the writer appending it under `Durability::Never` (a refresh reads what was
/// appended, not the store).
fn follow(c: &mut Criterion) {
    let mut group = c.benchmark_group("follow");
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join("store");
    let options = FileOptions::default().durability(Durability::Never);
    let mut writer = FileStore::open(&path, options.clone()).unwrap();
    let session = writer.create_session("bench", Default::default()).unwrap();
    for i in 0..100_000 {
        let state = format!("{{\"step\":{i}}}");
        writer
            .checkpoint(NewCheckpoint::new(session, "step", state.as_bytes()))
            .unwrap();
    }
    writer.flush().unwrap();
    let mut reader = FileStore::open_read_only(&path, options).unwrap();
    let mut i = 0u64;
    group.bench_function("append_never_100000", |b| {
        b.iter(|| {
            i += 1;
            let state = format!("{{\"next\":{i}}}");
            black_box(
                writer
                    .checkpoint(NewCheckpoint::new(session, "step", state.as_bytes()))
                    .unwrap()
                    .seq,
            )
        })
    });
    reader.refresh().unwrap();
    group.bench_function("refresh_after_1_of_100000", |b| {
        b.iter_batched(
            || {
                i += 1;
                let state = format!("{{\"next\":{i}}}");
                writer
                    .checkpoint(NewCheckpoint::new(session, "step", state.as_bytes()))
                    .unwrap();
            },
            |()| {
                let done = reader.refresh().unwrap();
                assert_eq!(done.writes, 1);
                reader.drain_events().len()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Not a timing: heap allocations per checkpoint (3 KB state, in memory), printed.
fn allocations(c: &mut Criterion) {
    let mut store = memory_store();
    let session = store.create_session("bench", Default::default()).unwrap();
    let states: Vec<Vec<u8>> = (0..1000).map(|i| agent_state(STATE_BYTES, i)).collect();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for state in &states {
        store
            .checkpoint(NewCheckpoint::new(session, "step", state))
            .unwrap();
    }
    let per = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / states.len() as f64;
    println!("allocations: {per:.1} heap allocations per checkpoint (3 KB state, in memory)");
    let mut group = c.benchmark_group("allocations");
    group.bench_function("checkpoint_3kb_counted", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i += 1;
            black_box(
                store
                    .checkpoint(NewCheckpoint::new(session, "step", &states[i % 1000]))
                    .unwrap()
                    .seq,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, durable_writes, open, follow, allocations);
criterion_main!(benches);
