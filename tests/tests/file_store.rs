//! The native file store as a user meets it: the writer lock across and within processes, file
//! permissions, segment rotation, torn tails, corruption and repair, compaction and generation
//! switches, injected I/O failures on real files, `SharedStore` and seqs across restarts.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rewind::core::frame::{self, HEADER_LEN};
use rewind::core::log;
use rewind::{
    BackendError, CheckpointId, CorruptKind, Durability, Event, FileBackend, FileOptions,
    FileStore, NewCheckpoint, Options, RetentionPolicy, SessionId, SharedStore, Store, SystemEnv,
};
use rewind_core::conformance::FaultyBackend;
use rewind_tests::TempDir;

// ----- helpers -------------------------------------------------------------------------------

/// A JSON state of about `len` bytes whose content is unique to `n` (random hex), so no two
/// states share a chunk and a state's bytes identify the frame that holds them.
fn state_of(n: u64, len: usize) -> Vec<u8> {
    let mut x = (n.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = format!("{{\"n\":{n},\"data\":\"").into_bytes();
    while out.len() + 2 < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(b"0123456789abcdef"[(x & 15) as usize]);
    }
    out.extend_from_slice(b"\"}");
    out
}

/// What a test remembers of an acknowledged checkpoint.
#[derive(Clone, Debug, PartialEq)]
struct Saved {
    id: CheckpointId,
    seq: u64,
    hash: rewind::Hash,
    message: String,
    state: Vec<u8>,
}

fn options(segment_bytes: u64) -> FileOptions {
    FileOptions::default().segment_bytes(segment_bytes)
}

/// Writes `count` checkpoints with states of `len` bytes, numbered from `first`.
fn write_checkpoints(
    store: &mut FileStore,
    session: SessionId,
    first: u64,
    count: u64,
    len: usize,
) -> Vec<Saved> {
    (first..first + count)
        .map(|n| {
            let state = state_of(n, len);
            let message = format!("step {n}");
            let cp = store
                .checkpoint(NewCheckpoint::new(session, message.clone(), &state))
                .unwrap_or_else(|e| panic!("checkpoint {n}: {e}"));
            Saved {
                id: cp.id,
                seq: cp.seq,
                hash: cp.hash,
                message,
                state,
            }
        })
        .collect()
}

/// Asserts that every saved checkpoint is in the store, unchanged.
fn assert_present(store: &Store<FileBackend, SystemEnv>, saved: &[Saved]) {
    assert_present_with(store, saved, true);
}

/// Asserts that every saved checkpoint is in the store, unchanged but for its hash (in a
/// repaired version 3 log, the descendants of a checkpoint whose record was lost have new
/// hashes: a hash covers the parent's, which their records do not repeat).
fn assert_present_rehashed(store: &Store<FileBackend, SystemEnv>, saved: &[Saved]) {
    assert_present_with(store, saved, false);
}

fn assert_present_with(store: &Store<FileBackend, SystemEnv>, saved: &[Saved], same_hash: bool) {
    for s in saved {
        let cp = store
            .get(s.id)
            .unwrap_or_else(|e| panic!("checkpoint seq {} is missing: {e}", s.seq));
        assert_eq!(cp.seq, s.seq, "seq of {}", s.id);
        assert_eq!(cp.hash == s.hash, same_hash, "hash of {}", s.id);
        assert_eq!(cp.message, s.message, "message of {}", s.id);
        assert_eq!(
            store.state(s.id).expect("state"),
            s.state,
            "state of {}",
            s.id
        );
    }
}

fn assert_absent(store: &Store<FileBackend, SystemEnv>, id: CheckpointId) {
    match store.get(id) {
        Err(rewind::core::Error::CheckpointNotFound(got)) => assert_eq!(got, id),
        other => panic!("expected CheckpointNotFound for {id}, got {other:?}"),
    }
}

/// Every segment file with its bytes.
fn segments_with_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    segment_files(dir)
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// The segment files in `dir`, sorted by name (generation, then segment).
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list store dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    out.sort();
    out
}

fn seg_name(generation: u32, segment: u32) -> String {
    format!("{generation:08x}-{segment:08x}.seg")
}

/// (offset, total length) of every intact frame of a segment file.
fn frames_of(path: &Path) -> Vec<(u64, u64)> {
    let bytes = fs::read(path).expect("read segment");
    assert_eq!(frame::check_header(&bytes), Ok(frame::FORMAT_VERSION));
    log::frames(&bytes, HEADER_LEN)
        .map(|f| {
            let f = f.expect("a healthy segment");
            (f.offset as u64, (f.end() - f.offset) as u64)
        })
        .collect()
}

/// The segment and frame (offset, length) whose payload holds `state`.
fn frame_holding(dir: &Path, state: &[u8]) -> (PathBuf, u64, u64) {
    let needle = &state[state.len() / 2..state.len() / 2 + 32];
    for path in segment_files(dir) {
        let bytes = fs::read(&path).expect("read segment");
        for (offset, len) in frames_of(&path) {
            let frame = &bytes[offset as usize..(offset + len) as usize];
            if frame.windows(needle.len()).any(|w| w == needle) {
                return (path, offset, len);
            }
        }
    }
    panic!("no frame holds the state");
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).expect("stat").len()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    let mut content = fs::read(path).expect("read");
    content[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
    fs::write(path, content).expect("write");
}

/// The first line of `CURRENT`, the one naming the live generation.
/// Flips the bits of `mask` in the byte at `offset` of `path`.
fn flip(path: &Path, offset: u64, mask: u8) {
    let original = fs::read(path).expect("read")[offset as usize];
    patch(path, offset, &[original ^ mask]);
}

fn current_generation(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join(rewind::CURRENT_FILE)).expect("read CURRENT");
    format!("{}\n", text.lines().next().unwrap_or_default())
}

/// Bytes of the frame that closes every write (format version 2).
const SEAL_FRAME: u64 = 8 + 1 + 16;

/// Where a segment's first record starts: after its header and segment start.
fn opening_len(seg: &Path) -> u64 {
    let (offset, len) = frames_of(seg)[0];
    offset + len
}

/// Snapshot of the store's data files (segments and CURRENT), to prove nothing changed them.
fn data_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = segment_files(dir)
        .into_iter()
        .chain([dir.join(rewind::CURRENT_FILE)])
        .map(|p| {
            let bytes = fs::read(&p).expect("read");
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// Every file in the store directory with its bytes, to prove a reader changed nothing.
fn store_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .expect("list")
        .map(|e| {
            let p = e.expect("entry").path();
            let bytes = fs::read(&p).expect("read");
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// The open report's torn tail as (file, offset, len, moved to).
fn tail_of(store: &FileStore) -> Option<(PathBuf, u64, u64, Option<PathBuf>)> {
    let t = store.open_report().torn_tail.as_ref()?;
    Some((t.file.clone(), t.offset, t.len, t.moved_to.clone()))
}

#[track_caller]
fn assert_locked(result: rewind::Result<impl std::fmt::Debug>, dir: &Path, pid: u32) {
    match result {
        Err(err @ rewind::Error::Locked { .. }) => {
            let rewind::Error::Locked { path, pid: got } = &err else {
                unreachable!()
            };
            assert_eq!(path, dir);
            assert_eq!(*got, Some(pid));
            let text = err.to_string();
            assert!(
                text.contains(&format!("locked by pid {pid}")),
                "message does not name the holder: {text}"
            );
        }
        other => panic!("expected Locked by pid {pid}, got {other:?}"),
    }
}

/// Starts `crash_writer hold <dir>` and waits until it holds the lock; returns it and its pid.
fn spawn_holder(dir: &Path) -> (Child, u32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg("hold")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn crash_writer");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("child stdout"))
        .read_line(&mut line)
        .expect("read from crash_writer");
    let pid: u32 = line
        .trim()
        .strip_prefix("locked ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("crash_writer said {line:?} instead of `locked <pid>`"));
    assert_eq!(pid, child.id());
    (child, pid)
}

// ----- 1, 2: the writer lock -----------------------------------------------------------------

#[test]
fn another_process_holding_the_store_locks_out_both_handles_until_it_exits() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = {
        let mut store = FileStore::open(&dir, FileOptions::default()).expect("create");
        let s = store.create_session("agent", Default::default()).unwrap();
        write_checkpoints(&mut store, s, 0, 3, 300)
    };

    // A holder that exits normally.
    let (mut child, pid) = spawn_holder(&dir);
    assert_locked(FileStore::open(&dir, FileOptions::default()), &dir, pid);
    assert_locked(SharedStore::open(&dir, FileOptions::default()), &dir, pid);
    drop(child.stdin.take());
    let status = child.wait().expect("wait for holder");
    assert!(status.success(), "holder exited with {status}");
    let store = FileStore::open(&dir, FileOptions::default()).expect("open after holder exit");
    assert_present(&store, &saved);
    drop(store);

    // A holder killed with SIGKILL: the OS drops its flock, no stale lock remains.
    let (mut child, pid) = spawn_holder(&dir);
    assert_locked(FileStore::open(&dir, FileOptions::default()), &dir, pid);
    child.kill().expect("kill -9 the holder");
    let status = child.wait().expect("wait for holder");
    assert!(!status.success());
    let store = FileStore::open(&dir, FileOptions::default()).expect("open after kill -9");
    assert_present(&store, &saved);
    drop(store);
    let store = SharedStore::open(&dir, FileOptions::default()).expect("shared open after kill");
    assert_eq!(store.metrics().checkpoints, 3);
}

#[test]
fn a_second_handle_in_the_same_process_is_refused_until_the_first_is_dropped() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let me = std::process::id();

    let first = FileStore::open(&dir, FileOptions::default()).expect("create");
    assert_eq!(
        rewind::StoreLock::holder(&dir).unwrap(),
        Some(rewind::Holder { pid: Some(me) }),
        "the live writer answers with its pid"
    );
    assert_locked(FileStore::open(&dir, FileOptions::default()), &dir, me);
    assert_locked(SharedStore::open(&dir, FileOptions::default()), &dir, me);
    drop(first);
    assert_eq!(
        rewind::StoreLock::holder(&dir).unwrap(),
        None,
        "a closed store leaves no writer behind"
    );
    drop(FileStore::open(&dir, FileOptions::default()).expect("open after drop"));

    let shared = SharedStore::open(&dir, FileOptions::default()).expect("shared");
    let clone = shared.clone();
    let other_thread = {
        let c = clone.clone();
        std::thread::spawn(move || c.metrics().checkpoints)
            .join()
            .unwrap()
    };
    assert_eq!(other_thread, 0);
    drop(shared);
    assert_locked(FileStore::open(&dir, FileOptions::default()), &dir, me);
    assert_locked(SharedStore::open(&dir, FileOptions::default()), &dir, me);
    drop(clone);
    drop(SharedStore::open(&dir, FileOptions::default()).expect("open after all clones dropped"));
    drop(FileStore::open(&dir, FileOptions::default()).expect("file store after shared"));
}

#[test]
fn deleting_every_deletable_file_under_a_live_writer_does_not_let_a_second_writer_in() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 64 << 20, 3, 300);
    let (mut child, pid) = spawn_holder(&dir);
    // Everything a user (or a cleanup script) could delete in the directory, except the data.
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".seg") && name != rewind::CURRENT_FILE {
            fs::remove_file(&path).unwrap();
        }
    }
    assert!(!dir.join(rewind::LOCK_FILE).exists());
    assert_locked(FileStore::open(&dir, FileOptions::default()), &dir, pid);
    assert_locked(SharedStore::open(&dir, FileOptions::default()), &dir, pid);
    assert_eq!(
        rewind::StoreLock::holder(&dir).unwrap(),
        Some(rewind::Holder { pid: Some(pid) })
    );
    // The holder dies from SIGKILL: the kernel frees the lock with it.
    child.kill().expect("kill -9 the holder");
    child.wait().expect("wait for holder");
    assert_eq!(rewind::StoreLock::holder(&dir).unwrap(), None);
    let store = FileStore::open(&dir, FileOptions::default()).expect("open after kill -9");
    assert_present(&store, &saved);
}

