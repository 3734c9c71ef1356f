//! Random writes, accepted or refused, on two stores that import each other's exports: after
//! each write the log must open again into the store the caller holds (sessions, heads,
//! checkpoints, states, attachments, children, history, metrics), and verify.
//!
//! A write that failed after reaching the log would leave a store that cannot be opened, or that
//! reopens different from what the caller used; this is what the scenario looks for, on every
//! backend and host. Everything is seeded, so a failure names its seed and the writes before it.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ops::RangeInclusive;

use serde_json::{Map, Value, json};

use super::{Harness, TestStore, fingerprint, open, reopen};
use crate::compact::RetentionPolicy;
use crate::limits::MAX_METADATA_DEPTH;
use crate::query::{Order, Query};
use crate::{CheckpointId, Error, Hash, NewCheckpoint, Result, SessionId, Severity};

/// Writes per seed.
const STEPS: usize = 40;
const KEYS: [&str; 2] = ["k1", "k2"];
/// Ids callers may supply, at both ends of the v7 range among them.
const GIVEN_IDS: [&str; 4] = [
    "00000000-0000-7000-8000-000000000000",
    "ffffffff-ffff-7fff-bfff-ffffffffffff",
    "0190a000-0000-7000-8000-000000000001",
    "0190a000-0000-7000-8000-000000000002",
];
const GIVEN_SESSIONS: [&str; 2] = [
    "00000000-0000-4000-8000-000000000001",
    "00000000-0000-4000-8000-000000000002",
];

/// The conformance scenario: a few seeds.
pub fn random_writes<H: Harness>(h: &mut H) {
    random_writes_seeds(h, 1..=8);
}

/// The scenario over `seeds`. With a harness that can copy a backend ([`Harness::copy`]) every
/// write is checked against a copy of the log; otherwise the store is reopened after about one
/// write in four, and at the end.
pub fn random_writes_seeds<H: Harness>(h: &mut H, seeds: RangeInclusive<u64>) {
    let values = Values::new();
    let mut accepted = 0;
    let mut total = 0;
    for seed in seeds {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut stores = [open::<H>(h.fresh()), open::<H>(h.fresh())];
        let mut exports = Vec::new();
        let mut trace: Vec<String> = Vec::new();
        for step in 0..STEPS {
            let which = usize::from(r.chance(30));
            let Some((what, result)) =
                write::<H>(&mut stores[which], &mut r, &values, &mut exports)
            else {
                continue;
            };
            trace.push(format!("[{which}] {what} -> {:?}", result.as_ref().err()));
            let failure = |why: &str| format!("seed {seed}: {why}\n{}", trace.join("\n"));
            if let Err(e @ Error::Corrupt { .. }) = &result {
                panic!("{}", failure(&format!("a write returned {e}")));
            }
            total += 1;
            accepted += usize::from(result.is_ok());
            if r.chance(30) {
                // The reopen below then starts from a snapshot of this point (and, later, an
                // older one with the log's tail after it).
                let _ = stores[which].write_snapshot();
            }
            let live = observed::<H>(&stores[which]);
            let again = match h.copy(stores[which].backend()) {
                Some(copy) => observed::<H>(&open::<H>(copy)),
                None if r.chance(25) || step + 1 == STEPS => {
                    let [a, b] = stores;
                    let (a, b) = if which == 0 {
                        (reopen(h, a), b)
                    } else {
                        (a, reopen(h, b))
                    };
                    stores = [a, b];
                    observed::<H>(&stores[which])
                }
                None => continue,
            };
            assert!(
                live == again,
                "{}",
                failure(&format!("reopened:\n{again}\nlive:\n{live}"))
            );
            assert!(stores[which].verify().is_ok(), "{}", failure("verify"));
        }
    }
    assert!(
        accepted * 3 > total,
        "only {accepted} of {total} writes were accepted"
    );
}

/// A xorshift generator: the seeded randomness of the scenarios and of hosts' tests (not for
/// anything but tests). Its state must not be 0.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Values made of a few shared 700-byte segments, so states and attachments share chunks.
pub(super) struct Values(Vec<Vec<u8>>);

