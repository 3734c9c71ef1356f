//! Model-based property test: random sequences of store operations are run against the real
//! `Store` and against a plain reference model (vectors and B-tree maps), and after every step the
//! two must agree on everything observable: checkpoints and their states, session heads,
//! `latest`, queries, branches, history, seqs, metrics, and `verify`. Expected errors are checked
//! variant by variant. "Reopen" replays the log into a fresh store and requires an identical
//! fingerprint.
//!
//! Cases: 64 by default; set `PROPTEST_CASES` for more.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use rewind_core::chunker::{chunks, params_for_len};
use rewind_core::conformance::fingerprint;
use rewind_core::{
    CheckpointId, DeterministicEnv, Error, Hash, MemoryBackend, NewCheckpoint, Options, Order,
    Query, RemovalReason, RetentionPolicy, SessionId, Severity, Store, Trigger,
};
use serde_json::json;

type S = Store<MemoryBackend, DeterministicEnv>;

const TAGS: [&str; 3] = ["a", "b", "c"];
const KEYS: [&str; 2] = ["writes", "tool-output"];

// ----- operations ---------------------------------------------------------------------------

/// Chooses a checkpoint or session: usually a live one, sometimes a deleted one (or, when there
/// is none of the wanted kind, an id the store never had).
#[derive(Clone, Copy, Debug)]
struct Pick {
    idx: usize,
    dead: bool,
}

#[derive(Clone, Copy, Debug)]
enum ParentPick {
    /// The default: the session head.
    Head,
    /// No parent.
    Root,
    /// An explicit parent among the live checkpoints of the same session.
    Same(usize),
    /// A deleted checkpoint: `CheckpointNotFound`.
    Dead(usize),
    /// A live checkpoint of another session: `ParentInOtherSession`.
    Other(usize),
}

#[derive(Clone, Debug)]
enum Op {
    CreateSession,
    Checkpoint {
        session: Pick,
        vals: [u8; 3],
        text_len: u16,
        tags: u8,
        parent: ParentPick,
        trigger: u8,
    },
    Restore(Pick),
    Delete(Pick),
    DeleteSession(Pick),
    Annotate(Pick, u8),
    Attach(Pick, u8, u16),
    SetHeadNone(Pick),
    Compact(u8),
    Vacuum,
    Reopen,
}

fn pick() -> impl Strategy<Value = Pick> {
    (0usize..1000, prop::bool::weighted(0.15)).prop_map(|(idx, dead)| Pick { idx, dead })
}

fn parent_pick() -> impl Strategy<Value = ParentPick> {
    prop_oneof![
        6 => Just(ParentPick::Head),
        1 => Just(ParentPick::Root),
        3 => (0usize..1000).prop_map(ParentPick::Same),
        1 => (0usize..1000).prop_map(ParentPick::Dead),
        1 => (0usize..1000).prop_map(ParentPick::Other),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::CreateSession),
        14 => (
            pick(),
            any::<[u8; 3]>(),
            prop_oneof![2 => 0u16..200, 1 => 0u16..4000],
            any::<u8>(),
            parent_pick(),
            0u8..3,
        )
            .prop_map(|(session, vals, text_len, tags, parent, trigger)| Op::Checkpoint {
                session,
                vals,
                text_len,
                tags,
                parent,
                trigger,
            }),
        3 => pick().prop_map(Op::Restore),
        3 => pick().prop_map(Op::Delete),
        1 => pick().prop_map(Op::DeleteSession),
        2 => (pick(), 0u8..3).prop_map(|(p, s)| Op::Annotate(p, s)),
        2 => (pick(), any::<u8>(), 0u16..2500).prop_map(|(p, k, n)| Op::Attach(p, k, n)),
        1 => pick().prop_map(Op::SetHeadNone),
        1 => (0u8..4).prop_map(Op::Compact),
        1 => Just(Op::Vacuum),
        2 => Just(Op::Reopen),
    ]
}

// ----- the reference model ------------------------------------------------------------------

#[derive(Clone, Debug)]
struct MCp {
    id: CheckpointId,
    session: SessionId,
    parent: Option<CheckpointId>,
    tags: Vec<String>,
    state: Vec<u8>,
    seq: u64,
    trigger: Trigger,
    annotations: Vec<Severity>,
    attachments: BTreeMap<String, Vec<u8>>,
}