// ----- read-only opens ------------------------------------------------------------------------

#[test]
fn a_read_only_open_writes_creates_and_deletes_nothing_and_refuses_writes() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 4096, 12, 900);
    {
        // An import is one transaction of several records: it is what gets cut below.
        let mut other = Store::open(
            rewind::MemoryBackend::new(),
            SystemEnv::new(),
            Options::default(),
        )
        .unwrap()
        .0;
        let s = other
            .create_session("imported", Default::default())
            .unwrap();
        for n in 0..3u8 {
            other
                .checkpoint(NewCheckpoint::new(s, "imported", &[n; 200]))
                .unwrap();
        }
        let mut store = FileStore::open(&dir, options(4096)).unwrap();
        store
            .import_binary(&other.export_binary(None).unwrap())
            .unwrap();
    }
    // What only a writer may touch: the lock file, an interrupted compaction's next generation,
    // and a transaction the log ends inside (the last record of the last write cut off).
    fs::remove_file(dir.join(rewind::LOCK_FILE)).unwrap();
    fs::write(dir.join(seg_name(2, 99)), frame::header()).unwrap();
    let last = segment_files(&dir)
        .into_iter()
        .rfind(|p| !p.ends_with(seg_name(2, 99)))
        .unwrap();
    let bytes = fs::read(&last).unwrap();
    let last_frame = log::frames(&bytes, HEADER_LEN)
        .map(|f| f.expect("intact"))
        .last()
        .expect("a frame");
    let cut_at = last_frame.offset;
    fs::write(&last, &bytes[..cut_at]).unwrap();
    let before = store_files(&dir);

    let mut reader = FileStore::open_read_only(&dir, options(4096)).expect("open read-only");
    assert!(reader.is_read_only());
    let report = reader.open_report().clone();
    assert!(
        report.load.unfinished_transaction,
        "the cut left a transaction open"
    );
    assert_eq!(report.torn_tail, None);
    assert!(report.removed_stale_files.is_empty());
    assert_present(&reader, &saved);
    assert_eq!(
        reader.metrics().checkpoints,
        12,
        "none of the cut import is read"
    );
    let s = reader.sessions().next().unwrap().id;
    match reader.checkpoint(NewCheckpoint::new(s, "refused", b"{}")) {
        Err(rewind::core::Error::Backend(BackendError::ReadOnly)) => {}
        other => panic!("a read-only store accepted a write: {other:?}"),
    }
    assert!(reader.compact(&RetentionPolicy::keep_last(1)).is_err());
    assert_present(&reader, &saved);
    reader.flush().expect("flushing nothing succeeds");
    drop(reader);
    assert_eq!(
        store_files(&dir),
        before,
        "a read-only open changed the store"
    );

    // The writer's open then does what the reader left alone.
    let writer = FileStore::open(&dir, options(4096)).expect("open for writing");
    assert!(!writer.is_read_only());
    assert_eq!(
        writer.open_report().removed_stale_files,
        vec![dir.join(seg_name(2, 99))]
    );
    assert!(writer.open_report().load.unfinished_transaction);
    assert_present(&writer, &saved);
    assert_eq!(writer.metrics().checkpoints, 12);
}

#[test]
fn a_read_only_open_never_creates_a_store() {
    let tmp = TempDir::new().expect("a temporary directory");
    let missing = tmp.path().join("typo");
    match FileStore::open_read_only(&missing, FileOptions::default()) {
        Err(rewind::Error::NotAStore { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected NotAStore, got {other:?}"),
    }
    assert!(!missing.exists(), "a reader created the directory");
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert!(matches!(
        FileStore::open_read_only(&empty, FileOptions::default()),
        Err(rewind::Error::NotAStore { .. })
    ));
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn a_reader_opens_beside_a_live_writer_in_another_process() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 64 << 10, 5, 300);
    let (mut child, pid) = spawn_holder(&dir);
    assert_locked(FileStore::open(&dir, FileOptions::default()), &dir, pid);
    let reader = FileStore::open_read_only(&dir, FileOptions::default()).expect("read beside it");
    assert_present(&reader, &saved);
    drop(reader);
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

// ----- the log commits to its own order (format version 2) -----------------------------------

/// Opens the store for reading and for writing; both must refuse with this corruption.
#[track_caller]
fn assert_refused(dir: &Path, kind: CorruptKind, file: &Path) {
    let before = store_files(dir);
    for (how, result) in [
        (
            "read-only",
            FileStore::open_read_only(dir, options(4096)).map(|_| ()),
        ),
        ("writer", FileStore::open(dir, options(4096)).map(|_| ())),
    ] {
        match result {
            Err(rewind::Error::Corrupt {
                kind: got, file: f, ..
            }) => {
                assert_eq!(got, kind, "{how}");
                assert_eq!(f, file, "{how}");
            }
            other => panic!(
                "{how}: expected {kind:?} in {}, got {other:?}",
                file.display()
            ),
        }
    }
    assert_eq!(store_files(dir), before, "a refused open changed the store");
}

#[test]
fn a_removed_segment_first_middle_or_last_stops_the_open_naming_it() {
    for which in ["first", "middle", "last"] {
        let tmp = TempDir::new().expect("a temporary directory");
        let dir = tmp.path().join("store");
        build_store(&dir, 4096, 30, 900);
        let segs = segment_files(&dir);
        assert!(segs.len() >= 5);
        let i = match which {
            "first" => 0,
            "middle" => segs.len() / 2,
            _ => segs.len() - 1,
        };
        fs::remove_file(&segs[i]).unwrap();
        // Named by the segment after it, or by CURRENT for the last.
        let number = i as u32 + 1;
        let err = FileStore::open_read_only(&dir, options(4096)).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("segment {number:08x} of the log is missing")),
            "{which}: {err}"
        );
        let file = match &err {
            rewind::Error::Corrupt { file, .. } => file.clone(),
            other => panic!("{which}: {other:?}"),
        };
        assert_refused(&dir, CorruptKind::SegmentMissing(number), &file);
    }
}

#[test]
fn a_frame_cut_out_or_a_record_edited_with_its_checksum_fixed_breaks_the_chain() {
    let build = |dir: &Path| {
        let mut store = FileStore::open(dir, options(1 << 20)).expect("create");
        let s = store
            .create_session("agent named here", Default::default())
            .unwrap();
        let saved = write_checkpoints(&mut store, s, 0, 8, 400);
        store
            .annotate(
                saved[2].id,
                "a note worth keeping",
                rewind::Severity::Warning,
            )
            .unwrap();
        write_checkpoints(&mut store, s, 10, 3, 400);
        saved
    };
    let edit = |seg: &Path, needle: &[u8]| {
        let mut bytes = fs::read(seg).unwrap();
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        bytes[at] ^= 0x20;
        let (off, len) = frames_of(seg)
            .into_iter()
            .find(|(o, l)| *o as usize <= at && at < (o + l) as usize)
            .unwrap();
        let (off, len) = (off as usize, len as usize);
        let crc = frame::crc32c(&bytes[off + 8..off + len]);
        bytes[off + 4..off + 8].copy_from_slice(&crc.to_le_bytes());
        fs::write(seg, bytes).unwrap();
    };
    for case in ["cut a checkpoint", "edit an annotation", "edit a session"] {
        let tmp = TempDir::new().expect("a temporary directory");
        let dir = tmp.path().join("store");
        let saved = build(&dir);
        let seg = segment_files(&dir).pop().unwrap();
        match case {
            "cut a checkpoint" => {
                let (_, offset, len) = frame_holding(&dir, &saved[4].state);
                let mut bytes = fs::read(&seg).unwrap();
                bytes.drain(offset as usize..(offset + len) as usize);
                fs::write(&seg, bytes).unwrap();
            }
            "edit an annotation" => edit(&seg, b"a note worth keeping"),
            _ => edit(&seg, b"agent named here"),
        }
        assert_refused(&dir, CorruptKind::ChainBroken, &seg);
    }
}

