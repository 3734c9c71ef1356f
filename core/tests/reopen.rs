//! Every write, accepted or refused, leaves a log that reopens into the same store.
//!
//! Random sequences of writes run on two stores that also import each other's exports; after
//! every call the log is reopened and compared with the store in memory: sessions, heads,
//! checkpoints, states, attachments, children, history, metrics, and `verify`. A write that
//! failed after reaching the log would make the store unopenable, or a reopened store differ
//! from the one the caller used; both are what this test looks for.
//!
//! Seeds: 400 by default; set `REOPEN_SEEDS` for more.

use rewind_core::conformance::fingerprint;
use rewind_core::{
    CheckpointId, DeterministicEnv, Error, Hash, MemoryBackend, NewCheckpoint, Options, Order,
    Query, RetentionPolicy, SessionId, Severity, Store,
};
use serde_json::{Map, json};

type S = Store<MemoryBackend, DeterministicEnv>;

const STEPS: usize = 60;
const KEYS: [&str; 2] = ["k1", "k2"];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

fn open(bytes: Vec<u8>) -> rewind_core::Result<S> {
    let env = DeterministicEnv::with(1_767_225_600_000, 1, 99);
    Store::open(MemoryBackend::from_bytes(bytes), env, Options::default()).map(|(s, _)| s)
}

/// Values made of a few shared 700-byte segments, so states and attachments share chunks.
struct Values(Vec<Vec<u8>>);

impl Values {
    fn new() -> Self {
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
fn metadata(r: &mut Rng) -> Map<String, serde_json::Value> {
    let mut m = Map::new();
    if r.chance(30) {
        let x = f64::from_bits(r.next() >> 2);
        if x.is_finite() {
            m.insert("x".into(), json!(x));
        }
    }
    if r.chance(10) {
        let mut deep = json!(1);
        for _ in 0..rewind_core::MAX_METADATA_DEPTH - 3 + r.below(5) {
            deep = json!([deep]);
        }
        m.insert("deep".into(), deep);
    }
    m
}

/// Everything a caller can observe, as text.
fn observed(s: &S) -> String {
    let hash = |b: &[u8]| Hash::of(b).to_hex()[..12].to_string();
    let mut out = fingerprint(s);
    for cp in s.list(&Query::new().order(Order::Ascending)).unwrap().items {
        out += &format!("state {} {:?}\n", cp.id, s.state(cp.id).map(|v| hash(&v)));
        out += &format!(
            "  metadata {}\n",
            serde_json::to_string(&cp.metadata).unwrap()
        );
        for key in s.attachment_keys(cp.id).unwrap() {
            let a = s.attachment(cp.id, key).unwrap();
            out += &format!(
                "  attachment {key} {:?}\n",
                a.map(|(ct, b)| (ct.to_string(), hash(&b)))
            );
        }
        let children: Vec<_> = s.children(cp.id).unwrap().iter().map(|c| c.id).collect();
        let history: Vec<_> = s.history(cp.id).unwrap().map(|c| c.id).collect();
        out += &format!("  children {children:?}\n  history {history:?}\n");
    }
    out
}

/// One random write on `s`; None when there was nothing to do it on.
fn write(
    s: &mut S,
    r: &mut Rng,
    values: &Values,
    exports: &mut Vec<(bool, Vec<u8>)>,
) -> Option<(String, rewind_core::Result<()>)> {
    // Ids callers may supply, at both ends of the v7 range among them.
    let given_ids: Vec<CheckpointId> = [
        "00000000-0000-7000-8000-000000000000",
        "ffffffff-ffff-7fff-bfff-ffffffffffff",
        "0190a000-0000-7000-8000-000000000001",
        "0190a000-0000-7000-8000-000000000002",
    ]
    .iter()
    .map(|t| t.parse().unwrap())
    .collect();
    let given_sessions: Vec<SessionId> = [
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
    ]
    .iter()
    .map(|t| t.parse().unwrap())
    .collect();
    let sessions: Vec<SessionId> = s.sessions().map(|x| x.id).collect();
    let live: Vec<CheckpointId> = s
        .list(&Query::new())
        .unwrap()
        .items
        .iter()
        .map(|c| c.id)
        .collect();
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
            (
                format!("create_session_with_id({id})"),
                s.create_session_with_id(id, "s", metadata(r)).map(drop),
            )
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
            let new = NewCheckpoint::new(sid, "a", &state);
            (
                format!("auto_checkpoint({sid})"),
                s.auto_checkpoint(new, "why").map(drop),
            )
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
            (
                format!("remove_checkpoints({ids:?})"),
                s.remove_checkpoints(&ids).map(drop),
            )
        }
        13 => ("vacuum".into(), s.vacuum()),
        14 => {
            let only = session(r).filter(|_| r.chance(30)).map(|sid| vec![sid]);
            let export = if r.chance(50) {
                (true, s.export_json(only.as_deref()).unwrap().into_bytes())
            } else {
                (false, s.export_binary(only.as_deref()).unwrap())
            };
            exports.push(export);
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

#[test]
fn every_write_leaves_a_log_that_reopens_into_the_same_store() {
    let seeds: u64 = std::env::var("REOPEN_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let values = Values::new();
    let mut writes = 0;
    for seed in 1..=seeds {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut stores = [open(Vec::new()).unwrap(), open(Vec::new()).unwrap()];
        let mut exports = Vec::new();
        let mut trace = Vec::new();
        for _ in 0..STEPS {
            let which = usize::from(r.chance(30));
            let s = &mut stores[which];
            let Some((what, result)) = write(s, &mut r, &values, &mut exports) else {
                continue;
            };
            trace.push(format!("[{which}] {what} -> {:?}", result.as_ref().err()));
            let failure = |why: String| format!("seed {seed}: {why}\n{}", trace.join("\n"));
            if let Err(e @ Error::Corrupt { .. }) = &result {
                panic!("{}", failure(format!("a write returned {e}")));
            }
            writes += usize::from(result.is_ok());
            let reopened = open(s.backend().bytes().to_vec())
                .unwrap_or_else(|e| panic!("{}", failure(format!("the log no longer opens: {e}"))));
            let (live, again) = (observed(s), observed(&reopened));
            assert!(
                live == again,
                "{}",
                failure(format!("reopened:\n{again}\nlive:\n{live}"))
            );
            assert!(reopened.verify().is_ok(), "{}", failure("verify".into()));
            if r.chance(10) {
                *s = reopened;
            }
        }
    }
    assert!(
        writes > seeds as usize * STEPS / 3,
        "{writes} writes succeeded"
    );
}
