//! Watching a live store: one writer appends checkpoints (states of 100 B to tens of KB, small
//! segments so they rotate, two compactions in the middle) while reader processes loop over
//! `log`, `show latest`, `stats --json` and `verify`, and `rewind watch` follows it. Nothing
//! fails on either side, every view a reader reports is the writer's acknowledged state at
//! some moment, and the follower prints every checkpoint written during the run once, in seq
//! order.
//!
//! `LIVE_CHECKPOINTS` sets the run's length (default 300; `scripts/acceptance.sh` runs 2,000).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rewind::{CheckpointId, FileOptions, FileStore, NewCheckpoint};
use serde_json::Value;

/// What the writer has acknowledged, in order: the moments a reader's view may match.
#[derive(Default)]
struct Acknowledged {
    /// seq → hash of every checkpoint written during the run.
    hashes: BTreeMap<u64, String>,
    /// Checkpoints written during the run, in order.
    written: Vec<u64>,
    /// The seed checkpoints (seq → hash), and after how many run checkpoints each compaction
    /// removed which of them.
    seeds: BTreeMap<u64, String>,
    compactions: Vec<(usize, BTreeSet<u64>)>,
}

impl Acknowledged {
    /// Whether `view` (seq → hash) is the store at some moment: the seeds not yet compacted
    /// away and a prefix of the run's checkpoints, agreeing with each other about when.
    fn matches(&self, view: &BTreeMap<u64, String>) -> Result<(), String> {
        let run: Vec<u64> = view
            .keys()
            .copied()
            .filter(|s| self.hashes.contains_key(s))
            .collect();
        let n = run.len();
        if run != self.written[..n.min(self.written.len())] {
            return Err(format!("not a prefix of the writes: {run:?}"));
        }
        for (seq, hash) in view {
            let expected = self.hashes.get(seq).or_else(|| self.seeds.get(seq));
            if expected != Some(hash) {
                return Err(format!(
                    "seq {seq} has hash {hash}, the writer wrote {expected:?}"
                ));
            }
        }
        let seeds: BTreeSet<u64> = view
            .keys()
            .copied()
            .filter(|s| self.seeds.contains_key(s))
            .collect();
        // The seeds left after each compaction, and the run lengths during which they were.
        let mut left: BTreeSet<u64> = self.seeds.keys().copied().collect();
        let mut from = 0;
        let mut stages = vec![(left.clone(), 0)];
        for (after, removed) in &self.compactions {
            left = left.difference(removed).copied().collect();
            stages.push((left.clone(), *after));
        }
        for (i, (left, start)) in stages.iter().enumerate() {
            let end = stages.get(i + 1).map_or(usize::MAX, |(_, s)| *s);
            if *left == seeds && (*start..=end).contains(&n) {
                return Ok(());
            }
            from = *start;
        }
        Err(format!(
            "seeds {seeds:?} with {n} checkpoints of the run fit no moment (last compaction \
             after {from})"
        ))
    }
}

fn rewind(store: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rewind"));
    cmd.env_remove("REWIND_STORE")
        .env("NO_COLOR", "1")
        .arg("--store")
        .arg(store);
    cmd
}

/// Runs a reading command; its stdout, or why it failed.
fn read(store: &Path, args: &[&str]) -> Result<String, String> {
    let out = rewind(store)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "`rewind {}` exited {:?}: {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

fn state(n: u64, len: usize) -> Vec<u8> {
    let mut x = n.wrapping_add(3).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = format!("{{\"n\":{n},\"text\":\"").into_bytes();
    while out.len() + 2 < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(b'a' + (x % 26) as u8);
    }
    out.extend_from_slice(b"\"}");
    out
}

/// A state size from 100 B to `max`, spread over orders of magnitude.
fn size(n: u64, max: usize) -> usize {
    let steps = [100, 1_000, 10_000, max];
    steps[(n % 4) as usize].min(max)
}