#[test]
fn an_export_with_injected_records_is_refused_whole() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let mut store = FileStore::open(&dir, options(1 << 20)).expect("create");
    let s = store.create_session("agent", Default::default()).unwrap();
    let saved = write_checkpoints(&mut store, s, 0, 4, 300);
    store
        .annotate(saved[1].id, "injected many times", rewind::Severity::Info)
        .unwrap();
    let export = store.export_binary(None).unwrap();
    // Copies of the annotation's frame (checksums intact) before the final seal.
    let spans: Vec<(usize, usize)> = log::frames(&export, HEADER_LEN)
        .map(|f| f.unwrap())
        .map(|f| (f.offset, f.end()))
        .collect();
    let (a, b) = *spans
        .iter()
        .find(|(a, b)| {
            export[*a..*b]
                .windows(19)
                .any(|w| w == b"injected many times")
        })
        .unwrap();
    let seal_at = spans.last().unwrap().0;
    let mut hostile = export[..seal_at].to_vec();
    for _ in 0..1000 {
        hostile.extend_from_slice(&export[a..b]);
    }
    hostile.extend_from_slice(&export[seal_at..]);
    let target = tmp.path().join("target");
    let mut other = FileStore::open(&target, options(1 << 20)).expect("create");
    let before = other.metrics();
    match other.import_binary(&hostile) {
        Err(rewind::core::Error::Corrupt { kind, .. }) => {
            assert_eq!(kind, CorruptKind::ChainBroken)
        }
        other => panic!("expected the chain to refuse the import, got {other:?}"),
    }
    assert_eq!(other.metrics(), before);
    // The untouched export imports.
    other
        .import_binary(&export)
        .expect("the real export imports");
    assert_eq!(other.metrics().annotations, 1);
}

// ----- 3: permissions ------------------------------------------------------------------------

#[test]
fn store_files_are_private_to_the_owner() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let mut store = FileStore::open(&dir, options(4096)).expect("create");
    let s = store.create_session("agent", Default::default()).unwrap();
    write_checkpoints(&mut store, s, 0, 12, 900);
    let check = |when: &str| {
        assert_eq!(mode(&dir), 0o700, "store directory {when}");
        let segs = segment_files(&dir);
        assert!(!segs.is_empty());
        for seg in segs {
            assert_eq!(mode(&seg), 0o600, "{} {when}", seg.display());
        }
        assert_eq!(
            mode(&dir.join(rewind::CURRENT_FILE)),
            0o600,
            "CURRENT {when}"
        );
        assert_eq!(mode(&dir.join(rewind::LOCK_FILE)), 0o600, "LOCK {when}");
    };
    check("after writes");
    store.compact(&RetentionPolicy::keep_last(2)).unwrap();
    check("after a compaction");
    drop(store);
    check("after close");
}

// ----- 4: segment rotation -------------------------------------------------------------------

#[test]
fn segments_rotate_and_every_checkpoint_reads_back_after_reopen() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let mut store = FileStore::open(&dir, options(4096)).expect("create");
    let s = store.create_session("agent", Default::default()).unwrap();
    let mut saved = write_checkpoints(&mut store, s, 0, 30, 1000);
    // A state five times the segment size still fits: it gets a segment of its own.
    saved.extend(write_checkpoints(&mut store, s, 30, 1, 20_000));
    saved.extend(write_checkpoints(&mut store, s, 31, 3, 1000));
    let live_segments = store.backend().segment_count();
    drop(store);

    let segs = segment_files(&dir);
    assert!(segs.len() >= 5, "only {} segments", segs.len());
    assert_eq!(segs.len(), live_segments);
    for (i, seg) in segs.iter().enumerate() {
        assert_eq!(
            seg.file_name().unwrap().to_str().unwrap(),
            seg_name(1, i as u32 + 1),
            "segments are numbered in order"
        );
    }
    let (big_seg, big_offset, big_len) = frame_holding(&dir, &saved[30].state);
    assert!(big_len > 20_000);
    assert_eq!(
        big_offset,
        opening_len(&big_seg),
        "the big state starts its own segment"
    );
    assert_eq!(
        file_len(&big_seg),
        opening_len(&big_seg) + big_len + SEAL_FRAME
    );

    let store = FileStore::open(&dir, options(4096)).expect("reopen");
    assert_eq!(store.open_report().segments, segs.len());
    assert_eq!(store.open_report().torn_tail, None);
    assert_eq!(store.metrics().checkpoints, saved.len() as u64);
    assert_present(&store, &saved);
    assert!(store.verify().is_ok());
}

// ----- 5: torn tail --------------------------------------------------------------------------

#[test]
fn a_torn_last_frame_is_cut_and_reported_and_the_rest_survives() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let mut store = FileStore::open(&dir, options(4096)).expect("create");
    let s = store.create_session("agent", Default::default()).unwrap();
    let saved = write_checkpoints(&mut store, s, 0, 10, 700);
    drop(store);

    let last_seg = segment_files(&dir).pop().unwrap();
    let (seg, offset, len) = frame_holding(&dir, &saved[9].state);
    assert_eq!(seg, last_seg);
    assert_eq!(
        offset + len + SEAL_FRAME,
        file_len(&seg),
        "the last checkpoint is the last record, before its seal"
    );
    let cut = offset + len / 2;
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(cut)
        .unwrap();

    let torn_bytes = fs::read(&seg).unwrap()[offset as usize..].to_vec();

    // A reader sees the nine whole checkpoints and changes nothing.
    let before = store_files(&dir);
    let reader = FileStore::open_read_only(&dir, options(4096)).expect("a reader opens");
    assert_eq!(
        tail_of(&reader),
        Some((seg.clone(), offset, cut - offset, None))
    );
    assert_eq!(reader.metrics().checkpoints, 9);
    drop(reader);
    assert_eq!(store_files(&dir), before, "a reader changed the store");

    let mut store = FileStore::open(&dir, options(4096)).expect("a torn tail opens");
    let report = store.open_report().clone();
    let aside = seg.with_file_name(format!(
        "{}.torn-{offset}",
        seg.file_name().unwrap().to_string_lossy()
    ));
    assert_eq!(
        tail_of(&store),
        Some((seg.clone(), offset, cut - offset, Some(aside.clone())))
    );
    assert_eq!(report.load.truncated_bytes, cut - offset);
    assert!(report.load.truncated_bytes > 0);
    assert_eq!(
        file_len(&seg),
        offset,
        "the torn bytes are gone from the segment"
    );
    assert_eq!(
        fs::read(&aside).unwrap(),
        torn_bytes,
        "the torn bytes are kept aside, whole"
    );
    assert_eq!(mode(&aside), 0o600);
    assert_eq!(store.metrics().checkpoints, 9);
    assert_present(&store, &saved[..9]);
    assert_absent(&store, saved[9].id);
    assert_eq!(
        store.session(s).unwrap().head,
        Some(saved[8].id),
        "the head is the newest surviving checkpoint"
    );
    let more = write_checkpoints(&mut store, s, 100, 4, 700);
    drop(store);

    let store = FileStore::open(&dir, options(4096)).expect("reopen after repair");
    assert_eq!(store.open_report().torn_tail, None);
    assert_eq!(store.open_report().load.truncated_bytes, 0);
    assert_present(&store, &saved[..9]);
    assert_present(&store, &more);
    assert_absent(&store, saved[9].id);
    assert_eq!(store.metrics().checkpoints, 13);
    assert!(store.verify().is_ok());
}

/// A write whose records landed but whose seal did not, at the end of a segment already past
/// its size: the writer's open voids and seals it in that same segment (a segment ends on a
/// sealed write), so the store opens again afterwards — a new segment for the closing frames
/// would leave the old one ending inside a write, which the next open takes for a removed seal.
#[test]
fn a_write_cut_before_its_seal_in_a_full_segment_is_closed_in_that_segment() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let mut store = FileStore::open(&dir, options(4096)).expect("create");
    let s = store.create_session("agent", Default::default()).unwrap();
    let kept = write_checkpoints(&mut store, s, 0, 1, 500);
    let cut_short = write_checkpoints(&mut store, s, 1, 1, 6000);
    drop(store);
    let last = segment_files(&dir).pop().unwrap();
    assert!(file_len(&last) > 4096, "the last segment is full");
    fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(file_len(&last) - SEAL_FRAME)
        .unwrap();
    let segments = segment_files(&dir);

    let mut store = FileStore::open(&dir, options(4096)).expect("a cut write opens");
    assert!(store.open_report().load.unfinished_transaction);
    assert_absent(&store, cut_short[0].id);
    assert_eq!(segment_files(&dir), segments, "no segment was started");
    let more = write_checkpoints(&mut store, s, 2, 2, 3000);
    drop(store);

    let store = FileStore::open(&dir, options(4096)).expect("the closed write reopens");
    assert_present(&store, &kept);
    assert_present(&store, &more);
    assert_absent(&store, cut_short[0].id);
    assert!(store.verify().is_ok());
}

