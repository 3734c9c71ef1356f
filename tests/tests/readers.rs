//! Readers following a live writer: a read-only store's `refresh` applies what the writer
//! appended since (across segment rotations and compactions), reports it as events, and never
//! shows a write the writer has not finished.

use std::fs;
use std::path::{Path, PathBuf};

use rewind::core::conformance::fingerprint;
use rewind::{Event, FileOptions, FileStore, NewCheckpoint, RetentionPolicy, SessionId, Severity};
use rewind_tests::TempDir;

fn options() -> FileOptions {
    FileOptions::default().segment_bytes(4096)
}

/// A JSON state of about `len` bytes, unique to `n` (so states rarely share chunks).
fn state(n: u64, len: usize) -> Vec<u8> {
    let hex: String = rewind_tests::noise(len / 2, n + 7)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{{\"n\":{n},\"hex\":\"{hex}\"}}").into_bytes()
}

fn write(store: &mut FileStore, s: SessionId, from: u64, count: u64) {
    for n in from..from + count {
        let len = [80, 900, 3000][(n % 3) as usize];
        store
            .checkpoint(NewCheckpoint::new(s, format!("step {n}"), &state(n, len)))
            .unwrap();
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    out.sort();
    out
}

fn created(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Created { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect()
}

#[test]
fn a_reader_follows_appends_across_segment_rotations_with_events() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    let mut writer = FileStore::open(&dir, options()).unwrap();
    let s = writer.create_session("agent", Default::default()).unwrap();
    write(&mut writer, s, 0, 3);
    let mut reader = FileStore::open_read_only(&dir, options()).unwrap();
    assert_eq!(fingerprint(&reader), fingerprint(&writer));
    reader.drain_events();

    let before = segments(&dir).len();
    write(&mut writer, s, 3, 20);
    let first = writer.list(&rewind::Query::new()).unwrap().items[0].id;
    writer.annotate(first, "looked at", Severity::Info).unwrap();
    assert!(segments(&dir).len() > before + 2, "the writer rotated");
    let done = reader.refresh().unwrap();
    assert!(done.writes == 21 && !done.compacted, "{done:?}");
    assert_eq!(fingerprint(&reader), fingerprint(&writer));
    let events = reader.drain_events();
    assert_eq!(created(&events), (4..=23).collect::<Vec<u64>>());
    assert!(events.contains(&Event::Annotated {
        checkpoint: first,
        severity: Severity::Info
    }));
    // Every state reads back from the new segments.
    for cp in reader.list(&rewind::Query::new()).unwrap().items {
        assert_eq!(reader.state(cp.id).unwrap(), writer.state(cp.id).unwrap());
    }

    // Nothing new: nothing applied, nothing reported.
    let done = reader.refresh().unwrap();
    assert_eq!((done.writes, done.events), (0, 0));
    assert!(reader.drain_events().is_empty());
    assert_eq!(fingerprint(&reader), fingerprint(&writer));

    // Deletions and restores reach the reader as events too.
    let items = writer.list(&rewind::Query::new()).unwrap().items;
    let (gone, back) = (items[0].id, items[5].id);
    writer.delete(gone).unwrap();
    writer.restore(back).unwrap();
    reader.refresh().unwrap();
    let events = reader.drain_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Deleted { checkpoint, .. } if *checkpoint == gone))
    );
    assert!(events.contains(&Event::Restored {
        session: s,
        checkpoint: back
    }));
    assert_eq!(fingerprint(&reader), fingerprint(&writer));
}

