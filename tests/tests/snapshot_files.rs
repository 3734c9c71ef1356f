//! Index snapshots on real files: writers leave one, writer and read-only opens start from it
//! and replay only the segments after its point, and an `INDEX` that does not match the log —
//! another store's, a torn write right after its point, a version 1 log's — never changes what
//! the store holds.

use std::fs;
use std::path::{Path, PathBuf};

use rewind::core::conformance::{fingerprint, noise};
use rewind::{FileOptions, FileStore, INDEX_FILE, NewCheckpoint, SnapshotProblem, SnapshotUse};
use rewind_tests::TempDir;

fn golden_v1() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/v1/store")
}

fn copy_dir(from: &Path, to: &Path, skip: &[&str]) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if skip.iter().any(|s| name.to_str() == Some(*s)) || name.to_str() == Some("LOCK") {
            continue;
        }
        fs::copy(entry.path(), to.join(name)).unwrap();
    }
}

/// A store of `n` checkpoints of ~4 KB in small segments, so its log spans many of them.
fn write_store(dir: &Path, n: u64, seed: u64) {
    let mut store = FileStore::open(dir, FileOptions::default().segment_bytes(16 << 10)).unwrap();
    let s = store.create_session("agent", Default::default()).unwrap();
    for i in 0..n {
        let state = noise(4000, seed * 1000 + i);
        store
            .checkpoint(NewCheckpoint::new(s, format!("step {i}"), &state).tag("t"))
            .unwrap();
    }
    assert!(
        store.snapshot_due(),
        "a writer closing now writes no snapshot"
    );
}

/// What a read-only open of a copy without `INDEX` (a whole replay) finds.
fn replayed(dir: &Path) -> String {
    let tmp = TempDir::new().unwrap();
    let copy = tmp.path().join("copy");
    copy_dir(dir, &copy, &[INDEX_FILE]);
    let store = FileStore::open_read_only(&copy, FileOptions::default()).unwrap();
    assert_eq!(store.open_report().load.snapshot, SnapshotUse::None);
    fingerprint(&store)
}

#[test]
fn writers_and_readers_start_from_the_snapshot_across_segments() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    write_store(&dir, 50, 1);
    assert!(
        dir.join(INDEX_FILE).exists(),
        "closing after ~200 KB wrote no snapshot"
    );
    // More writes into new segments after the snapshot's point, closed without a new one.
    {
        let mut store =
            FileStore::open(&dir, FileOptions::default().segment_bytes(16 << 10)).unwrap();
        assert_eq!(
            store.open_report().load.snapshot,
            SnapshotUse::Used { tail_frames: 0 }
        );
        let s = store.sessions().next().unwrap().id;
        for i in 0..8 {
            store
                .checkpoint(NewCheckpoint::new(s, "after", &noise(3000, 77 + i)))
                .unwrap();
        }
        assert!(store.backend().segment_count() > 3);
    }
    let want = replayed(&dir);
    let reader = FileStore::open_read_only(&dir, FileOptions::default()).unwrap();
    assert!(matches!(
        reader.open_report().load.snapshot,
        SnapshotUse::Used { tail_frames } if tail_frames >= 8
    ));
    assert_eq!(fingerprint(&reader), want);
    assert!(reader.verify().is_ok());
    let writer = FileStore::open(&dir, FileOptions::default()).unwrap();
    assert_eq!(fingerprint(&writer), want);
    assert_eq!(writer.metrics().checkpoints, 58);
}

/// A write torn right after the snapshot's point: the writer moves it aside and keeps every
/// frame before it — the segment's opening and everything the snapshot describes included.
#[test]
fn a_torn_write_right_after_the_snapshot_point_loses_nothing_before_it() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    write_store(&dir, 40, 2);
    let want = replayed(&dir);
    let last = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .max()
        .unwrap();
    let mut bytes = fs::read(&last).unwrap();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9]);
    fs::write(&last, &bytes).unwrap();

    let store = FileStore::open(&dir, FileOptions::default()).unwrap();
    assert!(store.open_report().torn_tail.is_some());
    assert_eq!(
        store.open_report().load.snapshot,
        SnapshotUse::Used { tail_frames: 0 }
    );
    assert_eq!(fingerprint(&store), want);
    drop(store);
    assert_eq!(replayed(&dir), want);
    let store = FileStore::open(&dir, FileOptions::default()).unwrap();
    assert!(store.verify().is_ok());
}

