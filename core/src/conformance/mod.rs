//! The conformance suite: behaviour every backend and host must show, written once.
//!
//! Each scenario takes a [`Harness`] that makes fresh backends and reopens them (a restart: the
//! store is dropped and opened again on the same stored bytes). Hosts run the whole suite with
//! [`conformance_tests!`](crate::conformance_tests), which expands to one `#[test]` per scenario:
//!
//! ```text
//! rewind_core::conformance_tests!(MyHarness::new());
//! ```
//!
//! Every scenario uses a [`DeterministicEnv`], so ids, timestamps and hashes are the same on
//! every backend and host; [`transcript`] condenses a scripted run into one string that hosts
//! compare with each other.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::compact::{RemovalReason, RetentionPolicy};
use crate::json_patch::PatchOp;
use crate::query::{Order, Query};
use crate::{
    Backend, CheckpointId, DeterministicEnv, Error, Event, LimitKind, NewCheckpoint, Options,
    SessionId, Severity, Store, Trigger, TriggerKind,
};

/// Makes and reopens backends for the suite.
pub trait Harness {
    /// The backend under test.
    type Backend: Backend;
    /// A fresh, empty backend (a new store).
    fn fresh(&mut self) -> Self::Backend;
    /// The same stored bytes as `backend`, as after closing the store and opening it again.
    fn reopen(&mut self, backend: Self::Backend) -> Self::Backend;
    /// A second backend holding a copy of `backend`'s stored bytes, leaving `backend` open; None
    /// when the backend cannot be copied while in use (then scenarios reopen instead).
    fn copy(&mut self, backend: &Self::Backend) -> Option<Self::Backend> {
        let _ = backend;
        None
    }
}

/// A [`Harness`] over [`MemoryBackend`](crate::MemoryBackend): reopening hands the log bytes to
/// a new backend.
#[derive(Debug, Default)]
pub struct MemoryHarness;

impl Harness for MemoryHarness {
    type Backend = crate::MemoryBackend;
    fn fresh(&mut self) -> Self::Backend {
        crate::MemoryBackend::with_snapshot(Vec::new(), None)
    }
    fn reopen(&mut self, backend: Self::Backend) -> Self::Backend {
        let snapshot = backend.snapshot().map(<[u8]>::to_vec);
        crate::MemoryBackend::with_snapshot(backend.into_bytes(), snapshot)
    }
    fn copy(&mut self, backend: &Self::Backend) -> Option<Self::Backend> {
        Some(copy_memory(backend))
    }
}

/// A [`Harness`] whose backends fail at random: each append and each step of a log rewrite
/// fails with `percent` chance ([`FaultyBackend::fail_at_random`]), seeded per backend. Copies
/// (the log as a reopen would find it) fail nothing. Run [`random_writes`] on it to check that a
/// refused write leaves the store in memory exactly as a reopen finds it.
#[derive(Debug)]
pub struct RandomFaultsHarness {
    /// Seeds the next backend's failures.
    pub seed: u64,
    /// Chance in percent that a write call fails.
    pub percent: u64,
    /// The most injected failures seen on one backend (so a run can show faults fired).
    pub most_fired: u64,
}

impl Harness for RandomFaultsHarness {
    type Backend = FaultyBackend<crate::MemoryBackend>;
    fn fresh(&mut self) -> Self::Backend {
        self.seed = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(1);
        let mut backend = FaultyBackend::new(MemoryHarness.fresh());
        backend.fail_at_random(self.seed, self.percent);
        backend
    }
    fn reopen(&mut self, backend: Self::Backend) -> Self::Backend {
        FaultyBackend::new(MemoryHarness.reopen(backend.inner))
    }
    fn copy(&mut self, backend: &Self::Backend) -> Option<Self::Backend> {
        self.most_fired = self.most_fired.max(backend.injected());
        Some(FaultyBackend::new(copy_memory(&backend.inner)))
    }
}

/// A copy of a memory backend's log and index snapshot.
fn copy_memory(backend: &crate::MemoryBackend) -> crate::MemoryBackend {
    crate::MemoryBackend::with_snapshot(
        backend.bytes().to_vec(),
        backend.snapshot().map(<[u8]>::to_vec),
    )
}

mod faulty_backend;
mod packed_input;
pub mod parity;
mod power_loss;
mod random_writes;
mod shared_log;

pub use faulty_backend::{Calls, FaultyBackend, injected};
pub use packed_input::assert_packed_input_handled;
pub use power_loss::{PowerLossHarness, PowerLossReport, power_loss_seeds};
pub use random_writes::{Rng, random_writes, random_writes_seeds};
pub use shared_log::{SharedLog, SharedLogBackend};

type TestStore<H> = Store<<H as Harness>::Backend, DeterministicEnv>;

fn open<H: Harness>(backend: H::Backend) -> TestStore<H> {
    open_with::<H>(backend, DeterministicEnv::new(), Options::default())
}

fn open_with<H: Harness>(
    backend: H::Backend,
    env: DeterministicEnv,
    options: Options,
) -> TestStore<H> {
    match Store::open(backend, env, options) {
        Ok((store, _)) => store,
        Err(err) => panic!("store failed to open: {err}"),
    }
}

/// Drops the store and opens it again on the same bytes, keeping the clock.
fn reopen<H: Harness>(h: &mut H, store: TestStore<H>) -> TestStore<H> {
    let options = store.options().clone();
    let mut store = store;
    let env = store.env_mut().clone();
    let backend = h.reopen(store.into_backend());
    open_with::<H>(backend, env, options)
}