fn view_of(log: &str) -> Result<BTreeMap<u64, String>, String> {
    let items: Value = serde_json::from_str(log).map_err(|e| format!("log --json: {e}"))?;
    Ok(items
        .as_array()
        .ok_or("log --json is not a list")?
        .iter()
        .map(|c| {
            (
                c["seq"].as_u64().unwrap_or(0),
                c["hash"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect())
}

#[test]
fn readers_and_a_follower_beside_a_live_writer_never_fail_and_see_acknowledged_states() {
    let total: u64 = std::env::var("LIVE_CHECKPOINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let max_state = if total >= 1000 { 100_000 } else { 20_000 };
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("store");
    let options = FileOptions::default().segment_bytes(256 << 10);
    let mut writer = FileStore::open(&dir, options).unwrap();
    let session = writer.create_session("agent", Default::default()).unwrap();

    // The seed set, written before anyone watches; the compactions remove it in two halves.
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let mut seeds: Vec<(u64, CheckpointId)> = Vec::new();
    for n in 0..20 {
        let cp = writer
            .checkpoint(NewCheckpoint::new(
                session,
                format!("seed {n}"),
                &state(n, 500),
            ))
            .unwrap();
        seeds.push((cp.seq, cp.id));
        acknowledged
            .lock()
            .unwrap()
            .seeds
            .insert(cp.seq, cp.hash.to_hex());
    }

    let done = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut readers = Vec::new();
    for r in 0..3 {
        let (dir, done, failures, acknowledged) = (
            dir.clone(),
            done.clone(),
            failures.clone(),
            acknowledged.clone(),
        );
        readers.push(std::thread::spawn(move || {
            let mut loops = 0u64;
            while !done.load(Ordering::Acquire) {
                loops += 1;
                let checks: [&[&str]; 4] = [
                    &["--json", "log", "-n", "1000000"],
                    &["--json", "show", "latest"],
                    &["--json", "stats"],
                    &["verify"],
                ];
                for args in checks {
                    let result = read(&dir, args).and_then(|out| match args[..] {
                        [_, "log", ..] => {
                            let view = view_of(&out)?;
                            acknowledged.lock().unwrap().matches(&view)
                        }
                        [_, "show", _] => {
                            let cp: Value =
                                serde_json::from_str(&out).map_err(|e| e.to_string())?;
                            let seq = cp["seq"].as_u64().unwrap_or(0);
                            let ack = acknowledged.lock().unwrap();
                            let hash = ack.hashes.get(&seq).or_else(|| ack.seeds.get(&seq));
                            match hash {
                                Some(h) if Some(h.as_str()) == cp["hash"].as_str() => Ok(()),
                                _ => Err(format!("show latest: seq {seq} is not what was written")),
                            }
                        }
                        _ => Ok(()),
                    });
                    if let Err(why) = result {
                        failures.lock().unwrap().push(format!("reader {r}: {why}"));
                    }
                }
            }
            loops
        }));
    }
    let mut follower = rewind(&dir)
        .args(["--json", "watch", "-n", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let followed = {
        let stdout = follower.stdout.take().unwrap();
        std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .map(|line| {
                    serde_json::from_str::<Value>(&line)
                        .map(|v| v["seq"].as_u64().unwrap_or(0))
                        .unwrap_or(0)
                })
                .collect::<Vec<u64>>()
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    for n in 0..total {
        let bytes = state(1000 + n, size(n, max_state));
        {
            // Held while writing: a reader that saw this write checks its view once the write
            // is recorded here.
            let mut ack = acknowledged.lock().unwrap();
            let cp = writer
                .checkpoint(NewCheckpoint::new(session, format!("step {n}"), &bytes))
                .unwrap_or_else(|e| panic!("the writer failed at {n}: {e}"));
            ack.hashes.insert(cp.seq, cp.hash.to_hex());
            ack.written.push(cp.seq);
        }
        if n == total / 3 || n == 2 * total / 3 {
            let half: Vec<(u64, CheckpointId)> = if n == total / 3 {
                seeds.drain(..10).collect()
            } else {
                std::mem::take(&mut seeds)
            };
            let ids: Vec<CheckpointId> = half.iter().map(|(_, id)| *id).collect();
            let mut ack = acknowledged.lock().unwrap();
            writer.remove_checkpoints(&ids).unwrap();
            let after = ack.written.len();
            ack.compactions
                .push((after, half.iter().map(|(seq, _)| *seq).collect()));
        }
    }
    // Let the follower catch up, then stop everyone.
    std::thread::sleep(Duration::from_millis(1500));
    done.store(true, Ordering::Release);
    let loops: Vec<u64> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    follower.kill().unwrap();
    follower.wait().unwrap();
    let printed = followed.join().unwrap();

    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} reader failures, first: {}",
        failures.len(),
        failures[0]
    );
    assert!(loops.iter().all(|l| *l >= 2), "readers ran {loops:?} loops");
    let written = acknowledged.lock().unwrap().written.clone();
    assert_eq!(
        printed, written,
        "the follower printed each checkpoint once, in order"
    );
    println!(
        "{total} checkpoints written; reader loops {loops:?}; follower printed {}",
        printed.len()
    );
}
