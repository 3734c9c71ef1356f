//! How many backend reads a state costs: chunks that lie next to each other in the log are read
//! with one call (one pread on files, one host call from a sandbox component).

use std::cell::Cell;

use rewind_core::backend::{LoadReport, Visitor};
use rewind_core::{
    Backend, BackendError, DeterministicEnv, Error, MemoryBackend, NewCheckpoint, Options, Store,
};

/// A memory backend that counts `read_at` calls.
#[derive(Default)]
struct Counting {
    inner: MemoryBackend,
    reads: Cell<u64>,
}

impl Backend for Counting {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        self.inner.append(frames)
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        self.inner.sync()
    }
    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, Error> {
        self.inner.load(visit)
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        self.reads.set(self.reads.get() + 1);
        self.inner.read_at(pos, buf)
    }
    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        self.inner.begin_rewrite()
    }
    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        self.inner.rewrite_append(frames)
    }
    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        self.inner.commit_rewrite()
    }
    fn abort_rewrite(&mut self) {
        self.inner.abort_rewrite()
    }
}

/// ~10 KB of JSON that chunks into dozens of chunks.
fn state(seed: u64, messages: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::from("[");
    for i in 0..messages {
        let mut text = String::new();
        for _ in 0..20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(&format!("{:x} ", x & 0xffff));
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("{{\"turn\":{i},\"text\":\"{text}\"}}"));
    }
    out.push(']');
    out.into_bytes()
}

#[test]
fn a_state_written_in_one_record_is_read_with_one_call() {
    let (mut store, _) = Store::open(
        Counting::default(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    let session = store.create_session("s", Default::default()).unwrap();
    let first = state(1, 80);
    let a = store
        .checkpoint(NewCheckpoint::new(session, "a", &first))
        .unwrap()
        .id;
    let before = store.backend().reads.get();
    assert_eq!(store.state(a).unwrap(), first);
    assert_eq!(store.backend().reads.get() - before, 1, "one run of chunks");

    // A state that grew from `first`: its old chunks are one run in the first record, its new
    // ones another in its own (the chunk at the old end was cut differently, so it is new).
    let mut grown = first[..first.len() - 1].to_vec();
    grown.extend_from_slice(&state(2, 10)[..]);
    let b = store
        .checkpoint(NewCheckpoint::new(session, "b", &grown))
        .unwrap()
        .id;
    let chunks = grown.len() / 256;
    let before = store.backend().reads.get();
    assert_eq!(store.state(b).unwrap(), grown);
    let reads = store.backend().reads.get() - before;
    assert!(
        (2..=3).contains(&reads),
        "{reads} reads for a state of about {chunks} chunks"
    );
    // And the same after the log is rewritten (compaction writes each record's chunks together).
    store.vacuum().unwrap();
    let before = store.backend().reads.get();
    assert_eq!(store.state(b).unwrap(), grown);
    assert!(store.backend().reads.get() - before <= 3);
}

#[test]
fn the_runs_of_a_state_read_back_as_the_state_and_restore_runs_moves_the_head() {
    let (mut store, _) = Store::open(
        MemoryBackend::new(),
        DeterministicEnv::new(),
        Options::default(),
    )
    .unwrap();
    let session = store.create_session("s", Default::default()).unwrap();
    let first = state(3, 60);
    let a = store
        .checkpoint(NewCheckpoint::new(session, "a", &first))
        .unwrap()
        .id;
    // Its own content twice over, after a new prefix: the repeat's chunks are the same chunks
    // again, so its runs go back to positions it read before, out of log order.
    let mut repeated = state(4, 5);
    repeated.extend_from_slice(&first);
    repeated.extend_from_slice(&first);
    let b = store
        .checkpoint(NewCheckpoint::new(session, "b", &repeated))
        .unwrap()
        .id;
    for (id, bytes) in [(a, &first), (b, &repeated)] {
        let runs = store.state_runs(id).unwrap();
        let total: u64 = runs.iter().map(|(_, len)| u64::from(*len)).sum();
        assert_eq!(total, bytes.len() as u64);
        // The memory backend's own read, and the default one (through `read_at`), agree.
        let mut direct = Vec::new();
        store.backend().read_runs(&runs, &mut direct).unwrap();
        assert_eq!(&direct, bytes);
        let mut through_read_at = b"kept".to_vec();
        let counting = Counting {
            inner: MemoryBackend::from_bytes(store.export_binary(None).unwrap()),
            ..Counting::default()
        };
        let (copy, _) = Store::open(counting, DeterministicEnv::new(), Options::default()).unwrap();
        let copy_runs = copy.state_runs(id).unwrap();
        copy.backend()
            .read_runs(&copy_runs, &mut through_read_at)
            .unwrap();
        assert_eq!(
            &through_read_at[..4],
            b"kept",
            "appended after what `out` held"
        );
        assert_eq!(&through_read_at[4..], &bytes[..]);
    }
    let runs_of_b = store.state_runs(b).unwrap();
    assert!(
        runs_of_b.windows(2).any(|w| w[1].0 < w[0].0),
        "the repeat reads earlier positions again: {runs_of_b:?}"
    );

    // `restore_runs` is `restore` without the read: the head moves, the event and the count
    // are the same.
    store.drain_events();
    let restores = store.metrics().ops.restores;
    assert_eq!(store.restore_runs(a).unwrap(), store.state_runs(a).unwrap());
    assert_eq!(store.session(session).unwrap().head, Some(a));
    assert_eq!(store.metrics().ops.restores, restores + 1);
    assert!(
        store.drain_events().iter().any(
            |e| matches!(e, rewind_core::Event::Restored { checkpoint, .. } if *checkpoint == a)
        )
    );
    let c = store
        .checkpoint(NewCheckpoint::new(session, "c", b"{}"))
        .unwrap();
    assert_eq!(
        c.parent,
        Some(a),
        "the next checkpoint forks from the restored one"
    );
    assert!(matches!(
        store.restore_runs(rewind_core::CheckpointId::from_bytes([7; 16])),
        Err(Error::CheckpointNotFound(_))
    ));
}
