//! Several writers on one log (a shared backend): a write that finds others wrote first
//! catches up and is planned again, so the log reads as if the writes had been made one after
//! another — seqs strictly increasing, every parent the head its writer would have seen, every
//! hash chain valid, nothing acknowledged lost.

use rewind_core::conformance::{Rng, SharedLog, SharedLogBackend, fingerprint};
use rewind_core::{
    BackendError, CheckpointId, DeterministicEnv, Error, Event, NewCheckpoint, Options, Order,
    Query, RetentionPolicy, SessionId, Severity, Store,
};

type Writer = Store<SharedLogBackend, DeterministicEnv>;

fn writer(log: &SharedLog, seed: u64) -> Writer {
    writer_with(log, seed, Options::default())
}

fn writer_with(log: &SharedLog, seed: u64, options: Options) -> Writer {
    let env = DeterministicEnv::with(1_700_000_000_000, 7, seed);
    Store::open(log.backend(), env, options)
        .expect("open a writer")
        .0
}

/// The log as a new process finds it.
fn fresh_view(log: &SharedLog) -> Writer {
    writer(log, 999)
}

/// Every checkpoint in seq order: seqs strictly increase and each parent is an earlier
/// checkpoint of the same session (or gone).
fn check_order(store: &Writer) {
    let all = store
        .list(&Query::new().order(Order::Ascending))
        .expect("list")
        .items;
    let mut last = 0;
    for cp in &all {
        assert!(cp.seq > last, "seq {} after {last}", cp.seq);
        last = cp.seq;
        if let Some(parent) = cp.parent
            && let Ok(p) = store.get(parent)
        {
            assert!(p.seq < cp.seq, "parent after child");
            assert_eq!(p.session, cp.session);
        }
    }
    let report = store.verify();
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn a_writer_behind_catches_up_and_plans_its_write_again() {
    let log = SharedLog::new();
    let mut a = writer(&log, 1);
    let mut b = writer(&log, 2);
    let session = a
        .create_session("shared", Default::default())
        .expect("session");
    let first = a
        .checkpoint(NewCheckpoint::new(session, "a1", b"{\"step\":1}"))
        .expect("a1")
        .id;
    // B opened before A wrote: its write finds the session only after catching up, and its
    // checkpoint follows A's as if B had waited for it.
    let second = b
        .checkpoint(NewCheckpoint::new(session, "b1", b"{\"step\":2}"))
        .expect("b1")
        .clone();
    assert_eq!(second.parent, Some(first));
    assert_eq!(second.seq, 2);
    assert_eq!(b.metrics().ops.write_retries, 1);
    // B heard of A's writes as events.
    let events = b.drain_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Created { checkpoint, .. } if *checkpoint == first)),
        "{events:?}"
    );
    // And A, behind now, continues from B's checkpoint.
    let third = a
        .checkpoint(NewCheckpoint::new(session, "a2", b"{\"step\":3}"))
        .expect("a2")
        .clone();
    assert_eq!(third.parent, Some(second.id));
    assert_eq!(third.seq, 3);

    b.refresh().expect("refresh");
    let fresh = fresh_view(&log);
    assert_eq!(fingerprint(&a), fingerprint(&fresh));
    assert_eq!(fingerprint(&b), fingerprint(&fresh));
    check_order(&fresh);
}

