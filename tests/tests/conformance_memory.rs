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