/// A writer's open that reads the whole log and then finds it does not check out (two writes
/// after the last seal: seals were removed) fails and writes nothing — not even the `DURABLE`
/// file readers take their limit from.
#[test]
fn a_writer_open_that_fails_after_reading_the_log_writes_nothing() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let mut store = FileStore::open(&dir, FileOptions::default()).expect("create");
    let s = store.create_session("agent", Default::default()).unwrap();
    write_checkpoints(&mut store, s, 0, 3, 300);
    drop(store);
    assert!(dir.join(rewind::DURABLE_FILE).exists());
    // Cut the last two seals out: the last two writes' records now follow the last seal.
    let seg = segment_files(&dir).pop().unwrap();
    let bytes = fs::read(&seg).unwrap();
    let seals: Vec<(u64, u64)> = frames_of(&seg)
        .into_iter()
        .filter(|(_, len)| *len == SEAL_FRAME)
        .collect();
    let cut: Vec<(u64, u64)> = seals[seals.len() - 2..].to_vec();
    let kept: Vec<u8> = bytes
        .iter()
        .enumerate()
        .filter(|(i, _)| !cut.iter().any(|(o, l)| (*o..o + l).contains(&(*i as u64))))
        .map(|(_, b)| *b)
        .collect();
    fs::write(&seg, kept).unwrap();
    let before = store_files(&dir);
    match FileStore::open(&dir, FileOptions::default()) {
        Err(rewind::Error::Corrupt {
            kind: CorruptKind::ChainBroken,
            ..
        }) => {}
        other => panic!("expected the chain to be broken, got {other:?}"),
    }
    assert_eq!(store_files(&dir), before, "a failed open changed the store");
}

#[test]
fn a_flipped_bit_in_the_last_acknowledged_record_is_damage_not_a_torn_write() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 1 << 20, 5, 700);
    // The last write is the checkpoint's frame and its seal; a bit flips inside the record.
    let (seg, offset, len) = frame_holding(&dir, &saved[4].state);
    assert_eq!(offset + len + SEAL_FRAME, file_len(&seg));
    let byte = offset + len / 2;
    flip(&seg, byte, 0x04);
    let before = store_files(&dir);
    // The seal after it is intact: a crash cannot leave that, so it is damage, and every open
    // says where instead of dropping the acknowledged checkpoint.
    for (how, result) in [
        (
            "read-only",
            FileStore::open_read_only(&dir, options(1 << 20)).map(|_| ()),
        ),
        (
            "writer",
            FileStore::open(&dir, options(1 << 20)).map(|_| ()),
        ),
    ] {
        match result {
            Err(rewind::Error::Corrupt {
                file,
                offset: at,
                kind: CorruptKind::Checksum,
            }) => assert_eq!((file, at), (seg.clone(), offset), "{how}"),
            other => panic!("{how}: expected a checksum error, got {other:?}"),
        }
    }
    assert_eq!(
        store_files(&dir),
        before,
        "an open changed the damaged store"
    );
}

#[test]
fn a_segment_created_just_before_a_crash_is_completed_at_open() {
    // Rotation creates the next segment, then writes its header: a crash in between leaves an
    // empty file or part of a header at the end of the log.
    for (label, bytes) in [("empty", 0usize), ("half-header", 8)] {
        let tmp = TempDir::with_prefix(format!("rewind-{label}-")).expect("a temporary directory");
        let dir = tmp.path().join("store");
        let saved = build_store(&dir, 4096, 10, 900);
        let segs = segment_files(&dir);
        let next = dir.join(seg_name(1, segs.len() as u32 + 1));
        fs::write(&next, &frame::header()[..bytes]).unwrap();

        let reader = FileStore::open_read_only(&dir, options(4096)).expect(label);
        assert_eq!(reader.metrics().checkpoints, saved.len() as u64, "{label}");
        drop(reader);
        assert_eq!(file_len(&next), bytes as u64, "{label}: a reader wrote");

        let mut store = FileStore::open(&dir, options(4096)).expect(label);
        // An empty file lost nothing; part of a header is moved aside like any torn tail.
        let expected = (bytes > 0).then(|| {
            let aside = next.with_file_name(format!(
                "{}.torn-0",
                next.file_name().unwrap().to_string_lossy()
            ));
            (next.clone(), 0, bytes as u64, Some(aside))
        });
        assert_eq!(tail_of(&store), expected, "{label}");
        assert_eq!(store.open_report().segments, segs.len() + 1, "{label}");
        assert_eq!(
            file_len(&next),
            opening_len(&next),
            "{label}: header and segment start written again"
        );
        assert_eq!(frames_of(&next).len(), 1, "{label}");
        assert_present(&store, &saved);
        let s = store.sessions().next().unwrap().id;
        let more = write_checkpoints(&mut store, s, 100, 2, 900);
        drop(store);
        let store = FileStore::open(&dir, options(4096)).expect(label);
        assert_eq!(store.open_report().torn_tail, None, "{label}");
        assert_present(&store, &saved);
        assert_present(&store, &more);
    }
}

#[test]
fn segments_without_a_current_file_are_not_taken_for_a_new_store() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    build_store(&dir, 4096, 5, 900);
    let segs = data_files(&dir);
    fs::remove_file(dir.join(rewind::CURRENT_FILE)).unwrap();
    match FileStore::open(&dir, options(4096)) {
        Err(rewind::Error::NotAStore { path, reason }) => {
            assert_eq!(path, dir);
            assert!(reason.contains("CURRENT"), "{reason}");
        }
        other => panic!("expected NotAStore, got {:?}", other.map(|_| ())),
    }
    // No segment was created or deleted, and no CURRENT was made up.
    assert!(!dir.join(rewind::CURRENT_FILE).exists());
    let before: Vec<(PathBuf, Vec<u8>)> = segs
        .into_iter()
        .filter(|(p, _)| !p.ends_with(rewind::CURRENT_FILE))
        .collect();
    let after: Vec<(PathBuf, Vec<u8>)> = segments_with_bytes(&dir);
    assert_eq!(after, before);
    fs::write(dir.join(rewind::CURRENT_FILE), b"something else\n").unwrap();
    assert!(matches!(
        FileStore::open(&dir, options(4096)),
        Err(rewind::Error::NotAStore { .. })
    ));
}

#[test]
fn a_current_file_naming_a_generation_without_segments_deletes_nothing() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 4096, 5, 900);
    let segments: Vec<(PathBuf, Vec<u8>)> = segments_with_bytes(&dir);
    let right = fs::read(dir.join(rewind::CURRENT_FILE)).unwrap();
    // CURRENT damaged to name another generation: opening used to delete the real segments as
    // stale and open an empty store.
    fs::write(dir.join(rewind::CURRENT_FILE), b"rewind-generation 7\n").unwrap();
    match FileStore::open(&dir, options(4096)) {
        Err(rewind::Error::NotAStore { reason, .. }) => {
            assert!(reason.contains("generation 7"), "{reason}")
        }
        other => panic!("expected NotAStore, got {:?}", other.map(|_| ())),
    }
    let after: Vec<(PathBuf, Vec<u8>)> = segments_with_bytes(&dir);
    assert_eq!(after, segments, "no segment deleted or changed");
    // Put back, the store is whole.
    fs::write(dir.join(rewind::CURRENT_FILE), right).unwrap();
    let store = FileStore::open(&dir, options(4096)).unwrap();
    assert_present(&store, &saved);
    drop(store);
    // A later generation (written by a compaction) whose segments are all gone is refused too.
    let mut store = FileStore::open(&dir, options(4096)).unwrap();
    store.vacuum().unwrap();
    drop(store);
    for p in segment_files(&dir) {
        fs::remove_file(p).unwrap();
    }
    assert!(matches!(
        FileStore::open(&dir, options(4096)),
        Err(rewind::Error::NotAStore { .. })
    ));
}

// ----- 6: corruption before the tail ---------------------------------------------------------

/// A store of one session and `count` checkpoints, closed.
fn build_store(dir: &Path, segment_bytes: u64, count: u64, len: usize) -> Vec<Saved> {
    let mut store = FileStore::open(dir, options(segment_bytes)).expect("create");
    let s = store.create_session("agent", Default::default()).unwrap();
    write_checkpoints(&mut store, s, 0, count, len)
}

#[track_caller]
fn assert_corrupt(dir: &Path, segment_bytes: u64, file: &Path, offset: u64, kind: CorruptKind) {
    let before = data_files(dir);
    match FileStore::open(dir, options(segment_bytes)) {
        Err(err @ rewind::Error::Corrupt { .. }) => {
            let text = err.to_string();
            let rewind::Error::Corrupt {
                file: got_file,
                offset: got_offset,
                kind: got_kind,
            } = err
            else {
                unreachable!()
            };
            assert_eq!(got_file, file);
            assert_eq!(got_offset, offset);
            assert_eq!(got_kind, kind);
            assert!(text.contains(&file.display().to_string()), "{text}");
            assert!(text.contains(&format!("byte {offset}")), "{text}");
            assert!(text.contains("repair"), "{text}");
        }
        Err(other) => panic!(
            "expected Corrupt at {}:{offset}, got {other}",
            file.display()
        ),
        Ok(store) => panic!(
            "a damaged store opened (report {:?}, {} checkpoints) instead of failing with \
             Corrupt at {}:{offset}",
            store.open_report(),
            store.metrics().checkpoints,
            file.display()
        ),
    }
    assert_eq!(data_files(dir), before, "a refused open changes no file");
    // The refusal does not leave the store locked.
    let again = FileStore::open(dir, options(segment_bytes));
    assert!(matches!(again, Err(rewind::Error::Corrupt { .. })));
}