#[derive(Default, Debug)]
struct Model {
    /// Live sessions and their heads.
    sessions: BTreeMap<SessionId, Option<CheckpointId>>,
    dead_sessions: Vec<SessionId>,
    /// Live checkpoints by seq.
    cps: BTreeMap<u64, MCp>,
    seq_of: HashMap<CheckpointId, u64>,
    dead_cps: Vec<CheckpointId>,
    /// Highest seq ever handed out (0: none yet).
    max_seq: u64,
    /// Every seq ever handed out.
    seqs_used: HashSet<u64>,
}

impl Model {
    fn cp(&self, id: CheckpointId) -> Option<&MCp> {
        self.seq_of.get(&id).map(|s| &self.cps[s])
    }

    fn cp_mut(&mut self, id: CheckpointId) -> Option<&mut MCp> {
        match self.seq_of.get(&id) {
            Some(s) => self.cps.get_mut(s),
            None => None,
        }
    }

    fn live_ids(&self) -> Vec<CheckpointId> {
        self.cps.values().map(|c| c.id).collect()
    }

    fn session_cps(&self, s: SessionId) -> Vec<&MCp> {
        self.cps.values().filter(|c| c.session == s).collect()
    }

    fn pick_cp(&self, p: Pick) -> CheckpointId {
        let live = self.live_ids();
        if p.dead && !self.dead_cps.is_empty() {
            self.dead_cps[p.idx % self.dead_cps.len()]
        } else if !live.is_empty() {
            live[p.idx % live.len()]
        } else if !self.dead_cps.is_empty() {
            self.dead_cps[p.idx % self.dead_cps.len()]
        } else {
            CheckpointId::from_bytes([0xEE; 16])
        }
    }

    fn pick_session(&self, p: Pick) -> SessionId {
        let live: Vec<SessionId> = self.sessions.keys().copied().collect();
        if p.dead && !self.dead_sessions.is_empty() {
            self.dead_sessions[p.idx % self.dead_sessions.len()]
        } else if !live.is_empty() {
            live[p.idx % live.len()]
        } else if !self.dead_sessions.is_empty() {
            self.dead_sessions[p.idx % self.dead_sessions.len()]
        } else {
            SessionId::from_bytes([0xEE; 16])
        }
    }

    /// Removes a checkpoint with the documented head rule: if it was the head, the head moves
    /// to its parent when that is alive in the same session, else to the newest remaining
    /// checkpoint of the session, else to nothing.
    fn remove_cp(&mut self, id: CheckpointId) {
        let seq = self
            .seq_of
            .remove(&id)
            .expect("model: removing a dead checkpoint");
        let cp = self.cps.remove(&seq).expect("model: seq index out of sync");
        self.dead_cps.push(id);
        if self.sessions.get(&cp.session).copied().flatten() == Some(id) {
            let parent_alive = cp
                .parent
                .filter(|p| self.cp(*p).is_some_and(|pc| pc.session == cp.session));
            let newest = self
                .cps
                .values()
                .rev()
                .find(|c| c.session == cp.session)
                .map(|c| c.id);
            self.sessions.insert(cp.session, parent_alive.or(newest));
        }
    }

    fn annotations(&self) -> u64 {
        self.cps.values().map(|c| c.annotations.len() as u64).sum()
    }

    fn attachments(&self) -> u64 {
        self.cps.values().map(|c| c.attachments.len() as u64).sum()
    }

    fn logical_bytes(&self) -> u64 {
        self.cps
            .values()
            .map(|c| {
                c.state.len() as u64 + c.attachments.values().map(|a| a.len() as u64).sum::<u64>()
            })
            .sum()
    }

    /// Distinct chunks (by hash) of all live states and attachments: (count, bytes).
    fn chunk_stats(&self) -> (u64, u64) {
        let mut seen: HashMap<Hash, u64> = HashMap::new();
        for c in self.cps.values() {
            for blob in std::iter::once(&c.state).chain(c.attachments.values()) {
                for r in chunks(blob, params_for_len(blob.len())) {
                    let piece = &blob[r];
                    seen.insert(Hash::of(piece), piece.len() as u64);
                }
            }
        }
        (seen.len() as u64, seen.values().sum())
    }
}

