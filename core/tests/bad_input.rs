//! Hostile and malformed input: every rejection is a specific, typed error, and a rejected
//! operation leaves nothing behind (same content, same log bytes, same metrics, no events).
//!
//! Sections: opening damaged logs, limits and invalid input, unknown ids, hostile JSON imports,
//! hostile binary imports, `verify` on tampered logs, and no-panic sweeps over mutated inputs.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rewind_core::chunker;
use rewind_core::conformance::fingerprint;
use rewind_core::frame::{self, FRAME_HEADER_LEN, HEADER_LEN, MAX_PAYLOAD};
use rewind_core::{
    CheckpointId, CorruptKind, DeterministicEnv, Error, Hash, LimitKind, Limits, LoadReport,
    MemoryBackend, Metrics, NewCheckpoint, Options, Query, RetentionPolicy, SessionId, Severity,
    Store, Trigger, VerifyProblem,
};
use serde_json::{Map, Value, json};

type MemStore = Store<MemoryBackend, DeterministicEnv>;
type Res<T> = rewind_core::Result<T>;

const T0: u64 = 1_767_225_600_000;

// Record kinds (the variant index of `Record`, the first payload byte for kinds < 128).
const K_SESSION: u8 = 0;
const K_CHECKPOINT: u8 = 14;
const K_ANNOTATION: u8 = 2;
const K_ATTACHMENT: u8 = 15;
const K_DELETE_CHECKPOINT: u8 = 4;
const K_DELETE_SESSION: u8 = 5;
const K_HEAD: u8 = 6;
const K_TXN: u8 = 8;
const K_SEAL: u8 = 11;

// ----- helpers ------------------------------------------------------------------------------

fn env(seed: u64) -> DeterministicEnv {
    DeterministicEnv::with(T0, 1, seed)
}

fn fresh(seed: u64, options: Options) -> MemStore {
    Store::open(MemoryBackend::new(), env(seed), options)
        .expect("a fresh store opens")
        .0
}

fn open_log(bytes: Vec<u8>) -> Res<(MemStore, LoadReport)> {
    Store::open(MemoryBackend::from_bytes(bytes), env(1), Options::default())
}

#[track_caller]
fn open_err(bytes: Vec<u8>) -> Error {
    match open_log(bytes) {
        Ok((store, _)) => panic!("the log should not open, but it did: {store:?}"),
        Err(err) => err,
    }
}

fn options_with(f: impl FnOnce(&mut Limits)) -> Options {
    let mut options = Options::default();
    f(&mut options.limits);
    options
}

/// Everything observable about a store that a rejected operation must not change.
#[derive(Debug)]
struct Snapshot {
    fingerprint: String,
    log: Vec<u8>,
    metrics: Metrics,
}

fn snapshot(store: &mut MemStore) -> Snapshot {
    let _ = store.drain_events();
    Snapshot {
        fingerprint: fingerprint(store),
        log: store.backend().bytes().to_vec(),
        metrics: store.metrics(),
    }
}

#[track_caller]
fn assert_unchanged(store: &mut MemStore, before: &Snapshot, what: &str) {
    let events = store.drain_events();
    assert!(
        events.is_empty(),
        "{what}: a rejected call emitted {events:?}"
    );
    assert_eq!(
        fingerprint(store),
        before.fingerprint,
        "{what}: content changed"
    );
    let log = store.backend().bytes();
    assert!(
        log == before.log.as_slice(),
        "{what}: the log changed ({} -> {} bytes)",
        before.log.len(),
        log.len()
    );
    assert_eq!(store.metrics(), before.metrics, "{what}: metrics changed");
    let (reopened, _) =
        open_log(log.to_vec()).unwrap_or_else(|e| panic!("{what}: the log no longer opens: {e}"));
    assert_eq!(
        fingerprint(&reopened),
        before.fingerprint,
        "{what}: the reopened log differs"
    );
}

#[track_caller]
fn assert_rejected(err: &Error, needle: &str) {
    match err {
        Error::ImportRejected(msg) if msg.contains(needle) => {}
        other => panic!("expected ImportRejected mentioning {needle:?}, got {other:?}"),
    }
}

/// (offset, payload length) of every whole frame after the header, checksums ignored.
fn frame_spans(log: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while pos + FRAME_HEADER_LEN <= log.len() {
        let len = u32::from_le_bytes(log[pos..pos + 4].try_into().unwrap()) as usize;
        if pos + FRAME_HEADER_LEN + len > log.len() {
            break;
        }
        out.push((pos, len));
        pos += FRAME_HEADER_LEN + len;
    }
    out
}

fn payload(log: &[u8], (off, len): (usize, usize)) -> &[u8] {
    &log[off + FRAME_HEADER_LEN..off + FRAME_HEADER_LEN + len]
}

fn whole_frame(log: &[u8], (off, len): (usize, usize)) -> &[u8] {
    &log[off..off + FRAME_HEADER_LEN + len]
}

fn spans_of_kind(log: &[u8], kind: u8) -> Vec<(usize, usize)> {
    frame_spans(log)
        .into_iter()
        .filter(|s| payload(log, *s)[0] == kind)
        .collect()
}

fn span_containing(log: &[u8], pos: usize) -> (usize, usize) {
    frame_spans(log)
        .into_iter()
        .find(|(off, len)| (*off..off + FRAME_HEADER_LEN + len).contains(&pos))
        .unwrap_or_else(|| panic!("no frame holds byte {pos}"))
}

/// Recomputes the checksum of the frame at `off`, so a modified payload reads as valid.
fn refresh_crc(log: &mut [u8], off: usize) {
    let len = u32::from_le_bytes(log[off..off + 4].try_into().unwrap()) as usize;
    let start = off + FRAME_HEADER_LEN;
    let crc = frame::crc32c(&log[start..start + len]);
    log[off + 4..off + 8].copy_from_slice(&crc.to_le_bytes());
}

#[track_caller]
fn find_unique(hay: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{:?} should occur exactly once",
        String::from_utf8_lossy(needle)
    );
    hits[0]
}

/// Replaces byte `index` of the unique occurrence of `needle` with `byte` and fixes that
/// frame's checksum. Returns the frame offset.
/// Changes one byte and fixes its frame's checksum and the log's seals, as someone who
/// rewrites the log would: what only the checkpoint hashes can still catch.
fn tamper(log: &mut [u8], needle: &[u8], index: usize, byte: u8) -> usize {
    let pos = find_unique(log, needle) + index;
    assert_ne!(log[pos], byte);
    log[pos] = byte;
    let (off, _) = span_containing(log, pos);
    refresh_crc(log, off);
    rewind_core::conformance::reseal(log);
    off
}

// ----- the sample store -------------------------------------------------------------------

const C1_STATE: &[u8] = br#"{"step":1}"#;
const C2_STATE: &[u8] = br#"{"step":2,"tool":"search"}"#;
const C3_STATE: &[u8] = br#"{"step":3,"answer":42}"#;
const C4_STATE: &[u8] = br#"{"step":3,"alt":true}"#;
const D1_STATE: &[u8] = &[0xff, 0xfe, 0x00, 0x01, 0x80];
const C2_MSG: &str = "MSG-two tool";
const C4_MSG: &str = "MSG-four fork";

/// Two sessions, five checkpoints (one binary state, one automatic, one scheduled fork), an
/// annotation, an attachment and a head move. The last frame of its log is c4's checkpoint.
struct Sample {
    store: MemStore,
    s1: SessionId,
    s2: SessionId,
    c1: CheckpointId,
    c2: CheckpointId,
    c3: CheckpointId,
    c4: CheckpointId,
    d1: CheckpointId,
}

fn sample(seed: u64) -> Sample {
    sample_with(seed, Options::default())
}

fn sample_with(seed: u64, options: Options) -> Sample {
    let mut store = fresh(seed, options);
    let mut meta = Map::new();
    meta.insert("team".into(), json!("red"));
    let s1 = store.create_session("alpha", meta).unwrap();
    let s2 = store.create_session("beta", Map::new()).unwrap();
    let c1 = store
        .checkpoint(NewCheckpoint::new(s1, "MSG-one plan", C1_STATE).tag("plan"))
        .unwrap()
        .id;
    let c2 = store
        .checkpoint(
            NewCheckpoint::new(s1, C2_MSG, C2_STATE)
                .tags(["b", "a"])
                .meta("k", 1),
        )
        .unwrap()
        .id;
    let d1 = store
        .checkpoint(
            NewCheckpoint::new(s2, "MSG-other session", D1_STATE)
                .content_type("application/octet-stream"),
        )
        .unwrap()
        .id;
    store
        .annotate(c2, "NOTE-look here", Severity::Warning)
        .unwrap();
    let c3 = store
        .checkpoint(NewCheckpoint::new(s1, "MSG-three auto", C3_STATE).trigger(
            Trigger::Automatic {
                reason: "before tool".into(),
            },
        ))
        .unwrap()
        .id;
    store
        .attach(c3, "writes", "text/plain", b"ATTACH-hello")
        .unwrap();
    store.restore(c2).unwrap();
    let c4 = store
        .checkpoint(NewCheckpoint::new(s1, C4_MSG, C4_STATE).trigger(Trigger::Scheduled))
        .unwrap()
        .id;
    assert_eq!(store.get(c4).unwrap().parent, Some(c2));
    Sample {
        store,
        s1,
        s2,
        c1,
        c2,
        c3,
        c4,
        d1,
    }
}

fn sample_log(seed: u64) -> Vec<u8> {
    sample(seed).store.backend().bytes().to_vec()
}

/// A store to import into: its own session and checkpoint, ids unlike the sample's.
fn import_target(options: Options) -> MemStore {
    let mut store = fresh(99, Options::default());
    let s = store.create_session("target-own", Map::new()).unwrap();
    store
        .checkpoint(NewCheckpoint::new(s, "target checkpoint", b"{\"t\":1}"))
        .unwrap();
    // Reopened with the options under test (replay does not check limits).
    let log = store.into_backend().into_bytes();
    Store::open(MemoryBackend::from_bytes(log), env(99), options)
        .expect("the target reopens")
        .0
}

// ============================================================================================
// Opening damaged logs
// ============================================================================================

#[test]
fn open_rejects_a_truncated_header() {
    let log = sample_log(1);
    for cut in 1..HEADER_LEN {
        assert_eq!(
            open_err(log[..cut].to_vec()),
            Error::Corrupt {
                at: 0,
                kind: CorruptKind::Truncated
            },
            "header cut to {cut} bytes"
        );
    }
    // The header alone (and nothing at all) is an empty store.
    for bytes in [Vec::new(), log[..HEADER_LEN].to_vec()] {
        let (store, report) = open_log(bytes).expect("an empty log opens");
        assert_eq!(store.metrics().checkpoints, 0);
        assert_eq!((report.frames, report.truncated_bytes), (0, 0));
    }
}

