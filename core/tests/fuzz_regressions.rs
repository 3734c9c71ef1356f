//! Replays the fuzzing seeds and every saved crasher (fuzz/seeds, fuzz/regressions) through the
//! same checks as the fuzz targets, so a fixed crash stays fixed.

use std::fs;
use std::path::Path;

use rewind_core::conformance::{
    assert_log_reopens_the_same, fingerprint, seal_snapshot, seal_snapshot_delta, snapshot_body,
    snapshot_delta_body,
};
use rewind_core::{
    CheckpointId, DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Query, RetentionPolicy,
    Severity, Store,
};

type MemStore = Store<MemoryBackend, DeterministicEnv>;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut out = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            out.push((
                format!("{dir}/{target}/{name}"),
                fs::read(entry.path()).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn open_log_inputs_open_or_fail_cleanly() {
    let inputs = inputs("open_log");
    assert!(!inputs.is_empty(), "the seeds are part of the repository");
    for (name, data) in inputs {
        let backend = MemoryBackend::from_bytes(data);
        if let Ok((mut store, _)) =
            Store::open(backend, DeterministicEnv::new(), Options::default())
        {
            let ids: Vec<_> = store
                .list(&Query::new())
                .unwrap()
                .items
                .iter()
                .map(|c| c.id)
                .collect();
            for id in ids {
                read_everything(&store, id).unwrap_or_else(|e| panic!("{name}: {id}: {e}"));
            }
            assert!(store.verify().is_ok(), "{name}: an intact seed verifies");
            store.export_json(None).unwrap();
            // What the fuzz target does next: a write on top, a compaction, a vacuum.
            if let Some(newest) = store.list(&Query::new()).unwrap().items.first() {
                let (session, parent) = (newest.session, newest.id);
                let new = NewCheckpoint::new(session, "after", b"{}")
                    .parent(parent)
                    .attach("c:messages", "application/json", b"[1]");
                store.checkpoint(new).unwrap();
            }
            store.compact(&RetentionPolicy::keep_last(1)).unwrap();
            assert!(
                store.verify().is_ok(),
                "{name}: verifies after a compaction"
            );
            store.vacuum().unwrap();
            assert_log_reopens_the_same(&store, &name);
        }
    }
}

/// The log the `open_snapshot` target opens with each input as its snapshot's body.
fn snapshot_log() -> Vec<u8> {
    fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/open_log/features")).unwrap()
}

#[test]
fn open_snapshot_inputs_open_or_fail_cleanly() {
    let inputs = inputs("open_snapshot");
    assert!(!inputs.is_empty(), "the seeds are part of the repository");
    let log = snapshot_log();
    let replayed = Store::open(
        MemoryBackend::from_bytes(log.clone()),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap()
    .0;
    for (name, data) in inputs {
        let backend = MemoryBackend::with_snapshot(log.clone(), Some(seal_snapshot(&data)));
        let Ok((store, report)) = Store::open(backend, DeterministicEnv::new(), Options::default())
        else {
            continue;
        };
        if name.starts_with("seeds/") {
            assert_eq!(
                report.snapshot,
                rewind_core::SnapshotUse::Used { tail_frames: 0 },
                "{name}"
            );
            assert_eq!(fingerprint(&store), fingerprint(&replayed), "{name}");
        }
        for cp in store.list(&Query::new()).unwrap().items {
            let _ = read_everything(&store, cp.id);
        }
        let _ = store.verify();
    }
}

/// Rewrites the `open_snapshot` seed: the body of a snapshot of the `open_log` seed `features`.
///
///     cargo test -p rewind-core --test fuzz_regressions -- --ignored write_snapshot_seed
#[test]
#[ignore = "writes fuzz/seeds; run by hand after a snapshot encoding change"]
fn write_snapshot_seed() {
    let (mut store, _) = Store::open(
        MemoryBackend::with_snapshot(snapshot_log(), None),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    assert!(store.write_snapshot().unwrap());
    let body = snapshot_body(store.backend().snapshot().unwrap()).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/open_snapshot");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("features"), body).unwrap();
}

#[test]
fn binary_import_inputs_import_or_fail_without_changes() {
    for (name, data) in inputs("import_binary") {
        let (mut store, _) = Store::open(
            MemoryBackend::new(),
            DeterministicEnv::new(),
            Options::default(),
        )
        .unwrap();
        let s = store.create_session("own", Default::default()).unwrap();
        store
            .checkpoint(NewCheckpoint::new(s, "own", b"{}"))
            .unwrap();
        match store.import_binary(&data) {
            Ok(_) => assert!(store.verify().is_ok(), "{name}"),
            Err(_) => assert_eq!(store.metrics().checkpoints, 1, "{name}"),
        }
        assert_log_reopens_the_same(&store, &name);
    }
}

#[test]
fn json_import_inputs_import_or_fail_without_changes() {
    for (name, data) in inputs("import_json") {
        let (mut store, _) = Store::open(
            MemoryBackend::new(),
            DeterministicEnv::new(),
            Options::default(),
        )
        .unwrap();
        match store.import_json(&data) {
            Ok(report) => {
                assert!(store.verify().is_ok(), "{name}");
                assert!(
                    report.checkpoints_added > 0,
                    "{name}: the seed export has checkpoints"
                );
            }
            Err(_) => assert_eq!(store.metrics().checkpoints, 0, "{name}"),
        }
        assert_log_reopens_the_same(&store, &name);
    }
}

/// Reads a checkpoint whole: state, every attachment, annotations, history (what the fuzz
/// target `open_log` does with every checkpoint of a log that opens).
fn read_everything(store: &MemStore, id: CheckpointId) -> rewind_core::Result<()> {
    store.state(id)?;
    let keys: Vec<String> = store.attachment_keys(id)?.map(String::from).collect();
    for key in keys {
        assert!(store.attachment(id, &key)?.is_some(), "listed key {key}");
    }
    store.annotations(id)?;
    store.history(id)?.for_each(drop);
    Ok(())
}

/// Rewrites the seeds named `features` from a store that uses every record kind: sessions with
/// metadata, derived states, attachments written with their checkpoint and after it (derived
/// from the parent's and from a named base), annotations (one critical), a namespace, a deletion
/// and a compaction. Run after a log format change:
///
///     cargo test -p rewind-core --test fuzz_regressions -- --ignored write_feature_seeds
#[test]
#[ignore = "writes fuzz/seeds; run by hand after a log format change"]
fn write_feature_seeds() {
    let (mut store, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    let mut meta = serde_json::Map::new();
    meta.insert("agent".into(), "planner".into());
    let s = store.create_session("seeds", meta.clone()).unwrap();
    let other = store.create_session("other", Default::default()).unwrap();
    let mut values = String::from("[");
    let mut parent = None;
    let mut ids = Vec::new();
    for step in 0..6 {
        values.push_str(&format!(
            "{{\"step\":{step},\"text\":\"{}\"}},",
            "words ".repeat(12)
        ));
        let state = format!("{{\"step\":{step},\"values\":{values}null]}}");
        let mut new = NewCheckpoint::new(s, format!("step {step}"), state.as_bytes())
            .tag(if step % 2 == 0 { "even" } else { "odd" })
            .metadata(meta.clone())
            .attach("c:messages", "application/json", values.as_bytes());
        if let Some(p) = parent {
            new = new.parent(p);
        }
        if step == 4 {
            new = new.namespace("subgraph");
            new = new.attach_based_on("c:copy", "application/json", values.as_bytes(), ids[1]);
        }
        let id = store.checkpoint(new).unwrap().id;
        store
            .attach(
                id,
                "w:[\"\",\"task\",0,\"messages\"]",
                "application/json",
                b"[1]",
            )
            .unwrap();
        parent = Some(id);
        ids.push(id);
    }
    store
        .annotate(ids[2], "worth keeping", Severity::Critical)
        .unwrap();
    store.annotate(ids[3], "a remark", Severity::Info).unwrap();
    store
        .checkpoint(NewCheckpoint::new(other, "elsewhere", b"{}"))
        .unwrap();
    store.delete(ids[5]).unwrap();
    store.compact(&RetentionPolicy::keep_last(3)).unwrap();
    // Writes after the compaction, so the log holds both a rewritten prefix and appends.
    let last = store.list(&Query::new()).unwrap().items[0].id;
    store
        .attach(
            last,
            "c:messages",
            "application/json",
            format!("{values}1]").as_bytes(),
        )
        .unwrap();
    assert!(store.verify().is_ok());

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let json = store.export_json(None).unwrap();
    fs::write(root.join("import_json/features"), json).unwrap();
    let binary = store.export_binary(None).unwrap();
    fs::write(root.join("import_binary/features"), binary).unwrap();
    fs::write(root.join("open_log/features"), store.backend().bytes()).unwrap();
}

#[test]
fn open_snapshot_delta_inputs_open_or_fail_cleanly() {
    let deltas = inputs("open_snapshot_delta");
    assert!(!deltas.is_empty(), "the seeds are part of the repository");
    let log = snapshot_log();
    let seed = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/open_snapshot/features"),
    )
    .unwrap();
    let snapshot = seal_snapshot(&seed);
    for (_, data) in deltas {
        let delta = seal_snapshot_delta(&data, &snapshot);
        let backend = MemoryBackend::with_snapshot(log.clone(), Some(snapshot.clone()))
            .with_snapshot_delta(Some(delta));
        let Ok((store, _)) = Store::open(backend, DeterministicEnv::new(), Options::default())
        else {
            continue;
        };
        if let Ok(page) = store.list(&Query::new()) {
            for cp in page.items {
                let _ = read_everything(&store, cp.id);
            }
        }
        for s in store.sessions() {
            let _ = store.branches(s.id);
            let _ = store.latest(s.id);
        }
        let _ = store.verify();
    }
}

/// Rewrites the `open_snapshot_delta` seed: the body of a delta written on top of a snapshot
/// of the `open_log` seed `features`, after more writes (new checkpoints, a tag, a deletion,
/// an annotation and a head moved).
///
///     cargo test -p rewind-core --test fuzz_regressions -- --ignored write_snapshot_delta_seed
#[test]
#[ignore = "writes fuzz/seeds; run by hand after a snapshot encoding change"]
fn write_snapshot_delta_seed() {
    let (mut store, _) = Store::open(
        MemoryBackend::with_snapshot(snapshot_log(), None),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    assert!(store.write_snapshot().unwrap());
    let session = store.sessions().next().unwrap().id;
    let first = store.list(&Query::new()).unwrap().items[0].id;
    for n in 0..3u8 {
        store
            .checkpoint(NewCheckpoint::new(session, "more", &[b'x'; 300][..]).tag(format!("t{n}")))
            .unwrap();
    }
    store.annotate(first, "looked at", Severity::Info).unwrap();
    store.restore(first).unwrap();
    let last = store.latest(session).unwrap().unwrap().id;
    store.delete(last).unwrap();
    assert!(store.write_snapshot().unwrap());
    let body = snapshot_delta_body(store.backend().snapshot_delta().unwrap()).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/open_snapshot_delta");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("features"), body).unwrap();
}

#[test]
fn packed_inputs_read_or_fail_cleanly() {
    let inputs = inputs("packed");
    assert!(inputs.len() >= 3, "the seeds are part of the repository");
    for (_, data) in inputs {
        rewind_core::conformance::assert_packed_input_handled(&data);
    }
}

/// Writes the `packed` target's seeds: a checkpoint packed as the npm package packs it (with
/// tags and an attachment), a summary page of a store's listing, and a list of strings.
///
///     cargo test -p rewind-core --test fuzz_regressions -- --ignored write_packed_seeds
#[test]
#[ignore = "writes fuzz/seeds; run by hand after a packed layout changes"]
fn write_packed_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/packed");
    fs::create_dir_all(&dir).unwrap();
    let (mut store, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    let s = store.create_session("seeds", Default::default()).unwrap();
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let none = u32::MAX.to_le_bytes();
    // Layout 1: session, message, content type, namespace, id, parent, flags, trigger kind,
    // reason, metadata, tags, attachments, state length, then the bytes.
    let mut checkpoint = vec![rewind_core::api::PACKED_LAYOUT];
    string(&mut checkpoint, &s.to_string());
    string(&mut checkpoint, "packed step ✓");
    string(&mut checkpoint, "application/json");
    checkpoint.extend_from_slice(&none); // namespace
    checkpoint.extend_from_slice(&none); // id
    checkpoint.extend_from_slice(&none); // parent
    checkpoint.push(0); // flags
    string(&mut checkpoint, "automatic");
    string(&mut checkpoint, "loop");
    string(&mut checkpoint, r#"{"step":1}"#);
    checkpoint.extend_from_slice(&2u32.to_le_bytes());
    string(&mut checkpoint, "b");
    string(&mut checkpoint, "a");
    checkpoint.extend_from_slice(&1u32.to_le_bytes());
    string(&mut checkpoint, "c:messages");
    string(&mut checkpoint, "application/json");
    checkpoint.extend_from_slice(&none); // base
    checkpoint.extend_from_slice(&5u32.to_le_bytes()); // the attachment's length
    checkpoint.extend_from_slice(&7u32.to_le_bytes()); // the state's
    checkpoint.extend_from_slice(br#"{"a":1}[1,2]"#);
    let (input, rest) = rewind_core::api::unpack_checkpoint(&checkpoint).unwrap();
    let (state, attachments) = input.split(rest).unwrap();
    store
        .checkpoint(input.clone().into_new(state, &attachments).unwrap())
        .unwrap();
    store
        .checkpoint(NewCheckpoint::new(s, "clé", b"{}").tags(["x"]))
        .unwrap();
    let page = store.list(&Query::new()).unwrap();
    let mut summaries = Vec::new();
    rewind_core::api::pack_summaries(
        &page.items,
        rewind_core::api::SummaryFields::ALL,
        &mut summaries,
    );
    let mut strings = 2u32.to_le_bytes().to_vec();
    string(&mut strings, "019a0000-0000-7000-8000-000000000001");
    string(&mut strings, "c:messages");
    for (name, bytes) in [
        ("checkpoint", checkpoint),
        ("summaries", summaries),
        ("strings", strings),
    ] {
        fs::write(dir.join(name), bytes).unwrap();
    }
}