// ----- inputs -------------------------------------------------------------------------------

/// A fixed pseudo-random text; states take prefixes of it, so they share chunks.
fn shared_text() -> &'static str {
    use std::sync::OnceLock;
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        const WORDS: [&str; 10] = [
            "agent", "tool", "plan", "observe", "retry", "search", "answer", "think", "call",
            "result",
        ];
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut out = String::new();
        while out.len() < 4100 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push_str(WORDS[(x % 10) as usize]);
            out.push(if x & 0x100 == 0 { ' ' } else { '\n' });
        }
        out
    })
}

fn make_state(vals: [u8; 3], text_len: u16) -> Vec<u8> {
    let text = &shared_text()[..text_len as usize];
    serde_json::to_vec(&json!({ "a_log": text, "k": vals[0], "v": [vals[1], vals[2]] }))
        .expect("state serialises")
}

fn attachment_bytes(seed: u8, len: u16) -> Vec<u8> {
    let mut x = u64::from(seed) * 0x9E37_79B9 + 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect()
}

fn severity(s: u8) -> Severity {
    match s {
        0 => Severity::Info,
        1 => Severity::Warning,
        _ => Severity::Critical,
    }
}

fn trigger(t: u8) -> Trigger {
    match t {
        0 => Trigger::Manual,
        1 => Trigger::Automatic {
            reason: "before tool call".into(),
        },
        _ => Trigger::Scheduled,
    }
}

// ----- harness ------------------------------------------------------------------------------

fn open_fresh() -> S {
    Store::open(
        MemoryBackend::new(),
        DeterministicEnv::with(1_767_225_600_000, 3, 7),
        Options::default(),
    )
    .expect("fresh store opens")
    .0
}

/// Drops the store and replays its log into a new one with the same (cloned) environment.
fn reopen(mut store: S) -> Result<S, TestCaseError> {
    let env = store.env_mut().clone();
    let options = store.options().clone();
    let bytes = store.into_backend().into_bytes();
    let (store, report) = Store::open(MemoryBackend::from_bytes(bytes), env, options)
        .map_err(|e| TestCaseError::fail(format!("reopen failed: {e}")))?;
    prop_assert_eq!(report.truncated_bytes, 0);
    Ok(store)
}

fn ids<'a>(items: impl IntoIterator<Item = &'a rewind_core::Checkpoint>) -> Vec<CheckpointId> {
    items.into_iter().map(|c| c.id).collect()
}

macro_rules! expect_err {
    ($result:expr, $pattern:pat $(if $guard:expr)?) => {{
        match $result {
            Err($pattern) $(if $guard)? => {}
            Err(other) => {
                return Err(TestCaseError::fail(format!(
                    "expected {}, got error {other:?}",
                    stringify!($pattern)
                )));
            }
            Ok(_) => {
                return Err(TestCaseError::fail(format!(
                    "expected {}, got Ok",
                    stringify!($pattern)
                )));
            }
        }
    }};
}

fn ok<T>(r: rewind_core::Result<T>, what: &str) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("{what} failed: {e:?}")))
}

