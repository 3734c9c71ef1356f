//! Backend failures: a `FaultyBackend` wraps `MemoryBackend` and fails chosen calls with
//! `BackendError::Io`. A failed write must leave no phantom in memory and nothing half-done in
//! the log; a failed sync must stop writes until the store is reopened; a failed log rewrite
//! must leave the old log in place and be retryable.

use rewind_core::conformance::{FaultyBackend, fingerprint, injected};
use rewind_core::{
    Backend, CheckpointId, DeterministicEnv, Error, MemoryBackend, NewCheckpoint, Options, Query,
    RetentionPolicy, SessionId, Severity, Store,
};
use serde_json::Map;

const T0: u64 = 1_767_225_600_000;

// ----- helpers ------------------------------------------------------------------------------

type FStore = Store<FaultyBackend<MemoryBackend>, DeterministicEnv>;
type MemStore = Store<MemoryBackend, DeterministicEnv>;

fn env(seed: u64) -> DeterministicEnv {
    DeterministicEnv::with(T0, 1, seed)
}

fn syncing() -> Options {
    let mut options = Options::default();
    options.sync_every_write = true;
    options
}

fn open_faulty(bytes: Vec<u8>, options: Options) -> FStore {
    Store::open(
        FaultyBackend::new(MemoryBackend::from_bytes(bytes)),
        env(1),
        options,
    )
    .expect("store opens")
    .0
}

/// Opens the bytes the faulty backend holds, with a plain backend (a restart).
fn reopen_inner(store: &FStore) -> MemStore {
    Store::open(
        MemoryBackend::from_bytes(store.backend().inner.bytes().to_vec()),
        env(1),
        Options::default(),
    )
    .unwrap_or_else(|e| panic!("the log no longer opens: {e}"))
    .0
}

#[track_caller]
fn assert_injected(result: Result<(), Error>, what: &str) {
    assert_eq!(
        result,
        Err(Error::Backend(injected(what))),
        "the failing call must report the backend error"
    );
}

/// What a failed operation must not change.
#[derive(Debug, Clone)]
struct Snap {
    fingerprint: String,
    log: Vec<u8>,
    log_bytes: u64,
    backend_errors: u64,
}

fn snap(store: &mut FStore) -> Snap {
    let _ = store.drain_events();
    let m = store.metrics();
    Snap {
        fingerprint: fingerprint(store),
        log: store.backend().inner.bytes().to_vec(),
        log_bytes: m.log_bytes,
        backend_errors: m.ops.backend_errors,
    }
}

/// After one failed call: same content, same log, one more backend error, no events.
#[track_caller]
fn assert_no_trace(store: &mut FStore, before: &Snap, what: &str) {
    assert_no_trace_but_errors(store, before, what);
    assert_eq!(
        store.metrics().ops.backend_errors,
        before.backend_errors + 1,
        "{what}: backend_errors"
    );
}

/// Like [`assert_no_trace`], without looking at the error counter.
#[track_caller]
fn assert_no_trace_but_errors(store: &mut FStore, before: &Snap, what: &str) {
    let events = store.drain_events();
    assert!(events.is_empty(), "{what}: events {events:?}");
    assert_eq!(fingerprint(store), before.fingerprint, "{what}: content");
    assert!(
        store.backend().inner.bytes() == before.log.as_slice(),
        "{what}: the log changed ({} -> {} bytes)",
        before.log.len(),
        store.backend().inner.bytes().len()
    );
    let m = store.metrics();
    assert_eq!(m.log_bytes, before.log_bytes, "{what}: log_bytes");
    assert_eq!(
        fingerprint(&reopen_inner(store)),
        before.fingerprint,
        "{what}: the reopened log differs"
    );
}

const NEW_CP: CheckpointId = CheckpointId::from_bytes([0x11; 16]);
const NEW_S: SessionId = SessionId::from_bytes([0x22; 16]);