#[test]
fn a_reader_keeps_its_view_through_a_compaction_until_it_refreshes() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    let mut writer = FileStore::open(&dir, options()).unwrap();
    let s = writer.create_session("agent", Default::default()).unwrap();
    write(&mut writer, s, 0, 12);
    let mut reader = FileStore::open_read_only(&dir, options()).unwrap();
    let old: Vec<_> = reader.list(&rewind::Query::new()).unwrap().items;
    let old_bytes: Vec<Vec<u8>> = old.iter().map(|c| reader.state(c.id).unwrap()).collect();

    writer.compact(&RetentionPolicy::keep_last(4)).unwrap();
    write(&mut writer, s, 12, 2);
    assert!(
        segments(&dir).iter().all(|p| p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("00000002")),
        "the old generation's files are deleted"
    );
    // The old view still reads whole: its files stay open.
    for (cp, bytes) in old.iter().zip(&old_bytes) {
        assert_eq!(&reader.state(cp.id).unwrap(), bytes);
    }
    assert_eq!(reader.metrics().checkpoints, 12);

    let done = reader.refresh().unwrap();
    assert!(done.compacted, "{done:?}");
    assert_eq!(fingerprint(&reader), fingerprint(&writer));
    let events = reader.drain_events();
    let deleted = events
        .iter()
        .filter(|e| matches!(e, Event::Deleted { .. }))
        .count();
    assert_eq!(deleted, 8);
    assert_eq!(created(&events), vec![13, 14]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Compacted { removed: 8, .. }))
    );

    // And it follows the new generation from there.
    write(&mut writer, s, 14, 3);
    let done = reader.refresh().unwrap();
    assert!(!done.compacted);
    assert_eq!(created(&reader.drain_events()), vec![15, 16, 17]);
    assert_eq!(fingerprint(&reader), fingerprint(&writer));
}

/// A write whose seal has not landed is not part of a reader's view; once it lands, the next
/// refresh shows it — whole.
#[test]
fn a_reader_sees_a_write_only_once_its_seal_is_there() {
    const SEAL_FRAME: u64 = 8 + 1 + 16;
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    let mut writer = FileStore::open(&dir, FileOptions::default()).unwrap();
    let s = writer.create_session("agent", Default::default()).unwrap();
    write(&mut writer, s, 0, 2);
    let expected = fingerprint(&writer);
    drop(writer);
    // Take the last write's seal off, as if the writer were between its records and its seal.
    let last = segments(&dir).pop().unwrap();
    let bytes = fs::read(&last).unwrap();
    let cut = bytes.len() - SEAL_FRAME as usize;
    fs::write(&last, &bytes[..cut]).unwrap();

    let mut reader = FileStore::open_read_only(&dir, FileOptions::default()).unwrap();
    assert_eq!(reader.metrics().checkpoints, 1);
    assert_eq!(reader.refresh().unwrap().writes, 0);
    assert_eq!(reader.metrics().checkpoints, 1);

    fs::write(&last, &bytes).unwrap();
    let done = reader.refresh().unwrap();
    assert_eq!(done.writes, 1, "{done:?}");
    assert_eq!(created(&reader.drain_events()), vec![2]);
    assert_eq!(fingerprint(&reader), expected);
}

/// A version 1 log has no seals to resume from: a refresh reads it again whole, and still
/// reports only what changed.
#[test]
fn a_reader_of_a_version_1_log_follows_by_reading_it_again() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/v1/store");
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(&golden).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let mut writer = FileStore::open(&dir, FileOptions::default()).unwrap();
    assert_eq!(writer.format_version(), 1);
    let mut reader = FileStore::open_read_only(&dir, FileOptions::default()).unwrap();
    let before = reader.metrics().checkpoints;
    let s = writer.sessions().next().unwrap().id;
    write(&mut writer, s, 100, 2);
    let done = reader.refresh().unwrap();
    assert!(!done.compacted);
    assert_eq!(reader.metrics().checkpoints, before + 2);
    assert_eq!(created(&reader.drain_events()).len(), 2);
    assert_eq!(fingerprint(&reader), fingerprint(&writer));
}