#[test]
fn a_flipped_byte_before_the_tail_stops_the_open_naming_file_and_offset() {
    // In the first of several segments, and early in the last segment.
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 4096, 20, 900);
    let segs = segment_files(&dir);
    assert!(segs.len() >= 3);

    let (seg, offset, len) = frame_holding(&dir, &saved[1].state);
    assert_eq!(seg, segs[0]);
    assert!(
        offset + len < file_len(&seg),
        "more frames follow in the segment"
    );
    let byte = offset + len / 2;
    flip(&seg, byte, 0x20);
    assert_corrupt(&dir, 4096, &seg, offset, CorruptKind::Checksum);
    flip(&seg, byte, 0x20);
    drop(FileStore::open(&dir, options(4096)).expect("the undone damage opens"));

    let last = segs.last().unwrap();
    let frames = frames_of(last);
    assert!(frames.len() >= 2, "the last segment holds several frames");
    let (offset, len) = frames[0];
    patch(last, offset + len - 3, b"XYZ");
    assert_corrupt(&dir, 4096, last, offset, CorruptKind::Checksum);
}

#[test]
fn a_bad_segment_header_is_corruption_at_offset_zero() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    build_store(&dir, 4096, 12, 900);
    let first = segment_files(&dir)[0].clone();
    patch(&first, 0, b"NOTALOG!");
    assert_corrupt(&dir, 4096, &first, 0, CorruptKind::BadMagic);
}

#[test]
fn a_damaged_length_field_in_an_early_frame_is_corruption_not_a_torn_tail() {
    // A length that still ends inside the file: the checksum no longer matches.
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 64 << 20, 10, 900);
    let seg = segment_files(&dir).pop().unwrap();
    let (_, offset, len) = frame_holding(&dir, &saved[2].state);
    let longer = (len - 8) as u32 + 40;
    patch(&seg, offset, &longer.to_le_bytes());
    assert_corrupt(&dir, 64 << 20, &seg, offset, CorruptKind::Checksum);

    // A length that runs past the end of a segment that is not the last one.
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 4096, 20, 900);
    let segs = segment_files(&dir);
    let (seg, offset, _) = frame_holding(&dir, &saved[1].state);
    assert_eq!(seg, segs[0]);
    let bad_len = (file_len(&seg) - offset) as u32 + 1000;
    patch(&seg, offset, &bad_len.to_le_bytes());
    match FileStore::open(&dir, options(4096)) {
        Err(rewind::Error::Corrupt {
            file, offset: at, ..
        }) => {
            assert_eq!(file, seg);
            assert_eq!(at, offset);
        }
        other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
    }

    // A length that runs past the end of the last segment, with whole frames after the
    // damaged one: the frames after it prove this is not a torn write.
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 64 << 20, 10, 900);
    let segs = segment_files(&dir);
    assert_eq!(segs.len(), 1);
    let seg = &segs[0];
    let (_, offset, len) = frame_holding(&dir, &saved[2].state);
    let file_end = file_len(seg);
    assert!(offset + len < file_end);
    let bad_len = (file_end - offset) as u32 + 1000;
    patch(seg, offset, &bad_len.to_le_bytes());
    let result = FileStore::open(&dir, options(64 << 20));
    let after = file_len(seg);
    match result {
        Err(rewind::Error::Corrupt {
            file, offset: at, ..
        }) => {
            assert_eq!(file, *seg);
            assert_eq!(at, offset);
            assert_eq!(after, file_end, "nothing was cut");
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(store) => panic!(
            "the open treated a damaged length field as a torn tail: it cut {} at byte {} \
             (file {} -> {} bytes) and dropped {} intact checkpoints (report {:?})",
            seg.display(),
            offset,
            file_end,
            after,
            saved.len() as u64 - store.metrics().checkpoints,
            store.open_report()
        ),
    }
}

#[test]
fn a_checksum_error_in_the_last_frame_of_an_earlier_segment_is_reported_as_such() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    build_store(&dir, 4096, 20, 900);
    let segs = segment_files(&dir);
    assert!(segs.len() >= 3);
    let first = &segs[0];
    let (offset, len) = *frames_of(first).last().unwrap();
    assert_eq!(offset + len, file_len(first), "the frame ends the segment");

    // A frame cut short in an earlier segment is not a torn tail: the log goes on after it.
    let original = fs::read(first).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(first)
        .unwrap()
        .set_len(offset + len / 2)
        .unwrap();
    assert_corrupt(&dir, 4096, first, offset, CorruptKind::Truncated);
    fs::write(first, &original).unwrap();

    // A whole frame whose payload no longer matches its checksum is a checksum error, not
    // "the log ends inside a frame".
    patch(first, offset + len - 3, b"XYZ");
    assert_corrupt(&dir, 4096, first, offset, CorruptKind::Checksum);
}

#[test]
fn zeros_after_the_last_frame_are_a_torn_tail_as_in_the_reference_backend() {
    // A crash can leave a file longer than the data that reached it (the size was extended, the
    // appended blocks read back as zeros).
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 64 << 20, 5, 500);
    let seg = segment_files(&dir).pop().unwrap();
    let len = file_len(&seg);
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len + 64)
        .unwrap();

    // The reference backend, on the very same bytes, drops the zeros as a torn tail.
    let (reference, load) = Store::open(
        rewind::MemoryBackend::from_bytes(fs::read(&seg).unwrap()),
        SystemEnv::new(),
        Options::default(),
    )
    .expect("the reference backend opens the log");
    assert_eq!(load.truncated_bytes, 64);
    assert_eq!(reference.metrics().checkpoints, 5);

    let store = match FileStore::open(&dir, options(64 << 20)) {
        Ok(store) => store,
        Err(err) => panic!(
            "the file store refuses a log that the reference backend opens (zeros after the \
             last frame): {err}"
        ),
    };
    assert_eq!(
        tail_of(&store).map(|t| (t.0, t.1, t.2)),
        Some((seg.clone(), len, 64))
    );
    assert_eq!(store.open_report().load.truncated_bytes, 64);
    assert_present(&store, &saved);
    assert_eq!(file_len(&seg), len);
}

// ----- 7: repair -----------------------------------------------------------------------------

#[test]
fn repair_salvages_every_intact_checkpoint_with_ids_and_seqs() {
    let tmp = TempDir::new().expect("a temporary directory");
    let src = tmp.path().join("store");
    let saved = build_store(&src, 4096, 20, 900);
    let total_frames: u64 = segment_files(&src)
        .iter()
        .map(|p| frames_of(p).len() as u64)
        .sum();
    let damaged_cp = 3;
    let (seg, offset, len) = frame_holding(&src, &saved[damaged_cp].state);
    assert!(offset + len < file_len(&seg));
    let byte = offset + len / 2;
    flip(&seg, byte, 0x01);
    assert!(matches!(
        FileStore::open(&src, options(4096)),
        Err(rewind::Error::Corrupt {
            kind: CorruptKind::Checksum,
            ..
        })
    ));
    let src_before = data_files(&src);

    let dst = tmp.path().join("repaired");
    let report = rewind::repair(&src, &dst).expect("repair");
    assert_eq!((report.generation, report.current), (1, Some(1)));
    assert_eq!(report.damaged, vec![(seg.clone(), offset, len)]);
    assert_eq!(report.frames_kept, total_frames - 1);
    assert_eq!(report.records_dropped, 0);
    assert_eq!(report.checkpoints, saved.len() as u64 - 1);
    assert_eq!(report.sessions, 1);
    assert_eq!(data_files(&src), src_before, "repair only reads the source");

    let mut store = FileStore::open(&dst, FileOptions::default()).expect("the repair opens");
    // Everything before the damage is as it was; after it, everything but the hashes of the
    // lost checkpoint's descendants (a version 3 record names its parent by seq, and the
    // parent's hash, an input of its own, was lost with the parent's record).
    assert_present(&store, &saved[..damaged_cp]);
    assert_present_rehashed(&store, &saved[damaged_cp + 1..]);
    assert_eq!(report.rehashed, (saved.len() - damaged_cp - 1) as u64);
    assert_absent(&store, saved[damaged_cp].id);
    assert_eq!(store.metrics().checkpoints, saved.len() as u64 - 1);
    assert!(store.verify().is_ok(), "{:?}", store.verify());
    // The lost checkpoint's child is kept as a root, and says what it lost.
    assert_eq!(report.orphans, 1);
    let child = saved[damaged_cp + 1].id;
    let notes = store.annotations(child).unwrap();
    assert!(
        notes.len() == 1
            && notes[0]
                .note
                .contains(&format!("(seq {})", saved[damaged_cp].seq)),
        "{notes:?}"
    );
    assert_eq!(store.get(child).unwrap().parent, None);
    // The repaired store is a normal, writable store whose seqs continue.
    let s = store.sessions().next().unwrap().id;
    let max_seq = saved.iter().map(|s| s.seq).max().unwrap();
    let next = write_checkpoints(&mut store, s, 500, 1, 300);
    assert!(next[0].seq > max_seq);
    assert_eq!(mode(&dst), 0o700);
    drop(store);

    // A non-empty target is refused.
    let occupied = tmp.path().join("occupied");
    fs::create_dir_all(&occupied).unwrap();
    fs::write(occupied.join("notes.txt"), b"keep me").unwrap();
    match rewind::repair(&src, &occupied) {
        Err(rewind::Error::NotAStore { path, .. }) => assert_eq!(path, occupied),
        other => panic!("expected NotAStore, got {other:?}"),
    }
    assert_eq!(fs::read(occupied.join("notes.txt")).unwrap(), b"keep me");

    // The source is only read, without its lock: a store a writer holds can be salvaged.
    let healthy = tmp.path().join("healthy");
    let kept = build_store(&healthy, 4096, 2, 100);
    let open = FileStore::open(&healthy, FileOptions::default()).unwrap();
    let before = store_files(&healthy);
    let report = rewind::repair(&healthy, &tmp.path().join("from-open")).expect("repair");
    assert_eq!(report.checkpoints, 2);
    assert_eq!(store_files(&healthy), before, "repair changed its source");
    drop(open);
    let copy = FileStore::open(tmp.path().join("from-open"), FileOptions::default()).unwrap();
    assert_present(&copy, &kept);
}