struct Ids {
    s: SessionId,
    t: SessionId,
    quiet: SessionId,
    c: Vec<CheckpointId>,
}

/// Session `s` with three checkpoints (an annotation, an attachment), session `t` with one,
/// and session `quiet` without checkpoints (automatic checkpoints are not throttled there).
fn populate<B: Backend>(store: &mut Store<B, DeterministicEnv>) -> Ids {
    let s = store.create_session("s", Map::new()).unwrap();
    let t = store.create_session("t", Map::new()).unwrap();
    let quiet = store.create_session("quiet", Map::new()).unwrap();
    let mut c = Vec::new();
    for i in 0..3 {
        let state = format!("{{\"step\":{i},\"pad\":\"{}\"}}", "x".repeat(100 * i));
        c.push(
            store
                .checkpoint(NewCheckpoint::new(s, format!("step {i}"), state.as_bytes()))
                .unwrap()
                .id,
        );
    }
    store.annotate(c[1], "noted", Severity::Info).unwrap();
    store
        .attach(c[2], "writes", "text/plain", b"bytes")
        .unwrap();
    c.push(
        store
            .checkpoint(NewCheckpoint::new(t, "t0", b"{\"t\":0}"))
            .unwrap()
            .id,
    );
    Ids { s, t, quiet, c }
}

fn states<B: Backend>(store: &Store<B, DeterministicEnv>) -> Vec<(CheckpointId, Vec<u8>)> {
    store
        .list(&Query::new())
        .unwrap()
        .items
        .iter()
        .map(|c| (c.id, store.state(c.id).unwrap()))
        .collect()
}

fn checkpoint_ids<B: Backend>(store: &Store<B, DeterministicEnv>) -> Vec<CheckpointId> {
    let mut ids: Vec<CheckpointId> = store
        .list(&Query::new())
        .unwrap()
        .items
        .iter()
        .map(|c| c.id)
        .collect();
    ids.sort();
    ids
}

/// An export from an unrelated store, to import.
fn foreign_exports() -> (String, Vec<u8>, Vec<CheckpointId>) {
    let mut other: MemStore = Store::open(MemoryBackend::new(), env(77), Options::default())
        .unwrap()
        .0;
    populate(&mut other);
    let json = other.export_json(None).unwrap();
    let binary = other.export_binary(None).unwrap();
    (json, binary, checkpoint_ids(&other))
}

type Op = fn(&mut FStore, &Ids, &(String, Vec<u8>, Vec<CheckpointId>)) -> Result<(), Error>;

/// Every operation that appends to the log.
fn write_ops() -> Vec<(&'static str, Op)> {
    vec![
        ("create_session_with_id", |st, _, _| {
            st.create_session_with_id(NEW_S, "new", Map::new())
                .map(|_| ())
        }),
        ("create_session", |st, _, _| {
            st.create_session("new", Map::new()).map(|_| ())
        }),
        ("checkpoint", |st, ids, _| {
            st.checkpoint(NewCheckpoint::new(ids.s, "new", b"{\"new\":1}").id(NEW_CP))
                .map(|_| ())
        }),
        ("checkpoint with a multi-chunk state", |st, ids, _| {
            st.checkpoint(
                NewCheckpoint::new(ids.t, "new", &[7u8; 3000])
                    .content_type("application/octet-stream")
                    .id(NEW_CP),
            )
            .map(|_| ())
        }),
        ("auto_checkpoint", |st, ids, _| {
            st.auto_checkpoint(
                NewCheckpoint::new(ids.quiet, "new", b"{}").id(NEW_CP),
                "why",
            )
            .map(|c| assert!(c.is_some(), "throttled"))
        }),
        ("annotate", |st, ids, _| {
            st.annotate(ids.c[0], "late note", Severity::Critical)
                .map(|_| ())
        }),
        ("attach", |st, ids, _| {
            st.attach(ids.c[0], "k", "text/plain", b"attached")
        }),
        ("attach (replace)", |st, ids, _| {
            st.attach(ids.c[2], "writes", "text/plain", b"other bytes")
        }),
        ("restore", |st, ids, _| st.restore(ids.c[0]).map(|_| ())),
        ("set_head", |st, ids, _| st.set_head(ids.s, Some(ids.c[1]))),
        ("set_head none", |st, ids, _| st.set_head(ids.s, None)),
        ("delete", |st, ids, _| st.delete(ids.c[1])),
        ("delete_session", |st, ids, _| {
            st.delete_session(ids.t).map(|_| ())
        }),
        ("import_json", |st, _, ex| {
            st.import_json(ex.0.as_bytes()).map(|_| ())
        }),
        ("import_binary", |st, _, ex| {
            st.import_binary(&ex.1).map(|_| ())
        }),
        ("compact", |st, _, _| {
            st.compact(&RetentionPolicy::keep_last(1)).map(|_| ())
        }),
    ]
}

