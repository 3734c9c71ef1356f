//! Power cuts on a simulated disk (`rewind_tests::power_loss`): the file backend's syncs are in
//! the right places — nothing acknowledged is lost and nothing synced is damaged, whatever a cut
//! drops, tears or reorders — and the simulation itself keeps only what POSIX promises.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rewind::core::conformance::power_loss_seeds;
use rewind::{DirLock, FileSystem, OpenMode, StoreFile};
use rewind_tests::{PowerLossFiles, SimulatedDisk};

/// Sequences per run: a few hundred here; `scripts/acceptance.sh` sets `POWER_LOSS_SEEDS` for
/// the full run. `POWER_LOSS_FROM` moves the first seed (to replay one that failed:
/// `POWER_LOSS_FROM=2204 POWER_LOSS_SEEDS=1`).
fn seeds() -> u64 {
    env_number("POWER_LOSS_SEEDS").unwrap_or(300)
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Random writes (with compactions, rotations and imports), each synced before it returns,
/// cut by power losses at random storage calls, also while the restarted store opens: every
/// restart opens without damage, verifies, and holds every acknowledged write.
#[test]
fn power_cuts_lose_nothing_acknowledged_and_damage_nothing() {
    let mut h = PowerLossFiles::new();
    let n = seeds();
    let from = env_number("POWER_LOSS_FROM").unwrap_or(1);
    let report = power_loss_seeds(&mut h, from..=from + n - 1);
    println!(
        "{report:?}; torn tails moved aside: {}, abandoned generations removed: {}",
        h.torn_tails, h.abandoned_generations
    );
    // The run reached what it claims to test: cuts before and after the acknowledgement, lost
    // and kept writes, cuts during opens, torn tails.
    if n < 100 {
        return; // replaying a few seeds: the coverage below needs a run
    }
    assert!(report.cuts >= n, "{report:?}");
    assert!(report.acknowledged_at_cut > 0, "{report:?}");
    assert!(report.kept_at_cut > 0, "{report:?}");
    assert!(report.lost_at_cut > 0, "{report:?}");
    assert!(report.cuts_during_open > 0, "{report:?}");
    assert!(h.torn_tails > 0 && h.abandoned_generations > 0);
}

/// The scenarios every backend passes also pass on the simulated disk with the power on: the
/// simulation is a file system the backend works on, not a different one.
mod without_cuts {
    rewind_core::conformance_tests!(rewind_tests::PowerLossFiles::new());
}

/// A file system that forgets to sync what `forget` names: the simulated disk beneath, with
/// those syncs turned into no-ops (what a misplaced or missing fsync looks like).
#[derive(Debug)]
struct Forgetful {
    disk: SimulatedDisk,
    forget: Forget,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Forget {
    FileSyncs,
    DirectorySyncs,
}

#[derive(Debug)]
struct ForgetfulFile {
    file: Arc<dyn StoreFile>,
}

impl StoreFile for ForgetfulFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.file.size()
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
    fn sync_all(&self) -> io::Result<()> {
        Ok(())
    }
}

impl FileSystem for Forgetful {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>> {
        let file = self.disk.open(path, mode)?;
        Ok(match self.forget {
            Forget::FileSyncs => Arc::new(ForgetfulFile { file }),
            Forget::DirectorySyncs => file,
        })
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
        self.disk.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.disk.exists(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.disk.create_dir_all(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.disk.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.disk.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match self.forget {
            Forget::DirectorySyncs => Ok(()),
            Forget::FileSyncs => self.disk.sync_dir(dir),
        }
    }
    fn lock(&self, dir: &Path) -> rewind::Result<Box<dyn DirLock>> {
        self.disk.lock(dir)
    }
}

/// The scenario catches a missing sync: with file syncs or directory syncs skipped, power cuts
/// lose acknowledged writes (or leave a store that does not open) within the default run.
#[test]
fn the_power_cut_scenario_catches_missing_syncs() {
    for forget in [Forget::FileSyncs, Forget::DirectorySyncs] {
        let mut h = PowerLossFiles::mounted(Arc::new(move |disk| {
            Arc::new(Forgetful { disk, forget }) as Arc<dyn FileSystem>
        }));
        let n = seeds();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            power_loss_seeds(&mut h, 1..=n)
        }));
        assert!(caught.is_err(), "forgetting {forget:?} went unnoticed");
    }
}