#[test]
fn repair_keeps_the_checkpoints_of_a_session_whose_record_was_damaged() {
    let tmp = TempDir::new().expect("a temporary directory");
    let src = tmp.path().join("store");
    let saved = build_store(&src, 1 << 20, 44, 300);
    // The session record: the first record of kind 0 in the first segment.
    let first = segment_files(&src).remove(0);
    let bytes = fs::read(&first).unwrap();
    let (offset, len) = frames_of(&first)
        .into_iter()
        .find(|(off, _)| bytes[*off as usize + 8] == 0)
        .unwrap();
    let byte = offset + len - 2;
    flip(&first, byte, 0x10);

    let dst = tmp.path().join("repaired");
    let report = rewind::repair(&src, &dst).expect("repair");
    assert_eq!(report.checkpoints, 44, "{report:?}");
    assert_eq!(report.recovered_sessions, 1);
    assert_eq!(report.damaged, vec![(first, offset, len)]);
    let store = FileStore::open(&dst, FileOptions::default()).unwrap();
    assert_present(&store, &saved);
    let session = store.sessions().next().unwrap();
    assert!(
        session.name.starts_with("recovered session "),
        "{}",
        session.name
    );
    assert_eq!(session.checkpoints, 44);
    assert_eq!(session.head, Some(saved[43].id));
}

#[test]
fn repair_finds_the_generation_with_the_data_when_current_is_wrong() {
    let tmp = TempDir::new().expect("a temporary directory");
    let src = tmp.path().join("store");
    let saved = build_store(&src, 4096, 12, 500);
    fs::write(src.join(rewind::CURRENT_FILE), "rewind-generation 7\n").unwrap();
    // An abandoned, nearly empty next generation beside it.
    fs::write(src.join(seg_name(2, 40)), frame::header()).unwrap();
    assert!(FileStore::open_read_only(&src, FileOptions::default()).is_err());

    let dst = tmp.path().join("repaired");
    let report = rewind::repair(&src, &dst).expect("repair");
    assert_eq!((report.generation, report.current), (1, None));
    assert_eq!(report.checkpoints, 12);
    let store = FileStore::open(&dst, FileOptions::default()).unwrap();
    assert_present(&store, &saved);
}

#[test]
fn repair_resynchronises_past_a_large_damaged_frame() {
    let tmp = TempDir::new().expect("a temporary directory");
    let src = tmp.path().join("store");
    let mut store = FileStore::open(&src, options(64 << 20)).expect("create");
    let s = store.create_session("agent", Default::default()).unwrap();
    let before = write_checkpoints(&mut store, s, 0, 3, 400);
    // 8 MiB of incompressible bytes: each byte position of the damaged frame is a candidate.
    let big = rewind_tests::noise(8 << 20, 0x2545_F491_4F6C_DD1D);
    let big_id = store
        .checkpoint(NewCheckpoint::new(s, "big", &big))
        .unwrap()
        .id;
    let after = write_checkpoints(&mut store, s, 10, 3, 400);
    drop(store);
    let seg = segment_files(&src).pop().unwrap();
    let (offset, len) = frames_of(&seg)
        .into_iter()
        .find(|(_, len)| *len > 8 << 20)
        .unwrap();
    let byte = offset + len / 2;
    flip(&seg, byte, 0xff);

    let dst = tmp.path().join("repaired");
    let report = rewind::repair(&src, &dst).expect("repair");
    assert_eq!(report.damaged, vec![(seg, offset, len)]);
    assert_eq!(report.checkpoints, 6);
    assert_eq!(report.rehashed, after.len() as u64);
    let store = FileStore::open(&dst, FileOptions::default()).unwrap();
    assert_present(&store, &before);
    assert_present_rehashed(&store, &after);
    assert_absent(&store, big_id);
    assert!(store.verify().is_ok(), "{:?}", store.verify());
}

// ----- 8, 9: compaction and generations ------------------------------------------------------

#[test]
fn compaction_gives_disk_space_back_and_switches_generation() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let opts = options(256 << 10).durability(Durability::Never);
    let mut store = FileStore::open(&dir, opts.clone()).expect("create");
    let s = store.create_session("agent", Default::default()).unwrap();
    let saved = write_checkpoints(&mut store, s, 0, 30, 40_000);
    store.flush().unwrap();
    let old_segments = segment_files(&dir);
    assert!(old_segments.len() >= 4);
    assert!(old_segments.iter().all(|p| {
        p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("00000001-")
    }));
    let before = store.backend().disk_bytes();
    assert_eq!(
        before,
        old_segments.iter().map(|p| file_len(p)).sum::<u64>(),
        "disk_bytes is what the files take"
    );
    let max_seq = saved.iter().map(|s| s.seq).max().unwrap();

    let report = store.compact(&RetentionPolicy::keep_last(3)).unwrap();
    assert_eq!(report.removed, 27);
    let after = store.backend().disk_bytes();
    assert!(
        after * 5 < before,
        "compaction kept {after} of {before} bytes"
    );
    assert_eq!(store.backend().generation(), 2);
    assert_eq!(current_generation(&dir), "rewind-generation 2\n");
    let segs = segment_files(&dir);
    assert!(!segs.is_empty());
    for seg in &segs {
        let name = seg.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("00000002-"), "{name} survived compaction");
    }
    for old in &old_segments {
        assert!(!old.exists(), "{} was not deleted", old.display());
    }
    assert_eq!(after, segs.iter().map(|p| file_len(p)).sum::<u64>());
    assert_present(&store, &saved[27..]);
    drop(store);

    let mut store = FileStore::open(&dir, opts).expect("reopen");
    assert!(store.open_report().removed_stale_files.is_empty());
    assert_eq!(store.backend().generation(), 2);
    assert_eq!(store.metrics().checkpoints, 3);
    assert_present(&store, &saved[27..]);
    for gone in &saved[..27] {
        assert_absent(&store, gone.id);
    }
    assert!(store.verify().is_ok());
    let next = write_checkpoints(&mut store, s, 100, 2, 1000);
    assert!(next[0].seq > max_seq, "seq {} reused", next[0].seq);
    assert!(next[1].seq > next[0].seq);
}

#[test]
fn segments_of_an_unfinished_next_generation_are_removed_at_open() {
    // A crash after the new generation's segments were written but before CURRENT switched.
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 4096, 15, 900);
    let live = segment_files(&dir);
    let strays = [dir.join(seg_name(2, 1)), dir.join(seg_name(2, 0x40))];
    fs::copy(&live[0], &strays[0]).unwrap();
    fs::copy(live.last().unwrap(), &strays[1]).unwrap();

    let mut store = FileStore::open(&dir, options(4096)).expect("open");
    let removed: BTreeSet<PathBuf> = store
        .open_report()
        .removed_stale_files
        .iter()
        .cloned()
        .collect();
    assert_eq!(removed, strays.iter().cloned().collect());
    for stray in &strays {
        assert!(!stray.exists(), "{} is still there", stray.display());
    }
    assert_eq!(store.backend().generation(), 1);
    assert_eq!(current_generation(&dir), "rewind-generation 1\n");
    assert_eq!(store.metrics().checkpoints, 15);
    assert_present(&store, &saved);
    // Later segments do not collide with the removed names.
    let s = store.sessions().next().unwrap().id;
    let more = write_checkpoints(&mut store, s, 100, 10, 900);
    store.compact(&RetentionPolicy::keep_last(5)).unwrap();
    drop(store);
    let store = FileStore::open(&dir, options(4096)).expect("reopen");
    assert!(store.open_report().removed_stale_files.is_empty());
    assert_present(&store, &more[5..]);
    assert_eq!(store.metrics().checkpoints, 5);
}

#[test]
fn segments_of_the_previous_generation_left_after_a_compaction_are_ignored_and_removed() {
    // A crash after CURRENT switched but before the old generation was deleted.
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let saved = build_store(&dir, 4096, 15, 900);
    let aside = tmp.path().join("aside");
    fs::create_dir_all(&aside).unwrap();
    let old: Vec<PathBuf> = segment_files(&dir);
    for seg in &old {
        fs::copy(seg, aside.join(seg.file_name().unwrap())).unwrap();
    }
    {
        let mut store = FileStore::open(&dir, options(4096)).unwrap();
        store.compact(&RetentionPolicy::keep_last(4)).unwrap();
    }
    assert!(old.iter().all(|p| !p.exists()));
    for seg in &old {
        fs::copy(aside.join(seg.file_name().unwrap()), seg).unwrap();
    }

    let store = FileStore::open(&dir, options(4096)).expect("open");
    let removed: BTreeSet<PathBuf> = store
        .open_report()
        .removed_stale_files
        .iter()
        .cloned()
        .collect();
    assert_eq!(removed, old.iter().cloned().collect());
    assert!(old.iter().all(|p| !p.exists()));
    assert_eq!(store.backend().generation(), 2);
    assert_eq!(store.metrics().checkpoints, 4);
    assert_present(&store, &saved[11..]);
    for gone in &saved[..11] {
        assert_absent(&store, gone.id);
    }
    assert!(store.verify().is_ok());
}

// ----- 10: injected failures on real files ---------------------------------------------------

type Faulty = Store<FaultyBackend<FileBackend>, SystemEnv>;

fn open_faulty(dir: &Path) -> Faulty {
    let backend = FileBackend::open(dir, 4096).expect("open backend");
    let (store, _) = Store::open(
        FaultyBackend::new(backend),
        SystemEnv::new(),
        Options::default().sync_every_write(true),
    )
    .expect("open store");
    store
}

fn faulty_checkpoints(store: &mut Faulty, session: SessionId, first: u64, n: u64) -> Vec<Saved> {
    (first..first + n)
        .map(|n| {
            let state = state_of(n, 600);
            let message = format!("step {n}");
            let cp = store
                .checkpoint(NewCheckpoint::new(session, message.clone(), &state))
                .expect("checkpoint");
            Saved {
                id: cp.id,
                seq: cp.seq,
                hash: cp.hash,
                message,
                state,
            }
        })
        .collect()
}