// ============================================================================================
// Failed appends
// ============================================================================================

#[test]
fn a_failed_append_leaves_no_trace_and_the_store_keeps_working() {
    let exports = foreign_exports();
    // Compaction writes through a log rewrite, not an append (see the rewrite tests below).
    for (what, op) in write_ops().into_iter().filter(|(w, _)| *w != "compact") {
        let mut store = open_faulty(Vec::new(), Options::default());
        let ids = populate(&mut store);
        let before = snap(&mut store);
        store.backend_mut().fail_append(1);
        assert_injected(op(&mut store, &ids, &exports), "append");
        assert_eq!(store.backend().injected(), 1, "{what}: the fault fired");
        assert_no_trace(&mut store, &before, what);
        assert!(store.health().ok, "{what}: a failed append does not poison");
        // No phantom: explicit ids are unknown, imported ones too.
        assert_eq!(
            store.get(NEW_CP).map(|_| ()),
            Err(Error::CheckpointNotFound(NEW_CP))
        );
        assert_eq!(
            store.session(NEW_S).map(|_| ()),
            Err(Error::SessionNotFound(NEW_S))
        );
        for id in &exports.2 {
            assert_eq!(
                store.get(*id).map(|_| ()),
                Err(Error::CheckpointNotFound(*id))
            );
        }
        // Everything earlier is intact.
        assert!(store.verify().is_ok(), "{what}");
        for id in &ids.c {
            store.state(*id).unwrap();
        }
        // Retrying works, and the log reopens to what memory holds.
        op(&mut store, &ids, &exports).unwrap_or_else(|e| panic!("{what}: retry failed: {e}"));
        assert_eq!(
            fingerprint(&reopen_inner(&store)),
            fingerprint(&store),
            "{what}: after the retry"
        );
        assert!(store.verify().is_ok(), "{what}");
    }
}

#[test]
fn after_the_nth_append_fails_the_log_holds_exactly_the_acknowledged_checkpoints() {
    let mut store = open_faulty(Vec::new(), Options::default());
    let ids = populate(&mut store);
    store.backend_mut().fail_append(4);
    let mut acknowledged = ids.c.clone();
    let mut failed = Vec::new();
    for i in 0..8u8 {
        let id = CheckpointId::from_bytes([0x40 + i; 16]);
        let state = format!("{{\"round\":{i}}}");
        match store
            .checkpoint(NewCheckpoint::new(ids.s, format!("round {i}"), state.as_bytes()).id(id))
        {
            Ok(_) => acknowledged.push(id),
            Err(err) => {
                assert_eq!(err, Error::Backend(injected("append")));
                failed.push(id);
            }
        }
    }
    assert_eq!(failed, [CheckpointId::from_bytes([0x43; 16])]);
    acknowledged.sort();
    assert_eq!(checkpoint_ids(&store), acknowledged);
    assert_eq!(
        store.get(failed[0]).map(|_| ()),
        Err(Error::CheckpointNotFound(failed[0]))
    );
    // The seq of the failed write was not used up.
    let seqs: Vec<u64> = store
        .list(&Query::new().order(rewind_core::Order::Ascending))
        .unwrap()
        .items
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let reopened = reopen_inner(&store);
    assert_eq!(checkpoint_ids(&reopened), acknowledged);
    assert_eq!(fingerprint(&reopened), fingerprint(&store));
    assert_eq!(states(&reopened), states(&store));
    assert!(reopened.verify().is_ok());
}