/// Everything the store shows must agree with the model.
fn check(store: &S, m: &Model) -> Result<(), TestCaseError> {
    // Metrics.
    let metrics = store.metrics();
    prop_assert_eq!(metrics.checkpoints, m.cps.len() as u64, "checkpoint count");
    prop_assert_eq!(metrics.sessions, m.sessions.len() as u64, "session count");
    prop_assert_eq!(metrics.annotations, m.annotations(), "annotation count");
    prop_assert_eq!(metrics.attachments, m.attachments(), "attachment count");
    prop_assert_eq!(metrics.logical_bytes, m.logical_bytes(), "logical bytes");
    let (chunk_count, stored) = m.chunk_stats();
    prop_assert_eq!(metrics.chunks, chunk_count, "distinct chunks");
    prop_assert_eq!(metrics.stored_bytes, stored, "stored bytes");
    prop_assert!(
        metrics.next_seq > m.max_seq,
        "next_seq {} would reuse seq {}",
        metrics.next_seq,
        m.max_seq
    );

    // Sessions, heads, latest, per-session queries, branches.
    let store_sessions: Vec<SessionId> = store.sessions().map(|s| s.id).collect();
    let model_sessions: Vec<SessionId> = m.sessions.keys().copied().collect();
    prop_assert_eq!(store_sessions, model_sessions);
    for (&sid, &head) in &m.sessions {
        let mine = m.session_cps(sid);
        let session = ok(store.session(sid), "session")?;
        prop_assert_eq!(session.head, head, "head of {}", sid);
        prop_assert_eq!(session.checkpoints, mine.len() as u64);
        let latest = ok(store.latest(sid), "latest")?.map(|c| c.id);
        prop_assert_eq!(latest, mine.last().map(|c| c.id), "latest of {}", sid);
        let want: Vec<CheckpointId> = mine.iter().map(|c| c.id).collect();
        let asc = ok(
            store.list(&Query::new().session(sid).order(Order::Ascending)),
            "list",
        )?;
        prop_assert_eq!(ids(asc.items), want.clone(), "list by session");
        let mut rev = want;
        rev.reverse();
        let desc = ok(store.list(&Query::new().session(sid)), "list")?;
        prop_assert_eq!(ids(desc.items), rev, "list by session, newest first");
        // Tips: checkpoints without a live child in the session, newest first.
        let has_child: HashSet<CheckpointId> = mine.iter().filter_map(|c| c.parent).collect();
        let tips: Vec<CheckpointId> = mine
            .iter()
            .rev()
            .filter(|c| !has_child.contains(&c.id))
            .map(|c| c.id)
            .collect();
        let branches = ok(store.branches(sid), "branches")?;
        prop_assert_eq!(ids(branches), tips, "branches of {}", sid);
    }
    for &sid in &m.dead_sessions {
        expect_err!(store.session(sid), Error::SessionNotFound(x) if x == sid);
        expect_err!(store.latest(sid), Error::SessionNotFound(x) if x == sid);
        expect_err!(
            store.list(&Query::new().session(sid)),
            Error::SessionNotFound(x) if x == sid
        );
    }

    // Checkpoints.
    let mut last_seq = 0;
    for cp in m.cps.values() {
        let got = ok(store.get(cp.id), "get")?;
        prop_assert!(got.seq > last_seq, "seqs not strictly increasing");
        last_seq = got.seq;
        prop_assert_eq!(got.seq, cp.seq);
        prop_assert_eq!(got.session, cp.session);
        prop_assert_eq!(got.parent, cp.parent);
        prop_assert_eq!(&got.tags, &cp.tags);
        prop_assert_eq!(&got.trigger, &cp.trigger);
        prop_assert_eq!(got.state_len, cp.state.len() as u64);
        prop_assert_eq!(store.get_by_seq(cp.seq).map(|c| c.id), Some(cp.id));
        let state = ok(store.state(cp.id), "state")?;
        prop_assert!(state == cp.state, "state bytes of {} differ", cp.id);
        let notes: Vec<Severity> = ok(store.annotations(cp.id), "annotations")?
            .iter()
            .map(|a| a.severity)
            .collect();
        prop_assert_eq!(&notes, &cp.annotations);
        let keys: Vec<String> = ok(store.attachment_keys(cp.id), "attachment_keys")?
            .map(String::from)
            .collect();
        let want_keys: Vec<String> = cp.attachments.keys().cloned().collect();
        prop_assert_eq!(keys, want_keys);
        for (k, bytes) in &cp.attachments {
            let got = ok(store.attachment(cp.id, k), "attachment")?.map(|(_, b)| b);
            prop_assert!(got.as_ref() == Some(bytes), "attachment {} of {}", k, cp.id);
        }
        // History: the chain of live ancestors.
        let mut chain = vec![cp.id];
        let mut at = cp.parent;
        while let Some(p) = at.and_then(|p| m.cp(p)) {
            chain.push(p.id);
            at = p.parent;
        }
        let history: Vec<CheckpointId> =
            ok(store.history(cp.id), "history")?.map(|c| c.id).collect();
        prop_assert_eq!(history, chain, "history of {}", cp.id);
    }
    for &id in &m.dead_cps {
        expect_err!(store.get(id), Error::CheckpointNotFound(x) if x == id);
        expect_err!(store.state(id), Error::CheckpointNotFound(x) if x == id);
    }

    // Store-wide queries.
    let all: Vec<CheckpointId> = m.live_ids();
    let page = ok(store.list(&Query::new().order(Order::Ascending)), "list")?;
    prop_assert_eq!(ids(page.items), all, "list everything");
    for tag in TAGS {
        let want: Vec<CheckpointId> = m
            .cps
            .values()
            .filter(|c| c.tags.iter().any(|t| t == tag))
            .map(|c| c.id)
            .collect();
        let page = ok(
            store.list(&Query::new().tag(tag).order(Order::Ascending)),
            "list by tag",
        )?;
        prop_assert_eq!(ids(page.items), want, "list by tag {}", tag);
    }
    let mut tag_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in m.cps.values() {
        for t in &c.tags {
            *tag_counts.entry(t.as_str()).or_default() += 1;
        }
    }
    let want_counts: Vec<(&str, usize)> = tag_counts.into_iter().collect();
    prop_assert_eq!(store.tags(), want_counts, "tag counts");

    let report = store.verify();
    prop_assert!(report.is_ok(), "verify: {:?}", report.first_error);
    prop_assert_eq!(report.checkpoints, m.cps.len() as u64);
    Ok(())
}

