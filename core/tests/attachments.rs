//! Attachments written with their checkpoint, and attachments that grow from one checkpoint to
//! the next (LangGraph channel values): one transaction, and a log that grows by the new tail.

use rewind_core::{
    CheckpointId, DeterministicEnv, Error, MemoryBackend, NewCheckpoint, Options, RetentionPolicy,
    SessionId, Store,
};

type S = Store<MemoryBackend, DeterministicEnv>;

fn open(bytes: Vec<u8>) -> S {
    Store::open(
        MemoryBackend::from_bytes(bytes),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap()
    .0
}

fn new_store() -> (S, SessionId) {
    let mut store = open(Vec::new());
    let session = store.create_session("s", Default::default()).unwrap();
    (store, session)
}

/// A message list after `step` steps: each step adds ~300 bytes of fresh text.
fn messages(step: usize) -> Vec<u8> {
    let mut out = String::from("[");
    for i in 0..=step {
        if i > 0 {
            out.push(',');
        }
        let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut text = String::new();
        while text.len() < 300 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(&format!("{x:016x} "));
        }
        out.push_str(&format!("{{\"id\":{i},\"content\":\"{text}\"}}"));
    }
    out.push(']');
    out.into_bytes()
}

fn log_len(store: &S) -> u64 {
    store.backend().bytes().len() as u64
}

/// 300 checkpoints, each carrying the conversation so far as attachment "c:messages" written in
/// the checkpoint's transaction.
fn conversation(steps: usize) -> (S, Vec<CheckpointId>) {
    let (mut store, session) = new_store();
    let mut ids = Vec::new();
    for step in 0..steps {
        let value = messages(step);
        let state = format!("{{\"step\":{step}}}");
        let cp = store
            .checkpoint(
                NewCheckpoint::new(session, format!("step {step}"), state.as_bytes())
                    .attach("c:messages", "application/json", &value)
                    .attach("c:step", "application/json", state.as_bytes()),
            )
            .unwrap();
        ids.push(cp.id);
    }
    (store, ids)
}

fn assert_values(store: &S, ids: &[CheckpointId]) {
    for (step, id) in ids.iter().enumerate() {
        let (ct, bytes) = store.attachment(*id, "c:messages").unwrap().unwrap();
        assert_eq!(ct, "application/json");
        assert_eq!(bytes, messages(step), "value of step {step}");
    }
}

#[test]
fn a_growing_attachment_logs_only_its_new_tail() {
    let steps = 300;
    let (store, ids) = conversation(steps);
    let unique = messages(steps - 1).len() as u64;
    let sum: u64 = (0..steps).map(|s| messages(s).len() as u64).sum();
    let log = log_len(&store);
    // Without prefix sharing every value lists all of its chunks (~33 bytes per 256-byte chunk),
    // which over 300 steps is more than 20x the unique bytes. With sharing the log holds the
    // chunks (whose last one changes every step) and ~450 bytes of records per step.
    assert!(
        log < unique * 4,
        "log {log} bytes for {unique} unique bytes (sum of values {sum})"
    );
    assert_eq!(store.metrics().attachments, 2 * steps as u64);
    assert_values(&store, &ids);

    // Replaying the log rebuilds the same values.
    let reopened = open(store.backend().bytes().to_vec());
    assert_values(&reopened, &ids);
    let content = |s: &S| {
        let mut m = s.metrics();
        m.ops = Default::default();
        m
    };
    assert_eq!(content(&reopened), content(&store));
    assert!(reopened.verify().is_ok());
}

#[test]
fn store_attach_shares_the_parent_attachment_of_the_same_key() {
    let (mut store, session) = new_store();
    let mut ids = Vec::new();
    for step in 0..200 {
        let cp = store
            .checkpoint(NewCheckpoint::new(session, format!("step {step}"), b"{}"))
            .unwrap()
            .id;
        store
            .attach(cp, "c:messages", "application/json", &messages(step))
            .unwrap();
        ids.push(cp);
    }
    let unique = messages(199).len() as u64;
    assert!(log_len(&store) < unique * 4, "log {}", log_len(&store));
    assert_values(&open(store.backend().bytes().to_vec()), &ids);
}