// ============================================================================================
// Failed syncs
// ============================================================================================

/// Tries every write and checks each is refused with the sync error, writing nothing.
fn assert_refuses_writes(
    store: &mut FStore,
    ids: &Ids,
    exports: &(String, Vec<u8>, Vec<CheckpointId>),
) {
    let poisoned = Err(Error::Backend(injected("sync")));
    let log = store.backend().inner.bytes().to_vec();
    let fp = fingerprint(store);
    let appends = store.backend().calls().append;
    for (what, op) in write_ops() {
        assert_eq!(
            op(store, ids, exports),
            poisoned,
            "{what} after a failed sync"
        );
    }
    assert_eq!(store.flush(), poisoned, "flush after a failed sync");
    assert_eq!(store.vacuum(), poisoned, "vacuum after a failed sync");
    assert_eq!(
        store.backend().calls().append,
        appends,
        "no append was tried"
    );
    assert_eq!(store.backend().calls().begin, 0, "no rewrite was tried");
    assert!(
        store.backend().inner.bytes() == log.as_slice(),
        "nothing written"
    );
    assert_eq!(fingerprint(store), fp);
    assert!(store.drain_events().is_empty());
}

#[test]
fn a_failed_sync_refuses_writes_until_reopened() {
    let exports = foreign_exports();
    let mut store = open_faulty(Vec::new(), syncing());
    let ids = populate(&mut store);
    let acknowledged = states(&store);
    let before = snap(&mut store);
    assert!(store.health().ok);
    store.backend_mut().fail_sync(1);
    let result = store
        .checkpoint(NewCheckpoint::new(ids.s, "unsynced", b"{\"u\":1}").id(NEW_CP))
        .map(|_| ());
    assert_injected(result, "sync");
    // No phantom in memory.
    assert_eq!(
        store.get(NEW_CP).map(|_| ()),
        Err(Error::CheckpointNotFound(NEW_CP))
    );
    assert_eq!(fingerprint(&store), before.fingerprint);
    assert_eq!(
        store.metrics().ops.backend_errors,
        before.backend_errors + 1
    );
    assert!(store.drain_events().is_empty());
    // Poisoned.
    let health = store.health();
    assert!(!health.ok);
    assert!(
        health
            .write_error
            .as_deref()
            .is_some_and(|e| e.contains("injected sync failure")),
        "{health:?}"
    );
    assert_refuses_writes(&mut store, &ids, &exports);
    assert!(!store.health().ok, "still poisoned");
    // Reads still work.
    assert_eq!(states(&store), acknowledged);
    assert!(store.verify().is_ok());
    store.export_json(None).unwrap();
    store.export_binary(None).unwrap();

    // Reopened: every acknowledged checkpoint is there; the unacknowledged one may be (it
    // reached the medium before the sync failed) but nothing else is.
    let bytes = store.backend().inner.bytes().to_vec();
    drop(store);
    let mut store = open_faulty(bytes, syncing());
    assert!(store.health().ok);
    let reopened: std::collections::HashMap<CheckpointId, Vec<u8>> =
        states(&store).into_iter().collect();
    for (id, state) in &acknowledged {
        assert_eq!(reopened.get(id), Some(state), "acknowledged {id} survives");
    }
    assert!(reopened.len() <= acknowledged.len() + 1);
    for id in reopened.keys() {
        assert!(*id == NEW_CP || acknowledged.iter().any(|(a, _)| a == id));
    }
    assert!(store.verify().is_ok());
    // And it takes writes again.
    store
        .checkpoint(NewCheckpoint::new(ids.s, "after reopen", b"{}"))
        .unwrap();
    store.flush().unwrap();
    assert_eq!(fingerprint(&reopen_inner(&store)), fingerprint(&store));
}

