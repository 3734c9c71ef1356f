//! Writer processes on a store on PostgreSQL (the `pg_writer` binary), what they acknowledged,
//! and the checks a run ends with.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use rewind::{CheckpointId, Order, PgLocation, PgOptions, PgStore, Query, SessionId};

/// One acknowledged checkpoint, as a writer printed it.
#[derive(Clone, Debug)]
pub struct Acked {
    /// The writer's name.
    pub writer: String,
    /// The checkpoint.
    pub id: CheckpointId,
    /// The seq its writer was told.
    pub seq: u64,
    /// How long the call took.
    pub micros: u64,
}

fn parse(line: &str) -> Option<Acked> {
    let mut parts = line.split_whitespace();
    if parts.next()? != "ok" {
        return None;
    }
    let writer = parts.next()?.to_string();
    let _n = parts.next()?;
    Some(Acked {
        writer,
        id: parts.next()?.parse().ok()?,
        seq: parts.next()?.parse().ok()?,
        micros: parts.next()?.parse().ok()?,
    })
}

/// A running writer process and the thread collecting what it acknowledged.
pub struct Writer {
    child: Child,
    acked: thread::JoinHandle<(Vec<Acked>, Option<u64>)>,
    count: Arc<AtomicUsize>,
}

impl Writer {
    /// Starts `pg_writer` as `cmd` says (`<url> shared|own <name> <count>`).
    pub fn spawn(mut cmd: Command) -> Writer {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a writer");
        let stdout = child.stdout.take().expect("piped stdout");
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let acked = thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut acked = Vec::new();
            let mut done = None;
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    // Only whole lines: one cut by a kill was not fully reported.
                    Ok(n) if n > 0 && line.ends_with(b"\n") => {
                        let text = String::from_utf8_lossy(&line);
                        if let Some(retries) = text.trim().strip_prefix("done ") {
                            done = retries.parse().ok();
                        } else if let Some(a) = parse(&text) {
                            acked.push(a);
                            counted.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    _ => break,
                }
            }
            (acked, done)
        });
        Writer {
            child,
            acked,
            count,
        }
    }

    /// How many writes it acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits for the writer to finish its count.
    pub fn finish(self) -> Vec<Acked> {
        self.finish_counting().0
    }

    /// [`Writer::finish`], with how many writes it planned again because others wrote first.
    pub fn finish_counting(mut self) -> (Vec<Acked>, u64) {
        let status = self.child.wait().expect("wait for a writer");
        let (acked, done) = self.acked.join().expect("reader thread");
        match done {
            Some(retries) if status.success() => (acked, retries),
            _ => panic!("a writer failed: {status}"),
        }
    }

    /// SIGKILLs the writer and returns what it acknowledged before.
    pub fn kill(mut self) -> Vec<Acked> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.acked.join().expect("reader thread").0
    }
}

/// Opens the store at `url` read-only.
pub fn open_read_only(url: &str) -> PgStore {
    let location = PgLocation::parse(url).expect("a URL");
    PgStore::open(
        &location,
        PgOptions::default().read_only(true),
        rewind::Options::default(),
    )
    .expect("open the store read-only")
}

/// The checks every run ends with, from a fresh process's view: every acknowledged checkpoint
/// is there with the seq its writer was told, seqs are unique and increasing, each session's
/// checkpoints form one chain in seq order (every write took the head the previous one left:
/// no write was planned on a stale view), and the store verifies.
pub fn check(url: &str, acked: &[Acked]) {
    let store = open_read_only(url);
    store.read(|s| {
        let all = s
            .list(&Query::new().order(Order::Ascending))
            .expect("list")
            .items;
        let by_id: HashMap<CheckpointId, u64> = all.iter().map(|c| (c.id, c.seq)).collect();
        for a in acked {
            assert_eq!(
                by_id.get(&a.id),
                Some(&a.seq),
                "checkpoint {} acknowledged to {} with seq {} is missing or moved",
                a.id,
                a.writer,
                a.seq
            );
        }
        let mut last = 0;
        let mut heads: BTreeMap<SessionId, CheckpointId> = BTreeMap::new();
        for cp in &all {
            assert!(cp.seq > last, "seq {} after {last}", cp.seq);
            last = cp.seq;
            // A parent a compaction removed leaves its child first among what is left.
            let parent = cp.parent.filter(|p| by_id.contains_key(p));
            assert_eq!(
                parent,
                heads.get(&cp.session).copied(),
                "checkpoint {} (seq {}) does not follow its session's previous one",
                cp.id,
                cp.seq
            );
            heads.insert(cp.session, cp.id);
        }
        let report = s.verify();
        assert!(report.is_ok(), "{report:?}");
    });
}

/// Latency of the acknowledged writes: count, p50 and p99.
pub fn spread(acked: &[Acked]) -> String {
    let mut micros: Vec<u64> = acked.iter().map(|a| a.micros).collect();
    micros.sort_unstable();
    if micros.is_empty() {
        return "no writes".into();
    }
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize];
    format!(
        "{} writes, p50 {} µs, p99 {} µs",
        micros.len(),
        at(0.5),
        at(0.99)
    )
}