#[test]
fn another_stores_index_is_ignored() {
    let tmp = TempDir::new().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_store(&a, 40, 3);
    write_store(&b, 40, 4);
    fs::copy(b.join(INDEX_FILE), a.join(INDEX_FILE)).unwrap();
    let want = replayed(&a);
    let reader = FileStore::open_read_only(&a, FileOptions::default()).unwrap();
    assert_eq!(
        reader.open_report().load.snapshot,
        SnapshotUse::Ignored(SnapshotProblem::Stale)
    );
    assert_eq!(fingerprint(&reader), want);
    drop(reader);
    // A writer replaces it when it closes.
    drop(FileStore::open(&a, FileOptions::default()).unwrap());
    let reader = FileStore::open_read_only(&a, FileOptions::default()).unwrap();
    assert_eq!(
        reader.open_report().load.snapshot,
        SnapshotUse::Used { tail_frames: 0 }
    );
}

/// A version 1 log has no chain; its snapshot is tied to the last frame alone, and it stays a
/// version 1 log.
#[test]
fn a_version_1_store_opens_by_replay_and_gains_a_snapshot() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    copy_dir(&golden_v1(), &dir, &[]);
    let want = replayed(&dir);
    let mut store = FileStore::open(&dir, FileOptions::default()).unwrap();
    assert_eq!(store.open_report().load.snapshot, SnapshotUse::None);
    assert!(store.write_snapshot().unwrap());
    drop(store);
    let store = FileStore::open(&dir, FileOptions::default()).unwrap();
    assert_eq!(
        store.open_report().load.snapshot,
        SnapshotUse::Used { tail_frames: 0 }
    );
    assert_eq!(store.format_version(), 1);
    assert_eq!(fingerprint(&store), want);
    assert!(store.verify().is_ok());
}

#[test]
fn a_read_only_open_never_writes_a_snapshot() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    write_store(&dir, 40, 5);
    fs::remove_file(dir.join(INDEX_FILE)).unwrap();
    let mut reader = FileStore::open_read_only(&dir, FileOptions::default()).unwrap();
    assert_eq!(reader.open_report().load.snapshot, SnapshotUse::None);
    assert!(!reader.write_snapshot().unwrap());
    drop(reader);
    assert!(!dir.join(INDEX_FILE).exists());
}

/// A one-thread `FileStore` writer, like a `SharedStore`, never writes a whole snapshot itself
/// once the store has one: the file backend merges snapshot and delta on a thread, the next
/// write after it is done installs it, and the store reads the same as a replay.
#[test]
fn a_file_store_writer_leaves_whole_snapshots_to_a_thread() {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join("store");
    let options = || {
        let mut options = FileOptions::default().durability(rewind::Durability::Never);
        options.store = options.store.snapshot_every(16 << 10);
        options
    };
    let mut store = FileStore::open(&path, options()).unwrap();
    let s = store.create_session("merges", Default::default()).unwrap();
    // ~600 B of its own per state.
    let state = |i: usize| format!("{{\"i\":{i},\"pad\":\"{}\"}}", format!("{i:08}").repeat(70));
    let mut ids = Vec::new();
    // On until a merge was installed: the first falls due after ~1.5 MB of writes; its thread
    // is then given up to a minute.
    while store.metrics().ops.snapshots_merged == 0 && ids.len() < 60_000 {
        let bytes = state(ids.len());
        let new = NewCheckpoint::new(s, "step", bytes.as_bytes());
        ids.push(store.checkpoint(new).unwrap().id);
        if ids.len() > 4000 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let ops = store.metrics().ops;
    // The writer wrote one whole snapshot (the store had none); the next was merged.
    assert_eq!(ops.snapshots_written, 1, "{ops:?}");
    assert!(ops.snapshots_merged >= 1, "{ops:?}");
    drop(store);
    assert!(!path.join(rewind::INDEX_MERGE_FILE).exists());

    let through = FileStore::open_read_only(&path, options()).unwrap();
    let used = &through.open_report().load.snapshot;
    assert!(matches!(used, SnapshotUse::Used { .. }), "{used:?}");
    assert_eq!(fingerprint(&*through), replayed(&path));
    for (i, id) in ids.iter().enumerate().step_by(97) {
        assert_eq!(through.state(*id).unwrap(), state(i).as_bytes());
    }
}