#[test]
fn the_nth_sync_failing_poisons_from_that_write_on() {
    let exports = foreign_exports();
    let mut store = open_faulty(Vec::new(), syncing());
    let ids = populate(&mut store);
    let syncs = store.backend().calls().sync;
    store.backend_mut().fail_sync(3);
    let mut results = Vec::new();
    for i in 0..5u8 {
        let id = CheckpointId::from_bytes([0x60 + i; 16]);
        results.push(
            store
                .checkpoint(NewCheckpoint::new(ids.s, format!("w{i}"), b"{}").id(id))
                .map(|c| c.id),
        );
    }
    assert!(results[0].is_ok() && results[1].is_ok());
    let _ = store.drain_events();
    for r in &results[2..] {
        assert_eq!(r, &Err(Error::Backend(injected("sync"))));
    }
    assert_eq!(
        store.backend().calls().sync,
        syncs + 3,
        "no sync after the failure"
    );
    assert_refuses_writes(&mut store, &ids, &exports);
    for i in 2..5u8 {
        let id = CheckpointId::from_bytes([0x60 + i; 16]);
        assert_eq!(
            store.get(id).map(|_| ()),
            Err(Error::CheckpointNotFound(id))
        );
    }
}

#[test]
fn a_failed_flush_poisons_the_store() {
    let mut store = open_faulty(Vec::new(), Options::default());
    let ids = populate(&mut store);
    let before = snap(&mut store);
    store.backend_mut().fail_sync(1);
    assert_injected(store.flush(), "sync");
    assert!(!store.health().ok);
    let refused = store
        .checkpoint(NewCheckpoint::new(ids.s, "refused", b"{}").id(NEW_CP))
        .map(|_| ());
    assert_injected(refused, "sync");
    assert_injected(store.flush(), "sync");
    assert_eq!(fingerprint(&store), before.fingerprint);
    assert!(store.backend().inner.bytes() == before.log.as_slice());
    let store = open_faulty(store.backend().inner.bytes().to_vec(), Options::default());
    assert!(store.health().ok);
    assert_eq!(fingerprint(&store), before.fingerprint);
}

// ============================================================================================
// Failed log rewrites
// ============================================================================================

/// A store with dead bytes to reclaim (a deleted checkpoint, a replaced attachment).
fn store_with_garbage(options: Options) -> (FStore, Ids) {
    let mut store = open_faulty(Vec::new(), options);
    let ids = populate(&mut store);
    let gone = store
        .checkpoint(NewCheckpoint::new(ids.s, "to delete", &[3u8; 5000]))
        .unwrap()
        .id;
    store.delete(gone).unwrap();
    store
        .attach(ids.c[2], "writes", "text/plain", b"replacement")
        .unwrap();
    assert!(store.health().dead_ratio > 0.0);
    (store, ids)
}

#[derive(Clone, Copy, Debug)]
enum RewriteFault {
    Begin,
    Append(u64),
    Commit,
}

fn arm(store: &mut FStore, fault: RewriteFault) -> &'static str {
    let b = store.backend_mut();
    match fault {
        RewriteFault::Begin => {
            b.fail_begin_rewrite();
            "begin_rewrite"
        }
        RewriteFault::Append(n) => {
            b.fail_rewrite_append(n);
            "rewrite_append"
        }
        RewriteFault::Commit => {
            b.fail_commit_rewrite();
            "commit_rewrite"
        }
    }
}