/// Runs one operation on both the store and the model.
fn step(store: &mut Option<S>, m: &mut Model, op: &Op, n: usize) -> Result<(), TestCaseError> {
    let s = store.as_mut().expect("store present");
    match *op {
        Op::CreateSession => {
            let id = ok(
                s.create_session(format!("session {n}"), Default::default()),
                "create",
            )?;
            prop_assert!(!m.sessions.contains_key(&id) && !m.dead_sessions.contains(&id));
            m.sessions.insert(id, None);
        }
        Op::Checkpoint {
            session,
            vals,
            text_len,
            tags,
            parent,
            trigger: t,
        } => {
            let sid = m.pick_session(session);
            let state = make_state(vals, text_len);
            let mut tag_list: Vec<String> = TAGS
                .iter()
                .enumerate()
                .filter(|(i, _)| tags & (1 << i) != 0)
                .map(|(_, t)| t.to_string())
                .collect();
            if tags & 0x80 != 0 {
                // Duplicates are merged.
                tag_list.extend(tag_list.clone());
                tag_list.reverse();
            }
            let mut new = NewCheckpoint::new(sid, format!("step {n}"), &state)
                .tags(tag_list.clone())
                .trigger(trigger(t));
            let head = m.sessions.get(&sid).copied().flatten();
            // (explicit parent, expected parent, expected error)
            enum Expect {
                Parent(Option<CheckpointId>),
                NotFound(CheckpointId),
                OtherSession(CheckpointId),
            }
            let same: Vec<CheckpointId> = m.session_cps(sid).iter().map(|c| c.id).collect();
            let other: Vec<CheckpointId> = m
                .cps
                .values()
                .filter(|c| c.session != sid)
                .map(|c| c.id)
                .collect();
            let expect = match parent {
                ParentPick::Root => {
                    new = new.root();
                    Expect::Parent(None)
                }
                ParentPick::Same(i) if !same.is_empty() => {
                    let p = same[i % same.len()];
                    new = new.parent(p);
                    Expect::Parent(Some(p))
                }
                ParentPick::Dead(i) if !m.dead_cps.is_empty() => {
                    let p = m.dead_cps[i % m.dead_cps.len()];
                    new = new.parent(p);
                    Expect::NotFound(p)
                }
                ParentPick::Other(i) if !other.is_empty() => {
                    let p = other[i % other.len()];
                    new = new.parent(p);
                    Expect::OtherSession(p)
                }
                _ => Expect::Parent(head),
            };
            let result = s.checkpoint(new).cloned();
            if !m.sessions.contains_key(&sid) {
                expect_err!(result, Error::SessionNotFound(x) if x == sid);
                return Ok(());
            }
            match expect {
                Expect::NotFound(p) => {
                    expect_err!(result, Error::CheckpointNotFound(x) if x == p);
                }
                Expect::OtherSession(p) => {
                    expect_err!(
                        result,
                        Error::ParentInOtherSession { parent, session } if parent == p && session == sid
                    );
                }
                Expect::Parent(parent) => {
                    let cp = ok(result, "checkpoint")?;
                    prop_assert_eq!(cp.parent, parent, "parent of the new checkpoint");
                    prop_assert!(
                        cp.seq > m.max_seq,
                        "seq {} not above every earlier seq ({})",
                        cp.seq,
                        m.max_seq
                    );
                    prop_assert!(m.seqs_used.insert(cp.seq), "seq {} reused", cp.seq);
                    prop_assert!(m.cp(cp.id).is_none() && !m.dead_cps.contains(&cp.id));
                    m.max_seq = cp.seq;
                    let mut tags = tag_list;
                    tags.sort();
                    tags.dedup();
                    m.seq_of.insert(cp.id, cp.seq);
                    m.cps.insert(
                        cp.seq,
                        MCp {
                            id: cp.id,
                            session: sid,
                            parent,
                            tags,
                            state,
                            seq: cp.seq,
                            trigger: trigger(t),
                            annotations: Vec::new(),
                            attachments: BTreeMap::new(),
                        },
                    );
                    m.sessions.insert(sid, Some(cp.id));
                }
            }
        }
        Op::Restore(p) => {
            let id = m.pick_cp(p);
            let result = s.restore(id);
            match m.cp(id) {
                None => expect_err!(result, Error::CheckpointNotFound(x) if x == id),
                Some(cp) => {
                    let r = ok(result, "restore")?;
                    prop_assert_eq!(r.checkpoint, id);
                    prop_assert_eq!(r.session, cp.session);
                    prop_assert!(r.state == cp.state, "restored state differs");
                    m.sessions.insert(cp.session, Some(id));
                }
            }
        }
        Op::Delete(p) => {
            let id = m.pick_cp(p);
            let result = s.delete(id);
            if m.cp(id).is_none() {
                expect_err!(result, Error::CheckpointNotFound(x) if x == id);
            } else {
                ok(result, "delete")?;
                m.remove_cp(id);
            }
        }
        Op::DeleteSession(p) => {
            let sid = m.pick_session(p);
            let result = s.delete_session(sid);
            if !m.sessions.contains_key(&sid) {
                expect_err!(result, Error::SessionNotFound(x) if x == sid);
            } else {
                let count = ok(result, "delete_session")?;
                let doomed: Vec<CheckpointId> = m.session_cps(sid).iter().map(|c| c.id).collect();
                prop_assert_eq!(count, doomed.len() as u64, "delete_session count");
                for id in doomed.into_iter().rev() {
                    m.remove_cp(id);
                }
                m.sessions.remove(&sid);
                m.dead_sessions.push(sid);
            }
        }
        Op::Annotate(p, sev) => {
            let id = m.pick_cp(p);
            let result = s.annotate(id, format!("note {n}"), severity(sev)).cloned();
            match m.cp_mut(id) {
                None => expect_err!(result, Error::CheckpointNotFound(x) if x == id),
                Some(cp) => {
                    let a = ok(result, "annotate")?;
                    prop_assert_eq!(a.severity, severity(sev));
                    cp.annotations.push(severity(sev));
                }
            }
        }
        Op::Attach(p, key, len) => {
            let id = m.pick_cp(p);
            let k = KEYS[key as usize % KEYS.len()];
            let bytes = attachment_bytes(key, len);
            let result = s.attach(id, k, "application/octet-stream", &bytes);
            match m.cp_mut(id) {
                None => expect_err!(result, Error::CheckpointNotFound(x) if x == id),
                Some(cp) => {
                    ok(result, "attach")?;
                    cp.attachments.insert(k.to_string(), bytes);
                }
            }
        }
        Op::SetHeadNone(p) => {
            let sid = m.pick_session(p);
            let result = s.set_head(sid, None);
            if let Some(head) = m.sessions.get_mut(&sid) {
                ok(result, "set_head")?;
                *head = None;
            } else {
                expect_err!(result, Error::SessionNotFound(x) if x == sid);
            }
        }
        Op::Compact(keep) => {
            let keep = keep as usize;
            // keep_last(n): per session, everything but the n newest goes, except heads and
            // critically annotated checkpoints (which still count towards the n).
            let mut doomed: Vec<(u64, CheckpointId)> = Vec::new();
            for (&sid, &head) in &m.sessions {
                for (rank, c) in m.session_cps(sid).iter().rev().enumerate() {
                    let critical = c.annotations.contains(&Severity::Critical);
                    if rank >= keep && head != Some(c.id) && !critical {
                        doomed.push((c.seq, c.id));
                    }
                }
            }
            doomed.sort();
            let want: Vec<CheckpointId> = doomed.iter().map(|(_, id)| *id).collect();
            let policy = RetentionPolicy::keep_last(keep);
            let plan = ok(s.plan_compaction(&policy), "plan_compaction")?;
            let planned: Vec<CheckpointId> = plan.remove.iter().map(|(id, _)| *id).collect();
            prop_assert_eq!(&planned, &want, "compaction plan");
            prop_assert!(
                plan.remove
                    .iter()
                    .all(|(_, r)| *r == RemovalReason::BeyondKeepLast(keep))
            );
            let before = s.metrics().next_seq;
            let report = ok(s.compact(&policy), "compact")?;
            prop_assert_eq!(report.removed, want.len() as u64);
            prop_assert_eq!(report.log_bytes_after, s.metrics().log_bytes);
            prop_assert_eq!(s.metrics().next_seq, before, "compaction changed next_seq");
            for id in want {
                m.remove_cp(id);
            }
        }
        Op::Vacuum => {
            let before = fingerprint(s);
            ok(s.vacuum(), "vacuum")?;
            prop_assert_eq!(fingerprint(s), before, "vacuum changed the store");
        }
        Op::Reopen => {
            let before = fingerprint(s);
            let old = store.take().expect("store present");
            let fresh = reopen(old)?;
            prop_assert_eq!(fingerprint(&fresh), before, "replay changed the store");
            *store = Some(fresh);
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(Config {
        cases: cases(),
        // Only the two test files of this suite may be created: no regression file.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn store_agrees_with_reference_model(ops in prop::collection::vec(op(), 0..60)) {
        let mut store = Some(open_fresh());
        let mut model = Model::default();
        check(store.as_ref().unwrap(), &model)?;
        for (n, op) in ops.iter().enumerate() {
            step(&mut store, &mut model, op, n)
                .map_err(|e| TestCaseError::fail(format!("step {n} {op:?}: {e}")))?;
            check(store.as_ref().unwrap(), &model)
                .map_err(|e| TestCaseError::fail(format!("after step {n} {op:?}: {e}")))?;
        }
        // Finally, a replay of whatever the sequence left must be identical.
        let s = store.take().unwrap();
        let before = fingerprint(&s);
        let s = reopen(s)?;
        prop_assert_eq!(fingerprint(&s), before);
        check(&s, &model)?;
    }
}

/// A hand-written sequence covering the head rules the random test relies on, so a failure of
/// the basics shows up by name.
#[test]
fn head_rules_on_delete() {
    let mut s = open_fresh();
    let sid = s.create_session("s", Default::default()).unwrap();
    let a = s
        .checkpoint(NewCheckpoint::new(sid, "a", b"{}"))
        .unwrap()
        .id;
    let b = s
        .checkpoint(NewCheckpoint::new(sid, "b", b"{\"b\":1}"))
        .unwrap()
        .id;
    let c = s
        .checkpoint(NewCheckpoint::new(sid, "c", b"{\"c\":1}").parent(a))
        .unwrap()
        .id;
    // Deleting the head moves it to its live parent.
    s.delete(c).unwrap();
    assert_eq!(s.session(sid).unwrap().head, Some(a));
    // Parent gone: the newest remaining checkpoint.
    s.restore(b).unwrap();
    s.delete(a).unwrap();
    assert_eq!(s.session(sid).unwrap().head, Some(b));
    s.delete(b).unwrap();
    assert_eq!(s.session(sid).unwrap().head, None);
    let mut seen = BTreeSet::new();
    for id in [a, b, c] {
        assert!(seen.insert(id));
        assert!(matches!(s.get(id), Err(Error::CheckpointNotFound(x)) if x == id));
    }
    let before = fingerprint(&s);
    let s = reopen(s).unwrap();
    assert_eq!(fingerprint(&s), before);
}