#[test]
fn open_rejects_bad_magic() {
    let log = sample_log(1);
    for i in 0..8 {
        let mut bad = log.clone();
        bad[i] ^= 0x20;
        assert_eq!(
            open_err(bad),
            Error::Corrupt {
                at: 0,
                kind: CorruptKind::BadMagic
            },
            "magic byte {i} changed"
        );
    }
    let mut zeros = log.clone();
    zeros[..8].fill(0);
    assert_eq!(
        open_err(zeros),
        Error::Corrupt {
            at: 0,
            kind: CorruptKind::BadMagic
        }
    );
}

#[test]
fn open_rejects_unknown_format_versions() {
    let log = sample_log(1);
    for version in [0u16, 4, 0x0100, u16::MAX] {
        let mut bad = log.clone();
        bad[8..10].copy_from_slice(&version.to_le_bytes());
        assert_eq!(
            open_err(bad),
            Error::Corrupt {
                at: 0,
                kind: CorruptKind::UnsupportedVersion(version)
            }
        );
    }
}

#[test]
fn open_reports_a_corrupt_frame_in_the_middle_at_its_offset() {
    let log = sample_log(1);
    let spans = frame_spans(&log);
    assert!(spans.len() > 5);
    for &(off, len) in &spans[..spans.len() - 1] {
        // A flipped payload byte, a flipped checksum byte.
        for pos in [off + FRAME_HEADER_LEN + len / 2, off + 5] {
            let mut bad = log.clone();
            bad[pos] ^= 0x10;
            assert_eq!(
                open_err(bad),
                Error::Corrupt {
                    at: off as u64,
                    kind: CorruptKind::Checksum
                },
                "byte {pos} of the frame at {off}"
            );
        }
    }
}

#[test]
fn open_rejects_a_zero_length_frame_followed_by_data() {
    let log = sample_log(1);
    let (off, _) = frame_spans(&log)[1];
    let mut bad = log[..off].to_vec();
    frame::write_frame(&mut bad, &[]);
    bad.extend_from_slice(&log[off..]);
    assert_eq!(
        open_err(bad),
        Error::Corrupt {
            at: off as u64,
            kind: CorruptKind::Checksum
        }
    );
}

#[test]
fn open_rejects_an_unknown_record_kind_with_a_valid_checksum() {
    // Alone in a fresh log.
    let mut bad = frame::header().to_vec();
    frame::write_frame(&mut bad, &[42, 1, 2, 3]);
    assert_eq!(
        open_err(bad),
        Error::Corrupt {
            at: HEADER_LEN as u64,
            kind: CorruptKind::UnknownRecord(42)
        }
    );
    // After a real log, followed by more valid frames, and as a multi-byte varint.
    let log = sample_log(1);
    let spans = frame_spans(&log);
    for (kind_bytes, kind) in [(vec![42u8], 42u32), (vec![99], 99), (vec![0xc8, 0x01], 200)] {
        let mut bad = log.clone();
        let at = bad.len();
        let mut p = kind_bytes.clone();
        p.extend_from_slice(b"payload");
        frame::write_frame(&mut bad, &p);
        assert_eq!(
            open_err(bad.clone()),
            Error::Corrupt {
                at: at as u64,
                kind: CorruptKind::UnknownRecord(kind)
            }
        );
        // In the middle: before the last real frame.
        let (last, _) = *spans.last().unwrap();
        let mut mid = log[..last].to_vec();
        frame::write_frame(&mut mid, &p);
        mid.extend_from_slice(&log[last..]);
        assert_eq!(
            open_err(mid),
            Error::Corrupt {
                at: last as u64,
                kind: CorruptKind::UnknownRecord(kind)
            }
        );
    }
}

#[test]
fn open_rejects_garbage_postcard_with_a_valid_checksum() {
    let garbage: [&[u8]; 5] = [
        &[K_CHECKPOINT], // a checkpoint with no body
        &[
            K_CHECKPOINT,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
        ],
        &[K_TXN, 0xff, 0xff, 0xff, 0xff, 0xff], // u32 varint overflow
        &[K_SESSION, 16, 1, 2, 3],              // a uuid cut short
        &[0x80, 0x80, 0x80, 0x80, 0x80],        // a kind varint that never ends
    ];
    let log = sample_log(1);
    for p in garbage {
        let mut bad = log.clone();
        let at = bad.len();
        frame::write_frame(&mut bad, p);
        assert_eq!(
            open_err(bad),
            Error::Corrupt {
                at: at as u64,
                kind: CorruptKind::Decode
            },
            "payload {p:?}"
        );
    }
}

#[test]
fn open_rejects_frame_lengths_over_max_payload() {
    let log = sample_log(1);
    for len in [MAX_PAYLOAD + 1, u32::MAX] {
        // At the end of the log: still corruption, never a torn tail to allocate for.
        let mut bad = log.clone();
        let at = bad.len();
        bad.extend_from_slice(&len.to_le_bytes());
        bad.extend_from_slice(&[0; 4]);
        assert_eq!(
            open_err(bad),
            Error::Corrupt {
                at: at as u64,
                kind: CorruptKind::FrameTooLarge(len)
            }
        );
        // The length field of an early frame.
        let (off, _) = frame_spans(&log)[2];
        let mut bad = log.clone();
        bad[off..off + 4].copy_from_slice(&len.to_le_bytes());
        assert_eq!(
            open_err(bad),
            Error::Corrupt {
                at: off as u64,
                kind: CorruptKind::FrameTooLarge(len)
            }
        );
    }
    // Exactly MAX_PAYLOAD at the very end is a torn tail (the frame is incomplete).
    let mut torn = log.clone();
    torn.extend_from_slice(&MAX_PAYLOAD.to_le_bytes());
    torn.extend_from_slice(&[0; 4]);
    let (store, report) = open_log(torn).expect("a torn tail opens");
    assert_eq!(report.truncated_bytes, FRAME_HEADER_LEN as u64);
    assert_eq!(store.metrics().checkpoints, 5);
}

/// A bit flip in the length field of an early frame makes the frame claim more bytes than the
/// log has. That is corruption (whole frames follow the damaged one), not a torn tail: it must
/// not be accepted by silently dropping everything after the frame.
#[test]
fn a_damaged_length_in_an_early_frame_is_not_mistaken_for_a_torn_tail() {
    let log = sample_log(1);
    let spans = frame_spans(&log);
    let (off, _) = spans[2];
    let mut bad = log.clone();
    bad[off + 2] ^= 0x01; // length + 65536: past the end of this small log
    match open_log(bad) {
        // Any kind (checksum, truncated, ...) will do, as long as it names the frame.
        Err(err) => assert!(
            matches!(err, Error::Corrupt { at, .. } if at == off as u64),
            "a damaged length should be reported as corruption of the frame at {off}: {err:?}"
        ),
        Ok((store, report)) => panic!(
            "BUG: the log opened as if torn at byte {off}: {} of {} frames replayed, \
             {} bytes ({} whole frames) silently dropped, {} of 5 checkpoints left",
            report.frames,
            spans.len(),
            report.truncated_bytes,
            spans.len() - 2,
            store.metrics().checkpoints
        ),
    }
}

#[test]
fn open_rejects_records_that_reference_unknown_things() {
    let a = sample_log(1);
    // A second store with other ids and deletions.
    let mut other = sample(2);
    let (oc1, os2) = (other.c1, other.s2);
    other.store.delete(oc1).unwrap();
    other.store.delete_session(os2).unwrap();
    let b = other.store.backend().bytes().to_vec();
    let first = |log: &[u8], kind: u8| spans_of_kind(log, kind)[0];

    let inconsistent = |base: &[u8], frames: &[&[u8]], what: &str| {
        let mut log = base.to_vec();
        let mut at = 0;
        for f in frames {
            at = log.len();
            log.extend_from_slice(f);
        }
        // Sealed, so the spliced records are a complete write (a version 2 log replays a write
        // only once its seal has arrived).
        rewind_core::conformance::append_seal(&mut log);
        assert_eq!(
            open_err(log),
            Error::Corrupt {
                at: at as u64,
                kind: CorruptKind::Inconsistent(match what {
                    "cp" => "checkpoint of an unknown session",
                    "note" => "annotation of an unknown checkpoint",
                    "attach" => "attachment of an unknown checkpoint",
                    "head" => "head moved to an unknown checkpoint",
                    "session2" => "session created twice",
                    "cp2" => "checkpoint created twice",
                    "del" => "deletion of an unknown checkpoint",
                    "delsession" => "deletion of an unknown session",
                    _ => unreachable!(),
                })
            },
            "splice {what}"
        );
    };
    let header = frame::header();
    let cp = whole_frame(&a, first(&a, K_CHECKPOINT));
    let session = whole_frame(&a, first(&a, K_SESSION));
    // A checkpoint of store A alone in a fresh log, and appended to store B's log.
    inconsistent(&header, &[cp], "cp");
    inconsistent(&b, &[cp], "cp");
    inconsistent(&header, &[whole_frame(&a, first(&a, K_ANNOTATION))], "note");
    inconsistent(
        &header,
        &[whole_frame(&a, first(&a, K_ATTACHMENT))],
        "attach",
    );
    inconsistent(
        &header,
        &[session, whole_frame(&a, first(&a, K_HEAD))],
        "head",
    );
    inconsistent(&header, &[session, session], "session2");
    inconsistent(&a, &[cp], "cp2");
    inconsistent(
        &a,
        &[whole_frame(&b, first(&b, K_DELETE_CHECKPOINT))],
        "del",
    );
    inconsistent(
        &a,
        &[whole_frame(&b, first(&b, K_DELETE_SESSION))],
        "delsession",
    );
    // The original logs still open.
    assert!(open_log(a).is_ok());
    assert!(open_log(b).is_ok());
}