fn conversation(turns: usize, bytes_per_turn: usize) -> Vec<u8> {
    let messages: Vec<Value> = (0..turns)
        .map(|i| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            // Distinct, incompressible-looking text per turn.
            let mut text = String::new();
            let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            while text.len() < bytes_per_turn {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let _ = write!(text, "{:x} ", x);
            }
            text.truncate(bytes_per_turn);
            json!({ "role": role, "content": text })
        })
        .collect();
    serde_json::to_vec(&json!({ "messages": messages })).unwrap_or_default()
}

/// `len` incompressible bytes from a xorshift generator seeded with `seed`: a state in which
/// every byte position could start a frame (the worst case for resynchronising after damage),
/// or hostile input for a parser.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..len).map(|_| r.next() as u8).collect()
}

/// A printable summary of everything a store holds that must survive a reopen: sessions,
/// checkpoints with all their fields, annotations, attachment keys, heads, and the metrics that
/// describe content (not the per-process operation counters).
pub fn fingerprint<B: Backend, E: crate::Env>(store: &Store<B, E>) -> String {
    let mut out = String::new();
    for s in store.sessions() {
        let _ = writeln!(
            out,
            "session {} {:?} {:?} at={} head={:?} n={}",
            s.id, s.name, s.metadata, s.created_at, s.head, s.checkpoints
        );
    }
    let page = store
        .list(&Query::new().order(Order::Ascending))
        .unwrap_or_else(|e| panic!("list failed: {e}"));
    for cp in page.items {
        let _ = writeln!(out, "{cp:?}");
        for a in store.annotations(cp.id).unwrap_or(&[]) {
            let _ = writeln!(out, "  note {a:?}");
        }
        if let Ok(keys) = store.attachment_keys(cp.id) {
            for k in keys {
                let _ = writeln!(out, "  attachment {k}");
            }
        }
    }
    let m = store.metrics();
    let _ = writeln!(
        out,
        "metrics sessions={} checkpoints={} annotations={} attachments={} logical={} stored={} chunks={} next_seq={}",
        m.sessions,
        m.checkpoints,
        m.annotations,
        m.attachments,
        m.logical_bytes,
        m.stored_bytes,
        m.chunks,
        m.next_seq
    );
    for s in store.sessions() {
        let branches: Vec<CheckpointId> = store
            .branches(s.id)
            .map(|b| b.iter().map(|c| c.id).collect())
            .unwrap_or_default();
        let _ = writeln!(out, "branches {} {:?}", s.id, branches);
    }
    out
}

fn ok<T>(r: crate::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("operation failed: {e}"))
}

/// Sessions and checkpoints are stored, read back and survive a reopen unchanged.
pub fn checkpoints_round_trip<H: Harness>(h: &mut H) {
    let mut store = open::<H>(h.fresh());
    let meta: Map<String, Value> = [("agent".into(), json!("planner"))].into_iter().collect();
    let s = ok(store.create_session("research", meta.clone()));
    let state1 = br#"{"messages":["hi"]}"#;
    let c1 = ok(store.checkpoint(
        NewCheckpoint::new(s, "first", state1)
            .tag("start")
            .meta("step", 1),
    ))
    .clone();
    let c2 = ok(store.checkpoint(
        NewCheckpoint::new(s, "second", b"\x00\x01binary").content_type("application/octet-stream"),
    ))
    .clone();
    assert_eq!(c1.parent, None);
    assert_eq!(c2.parent, Some(c1.id));
    assert_eq!(c2.parent_hash, Some(c1.hash));
    assert!(c2.seq > c1.seq);
    assert!(c2.id > c1.id, "v7 ids sort by creation");
    assert_eq!(ok(store.state(c1.id)), state1);
    assert_eq!(ok(store.state(c2.id)), b"\x00\x01binary");
    assert_eq!(ok(store.latest(s)).map(|c| c.id), Some(c2.id));
    assert_eq!(ok(store.session(s)).head, Some(c2.id));
    assert_eq!(ok(store.session(s)).metadata, meta);
    assert_eq!(ok(store.get(c1.id)).metadata.get("step"), Some(&json!(1)));
    assert!(store.verify().is_ok());
    let before = fingerprint(&store);
    let store = reopen(h, store);
    assert_eq!(fingerprint(&store), before);
    assert_eq!(ok(store.state(c2.id)), b"\x00\x01binary");
    assert!(store.verify().is_ok());
}

/// Restore returns the state and moves the head; the next checkpoint forks from there.
pub fn restore_forks<H: Harness>(h: &mut H) {
    let mut store = open::<H>(h.fresh());
    let s = ok(store.create_session("s", Map::new()));
    let a = ok(store.checkpoint(NewCheckpoint::new(s, "a", b"{\"v\":1}"))).id;
    let b = ok(store.checkpoint(NewCheckpoint::new(s, "b", b"{\"v\":2}"))).id;
    let c = ok(store.checkpoint(NewCheckpoint::new(s, "c", b"{\"v\":3}"))).id;
    let restored = ok(store.restore(a));
    assert_eq!(restored.state, b"{\"v\":1}");
    assert_eq!(ok(store.session(s)).head, Some(a));
    let f = ok(store.checkpoint(NewCheckpoint::new(s, "fork", b"{\"v\":9}"))).id;
    assert_eq!(ok(store.get(f)).parent, Some(a));
    let tips: Vec<CheckpointId> = ok(store.branches(s)).iter().map(|c| c.id).collect();
    assert_eq!(tips, vec![f, c]);
    let history: Vec<CheckpointId> = ok(store.history(c)).map(|c| c.id).collect();
    assert_eq!(history, vec![c, b, a]);
    let children: Vec<CheckpointId> = ok(store.children(a)).iter().map(|c| c.id).collect();
    assert_eq!(children, vec![b, f]);
    // An explicit parent forks without a restore.
    let g = ok(store.checkpoint(NewCheckpoint::new(s, "from b", b"{}").parent(b))).id;
    assert_eq!(ok(store.get(g)).parent, Some(b));
    assert_eq!(ok(store.branches(s)).len(), 3);
    let before = fingerprint(&store);
    let store = reopen(h, store);
    assert_eq!(fingerprint(&store), before);
    assert_eq!(ok(store.session(s)).head, Some(g));
}