fn seg_lengths(dir: &Path) -> Vec<(PathBuf, u64)> {
    segment_files(dir)
        .into_iter()
        .map(|p| {
            let len = file_len(&p);
            (p, len)
        })
        .collect()
}

#[track_caller]
fn assert_injected<T: std::fmt::Debug>(result: rewind::core::Result<T>) {
    match result {
        Err(rewind::core::Error::Backend(BackendError::Io(msg))) => {
            assert!(msg.contains("injected"), "{msg}")
        }
        other => panic!("expected the injected backend error, got {other:?}"),
    }
}

#[test]
fn a_failed_append_leaves_no_trace_in_memory_or_on_disk() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let mut store = open_faulty(&dir);
    let s = store.create_session("agent", Default::default()).unwrap();
    let mut acked = faulty_checkpoints(&mut store, s, 0, 3);
    // The third append from now fails.
    store.backend_mut().fail_append(3);
    acked.extend(faulty_checkpoints(&mut store, s, 3, 2));
    let metrics = store.metrics();
    let files = seg_lengths(&dir);

    let phantom = CheckpointId::from_bytes([0x5a; 16]);
    let state = state_of(99, 600);
    assert_injected(store.checkpoint(NewCheckpoint::new(s, "lost", &state).id(phantom)));
    assert_eq!(store.backend().injected(), 1);
    assert_absent_faulty(&store, phantom);
    assert_eq!(store.get_by_seq(metrics.next_seq), None);
    let now = store.metrics();
    assert_eq!(now.checkpoints, metrics.checkpoints);
    assert_eq!(now.next_seq, metrics.next_seq);
    assert_eq!(now.log_bytes, metrics.log_bytes);
    assert_eq!(now.stored_bytes, metrics.stored_bytes);
    assert_eq!(now.ops.backend_errors, metrics.ops.backend_errors + 1);
    assert_eq!(seg_lengths(&dir), files, "the failed append wrote nothing");
    assert!(
        store.health().ok,
        "a failed append does not poison the store"
    );
    assert_eq!(store.session(s).unwrap().head, Some(acked[4].id));

    // The store goes on; the same id can be used now.
    let cp = store
        .checkpoint(NewCheckpoint::new(s, "retry", &state).id(phantom))
        .expect("retry")
        .clone();
    assert_eq!(cp.seq, metrics.next_seq);
    acked.push(Saved {
        id: cp.id,
        seq: cp.seq,
        hash: cp.hash,
        message: "retry".into(),
        state: state.clone(),
    });
    acked.extend(faulty_checkpoints(&mut store, s, 10, 2));
    drop(store);

    let store = FileStore::open(&dir, options(4096)).expect("reopen");
    assert_eq!(store.metrics().checkpoints, acked.len() as u64);
    assert_present(&store, &acked);
    assert!(store.verify().is_ok());
}

#[test]
fn a_real_write_failure_mid_frame_is_rolled_back_in_the_file() {
    // The writer runs with a file size limit (and SIGXFSZ ignored), so a `pwrite` fails part
    // way through a frame with EFBIG: the backend must cut the segment back to where the
    // append started, so no half frame of the failed call is left in the log.
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let out = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 100; exec \"$0\" single \"$1\" 0")
        .arg(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("run crash_writer under a file size limit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("os error 27"),
        "the writer failed otherwise: {stderr}"
    );
    let acked: Vec<(u64, CheckpointId, rewind::Hash, u64)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f[0], "ok", "{line}");
            (
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                rewind::Hash::from_hex(f[3]).unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect();
    assert!(
        acked.len() > 10,
        "only {} checkpoints before the limit",
        acked.len()
    );
    let lengths = seg_lengths(&dir);
    for (seg, len) in &lengths {
        assert!(*len <= 100 * 512, "{} is over the limit", seg.display());
        let frames = frames_of(seg);
        let end = frames.last().map_or(HEADER_LEN as u64, |(o, l)| o + l);
        assert_eq!(end, *len, "{} ends with a partial frame", seg.display());
    }

    let mut store = FileStore::open(&dir, FileOptions::default()).expect("reopen");
    assert_eq!(store.open_report().torn_tail, None);
    assert_eq!(store.open_report().load.truncated_bytes, 0);
    assert_eq!(store.metrics().checkpoints, acked.len() as u64);
    for (n, id, hash, seq) in &acked {
        let cp = store.get(*id).unwrap();
        assert_eq!((cp.hash, cp.seq), (*hash, *seq));
        assert_eq!(store.state(*id).unwrap(), rewind_tests::crash_state(*n));
    }
    assert!(store.verify().is_ok());
    let s = store.sessions().next().unwrap().id;
    let next = write_checkpoints(&mut store, s, 1000, 1, 300);
    assert!(next[0].seq > acked.last().unwrap().3);
}

fn assert_absent_faulty(store: &Faulty, id: CheckpointId) {
    assert!(
        matches!(store.get(id), Err(rewind::core::Error::CheckpointNotFound(got)) if got == id),
        "phantom checkpoint {id}"
    );
}

#[test]
fn a_failed_sync_poisons_the_store_and_acknowledged_data_survives_reopen() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let mut store = open_faulty(&dir);
    let s = store.create_session("agent", Default::default()).unwrap();
    let mut acked = faulty_checkpoints(&mut store, s, 0, 4);
    store.backend_mut().fail_sync(2);
    acked.extend(faulty_checkpoints(&mut store, s, 10, 1));
    let state = state_of(20, 600);
    let unsure = CheckpointId::from_bytes([0x77; 16]);
    assert_injected(store.checkpoint(NewCheckpoint::new(s, "unsure", &state).id(unsure)));
    let health = store.health();
    assert!(!health.ok);
    assert!(
        health
            .write_error
            .as_deref()
            .is_some_and(|e| e.contains("injected")),
        "{health:?}"
    );
    // Every later write is refused, reads go on.
    assert!(matches!(
        store.checkpoint(NewCheckpoint::new(s, "refused", b"{}")),
        Err(rewind::core::Error::Backend(_))
    ));
    assert!(matches!(
        store.create_session("refused", Default::default()),
        Err(rewind::core::Error::Backend(_))
    ));
    assert!(matches!(
        store.flush(),
        Err(rewind::core::Error::Backend(_))
    ));
    assert!(matches!(
        store.compact(&RetentionPolicy::keep_last(1)),
        Err(rewind::core::Error::Backend(_))
    ));
    assert_eq!(store.metrics().checkpoints, acked.len() as u64);
    for a in &acked {
        assert_eq!(store.state(a.id).unwrap(), a.state);
    }
    drop(store);

    let mut store = FileStore::open(&dir, options(4096)).expect("reopen");
    assert!(store.health().ok);
    assert_present(&store, &acked);
    // The record whose sync failed may or may not have reached the disk (it is whole if it
    // did); nothing else may appear.
    let extra = store.metrics().checkpoints - acked.len() as u64;
    match store.get(unsure) {
        Ok(_) => {
            assert_eq!(extra, 1);
            assert_eq!(store.state(unsure).unwrap(), state);
        }
        Err(_) => assert_eq!(extra, 0),
    }
    assert!(store.verify().is_ok());
    let after = write_checkpoints(&mut store, s, 30, 1, 300);
    assert!(after[0].seq > acked.last().unwrap().seq);
}

#[test]
fn a_failed_generation_switch_keeps_the_old_store_and_a_retry_succeeds() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let mut store = open_faulty(&dir);
    let s = store.create_session("agent", Default::default()).unwrap();
    let saved = faulty_checkpoints(&mut store, s, 0, 12);
    let files_before = segment_files(&dir);

    for faults in ["commit", "rewrite_append"] {
        match faults {
            "commit" => store.backend_mut().fail_commit_rewrite(),
            _ => store.backend_mut().fail_rewrite_append(1),
        }
        assert_injected(store.compact(&RetentionPolicy::keep_last(2)));
        assert_eq!(store.metrics().checkpoints, 12, "{faults:?}");
        for cp in &saved {
            assert_eq!(store.state(cp.id).unwrap(), cp.state, "{faults:?}");
        }
        assert_eq!(store.backend().inner.generation(), 1);
        assert_eq!(current_generation(&dir), "rewind-generation 1\n");
        assert_eq!(
            segment_files(&dir),
            files_before,
            "no file of the aborted generation is left ({faults:?})"
        );
        assert!(store.health().ok, "an aborted compaction does not poison");
    }

    store.backend_mut().disarm();
    let report = store
        .compact(&RetentionPolicy::keep_last(2))
        .expect("retry");
    assert_eq!(report.removed, 10);
    assert_eq!(current_generation(&dir), "rewind-generation 2\n");
    assert!(segment_files(&dir).iter().all(|p| {
        p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("00000002-")
    }));
    drop(store);

    let store = FileStore::open(&dir, options(4096)).expect("reopen");
    assert!(store.open_report().removed_stale_files.is_empty());
    assert_eq!(store.metrics().checkpoints, 2);
    assert_present(&store, &saved[10..]);
}

// ----- 11: SharedStore -----------------------------------------------------------------------

