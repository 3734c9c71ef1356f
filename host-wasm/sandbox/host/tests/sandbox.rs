//! The rewind component in wasmtime: the engine's conformance scenarios, the same bytes as the
//! native engine, limits that stop a runaway plugin, file interop with the native store, and
//! bad input answered with the error variant rather than a trap.
//!
//! The component is built by `scripts/test.sh` (`cargo build --release --target wasm32-wasip2`
//! in host-wasm/sandbox/guest); `REWIND_SANDBOX_WASM` points elsewhere.

use std::path::PathBuf;

use rewind::{FileBackend, FileOptions, FileStore};
use rewind_core::api;
use rewind_core::conformance::parity;
use rewind_core::{DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Store};
use rewind_sandbox::{
    ErrorKind, Limits, Sandbox, SandboxError, StoreError, StoreOptions, SummaryFields, input,
    options, query, retention, summaries,
};

fn component_path() -> PathBuf {
    if let Some(path) = std::env::var_os("REWIND_SANDBOX_WASM") {
        return path.into();
    }
    let target = option_env!("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../target"));
    target.join("wasm32-wasip2/release/rewind_store.wasm")
}

fn sandbox(limits: Limits) -> Sandbox {
    let path = component_path();
    Sandbox::from_file(&path, limits).unwrap_or_else(|e| {
        panic!(
            "{e} (build it: cargo build --release --target wasm32-wasip2 --manifest-path host-wasm/sandbox/guest/Cargo.toml)"
        )
    })
}

/// The error kind of a store result (`None` when it succeeded).
fn kind<T>(result: Result<T, StoreError>) -> Option<ErrorKind> {
    result.err().map(|e| e.kind)
}

#[test]
fn the_conformance_scenarios_pass_inside_the_component() {
    let sandbox = sandbox(Limits::default());
    let names = sandbox.conformance_scenarios().unwrap();
    assert!(names.len() >= 13, "{names:?}");
    for name in names {
        match sandbox.run_conformance(&name) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{name}: {e}"),
            Err(trap) => panic!("{name}: {trap}"),
        }
    }
    let golden = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/golden/transcript.txt"),
    )
    .unwrap();
    assert_eq!(sandbox.conformance_transcript().unwrap(), golden);
}

/// The same operations through the component and natively, under the same deterministic
/// environment, write byte-identical logs.
/// A store in the component and a native one, both in memory with the same deterministic
/// environment: the same calls must give the same bytes.
fn plugin_and_native(
    sandbox: &Sandbox,
) -> (
    rewind_sandbox::SandboxStore,
    Store<MemoryBackend, DeterministicEnv>,
) {
    let plugin = sandbox
        .open(MemoryBackend::new(), DeterministicEnv::new(), &options())
        .unwrap()
        .unwrap();
    let (native, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default().event_capacity(0),
    )
    .unwrap();
    (plugin, native)
}