/// `at(time)` answers with the newest checkpoint created at or before the time.
pub fn at_time<H: Harness>(h: &mut H) {
    let mut store = open_with::<H>(
        h.fresh(),
        DeterministicEnv::with(10_000, 0, 3),
        Options::default(),
    );
    let s = ok(store.create_session("s", Map::new()));
    let mut ids = Vec::new();
    for (i, t) in [100u64, 200, 300].iter().enumerate() {
        store.env_mut().set_now(*t);
        ids.push(ok(store.checkpoint(NewCheckpoint::new(s, format!("t{i}"), b"{}"))).id);
    }
    assert_eq!(ok(store.at(s, 99)), None);
    assert_eq!(ok(store.at(s, 100)).map(|c| c.id), Some(ids[0]));
    assert_eq!(ok(store.at(s, 250)).map(|c| c.id), Some(ids[1]));
    assert_eq!(ok(store.at(s, u64::MAX)).map(|c| c.id), Some(ids[2]));
}

/// Every query condition filters, both orders work, and cursors page through without gaps or
/// repeats.
pub fn queries<H: Harness>(h: &mut H) {
    let mut store = open_with::<H>(
        h.fresh(),
        DeterministicEnv::with(1_000, 10, 5),
        Options::default(),
    );
    let s1 = ok(store.create_session("one", Map::new()));
    let s2 = ok(store.create_session("two", Map::new()));
    let mut all = Vec::new();
    for i in 0..30u64 {
        let s = if i % 3 == 0 { s2 } else { s1 };
        let mut new = NewCheckpoint::new(s, format!("step {i}"), b"{}")
            .meta("step", i)
            .meta("parity", if i % 2 == 0 { "even" } else { "odd" });
        if i % 5 == 0 {
            new = new.tag("milestone");
        }
        if i % 4 == 0 {
            new = new.tag("tool");
        }
        if i % 7 == 0 {
            new = new.trigger(Trigger::Scheduled);
        }
        if i >= 25 {
            new = new.namespace("child");
        }
        all.push(ok(store.checkpoint(new)).clone());
    }
    let ids = |q: &Query| -> Vec<u64> { ok(store.list(q)).items.iter().map(|c| c.seq).collect() };
    let seqs = |f: &dyn Fn(&crate::Checkpoint) -> bool| -> Vec<u64> {
        let mut v: Vec<u64> = all.iter().filter(|c| f(c)).map(|c| c.seq).collect();
        v.reverse();
        v
    };
    assert_eq!(ids(&Query::new()), seqs(&|_| true));
    assert_eq!(ids(&Query::new().session(s2)), seqs(&|c| c.session == s2));
    assert_eq!(
        ids(&Query::new().tag("milestone")),
        seqs(&|c| c.has_tag("milestone"))
    );
    assert_eq!(
        ids(&Query::new().tag("milestone").tag("tool")),
        seqs(&|c| c.has_tag("milestone") && c.has_tag("tool"))
    );
    assert_eq!(
        ids(&Query::new().any_tag(["milestone", "tool"])),
        seqs(&|c| c.has_tag("milestone") || c.has_tag("tool"))
    );
    assert_eq!(
        ids(&Query::new().session(s1).tag("tool")),
        seqs(&|c| c.session == s1 && c.has_tag("tool"))
    );
    assert_eq!(
        ids(&Query::new().trigger(TriggerKind::Scheduled)),
        seqs(&|c| c.trigger == Trigger::Scheduled)
    );
    assert_eq!(
        ids(&Query::new().meta("parity", "odd").session(s1)),
        seqs(&|c| c.session == s1 && c.metadata["parity"] == json!("odd"))
    );
    let (lo, hi) = (all[5].seq, all[12].seq);
    assert_eq!(
        ids(&Query::new().seq_range(lo, hi)),
        seqs(&|c| c.seq >= lo && c.seq <= hi)
    );
    let (t0, t1) = (all[3].created_at, all[9].created_at);
    assert_eq!(
        ids(&Query::new().time_range(t0, t1)),
        seqs(&|c| c.created_at >= t0 && c.created_at < t1)
    );
    assert_eq!(
        ids(&Query::new().before(all[10].id)),
        seqs(&|c| c.seq < all[10].seq)
    );
    assert_eq!(
        ids(&Query::new().namespace("child")),
        seqs(&|c| c.namespace == "child")
    );
    assert_eq!(
        ids(&Query::new().namespace("")),
        seqs(&|c| c.namespace.is_empty())
    );
    let mut asc = seqs(&|_| true);
    asc.reverse();
    assert_eq!(ids(&Query::new().order(Order::Ascending)), asc);
    // Paging in both orders covers everything exactly once.
    for order in [Order::Ascending, Order::Descending] {
        let mut got = Vec::new();
        let mut q = Query::new().order(order).limit(7);
        loop {
            let page = ok(store.list(&q));
            assert!(page.items.len() <= 7);
            got.extend(page.items.iter().map(|c| c.seq));
            match page.next {
                Some(cursor) => {
                    let text = format!("{cursor}");
                    q = q.clone().after(ok(text.parse()));
                }
                None => break,
            }
        }
        let mut want = seqs(&|_| true);
        if order == Order::Ascending {
            want.reverse();
        }
        assert_eq!(got, want);
    }
    // A page of exactly the remaining items has no next cursor.
    let page = ok(store.list(&Query::new().limit(30)));
    assert_eq!(page.items.len(), 30);
    assert!(page.next.is_none());
    assert!(matches!(
        store.list(&Query::new().session(SessionId::from_bytes([9; 16]))),
        Err(Error::SessionNotFound(_))
    ));
}

