//! Stores on PostgreSQL, one process: a checkpoint of a fresh ~3 KB state (one conditional
//! insert, committed by a server that syncs its write-ahead log), the same on a file store
//! under `Durability::Always` beside it, a refresh that applies one write of another handle,
//! and a state read back. The server is a throwaway one this bench starts (as the tests do,
//! but durable). Fleets of writer processes are measured by `pg_fleet` (see its docs).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rewind::{
    Durability, FileOptions, FileStore, NewCheckpoint, PgLocation, PgOptions, PgStore, SessionId,
};
use rewind_benches::{TempDir, agent_state};
use rewind_tests::PgCluster;

const STATE_BYTES: usize = 3 * 1024;

fn open(cluster: &PgCluster, store: &str) -> PgStore {
    let location = PgLocation::parse(&cluster.url(store)).expect("a URL");
    PgStore::open(&location, PgOptions::default(), rewind::Options::default()).expect("open")
}

fn postgres(c: &mut Criterion) {
    let cluster = PgCluster::start_durable();
    let mut group = c.benchmark_group("postgres");
    let store = open(&cluster, "bench");
    let session = store
        .create_session("bench", Default::default())
        .expect("session");
    let mut n = 0u64;
    group.bench_function("checkpoint_creation/single", |b| {
        b.iter_batched(
            || {
                n += 1;
                agent_state(STATE_BYTES, n)
            },
            |state| black_box(store.checkpoint(NewCheckpoint::new(session, "step", &state))),
            BatchSize::SmallInput,
        )
    });

    let dir = TempDir::new().expect("temp dir");
    let mut files = FileStore::open(
        dir.path().join("store"),
        FileOptions::default().durability(Durability::Always),
    )
    .expect("a file store");
    let file_session: SessionId = files
        .create_session("bench", Default::default())
        .expect("session");
    group.bench_function("checkpoint_creation/single_on_files", |b| {
        b.iter_batched(
            || {
                n += 1;
                agent_state(STATE_BYTES, n)
            },
            |state| {
                black_box(
                    files
                        .checkpoint(NewCheckpoint::new(file_session, "step", &state))
                        .map(|c| c.seq),
                )
            },
            BatchSize::SmallInput,
        )
    });

    // Another handle's write, then this handle's refresh: the cost of following a fleet.
    let other = open(&cluster, "bench");
    group.bench_function("refresh/one_write", |b| {
        b.iter_batched(
            || {
                n += 1;
                let state = agent_state(STATE_BYTES, n);
                other
                    .checkpoint(NewCheckpoint::new(session, "other", &state))
                    .expect("other's checkpoint");
            },
            |()| black_box(store.refresh().expect("refresh")),
            BatchSize::SmallInput,
        )
    });

    let cp = store
        .checkpoint(NewCheckpoint::new(
            session,
            "10 KB",
            &agent_state(10 * 1024, 0),
        ))
        .expect("checkpoint");
    group.bench_function("restore/state_10kb", |b| {
        b.iter(|| black_box(store.state(cp.id).expect("state").len()))
    });
    group.finish();
}

criterion_group!(benches, postgres);
criterion_main!(benches);