#[test]
fn shared_store_delivers_events_to_channels_and_callbacks() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let store = SharedStore::open(&dir, FileOptions::default()).expect("open");
    let rx = store.subscribe();
    let seen = Arc::new(Mutex::new(Vec::new()));
    {
        let seen = seen.clone();
        store.on_event(move |e| seen.lock().unwrap().push(e.clone()));
    }
    let s = store.create_session("agent", Default::default()).unwrap();
    let a = store
        .checkpoint(NewCheckpoint::new(s, "a", b"{\"a\":1}"))
        .unwrap();
    let b = store
        .checkpoint(NewCheckpoint::new(s, "b", b"{\"b\":2}"))
        .unwrap();
    let restored = store.restore(a.id).unwrap();
    assert_eq!(restored.state, b"{\"a\":1}");
    let expected = vec![
        Event::SessionCreated { session: s },
        Event::Created {
            session: s,
            checkpoint: a.id,
            seq: a.seq,
        },
        Event::Created {
            session: s,
            checkpoint: b.id,
            seq: b.seq,
        },
        Event::Restored {
            session: s,
            checkpoint: a.id,
        },
    ];
    let got: Vec<Event> = rx.try_iter().collect();
    assert_eq!(got, expected);
    assert_eq!(*seen.lock().unwrap(), expected);

    // Events of writes from other threads arrive too; a dropped receiver is not an error.
    drop(rx);
    let rx2 = store.subscribe();
    let other = store.clone();
    let c = std::thread::spawn(move || {
        other
            .checkpoint(NewCheckpoint::new(s, "c", b"{\"c\":3}"))
            .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(c.parent, Some(a.id), "the restore moved the head");
    let expected_c = Event::Created {
        session: s,
        checkpoint: c.id,
        seq: c.seq,
    };
    assert_eq!(
        rx2.recv_timeout(Duration::from_secs(1)).unwrap(),
        expected_c
    );
    assert_eq!(seen.lock().unwrap().last(), Some(&expected_c));
}

#[test]
fn shared_store_batched_and_never_durability_keep_every_write() {
    let tmp = TempDir::new().expect("a temporary directory");
    for (name, durability) in [
        (
            "batched",
            Durability::Batched {
                max_delay: Duration::from_millis(50),
            },
        ),
        ("never", Durability::Never),
    ] {
        let dir = tmp.path().join(name);
        let opts = FileOptions::default().durability(durability);
        let store = SharedStore::open(&dir, opts).expect("open");
        let s = store.create_session("agent", Default::default()).unwrap();
        let mut saved = Vec::new();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4u64)
                .map(|t| {
                    let store = &store;
                    scope.spawn(move || {
                        (0..10u64)
                            .map(|k| {
                                let state = state_of(t * 100 + k, 400);
                                let cp = store
                                    .checkpoint(NewCheckpoint::new(s, "step", &state))
                                    .unwrap();
                                (cp.id, cp.seq, state)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                saved.extend(h.join().unwrap());
            }
        });
        let seqs: BTreeSet<u64> = saved.iter().map(|(_, seq, _)| *seq).collect();
        assert_eq!(seqs.len(), 40, "{name}: seqs are unique");
        store.flush().expect("flush");
        if name == "batched" {
            // The background sync runs and the store keeps taking writes.
            std::thread::sleep(Duration::from_millis(120));
            store
                .checkpoint(NewCheckpoint::new(s, "late", b"{}"))
                .unwrap();
            store.flush().unwrap();
        }
        drop(store);
        let store = open_when_released(&dir);
        for (id, seq, state) in &saved {
            assert_eq!(store.get(*id).unwrap().seq, *seq, "{name}");
            assert_eq!(store.state(*id).unwrap(), *state, "{name}");
        }
        let expected = if name == "batched" { 41 } else { 40 };
        assert_eq!(store.metrics().checkpoints, expected, "{name}");
    }
}

/// Opens the store once no handle holds it any more (a background thread of a dropped
/// `SharedStore` may still be finishing a tick; see the test right below for "at once").
fn open_when_released(dir: &Path) -> FileStore {
    let start = Instant::now();
    loop {
        match FileStore::open(dir, FileOptions::default()) {
            Err(rewind::Error::Locked { .. }) if start.elapsed() < Duration::from_secs(2) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => return other.expect("reopen after the last handle was dropped"),
        }
    }
}

#[test]
fn shared_store_compacts_in_the_background() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let store = SharedStore::open(&dir, FileOptions::default()).expect("open");
    let s = store.create_session("agent", Default::default()).unwrap();
    let mut written = Vec::new();
    for n in 0..10 {
        let state = state_of(n, 2000);
        let cp = store
            .checkpoint(NewCheckpoint::new(s, format!("step {n}"), &state))
            .unwrap();
        written.push((cp.id, state));
    }
    let rx = store.subscribe();
    store
        .compact_every(RetentionPolicy::keep_last(2), Duration::from_millis(50))
        .unwrap();
    let start = Instant::now();
    while store.metrics().checkpoints != 2 {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "no background compaction within 2 s ({} checkpoints)",
            store.metrics().checkpoints
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for (id, state) in &written[8..] {
        assert_eq!(store.state(*id).unwrap(), *state);
    }
    for (id, _) in &written[..8] {
        assert!(matches!(
            store.get(*id),
            Err(rewind::Error::Store(
                rewind::core::Error::CheckpointNotFound(_)
            ))
        ));
    }
    // Subscribers hear about it: a Deleted per removed checkpoint, then Compacted.
    let mut deleted = Vec::new();
    loop {
        match rx
            .recv_timeout(Duration::from_secs(2))
            .expect("compaction events")
        {
            Event::Deleted {
                session,
                checkpoint,
            } => {
                assert_eq!(session, s);
                deleted.push(checkpoint);
            }
            Event::Compacted { removed, .. } => {
                assert_eq!(removed, 8);
                break;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    let oldest: Vec<CheckpointId> = written[..8].iter().map(|(id, _)| *id).collect();
    assert_eq!(deleted, oldest);
    drop(rx);
    drop(store);

    let store = open_when_released(&dir);
    assert_eq!(store.metrics().checkpoints, 2);
    for (id, state) in &written[8..] {
        assert_eq!(store.state(*id).unwrap(), *state);
    }
}

#[test]
fn dropping_the_last_handle_during_a_background_compaction_releases_the_lock_at_once() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    {
        // A few MB of distinct state, so that every background compaction takes a while.
        let store =
            SharedStore::open(&dir, FileOptions::default().durability(Durability::Never)).unwrap();
        let s = store.create_session("agent", Default::default()).unwrap();
        for n in 0..60 {
            let state = state_of(n, 50_000);
            store
                .checkpoint(NewCheckpoint::new(s, format!("step {n}"), &state))
                .unwrap();
        }
    }
    for attempt in 0..3 {
        let store = SharedStore::open(&dir, FileOptions::default()).expect("open");
        let rx = store.subscribe();
        // Nothing to remove, but every tick still rewrites the log; ticks follow each other.
        store
            .compact_every(RetentionPolicy::keep_last(1000), Duration::from_millis(1))
            .unwrap();
        // Measure one tick (a compaction and the 1 ms pause), then drop the handle a third of
        // the way into a later one: what a program closing its store at a random moment does.
        let compacted = || loop {
            let event = rx
                .recv_timeout(Duration::from_secs(5))
                .expect("a background compaction");
            if matches!(event, Event::Compacted { .. }) {
                return Instant::now();
            }
        };
        let first = compacted();
        let second = compacted();
        std::thread::sleep((second - first) / 3);
        drop(rx);
        drop(store);
        match FileStore::open(&dir, FileOptions::default()) {
            Ok(reopened) => assert_eq!(reopened.metrics().checkpoints, 60),
            Err(err) => panic!(
                "attempt {attempt}: every SharedStore handle was dropped, yet reopening fails: \
                 {err} (the background compaction thread still holds the store)"
            ),
        }
    }
}

// ----- 12: seqs across restarts --------------------------------------------------------------

#[test]
fn seqs_keep_increasing_across_restarts_deletions_and_vacuums() {
    let tmp = TempDir::new().expect("a temporary directory");
    let dir = tmp.path().join("store");
    let mut all: Vec<u64> = Vec::new();
    let mut live: Vec<Saved> = Vec::new();
    let mut gone: Vec<CheckpointId> = Vec::new();
    for round in 0..5u64 {
        let mut store = FileStore::open(&dir, options(4096)).expect("open");
        let existing = store.sessions().next().map(|s| s.id);
        let s = match existing {
            Some(s) => s,
            None => store.create_session("agent", Default::default()).unwrap(),
        };
        let max = all.iter().copied().max().unwrap_or(0);
        assert!(
            store.metrics().next_seq > max,
            "round {round}: next seq {} after max {max}",
            store.metrics().next_seq
        );
        assert_present(&store, &live);
        for id in &gone {
            assert_absent(&store, *id);
        }
        let new = write_checkpoints(&mut store, s, round * 10, 3, 300);
        all.extend(new.iter().map(|c| c.seq));
        live.extend(new);
        match round {
            1 => {
                // Delete the newest, no vacuum.
                let newest = live.pop().unwrap();
                store.delete(newest.id).unwrap();
                gone.push(newest.id);
            }
            2 => {
                // Delete the two newest, then rewrite the log.
                for _ in 0..2 {
                    let newest = live.pop().unwrap();
                    store.delete(newest.id).unwrap();
                    gone.push(newest.id);
                }
                store.vacuum().unwrap();
            }
            3 => {
                let newest = live.pop().unwrap();
                store.delete(newest.id).unwrap();
                gone.push(newest.id);
                store.compact(&RetentionPolicy::keep_last(4)).unwrap();
                let kept: BTreeSet<CheckpointId> = store
                    .list(&rewind::Query::new().limit(100))
                    .unwrap()
                    .items
                    .iter()
                    .map(|c| c.id)
                    .collect();
                live.retain(|c| {
                    let keep = kept.contains(&c.id);
                    if !keep {
                        gone.push(c.id);
                    }
                    keep
                });
                assert_eq!(live.len(), 4);
            }
            _ => {}
        }
    }
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "seqs are not strictly increasing: {all:?}"
    );
    let store = FileStore::open(&dir, options(4096)).expect("final open");
    assert_present(&store, &live);
    assert!(store.metrics().next_seq > *all.last().unwrap());
}