#[test]
fn a_torn_tail_opens_without_the_last_write() {
    let s = sample(1);
    let log = s.store.backend().bytes().to_vec();
    let spans = frame_spans(&log);
    // The last write: the checkpoint's frame, then its seal.
    let (last, last_len) = spans[spans.len() - 2];
    let (seal, seal_len) = spans[spans.len() - 1];
    assert_eq!(payload(&log, (last, last_len))[0], K_CHECKPOINT);
    assert_eq!(payload(&log, (seal, seal_len))[0], K_SEAL);
    let before_last = fingerprint(
        &open_log(log[..last].to_vec())
            .expect("a log cut at a write boundary opens")
            .0,
    );
    for cut in [
        last + 1,
        last + 4,
        last + FRAME_HEADER_LEN,
        last + FRAME_HEADER_LEN + last_len / 2,
        last + FRAME_HEADER_LEN + last_len - 1,
        seal,
        seal + FRAME_HEADER_LEN + 3,
        seal + FRAME_HEADER_LEN + seal_len - 1,
    ] {
        let (mut store, report) = open_log(log[..cut].to_vec()).expect("a torn tail opens");
        // A frame cut short is a torn tail; a whole record whose seal is missing is a write that
        // did not finish.
        let torn_from = if cut > seal {
            seal
        } else if cut == seal {
            cut
        } else {
            last
        };
        assert_eq!(
            report.truncated_bytes,
            (cut - torn_from) as u64,
            "cut at {cut}"
        );
        assert_eq!(
            report.discarded_records,
            u64::from(cut >= seal),
            "cut at {cut}"
        );
        assert_eq!(store.get(s.c4), Err(Error::CheckpointNotFound(s.c4)));
        assert_eq!(store.metrics().checkpoints, 4);
        assert_eq!(fingerprint(&store), before_last);
        // Writing after the dropped tail leaves a log that reopens to the same store.
        store
            .checkpoint(NewCheckpoint::new(s.s1, "after the crash", b"{}"))
            .unwrap();
        let expected = fingerprint(&store);
        let (reopened, report) =
            open_log(store.backend().bytes().to_vec()).expect("the repaired log opens");
        assert_eq!(report.truncated_bytes, 0);
        assert_eq!(fingerprint(&reopened), expected);
        assert!(reopened.verify().is_ok());
    }
}

/// A crash can cut a multi-frame write (an import's transaction) exactly at a frame boundary.
/// Open then replays none of the transaction, as documented. The incomplete transaction's
/// frames must not come back to life when later writes follow them.
#[test]
fn an_incomplete_transaction_stays_rolled_back_after_later_writes() {
    let mut source = sample(3);
    let export = source.store.export_json(None).unwrap();
    let mut store = fresh(5, Options::default());
    let own = store.create_session("own", Map::new()).unwrap();
    store.import_json(export.as_bytes()).unwrap();
    let log = store.backend().bytes().to_vec();
    let (txn, _) = spans_of_kind(&log, K_TXN)[0];
    let spans = frame_spans(&log);
    let i = spans.iter().position(|(off, _)| *off == txn).unwrap();
    // Keep the Txn frame and the next three records; the rest of the transaction is lost.
    let cut = spans[i + 4].0;
    let (mut store, report) = open_log(log[..cut].to_vec()).expect("the cut log opens");
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(
        store.metrics().sessions,
        1,
        "none of the import is replayed"
    );
    store
        .checkpoint(NewCheckpoint::new(own, "after the crash", b"{}"))
        .unwrap();
    store.create_session("later", Map::new()).unwrap();
    let expected = fingerprint(&store);
    match open_log(store.backend().bytes().to_vec()) {
        Ok((reopened, _)) => assert_eq!(
            fingerprint(&reopened),
            expected,
            "BUG: the frames of the rolled-back transaction were replayed together with \
             the writes that followed them"
        ),
        Err(err) => panic!(
            "BUG: after an incomplete transaction and two more writes the log no longer \
             opens: {err}"
        ),
    }
}

// ============================================================================================
// Limits and invalid input
// ============================================================================================

fn small_limits() -> Options {
    options_with(|l| {
        l.max_state_bytes = 100;
        l.max_message_bytes = 20;
        l.max_tags = 2;
        l.max_tag_bytes = 5;
        l.max_metadata_bytes = 30;
        l.max_namespace_bytes = 8;
        l.max_name_bytes = 10;
        l.max_content_type_bytes = 24;
        l.max_note_bytes = 12;
        l.max_attachment_bytes = 50;
        l.max_attachment_key_bytes = 6;
        l.max_import_bytes = 64;
    })
}

fn meta_of_len(len: usize) -> Map<String, Value> {
    // {"k":"…"} is 8 bytes plus the value.
    let mut m = Map::new();
    m.insert("k".into(), json!("v".repeat(len - 8)));
    assert_eq!(serde_json::to_string(&m).unwrap().len(), len);
    m
}

#[test]
fn every_limit_is_enforced_with_kind_limit_and_actual() {
    let mut store = fresh(1, small_limits());
    let s = store.create_session("s", Map::new()).unwrap();
    let c = store
        .checkpoint(NewCheckpoint::new(s, "m", b"{}"))
        .unwrap()
        .id;
    let before = snapshot(&mut store);
    let new = |msg: &str| NewCheckpoint::new(s, msg.to_string(), b"{}");
    let big_state = [b'x'; 101];
    let cases: Vec<(&str, Res<()>, LimitKind, u64, u64)> = vec![
        (
            "state",
            store
                .checkpoint(NewCheckpoint::new(s, "m", &big_state))
                .map(|_| ()),
            LimitKind::StateBytes,
            100,
            101,
        ),
        (
            "message",
            store.checkpoint(new(&"m".repeat(21))).map(|_| ()),
            LimitKind::MessageBytes,
            20,
            21,
        ),
        (
            "message counted in bytes",
            store.checkpoint(new(&"é".repeat(11))).map(|_| ()),
            LimitKind::MessageBytes,
            20,
            22,
        ),
        (
            "automatic reason",
            store
                .checkpoint(new("m").trigger(Trigger::Automatic {
                    reason: "r".repeat(21),
                }))
                .map(|_| ()),
            LimitKind::MessageBytes,
            20,
            21,
        ),
        (
            "tag count",
            store.checkpoint(new("m").tags(["a", "b", "c"])).map(|_| ()),
            LimitKind::TagCount,
            2,
            3,
        ),
        (
            "tag length",
            store.checkpoint(new("m").tag("abcdef")).map(|_| ()),
            LimitKind::TagBytes,
            5,
            6,
        ),
        (
            "checkpoint metadata",
            store
                .checkpoint(new("m").metadata(meta_of_len(31)))
                .map(|_| ()),
            LimitKind::MetadataBytes,
            30,
            31,
        ),
        (
            "session metadata",
            store.create_session("s2", meta_of_len(40)).map(|_| ()),
            LimitKind::MetadataBytes,
            30,
            40,
        ),
        (
            "namespace",
            store
                .checkpoint(new("m").namespace("n".repeat(9)))
                .map(|_| ()),
            LimitKind::NamespaceBytes,
            8,
            9,
        ),
        (
            "session name",
            store.create_session("n".repeat(11), Map::new()).map(|_| ()),
            LimitKind::NameBytes,
            10,
            11,
        ),
        (
            "session name with id",
            store
                .create_session_with_id(SessionId::from_bytes([9; 16]), "n".repeat(12), Map::new())
                .map(|_| ()),
            LimitKind::NameBytes,
            10,
            12,
        ),
        (
            "checkpoint content type",
            store
                .checkpoint(new("m").content_type("c".repeat(25)))
                .map(|_| ()),
            LimitKind::ContentTypeBytes,
            24,
            25,
        ),
        (
            "attachment content type",
            store.attach(c, "k", "c".repeat(25), b"x"),
            LimitKind::ContentTypeBytes,
            24,
            25,
        ),
        (
            "note",
            store
                .annotate(c, "n".repeat(13), Severity::Info)
                .map(|_| ()),
            LimitKind::NoteBytes,
            12,
            13,
        ),
        (
            "attachment",
            store.attach(c, "k", "text/plain", &[1; 51]),
            LimitKind::AttachmentBytes,
            50,
            51,
        ),
        (
            "attachment key",
            store.attach(c, "kkkkkkk", "text/plain", b"x"),
            LimitKind::AttachmentKeyBytes,
            6,
            7,
        ),
        (
            "json import size",
            store.import_json(&[b' '; 65]).map(|_| ()),
            LimitKind::ImportBytes,
            64,
            65,
        ),
        (
            "binary import size",
            store.import_binary(&[0; 100]).map(|_| ()),
            LimitKind::ImportBytes,
            64,
            100,
        ),
    ];
    for (what, result, kind, limit, actual) in cases {
        assert_eq!(
            result,
            Err(Error::LimitExceeded {
                kind,
                limit,
                actual
            }),
            "{what}"
        );
    }
    assert_unchanged(&mut store, &before, "limits");
}

#[test]
fn inputs_exactly_at_the_limits_are_accepted() {
    let mut store = fresh(1, small_limits());
    let s = store
        .create_session("n".repeat(10), meta_of_len(30))
        .unwrap();
    let state = [b'x'; 100];
    let c = store
        .checkpoint(
            NewCheckpoint::new(s, "m".repeat(20), &state)
                .tags(["abcde", "b", "b", "abcde"]) // duplicates merge: two tags
                .metadata(meta_of_len(30))
                .namespace("n".repeat(8))
                .content_type("c".repeat(24)),
        )
        .unwrap()
        .id;
    assert_eq!(store.get(c).unwrap().tags, ["abcde", "b"]);
    store.annotate(c, "n".repeat(12), Severity::Info).unwrap();
    store.attach(c, "kkkkkk", "c".repeat(24), &[1; 50]).unwrap();
    assert!(store.verify().is_ok());
}

#[test]
fn empty_messages_tags_and_notes_are_invalid_input() {
    let mut store = fresh(1, Options::default());
    let s = store.create_session("s", Map::new()).unwrap();
    let c = store
        .checkpoint(NewCheckpoint::new(s, "m", b"{}"))
        .unwrap()
        .id;
    // A session without checkpoints, so automatic checkpoints are not throttled.
    let quiet = store.create_session("quiet", Map::new()).unwrap();
    let before = snapshot(&mut store);
    for msg in ["", " ", "   \t\n", "\u{3000}"] {
        let r = store
            .checkpoint(NewCheckpoint::new(s, msg, b"{}"))
            .map(|_| ());
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "message {msg:?}: {r:?}"
        );
        let r = store
            .auto_checkpoint(NewCheckpoint::new(quiet, msg, b"{}"), "reason")
            .map(|_| ());
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "auto message {msg:?}: {r:?}"
        );
    }
    for tags in [vec![""], vec!["a", ""]] {
        let r = store
            .checkpoint(NewCheckpoint::new(s, "m", b"{}").tags(tags.clone()))
            .map(|_| ());
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "tags {tags:?}: {r:?}"
        );
    }
    for note in ["", "  \n"] {
        let r = store.annotate(c, note, Severity::Critical).map(|_| ());
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "note {note:?}: {r:?}"
        );
    }
    assert_unchanged(&mut store, &before, "invalid input");
}

