//! Index snapshots: a store reopened through a snapshot (and the log's tail after it) is the
//! store a full replay of its log gives — also when the snapshot is stale, cut short, bit-flipped,
//! of another store, of a log a compaction replaced, or forged with a valid checksum — and the
//! load report says which happened.
//!
//! Seeds: 60 by default; set `SNAPSHOT_SEEDS` for more.

use rewind_core::conformance::{Rng, fingerprint, noise, seal_snapshot, snapshot_body};
use rewind_core::{
    CorruptKind, DeterministicEnv, Error, Hash, LoadReport, MemoryBackend, NewCheckpoint, Options,
    RetentionPolicy, SessionId, Severity, SnapshotProblem, SnapshotUse, Store,
};

type MemStore = Store<MemoryBackend, DeterministicEnv>;

fn open(log: Vec<u8>, snapshot: Option<Vec<u8>>) -> (MemStore, LoadReport) {
    open_checking(log, snapshot, Options::default().snapshot_check_whole)
}

/// Opens with snapshots up to `check_whole` bytes checked whole at open, larger ones as they
/// are read (0: every snapshot read lazily, block by block).
fn open_checking(
    log: Vec<u8>,
    snapshot: Option<Vec<u8>>,
    check_whole: u64,
) -> (MemStore, LoadReport) {
    open_with_delta(log, snapshot, None, check_whole)
}

/// Opens with a snapshot and a delta of it.
fn open_with_delta(
    log: Vec<u8>,
    snapshot: Option<Vec<u8>>,
    delta: Option<Vec<u8>>,
    check_whole: u64,
) -> (MemStore, LoadReport) {
    Store::open(
        MemoryBackend::with_snapshot(log, snapshot).with_snapshot_delta(delta),
        DeterministicEnv::new(),
        Options::default()
            .snapshot_every(0)
            .snapshot_check_whole(check_whole),
    )
    .unwrap_or_else(|e| panic!("the store does not open: {e}"))
}

/// What a user can observe of a store, states included.
fn observe(store: &MemStore) -> String {
    let mut out = fingerprint(store);
    for s in store.sessions() {
        for cp in store
            .list(&rewind_core::Query::new().session(s.id))
            .unwrap()
            .items
        {
            let state = store.state(cp.id).unwrap();
            out.push_str(&format!("state {} {}\n", cp.id, Hash::of(&state)));
        }
    }
    let m = store.metrics();
    out.push_str(&format!(
        "log_head {:?} version {}\n",
        store.log_head(),
        store.format_version()
    ));
    out.push_str(&format!("stored {} chunks {}\n", m.stored_bytes, m.chunks));
    out
}

/// One random write: sessions, growing states with tags, attachments, annotations, restores
/// (forks), deletions, compactions and vacuums.
fn write(store: &mut MemStore, sessions: &mut Vec<SessionId>, r: &mut Rng, step: u64) {
    if sessions.is_empty() || r.below(12) == 0 {
        let s = store
            .create_session(format!("s{step}"), Default::default())
            .unwrap();
        sessions.push(s);
        return;
    }
    let s = sessions[r.below(sessions.len())];
    let latest = store.latest(s).ok().flatten().map(|c| c.id);
    match r.below(20) {
        0 => {
            if let Some(id) = latest {
                store.annotate(id, "look", Severity::Warning).unwrap();
            }
        }
        1 => {
            if let Some(id) = latest {
                store
                    .attach(id, "writes", "application/json", &noise(300, step))
                    .unwrap();
            }
        }
        2 => {
            let list = store
                .list(&rewind_core::Query::new().session(s))
                .unwrap()
                .items;
            if let Some(cp) = list.get(r.below(list.len())) {
                store.restore(cp.id).unwrap();
            }
        }
        3 => {
            if let Some(id) = latest {
                let _ = store.delete(id);
            }
        }
        4 => {
            store.compact(&RetentionPolicy::keep_last(3)).unwrap();
        }
        5 => store.vacuum().unwrap(),
        6 if sessions.len() > 1 => {
            let gone = sessions.remove(r.below(sessions.len()));
            store.delete_session(gone).unwrap();
        }
        _ => {
            let mut state = noise(1500, r.below(4) as u64);
            state.extend_from_slice(&noise(200, step));
            let tag = ["plan", "tool", "answer"][r.below(3)];
            store
                .checkpoint(
                    NewCheckpoint::new(s, format!("step {step}"), &state)
                        .tag(tag)
                        .metadata(
                            serde_json::json!({ "step": step })
                                .as_object()
                                .unwrap()
                                .clone(),
                        ),
                )
                .unwrap();
        }
    }
}