/// A growing conversation stores each new byte about once, not once per checkpoint.
pub fn dedup_growing_state<H: Harness>(h: &mut H) {
    let mut store = open::<H>(h.fresh());
    let s = ok(store.create_session("chat", Map::new()));
    let steps = 200;
    let mut sum = 0u64;
    let mut last = Vec::new();
    for i in 1..=steps {
        last = conversation(i, 1000);
        sum += last.len() as u64;
        ok(store.checkpoint(NewCheckpoint::new(s, format!("turn {i}"), &last)));
    }
    let m = store.metrics();
    assert_eq!(m.logical_bytes, sum);
    let unique = last.len() as u64;
    assert!(
        m.stored_bytes * 2 <= unique * 3,
        "stored {} for {} unique bytes",
        m.stored_bytes,
        unique
    );
    assert!(m.dedup_ratio() > 50.0, "dedup ratio {}", m.dedup_ratio());
    let latest = ok(store.latest(s)).map(|c| c.id);
    let store = reopen(h, store);
    assert_eq!(
        ok(store.state(latest.unwrap_or_else(|| panic!("no latest")))),
        last
    );
}

/// Diff reports description changes, the shared-chunk ratio and a JSON Patch of the states.
pub fn diffs<H: Harness>(h: &mut H) {
    let mut store = open::<H>(h.fresh());
    let s = ok(store.create_session("s", Map::new()));
    let a = ok(store.checkpoint(
        NewCheckpoint::new(s, "before tool", br#"{"messages":["hi"],"n":1}"#)
            .tag("keep")
            .tag("plan")
            .meta("model", "small"),
    ))
    .id;
    let b = ok(store.checkpoint(
        NewCheckpoint::new(s, "after tool", br#"{"messages":["hi","result"],"n":2}"#)
            .tag("keep")
            .tag("tool")
            .meta("model", "large"),
    ))
    .id;
    let d = ok(store.diff(a, b));
    assert_eq!(d.seq_delta, 1);
    assert!(d.time_delta_ms > 0);
    assert_eq!(d.message, Some(("before tool".into(), "after tool".into())));
    assert_eq!(d.tags_added, vec![String::from("tool")]);
    assert_eq!(d.tags_removed, vec![String::from("plan")]);
    assert_eq!(
        d.metadata,
        vec![PatchOp::Replace {
            path: "/model".into(),
            value: json!("large")
        }]
    );
    assert!(!d.same_state);
    let patch = d
        .state_patch
        .unwrap_or_else(|| panic!("JSON states give a patch"));
    // The message appended where it lands, the counter replaced: exactly what turns the
    // first state into the second.
    assert_eq!(
        patch,
        vec![
            PatchOp::Add {
                path: "/messages/1".into(),
                value: json!("result")
            },
            PatchOp::Replace {
                path: "/n".into(),
                value: json!(2)
            }
        ]
    );
    // Identical states share everything.
    let c = ok(store.checkpoint(NewCheckpoint::new(
        s,
        "same",
        br#"{"messages":["hi"],"n":1}"#,
    )))
    .id;
    let same = ok(store.diff(a, c));
    assert!(same.same_state);
    assert_eq!(same.shared_ratio, 1.0);
    assert_eq!(same.state_patch, Some(Vec::new()));
    // Binary states: no patch, sizes still reported.
    let x = ok(store.checkpoint(
        NewCheckpoint::new(s, "bin", &[1, 2, 3]).content_type("application/octet-stream"),
    ))
    .id;
    let dx = ok(store.diff(a, x));
    assert_eq!(dx.state_patch, None);
    assert_eq!(dx.to_len, 3);
}

/// Annotations and attachments persist, attachments are deduplicated, events are emitted.
pub fn annotations_attachments_events<H: Harness>(h: &mut H) {
    let mut store = open::<H>(h.fresh());
    let s = ok(store.create_session("s", Map::new()));
    let c = ok(store.checkpoint(NewCheckpoint::new(s, "c", b"{}"))).id;
    ok(store.annotate(c, "looks wrong here", Severity::Warning));
    ok(store.annotate(c, "root cause", Severity::Critical));
    let blob = conversation(20, 500);
    ok(store.attach(c, "writes", "application/json", &blob));
    let stored = store.metrics().stored_bytes;
    // The same bytes under another key add no chunk bytes.
    ok(store.attach(c, "writes-copy", "application/json", &blob));
    assert_eq!(store.metrics().stored_bytes, stored);
    ok(store.attach(c, "writes", "application/json", b"[]"));
    let events = store.drain_events();
    assert!(matches!(events[0], Event::SessionCreated { .. }));
    assert!(matches!(events[1], Event::Created { checkpoint, .. } if checkpoint == c));
    assert!(matches!(
        events[3],
        Event::Annotated {
            severity: Severity::Critical,
            ..
        }
    ));
    assert!(store.drain_events().is_empty());
    let before = fingerprint(&store);
    let store = reopen(h, store);
    assert_eq!(fingerprint(&store), before);
    let notes = ok(store.annotations(c));
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1].note, "root cause");
    assert_eq!(notes[1].severity, Severity::Critical);
    let (ct, bytes) = ok(store.attachment(c, "writes")).unwrap_or_else(|| panic!("attachment"));
    assert_eq!((ct, bytes.as_slice()), ("application/json", &b"[]"[..]));
    let (_, copy) = ok(store.attachment(c, "writes-copy")).unwrap_or_else(|| panic!("copy"));
    assert_eq!(copy, blob);
    assert_eq!(ok(store.attachment(c, "missing")), None);
}

