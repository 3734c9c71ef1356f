//! Many threads on one `SharedStore`: distinct seqs, nothing lost, consistent reads throughout.

use std::sync::atomic::{AtomicBool, Ordering};

use rewind::{Durability, FileOptions, NewCheckpoint, Query, SharedStore};
use rewind_tests::TempDir;

const THREADS: u64 = 8;
const PER_THREAD: u64 = 1000;

fn state(thread: u64, i: u64) -> Vec<u8> {
    format!(
        "{{\"thread\":{thread},\"i\":{i},\"pad\":\"{}\"}}",
        "x".repeat((i % 50) as usize)
    )
    .into_bytes()
}

#[test]
fn eight_writers_and_two_readers() {
    let dir = TempDir::new().expect("a temporary directory");
    let store = SharedStore::open(
        dir.path().join("store"),
        FileOptions::default().durability(Durability::Always),
    )
    .unwrap();
    let sessions: Vec<_> = (0..THREADS)
        .map(|t| {
            store
                .create_session(&format!("writer {t}"), Default::default())
                .unwrap()
        })
        .collect();
    let done = AtomicBool::new(false);
    let ids = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut last = 0;
                    let mut reads = 0;
                    while !done.load(Ordering::Relaxed) {
                        store.read(|s| {
                            // One snapshot: the index, the metrics and the sessions agree.
                            let page = s.list(&Query::new()).unwrap();
                            let m = s.metrics();
                            assert_eq!(page.items.len() as u64, m.checkpoints);
                            let per_session: u64 = s.sessions().map(|x| x.checkpoints).sum();
                            assert_eq!(per_session, m.checkpoints);
                            assert!(page.items.windows(2).all(|w| w[0].seq > w[1].seq));
                            assert!(m.checkpoints >= last, "a reader saw checkpoints vanish");
                            last = m.checkpoints;
                        });
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, session) = (&store, sessions[t as usize]);
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let cp = store
                                .checkpoint(NewCheckpoint::new(
                                    session,
                                    format!("{i}"),
                                    &state(t, i),
                                ))
                                .unwrap();
                            (t, i, cp.id, cp.seq)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let ids: Vec<_> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        done.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0, "readers ran alongside the writers");
        }
        ids
    });
    let mut seqs: Vec<u64> = ids.iter().map(|x| x.3).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len() as u64,
        THREADS * PER_THREAD,
        "every checkpoint has its own seq"
    );
    // Within one writer, later calls got later seqs.
    for t in 0..THREADS {
        let mine: Vec<u64> = ids.iter().filter(|x| x.0 == t).map(|x| x.3).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]));
    }
    drop(store);
    let store = SharedStore::open(dir.path().join("store"), FileOptions::default()).unwrap();
    assert_eq!(store.metrics().checkpoints, THREADS * PER_THREAD);
    for (t, i, id, seq) in ids {
        let cp = store.get(id).unwrap();
        assert_eq!(cp.seq, seq);
        assert_eq!(store.state(id).unwrap(), state(t, i));
    }
    assert!(store.read(|s| s.verify()).is_ok());
}

/// Whole index snapshots are built by a background thread while writers go on: once the store
/// has a snapshot the writer writes only deltas, and merges replace the snapshot. Every
/// checkpoint is there throughout, and a reopen through the final snapshot gives what a replay
/// gives.
#[test]
fn whole_snapshots_are_merged_in_the_background_while_writers_go_on() {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join("store");
    let options = || {
        let mut options = FileOptions::default().durability(Durability::Never);
        options.store = options.store.snapshot_every(16 << 10);
        options
    };
    let store = SharedStore::open(&path, options()).unwrap();
    let session = store.create_session("merges", Default::default()).unwrap();
    let mut ids = Vec::new();
    for i in 0..4000u64 {
        // ~600 B of its own per state: the log grows by ~2.4 MB.
        let state = format!("{{\"i\":{i},\"pad\":\"{}\"}}", format!("{i:08}").repeat(70));
        let cp = store
            .checkpoint(NewCheckpoint::new(session, "step", state.as_bytes()))
            .unwrap();
        ids.push(cp.id);
        assert_eq!(store.metrics().checkpoints, i + 1);
    }
    // A merge's thread may still be running: a write installs it once it is done.
    let mut waited = 0;
    while store.metrics().ops.snapshots_merged == 0 && waited < 6000 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
        let cp = store
            .checkpoint(NewCheckpoint::new(session, "tick", b"{}"))
            .unwrap();
        ids.push(cp.id);
    }
    // The writer wrote one whole snapshot (the store had none); the others were merged.
    let ops = store.metrics().ops;
    assert_eq!(ops.snapshots_written, 1, "{ops:?}");
    assert!(ops.snapshots_merged >= 1, "{ops:?}");
    assert!(
        ops.snapshot_deltas_written > ops.snapshots_merged,
        "{ops:?}"
    );
    drop(store);
    assert!(!path.join(rewind::INDEX_MERGE_FILE).exists());

    let through = rewind::FileStore::open(&path, options()).unwrap();
    let used = &through.open_report().load.snapshot;
    assert!(matches!(used, rewind::SnapshotUse::Used { .. }), "{used:?}");
    drop(through);
    let mut replay = options();
    replay.store = replay.store.use_snapshot(false);
    let replayed = rewind::FileStore::open_read_only(&path, replay).unwrap();
    let through = rewind::FileStore::open_read_only(&path, options()).unwrap();
    assert_eq!(
        rewind_core::conformance::fingerprint(&*through),
        rewind_core::conformance::fingerprint(&*replayed)
    );
    for id in ids.iter().step_by(97) {
        assert_eq!(through.state(*id).unwrap(), replayed.state(*id).unwrap());
    }
}