#[test]
fn a_write_that_the_others_made_impossible_fails_as_it_would_have_in_series() {
    let log = SharedLog::new();
    let mut a = writer(&log, 1);
    let mut b = writer(&log, 2);
    let id = "00000000-0000-4000-8000-000000000001"
        .parse::<SessionId>()
        .expect("id");
    a.create_session_with_id(id, "mine", Default::default())
        .expect("first");
    match b.create_session_with_id(id, "mine too", Default::default()) {
        Err(Error::DuplicateId(_)) => {}
        other => panic!("expected a duplicate id, got {other:?}"),
    }
    let one = a
        .checkpoint(NewCheckpoint::new(id, "one", b"1"))
        .expect("one")
        .id;
    a.checkpoint(NewCheckpoint::new(id, "two", b"2"))
        .expect("two");
    b.refresh().expect("refresh");
    a.delete(one).expect("delete");
    // B restores a checkpoint A deleted meanwhile: not found once B has caught up, nothing
    // written.
    match b.restore(one) {
        Err(Error::CheckpointNotFound(gone)) => assert_eq!(gone, one),
        other => panic!("expected not found, got {other:?}"),
    }
    assert_eq!(fingerprint(&b), fingerprint(&fresh_view(&log)));
}

#[test]
fn a_compaction_by_one_writer_moves_the_others_to_the_new_log() {
    let log = SharedLog::new();
    let mut a = writer(&log, 1);
    let mut b = writer(&log, 2);
    let session = a.create_session("s", Default::default()).expect("session");
    for i in 0..6 {
        let store = if i % 2 == 0 { &mut a } else { &mut b };
        let state = format!("{{\"step\":{i},\"pad\":\"{}\"}}", "x".repeat(3000 + i));
        store
            .checkpoint(NewCheckpoint::new(
                session,
                format!("step {i}"),
                state.as_bytes(),
            ))
            .expect("checkpoint");
    }
    let before = log.bytes().len();
    let report = a.compact(&RetentionPolicy::keep_last(2)).expect("compact");
    assert_eq!(report.removed, 4);
    assert_eq!(log.generation(), 1);
    assert!(log.bytes().len() < before);
    // B still reads its view (the old generation) until it writes or refreshes...
    assert_eq!(b.metrics().checkpoints, 6);
    // ...and its next write moves it to the new log, where it lands.
    let after = b
        .checkpoint(NewCheckpoint::new(session, "after", b"{\"step\":6}"))
        .expect("write after the compaction")
        .clone();
    assert_eq!(after.seq, 7);
    assert_eq!(b.metrics().checkpoints, 3);
    assert!(
        b.drain_events()
            .iter()
            .any(|e| matches!(e, Event::Compacted { removed: 4, .. })),
        "B hears of the compaction"
    );
    // A compaction planned behind others' writes is planned again.
    b.annotate(after.id, "keep me", Severity::Critical)
        .expect("annotate");
    let report = a
        .compact(&RetentionPolicy::keep_last(1).protect_critical(true))
        .expect("compact again");
    // Planned on A's view (two checkpoints) it would remove one; planned again on the log
    // (three, B's newest among them) it removes both older ones.
    assert_eq!(report.removed, 2);
    assert!(a.get(after.id).is_ok(), "B's checkpoint stays");
    b.refresh().expect("refresh");
    let fresh = fresh_view(&log);
    assert_eq!(fingerprint(&a), fingerprint(&fresh));
    assert_eq!(fingerprint(&b), fingerprint(&fresh));
    check_order(&fresh);
}

/// One random write by `store`, from what it sees (which may be behind).
fn random_write(store: &mut Writer, rng: &mut Rng, step: usize) -> Result<(), Error> {
    let sessions: Vec<SessionId> = store.sessions().map(|s| s.id).collect();
    let ids: Vec<CheckpointId> = store
        .list(&Query::new().order(Order::Descending).limit(8))?
        .items
        .iter()
        .map(|c| c.id)
        .collect();
    match rng.below(10) {
        0 => store
            .create_session(format!("s{step}"), Default::default())
            .map(drop),
        1 if !ids.is_empty() => store.restore(ids[rng.below(ids.len())]).map(drop),
        2 if !ids.is_empty() => store.delete(ids[rng.below(ids.len())]),
        3 if !ids.is_empty() => store
            .annotate(ids[rng.below(ids.len())], "note", Severity::Info)
            .map(drop),
        4 if rng.below(4) == 0 => store.compact(&RetentionPolicy::keep_last(6)).map(drop),
        _ if !sessions.is_empty() => {
            let session = sessions[rng.below(sessions.len())];
            let state = format!("{{\"step\":{step},\"pad\":\"{}\"}}", "y".repeat(step * 37));
            store
                .checkpoint(NewCheckpoint::new(
                    session,
                    format!("w{step}"),
                    state.as_bytes(),
                ))
                .map(drop)
        }
        _ => store.create_session("first", Default::default()).map(drop),
    }
}