#[test]
fn the_component_writes_the_same_bytes_as_the_native_engine() {
    let sandbox = sandbox(Limits::default());
    let (mut plugin, mut native) = plugin_and_native(&sandbox);

    let s1 = plugin
        .create_session("agent", "{\"k\":1}")
        .unwrap()
        .unwrap();
    let s2 = native
        .create_session("agent", serde_json_object(r#"{"k":1}"#))
        .unwrap();
    assert_eq!(s1, s2.to_string());
    let mut ids = Vec::new();
    for i in 0..20 {
        let state = format!("{{\"messages\":[{}]}}", vec!["\"step\""; i + 1].join(","));
        let mut inp = input(&s1, &format!("step {i}"));
        inp.tags = vec!["t".into()];
        let a = plugin.checkpoint(&inp, state.as_bytes()).unwrap().unwrap();
        let b = native
            .checkpoint(NewCheckpoint::new(s2, format!("step {i}"), state.as_bytes()).tag("t"))
            .unwrap()
            .clone();
        assert_eq!(
            (a.id.as_str(), a.seq, a.hash.as_str()),
            (
                b.id.to_string().as_str(),
                b.seq,
                b.hash.to_string().as_str()
            )
        );
        ids.push(a.id);
    }
    plugin.restore(&ids[5]).unwrap().unwrap();
    native.restore(ids[5].parse().unwrap()).unwrap();
    let mut keep_5 = retention();
    keep_5.keep_last = Some(5);
    assert_eq!(
        plugin.compact(&keep_5).unwrap().unwrap().removed,
        native
            .compact(&rewind_core::RetentionPolicy::keep_last(5))
            .unwrap()
            .removed
    );
    // The dry run, annotations, children, health and events cross the boundary typed.
    let mut keep_3 = retention();
    keep_3.keep_last = Some(3);
    let plan = plugin.plan_compaction(&keep_3).unwrap().unwrap();
    assert_eq!(plan.remove.len(), 2);
    plugin
        .annotate(&ids[19], "look", "critical")
        .unwrap()
        .unwrap();
    assert_eq!(
        plugin.annotations(&ids[19]).unwrap().unwrap()[0].severity,
        "critical"
    );
    assert!(plugin.children(&ids[19]).unwrap().unwrap().is_empty());
    assert!(plugin.health().unwrap().ok);
    let events = plugin.drain_events().unwrap();
    assert!(matches!(events.last(), Some(rewind_sandbox::Event::Annotated(id)) if *id == ids[19]));
    // The same calls natively (planning reads the clock), so both logs stay identical.
    assert_eq!(
        native
            .plan_compaction(&rewind_core::RetentionPolicy::keep_last(3))
            .unwrap()
            .remove
            .len(),
        2
    );
    native
        .annotate(
            ids[19].parse().unwrap(),
            "look",
            rewind_core::Severity::Critical,
        )
        .unwrap();
    let exported = plugin.export_binary().unwrap().unwrap();
    assert_eq!(exported, native.export_binary(None).unwrap());
    let backend = plugin.into_backend();
    drop(backend);
}

#[test]
fn packed_summaries_carry_what_list_returns_and_what_the_native_engine_lists() {
    let sandbox = sandbox(Limits::default());
    let (mut plugin, mut native) = plugin_and_native(&sandbox);
    let session = plugin.create_session("agent", "").unwrap().unwrap();
    native.create_session("agent", Default::default()).unwrap();
    for i in 0..30 {
        let mut new = input(&session, &format!("step {i} ✓"));
        new.tags = (0..i % 4).map(|t| format!("tag-{t}")).collect();
        let state = format!("{{\"step\":{i}}}");
        plugin.checkpoint(&new, state.as_bytes()).unwrap().unwrap();
        let tags: Vec<String> = new.tags.clone();
        let id: rewind_core::SessionId = session.parse().unwrap();
        native
            .checkpoint(NewCheckpoint::new(id, new.message.clone(), state.as_bytes()).tags(tags))
            .unwrap();
    }
    let mut q = query();
    q.limit = Some(12);
    let full = plugin.list(&q).unwrap().unwrap();
    let every = SummaryFields {
        message: true,
        tags: true,
    };
    let packed = plugin.list_summaries(&q, every).unwrap().unwrap();
    let brief = summaries(&packed).unwrap();
    assert_eq!(brief.len(), 12);
    assert_eq!(packed.next, full.next, "the same cursor");
    for (s, cp) in brief.iter().zip(&full.items) {
        let tags: Vec<&str> = s.tags.clone().collect();
        assert_eq!(
            (s.id.to_string(), s.seq, s.created_at, s.message, tags),
            (
                cp.id.clone(),
                cp.seq,
                cp.created_at,
                cp.message.as_str(),
                cp.tags.iter().map(String::as_str).collect()
            )
        );
        assert_eq!(s.to_owned().tags, cp.tags);
    }
    let native_page = native.list(&rewind_core::Query::new().limit(12)).unwrap();
    let native_ids: Vec<String> = native_page.items.iter().map(|c| c.id.to_string()).collect();
    let plugin_ids: Vec<String> = brief.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(plugin_ids, native_ids);
    // Ids and seqs only: the same checkpoints, nothing else packed.
    let ids_page = plugin
        .list_summaries(
            &q,
            SummaryFields {
                message: false,
                tags: false,
            },
        )
        .unwrap()
        .unwrap();
    let ids_only = summaries(&ids_page).unwrap();
    assert!(ids_page.items.len() < packed.items.len());
    assert_eq!(
        ids_only.iter().map(|s| (s.id, s.seq)).collect::<Vec<_>>(),
        brief.iter().map(|s| (s.id, s.seq)).collect::<Vec<_>>()
    );
    assert!(
        ids_only
            .iter()
            .all(|s| s.message.is_empty() && s.tags.len() == 0)
    );
    // Filters apply as in `list`.
    q.tags_all = vec!["tag-2".into()];
    q.limit = None;
    let tagged_page = plugin.list_summaries(&q, every).unwrap().unwrap();
    let tagged = summaries(&tagged_page).unwrap();
    assert!(!tagged.is_empty() && tagged.iter().all(|mut s| s.tags.any(|t| t == "tag-2")));
    assert_eq!(tagged.len(), plugin.list(&q).unwrap().unwrap().items.len());
}

#[test]
fn states_read_by_the_host_are_those_the_component_reads_and_restores_move_heads_alike() {
    let sandbox = sandbox(Limits::default());
    let (mut plugin, mut native) = plugin_and_native(&sandbox);
    let session = plugin.create_session("agent", "").unwrap().unwrap();
    let native_session = native.create_session("agent", Default::default()).unwrap();
    // One state in one run, one whose second half repeats its first (its runs go back to
    // earlier positions), and one below the smallest chunk.
    let long: String = (0..400).map(|i| format!("{{\"turn\":{i}}},")).collect();
    let states = [
        long.clone().into_bytes(),
        format!("[{long}{long}]").into_bytes(),
        b"{}".to_vec(),
    ];
    let mut ids = Vec::new();
    for (i, state) in states.iter().enumerate() {
        let message = format!("step {i}");
        ids.push(
            plugin
                .checkpoint(&input(&session, &message), state)
                .unwrap()
                .unwrap()
                .id,
        );
        native
            .checkpoint(NewCheckpoint::new(native_session, message, state))
            .unwrap();
    }
    assert!(plugin.state_runs(&ids[1]).unwrap().unwrap().len() > 1);
    for (id, state) in ids.iter().zip(&states) {
        assert_eq!(&plugin.state(id).unwrap().unwrap(), state);
        assert_eq!(&plugin.state_copied(id).unwrap().unwrap(), state);
        assert_eq!(&native.state(id.parse().unwrap()).unwrap(), state);
    }
    // Both kinds of restore move the head as the native one does: the next checkpoint forks
    // there, and the logs stay byte-identical.
    for (restored, copied) in [(true, false), (false, true)] {
        let id = if restored { &ids[0] } else { &ids[1] };
        let bytes = if copied {
            plugin.restore_copied(id).unwrap().unwrap()
        } else {
            plugin.restore(id).unwrap().unwrap()
        };
        assert_eq!(&native.restore(id.parse().unwrap()).unwrap().state, &bytes);
        let next = plugin
            .checkpoint(&input(&session, "fork"), b"[1]")
            .unwrap()
            .unwrap();
        assert_eq!(next.parent.as_deref(), Some(id.as_str()));
        native
            .checkpoint(NewCheckpoint::new(native_session, "fork", b"[1]"))
            .unwrap();
    }
    assert_eq!(
        plugin.export_binary().unwrap().unwrap(),
        native.export_binary(None).unwrap()
    );
    let ghost = "01900000-0000-7000-8000-000000000000";
    assert_eq!(
        kind(plugin.restore(ghost).unwrap()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        kind(plugin.state("not an id").unwrap()),
        Some(ErrorKind::InvalidInput)
    );
}

#[test]
fn checkpoints_with_attachments_match_the_native_engine() {
    let sandbox = sandbox(Limits::default());
    let (mut plugin, mut native) = plugin_and_native(&sandbox);
    let s1 = plugin.create_session("agent", "").unwrap().unwrap();
    let s2 = native.create_session("agent", Default::default()).unwrap();
    // A value that grows every step, written with each checkpoint: the component and the
    // native engine make the same records (same derived attachments, same hashes).
    let mut messages = Vec::new();
    let mut ids = Vec::new();
    for i in 0..30 {
        messages.push(format!("\"message {i}: {}\"", "lorem ipsum ".repeat(20)));
        let value = format!("[{}]", messages.join(","));
        let state = format!("{{\"step\":{i}}}");
        let attachments = [rewind_sandbox::NewAttachment {
            key: "c:messages".into(),
            content_type: "application/json".into(),
            bytes: value.clone().into_bytes(),
            base: None,
        }];
        let a = plugin
            .checkpoint_with(&input(&s1, "step"), state.as_bytes(), &attachments)
            .unwrap()
            .unwrap();
        let b = native
            .checkpoint(NewCheckpoint::new(s2, "step", state.as_bytes()).attach(
                "c:messages",
                "application/json",
                value.as_bytes(),
            ))
            .unwrap()
            .id;
        assert_eq!(a.id, b.to_string());
        assert_eq!(
            plugin.attachment(&a.id, "c:messages").unwrap().unwrap(),
            Some(value.into_bytes())
        );
        ids.push(a.id);
    }
    assert_eq!(
        plugin.export_binary().unwrap().unwrap(),
        native.export_binary(None).unwrap()
    );
    // Bad attachments are the error variant, and nothing is written.
    let twice = [
        rewind_sandbox::NewAttachment {
            key: "k".into(),
            content_type: "text/plain".into(),
            bytes: b"1".to_vec(),
            base: None,
        },
        rewind_sandbox::NewAttachment {
            key: "k".into(),
            content_type: "text/plain".into(),
            bytes: b"2".to_vec(),
            base: Some(ids[0].clone()),
        },
    ];
    let before = plugin.metrics().unwrap().checkpoints;
    assert_eq!(
        kind(
            plugin
                .checkpoint_with(&input(&s1, "bad"), b"{}", &twice)
                .unwrap()
        ),
        Some(ErrorKind::InvalidInput)
    );
    assert_eq!(plugin.metrics().unwrap().checkpoints, before);
}

fn serde_json_object(text: &str) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(text).unwrap() {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("test input is an object"),
    }
}

#[test]
fn a_store_written_by_the_component_opens_natively_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let sandbox = sandbox(Limits::default());
    let (session, written) = {
        let backend = FileBackend::open(&path, 64 * 1024).unwrap();
        let mut plugin = sandbox
            .open(backend, rewind::SystemEnv::new(), &options())
            .unwrap()
            .unwrap();
        let session = plugin.create_session("plugin", "").unwrap().unwrap();
        let mut written = Vec::new();
        for i in 0..30 {
            let state = vec![i as u8; 1000 + i * 100];
            let cp = plugin
                .checkpoint(&input(&session, &format!("plugin step {i}")), &state)
                .unwrap()
                .unwrap();
            written.push((cp.id, cp.hash, state));
        }
        plugin.flush().unwrap().unwrap();
        (session, written)
    };
    // Natively, with the file store.
    {
        let mut native = FileStore::open(&path, FileOptions::default()).unwrap();
        for (id, hash, state) in &written {
            let id = id.parse().unwrap();
            assert_eq!(native.get(id).unwrap().hash.to_string(), *hash);
            assert_eq!(&native.state(id).unwrap(), state);
        }
        assert!(native.verify().is_ok());
        native
            .checkpoint(NewCheckpoint::new(
                session.parse().unwrap(),
                "native step",
                b"{}",
            ))
            .unwrap();
    }
    // And back into the component.
    let backend = FileBackend::open(&path, 64 * 1024).unwrap();
    let mut plugin = sandbox
        .open(backend, rewind::SystemEnv::new(), &options())
        .unwrap()
        .unwrap();
    assert_eq!(plugin.metrics().unwrap().checkpoints, 31);
    let latest = plugin.latest(&session).unwrap().unwrap().unwrap();
    assert_eq!(latest.message, "native step");
    let verified = plugin.verify().unwrap();
    assert_eq!(verified.checkpoints, 31);
    assert!(verified.first_error.is_none(), "{:?}", verified.first_error);
}

#[test]
fn a_plugin_out_of_fuel_or_memory_is_stopped_and_the_host_goes_on() {
    // Fuel: enough to open, not enough to chunk and hash a large state.
    let tight = sandbox(Limits {
        fuel_per_call: 50_000_000,
        ..Limits::default()
    });
    let mut plugin = tight
        .open(MemoryBackend::new(), DeterministicEnv::new(), &options())
        .unwrap()
        .unwrap();
    let s = plugin.create_session("s", "").unwrap().unwrap();
    let big = vec![7u8; 8 << 20];
    match plugin.checkpoint(&input(&s, "too much work"), &big) {
        Err(SandboxError::Trap(why)) => assert!(why.contains("fuel"), "{why}"),
        other => panic!("expected a fuel trap, got {other:?}"),
    }
    assert!(matches!(plugin.metrics(), Err(SandboxError::Poisoned)));
    // The host goes on: the backend comes back, and a new instance opens it.
    let backend = plugin.into_backend();
    drop(backend);
    let mut again = tight
        .open(MemoryBackend::new(), DeterministicEnv::new(), &options())
        .unwrap()
        .unwrap();
    assert!(again.create_session("fresh", "").unwrap().is_ok());

    // Memory: an instance capped at 16 MiB cannot take a 32 MiB state.
    let small = sandbox(Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    });
    let mut plugin = small
        .open(MemoryBackend::new(), DeterministicEnv::new(), &options())
        .unwrap()
        .unwrap();
    let s = plugin.create_session("s", "").unwrap().unwrap();
    let huge = vec![1u8; 32 << 20];
    assert!(matches!(
        plugin.checkpoint(&input(&s, "huge"), &huge),
        Err(SandboxError::Trap(_))
    ));
    let mut again = small
        .open(MemoryBackend::new(), DeterministicEnv::new(), &options())
        .unwrap()
        .unwrap();
    let s = again.create_session("after", "").unwrap().unwrap();
    assert!(
        again
            .checkpoint(&input(&s, "small"), b"{}")
            .unwrap()
            .is_ok()
    );
}

