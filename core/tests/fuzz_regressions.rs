//! Replays the fuzzing seeds and every saved crasher (fuzz/seeds, fuzz/regressions) through the
//! same checks as the fuzz targets, so a fixed crash stays fixed.

use std::fs;
use std::path::Path;

use rewind_core::{DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Query, Store};

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
                store
                    .state(id)
                    .unwrap_or_else(|e| panic!("{name}: state of {id}: {e}"));
            }
            assert!(store.verify().is_ok(), "{name}: an intact seed verifies");
            store.export_json(None).unwrap();
            store.vacuum().unwrap();
        }
    }
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
    }
}