/// What the simulated disk keeps after a power cut, against what POSIX promises.
#[test]
fn the_simulated_disk_keeps_synced_bytes_and_names_only() {
    let dir = Path::new("/d");
    let mut survived_unsynced = 0;
    let mut torn = 0;
    for seed in 0..200 {
        let disk = SimulatedDisk::new();
        disk.create_dir_all(dir).unwrap();
        let a = disk.open(&dir.join("a"), OpenMode::CreateNew).unwrap();
        a.write_all_at(b"synced", 0).unwrap();
        a.sync_data().unwrap();
        disk.sync_dir(dir).unwrap();
        a.write_all_at(b" and not", 6).unwrap();
        let b = disk.open(&dir.join("b"), OpenMode::CreateNew).unwrap();
        b.write_all_at(b"file synced, name not", 0).unwrap();
        b.sync_all().unwrap();
        disk.cut_power_after(1);
        assert!(
            a.write_all_at(b"!", 14).is_err(),
            "the call at the cut fails"
        );
        assert!(
            a.read_at(&mut [0; 4], 0).is_err(),
            "and so does every later one"
        );

        let after = disk.after_power_loss(seed);
        let a = after.open(&dir.join("a"), OpenMode::Read).unwrap();
        let mut bytes = vec![0; a.size().unwrap() as usize];
        a.read_exact_at(&mut bytes, 0).unwrap();
        assert!(bytes.starts_with(b"synced"), "synced bytes stay: {bytes:?}");
        let rest = &bytes[6..];
        survived_unsynced += usize::from(!rest.is_empty());
        // Anything but nothing, all of the first write, or all of both, is a tear or a
        // reordering.
        torn += usize::from(![&b""[..], b" and not", b" and not!"].contains(&rest));
        let names = after.names(dir);
        assert!(names.iter().any(|n| n == "a"));
        if names.iter().any(|n| n == "b") {
            // The name survived by luck; the content was synced.
            let b = after.open(&dir.join("b"), OpenMode::Read).unwrap();
            assert_eq!(b.size().unwrap(), 21);
        }
    }
    assert!(survived_unsynced > 0 && survived_unsynced < 200);
    assert!(torn > 0, "some unsynced writes are torn");
}

/// A rename is atomic across a power cut: the target names the old file or the new one, whole.
#[test]
fn a_rename_is_atomic_across_a_power_cut() {
    let dir = Path::new("/d");
    let mut saw = [false; 2];
    for seed in 0..100 {
        let disk = SimulatedDisk::new();
        disk.create_dir_all(dir).unwrap();
        for (name, text) in [("target", "old"), ("tmp", "new")] {
            let f = disk.open(&dir.join(name), OpenMode::CreateNew).unwrap();
            f.write_all_at(text.as_bytes(), 0).unwrap();
            f.sync_all().unwrap();
        }
        disk.sync_dir(dir).unwrap();
        disk.rename(&dir.join("tmp"), &dir.join("target")).unwrap();
        disk.cut_power_after(1);
        let after = disk.after_power_loss(seed);
        let f = after.open(&dir.join("target"), OpenMode::Read).unwrap();
        let mut text = vec![0; f.size().unwrap() as usize];
        f.read_exact_at(&mut text, 0).unwrap();
        match &text[..] {
            b"old" => saw[0] = true,
            b"new" => saw[1] = true,
            other => panic!("the target holds {other:?}"),
        }
    }
    assert_eq!(saw, [true, true]);
}