#[test]
fn random_interleaved_writers_leave_a_log_that_reads_as_serial_writes() {
    for seed in 1..=12u64 {
        let log = SharedLog::new();
        // Small snapshots, written often by every writer: each writer's own point of the log
        // is not the newest snapshot's (another writer's).
        let options = Options::default().snapshot_every(2048);
        let mut writers: Vec<Writer> = (0..3)
            .map(|i| writer_with(&log, seed * 10 + i, options.clone()))
            .collect();
        let mut rng = Rng(seed);
        let mut created = 0;
        for step in 0..80 {
            let w = rng.below(writers.len());
            let before = writers[w].metrics().ops.checkpoints_created;
            match random_write(&mut writers[w], &mut rng, step) {
                Ok(()) => {}
                // Planned from a view others changed: the same refusals a serial run gives.
                Err(Error::CheckpointNotFound(_) | Error::SessionNotFound(_)) => {}
                Err(Error::Backend(BackendError::Behind)) => panic!("seed {seed}: gave up"),
                Err(err) => panic!("seed {seed} step {step}: {err}"),
            }
            created += writers[w].metrics().ops.checkpoints_created - before;
        }
        let fresh = fresh_view(&log);
        check_order(&fresh);
        for w in &mut writers {
            w.refresh().expect("refresh");
            assert_eq!(fingerprint(w), fingerprint(&fresh), "seed {seed}");
        }
        assert!(created > 20, "seed {seed}: only {created} checkpoints");
        let retries: u64 = writers.iter().map(|w| w.metrics().ops.write_retries).sum();
        assert!(retries > 0, "seed {seed}: the writers never met");
        let snapshots: u64 = writers
            .iter()
            .map(|w| w.metrics().ops.snapshots_written)
            .sum();
        assert!(snapshots > 3, "seed {seed}: only {snapshots} snapshots");
        // A writer joining now opens from the newest snapshot and reads the same store.
        let joined = writer_with(&log, 5, options.clone());
        assert_eq!(fingerprint(&joined), fingerprint(&fresh), "seed {seed}");
    }
}

#[test]
fn a_writer_behind_keeps_its_own_index_beside_another_writers_newer_snapshot() {
    let log = SharedLog::new();
    let mut a = writer(&log, 1);
    let mut b = writer(&log, 2);
    let session = a.create_session("s", Default::default()).expect("session");
    a.checkpoint(NewCheckpoint::new(session, "a1", b"{\"a\":1}"))
        .expect("a1");
    b.refresh().expect("refresh");
    for i in 0..3 {
        let state = format!("{{\"b\":{i}}}");
        b.checkpoint(NewCheckpoint::new(session, "b", state.as_bytes()))
            .expect("b");
    }
    assert!(b.write_snapshot().expect("b's snapshot"));
    // A is behind B's snapshot: its own would describe an earlier point, and is not kept;
    // A goes on from its own index and catches up on B's writes exactly once.
    assert!(!a.write_snapshot().expect("a's snapshot"));
    a.refresh().expect("a catches up");
    assert_eq!(a.metrics().checkpoints, 4);
    let next = a
        .checkpoint(NewCheckpoint::new(session, "a2", b"{\"a\":2}"))
        .expect("a2")
        .seq;
    assert_eq!(next, 5);
    assert_eq!(fingerprint(&a), fingerprint(&fresh_view(&log)));
}