/// Random writes — checkpoints, deletions, annotations, restores, session deletions,
/// compactions, vacuums, imports of the store's own export — with a reader refreshing at random
/// moments: after every refresh the reader holds exactly what the writer holds, and the created
/// events it reported name each checkpoint once, in seq order.
#[test]
fn a_reader_refreshing_at_random_moments_always_matches_the_writer() {
    let seeds: u64 = std::env::var("FOLLOW_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut refreshes = 0;
    let mut compactions_seen = 0;
    for seed in 1..=seeds {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut roll = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let tmp = TempDir::new().unwrap();
        let dir = tmp.path().join("store");
        let mut writer = FileStore::open(&dir, options()).unwrap();
        let mut session = writer.create_session("agent", Default::default()).unwrap();
        let mut reader = FileStore::open_read_only(&dir, options()).unwrap();
        let mut last_seq = 0;
        let mut export = None;
        for step in 0..60u64 {
            let ids: Vec<_> = writer
                .list(&rewind::Query::new())
                .unwrap()
                .items
                .iter()
                .map(|c| c.id)
                .collect();
            let pick = |r: u64| ids.get((r as usize) % ids.len().max(1)).copied();
            match roll(20) {
                0..=8 => write(&mut writer, session, seed * 1000 + step, 1 + roll(3)),
                9 => {
                    if let Some(id) = pick(roll(100)) {
                        writer.delete(id).unwrap();
                    }
                }
                10 => {
                    if let Some(id) = pick(roll(100)) {
                        writer.annotate(id, "note", Severity::Warning).unwrap();
                    }
                }
                11 => {
                    if let Some(id) = pick(roll(100))
                        && writer.get(id).unwrap().session == session
                    {
                        writer.restore(id).unwrap();
                    }
                }
                12 => {
                    writer
                        .compact(&RetentionPolicy::keep_last(roll(4) as usize))
                        .unwrap();
                }
                13 => writer.vacuum().unwrap(),
                14 => {
                    writer.delete_session(session).unwrap();
                    session = writer.create_session("next", Default::default()).unwrap();
                }
                15 => export = Some(writer.export_binary(None).unwrap()),
                16 => {
                    if let Some(bytes) = &export {
                        let _ = writer.import_binary(bytes);
                    }
                }
                _ => {
                    refreshes += 1;
                    let done = reader.refresh().unwrap();
                    compactions_seen += u64::from(done.compacted);
                    assert_eq!(
                        fingerprint(&reader),
                        fingerprint(&writer),
                        "seed {seed} step {step}"
                    );
                    for seq in created(&reader.drain_events()) {
                        assert!(seq > last_seq, "seed {seed}: seq {seq} after {last_seq}");
                        last_seq = seq;
                    }
                }
            }
        }
    }
    assert!(refreshes > seeds * 5 && compactions_seen > 0);
}

/// A read-only `SharedStore` following its writer delivers the writer's events to its own
/// subscribers, as they land.
#[test]
fn a_shared_follower_delivers_another_handles_writes_as_events() {
    use std::time::Duration;
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    let writer = rewind::SharedStore::open(&dir, options()).unwrap();
    let s = writer.create_session("agent", Default::default()).unwrap();
    let follower = rewind::SharedStore::open_read_only(&dir, options()).unwrap();
    assert!(follower.is_read_only() && !writer.is_read_only());
    let events = follower.subscribe();
    follower.follow_every(Duration::from_millis(5)).unwrap();
    let mut made = Vec::new();
    for n in 0..5 {
        let cp = writer
            .checkpoint(NewCheckpoint::new(s, format!("step {n}"), &state(n, 500)))
            .unwrap();
        made.push(cp.id);
    }
    let mut seen = Vec::new();
    while seen.len() < made.len() {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(Event::Created { checkpoint, .. }) => seen.push(checkpoint),
            Ok(_) => {}
            Err(e) => panic!(
                "the follower heard {} of {} checkpoints: {e}",
                seen.len(),
                made.len()
            ),
        }
    }
    assert_eq!(seen, made);
    assert_eq!(follower.read(fingerprint), writer.read(fingerprint));
    // A read-only store refuses writes.
    assert!(follower.create_session("no", Default::default()).is_err());
}

/// A writer's open waits for the lock up to `lock_timeout`, then fails naming the holder.
#[test]
fn a_writer_waits_for_the_lock_up_to_its_timeout() {
    use std::time::{Duration, Instant};
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    let first = FileStore::open(&dir, options()).unwrap();
    let started = Instant::now();
    let refused = FileStore::open(&dir, options());
    assert!(matches!(refused, Err(rewind::Error::Locked { .. })));
    let refused = FileStore::open(&dir, options().lock_timeout(Duration::from_millis(150)));
    assert!(matches!(refused, Err(rewind::Error::Locked { .. })));
    assert!(started.elapsed() >= Duration::from_millis(150), "it waited");

    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
    });
    let mut second = FileStore::open(&dir, options().lock_timeout(Duration::from_secs(20)))
        .expect("the lock freed within the wait");
    release.join().unwrap();
    second.create_session("second", Default::default()).unwrap();
}

/// A file system that holds every sync until the test lets it through: a writer stopped
/// between writing a record and syncing it.
#[derive(Debug, Default)]
struct HeldSyncs {
    gate: std::sync::Mutex<(bool, u32)>,
    changed: std::sync::Condvar,
}

