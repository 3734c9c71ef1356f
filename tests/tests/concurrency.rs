//! Many threads on one `SharedStore`: distinct seqs, nothing lost, consistent reads throughout.

use std::sync::atomic::{AtomicBool, Ordering};

use rewind::{Durability, FileOptions, NewCheckpoint, Query, SharedStore};
use rewind_tests::TempDir;

const THREADS: u64 = 8;
const PER_THREAD: u64 = 1000;

fn state(thread: u64, i: u64) -> Vec<u8> {
    format!(
        "{{\"thread\":{thread},\"i\":{i},\"pad\":\"{}\"}}",
        "x".repeat((i % 50) as usize)
    )
    .into_bytes()
}

#[test]
fn eight_writers_and_two_readers() {
    let dir = TempDir::new().expect("a temporary directory");
    let store = SharedStore::open(
        dir.path().join("store"),
        FileOptions::default().durability(Durability::Always),
    )
    .unwrap();
    let sessions: Vec<_> = (0..THREADS)
        .map(|t| {
            store
                .create_session(&format!("writer {t}"), Default::default())
                .unwrap()
        })
        .collect();
    let done = AtomicBool::new(false);
    let ids = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut last = 0;
                    let mut reads = 0;
                    while !done.load(Ordering::Relaxed) {
                        store.read(|s| {
                            // One snapshot: the index, the metrics and the sessions agree.
                            let page = s.list(&Query::new()).unwrap();
                            let m = s.metrics();
                            assert_eq!(page.items.len() as u64, m.checkpoints);
                            let per_session: u64 = s.sessions().map(|x| x.checkpoints).sum();
                            assert_eq!(per_session, m.checkpoints);
                            assert!(page.items.windows(2).all(|w| w[0].seq > w[1].seq));
                            assert!(m.checkpoints >= last, "a reader saw checkpoints vanish");
                            last = m.checkpoints;
                        });
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, session) = (&store, sessions[t as usize]);
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let cp = store
                                .checkpoint(NewCheckpoint::new(
                                    session,
                                    format!("{i}"),
                                    &state(t, i),
                                ))
                                .unwrap();
                            (t, i, cp.id, cp.seq)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let ids: Vec<_> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        done.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0, "readers ran alongside the writers");
        }
        ids
    });
    let mut seqs: Vec<u64> = ids.iter().map(|x| x.3).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len() as u64,
        THREADS * PER_THREAD,
        "every checkpoint has its own seq"
    );
    // Within one writer, later calls got later seqs.
    for t in 0..THREADS {
        let mine: Vec<u64> = ids.iter().filter(|x| x.0 == t).map(|x| x.3).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]));
    }
    drop(store);
    let store = SharedStore::open(dir.path().join("store"), FileOptions::default()).unwrap();
    assert_eq!(store.metrics().checkpoints, THREADS * PER_THREAD);
    for (t, i, id, seq) in ids {
        let cp = store.get(id).unwrap();
        assert_eq!(cp.seq, seq);
        assert_eq!(store.state(id).unwrap(), state(t, i));
    }
    assert!(store.read(|s| s.verify()).is_ok());
}
