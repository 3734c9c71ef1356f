//! The conformance suite against core's `MemoryBackend`: the reference every other backend and
//! host is compared with.

rewind_core::conformance_tests!(rewind_core::conformance::MemoryHarness);

/// A log written by one store opens in a native program with the system environment and holds
/// the same history (the bytes are the portable format, not a per-host one).
#[test]
fn a_log_moves_to_the_native_host_unchanged() {
    use rewind_core::conformance::fingerprint;
    use rewind_core::{DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Store};

    let (mut store, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    let s = store.create_session("moving", Default::default()).unwrap();
    for i in 0..5 {
        let state = format!("{{\"step\":{i}}}");
        store
            .checkpoint(NewCheckpoint::new(s, format!("step {i}"), state.as_bytes()))
            .unwrap();
    }
    let expected = fingerprint(&store);
    let native = rewind_tests::open_native(store.into_backend().into_bytes()).unwrap();
    assert_eq!(fingerprint(&native), expected);
    assert!(native.verify().is_ok());
}

/// The scripted run's transcript is pinned in `tests/golden/transcript.txt`: every host (the
/// file store here, the npm package in Node.js and Chromium, the sandbox component) compares
/// its own run with this file, so any host that drifts — or any format change — shows up.
/// `REWIND_UPDATE_GOLDEN=1` rewrites it after an intended format change.
#[test]
fn transcript_matches_the_golden_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/transcript.txt");
    let here = rewind_core::conformance::transcript(&mut rewind_core::conformance::MemoryHarness);
    if std::env::var_os("REWIND_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &here).unwrap();
    }
    let golden = std::fs::read_to_string(&path).expect("tests/golden/transcript.txt");
    assert_eq!(
        here, golden,
        "the transcript changed: a format change, or a bug"
    );
}