fn seeds() -> u64 {
    std::env::var("SNAPSHOT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// Reopens the log through `snapshot` and by a full replay: the two must be the same store,
/// and stay the same under the same writes (new ids, seqs, chunk reuse, heads). The snapshot
/// is read both ways: checked whole at open, and read in place block by block.
fn reopen_both(log: &[u8], snapshot: Option<Vec<u8>>, why: &str) -> (MemStore, LoadReport) {
    reopen_both_with_delta(log, (snapshot, None), why)
}

/// [`reopen_both`] with the snapshot's delta.
fn reopen_both_with_delta(
    log: &[u8],
    (snapshot, delta): (Option<Vec<u8>>, Option<Vec<u8>>),
    why: &str,
) -> (MemStore, LoadReport) {
    let (_, lazy_report) = reopen_checking(log, (snapshot.clone(), delta.clone()), 0, why);
    let (store, report) = reopen_checking(log, (snapshot, delta), u64::MAX, why);
    // A snapshot read lazily is used exactly when one checked whole is, except one whose
    // blocks are all intact but whose parts do not agree (which only a whole check sees).
    if !matches!(
        report.snapshot,
        SnapshotUse::Ignored(SnapshotProblem::Inconsistent(_))
    ) {
        assert_eq!(lazy_report.snapshot, report.snapshot, "{why}");
    }
    (store, report)
}

fn reopen_checking(
    log: &[u8],
    (snapshot, delta): (Option<Vec<u8>>, Option<Vec<u8>>),
    check_whole: u64,
    why: &str,
) -> (MemStore, LoadReport) {
    let why = &format!("{why} (snapshots checked whole up to {check_whole} bytes)");
    let (mut replayed, _) = open(log.to_vec(), None);
    let (mut through, report) = open_with_delta(log.to_vec(), snapshot, delta, check_whole);
    assert_eq!(
        observe(&through),
        observe(&replayed),
        "{why}: {:?}",
        report.snapshot
    );
    assert!(through.verify().is_ok(), "{why}");
    // An hour later, so new ids come from the clock on both sides: the id generator may
    // remember ids that are no longer in the log (a replay does not see removed ones), which
    // only matters within one millisecond.
    replayed.env_mut().advance(3_600_000);
    through.env_mut().advance(3_600_000);
    let sessions: Vec<SessionId> = replayed.sessions().map(|s| s.id).collect();
    for step in 0..3 {
        write(
            &mut replayed,
            &mut sessions.clone(),
            &mut Rng(step + 7),
            500 + step,
        );
        write(
            &mut through,
            &mut sessions.clone(),
            &mut Rng(step + 7),
            500 + step,
        );
    }
    assert_eq!(
        observe(&through),
        observe(&replayed),
        "{why}, then written: {:?}",
        report.snapshot
    );
    (through, report)
}

#[test]
fn reopening_through_snapshots_at_random_points_gives_what_a_replay_gives() {
    let mut used = 0;
    let mut tails = 0;
    let mut deltas = 0;
    let persisted = |store: &MemStore| {
        (
            store.backend().snapshot().map(<[u8]>::to_vec),
            store.backend().snapshot_delta().map(<[u8]>::to_vec),
        )
    };
    for seed in 1..=seeds() {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let (mut store, _) = open(Vec::new(), None);
        let mut sessions = Vec::new();
        let mut older = (None, None);
        for step in 0..60 {
            write(&mut store, &mut sessions, &mut r, step);
            if r.below(4) == 0 {
                older = persisted(&store);
                assert!(
                    store.write_snapshot().unwrap(),
                    "seed {seed}: no snapshot written"
                );
            }
            if r.below(5) != 0 {
                continue;
            }
            let log = store.backend().bytes().to_vec();
            let why = format!("seed {seed} step {step}");
            // The newest snapshot and its delta, maybe with writes after them.
            let newest = persisted(&store);
            let (mut reopened, report) = reopen_both_with_delta(&log, newest.clone(), &why);
            match report.snapshot {
                SnapshotUse::Used { tail_frames } => {
                    used += 1;
                    tails += u64::from(tail_frames > 0);
                    deltas += u64::from(newest.1.is_some());
                }
                SnapshotUse::None => assert!(newest.0.is_none(), "{why}"),
                SnapshotUse::Ignored(problem) => {
                    panic!("{why}: a good snapshot ignored: {problem}")
                }
                other => panic!("{why}: {other:?}"),
            }
            // The snapshot without its delta (a longer tail), and with an older delta (of an
            // older snapshot, or an older state of this one's changes): used either way.
            if newest.0.is_some() {
                let (_, report) = reopen_both_with_delta(&log, (newest.0.clone(), None), &why);
                assert!(matches!(report.snapshot, SnapshotUse::Used { .. }), "{why}");
                let mixed = (newest.0.clone(), older.1.clone());
                let (_, report) = reopen_both_with_delta(&log, mixed, &why);
                assert!(matches!(report.snapshot, SnapshotUse::Used { .. }), "{why}");
            }
            // An older snapshot: used with a longer tail, or (when a compaction replaced the
            // log since) found stale.
            if older.0.is_some() {
                let (_, report) = reopen_both_with_delta(&log, older.clone(), &why);
                assert!(
                    matches!(
                        report.snapshot,
                        SnapshotUse::Used { .. } | SnapshotUse::Ignored(SnapshotProblem::Stale)
                    ),
                    "{why}: {:?}",
                    report.snapshot
                );
            }
            // The reopened store goes on writing as the original does.
            write(
                &mut reopened,
                &mut sessions.clone(),
                &mut Rng(seed),
                1000 + step,
            );
            let log = reopened.backend().bytes().to_vec();
            reopen_both_with_delta(&log, persisted(&reopened), &why);
        }
    }
    assert!(used > 50, "snapshots were used {used} times");
    assert!(
        deltas > 30,
        "snapshots were used with a delta {deltas} times"
    );
    assert!(
        tails > 20,
        "only {tails} opens replayed a tail after a snapshot"
    );
}

/// A store with a few sessions and a snapshot that is not at the log's end.
fn store_with_snapshot(seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut r = Rng(seed);
    let (mut store, _) = open(Vec::new(), None);
    let mut sessions = Vec::new();
    for step in 0..40 {
        write(&mut store, &mut sessions, &mut r, step);
    }
    store.write_snapshot().unwrap();
    for step in 40..45 {
        write(&mut store, &mut sessions, &mut r, step);
    }
    let snapshot = store.backend().snapshot().unwrap().to_vec();
    (store.backend().bytes().to_vec(), snapshot)
}

#[test]
fn a_damaged_snapshot_is_ignored_and_the_log_replayed() {
    let (log, snapshot) = store_with_snapshot(3);
    let (_, report) = reopen_both(&log, Some(snapshot.clone()), "intact");
    assert!(matches!(report.snapshot, SnapshotUse::Used { .. }));
    let mut r = Rng(99);
    for cut in [0, 5, 9, 10, 40, snapshot.len() / 2, snapshot.len() - 1] {
        let (_, report) = reopen_both(&log, Some(snapshot[..cut].to_vec()), "cut");
        assert_eq!(
            report.snapshot,
            SnapshotUse::Ignored(SnapshotProblem::Damaged),
            "cut at {cut}"
        );
    }
    for _ in 0..200 {
        let mut flipped = snapshot.clone();
        let at = r.below(flipped.len());
        flipped[at] ^= 1 << r.below(8);
        let (_, report) = reopen_checking(&log, (Some(flipped), None), u64::MAX, "bit flip");
        assert!(
            matches!(
                report.snapshot,
                SnapshotUse::Ignored(SnapshotProblem::Damaged | SnapshotProblem::Version(_))
            ),
            "a flipped bit at {at}: {:?}",
            report.snapshot
        );
    }
}

/// A snapshot read in place is checked block by block as it is read: damage is found at open
/// (in what the open reads) or by the read that meets it, which fails with a typed error and
/// changes nothing — a read never answers from a damaged block. A writer then makes the
/// snapshot unusable, so the next open replays the log.
#[test]
fn damage_in_a_snapshot_read_in_place_is_found_when_read_and_never_answered() {
    let mut r = Rng(21);
    let (mut store, _) = open(Vec::new(), None);
    let mut sessions = Vec::new();
    for step in 0..400 {
        write(&mut store, &mut sessions, &mut r, step);
    }
    assert!(store.write_snapshot().unwrap());
    let snapshot = store.backend().snapshot().unwrap().to_vec();
    let log = store.backend().bytes().to_vec();
    let expected = try_observe(&open(log.clone(), None).0).unwrap();
    let (mut found_at_open, mut found_when_read) = (0, 0);
    for _ in 0..300 {
        let mut flipped = snapshot.clone();
        let at = r.below(flipped.len());
        flipped[at] ^= 1 << r.below(8);
        let (mut lazy, report) = open_checking(log.clone(), Some(flipped), 0);
        match try_observe(&lazy) {
            Ok(seen) => {
                // Only what the open itself read, or what these reads do not touch (the
                // chunk numbers a write resolves), can hold the flipped bit then.
                assert_eq!(
                    seen, expected,
                    "a flipped bit at {at}: {:?}",
                    report.snapshot
                );
                found_at_open += u64::from(matches!(report.snapshot, SnapshotUse::Ignored(_)));
            }
            Err(Error::Corrupt {
                kind: CorruptKind::Snapshot,
                ..
            }) => {
                found_when_read += 1;
                // Writes are refused too, and the writer retires the snapshot.
                let s = lazy.sessions().next().map(|s| s.id).unwrap();
                let refused = lazy.checkpoint(NewCheckpoint::new(s, "after", b"{}"));
                assert!(
                    matches!(
                        refused,
                        Err(Error::Corrupt {
                            kind: CorruptKind::Snapshot,
                            ..
                        })
                    ),
                    "{refused:?}"
                );
                assert_eq!(lazy.backend().bytes(), &log[..], "a refused write wrote");
                assert!(!lazy.write_snapshot().unwrap());
                let retired = lazy.backend().snapshot().map(<[u8]>::to_vec);
                let (reopened, report) = open_checking(log.clone(), retired, 0);
                assert_eq!(
                    report.snapshot,
                    SnapshotUse::Ignored(SnapshotProblem::Damaged)
                );
                assert_eq!(try_observe(&reopened).unwrap(), expected);
            }
            Err(other) => panic!("a flipped bit at {at}: {other}"),
        }
    }
    assert!(
        found_when_read > 100,
        "damage found at open {found_at_open} times, when read {found_when_read} times"
    );
}

/// What [`observe`] sees, or the first error a read returns.
fn try_observe(store: &MemStore) -> Result<String, Error> {
    let mut out = String::new();
    for cp in store.list(&rewind_core::Query::new())?.items {
        out.push_str(&format!("{cp:?} {}\n", Hash::of(&store.state(cp.id)?)));
        out.push_str(&format!("{:?}\n", store.annotations(cp.id)?));
    }
    for s in store.sessions() {
        out.push_str(&format!("{s:?} {:?}\n", store.branches(s.id)?));
        let latest = store.latest(s.id)?.map(|c| c.id);
        out.push_str(&format!("latest {latest:?}\n"));
    }
    Ok(out)
}

#[test]
fn a_snapshot_of_another_store_or_a_replaced_log_is_ignored() {
    let (log, _) = store_with_snapshot(5);
    let (_, foreign) = store_with_snapshot(6);
    let (_, report) = reopen_both(&log, Some(foreign), "foreign");
    assert_eq!(
        report.snapshot,
        SnapshotUse::Ignored(SnapshotProblem::Stale)
    );

    // The same store after a compaction: the old snapshot describes a log that is gone.
    let (log, snapshot) = store_with_snapshot(7);
    let (mut store, _) = open(log, None);
    store.compact(&RetentionPolicy::keep_last(1)).unwrap();
    let after = store.backend().bytes().to_vec();
    let (_, report) = reopen_both(&after, Some(snapshot), "compacted");
    assert_eq!(
        report.snapshot,
        SnapshotUse::Ignored(SnapshotProblem::Stale)
    );
    // ...and the compaction wrote a snapshot of the new log.
    let fresh = store.backend().snapshot().map(<[u8]>::to_vec);
    let (_, report) = reopen_both(&after, fresh, "compacted, new snapshot");
    assert_eq!(report.snapshot, SnapshotUse::Used { tail_frames: 0 });

    // A log cut back before the snapshot's point (lost writes): stale, never trusted.
    let (mut log, snapshot) = store_with_snapshot(8);
    log.truncate(log.len() / 2);
    let (_, report) = reopen_both(&log, Some(snapshot), "cut log");
    assert_eq!(
        report.snapshot,
        SnapshotUse::Ignored(SnapshotProblem::Stale)
    );
}

#[test]
fn a_snapshot_of_another_encoding_version_is_ignored() {
    let (log, mut snapshot) = store_with_snapshot(9);
    snapshot[8] = 0xEE;
    let (_, report) = reopen_both(&log, Some(snapshot), "version");
    assert_eq!(
        report.snapshot,
        SnapshotUse::Ignored(SnapshotProblem::Version(0x00EE))
    );
}

/// A snapshot edited and given a valid checksum again (anyone can compute blake3): opening never
/// panics, and whatever it refuses is said.
#[test]
fn forged_snapshots_with_valid_checksums_never_panic() {
    let (log, snapshot) = store_with_snapshot(11);
    let mut r = Rng(5);
    let mut refused = 0;
    for _ in 0..2000 {
        let mut forged = snapshot_body(&snapshot).unwrap().to_vec();
        for _ in 0..1 + r.below(3) {
            let at = r.below(forged.len());
            forged[at] = r.next() as u8;
        }
        // Every block's checksum and the summary's made valid again.
        let forged = seal_snapshot(&forged);
        match Store::open(
            MemoryBackend::with_snapshot(log.clone(), Some(forged)),
            DeterministicEnv::new(),
            Options::default(),
        ) {
            Ok((store, report)) => {
                if matches!(report.snapshot, SnapshotUse::Ignored(_)) {
                    refused += 1;
                }
                // Reads over whatever was accepted must not panic either.
                let _ = store.verify();
                for s in store.sessions() {
                    let _ = store.branches(s.id);
                    let _ = store.latest(s.id);
                }
            }
            Err(_) => refused += 1,
        }
    }
    // Much of a snapshot cannot be told from another valid one: text, times, a chunk number
    // moved inside the gap that freed chunks left. About half the forgeries touch such bytes.
    assert!(
        refused > 900,
        "only {refused} forged snapshots were refused"
    );
}

#[test]
fn a_read_only_style_open_without_a_snapshot_says_it_replayed() {
    let (log, _) = store_with_snapshot(12);
    let (_, report) = open(log, None);
    assert_eq!(report.snapshot, SnapshotUse::None);
}

#[test]
fn a_writer_writes_a_snapshot_once_the_log_has_grown() {
    let (mut store, _) = Store::open(
        MemoryBackend::with_snapshot(Vec::new(), None),
        DeterministicEnv::new(),
        Options::default().snapshot_every(64 << 10),
    )
    .unwrap();
    let s = store.create_session("s", Default::default()).unwrap();
    let mut written = 0;
    let mut last = (None, None);
    for i in 0..200 {
        store
            .checkpoint(NewCheckpoint::new(s, "c", &noise(2000, i)))
            .unwrap();
        let now = (
            store.backend().snapshot().map(<[u8]>::to_vec),
            store.backend().snapshot_delta().map(<[u8]>::to_vec),
        );
        if now != last {
            written += 1;
            last = now;
        }
    }
    // 200 x ~2 KB is ~400 KB of log: a snapshot or delta about every 64 KB (or its own size).
    assert!((3..=8).contains(&written), "{written} snapshots written");
    assert!(last.1.is_some(), "no delta was written");
    assert!(!store.snapshot_due() || store.write_snapshot().unwrap());
    let (_, report) = reopen_both_with_delta(store.backend().bytes(), last, "grown");
    assert!(matches!(report.snapshot, SnapshotUse::Used { .. }));
}

/// A snapshot asked for (as hosts do when a writer closes) is a delta only while the log has
/// grown little since the snapshot — an open decodes a delta whole — and a whole snapshot once
/// it has grown more (here past 8 MiB, though less than the snapshot's size, up to which
/// writes in progress leave deltas), so a writer leaves a store that opens fast.
#[test]
fn an_asked_for_snapshot_is_a_delta_only_while_it_is_small() {
    let (mut store, _) = Store::open(
        MemoryBackend::with_snapshot(Vec::new(), None),
        DeterministicEnv::new(),
        Options::default().snapshot_every(0),
    )
    .unwrap();
    let s = store.create_session("s", Default::default()).unwrap();
    let mut i = 0u64;
    // Small states: the snapshot grows faster than the log.
    let mut grow = |store: &mut MemStore, bytes: usize| {
        let start = store.backend().bytes().len();
        while store.backend().bytes().len() - start < bytes {
            let state = format!("{{\"i\":{i}}}");
            store
                .checkpoint(NewCheckpoint::new(s, "c", state.as_bytes()))
                .unwrap();
            i += 1;
        }
    };
    grow(&mut store, 5 << 20);
    assert!(store.write_snapshot().unwrap());
    let snapshot_len = store.backend().snapshot().unwrap().len();
    let ops = store.metrics().ops;
    assert_eq!((ops.snapshots_written, ops.snapshot_deltas_written), (1, 0));
    // 1 MiB more: a delta.
    grow(&mut store, 1 << 20);
    assert!(store.snapshot_due());
    assert!(store.write_snapshot().unwrap());
    let ops = store.metrics().ops;
    assert_eq!((ops.snapshots_written, ops.snapshot_deltas_written), (1, 1));
    // 9 MiB since the snapshot, less than its size: a whole one, and no delta.
    grow(&mut store, 8 << 20);
    assert!(
        snapshot_len > 9 << 20,
        "the snapshot is {snapshot_len} bytes"
    );
    assert!(store.snapshot_due());
    assert!(store.write_snapshot().unwrap());
    let ops = store.metrics().ops;
    assert_eq!((ops.snapshots_written, ops.snapshot_deltas_written), (2, 1));
    assert!(store.backend().snapshot_delta().is_none());
    let (_, report) = reopen_both_with_delta(
        store.backend().bytes(),
        (store.backend().snapshot().map(<[u8]>::to_vec), None),
        "after the whole one",
    );
    assert_eq!(report.snapshot, SnapshotUse::Used { tail_frames: 0 });
}

/// Short ids: the digits that tell a checkpoint apart, and the checkpoints a prefix names, are
/// what a scan of every id gives — in memory, and read through a snapshot with writes on top.
#[test]
fn short_ids_and_prefixes_name_checkpoints_as_a_scan_would() {
    let mut r = Rng(33);
    let (mut store, _) = open(Vec::new(), None);
    let s = store.create_session("ids", Default::default()).unwrap();
    // Ids that share long prefixes, besides the generated ones.
    for n in 0..300u64 {
        let mut new = NewCheckpoint::new(s, format!("n{n}"), b"{}");
        if n % 3 == 0 {
            let mut id = [0xabu8; 16];
            id[5..13].copy_from_slice(&r.next().to_le_bytes());
            id[2] = (n % 7) as u8;
            new = new.id(rewind_core::CheckpointId::from_bytes(id));
        }
        store.checkpoint(new).unwrap();
    }
    assert!(store.write_snapshot().unwrap());
    let log = store.backend().bytes().to_vec();
    let snapshot = store.backend().snapshot().map(<[u8]>::to_vec);
    let (mut lazy, _) = open_checking(log, snapshot, 0);
    for n in 0..40u64 {
        lazy.checkpoint(NewCheckpoint::new(s, format!("after {n}"), b"{}"))
            .unwrap();
    }
    let hex = |id: &rewind_core::CheckpointId| id.to_string().replace('-', "");
    for store in [&store, &lazy] {
        let ids: Vec<String> = store
            .list(&rewind_core::Query::new())
            .unwrap()
            .items
            .iter()
            .map(|c| hex(&c.id))
            .collect();
        for cp in store.list(&rewind_core::Query::new()).unwrap().items {
            let mine = hex(&cp.id);
            let shared = ids
                .iter()
                .filter(|o| **o != mine)
                .map(|o| {
                    o.bytes()
                        .zip(mine.bytes())
                        .take_while(|(a, b)| a == b)
                        .count()
                })
                .max()
                .unwrap_or(0);
            let digits = store.unique_prefix_digits(cp.id);
            assert_eq!(digits, shared + 1, "{mine}");
            assert_eq!(
                store.checkpoints_with_prefix(&mine[..digits], 11).unwrap(),
                vec![cp.id]
            );
        }
        for prefix in ["ab", "abab", "abab0", "0", "f", "", "ABAB-01"] {
            let wanted = prefix.replace('-', "").to_lowercase();
            let mut expected: Vec<&String> =
                ids.iter().filter(|id| id.starts_with(&wanted)).collect();
            expected.sort();
            expected.truncate(11);
            let found: Vec<String> = store
                .checkpoints_with_prefix(prefix, 11)
                .unwrap()
                .iter()
                .map(hex)
                .collect();
            assert_eq!(found.iter().collect::<Vec<_>>(), expected, "{prefix:?}");
        }
        assert!(store.checkpoints_with_prefix("xyz", 11).is_err());
    }
}

/// A store whose whole snapshots are left to the host (as the native `SharedStore` leaves them
/// to a thread): merges taken, built and installed at random points while writes go on —
/// compactions among them — give what a replay gives, before and after a reopen.
#[test]
fn whole_snapshots_merged_away_from_the_writer_give_what_a_replay_gives() {
    let mut installed = 0;
    let mut abandoned = 0;
    for seed in 0..seeds().min(20) {
        let mut r = Rng(seed + 1000);
        let (mut store, _) = Store::open(
            MemoryBackend::with_snapshot(Vec::new(), None),
            DeterministicEnv::new(),
            Options::default()
                .snapshot_every(4096)
                .snapshot_in_background(true),
        )
        .unwrap();
        let mut sessions = Vec::new();
        // A merge handed out, and what it built once "its thread" ran.
        let mut running: Option<(
            rewind_core::snapshot::SnapshotMerge,
            Option<Option<Vec<u8>>>,
        )> = None;
        for step in 0..400 {
            write(&mut store, &mut sessions, &mut r, step);
            if running.is_none() {
                running = store.take_snapshot_merge().map(|m| (m, None));
            }
            match &mut running {
                Some((merge, built @ None)) if r.below(3) == 0 => *built = Some(merge.build()),
                Some((_, Some(_))) if r.below(3) == 0 => {
                    let Some((_, Some(bytes))) = running.take() else {
                        unreachable!()
                    };
                    let done = store
                        .finish_snapshot_merge(|backend| match &bytes {
                            Some(bytes) => rewind_core::Backend::write_snapshot(backend, bytes),
                            None => Ok(false),
                        })
                        .unwrap();
                    if done {
                        installed += 1;
                    } else {
                        abandoned += 1;
                    }
                    let why =
                        format!("seed {seed}, step {step}, after a merge (installed: {done})");
                    let (replayed, _) = open(store.backend().bytes().to_vec(), None);
                    assert_eq!(observe(&store), observe(&replayed), "{why}");
                }
                _ => {}
            }
        }
        let backend = store.backend();
        let (log, snapshot, delta) = (
            backend.bytes().to_vec(),
            backend.snapshot().map(<[u8]>::to_vec),
            backend.snapshot_delta().map(<[u8]>::to_vec),
        );
        let (_, report) = reopen_both_with_delta(&log, (snapshot, delta), &format!("seed {seed}"));
        assert!(
            matches!(
                report.snapshot,
                SnapshotUse::Used { .. } | SnapshotUse::None
            ),
            "seed {seed}: {:?}",
            report.snapshot
        );
    }
    assert!(installed > 0, "no merge was installed");
    assert!(abandoned + installed > 0);
}