/// A native writer — a `SharedStore` on even seeds, a one-thread `FileStore` on odd ones —
/// whose whole snapshots are merged on a background thread (small snapshot sizes, so merges
/// run all the time), cut by a power loss at a random storage call — while a merge writes its
/// file, renames it, or a delta is written: the store reopens, through its snapshot or by
/// replay, with every acknowledged checkpoint and the same content both ways.
#[test]
fn power_cuts_during_background_snapshot_merges_lose_nothing() {
    use rewind::{Durability, FileOptions, FileStore, NewCheckpoint, SharedStore};

    enum Writer {
        Shared(SharedStore),
        Single(Box<FileStore>),
    }
    impl Writer {
        fn checkpoint(&mut self, new: NewCheckpoint<'_>) -> Option<rewind::CheckpointId> {
            match self {
                Writer::Shared(store) => store.checkpoint(new).ok().map(|cp| cp.id),
                Writer::Single(store) => store.checkpoint(new).ok().map(|cp| cp.id),
            }
        }
        fn merged(&self) -> u64 {
            match self {
                Writer::Shared(store) => store.metrics().ops.snapshots_merged,
                Writer::Single(store) => store.metrics().ops.snapshots_merged,
            }
        }
    }

    let runs = env_number("POWER_LOSS_MERGE_SEEDS").unwrap_or(40);
    let dir = Path::new("/store");
    let mut merged = 0;
    for seed in 0..runs {
        let disk = SimulatedDisk::new();
        let options = |disk: &SimulatedDisk| {
            let mut options = FileOptions::default().durability(Durability::Always);
            options.store = options.store.snapshot_every(4 << 10);
            options.file_system = Arc::new(disk.clone());
            options
        };
        let mut acked = Vec::new();
        {
            let (mut store, session) = if seed % 2 == 0 {
                let store = SharedStore::open(dir, options(&disk)).unwrap();
                let session = store.create_session("merges", Default::default()).unwrap();
                (Writer::Shared(store), session)
            } else {
                let mut store = FileStore::open(dir, options(&disk)).unwrap();
                let session = store.create_session("merges", Default::default()).unwrap();
                (Writer::Single(Box::new(store)), session)
            };
            disk.cut_power_after(200 + seed * 37 % 1500);
            for i in 0..2000u64 {
                let state = format!("{{\"i\":{i},\"pad\":\"{}\"}}", format!("{i:06}").repeat(40));
                match store.checkpoint(NewCheckpoint::new(session, "step", state.as_bytes())) {
                    Some(id) => acked.push((id, state)),
                    None => break,
                }
            }
            merged += store.merged();
        }
        let disk = disk.after_power_loss(seed);
        let why = format!("seed {seed}, {} acknowledged", acked.len());
        // A writer's open first (it recovers what the cut left), then a replay beside it.
        let through = FileStore::open(dir, options(&disk)).expect(&why);
        for (id, state) in &acked {
            assert_eq!(through.state(*id).expect(&why), state.as_bytes(), "{why}");
        }
        drop(through);
        let through = FileStore::open_read_only(dir, options(&disk)).expect(&why);
        let mut replay = options(&disk);
        replay.store = replay.store.use_snapshot(false);
        let replayed = FileStore::open_read_only(dir, replay).expect(&why);
        assert_eq!(
            rewind::core::conformance::fingerprint(&*through),
            rewind::core::conformance::fingerprint(&*replayed),
            "{why}"
        );
        assert_eq!(
            through.metrics().checkpoints,
            replayed.metrics().checkpoints,
            "{why}"
        );
        assert!(replayed.verify().is_ok(), "{why}");
    }
    println!("{runs} power cuts during background merges; {merged} merges installed before them");
    assert!(merged > 0, "no merge was installed before a cut");
}

/// Writers on several threads of a `SharedStore` under `Durability::Always`, whose writes share
/// one sync (group commit), cut by a power loss at a random storage call: the disk may keep a
/// later write of a group without an earlier one, and the writer that reopens the store takes
/// what lies past the durable mark for the torn tail it is (none of it was acknowledged) rather
/// than damage — every acknowledged checkpoint is there, and the store opens.
#[test]
fn power_cuts_during_group_commits_lose_nothing() {
    use std::sync::Mutex;

    use rewind::{Durability, FileOptions, FileStore, NewCheckpoint, SharedStore};

    let runs = env_number("POWER_LOSS_GROUP_SEEDS").unwrap_or(30);
    let dir = Path::new("/store");
    let mut torn = 0;
    for seed in 0..runs {
        let disk = SimulatedDisk::new();
        let options = |disk: &SimulatedDisk| {
            let mut options = FileOptions::default()
                .durability(Durability::Always)
                .segment_bytes(16 << 10);
            options.file_system = Arc::new(disk.clone());
            options
        };
        let acked = Mutex::new(Vec::new());
        {
            let store = SharedStore::open(dir, options(&disk)).unwrap();
            let session = store.create_session("group", Default::default()).unwrap();
            disk.cut_power_after(100 + seed * 53 % 900);
            std::thread::scope(|scope| {
                for t in 0..4u64 {
                    let (store, acked) = (&store, &acked);
                    scope.spawn(move || {
                        for i in 0..300u64 {
                            let state = format!(
                                "{{\"t\":{t},\"i\":{i},\"pad\":\"{}\"}}",
                                "x".repeat((i % 200) as usize)
                            );
                            match store.checkpoint(NewCheckpoint::new(
                                session,
                                "w",
                                state.as_bytes(),
                            )) {
                                Ok(cp) => acked.lock().unwrap().push((cp.id, state)),
                                Err(_) => return,
                            }
                        }
                    });
                }
            });
        }
        let disk = disk.after_power_loss(seed);
        let acked = acked.into_inner().unwrap();
        let why = format!("seed {seed}, {} acknowledged", acked.len());
        let store = FileStore::open(dir, options(&disk)).expect(&why);
        if store.open_report().torn_tail.is_some() {
            torn += 1;
        }
        for (id, state) in &acked {
            assert_eq!(store.state(*id).expect(&why), state.as_bytes(), "{why}");
        }
        assert!(store.verify().is_ok(), "{why}");
    }
    println!("{runs} power cuts during group commits; {torn} left a torn tail");
}
