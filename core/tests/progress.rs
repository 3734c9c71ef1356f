//! Long operations tell a progress callback how far they have come: verify, compaction and
//! vacuum, exports and imports, each from 0 up to every checkpoint they handle, in order.

use std::sync::{Arc, Mutex};

use rewind_core::{
    DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Progress, RetentionPolicy, Store,
};

type S = Store<MemoryBackend, DeterministicEnv>;

fn store(n: u64) -> S {
    let (mut store, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    let s = store.create_session("s", Default::default()).unwrap();
    for i in 0..n {
        let state = format!("{{\"i\":{i}}}");
        store
            .checkpoint(NewCheckpoint::new(s, "m", state.as_bytes()))
            .unwrap();
    }
    store
}

/// Runs `work` with a recording callback; returns what it was told.
fn told<T>(store: &mut S, work: impl FnOnce(&mut S) -> T) -> Vec<Progress> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    store.set_progress(Some(Box::new(move |p| sink.lock().unwrap().push(p))));
    work(store);
    store.set_progress(None);
    seen.lock().unwrap().clone()
}

#[track_caller]
fn counts_up_to(seen: &[Progress], total: u64) {
    assert!(!seen.is_empty(), "no progress was reported");
    assert!(seen.iter().all(|p| p.total == total), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done), "{seen:?}");
    assert_eq!(seen.first().unwrap().done, 0);
    assert_eq!(seen.last().unwrap().done, total, "it ends at its total");
}

#[test]
fn long_operations_report_their_progress() {
    let mut s = store(40);
    counts_up_to(&told(&mut s, |s| assert!(s.verify().is_ok())), 40);
    let mut binary = Vec::new();
    counts_up_to(
        &told(&mut s, |s| binary = s.export_binary(None).unwrap()),
        40,
    );
    let mut json = String::new();
    counts_up_to(&told(&mut s, |s| json = s.export_json(None).unwrap()), 40);
    counts_up_to(&told(&mut s, |s| s.vacuum().unwrap()), 40);
    // A compaction rewrites what it keeps.
    counts_up_to(
        &told(&mut s, |s| {
            s.compact(&RetentionPolicy::keep_last(10)).unwrap();
        }),
        10,
    );
    // Imports count the checkpoints they bring in.
    let mut other = store(0);
    counts_up_to(&told(&mut other, |o| o.import_binary(&binary).unwrap()), 40);
    let mut other = store(0);
    counts_up_to(
        &told(&mut other, |o| o.import_json(json.as_bytes()).unwrap()),
        40,
    );
    // Without a callback nothing is told, and the store is the same.
    assert!(told(&mut s, |_| ()).is_empty());
}