#[test]
fn bad_input_returns_the_error_variant_never_a_trap() {
    let sandbox = sandbox(Limits::default());
    let mut plugin = sandbox
        .open(
            MemoryBackend::new(),
            DeterministicEnv::new(),
            &StoreOptions {
                max_state_bytes: Some(100),
                ..options()
            },
        )
        .unwrap()
        .unwrap();
    let s = plugin.create_session("s", "").unwrap().unwrap();
    let ghost = "01900000-0000-7000-8000-000000000000";
    assert_eq!(kind(plugin.get(ghost).unwrap()), Some(ErrorKind::NotFound));
    assert_eq!(
        kind(plugin.state(ghost).unwrap()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        kind(plugin.get("not an id").unwrap()),
        Some(ErrorKind::InvalidInput)
    );
    assert_eq!(
        kind(plugin.checkpoint(&input(&s, "big"), &[0u8; 101]).unwrap()),
        Some(ErrorKind::LimitExceeded)
    );
    assert_eq!(
        kind(plugin.checkpoint(&input(&s, "   "), b"{}").unwrap()),
        Some(ErrorKind::InvalidInput)
    );
    let mut bad_meta = input(&s, "meta");
    bad_meta.metadata = "[1,2]".into();
    assert_eq!(
        kind(plugin.checkpoint(&bad_meta, b"{}").unwrap()),
        Some(ErrorKind::InvalidInput)
    );
    assert_eq!(
        kind(plugin.import_binary(b"definitely not a log").unwrap()),
        Some(ErrorKind::Corrupt)
    );
    assert_eq!(
        kind(plugin.import_json("{").unwrap()),
        Some(ErrorKind::ImportRejected)
    );
    assert_eq!(plugin.metrics().unwrap().checkpoints, 0);
    let mut q = query();
    q.cursor = Some("garbage".into());
    assert_eq!(
        kind(plugin.list(&q).unwrap()),
        Some(ErrorKind::InvalidInput)
    );

    // Corrupt records handed in by the backend: a clear error from open, not a trap.
    let (mut native, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    let sid = native.create_session("n", Default::default()).unwrap();
    native
        .checkpoint(NewCheckpoint::new(sid, "c", b"{}"))
        .unwrap();
    let mut bytes = native.into_backend().into_bytes();
    // Inside the first record's payload, with whole records after it: corruption.
    bytes[16 + 8 + 2] ^= 0xff;
    match sandbox.open(
        MemoryBackend::from_bytes(bytes),
        DeterministicEnv::new(),
        &options(),
    ) {
        Ok(Err(StoreError {
            kind: ErrorKind::Storage | ErrorKind::Corrupt,
            ..
        })) => {}
        other => panic!(
            "expected a store error, got {:?}",
            other.map(|r| r.map(|_| ()))
        ),
    }
}

/// The component as a parity host: the scenario's inputs filled into the WIT records a plugin
/// host would build, and what comes back read from the WIT records.
struct Plugin(rewind_sandbox::SandboxStore);

fn failure(e: StoreError) -> parity::Failure {
    let kind = match e.kind {
        ErrorKind::NotFound => "notFound",
        ErrorKind::InvalidInput => "invalidInput",
        ErrorKind::LimitExceeded => "limitExceeded",
        ErrorKind::Corrupt => "corrupt",
        ErrorKind::HashMismatch => "hashMismatch",
        ErrorKind::ImportRejected => "importRejected",
        ErrorKind::Storage => "storage",
    };
    parity::Failure {
        code: e.code,
        kind: kind.into(),
    }
}

/// A trigger kind by name; `None` for a name the typed WIT enum cannot hold.
fn trigger_kind(name: &str) -> Option<rewind_sandbox::TriggerKind> {
    match name {
        "manual" => Some(rewind_sandbox::TriggerKind::Manual),
        "automatic" => Some(rewind_sandbox::TriggerKind::Automatic),
        "scheduled" => Some(rewind_sandbox::TriggerKind::Scheduled),
        _ => None,
    }
}

impl Plugin {
    fn input(input: api::CheckpointInput) -> rewind_sandbox::CheckpointInput {
        let mut out = rewind_sandbox::input(&input.session, &input.message);
        out.content_type = input.content_type;
        out.tags = input.tags;
        out.metadata = serde_json::to_string(&input.metadata).unwrap();
        out.trigger = match input.trigger {
            None => rewind_sandbox::Trigger::Manual,
            Some(t) => match t.kind.as_str() {
                "automatic" => rewind_sandbox::Trigger::Automatic(t.reason.unwrap_or_default()),
                "scheduled" => rewind_sandbox::Trigger::Scheduled,
                _ => rewind_sandbox::Trigger::Manual,
            },
        };
        out.parent = input.parent;
        out.root = input.root;
        out.namespace = input.namespace.unwrap_or_default();
        out.id = input.id;
        out.created_at = input.created_at;
        out
    }

    fn call<T>(result: Result<Result<T, StoreError>, SandboxError>) -> Result<T, parity::Failure> {
        result
            .unwrap_or_else(|trap| panic!("the component trapped: {trap}"))
            .map_err(failure)
    }
}

impl parity::ParityHost for Plugin {
    fn now_ms(&mut self) -> u64 {
        rewind_core::Env::now_ms(&mut rewind::SystemEnv::new())
    }

    fn create_session(
        &mut self,
        name: &str,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, parity::Failure> {
        let metadata = serde_json::to_string(&metadata).unwrap();
        Self::call(self.0.create_session(name, &metadata))
    }

    fn checkpoint(
        &mut self,
        input: api::CheckpointInput,
        state: &[u8],
    ) -> Result<String, parity::Failure> {
        Self::call(self.0.checkpoint(&Self::input(input), state)).map(|c| c.id)
    }

    fn auto_checkpoint(
        &mut self,
        input: api::CheckpointInput,
        state: &[u8],
        reason: &str,
    ) -> Result<Option<String>, parity::Failure> {
        Self::call(self.0.auto_checkpoint(&Self::input(input), state, reason))
            .map(|c| c.map(|c| c.id))
    }

    fn annotate(&mut self, id: &str, note: &str, severity: &str) -> Result<(), parity::Failure> {
        Self::call(self.0.annotate(id, note, severity))
    }

    fn restore(&mut self, id: &str) -> Result<(), parity::Failure> {
        Self::call(self.0.restore(id)).map(|_| ())
    }

    fn import_json(&mut self, text: &str) -> Result<(), parity::Failure> {
        Self::call(self.0.import_json(text)).map(|_| ())
    }

    fn import_binary(&mut self, bytes: &[u8]) -> Result<(), parity::Failure> {
        Self::call(self.0.import_binary(bytes)).map(|_| ())
    }

    fn list(
        &mut self,
        q: api::QueryInput,
    ) -> Result<(Vec<String>, Option<String>), parity::Failure> {
        let mut query = query();
        query.session = q.session;
        query.namespace = q.namespace;
        query.tags_all = q.tags;
        query.tags_any = q.tags_any;
        query.triggers = q
            .triggers
            .iter()
            .map(|t| trigger_kind(t).ok_or_else(parity::Failure::unrepresentable))
            .collect::<Result<_, _>>()?;
        query.metadata = q
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        query.seq_min = q.seq_min;
        query.seq_max = q.seq_max;
        query.time_from = q.time_from;
        query.time_to = q.time_to;
        query.before = q.before;
        if q.order.as_deref() == Some("asc") {
            query.order = rewind_sandbox::Order::Ascending;
        }
        query.limit = q.limit.map(|n| n as u32);
        query.cursor = q.cursor;
        let page = Self::call(self.0.list(&query))?;
        Ok((page.items.into_iter().map(|c| c.id).collect(), page.next))
    }

    fn plan(
        &mut self,
        p: api::RetentionInput,
    ) -> Result<(Vec<(String, String)>, Vec<(String, String)>), parity::Failure> {
        let mut policy = retention();
        policy.keep_last = p.keep_last.map(|n| n as u32);
        policy.keep_tags = p.keep_tags;
        policy.max_age_ms = p.max_age_ms;
        policy.max_bytes = p.max_bytes;
        policy.sessions = p.sessions;
        policy.protect_heads = p.protect_heads.unwrap_or(true);
        policy.protect_critical = p.protect_critical.unwrap_or(true);
        let plan = Self::call(self.0.plan_compaction(&policy))?;
        let removal = |r: rewind_sandbox::RemovalReason| match r {
            rewind_sandbox::RemovalReason::BeyondKeepLast => "beyondKeepLast",
            rewind_sandbox::RemovalReason::Untagged => "untagged",
            rewind_sandbox::RemovalReason::TooOld => "tooOld",
            rewind_sandbox::RemovalReason::OverBudget => "overBudget",
        };
        let kept = |r: rewind_sandbox::KeepReason| match r {
            rewind_sandbox::KeepReason::Head => "head",
            rewind_sandbox::KeepReason::Critical => "critical",
            rewind_sandbox::KeepReason::Tagged => "tagged",
        };
        Ok((
            plan.remove
                .into_iter()
                .map(|r| (r.id, removal(r.reason).into()))
                .collect(),
            plan.protected
                .into_iter()
                .map(|k| (k.id, kept(k.reason).into()))
                .collect(),
        ))
    }
}

#[test]
fn parity_every_filter_flag_option_and_error_kind_through_the_wit_interface() {
    let sandbox = sandbox(Limits::default());
    let o = parity::options();
    let options = StoreOptions {
        max_tags: o.max_tags,
        max_message_bytes: o.max_message_bytes,
        auto_min_interval_ms: o.auto_min_interval_ms,
        auto_counts: o
            .auto_counts
            .map(|kinds| kinds.iter().filter_map(|k| trigger_kind(k)).collect()),
        event_capacity: o.event_capacity.map(|n| n as u32),
        ..options()
    };
    let store = sandbox
        .open(MemoryBackend::new(), rewind::SystemEnv::new(), &options)
        .unwrap()
        .unwrap();
    let mut plugin = Plugin(store);
    let problems = parity::run(&mut plugin);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The store opened on an empty log: the report crosses the boundary.
    let report = plugin.0.load_report().unwrap();
    assert_eq!((report.frames, report.truncated_bytes), (0, 0));
}

#[test]
fn the_component_opens_through_the_index_snapshot_the_host_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let sandbox = sandbox(Limits::default());
    let open = || {
        let backend = FileBackend::open(&path, 64 * 1024).unwrap();
        sandbox
            .open(backend, rewind::SystemEnv::new(), &options())
            .unwrap()
            .unwrap()
    };
    let mut written = Vec::new();
    let session = {
        let mut plugin = open();
        let report = plugin.load_report().unwrap();
        assert!(!report.snapshot_used);
        let session = plugin.create_session("plugin", "").unwrap().unwrap();
        for i in 0..200 {
            // ~600 B of its own per state: the log grows past what makes a snapshot due.
            let state = format!(
                "{{\"step\":{i},\"notes\":\"{}\"}}",
                format!("{i:06}-").repeat(80)
            );
            let cp = plugin
                .checkpoint(&input(&session, &format!("step {i}")), state.as_bytes())
                .unwrap()
                .unwrap();
            written.push((cp.id, cp.hash, state));
        }
        assert!(plugin.persist_index().unwrap().unwrap());
        // Nothing new since: nothing to write.
        assert!(!plugin.persist_index().unwrap().unwrap());
        session
    };
    assert!(path.join(rewind::INDEX_FILE).exists());

    let check = |plugin: &mut rewind_sandbox::SandboxStore,
                 written: &[(String, String, String)]| {
        assert_eq!(plugin.metrics().unwrap().checkpoints, written.len() as u64);
        for (id, hash, state) in written {
            assert_eq!(&plugin.get(id).unwrap().unwrap().hash, hash);
            assert_eq!(plugin.state(id).unwrap().unwrap(), state.as_bytes());
        }
        let verified = plugin.verify().unwrap();
        assert!(verified.first_error.is_none(), "{:?}", verified.first_error);
    };
    // Reopened: from the snapshot, nothing replayed.
    {
        let mut plugin = open();
        let report = plugin.load_report().unwrap();
        assert!(report.snapshot_used, "{report:?}");
        assert_eq!(report.frames, 0);
        check(&mut plugin, &written);
        // A write after it: the next open replays it on top of the snapshot (or its delta).
        let cp = plugin
            .checkpoint(&input(&session, "after"), b"{}")
            .unwrap()
            .unwrap();
        written.push((cp.id, cp.hash, "{}".into()));
    }
    {
        let mut plugin = open();
        let report = plugin.load_report().unwrap();
        assert!(report.snapshot_used, "{report:?}");
        assert!(report.frames > 0);
        check(&mut plugin, &written);
    }
    // The native store reads the same snapshot.
    {
        let native = FileStore::open_read_only(&path, FileOptions::default()).unwrap();
        assert_eq!(native.metrics().checkpoints, 201);
    }
    // A damaged snapshot is not used, and says why; the log is replayed.
    let index = path.join(rewind::INDEX_FILE);
    let mut bytes = std::fs::read(&index).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&index, bytes).unwrap();
    let mut plugin = open();
    let report = plugin.load_report().unwrap();
    assert!(!report.snapshot_used);
    assert!(report.snapshot_problem.is_some(), "{report:?}");
    check(&mut plugin, &written);
}