impl HeldSyncs {
    fn hold(&self, held: bool) {
        self.gate.lock().unwrap().0 = held;
        self.changed.notify_all();
    }

    fn sync(&self) {
        let mut gate = self.gate.lock().unwrap();
        gate.1 += 1;
        self.changed.notify_all();
        while gate.0 {
            gate = self.changed.wait(gate).unwrap();
        }
        gate.1 -= 1;
    }

    /// Waits until a sync is being held.
    fn wait_for_a_held_sync(&self) {
        let mut gate = self.gate.lock().unwrap();
        while gate.1 == 0 {
            gate = self.changed.wait(gate).unwrap();
        }
    }
}

#[derive(Debug)]
struct Held {
    os: rewind::OsFileSystem,
    syncs: std::sync::Arc<HeldSyncs>,
}

#[derive(Debug)]
struct HeldFile {
    file: std::sync::Arc<dyn rewind::StoreFile>,
    syncs: std::sync::Arc<HeldSyncs>,
}

impl rewind::StoreFile for HeldFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.file.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)
    }
    fn size(&self) -> std::io::Result<u64> {
        self.file.size()
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.syncs.sync();
        self.file.sync_data()
    }
    fn sync_all(&self) -> std::io::Result<()> {
        self.syncs.sync();
        self.file.sync_all()
    }
}

impl rewind::FileSystem for Held {
    fn open(
        &self,
        path: &Path,
        mode: rewind::OpenMode,
    ) -> std::io::Result<std::sync::Arc<dyn rewind::StoreFile>> {
        let file = self.os.open(path, mode)?;
        Ok(std::sync::Arc::new(HeldFile {
            file,
            syncs: self.syncs.clone(),
        }))
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
        self.os.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.os.exists(path)
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.os.create_dir_all(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.os.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.os.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.syncs.sync();
        self.os.sync_dir(dir)
    }
    fn lock(&self, dir: &Path) -> rewind::Result<Box<dyn rewind::DirLock>> {
        self.os.lock(dir)
    }
}

/// Under `Durability::Always` a reader shows a write only once the writer's sync covering it
/// has completed: a record written but not yet synced is on disk — in the page cache — yet not
/// in any reader's view. Under `Never` readers see what is written, synced or not.
#[test]
fn under_always_a_reader_sees_a_write_only_after_its_sync() {
    use std::sync::Arc;
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("store");
    let syncs = Arc::new(HeldSyncs::default());
    let fs = Arc::new(Held {
        os: rewind::OsFileSystem,
        syncs: syncs.clone(),
    });
    let mut writer = FileStore::open(&dir, FileOptions::default().file_system(fs)).unwrap();
    let s = writer.create_session("agent", Default::default()).unwrap();
    write(&mut writer, s, 0, 2);
    let mut reader = FileStore::open_read_only(&dir, FileOptions::default()).unwrap();
    assert_eq!(reader.metrics().checkpoints, 2);
    let size = |dir: &Path| {
        segments(dir)
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .sum::<u64>()
    };
    let before = size(&dir);

    syncs.hold(true);
    let writing = std::thread::spawn(move || {
        write(&mut writer, s, 2, 1);
        writer
    });
    syncs.wait_for_a_held_sync();
    assert!(
        size(&dir) > before + 2000,
        "the record is written, waiting for its sync"
    );
    reader.refresh().unwrap();
    assert_eq!(
        reader.metrics().checkpoints,
        2,
        "an unsynced write was shown"
    );
    let late = FileStore::open_read_only(&dir, FileOptions::default()).unwrap();
    assert_eq!(
        late.metrics().checkpoints,
        2,
        "an unsynced write was shown at open"
    );

    syncs.hold(false);
    let writer = writing.join().unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.metrics().checkpoints, 3);
    assert_eq!(fingerprint(&reader), fingerprint(&writer));
    drop(writer);

    // Durability::Never: no sync happens, and readers see the write anyway.
    let mut writer = FileStore::open(
        &dir,
        FileOptions::default().durability(rewind::Durability::Never),
    )
    .unwrap();
    write(&mut writer, s, 3, 1);
    reader.refresh().unwrap();
    assert_eq!(reader.metrics().checkpoints, 4);
}