/// Deleting keeps children readable and heads valid, and survives a reopen.
pub fn deletion<H: Harness>(h: &mut H) {
    let mut store = open::<H>(h.fresh());
    let s = ok(store.create_session("s", Map::new()));
    let a = ok(store.checkpoint(NewCheckpoint::new(s, "a", &conversation(3, 300)))).id;
    let b = ok(store.checkpoint(NewCheckpoint::new(s, "b", &conversation(4, 300)))).id;
    let c = ok(store.checkpoint(NewCheckpoint::new(s, "c", &conversation(5, 300)))).id;
    ok(store.delete(b));
    assert!(matches!(store.get(b), Err(Error::CheckpointNotFound(id)) if id == b));
    assert_eq!(ok(store.state(c)), conversation(5, 300));
    assert_eq!(ok(store.get(c)).parent, Some(b));
    let history: Vec<CheckpointId> = ok(store.history(c)).map(|x| x.id).collect();
    assert_eq!(history, vec![c]);
    // Deleting the head moves it to the newest remaining checkpoint (its parent is gone).
    ok(store.delete(c));
    assert_eq!(ok(store.session(s)).head, Some(a));
    assert!(store.verify().is_ok());
    let s2 = ok(store.create_session("other", Map::new()));
    ok(store.checkpoint(NewCheckpoint::new(s2, "x", b"{}")));
    assert_eq!(ok(store.delete_session(s2)), 1);
    assert!(matches!(store.session(s2), Err(Error::SessionNotFound(_))));
    let m = store.metrics();
    assert_eq!((m.sessions, m.checkpoints), (1, 1));
    let before = fingerprint(&store);
    let store = reopen(h, store);
    assert_eq!(fingerprint(&store), before);
}

/// A deleted checkpoint's id, reused by a caller-supplied id, does not become the parent of the
/// deleted one's children (links only point to older checkpoints).
pub fn reused_ids_do_not_link<H: Harness>(h: &mut H) {
    let mut store = open::<H>(h.fresh());
    let s = ok(store.create_session("s", Map::new()));
    let a = ok(store.checkpoint(NewCheckpoint::new(s, "a", b"{}"))).id;
    let b = ok(store.checkpoint(NewCheckpoint::new(s, "b", b"{\"b\":1}"))).id;
    ok(store.delete(a));
    let reused = ok(store.checkpoint(NewCheckpoint::new(s, "reuses a's id", b"[]").id(a).root()));
    assert_eq!(reused.id, a);
    let history: Vec<CheckpointId> = ok(store.history(b)).map(|c| c.id).collect();
    assert_eq!(history, vec![b]);
    assert!(ok(store.children(a)).is_empty());
    // Deleting the old child must not touch the new checkpoint's bookkeeping.
    ok(store.delete(b));
    assert_eq!(
        ok(store.branches(s))
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![a]
    );
    assert!(store.verify().is_ok());
    let before = fingerprint(&store);
    let store = reopen(h, store);
    assert_eq!(fingerprint(&store), before);
}

/// Compaction plans say why, protect heads and critical checkpoints, keep children readable,
/// shrink the log, and never reuse a seq.
pub fn compaction<H: Harness>(h: &mut H) {
    let mut store = open::<H>(h.fresh());
    let s = ok(store.create_session("s", Map::new()));
    let mut ids = Vec::new();
    for i in 0..20 {
        let state = conversation(i + 1, 400);
        let mut new = NewCheckpoint::new(s, format!("step {i}"), &state);
        if i == 2 {
            new = new.tag("milestone");
        }
        ids.push(ok(store.checkpoint(new)).id);
    }
    ok(store.annotate(ids[4], "the bug starts here", Severity::Critical));
    ok(store.restore(ids[1]));
    let policy = RetentionPolicy::hybrid(5, ["milestone"]);
    let plan = ok(store.plan_compaction(&policy));
    let removed: Vec<CheckpointId> = plan.remove.iter().map(|(id, _)| *id).collect();
    let expect: Vec<CheckpointId> = ids[..15]
        .iter()
        .copied()
        .filter(|id| *id != ids[1] && *id != ids[2] && *id != ids[4])
        .collect();
    assert_eq!(removed, expect);
    assert!(
        plan.remove
            .iter()
            .all(|(_, r)| *r == RemovalReason::BeyondKeepLast(5))
    );
    assert_eq!(plan.protected.len(), 3);
    assert!(plan.stored_bytes_after < plan.stored_bytes_before);
    // The dry run changed nothing.
    assert_eq!(store.metrics().checkpoints, 20);
    let log_before = store.metrics().log_bytes;
    let next_seq = store.metrics().next_seq;
    let report = ok(store.apply_compaction(&plan));
    assert_eq!(report.removed, expect.len() as u64);
    assert!(report.log_bytes_after < log_before);
    assert_eq!(store.metrics().checkpoints, 20 - expect.len() as u64);
    assert_eq!(store.metrics().stored_bytes, plan.stored_bytes_after);
    // Survivors are complete.
    for (i, id) in ids.iter().enumerate().skip(15) {
        assert_eq!(ok(store.state(*id)), conversation(i + 1, 400));
    }
    assert_eq!(ok(store.state(ids[1])), conversation(2, 400));
    assert!(store.verify().is_ok());
    let before = fingerprint(&store);
    let mut store = reopen(h, store);
    assert_eq!(fingerprint(&store), before);
    assert_eq!(store.metrics().next_seq, next_seq);
    // Remove the newest checkpoint too and rewrite: its seq is still never reused.
    let last = ids[19];
    ok(store.set_head(s, Some(ids[1])));
    ok(store.delete(last));
    ok(store.vacuum());
    let mut store = reopen(h, store);
    let fresh = ok(store.checkpoint(NewCheckpoint::new(s, "after", b"{}"))).seq;
    assert!(
        fresh >= next_seq,
        "seq {fresh} reused (next was {next_seq})"
    );
}