#[test]
fn a_value_last_written_further_up_is_shared_through_an_explicit_base() {
    let (mut store, session) = new_store();
    let first = messages(40);
    let grown = messages(41);
    let a = store
        .checkpoint(NewCheckpoint::new(session, "a", b"{}").attach("v", "application/json", &first))
        .unwrap()
        .id;
    // b does not carry the value (LangGraph: the channel did not change).
    let b = store
        .checkpoint(NewCheckpoint::new(session, "b", b"{}"))
        .unwrap()
        .id;
    let before = log_len(&store);
    let c = store
        .checkpoint(
            NewCheckpoint::new(session, "c", b"{}")
                .parent(b)
                .attach_based_on("v", "application/json", &grown, a),
        )
        .unwrap()
        .id;
    let grew = log_len(&store) - before;
    // The new message (~330 bytes) and the checkpoint record, not the 13 KB value's 50+ chunk
    // references.
    assert!(grew < 1200, "the log grew by {grew} bytes");
    let reopened = open(store.backend().bytes().to_vec());
    assert_eq!(reopened.attachment(c, "v").unwrap().unwrap().1, grown);
    assert_eq!(reopened.attachment(a, "v").unwrap().unwrap().1, first);
}

#[test]
fn bad_attachments_refuse_the_whole_checkpoint() {
    let (mut store, session) = new_store();
    let before = store.backend().bytes().to_vec();
    let cases: Vec<(&str, NewCheckpoint<'_>)> = vec![
        (
            "a key given twice",
            NewCheckpoint::new(session, "m", b"{}")
                .attach("k", "text/plain", b"1")
                .attach("k", "text/plain", b"2"),
        ),
        (
            "an oversized key",
            NewCheckpoint::new(session, "m", b"{}").attach("k".repeat(10_000), "text/plain", b"1"),
        ),
    ];
    for (what, new) in cases {
        let err = store.checkpoint(new).unwrap_err();
        match what {
            "a key given twice" => assert!(matches!(err, Error::InvalidInput(_)), "{what}: {err}"),
            _ => assert!(matches!(err, Error::LimitExceeded { .. }), "{what}: {err}"),
        }
        assert_eq!(
            store.backend().bytes(),
            &before[..],
            "{what}: nothing written"
        );
        assert_eq!(store.metrics().checkpoints, 0, "{what}");
    }
    // A base that does not exist (compacted away meanwhile) only costs the sharing.
    let missing = CheckpointId::from_bytes([7; 16]);
    let id = store
        .checkpoint(NewCheckpoint::new(session, "m", b"{}").attach_based_on(
            "k",
            "text/plain",
            b"value",
            missing,
        ))
        .unwrap()
        .id;
    assert_eq!(store.attachment(id, "k").unwrap().unwrap().1, b"value");
}

#[test]
fn a_checkpoint_and_its_attachments_survive_a_crash_together_or_not_at_all() {
    let (mut store, session) = new_store();
    let first = store
        .checkpoint(NewCheckpoint::new(session, "first", b"{\"a\":1}"))
        .unwrap()
        .id;
    let before = store.backend().bytes().len();
    let value = messages(20);
    let id = store
        .checkpoint(
            NewCheckpoint::new(session, "second", b"{\"a\":2}")
                .attach("c:messages", "application/json", &value)
                .attach("w:task", "application/json", b"[1,2,3]"),
        )
        .unwrap()
        .id;
    let full = store.backend().bytes().to_vec();
    // Every crash point inside the append: the reopened store has the checkpoint with both
    // attachments, or none of it.
    for cut in before..full.len() {
        let reopened = open(full[..cut].to_vec());
        assert!(reopened.get(first).is_ok(), "cut at {cut}");
        assert!(
            reopened.get(id).is_err(),
            "cut at {cut} of {}: a partial transaction was replayed",
            full.len()
        );
    }
    let reopened = open(full);
    assert_eq!(
        reopened.attachment(id, "c:messages").unwrap().unwrap().1,
        value
    );
    assert_eq!(
        reopened.attachment(id, "w:task").unwrap().unwrap().1,
        b"[1,2,3]"
    );
}