#[test]
fn unknown_ids_are_reported_for_every_id_taking_operation() {
    let mut s = sample(1);
    let (s1, s2, c1, d1) = (s.s1, s.s2, s.c1, s.d1);
    let store = &mut s.store;
    let before = snapshot(store);
    let gc = CheckpointId::from_bytes([0xab; 16]);
    let gs = SessionId::from_bytes([0xcd; 16]);
    let cp_nf = Err(Error::CheckpointNotFound(gc));
    let s_nf = Err(Error::SessionNotFound(gs));

    assert_eq!(store.get(gc).map(|_| ()), cp_nf);
    assert_eq!(store.state(gc).map(|_| ()), cp_nf);
    assert_eq!(store.restore(gc).map(|_| ()), cp_nf);
    assert_eq!(store.history(gc).map(|_| ()), cp_nf);
    assert_eq!(store.children(gc).map(|_| ()), cp_nf);
    assert_eq!(store.annotations(gc).map(|_| ()), cp_nf);
    assert_eq!(
        store.annotate(gc, "note", Severity::Info).map(|_| ()),
        cp_nf
    );
    assert_eq!(store.attach(gc, "k", "text/plain", b"x"), cp_nf);
    assert_eq!(store.attachment(gc, "k").map(|_| ()), cp_nf);
    assert_eq!(store.attachment_keys(gc).map(|_| ()), cp_nf);
    assert_eq!(store.delete(gc), cp_nf);
    assert_eq!(store.diff(gc, c1).map(|_| ()), cp_nf);
    assert_eq!(store.diff(c1, gc).map(|_| ()), cp_nf);
    assert_eq!(store.set_head(s1, Some(gc)), cp_nf);
    assert_eq!(
        store
            .checkpoint(NewCheckpoint::new(s1, "m", b"{}").parent(gc))
            .map(|_| ()),
        cp_nf
    );
    assert_eq!(store.list(&Query::new().before(gc)).map(|_| ()), cp_nf);

    assert_eq!(store.session(gs).map(|_| ()), s_nf);
    assert_eq!(store.latest(gs).map(|_| ()), s_nf);
    assert_eq!(store.at(gs, T0).map(|_| ()), s_nf);
    assert_eq!(store.branches(gs).map(|_| ()), s_nf);
    assert_eq!(store.set_head(gs, None), s_nf);
    assert_eq!(store.set_head(gs, Some(c1)), s_nf);
    assert_eq!(store.delete_session(gs).map(|_| ()), s_nf);
    assert_eq!(
        store
            .checkpoint(NewCheckpoint::new(gs, "m", b"{}"))
            .map(|_| ()),
        s_nf
    );
    assert_eq!(
        store
            .auto_checkpoint(NewCheckpoint::new(gs, "m", b"{}"), "r")
            .map(|_| ()),
        s_nf
    );
    assert_eq!(store.list(&Query::new().session(gs)).map(|_| ()), s_nf);
    assert_eq!(store.export_json(Some(&[s1, gs])).map(|_| ()), s_nf);
    assert_eq!(store.export_binary(Some(&[gs])).map(|_| ()), s_nf);
    assert_eq!(
        store
            .plan_compaction(&RetentionPolicy::keep_last(1).session(gs))
            .map(|_| ()),
        s_nf
    );
    assert_eq!(
        store
            .compact(&RetentionPolicy::keep_last(1).session(gs))
            .map(|_| ()),
        s_nf
    );

    // Ids that exist but do not fit.
    assert_eq!(
        store
            .checkpoint(NewCheckpoint::new(s2, "m", b"{}").parent(c1))
            .map(|_| ()),
        Err(Error::ParentInOtherSession {
            parent: c1,
            session: s2
        })
    );
    assert_eq!(
        store.set_head(s1, Some(d1)),
        Err(Error::ParentInOtherSession {
            parent: d1,
            session: s1
        })
    );
    assert!(matches!(
        store.checkpoint(NewCheckpoint::new(s1, "m", b"{}").id(c1)),
        Err(Error::DuplicateId(_))
    ));
    assert!(matches!(
        store.create_session_with_id(s1, "again", Map::new()),
        Err(Error::DuplicateId(_))
    ));
    assert_unchanged(store, &before, "unknown ids");

    // Deleting twice: the second time the id is unknown.
    store.delete(d1).unwrap();
    assert_eq!(store.delete(d1), Err(Error::CheckpointNotFound(d1)));
    assert_eq!(store.delete_session(s2), Ok(0));
    assert_eq!(store.delete_session(s2), Err(Error::SessionNotFound(s2)));
}

/// `Diff::time_delta_ms` is an i64 computed from two caller-chosen u64 times. Extreme (but
/// accepted) creation times must not make `diff` panic.
#[test]
fn diff_of_extreme_creation_times_does_not_panic() {
    let mut store = fresh(1, Options::default());
    let s = store.create_session("s", Map::new()).unwrap();
    let times = [0u64, 1, (1 << 63) - 1, 1 << 63, u64::MAX];
    let ids: Vec<CheckpointId> = times
        .iter()
        .map(|t| {
            store
                .checkpoint(NewCheckpoint::new(s, format!("at {t}"), b"{}").created_at(*t))
                .unwrap()
                .id
        })
        .collect();
    let mut panics = Vec::new();
    for (i, a) in ids.iter().enumerate() {
        for (j, b) in ids.iter().enumerate() {
            let r = catch_unwind(AssertUnwindSafe(|| store.diff(*a, *b).map(|_| ())));
            if r.is_err() {
                panics.push((times[i], times[j]));
            }
        }
    }
    assert!(
        panics.is_empty(),
        "BUG: Store::diff panicked for created_at pairs {panics:?} (src/diff.rs: \
         `cb.created_at as i64 - ca.created_at as i64` overflows)"
    );
}

// ============================================================================================
// Hostile JSON imports
// ============================================================================================

fn export_doc(s: &mut Sample) -> Value {
    serde_json::from_str(&s.store.export_json(None).unwrap()).unwrap()
}

fn cp_mut(doc: &mut Value, id: CheckpointId) -> &mut Value {
    let id = id.to_string();
    doc["checkpoints"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["id"] == id.as_str())
        .expect("checkpoint in export")
}