/// Export to JSON and binary, import into a fresh store: same ids, hashes and states; importing
/// again skips everything.
pub fn export_import<H: Harness>(h: &mut H) {
    let mut store = open::<H>(h.fresh());
    let s = ok(store.create_session("s", [("k".into(), json!("v"))].into_iter().collect()));
    let a = ok(store.checkpoint(NewCheckpoint::new(s, "a", &conversation(3, 200)).tag("t"))).id;
    let b = ok(store.checkpoint(
        NewCheckpoint::new(s, "b", &[0xff, 0x00, 0x80]).content_type("application/octet-stream"),
    ))
    .id;
    ok(store.annotate(a, "note", Severity::Info));
    ok(store.attach(b, "writes", "application/json", b"[1,2]"));
    ok(store.restore(a));
    let json_doc = ok(store.export_json(None));
    let binary = ok(store.export_binary(None));
    for use_json in [true, false] {
        let mut target = open_with::<H>(
            h.fresh(),
            DeterministicEnv::with(5_000, 1, 99),
            Options::default(),
        );
        // The target already has history of its own: imported seqs come after it.
        let own = ok(target.create_session("own", Map::new()));
        ok(target.checkpoint(NewCheckpoint::new(own, "own", b"{}")));
        let report = if use_json {
            ok(target.import_json(json_doc.as_bytes()))
        } else {
            ok(target.import_binary(&binary))
        };
        assert_eq!(report.checkpoints_added, 2);
        assert_eq!(report.sessions_added, 1);
        for id in [a, b] {
            let (src, dst) = (ok(store.get(id)), ok(target.get(id)));
            assert_eq!(src.hash, dst.hash);
            assert_eq!(src.message, dst.message);
            assert_eq!(ok(store.state(id)), ok(target.state(id)));
        }
        assert!(ok(target.get(a)).seq > 1);
        assert!(ok(target.get(b)).seq > ok(target.get(a)).seq);
        assert_eq!(ok(target.session(s)).head, Some(a));
        assert_eq!(ok(target.annotations(a)).len(), 1);
        assert_eq!(
            ok(target.attachment(b, "writes")).map(|(_, v)| v),
            Some(b"[1,2]".to_vec())
        );
        assert!(target.verify().is_ok());
        let again = if use_json {
            ok(target.import_json(json_doc.as_bytes()))
        } else {
            ok(target.import_binary(&binary))
        };
        assert_eq!((again.checkpoints_added, again.skipped), (0, 2));
        let before = fingerprint(&target);
        let target = reopen(h, target);
        assert_eq!(fingerprint(&target), before);
    }
}

/// Bad input gets typed errors and stores nothing.
pub fn bad_input<H: Harness>(h: &mut H) {
    let limits = crate::Limits {
        max_state_bytes: 1000,
        max_tags: 2,
        ..crate::Limits::default()
    };
    let options = Options {
        limits,
        ..Options::default()
    };
    let mut store = open_with::<H>(h.fresh(), DeterministicEnv::new(), options);
    let s = ok(store.create_session("s", Map::new()));
    let big = vec![7u8; 1001];
    let err = store.checkpoint(NewCheckpoint::new(s, "big", &big));
    assert!(matches!(
        err,
        Err(Error::LimitExceeded {
            kind: LimitKind::StateBytes,
            limit: 1000,
            actual: 1001
        })
    ));
    let err = store.checkpoint(NewCheckpoint::new(s, "tags", b"{}").tags(["a", "b", "c"]));
    assert!(matches!(
        err,
        Err(Error::LimitExceeded {
            kind: LimitKind::TagCount,
            ..
        })
    ));
    assert!(matches!(
        store.checkpoint(NewCheckpoint::new(s, "  ", b"{}")),
        Err(Error::InvalidInput(_))
    ));
    let ghost = CheckpointId::from_bytes([1; 16]);
    assert!(matches!(store.get(ghost), Err(Error::CheckpointNotFound(id)) if id == ghost));
    assert!(matches!(
        store.restore(ghost),
        Err(Error::CheckpointNotFound(_))
    ));
    assert!(matches!(
        store.checkpoint(NewCheckpoint::new(s, "orphan", b"{}").parent(ghost)),
        Err(Error::CheckpointNotFound(_))
    ));
    assert!(matches!(
        store.checkpoint(NewCheckpoint::new(
            SessionId::from_bytes([2; 16]),
            "x",
            b"{}"
        )),
        Err(Error::SessionNotFound(_))
    ));
    let other = ok(store.create_session("other", Map::new()));
    let c = ok(store.checkpoint(NewCheckpoint::new(s, "ok", b"{}"))).id;
    assert!(matches!(
        store.checkpoint(NewCheckpoint::new(other, "cross", b"{}").parent(c)),
        Err(Error::ParentInOtherSession { .. })
    ));
    assert!(matches!(
        store.checkpoint(NewCheckpoint::new(s, "dup", b"{}").id(c)),
        Err(Error::DuplicateId(_))
    ));
    assert!(matches!(
        store.import_json(b"{\"format\":1}"),
        Err(Error::ImportRejected(_))
    ));
    assert!(matches!(
        store.import_binary(b"garbage!garbage!"),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        store.diff(c, ghost),
        Err(Error::CheckpointNotFound(_))
    ));
    // None of the failures left a trace.
    let m = store.metrics();
    assert_eq!((m.sessions, m.checkpoints), (2, 1));
    let before = fingerprint(&store);
    let store = reopen(h, store);
    assert_eq!(fingerprint(&store), before);
}