/// Fails a vacuum with `fault`, checks nothing changed, then retries it.
fn failed_vacuum_is_harmless_and_retryable(mut store: FStore, fault: RewriteFault) {
    let before = snap(&mut store);
    let before_states = states(&store);
    let what = arm(&mut store, fault);
    assert_injected(store.vacuum(), what);
    let label = format!("{fault:?}");
    // The error counter is checked by `every_failed_rewrite_is_counted`.
    assert_no_trace_but_errors(&mut store, &before, &label);
    assert!(
        store.health().ok,
        "{label}: a failed rewrite does not poison"
    );
    assert_eq!(store.metrics().ops.compactions, 0);
    assert_eq!(states(&store), before_states, "{label}: states read back");
    assert!(store.verify().is_ok(), "{label}");
    let calls = store.backend().calls();
    if !matches!(fault, RewriteFault::Begin) {
        assert_eq!(calls.abort, 1, "{label}: the rewrite was aborted");
    }
    // Writes still work on the old log.
    let session = store.sessions().next().unwrap().id;
    let extra = store
        .checkpoint(NewCheckpoint::new(
            session,
            "after the failed rewrite",
            b"{}",
        ))
        .unwrap()
        .id;
    let fp = fingerprint(&store);
    assert_eq!(fingerprint(&reopen_inner(&store)), fp, "{label}");
    // The retry succeeds and reclaims the space.
    let log_before = store.metrics().log_bytes;
    store.vacuum().unwrap();
    assert!(
        store.metrics().log_bytes < log_before,
        "{label}: space reclaimed"
    );
    assert_eq!(store.health().dead_ratio, 0.0);
    assert_eq!(fingerprint(&store), fp, "{label}: vacuum keeps content");
    assert_eq!(
        store.state(extra).unwrap(),
        b"{}",
        "{label}: reads follow the new log"
    );
    let mut expected = before_states.clone();
    expected.insert(0, (extra, b"{}".to_vec()));
    assert_eq!(states(&store), expected, "{label}");
    let reopened = reopen_inner(&store);
    assert_eq!(fingerprint(&reopened), fp, "{label}");
    assert!(reopened.verify().is_ok());
    assert!(store.verify().is_ok());
}

#[test]
fn a_failed_begin_rewrite_leaves_the_old_log() {
    let (store, _) = store_with_garbage(Options::default());
    failed_vacuum_is_harmless_and_retryable(store, RewriteFault::Begin);
}

#[test]
fn a_failed_rewrite_append_leaves_the_old_log() {
    let (store, _) = store_with_garbage(Options::default());
    failed_vacuum_is_harmless_and_retryable(store, RewriteFault::Append(1));
}

#[test]
fn a_failed_commit_rewrite_leaves_the_old_log() {
    let (store, _) = store_with_garbage(syncing());
    failed_vacuum_is_harmless_and_retryable(store, RewriteFault::Commit);
}