fn session_mut(doc: &mut Value, id: SessionId) -> &mut Value {
    let id = id.to_string();
    doc["sessions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["id"] == id.as_str())
        .expect("session in export")
}

/// Imports `bytes` into a fresh import target, expects an error, checks the target is unchanged.
#[track_caller]
fn json_import_err_with(options: Options, bytes: &[u8], what: &str) -> Error {
    let mut target = import_target(options);
    let before = snapshot(&mut target);
    let err = match target.import_json(bytes) {
        Ok(report) => panic!("{what}: import should be rejected, got {report:?}"),
        Err(err) => err,
    };
    assert_unchanged(&mut target, &before, what);
    err
}

#[track_caller]
fn json_import_err(doc: &Value, what: &str) -> Error {
    json_import_err_with(Options::default(), &serde_json::to_vec(doc).unwrap(), what)
}

/// Applies `edit` to a fresh export of the sample and expects the import to fail.
#[track_caller]
fn mutated_json_err(what: &str, edit: impl FnOnce(&mut Value, &Sample)) -> Error {
    let mut s = sample(1);
    let mut doc = export_doc(&mut s);
    edit(&mut doc, &s);
    json_import_err(&doc, what)
}

#[test]
fn the_unmodified_json_export_imports() {
    let mut s = sample(1);
    let doc = export_doc(&mut s);
    let mut target = import_target(Options::default());
    let report = target
        .import_json(&serde_json::to_vec(&doc).unwrap())
        .unwrap();
    assert_eq!(
        (
            report.sessions_added,
            report.checkpoints_added,
            report.annotations_added,
            report.attachments_added
        ),
        (2, 5, 1, 1)
    );
    assert!(target.verify().is_ok());
    assert_eq!(target.state(s.d1).unwrap(), D1_STATE);
    // Importing it again changes nothing.
    let before = snapshot(&mut target);
    let again = target
        .import_json(&serde_json::to_vec(&doc).unwrap())
        .unwrap();
    assert_eq!((again.checkpoints_added, again.skipped), (0, 5));
    assert_unchanged(&mut target, &before, "re-import");
}

#[test]
fn json_with_wrong_types_is_rejected() {
    type Edit = fn(&mut Value, &Sample);
    let edits: [(&str, Edit); 12] = [
        ("seq as string", |d, s| cp_mut(d, s.c2)["seq"] = json!("2")),
        ("created_at as string", |d, s| {
            cp_mut(d, s.c1)["created_at"] = json!("yesterday")
        }),
        ("state_len as float", |d, s| {
            cp_mut(d, s.c1)["state_len"] = json!(10.5)
        }),
        ("tags as string", |d, s| {
            cp_mut(d, s.c1)["tags"] = json!("plan")
        }),
        ("metadata as array", |d, s| {
            cp_mut(d, s.c2)["metadata"] = json!([1, 2])
        }),
        ("session metadata as string", |d, s| {
            session_mut(d, s.s1)["metadata"] = json!("{}")
        }),
        ("id as number", |d, s| cp_mut(d, s.c1)["id"] = json!(12345)),
        ("id not a uuid", |d, s| {
            cp_mut(d, s.c1)["id"] = json!("not-a-uuid")
        }),
        ("version as string", |d, _| d["version"] = json!("1")),
        ("checkpoints as object", |d, _| d["checkpoints"] = json!({})),
        ("state as string", |d, s| {
            cp_mut(d, s.c1)["state"] = json!("{}")
        }),
        ("trigger as string", |d, s| {
            cp_mut(d, s.c1)["trigger"] = json!("manual")
        }),
    ];
    for (what, edit) in edits {
        let err = mutated_json_err(what, edit);
        assert_rejected(&err, "not a rewind JSON export");
    }
    // Not JSON at all, and not an object.
    for text in [&b"not json"[..], b"[]", b"null", b"{\"format\":1}", b""] {
        let err = json_import_err_with(Options::default(), text, "garbage");
        assert_rejected(&err, "not a rewind JSON export");
    }
}

#[test]
fn json_with_huge_or_negative_numbers_is_rejected() {
    let fields: [(&str, &str); 4] = [
        ("seq", "checkpoint"),
        ("created_at", "checkpoint"),
        ("state_len", "checkpoint"),
        ("created_at", "session"),
    ];
    for (field, owner) in fields {
        for number in ["1e400", "18446744073709551616", "-1", "-0.5", "1e19"] {
            let mut s = sample(1);
            let mut doc = export_doc(&mut s);
            let target = if owner == "checkpoint" {
                cp_mut(&mut doc, s.c2)
            } else {
                session_mut(&mut doc, s.s1)
            };
            target[field] = json!("__NUMBER__");
            let text = doc
                .to_string()
                .replace("\"__NUMBER__\"", number)
                .into_bytes();
            let err = json_import_err_with(
                Options::default(),
                &text,
                &format!("{owner}.{field} = {number}"),
            );
            assert_rejected(&err, "not a rewind JSON export");
        }
    }
    for (field, number) in [
        ("version", "4294967297"),
        ("exported_at", "1e400"),
        ("version", "-1"),
    ] {
        let mut s = sample(1);
        let mut doc = export_doc(&mut s);
        doc[field] = json!("__NUMBER__");
        let text = doc.to_string().replace("\"__NUMBER__\"", number);
        let err = json_import_err_with(Options::default(), text.as_bytes(), field);
        assert_rejected(&err, "not a rewind JSON export");
    }
    // A huge number inside metadata cannot be parsed either.
    let mut s = sample(1);
    let mut doc = export_doc(&mut s);
    cp_mut(&mut doc, s.c2)["metadata"]["k"] = json!("__NUMBER__");
    let text = doc.to_string().replace("\"__NUMBER__\"", "1e400");
    let err = json_import_err_with(Options::default(), text.as_bytes(), "metadata 1e400");
    assert_rejected(&err, "not a rewind JSON export");
}

#[test]
fn json_with_missing_fields_is_rejected() {
    let required_cp = [
        "id",
        "session",
        "namespace",
        "seq",
        "created_at",
        "message",
        "tags",
        "trigger",
        "metadata",
        "content_type",
        "state_len",
        "hash",
        "state",
    ];
    for field in required_cp {
        let err = mutated_json_err(field, |d, s| {
            cp_mut(d, s.c2).as_object_mut().unwrap().remove(field);
        });
        assert_rejected(&err, "missing field");
    }
    for field in ["id", "name", "metadata", "created_at"] {
        let err = mutated_json_err(field, |d, s| {
            session_mut(d, s.s1).as_object_mut().unwrap().remove(field);
        });
        assert_rejected(&err, "missing field");
    }
    for field in [
        "format",
        "version",
        "exported_at",
        "sessions",
        "checkpoints",
    ] {
        let err = mutated_json_err(field, |d, _| {
            d.as_object_mut().unwrap().remove(field);
        });
        assert_rejected(&err, "missing field");
    }
    for field in ["encoding", "data"] {
        let err = mutated_json_err(field, |d, s| {
            cp_mut(d, s.c2)["state"]
                .as_object_mut()
                .unwrap()
                .remove(field);
        });
        assert_rejected(&err, "missing field");
    }
    let err = mutated_json_err("trigger kind", |d, s| {
        cp_mut(d, s.c2)["trigger"]
            .as_object_mut()
            .unwrap()
            .remove("kind");
    });
    assert_rejected(&err, "missing field");
    // A missing `parent` reads as null: the link then disagrees with `parent_hash`.
    let err = mutated_json_err("parent", |d, s| {
        cp_mut(d, s.c2).as_object_mut().unwrap().remove("parent");
    });
    let c2 = sample(1).c2;
    assert_eq!(
        err,
        Error::HashMismatch {
            checkpoint: c2,
            detail: "parent and parent hash disagree"
        }
    );
}

#[test]
fn json_with_unknown_fields_is_rejected() {
    type Edit = fn(&mut Value, &Sample);
    let edits: [(&str, Edit); 7] = [
        ("top level", |d, _| d["extra"] = json!(1)),
        ("session", |d, s| session_mut(d, s.s1)["extra"] = json!(1)),
        ("checkpoint", |d, s| cp_mut(d, s.c1)["extra"] = json!(null)),
        ("trigger", |d, s| {
            cp_mut(d, s.c1)["trigger"]["extra"] = json!("x")
        }),
        ("state", |d, s| cp_mut(d, s.c1)["state"]["extra"] = json!(1)),
        ("annotation", |d, s| {
            cp_mut(d, s.c2)["annotations"][0]["extra"] = json!(1)
        }),
        ("attachment", |d, s| {
            cp_mut(d, s.c3)["attachments"][0]["extra"] = json!(1)
        }),
    ];
    for (what, edit) in edits {
        let err = mutated_json_err(what, edit);
        assert_rejected(&err, "unknown field");
    }
}

#[test]
fn json_with_wrong_format_or_version_is_rejected() {
    for format in ["rewind.exports", "", "REWIND.EXPORT"] {
        let err = mutated_json_err(format, |d, _| d["format"] = json!(format));
        assert_rejected(&err, "unknown format");
    }
    for version in [0, 2, 1000] {
        let err = mutated_json_err("version", |d, _| d["version"] = json!(version));
        assert_rejected(&err, &format!("export version {version} is not supported"));
    }
}

#[test]
fn json_with_duplicated_ids_is_rejected() {
    let err = mutated_json_err("dup checkpoint", |d, s| {
        let copy = cp_mut(d, s.c2).clone();
        d["checkpoints"].as_array_mut().unwrap().push(copy);
    });
    assert_rejected(&err, "appears twice");
    // The same id with other contents (another seq and message).
    let err = mutated_json_err("dup checkpoint, other seq", |d, s| {
        let mut copy = cp_mut(d, s.c2).clone();
        copy["seq"] = json!(99);
        copy["message"] = json!("other");
        d["checkpoints"].as_array_mut().unwrap().push(copy);
    });
    assert_rejected(&err, "appears twice");
    let err = mutated_json_err("dup session", |d, s| {
        let copy = session_mut(d, s.s2).clone();
        d["sessions"].as_array_mut().unwrap().insert(0, copy);
    });
    assert_rejected(&err, "appears twice");
}

#[test]
fn json_with_tampered_contents_fails_hash_verification() {
    type Edit = fn(&mut Value, &Sample) -> CheckpointId;
    let edits: [(&str, Edit); 12] = [
        ("message", |d, s| {
            cp_mut(d, s.c2)["message"] = json!("MSG-two tooL");
            s.c2
        }),
        ("utf8 state data", |d, s| {
            let c = cp_mut(d, s.c2);
            c["state"]["data"] = json!(r#"{"step":2,"tool":"seArch"}"#);
            s.c2
        }),
        ("base64 state data", |d, s| {
            let c = cp_mut(d, s.d1);
            assert_eq!(c["state"]["encoding"], "base64");
            let data = c["state"]["data"].as_str().unwrap().to_string();
            let first = if data.starts_with('A') { "B" } else { "A" };
            c["state"]["data"] = json!(format!("{first}{}", &data[1..]));
            s.d1
        }),
        ("created_at", |d, s| {
            cp_mut(d, s.c1)["created_at"] = json!(T0 - 5);
            s.c1
        }),
        ("namespace", |d, s| {
            cp_mut(d, s.c1)["namespace"] = json!("ns");
            s.c1
        }),
        ("tags", |d, s| {
            cp_mut(d, s.c1)["tags"] = json!(["plan", "zzz"]);
            s.c1
        }),
        ("metadata", |d, s| {
            cp_mut(d, s.c2)["metadata"]["k"] = json!(2);
            s.c2
        }),
        ("content type", |d, s| {
            cp_mut(d, s.c2)["content_type"] = json!("text/plain");
            s.c2
        }),
        ("trigger reason", |d, s| {
            cp_mut(d, s.c3)["trigger"]["reason"] = json!("after tool");
            s.c3
        }),
        ("trigger kind", |d, s| {
            cp_mut(d, s.c4)["trigger"]["kind"] = json!("manual");
            s.c4
        }),
        ("session of a checkpoint", |d, s| {
            cp_mut(d, s.d1)["session"] = json!(s.s1.to_string());
            s.d1
        }),
        ("recorded hash of a leaf", |d, s| {
            cp_mut(d, s.c4)["hash"] = json!(Hash::of(b"forged").to_hex());
            s.c4
        }),
    ];
    for (what, edit) in edits {
        let mut s = sample(1);
        let mut doc = export_doc(&mut s);
        let id = edit(&mut doc, &s);
        let err = json_import_err(&doc, what);
        assert_eq!(
            err,
            Error::HashMismatch {
                checkpoint: id,
                detail: "contents do not match the recorded hash"
            },
            "{what}"
        );
    }
}

#[test]
fn json_with_tampered_parent_links_is_rejected() {
    let s = sample(1);
    let err = mutated_json_err("parent_hash", |d, s| {
        let h = cp_mut(d, s.c1)["hash"].clone();
        cp_mut(d, s.c3)["parent_hash"] = h;
    });
    assert_eq!(
        err,
        Error::HashMismatch {
            checkpoint: s.c3,
            detail: "parent hash does not match the parent"
        }
    );
    let err = mutated_json_err("parent_hash null", |d, s| {
        cp_mut(d, s.c3)["parent_hash"] = Value::Null;
    });
    assert_eq!(
        err,
        Error::HashMismatch {
            checkpoint: s.c3,
            detail: "parent and parent hash disagree"
        }
    );
    let err = mutated_json_err("parent null", |d, s| {
        cp_mut(d, s.c3)["parent"] = Value::Null;
    });
    assert_eq!(
        err,
        Error::HashMismatch {
            checkpoint: s.c3,
            detail: "parent and parent hash disagree"
        }
    );
    for bad in ["zz", "", &"0".repeat(63), &"g".repeat(64)] {
        let err = mutated_json_err("parent_hash not hex", |d, s| {
            cp_mut(d, s.c3)["parent_hash"] = json!(bad);
        });
        assert_rejected(&err, "bad parent_hash");
        let err = mutated_json_err("hash not hex", |d, s| {
            cp_mut(d, s.c3)["hash"] = json!(bad);
        });
        assert_rejected(&err, "bad hash");
    }
    // A parent in another session (with that parent's genuine hash).
    let err = mutated_json_err("parent in another session", |d, s| {
        let h = cp_mut(d, s.d1)["hash"].clone();
        let c3 = cp_mut(d, s.c3);
        c3["parent"] = json!(s.d1.to_string());
        c3["parent_hash"] = h;
    });
    assert_rejected(&err, "parent is in another session");
}

#[test]
fn json_checkpoint_of_an_absent_session_is_rejected() {
    let err = mutated_json_err("absent session", |d, s| {
        let id = s.s2.to_string();
        d["sessions"]
            .as_array_mut()
            .unwrap()
            .retain(|x| x["id"] != id.as_str());
    });
    assert_rejected(&err, "which neither the import nor the store has");
}

#[test]
fn json_with_bad_encodings_and_lengths_is_rejected() {
    let err = mutated_json_err("bad base64", |d, s| {
        cp_mut(d, s.d1)["state"]["data"] = json!("!!not base64!!");
    });
    assert_rejected(&err, "bad base64");
    let err = mutated_json_err("bad base64 attachment", |d, s| {
        let a = &mut cp_mut(d, s.c3)["attachments"][0];
        a["encoding"] = json!("base64");
        a["data"] = json!("%%%");
    });
    assert_rejected(&err, "bad base64");
    let err = mutated_json_err("unknown encoding", |d, s| {
        cp_mut(d, s.c1)["state"]["encoding"] = json!("hex");
    });
    assert_rejected(&err, "unknown encoding");
    for delta in [1i64, -1] {
        let err = mutated_json_err("state_len", |d, s| {
            let c = cp_mut(d, s.c2);
            c["state_len"] = json!(c["state_len"].as_i64().unwrap() + delta);
        });
        assert_rejected(&err, "bad state_len");
    }
}

#[test]
fn json_with_unknown_trigger_or_severity_is_rejected() {
    type Edit = fn(&mut Value, &Sample);
    let edits: [(&str, Edit); 5] = [
        ("unknown kind", |d, s| {
            cp_mut(d, s.c1)["trigger"] = json!({"kind": "cron"})
        }),
        ("kind case", |d, s| {
            cp_mut(d, s.c1)["trigger"] = json!({"kind": "Manual"})
        }),
        ("automatic without reason", |d, s| {
            cp_mut(d, s.c3)["trigger"] = json!({"kind": "automatic"})
        }),
        ("manual with reason", |d, s| {
            cp_mut(d, s.c1)["trigger"] = json!({"kind": "manual", "reason": "x"})
        }),
        ("scheduled with reason", |d, s| {
            cp_mut(d, s.c4)["trigger"] = json!({"kind": "scheduled", "reason": "x"})
        }),
    ];
    for (what, edit) in edits {
        let err = mutated_json_err(what, edit);
        assert_rejected(&err, "bad trigger");
    }
    for severity in ["fatal", "", "Critical"] {
        let err = mutated_json_err("severity", |d, s| {
            cp_mut(d, s.c2)["annotations"][0]["severity"] = json!(severity);
        });
        assert_rejected(&err, "bad severity");
    }
}

#[test]
fn json_with_unsorted_duplicated_or_empty_tags_is_rejected() {
    for tags in [json!(["b", "a"]), json!(["a", "a"]), json!(["", "a"])] {
        let err = mutated_json_err("tags", |d, s| cp_mut(d, s.c2)["tags"] = tags.clone());
        assert_rejected(&err, "tags must be sorted, unique and non-empty");
    }
}

#[test]
fn json_with_empty_messages_is_rejected() {
    for msg in ["", "  "] {
        let err = mutated_json_err("empty message", |d, s| {
            cp_mut(d, s.c2)["message"] = json!(msg)
        });
        assert_rejected(&err, "message is empty");
    }
}

/// (what, how to tighten the limits, the limit broken, its value, what the input has).
type LimitCase = (&'static str, fn(&mut Limits), LimitKind, u64, u64);

#[test]
fn json_over_the_importers_limits_is_rejected() {
    let cases: [LimitCase; 7] = [
        (
            "state",
            |l| l.max_state_bytes = 12,
            LimitKind::StateBytes,
            12,
            C2_STATE.len() as u64,
        ),
        (
            "message",
            |l| l.max_message_bytes = 12,
            LimitKind::MessageBytes,
            12,
            "MSG-other session".len() as u64,
        ),
        (
            "note",
            |l| l.max_note_bytes = 4,
            LimitKind::NoteBytes,
            4,
            "NOTE-look here".len() as u64,
        ),
        (
            "attachment",
            |l| l.max_attachment_bytes = 4,
            LimitKind::AttachmentBytes,
            4,
            b"ATTACH-hello".len() as u64,
        ),
        (
            "session name",
            |l| l.max_name_bytes = 4,
            LimitKind::NameBytes,
            4,
            5,
        ),
        ("tag count", |l| l.max_tags = 1, LimitKind::TagCount, 1, 2),
        (
            "import size",
            |l| l.max_import_bytes = 100,
            LimitKind::ImportBytes,
            100,
            0, // filled in below
        ),
    ];
    for (what, set, kind, limit, actual) in cases {
        let mut s = sample(1);
        let text = s.store.export_json(None).unwrap();
        let actual = if kind == LimitKind::ImportBytes {
            text.len() as u64
        } else {
            actual
        };
        let err = json_import_err_with(options_with(set), text.as_bytes(), what);
        assert_eq!(
            err,
            Error::LimitExceeded {
                kind,
                limit,
                actual
            },
            "{what}"
        );
    }
}

/// All-or-nothing: four good checkpoints and a bad last one import nothing.
#[test]
fn json_import_is_all_or_nothing() {
    let s = sample(1);
    let err = mutated_json_err("last checkpoint bad", |d, s| {
        let last = d["checkpoints"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["id"], s.c4.to_string().as_str());
        cp_mut(d, s.c4)["message"] = json!("MSG-four forK");
    });
    assert_eq!(
        err,
        Error::HashMismatch {
            checkpoint: s.c4,
            detail: "contents do not match the recorded hash"
        }
    );
    // The same with a bad last attachment and a bad last session.
    let err = mutated_json_err("last attachment bad", |d, s| {
        cp_mut(d, s.c3)["attachments"][0]["encoding"] = json!("rot13");
    });
    assert_rejected(&err, "unknown encoding");
    let err = json_import_err_with(
        options_with(|l| l.max_name_bytes = 4),
        &serde_json::to_vec(&{
            let mut s = sample(1);
            let mut d = export_doc(&mut s);
            // Only the second session is over the limit.
            session_mut(&mut d, s.s1)["name"] = json!("ok");
            session_mut(&mut d, s.s2)["name"] = json!("too long");
            d
        })
        .unwrap(),
        "last session bad",
    );
    assert_eq!(
        err,
        Error::LimitExceeded {
            kind: LimitKind::NameBytes,
            limit: 4,
            actual: 8
        }
    );
}

/// A session's `head` naming a checkpoint of *another* session in the same import. The
/// importer must reject it (or ignore the head); it must never write a transaction that
/// fails to apply.
#[test]
fn json_session_head_in_another_session_is_rejected_without_side_effects() {
    let mut s = sample(1);
    let mut doc = export_doc(&mut s);
    session_mut(&mut doc, s.s1)["head"] = json!(s.d1.to_string());
    let mut target = import_target(Options::default());
    let before = snapshot(&mut target);
    let result = target.import_json(&serde_json::to_vec(&doc).unwrap());
    let mut problems = Vec::new();
    match &result {
        Err(Error::ImportRejected(_)) => {}
        Ok(_) => {
            // Ignoring the bad head is acceptable if the store is sound.
        }
        Err(other) => problems.push(format!("import returned {other:?}")),
    }
    if result.is_err() {
        if fingerprint(&target) != before.fingerprint {
            problems.push(format!(
                "the rejected import changed the store in memory: {} -> {} checkpoints",
                before.metrics.checkpoints,
                target.metrics().checkpoints
            ));
        }
        if target.backend().bytes() != before.log.as_slice() {
            problems.push(format!(
                "the rejected import was written to the log ({} -> {} bytes)",
                before.log.len(),
                target.backend().bytes().len()
            ));
        }
    }
    if let Err(err) = open_log(target.backend().bytes().to_vec()) {
        problems.push(format!("the target's log no longer opens: {err}"));
    }
    assert!(
        problems.is_empty(),
        "BUG (src/export.rs import_all, Head records): {problems:#?}"
    );
}

// ----- forging hashes: the importer must check every parent link -----------------------------

/// The checkpoint hash layout of src/checkpoint.rs (`HashFields`), rebuilt here so tests can
/// forge exports whose checkpoints are self-consistent.
#[derive(serde::Serialize)]
struct HashFields<'a> {
    id: CheckpointId,
    session: SessionId,
    namespace: &'a str,
    parent: Option<CheckpointId>,
    parent_hash: Option<Hash>,
    created_at: u64,
    message: &'a str,
    tags: &'a [String],
    trigger: &'a Trigger,
    metadata: &'a str,
    content_type: &'a str,
    state_len: u64,
    state_root: Hash,
}

/// The hash a JSON checkpoint's fields call for (utf8 states only).
fn forge_hash(c: &Value) -> String {
    let id: CheckpointId = c["id"].as_str().unwrap().parse().unwrap();
    let session: SessionId = c["session"].as_str().unwrap().parse().unwrap();
    let parent = c["parent"].as_str().map(|p| p.parse().unwrap());
    let parent_hash = c["parent_hash"]
        .as_str()
        .map(|h| Hash::from_hex(h).unwrap());
    assert_eq!(c["state"]["encoding"], "utf8");
    let state = c["state"]["data"].as_str().unwrap().as_bytes();
    let mut root = blake3::Hasher::new();
    for range in chunker::chunks(state, chunker::params_for_len(state.len())) {
        root.update(&Hash::of(&state[range]).0);
    }
    let tags: Vec<String> = serde_json::from_value(c["tags"].clone()).unwrap();
    let trigger = match c["trigger"]["kind"].as_str().unwrap() {
        "manual" => Trigger::Manual,
        "scheduled" => Trigger::Scheduled,
        _ => Trigger::Automatic {
            reason: c["trigger"]["reason"].as_str().unwrap().into(),
        },
    };
    let metadata = serde_json::to_string(&c["metadata"]).unwrap();
    let fields = HashFields {
        id,
        session,
        namespace: c["namespace"].as_str().unwrap(),
        parent,
        parent_hash,
        created_at: c["created_at"].as_u64().unwrap(),
        message: c["message"].as_str().unwrap(),
        tags: &tags,
        trigger: &trigger,
        metadata: &metadata,
        content_type: c["content_type"].as_str().unwrap(),
        state_len: state.len() as u64,
        state_root: Hash(*root.finalize().as_bytes()),
    };
    let mut h = blake3::Hasher::new();
    h.update(b"rewind.checkpoint.v1");
    h.update(&postcard::to_allocvec(&fields).unwrap());
    h.finalize().to_hex().to_string()
}

#[test]
fn the_hash_forger_matches_the_library() {
    let mut s = sample(1);
    let doc = export_doc(&mut s);
    for c in doc["checkpoints"].as_array().unwrap() {
        if c["state"]["encoding"] == "utf8" {
            assert_eq!(forge_hash(c), c["hash"].as_str().unwrap(), "{}", c["id"]);
        }
    }
}

/// A child whose `parent_hash` does not match its parent is rejected when the parent comes
/// first (seq order) — and must be rejected just the same when the export lists the child
/// first. `seq` is not hashed, so anyone can reorder an export.
#[test]
fn json_parent_links_are_checked_whatever_the_seq_order() {
    let mut s = sample(1);
    let mut doc = export_doc(&mut s);
    // Keep c1 <- c2 (and d1); drop c2's descendants.
    let keep: Vec<String> = [s.c1, s.c2, s.d1].iter().map(|c| c.to_string()).collect();
    doc["checkpoints"]
        .as_array_mut()
        .unwrap()
        .retain(|c| keep.iter().any(|k| c["id"] == k.as_str()));
    // Forge c2: a parent hash that is not c1's, and a hash that fits its fields.
    let c2 = cp_mut(&mut doc, s.c2);
    c2["parent_hash"] = json!(Hash::of(b"not the parent").to_hex());
    let h = forge_hash(c2);
    c2["hash"] = json!(h);

    // Natural order: caught.
    let err = json_import_err(&doc, "forged link, parent first");
    assert_eq!(
        err,
        Error::HashMismatch {
            checkpoint: s.c2,
            detail: "parent hash does not match the parent"
        }
    );

    // Child listed (by seq) before its parent.
    cp_mut(&mut doc, s.c2)["seq"] = json!(1);
    cp_mut(&mut doc, s.c1)["seq"] = json!(2);
    let mut target = import_target(Options::default());
    let before = snapshot(&mut target);
    match target.import_json(&serde_json::to_vec(&doc).unwrap()) {
        Err(err) => {
            // A child listed before its parent is refused as such, before any hash is trusted.
            assert!(
                matches!(&err, Error::ImportRejected(msg) if msg.contains("comes before its parent")),
                "{err:?}"
            );
            assert_unchanged(&mut target, &before, "forged link, child first");
        }
        Ok(report) => panic!(
            "BUG (src/export.rs import_all): a forged parent link was imported because the \
             child's seq is lower than its parent's; the parent is treated as 'removed before \
             the export' and the link is never checked. Report: {report:?}; verify now says \
             {:?}",
            target.verify().first_error
        ),
    }
}

/// A checkpoint that names itself as its parent can never have a matching parent hash; the
/// importer must reject it. (Accepted, `history` of it never ends.)
#[test]
fn json_self_parented_checkpoint_is_rejected() {
    let mut s = sample(1);
    let mut doc = export_doc(&mut s);
    let c1 = cp_mut(&mut doc, s.c1);
    c1["parent"] = json!(s.c1.to_string());
    c1["parent_hash"] = json!(Hash::of(b"anything").to_hex());
    let h = forge_hash(c1);
    c1["hash"] = json!(h);
    // Keep only c1 so no other link breaks.
    let id = s.c1.to_string();
    doc["checkpoints"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["id"] == id.as_str());
    let mut target = import_target(Options::default());
    let before = snapshot(&mut target);
    match target.import_json(&serde_json::to_vec(&doc).unwrap()) {
        Err(err) => {
            assert!(
                matches!(err, Error::HashMismatch { checkpoint, .. } if checkpoint == s.c1)
                    || matches!(err, Error::ImportRejected(_)),
                "{err:?}"
            );
            assert_unchanged(&mut target, &before, "self parent");
        }
        Ok(_) => {
            let walked = target.history(s.c1).unwrap().take(100).count();
            panic!(
                "BUG (src/export.rs import_all): a checkpoint whose parent is itself was \
                 imported; history() of it yields at least {walked} entries (endless loop)"
            );
        }
    }
}

/// An export reordered by seq (child before parent; every hash genuine) must either be
/// rejected or give a sound store: deleting the child must not panic and the parent must not be
/// listed as a branch tip.
#[test]
fn json_child_before_parent_gives_a_sound_store_or_is_rejected() {
    let mut s = sample(1);
    let mut doc = export_doc(&mut s);
    cp_mut(&mut doc, s.c2)["seq"] = json!(1);
    cp_mut(&mut doc, s.c1)["seq"] = json!(2);
    let mut target = import_target(Options::default());
    let before = snapshot(&mut target);
    match target.import_json(&serde_json::to_vec(&doc).unwrap()) {
        Err(_) => assert_unchanged(&mut target, &before, "reordered"),
        Ok(_) => {
            let mut problems = Vec::new();
            let tips: Vec<CheckpointId> = target
                .branches(s.s1)
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect();
            if tips.contains(&s.c1) {
                problems.push(format!(
                    "c1 has a child (c2) but is listed as a branch tip: {tips:?}"
                ));
            }
            let children: Vec<CheckpointId> = target
                .children(s.c1)
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect();
            if children != [s.c2] {
                problems.push(format!("children(c1) = {children:?}, expected [c2]"));
            }
            let deleted = catch_unwind(AssertUnwindSafe(|| target.delete(s.c2)));
            if deleted.is_err() {
                problems.push(
                    "deleting c2 panicked (c1.children underflows in Store::remove_checkpoint)"
                        .into(),
                );
            }
            assert!(
                problems.is_empty(),
                "BUG: a child imported before its parent leaves the parent's child count at 0 \
                 (src/store/index.rs apply_checkpoint only counts a parent that is already present): \
                 {problems:#?}"
            );
        }
    }
}

// ============================================================================================
// Hostile binary imports
// ============================================================================================

#[track_caller]
fn binary_import_err_with(options: Options, bytes: &[u8], what: &str) -> Error {
    let mut target = import_target(options);
    let before = snapshot(&mut target);
    let err = match target.import_binary(bytes) {
        Ok(report) => panic!("{what}: import should be rejected, got {report:?}"),
        Err(err) => err,
    };
    assert_unchanged(&mut target, &before, what);
    err
}

#[track_caller]
fn binary_import_err(bytes: &[u8], what: &str) -> Error {
    binary_import_err_with(Options::default(), bytes, what)
}

#[test]
fn the_unmodified_binary_export_imports() {
    let s = sample(1);
    let bytes = s.store.export_binary(None).unwrap();
    let mut target = import_target(Options::default());
    let report = target.import_binary(&bytes).unwrap();
    assert_eq!((report.sessions_added, report.checkpoints_added), (2, 5));
    assert!(target.verify().is_ok());
}

#[test]
fn binary_import_rejects_empty_and_random_input() {
    assert_eq!(
        binary_import_err(&[], "empty"),
        Error::ImportRejected("empty input".into())
    );
    for seed in 1..20 {
        let bytes = rewind_core::conformance::noise(100 + seed as usize * 37, seed);
        assert_eq!(
            binary_import_err(&bytes, "random"),
            Error::Corrupt {
                at: 0,
                kind: CorruptKind::BadMagic
            }
        );
        // Random bytes after a valid header.
        let mut with_header = frame::header().to_vec();
        with_header.extend_from_slice(&bytes);
        let err = binary_import_err(&with_header, "random after a header");
        assert!(
            matches!(err, Error::Corrupt { .. } | Error::ImportRejected(_)),
            "{err:?}"
        );
    }
    // A header too short, another version.
    assert_eq!(
        binary_import_err(&frame::header()[..10], "short header"),
        Error::Corrupt {
            at: 0,
            kind: CorruptKind::Truncated
        }
    );
    let mut v4 = sample(1).store.export_binary(None).unwrap();
    v4[8] = 4;
    assert_eq!(
        binary_import_err(&v4, "version 4"),
        Error::Corrupt {
            at: 0,
            kind: CorruptKind::UnsupportedVersion(4)
        }
    );
}

#[test]
fn binary_import_rejects_a_truncated_export() {
    let bytes = sample(1).store.export_binary(None).unwrap();
    let spans = frame_spans(&bytes);
    for &(off, len) in spans.iter().skip(1) {
        for cut in [off + 3, off + FRAME_HEADER_LEN + len / 2] {
            let err = binary_import_err(&bytes[..cut], "cut mid-frame");
            assert_rejected(&err, "cut short");
        }
    }
}

#[test]
fn binary_import_rejects_a_flipped_bit() {
    let bytes = sample(1).store.export_binary(None).unwrap();
    let spans = frame_spans(&bytes);
    for &(off, len) in &spans[..spans.len() - 1] {
        let mut bad = bytes.clone();
        bad[off + FRAME_HEADER_LEN + len / 2] ^= 0x04;
        assert_eq!(
            binary_import_err(&bad, "flipped bit"),
            Error::Corrupt {
                at: off as u64,
                kind: CorruptKind::Checksum
            }
        );
    }
}

#[test]
fn binary_import_rejects_a_tampered_checkpoint_with_a_valid_checksum() {
    let s = sample(1);
    let bytes = s.store.export_binary(None).unwrap();
    // The message of c2, re-framed with a correct checksum.
    let mut bad = bytes.clone();
    tamper(&mut bad, C2_MSG.as_bytes(), 4, b'T');
    assert_eq!(
        binary_import_err(&bad, "message"),
        Error::HashMismatch {
            checkpoint: s.c2,
            detail: "contents do not match the recorded hash"
        }
    );
    // A byte of c4's state.
    let mut bad = bytes.clone();
    tamper(&mut bad, C4_STATE, 9, b'X');
    assert_eq!(
        binary_import_err(&bad, "state"),
        Error::HashMismatch {
            checkpoint: s.c4,
            detail: "contents do not match the recorded hash"
        }
    );
}

#[test]
fn binary_import_over_the_importers_limits_is_rejected() {
    let bytes = sample(1).store.export_binary(None).unwrap();
    let err = binary_import_err_with(
        options_with(|l| l.max_state_bytes = 12),
        &bytes,
        "state limit",
    );
    assert_eq!(
        err,
        Error::LimitExceeded {
            kind: LimitKind::StateBytes,
            limit: 12,
            actual: C2_STATE.len() as u64
        }
    );
    let err = binary_import_err_with(
        options_with(|l| l.max_attachment_key_bytes = 3),
        &bytes,
        "attachment key limit",
    );
    assert_eq!(
        err,
        Error::LimitExceeded {
            kind: LimitKind::AttachmentKeyBytes,
            limit: 3,
            actual: 6
        }
    );
}

// ============================================================================================
// verify() on tampered logs
// ============================================================================================

fn reopen_tampered(log: Vec<u8>) -> MemStore {
    let (store, report) = open_log(log).expect("a tampered log with fixed checksums opens");
    assert_eq!(report.truncated_bytes, 0);
    store
}

/// A version 3 record names its new chunks by length: a state chunk changed in the log (the
/// chain re-sealed over it) gives the checkpoint a hash other than the one its record keeps.
#[test]
fn verify_reports_a_tampered_chunk_for_its_checkpoint() {
    let s = sample(1);
    assert!(s.store.verify().is_ok());
    let seq = s.store.get(s.c2).unwrap().seq;
    let mut log = s.store.backend().bytes().to_vec();
    tamper(&mut log, C2_STATE, 5, b'9');
    let store = reopen_tampered(log);
    let report = store.verify();
    let err = report.first_error.expect("the tampered chunk is found");
    assert_eq!(err.checkpoint, s.c2);
    assert_eq!(err.seq, seq);
    assert_eq!(err.problem, VerifyProblem::HashMismatch);
    assert_eq!(report.checkpoints, 5);
}

/// The chain covers every new chunk's hash: a chunk changed in the log, even with its frame's
/// checksum fixed, breaks the chain where its write is sealed.
#[test]
fn a_tampered_attachment_chunk_breaks_the_chain() {
    let s = sample(1);
    let mut log = s.store.backend().bytes().to_vec();
    let pos = find_unique(&log, b"ATTACH-hello") + 7;
    log[pos] = b'j';
    let (off, _) = span_containing(&log, pos);
    refresh_crc(&mut log, off);
    assert!(matches!(
        open_err(log),
        Error::Corrupt {
            kind: CorruptKind::ChainBroken,
            ..
        }
    ));
}

#[test]
fn verify_reports_a_tampered_message_as_the_first_error_in_seq_order() {
    let s = sample(1);
    let seq = |id| s.store.get(id).unwrap().seq;
    let log = s.store.backend().bytes().to_vec();

    // c2's message alone.
    let mut one = log.clone();
    tamper(&mut one, C2_MSG.as_bytes(), 4, b'T');
    let err = reopen_tampered(one).verify().first_error.expect("found");
    assert_eq!(
        (err.checkpoint, err.seq, err.problem),
        (s.c2, seq(s.c2), VerifyProblem::HashMismatch)
    );

    // c2's message, c3's state chunk and c4's message: c2 comes first.
    let mut three = log.clone();
    tamper(&mut three, C4_MSG.as_bytes(), 4, b'F');
    tamper(&mut three, C3_STATE, 3, b'S');
    tamper(&mut three, C2_MSG.as_bytes(), 4, b'T');
    let err = reopen_tampered(three).verify().first_error.expect("found");
    assert_eq!(
        (err.checkpoint, err.seq, err.problem),
        (s.c2, seq(s.c2), VerifyProblem::HashMismatch)
    );

    // c3's chunk before c4's message.
    let mut two = log.clone();
    tamper(&mut two, C4_MSG.as_bytes(), 4, b'F');
    tamper(&mut two, C3_STATE, 3, b'S');
    let err = reopen_tampered(two).verify().first_error.expect("found");
    assert_eq!(
        (err.checkpoint, err.seq, err.problem),
        (s.c3, seq(s.c3), VerifyProblem::HashMismatch)
    );
}

/// `verify` promises the first problem in seq order. Chunk slots are reused after a deletion,
/// so slot order is not seq order.
#[test]
fn verify_reports_the_first_bad_chunk_in_seq_order_when_chunk_slots_are_reused() {
    let mut store = fresh(1, Options::default());
    let s = store.create_session("s", Map::new()).unwrap();
    let states: [&[u8]; 4] = [b"STATE-aaaa", b"STATE-bbbb", b"STATE-cccc", b"STATE-dddd"];
    let a = store
        .checkpoint(NewCheckpoint::new(s, "a", states[0]))
        .unwrap()
        .id;
    let b = store
        .checkpoint(NewCheckpoint::new(s, "b", states[1]))
        .unwrap()
        .id;
    store
        .checkpoint(NewCheckpoint::new(s, "c", states[2]))
        .unwrap();
    store.delete(a).unwrap(); // frees a's chunk slot
    let d = store
        .checkpoint(NewCheckpoint::new(s, "d", states[3]))
        .unwrap()
        .id; // reuses it
    let b_seq = store.get(b).unwrap().seq;
    assert!(store.get(d).unwrap().seq > b_seq);
    let mut log = store.backend().bytes().to_vec();
    tamper(&mut log, states[1], 7, b'X');
    tamper(&mut log, states[3], 7, b'X');
    let err = reopen_tampered(log).verify().first_error.expect("found");
    assert_eq!(
        (err.checkpoint, err.seq, err.problem),
        (b, b_seq, VerifyProblem::HashMismatch),
        "BUG (src/store/verify.rs): the chunk pass stops at the first bad chunk in *slot* \
         order and blames its owner, so d (seq {}) is reported instead of b (seq {b_seq})",
        b_seq + 2
    );
}

// ============================================================================================
// No-panic sweeps
// ============================================================================================

/// A log with every record kind: sessions, checkpoints, annotations, attachments, heads, an
/// import transaction, deletions.
fn rich_log() -> Vec<u8> {
    let mut s = sample(1);
    let mut other = sample(7);
    let export = other.store.export_json(None).unwrap();
    s.store.import_json(export.as_bytes()).unwrap();
    s.store
        .annotate(s.c3, "critical note", Severity::Critical)
        .unwrap();
    s.store.delete(s.c1).unwrap();
    s.store.delete_session(s.s2).unwrap();
    s.store
        .attach(s.c4, "writes", "application/json", b"{\"w\":1}")
        .unwrap();
    s.store.backend().bytes().to_vec()
}

/// Runs the read paths that could trip over odd replayed data.
fn exercise(store: &mut MemStore) {
    let _ = store.verify();
    let _ = fingerprint(store);
    let ids: Vec<CheckpointId> = store
        .list(&Query::new())
        .map(|p| p.items.iter().map(|c| c.id).collect())
        .unwrap_or_default();
    for id in &ids {
        let _ = store.state(*id);
        let _ = store.history(*id).map(|h| h.take(1000).count());
        let _ = store.children(*id).map(|c| c.len());
        let keys: Vec<String> = store
            .attachment_keys(*id)
            .map(|k| k.map(String::from).collect())
            .unwrap_or_default();
        for k in keys {
            let _ = store.attachment(*id, &k);
        }
    }
    if let (Some(a), Some(b)) = (ids.first(), ids.last()) {
        let _ = store.diff(*a, *b);
    }
    let _ = store.export_json(None);
    let _ = store.export_binary(None);
}

/// Calls `f` for each mutation, catching panics; fails with the first few offenders.
fn sweep(name: &str, count: usize, mut f: impl FnMut(usize)) {
    let mut panicked = Vec::new();
    for i in 0..count {
        if catch_unwind(AssertUnwindSafe(|| f(i))).is_err() {
            panicked.push(i);
            if panicked.len() >= 5 {
                break;
            }
        }
    }
    assert!(panicked.is_empty(), "{name}: panicked at {panicked:?}");
}

#[test]
fn opening_a_log_with_any_flipped_byte_never_panics() {
    let log = rich_log();
    assert!(log.len() > 2000, "{}", log.len());
    // Raw flips (the checksum catches them) and flips behind a fixed checksum (the decoder and
    // the replay see them).
    for fix_crc in [false, true] {
        for mask in [0x01u8, 0x80, 0xff] {
            sweep(
                &format!("flip mask {mask:#x}, fix crc {fix_crc}"),
                log.len(),
                |i| {
                    let mut bad = log.clone();
                    bad[i] ^= mask;
                    if fix_crc && i >= HEADER_LEN {
                        let (off, _) = span_containing(&log, i);
                        if i >= off + FRAME_HEADER_LEN {
                            refresh_crc(&mut bad, off);
                        }
                    }
                    if let Ok((mut store, _)) = open_log(bad) {
                        // What opened reopens to the same store.
                        let again = open_log(store.backend().bytes().to_vec())
                            .unwrap_or_else(|e| panic!("byte {i}: reopening fails: {e}"));
                        assert_eq!(fingerprint(&again.0), fingerprint(&store), "byte {i}");
                        exercise(&mut store);
                    }
                },
            );
        }
    }
}

#[test]
fn opening_a_log_cut_at_any_offset_never_panics() {
    let log = rich_log();
    let spans = frame_spans(&log);
    sweep("truncation", log.len() + 1, |cut| {
        match open_log(log[..cut].to_vec()) {
            Ok((mut store, report)) => {
                assert_eq!(report.log_bytes + report.truncated_bytes, cut as u64);
                exercise(&mut store);
            }
            Err(err) => {
                assert!(
                    cut < HEADER_LEN,
                    "a cut at {cut} (frames at {:?}) should open: {err}",
                    &spans[..2]
                );
            }
        }
    });
}

#[test]
fn importing_a_mutated_binary_export_never_panics_and_is_all_or_nothing() {
    let bytes = rich_store_export();
    let target = import_target(Options::default());
    let target_log = target.backend().bytes().to_vec();
    let baseline = fingerprint(&target);
    let mut ok = 0;
    for fix_crc in [false, true] {
        sweep(
            &format!("binary import, fix crc {fix_crc}"),
            bytes.len(),
            |i| {
                let mut bad = bytes.clone();
                bad[i] ^= 0x01;
                if fix_crc && i >= HEADER_LEN {
                    let (off, _) = span_containing(&bytes, i);
                    if i >= off + FRAME_HEADER_LEN {
                        refresh_crc(&mut bad, off);
                    }
                }
                let mut target = open_log(target_log.clone()).unwrap().0;
                match target.import_binary(&bad) {
                    Ok(_) => {
                        ok += 1;
                        exercise(&mut target);
                    }
                    Err(err) => {
                        assert_eq!(fingerprint(&target), baseline, "byte {i}: {err}");
                        assert!(
                            target.backend().bytes() == target_log.as_slice(),
                            "byte {i}"
                        );
                    }
                }
            },
        );
    }
    // Some flips only touch unhashed fields (notes, seqs): those imports succeed.
    assert!(ok > 0);
}

fn rich_store_export() -> Vec<u8> {
    let (store, _) = open_log(rich_log()).unwrap();
    store.export_binary(None).unwrap()
}

#[test]
fn importing_a_mutated_json_export_never_panics_and_is_all_or_nothing() {
    let mut s = sample(1);
    let text = s.store.export_json(None).unwrap().into_bytes();
    let target = import_target(Options::default());
    let target_log = target.backend().bytes().to_vec();
    let baseline = fingerprint(&target);
    for mask in [0x01u8, 0x04] {
        sweep(&format!("json import, mask {mask:#x}"), text.len(), |i| {
            let mut bad = text.clone();
            bad[i] ^= mask;
            let mut target = open_log(target_log.clone()).unwrap().0;
            match target.import_json(&bad) {
                Ok(_) => exercise(&mut target),
                Err(err) => {
                    assert_eq!(fingerprint(&target), baseline, "byte {i}: {err}");
                    assert!(
                        target.backend().bytes() == target_log.as_slice(),
                        "byte {i}"
                    );
                }
            }
        });
    }
}