/// Automatic checkpoints are throttled by the policy.
pub fn auto_checkpoints<H: Harness>(h: &mut H) {
    let options = Options {
        auto: crate::AutoPolicy::every(1_000),
        ..Options::default()
    };
    let mut store = open_with::<H>(h.fresh(), DeterministicEnv::with(50_000, 0, 1), options);
    let s = ok(store.create_session("s", Map::new()));
    let first = ok(store.auto_checkpoint(NewCheckpoint::new(s, "auto", b"{}"), "before tool"));
    let first = first.map(|c| c.trigger.clone());
    assert_eq!(
        first,
        Some(Trigger::Automatic {
            reason: "before tool".into()
        })
    );
    store.env_mut().advance(500);
    assert!(ok(store.auto_checkpoint(NewCheckpoint::new(s, "auto", b"{}"), "again")).is_none());
    store.env_mut().advance(600);
    assert!(ok(store.auto_checkpoint(NewCheckpoint::new(s, "auto", b"{}"), "later")).is_some());
    // A manual checkpoint counts as recent too.
    store.env_mut().advance(5_000);
    ok(store.checkpoint(NewCheckpoint::new(s, "manual", b"{}")));
    assert!(ok(store.auto_checkpoint(NewCheckpoint::new(s, "auto", b"{}"), "x")).is_none());
    assert_eq!(store.metrics().ops.auto_skipped, 2);
}

/// Every query filter, retention flag and store option through the API layer (the scenario in
/// `parity.json`, which the JavaScript package and the component run through their bindings).
pub fn parity<H: Harness>(h: &mut H) {
    let options = match Options::try_from(parity::options()) {
        Ok(options) => options,
        Err(e) => panic!("the parity options do not convert: {e}"),
    };
    let mut store = open_with::<H>(h.fresh(), DeterministicEnv::new(), options);
    let problems = parity::run(&mut store);
    assert!(problems.is_empty(), "parity:\n{}", problems.join("\n"));
    // What the scenario wrote reads back the same after a reopen.
    let before = fingerprint(&store);
    let store = reopen(h, store);
    assert_eq!(fingerprint(&store), before);
}

/// A scripted run condensed to one string: ids, seqs and hashes. Every backend and host must
/// produce exactly this for the same script.
pub fn transcript<H: Harness>(h: &mut H) -> String {
    let mut store = open::<H>(h.fresh());
    let mut out = String::new();
    let s = ok(store.create_session("transcript", Map::new()));
    let _ = writeln!(out, "session {s}");
    let mut ids = Vec::new();
    for i in 1..=12 {
        let state = conversation(i, 700);
        let cp = ok(store.checkpoint(
            NewCheckpoint::new(s, format!("turn {i}"), &state)
                .tag(if i % 4 == 0 { "tool" } else { "chat" })
                .meta("turn", i as u64),
        ));
        let _ = writeln!(out, "{} {} {}", cp.seq, cp.id, cp.hash);
        ids.push(cp.id);
    }
    ok(store.restore(ids[5]));
    let fork = ok(store.checkpoint(NewCheckpoint::new(s, "fork", b"{\"alt\":true}")));
    let _ = writeln!(out, "fork {} {} {}", fork.seq, fork.id, fork.hash);
    ok(store.annotate(ids[3], "important", Severity::Critical));
    ok(store.compact(&RetentionPolicy::keep_last(4)));
    let m = store.metrics();
    let _ = writeln!(
        out,
        "after compaction: {} checkpoints, {} stored, {} logical",
        m.checkpoints, m.stored_bytes, m.logical_bytes
    );
    let _ = writeln!(
        out,
        "export {}",
        crate::Hash::of(&ok(store.export_binary(None)))
    );
    if let Some(head) = store.log_head() {
        let _ = writeln!(out, "log head {head}");
    }
    out
}

/// Opens a copy of `store`'s log and asserts that it holds the same store: sessions,
/// checkpoints, annotations, attachments, chunks and the next seq (what the fuzz targets check
/// after every input). A write that failed after reaching the log would fail here.
pub fn assert_log_reopens_the_same(
    store: &Store<crate::MemoryBackend, DeterministicEnv>,
    what: &str,
) {
    let bytes = store.backend().bytes().to_vec();
    let reopened = match Store::open(
        crate::MemoryBackend::from_bytes(bytes),
        DeterministicEnv::new(),
        Options::default(),
    ) {
        Ok((reopened, _)) => reopened,
        Err(e) => panic!("{what}: the log no longer opens: {e}"),
    };
    let (a, b) = (store.metrics(), reopened.metrics());
    assert_eq!(
        (
            a.sessions,
            a.checkpoints,
            a.annotations,
            a.attachments,
            a.chunks,
            a.next_seq
        ),
        (
            b.sessions,
            b.checkpoints,
            b.annotations,
            b.attachments,
            b.chunks,
            b.next_seq
        ),
        "{what}: the reopened store differs"
    );
}