impl Values {
    pub(super) fn new() -> Self {
        let mut r = Rng(12345);
        Values(
            (0..8)
                .map(|_| (0..700).map(|_| (r.next() % 251) as u8).collect())
                .collect(),
        )
    }

    fn draw(&self, r: &mut Rng) -> Vec<u8> {
        let mut v = Vec::new();
        for _ in 0..r.below(5) {
            v.extend_from_slice(&self.0[r.below(self.0.len())]);
        }
        if r.chance(30) {
            v.extend_from_slice(&self.0[0][..r.below(300)]);
        }
        v
    }
}

/// Metadata that has tripped readers: floats that parse back inexactly without care, and
/// nesting around the depth limit.
fn metadata(r: &mut Rng) -> Map<String, Value> {
    let mut m = Map::new();
    if r.chance(30) {
        let x = f64::from_bits(r.next() >> 2);
        if x.is_finite() {
            m.insert("x".into(), json!(x));
        }
    }
    if r.chance(10) {
        let mut deep = json!(1);
        for _ in 0..MAX_METADATA_DEPTH - 3 + r.below(5) {
            deep = json!([deep]);
        }
        m.insert("deep".into(), deep);
    }
    m
}

/// Everything a caller can observe, as text.
pub(super) fn observed<H: Harness>(s: &TestStore<H>) -> String {
    let hash = |b: &[u8]| Hash::of(b).to_hex()[..12].to_string();
    let mut out = fingerprint(s);
    let items = match s.list(&Query::new().order(Order::Ascending)) {
        Ok(page) => page.items,
        Err(e) => return format!("{out}list failed: {e}"),
    };
    for cp in items {
        let state = s.state(cp.id).map(|v| hash(&v));
        out += &format!("state {} {state:?}\n", cp.id);
        let metadata = serde_json::to_string(&cp.metadata).unwrap_or_default();
        out += &format!("  metadata {metadata}\n");
        let keys: Vec<&str> = s
            .attachment_keys(cp.id)
            .map(Iterator::collect)
            .unwrap_or_default();
        for key in keys {
            let a = s
                .attachment(cp.id, key)
                .map(|a| a.map(|(ct, b)| (ct.to_string(), hash(&b))));
            out += &format!("  attachment {key} {a:?}\n");
        }
        let children: Vec<CheckpointId> = s
            .children(cp.id)
            .map(|c| c.iter().map(|c| c.id).collect())
            .unwrap_or_default();
        let history: Vec<CheckpointId> = s
            .history(cp.id)
            .map(|h| h.map(|c| c.id).collect())
            .unwrap_or_default();
        out += &format!("  children {children:?}\n  history {history:?}\n");
    }
    out
}