#[test]
fn compaction_export_and_import_keep_shared_attachments_small_and_whole() {
    let steps = 200;
    let (mut store, ids) = conversation(steps);
    let unique = messages(steps - 1).len() as u64;

    // Remove every other checkpoint: survivors whose parent went keep their whole value.
    let plan_ids: Vec<CheckpointId> = ids.iter().copied().skip(1).step_by(2).collect();
    store.remove_checkpoints(&plan_ids).unwrap();
    let kept: Vec<(usize, CheckpointId)> = ids.iter().copied().enumerate().step_by(2).collect();
    let reopened = open(store.backend().bytes().to_vec());
    for (step, id) in &kept {
        assert_eq!(
            reopened.attachment(*id, "c:messages").unwrap().unwrap().1,
            messages(*step)
        );
    }

    // Keep the last 50 of a fresh conversation: a chain, so the rewrite shares prefixes again.
    let (mut store, ids) = conversation(steps);
    store.compact(&RetentionPolicy::keep_last(50)).unwrap();
    let reopened = open(store.backend().bytes().to_vec());
    for (step, id) in ids.iter().enumerate().skip(steps - 50) {
        assert_eq!(
            reopened.attachment(*id, "c:messages").unwrap().unwrap().1,
            messages(step)
        );
    }
    assert!(
        log_len(&store) < unique * 4,
        "compacted log {}",
        log_len(&store)
    );

    // Export and import (binary and JSON) into empty stores.
    let (mut store, ids) = conversation(steps);
    let binary = store.export_binary(None).unwrap();
    assert!(
        (binary.len() as u64) < unique * 4,
        "binary export {}",
        binary.len()
    );
    let mut copy = open(Vec::new());
    copy.import_binary(&binary).unwrap();
    assert!(
        log_len(&copy) < unique * 4,
        "log after a binary import {}",
        log_len(&copy)
    );
    assert_values(&copy, &ids);
    let json = store.export_json(None).unwrap();
    let mut copy = open(Vec::new());
    copy.import_json(json.as_bytes()).unwrap();
    assert!(
        log_len(&copy) < unique * 4,
        "log after a JSON import {}",
        log_len(&copy)
    );
    assert_values(&copy, &ids);
    assert_values(&open(copy.backend().bytes().to_vec()), &ids);
}

#[test]
fn an_import_naming_one_attachment_key_twice_is_rejected_and_the_store_still_opens() {
    // Found by fuzzing: the second attachment replaced the first inside the import's own
    // transaction, freeing chunks that later records of it referred to, so the log no longer
    // opened.
    let (mut source, ids) = conversation(3);
    let mut doc: serde_json::Value =
        serde_json::from_str(&source.export_json(None).unwrap()).unwrap();
    let checkpoint = &mut doc["checkpoints"][1];
    let first = checkpoint["attachments"][0].clone();
    let mut second = first.clone();
    second["data"] = serde_json::Value::String("[\"another value\"]".into());
    checkpoint["attachments"] = serde_json::json!([second, first]);
    let text = serde_json::to_string(&doc).unwrap();

    let (mut store, session) = new_store();
    store
        .checkpoint(NewCheckpoint::new(session, "own", b"{}"))
        .unwrap();
    let before = store.backend().bytes().to_vec();
    let err = store.import_json(text.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, Error::ImportRejected(m) if m.contains("appears twice")),
        "{err}"
    );
    assert_eq!(store.backend().bytes(), &before[..], "nothing written");
    let reopened = open(store.backend().bytes().to_vec());
    assert_eq!(reopened.metrics().checkpoints, 1);
    // The export itself imports.
    assert!(source.verify().is_ok());
    let mut copy = open(Vec::new());
    copy.import_json(source.export_json(None).unwrap().as_bytes())
        .unwrap();
    assert_values(&copy, &ids);
}