/// An index snapshot of this build's encoding around `body`, with a valid checksum: how the
/// fuzz target `open_snapshot` reaches the decoder (see [`crate::snapshot`]).
pub fn seal_snapshot(body: &[u8]) -> Vec<u8> {
    crate::store::snapshot::seal(body)
}

/// A snapshot delta of this build's encoding around `body`, made to name `snapshot` and its
/// point when it decodes, with a valid checksum: how the fuzz target `open_snapshot` reaches
/// the delta decoder (see [`crate::snapshot`]).
pub fn seal_snapshot_delta(body: &[u8], snapshot: &[u8]) -> Vec<u8> {
    crate::store::snapshot::seal_delta(body, snapshot)
}

/// The body of a snapshot delta (what [`seal_snapshot_delta`] wraps), for fuzzing seeds.
pub fn snapshot_delta_body(delta: &[u8]) -> Option<&[u8]> {
    crate::store::snapshot::body(delta)
}

/// The body of an index snapshot (what [`seal_snapshot`] wraps), for fuzzing seeds.
pub fn snapshot_body(snapshot: &[u8]) -> Option<&[u8]> {
    crate::store::snapshot::body(snapshot)
}

/// The names of every scenario.
pub const SCENARIOS: &[&str] = &[
    "checkpoints_round_trip",
    "restore_forks",
    "at_time",
    "queries",
    "dedup_growing_state",
    "diffs",
    "annotations_attachments_events",
    "deletion",
    "reused_ids_do_not_link",
    "compaction",
    "export_import",
    "bad_input",
    "auto_checkpoints",
    "random_writes",
    "parity",
];

/// Runs the scenario called `name` (one of [`SCENARIOS`]) on `h`; false when there is none.
/// For hosts that pick scenarios by name (the WebAssembly builds).
pub fn run<H: Harness>(name: &str, h: &mut H) -> bool {
    match name {
        "checkpoints_round_trip" => checkpoints_round_trip(h),
        "restore_forks" => restore_forks(h),
        "at_time" => at_time(h),
        "queries" => queries(h),
        "dedup_growing_state" => dedup_growing_state(h),
        "diffs" => diffs(h),
        "annotations_attachments_events" => annotations_attachments_events(h),
        "deletion" => deletion(h),
        "reused_ids_do_not_link" => reused_ids_do_not_link(h),
        "compaction" => compaction(h),
        "export_import" => export_import(h),
        "bad_input" => bad_input(h),
        "auto_checkpoints" => auto_checkpoints(h),
        "random_writes" => random_writes(h),
        "parity" => parity(h),
        _ => return false,
    }
    true
}

/// Expands to one `#[test]` per conformance scenario, each with a fresh harness from `$harness`.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@each $harness;
            checkpoints_round_trip, restore_forks, at_time, queries, dedup_growing_state, diffs,
            annotations_attachments_events, deletion, reused_ids_do_not_link, compaction, export_import, bad_input,
            auto_checkpoints, random_writes, parity);
        #[test]
        fn transcript_matches_memory() {
            let mut h = $harness;
            let here = $crate::conformance::transcript(&mut h);
            let reference = $crate::conformance::transcript(&mut $crate::conformance::MemoryHarness);
            assert_eq!(here, reference);
        }
    };
    (@each $harness:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let mut h = $harness;
                $crate::conformance::$name(&mut h);
            }
        )*
    };
}

/// Recomputes every seal of a version 2 or 3 log held in `log` (header included) after its frames
/// were edited, fixing each seal frame's checksum: what someone who rewrites a log and its
/// chain does. The chain cannot tell such a log from an honest one — tests use this to reach
/// the checks behind it (checkpoint hashes) and to show what `verify` cannot prove.
pub fn reseal(log: &mut [u8]) {
    use crate::frame::{FRAME_HEADER_LEN, FrameHeader, HEADER_LEN, crc32c};
    use crate::record::{self, Record};
    let mut chain = crate::chain::Chain::fresh();
    let mut pos = HEADER_LEN;
    while let Some(head) = log.get(pos..).and_then(FrameHeader::read) {
        let start = pos + FRAME_HEADER_LEN;
        let end = start + head.len as usize;
        if end > log.len() {
            break;
        }
        let read = record::read(&log[start..end]).map(|(mut r, raw)| {
            r.hash_new_chunks(raw);
            (r, raw.len())
        });
        let record_end = end - read.as_ref().map_or(0, |(_, raw)| *raw);
        match read.map(|(r, _)| r) {
            Ok(Record::Seal(_)) => {
                let seal = chain.seal();
                // The payload is the kind byte, then the 16 seal bytes.
                log[start + 1..end].copy_from_slice(&seal);
                let crc = crc32c(&log[start..end]);
                log[pos + 4..start].copy_from_slice(&crc.to_le_bytes());
            }
            Ok(Record::SegmentStart(_)) => {}
            Ok(Record::LogStart(_) | Record::CompactLogStart(_)) => {
                chain.absorb(0, end - start, &log[start..end], None, true)
            }
            Ok(r) => {
                chain.absorb(0, end - start, &log[start..record_end], None, false);
                chain.absorb_chunk_hashes(r.chained_chunk_hashes());
            }
            Err(_) => chain.absorb(0, end - start, &log[start..record_end], None, false),
        }
        pos = end;
    }
}

/// Appends a seal to a version 2 log held in `log`, closing the frames written after its last
/// seal as one write (then reseals the log, as [`reseal`]).
pub fn append_seal(log: &mut alloc::vec::Vec<u8>) {
    crate::record::write(log, &crate::record::Record::Seal([0; 16]), &[]);
    reseal(log);
}