/// A store bigger than one rewrite batch (1 MiB), so the failure hits a later batch.
#[test]
fn a_failed_rewrite_append_in_a_later_batch_leaves_the_old_log() {
    let (mut store, ids) = store_with_garbage(Options::default());
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..4 {
        let state: Vec<u8> = (0..400_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        store
            .checkpoint(
                NewCheckpoint::new(ids.t, format!("big {i}"), &state)
                    .content_type("application/octet-stream"),
            )
            .unwrap();
    }
    // Four states of 400 kB: the first batch ends after the third.
    failed_vacuum_is_harmless_and_retryable(store, RewriteFault::Append(2));
}

/// `OpCounters::backend_errors` counts "backend failures returned to callers"; a failed
/// rewrite is one whichever rewrite call failed.
#[test]
fn every_failed_rewrite_is_counted() {
    let mut missed = Vec::new();
    for fault in [
        RewriteFault::Begin,
        RewriteFault::Append(1),
        RewriteFault::Commit,
    ] {
        let (mut store, _) = store_with_garbage(Options::default());
        let before = store.metrics().ops.backend_errors;
        let what = arm(&mut store, fault);
        assert_injected(store.vacuum(), what);
        if store.metrics().ops.backend_errors != before + 1 {
            missed.push(fault);
        }
    }
    assert!(
        missed.is_empty(),
        "BUG (src/compact.rs vacuum): `self.backend.begin_rewrite()?` returns before \
         `ops.backend_errors` is incremented; not counted: {missed:?}"
    );
}

/// A compaction whose log rewrite fails: the store and its log stay consistent and readable,
/// and compacting again succeeds with the same result as a compaction that never failed.
#[test]
fn a_failed_compaction_leaves_a_readable_store_and_can_be_retried() {
    for fault in [
        RewriteFault::Begin,
        RewriteFault::Append(1),
        RewriteFault::Commit,
    ] {
        let label = format!("{fault:?}");
        let (mut store, ids) = store_with_garbage(Options::default());
        for i in 0..4 {
            store
                .checkpoint(NewCheckpoint::new(
                    ids.s,
                    format!("more {i}"),
                    format!("{{\"m\":{i}}}").as_bytes(),
                ))
                .unwrap();
        }
        // The same store without faults, as the reference.
        let (mut reference, _) = store_with_garbage(Options::default());
        for i in 0..4 {
            reference
                .checkpoint(NewCheckpoint::new(
                    ids.s,
                    format!("more {i}"),
                    format!("{{\"m\":{i}}}").as_bytes(),
                ))
                .unwrap();
        }
        assert_eq!(fingerprint(&store), fingerprint(&reference));
        let policy = RetentionPolicy::keep_last(2);
        let written = states(&store);

        let what = arm(&mut store, fault);
        assert_injected(store.compact(&policy).map(|_| ()), what);
        // Whatever is still listed reads back as written, and the log opens to the same store.
        for (id, state) in states(&store) {
            let original = written.iter().find(|(w, _)| *w == id).map(|(_, s)| s);
            assert_eq!(original, Some(&state), "{label}: {id}");
        }
        assert!(store.verify().is_ok(), "{label}");
        assert!(store.health().ok, "{label}");
        assert_eq!(
            fingerprint(&reopen_inner(&store)),
            fingerprint(&store),
            "{label}: the old log matches memory"
        );
        // Retry.
        let report = store.compact(&policy).unwrap();
        reference.compact(&policy).unwrap();
        assert_eq!(fingerprint(&store), fingerprint(&reference), "{label}");
        assert_eq!(
            store.backend().inner.bytes().len(),
            reference.backend().inner.bytes().len(),
            "{label}: same rewritten log size ({report:?})"
        );
        assert_eq!(fingerprint(&reopen_inner(&store)), fingerprint(&store));
        assert!(store.verify().is_ok());
    }
}

/// `Error::Backend` means "the operation did not take effect", and the brief for compaction
/// is that a failed rewrite leaves all checkpoints readable. `apply_compaction` commits its
/// deletions before the rewrite, so a failed rewrite still removes the checkpoints.
#[test]
fn a_failed_compaction_does_not_remove_anything() {
    let (mut store, ids) = store_with_garbage(Options::default());
    for i in 0..4 {
        store
            .checkpoint(NewCheckpoint::new(ids.s, format!("more {i}"), b"{}"))
            .unwrap();
    }
    let before = ids_of(&store);
    let plan = store
        .plan_compaction(&RetentionPolicy::keep_last(2))
        .unwrap();
    assert!(!plan.remove.is_empty());
    store.backend_mut().fail_commit_rewrite();
    assert_injected(store.apply_compaction(&plan).map(|_| ()), "commit_rewrite");
    let after = ids_of(&store);
    let lost: Vec<&CheckpointId> = before.iter().filter(|id| !after.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "BUG (src/compact.rs apply_compaction): the compaction failed with Error::Backend but \
         its {} deletions were already committed; checkpoints no longer readable: {lost:?}",
        lost.len()
    );
}

/// Removing a session's head moves the head to its parent, and the rewritten log says so
/// itself: no write after the rewrite is needed, so none can fail (or be lost to a crash)
/// between the two and leave the head on the session's newest checkpoint instead.
#[test]
fn removing_a_head_moves_it_to_its_parent_within_the_rewrite() {
    let mut store = open_faulty(Vec::new(), syncing());
    let s = store.create_session("s", Map::new()).unwrap();
    let root = store
        .checkpoint(NewCheckpoint::new(s, "root", b"{}"))
        .unwrap()
        .id;
    store
        .checkpoint(NewCheckpoint::new(s, "b", b"{\"b\":1}"))
        .unwrap();
    store
        .checkpoint(NewCheckpoint::new(s, "c", b"{\"c\":1}"))
        .unwrap();
    let fork = store
        .checkpoint(NewCheckpoint::new(s, "fork", b"{\"d\":1}").parent(root))
        .unwrap()
        .id;
    assert_eq!(store.session(s).unwrap().head, Some(fork));

    // Any append after the rewrite fails.
    store.backend_mut().fail_append(1);
    let appends = store.backend().calls().append;
    store.remove_checkpoints(&[fork]).unwrap();
    assert_eq!(
        store.backend().calls().append,
        appends,
        "the rewrite was the only write"
    );
    assert_eq!(store.session(s).unwrap().head, Some(root));
    let reopened = reopen_inner(&store);
    assert_eq!(reopened.session(s).unwrap().head, Some(root));
    assert_eq!(fingerprint(&reopened), fingerprint(&store));
}

fn ids_of(store: &FStore) -> Vec<CheckpointId> {
    checkpoint_ids(store)
}

/// Opening a log whose last transaction a crash cut short may need to write (to close the
/// transaction). If the backend fails then, open fails with the backend error or succeeds
/// without writing; either way a later open on a healthy backend works and stays consistent.
#[test]
fn a_backend_failure_while_opening_a_log_with_an_incomplete_transaction() {
    let (_, binary, imported) = foreign_exports();
    let mut store = open_faulty(Vec::new(), syncing());
    let ids = populate(&mut store);
    store.import_binary(&binary).unwrap();
    let log = store.backend().inner.bytes().to_vec();
    // Cut the import's transaction after its Txn frame and two records.
    let mut pos = rewind_core::frame::HEADER_LEN;
    let mut frames = Vec::new();
    while pos < log.len() {
        let len = u32::from_le_bytes(log[pos..pos + 4].try_into().unwrap()) as usize;
        frames.push(pos);
        pos += rewind_core::frame::FRAME_HEADER_LEN + len;
    }
    let txn = frames
        .iter()
        .position(|&f| log[f + rewind_core::frame::FRAME_HEADER_LEN] == 8)
        .expect("the import wrote a transaction");
    let cut = log[..frames[txn + 3]].to_vec();

    for fail_sync in [false, true] {
        let mut backend = FaultyBackend::new(MemoryBackend::from_bytes(cut.clone()));
        if fail_sync {
            backend.fail_sync(1);
        } else {
            backend.fail_append(1);
        }
        match Store::open(backend, env(1), syncing()) {
            Ok((store, _)) => {
                assert_eq!(store.backend().calls().append, 0, "nothing written");
                assert_eq!(store.metrics().checkpoints, ids.c.len() as u64);
            }
            Err(err) => assert!(matches!(err, Error::Backend(_)), "{err:?}"),
        }
    }
    let mut store = open_faulty(cut, syncing());
    assert!(store.health().ok);
    for id in &imported {
        assert_eq!(
            store.get(*id).map(|_| ()),
            Err(Error::CheckpointNotFound(*id))
        );
    }
    store
        .checkpoint(NewCheckpoint::new(ids.s, "after", b"{}"))
        .unwrap();
    store.create_session("later", Map::new()).unwrap();
    assert_eq!(fingerprint(&reopen_inner(&store)), fingerprint(&store));
}