/// One random write on `s`, described; None when there was nothing to do it on.
pub(super) fn write<H: Harness>(
    s: &mut TestStore<H>,
    r: &mut Rng,
    values: &Values,
    exports: &mut Vec<(bool, Vec<u8>)>,
) -> Option<(String, Result<()>)> {
    let given_ids: Vec<CheckpointId> = GIVEN_IDS.iter().filter_map(|t| t.parse().ok()).collect();
    let given_sessions: Vec<SessionId> = GIVEN_SESSIONS
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect();
    let sessions: Vec<SessionId> = s.sessions().map(|x| x.id).collect();
    let live: Vec<CheckpointId> = s
        .list(&Query::new())
        .map(|p| p.items.iter().map(|c| c.id).collect())
        .unwrap_or_default();
    let any_checkpoint = |r: &mut Rng| {
        if !live.is_empty() && r.chance(85) {
            r.pick(&live)
        } else {
            r.pick(&given_ids)
        }
    };
    let session = |r: &mut Rng| (!sessions.is_empty()).then(|| r.pick(&sessions));
    let weights = [3, 2, 14, 5, 1, 2, 1, 2, 1, 1, 1, 2, 1, 2, 3, 3];
    let mut roll = r.below(weights.iter().sum());
    let op = weights.iter().position(|w| {
        let hit = roll < *w;
        roll = roll.saturating_sub(*w);
        hit
    })?;
    Some(match op {
        0 => (
            "create_session".into(),
            s.create_session("s", metadata(r)).map(drop),
        ),
        1 => {
            let id = r.pick(&given_sessions);
            let result = s.create_session_with_id(id, "s", metadata(r)).map(drop);
            (format!("create_session_with_id({id})"), result)
        }
        2 => {
            let sid = session(r)?;
            let state = values.draw(r);
            let mut new = NewCheckpoint::new(sid, "m", &state).metadata(metadata(r));
            let mut what = format!("checkpoint({sid}");
            match r.below(4) {
                0 => new = new.root(),
                1 => {
                    let p = any_checkpoint(r);
                    what += &format!(", parent {p}");
                    new = new.parent(p);
                }
                _ => {}
            }
            if r.chance(40) {
                let id = r.pick(&given_ids);
                what += &format!(", id {id}");
                new = new.id(id);
            }
            if r.chance(20) {
                new = new.tag("t");
            }
            let attached: Vec<(&str, Vec<u8>, Option<CheckpointId>)> = (0..r.below(3))
                .map(|_| {
                    let base = r.chance(40).then(|| any_checkpoint(r));
                    (r.pick(&KEYS), values.draw(r), base)
                })
                .collect();
            for (key, bytes, base) in &attached {
                what += &format!(", attach {key} base {base:?}");
                new = match base {
                    Some(b) => new.attach_based_on(*key, "ct", bytes, *b),
                    None => new.attach(*key, "ct", bytes),
                };
            }
            (what + ")", s.checkpoint(new).map(drop))
        }
        3 => {
            let id = any_checkpoint(r);
            let key = r.pick(&KEYS);
            let bytes = values.draw(r);
            (
                format!("attach({id}, {key})"),
                s.attach(id, key, "ct", &bytes),
            )
        }
        4 => {
            let sid = session(r)?;
            let state = values.draw(r);
            let result = s.auto_checkpoint(NewCheckpoint::new(sid, "a", &state), "why");
            (format!("auto_checkpoint({sid})"), result.map(drop))
        }
        5 => {
            let id = any_checkpoint(r);
            let severity = if r.chance(20) {
                Severity::Critical
            } else {
                Severity::Info
            };
            (
                format!("annotate({id})"),
                s.annotate(id, "n", severity).map(drop),
            )
        }
        6 => {
            let id = any_checkpoint(r);
            (format!("delete({id})"), s.delete(id))
        }
        7 => {
            let sid = session(r)?;
            (
                format!("delete_session({sid})"),
                s.delete_session(sid).map(drop),
            )
        }
        8 => {
            let id = any_checkpoint(r);
            (format!("restore({id})"), s.restore(id).map(drop))
        }
        9 => {
            let sid = session(r)?;
            (format!("set_head({sid}, None)"), s.set_head(sid, None))
        }
        10 => {
            let n = r.below(4);
            let policy = RetentionPolicy::keep_last(n).protect_heads(r.chance(50));
            (
                format!("compact(keep_last {n})"),
                s.compact(&policy).map(drop),
            )
        }
        11 => {
            let bytes = r.below(8000) as u64;
            let policy = RetentionPolicy::max_bytes(bytes);
            (
                format!("compact(max_bytes {bytes})"),
                s.compact(&policy).map(drop),
            )
        }
        12 => {
            let ids: Vec<CheckpointId> = (0..r.below(3)).map(|_| any_checkpoint(r)).collect();
            let result = s.remove_checkpoints(&ids).map(drop);
            (format!("remove_checkpoints({ids:?})"), result)
        }
        13 => ("vacuum".into(), s.vacuum()),
        14 => {
            let only = session(r)
                .filter(|_| r.chance(30))
                .map(|sid| alloc::vec![sid]);
            let export = if r.chance(50) {
                s.export_json(only.as_deref())
                    .map(|e| (true, e.into_bytes()))
            } else {
                s.export_binary(only.as_deref()).map(|e| (false, e))
            };
            if let Ok(export) = export {
                exports.push(export);
            }
            return None;
        }
        _ => {
            if exports.is_empty() {
                return None;
            }
            let i = r.below(exports.len());
            let (json, bytes) = &exports[i];
            if *json {
                (format!("import_json(#{i})"), s.import_json(bytes).map(drop))
            } else {
                (
                    format!("import_binary(#{i})"),
                    s.import_binary(bytes).map(drop),
                )
            }
        }
    })
}
