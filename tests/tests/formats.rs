//! Formats are promises: every log format version this build has written stays readable. Each
//! version has a golden store directory and a golden binary export in `tests/golden/v<N>/`,
//! written by that version (`write_golden_for_this_version` writes the current one), with the
//! sessions and checkpoints they must read as (`expected.txt`).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use rewind::core::frame::FORMAT_VERSION;
use rewind::{FileOptions, FileStore, NewCheckpoint, Query, Severity, Store, SystemEnv};
use rewind_tests::TempDir;

const VERSIONS: [u16; 3] = [1, 2, 3];

fn golden(version: u16) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("golden/v{version}"))
}

/// Sessions, then checkpoints newest first: seq, id, hash, annotation count, state hash.
fn listing<B: rewind::Backend>(store: &Store<B, SystemEnv>) -> String {
    let mut out = String::new();
    for s in store.sessions() {
        let head = s.head.map(|h| h.to_string());
        let _ = writeln!(
            out,
            "session {} {} head {head:?} checkpoints {}",
            s.id, s.name, s.checkpoints
        );
    }
    for c in store.list(&Query::default()).unwrap().items {
        let _ = writeln!(
            out,
            "{} {} {} {} {}",
            c.seq,
            c.id,
            c.hash,
            store.annotations(c.id).unwrap().len(),
            rewind::Hash::of(&store.state(c.id).unwrap())
        );
    }
    out
}

/// The checkpoint lines of a listing without their seqs (an import hands out new seqs).
fn without_seqs(listing: &str) -> Vec<String> {
    let mut lines: Vec<String> = listing
        .lines()
        .filter(|l| !l.starts_with("session "))
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect();
    lines.sort();
    lines
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_format_version_opens_with_the_same_ids_hashes_and_states() {
    for version in VERSIONS {
        let dir = golden(version).join("store");
        let expected = fs::read_to_string(golden(version).join("expected.txt")).unwrap();
        let before = files(&dir);
        let store = FileStore::open_read_only(&dir, FileOptions::default())
            .unwrap_or_else(|e| panic!("version {version} does not open: {e}"));
        assert_eq!(store.format_version(), version);
        assert_eq!(store.log_head().is_some(), version >= 2);
        assert_eq!(listing(&store), expected, "version {version}");
        assert!(
            store.verify().is_ok(),
            "version {version}: {:?}",
            store.verify()
        );
        drop(store);
        assert_eq!(
            files(&dir),
            before,
            "version {version}: reading changed the golden"
        );
    }
}

#[test]
fn every_format_versions_export_imports_with_the_same_ids_hashes_and_states() {
    for version in VERSIONS {
        let export = fs::read(golden(version).join("export.rwd")).unwrap();
        let expected = fs::read_to_string(golden(version).join("expected.txt")).unwrap();
        let mut store = rewind::memory_store().unwrap();
        store
            .import_binary(&export)
            .unwrap_or_else(|e| panic!("version {version}'s export does not import: {e}"));
        assert_eq!(
            without_seqs(&listing(&store)),
            without_seqs(&expected),
            "version {version}"
        );
    }
}

#[test]
fn an_older_store_keeps_working_and_a_compaction_upgrades_it() {
    for version in [1, 2] {
        let tmp = TempDir::new().unwrap();
        let dir = tmp.path().join("store");
        copy_dir(&golden(version).join("store"), &dir);
        let expected = fs::read_to_string(golden(version).join("expected.txt")).unwrap();

        let mut store = FileStore::open(&dir, FileOptions::default().segment_bytes(2048)).unwrap();
        assert_eq!(store.format_version(), version);
        let s = store.sessions().next().unwrap().id;
        let added = store
            .checkpoint(NewCheckpoint::new(s, "written by this build", b"{\"v\":1}"))
            .unwrap()
            .id;
        drop(store);
        let store = FileStore::open(&dir, FileOptions::default()).unwrap();
        assert_eq!(
            store.format_version(),
            version,
            "appending keeps a log's version"
        );
        assert!(store.verify().is_ok());
        assert_eq!(store.state(added).unwrap(), b"{\"v\":1}");
        drop(store);

        let mut store = FileStore::open(&dir, FileOptions::default()).unwrap();
        store.vacuum().unwrap();
        assert_eq!(store.format_version(), FORMAT_VERSION);
        let head = store.log_head().expect("a rewritten log has a head");
        drop(store);
        let store = FileStore::open(&dir, FileOptions::default()).unwrap();
        assert_eq!(store.format_version(), FORMAT_VERSION);
        assert_eq!(store.log_head(), Some(head));
        assert!(store.verify().is_ok());
        let mut want = without_seqs(&expected);
        want.retain(|l| !l.is_empty());
        let got = without_seqs(&listing(&store));
        for line in &want {
            assert!(
                got.contains(line),
                "version {version}: lost by the upgrade: {line}"
            );
        }
        assert_eq!(got.len(), want.len() + 1);
    }
}

/// Writes the golden store and export of the format this build writes into
/// `tests/golden/v<FORMAT_VERSION>/`. Run once when a format version is introduced:
/// `REWIND_WRITE_GOLDEN=1 cargo test -p rewind-tests --test formats -- --ignored`.
#[test]
#[ignore = "writes the golden files of a new format version"]
fn write_golden_for_this_version() {
    if std::env::var_os("REWIND_WRITE_GOLDEN").is_none() {
        return;
    }
    let root = golden(FORMAT_VERSION);
    let dir = root.join("store");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&root).unwrap();
    {
        let mut store = FileStore::open(&dir, FileOptions::default().segment_bytes(2048)).unwrap();
        let s = store.create_session("golden", Default::default()).unwrap();
        let t = store.create_session("other", Default::default()).unwrap();
        let mut ids = Vec::new();
        for i in 0..10u32 {
            let text = "abc".repeat(100 + i as usize * 20);
            let state = format!("{{\"turn\":{i},\"text\":\"{text}\"}}");
            let session = if i % 3 == 2 { t } else { s };
            let tag = if i % 2 == 0 { "even" } else { "odd" };
            let mut cp =
                NewCheckpoint::new(session, format!("turn {i}"), state.as_bytes()).tag(tag);
            // Attachments that grow from one checkpoint to the next (derived records).
            let writes = format!("[{}]", "\"write\",".repeat(40 + i as usize * 30));
            if i >= 6 {
                cp = cp.attach("writes", "application/json", writes.as_bytes());
            }
            ids.push(store.checkpoint(cp).unwrap().id);
        }
        store
            .annotate(ids[2], "looked wrong", Severity::Critical)
            .unwrap();
        store.delete(ids[4]).unwrap();
        // A rewrite: ids[6], whose parent is gone, names it by id and hash from here on.
        store.vacuum().unwrap();
        store.restore(ids[1]).unwrap();
        store
            .checkpoint(NewCheckpoint::new(s, "fork", b"{\"alt\":true}"))
            .unwrap();
        store
            .attach(ids[9], "notes", "text/plain", b"attached after the fact")
            .unwrap();
        fs::write(root.join("export.rwd"), store.export_binary(None).unwrap()).unwrap();
    }
    fs::remove_file(dir.join(rewind::LOCK_FILE)).unwrap();
    // The golden is the log: an open must read it, not an index snapshot of it.
    let _ = fs::remove_file(dir.join(rewind::INDEX_FILE));
    let store = FileStore::open_read_only(&dir, FileOptions::default()).unwrap();
    fs::write(root.join("expected.txt"), listing(&store)).unwrap();
}
