//! The rewind component in wasmtime: the engine's conformance scenarios, the same bytes as the
//! native engine, limits that stop a runaway plugin, file interop with the native store, and
//! bad input answered with the error variant rather than a trap.
//!
//! The component is built by `scripts/test.sh` (`cargo build --release --target wasm32-wasip2`
//! in host-wasm/sandbox/guest); `REWIND_SANDBOX_WASM` points elsewhere.

use std::path::PathBuf;

use rewind::{FileBackend, FileOptions, FileStore};
use rewind_core::{DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Store};
use rewind_sandbox::{Limits, Retention, Sandbox, SandboxError, StoreError, input, query};

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

struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "rewind-sandbox-{label}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
        .open(MemoryBackend::new(), DeterministicEnv::new(), "")
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
    assert_eq!(
        plugin
            .compact(&Retention {
                keep_last: Some(5),
                keep_tags: vec![],
                max_age_ms: None,
                max_bytes: None
            })
            .unwrap()
            .unwrap(),
        native
            .compact(&rewind_core::RetentionPolicy::keep_last(5))
            .unwrap()
            .removed
    );
    // The dry run, annotations, children, health and events cross the boundary typed.
    let plan = plugin
        .plan_compaction(&Retention {
            keep_last: Some(3),
            keep_tags: vec![],
            max_age_ms: None,
            max_bytes: None,
        })
        .unwrap()
        .unwrap();
    assert_eq!(plan.len(), 2);
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
    assert!(matches!(
        plugin
            .checkpoint_with(&input(&s1, "bad"), b"{}", &twice)
            .unwrap(),
        Err(StoreError::InvalidInput(_))
    ));
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
    let dir = TempDir::new("interop");
    let path = dir.0.join("store");
    let sandbox = sandbox(Limits::default());
    let (session, written) = {
        let backend = FileBackend::open(&path, 64 * 1024).unwrap();
        let mut plugin = sandbox
            .open(backend, rewind::SystemEnv::new(), "")
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
        .open(backend, rewind::SystemEnv::new(), "")
        .unwrap()
        .unwrap();
    assert_eq!(plugin.metrics().unwrap().checkpoints, 31);
    let latest = plugin.latest(&session).unwrap().unwrap().unwrap();
    assert_eq!(latest.message, "native step");
    assert_eq!(plugin.verify().unwrap(), None);
}

#[test]
fn a_plugin_out_of_fuel_or_memory_is_stopped_and_the_host_goes_on() {
    // Fuel: enough to open, not enough to chunk and hash a large state.
    let tight = sandbox(Limits {
        fuel_per_call: 50_000_000,
        ..Limits::default()
    });
    let mut plugin = tight
        .open(MemoryBackend::new(), DeterministicEnv::new(), "")
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
        .open(MemoryBackend::new(), DeterministicEnv::new(), "")
        .unwrap()
        .unwrap();
    assert!(again.create_session("fresh", "").unwrap().is_ok());

    // Memory: an instance capped at 16 MiB cannot take a 32 MiB state.
    let small = sandbox(Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    });
    let mut plugin = small
        .open(MemoryBackend::new(), DeterministicEnv::new(), "")
        .unwrap()
        .unwrap();
    let s = plugin.create_session("s", "").unwrap().unwrap();
    let huge = vec![1u8; 32 << 20];
    assert!(matches!(
        plugin.checkpoint(&input(&s, "huge"), &huge),
        Err(SandboxError::Trap(_))
    ));
    let mut again = small
        .open(MemoryBackend::new(), DeterministicEnv::new(), "")
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
            r#"{"maxStateBytes": 100}"#,
        )
        .unwrap()
        .unwrap();
    let s = plugin.create_session("s", "").unwrap().unwrap();
    let ghost = "01900000-0000-7000-8000-000000000000";
    assert!(matches!(
        plugin.get(ghost).unwrap(),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        plugin.state(ghost).unwrap(),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        plugin.get("not an id").unwrap(),
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        plugin.checkpoint(&input(&s, "big"), &[0u8; 101]).unwrap(),
        Err(StoreError::LimitExceeded(_))
    ));
    assert!(matches!(
        plugin.checkpoint(&input(&s, "   "), b"{}").unwrap(),
        Err(StoreError::InvalidInput(_))
    ));
    let mut bad_meta = input(&s, "meta");
    bad_meta.metadata = "[1,2]".into();
    assert!(matches!(
        plugin.checkpoint(&bad_meta, b"{}").unwrap(),
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        plugin.import_binary(b"definitely not a log").unwrap(),
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        plugin.import_json("{").unwrap(),
        Err(StoreError::ImportRejected(_))
    ));
    assert_eq!(plugin.metrics().unwrap().checkpoints, 0);
    let mut q = query();
    q.cursor = Some("garbage".into());
    assert!(matches!(
        plugin.list(&q).unwrap(),
        Err(StoreError::InvalidInput(_))
    ));

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
        "",
    ) {
        Ok(Err(StoreError::Storage(_) | StoreError::Corrupt(_))) => {}
        other => panic!(
            "expected a store error, got {:?}",
            other.map(|r| r.map(|_| ()))
        ),
    }
}
