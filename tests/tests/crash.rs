//! Crash tests: a child process writes under `Durability::Always` and prints every checkpoint
//! after its call returned; the parent kills it with SIGKILL at random moments (also in the
//! middle of log rewrites) and checks that every acknowledged checkpoint survived exactly, that
//! the store opens cleanly (at most a torn tail cut off), and that seqs keep increasing across
//! restarts.
//!
//! `REWIND_CRASH_KILLS` sets the number of kills (default 200, split between a single writer
//! and a four-thread `SharedStore`); `REWIND_CRASH_SEED` replays a run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use rewind::{CheckpointId, FileOptions, FileStore};
use rewind_core::conformance::Rng;
use rewind_tests::{TempDir, crash_state};

/// One acknowledged checkpoint, as the child printed it.
#[derive(Debug)]
struct Acked {
    n: u64,
    id: CheckpointId,
    hash: String,
    seq: u64,
}

fn parse(line: &str) -> Option<Acked> {
    let mut parts = line.split_whitespace();
    if parts.next()? != "ok" {
        return None;
    }
    Some(Acked {
        n: parts.next()?.parse().ok()?,
        id: parts.next()?.parse().ok()?,
        hash: parts.next()?.to_string(),
        seq: parts.next()?.parse().ok()?,
    })
}

fn kills() -> u64 {
    std::env::var("REWIND_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn seed() -> u64 {
    let seed = std::env::var("REWIND_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("crash test seed: REWIND_CRASH_SEED={seed}");
    seed | 1
}

/// Runs the child once, kills it after `delay`, and returns what it acknowledged.
fn run_and_kill(args: &[String], delay: Duration) -> Vec<Acked> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the crash writer");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).split(b'\n') {
            // Only whole lines: a line cut by the kill was not fully reported.
            let Ok(line) = line else { break };
            if let Some(a) = std::str::from_utf8(&line).ok().and_then(parse) {
                acked.push(a);
            }
        }
        acked
    });
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL the writer");
    child.wait().expect("reap the writer");
    reader.join().expect("reader thread")
}

/// Kills writers `rounds` times in `mode`, checking the store after each kill.
fn crash_rounds(mode: &str, rounds: u64, rng: &mut Rng) {
    let mut dir = TempDir::new().expect("a temporary directory");
    let mut all: Vec<Acked> = Vec::new();
    let mut next_n = 0u64;
    let mut torn_tails = 0;
    for round in 0..rounds {
        // A fresh store now and then keeps replay time flat over hundreds of rounds.
        if round % 40 == 39 {
            dir = TempDir::new().expect("a temporary directory");
            all.clear();
        }
        let store_dir = dir.path().join("store");
        let mut args = vec![
            mode.to_string(),
            store_dir.display().to_string(),
            next_n.to_string(),
        ];
        if mode == "shared" {
            args.push("4".into());
        }
        let delay = Duration::from_millis(5 + rng.next() % 60);
        let acked = run_and_kill(&args, delay);
        let max_seq_before = all.iter().map(|a| a.seq).max().unwrap_or(0);
        for a in &acked {
            assert!(
                a.seq > max_seq_before,
                "round {round}: seq {} handed out again after a restart (earlier max {max_seq_before})",
                a.seq
            );
        }
        next_n = acked.iter().map(|a| a.n + 1).max().unwrap_or(next_n) + 1000;
        all.extend(acked);

        let store = FileStore::open(&store_dir, FileOptions::default())
            .unwrap_or_else(|e| panic!("round {round}: the store does not open after a kill: {e}"));
        if store.open_report().torn_tail.is_some() {
            torn_tails += 1;
        }
        for a in &all {
            let cp = store.get(a.id).unwrap_or_else(|e| {
                panic!(
                    "round {round}: acknowledged checkpoint {} (n={}) lost: {e}",
                    a.id, a.n
                )
            });
            assert_eq!(
                cp.hash.to_string(),
                a.hash,
                "round {round}: hash of {}",
                a.id
            );
            assert_eq!(cp.seq, a.seq, "round {round}: seq of {}", a.id);
            assert_eq!(
                store.state(a.id).unwrap(),
                crash_state(a.n),
                "round {round}: state of {}",
                a.id
            );
        }
        let max_acked = all.iter().map(|a| a.seq).max().unwrap_or(0);
        assert!(store.metrics().next_seq > max_acked);
        let verify = store.verify();
        assert!(verify.is_ok(), "round {round}: {:?}", verify.first_error);
    }
    eprintln!("{mode}: {rounds} kills, {torn_tails} torn tails cut at open");
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let mut rng = Rng(seed());
    let total = kills();
    let shared = total / 4;
    crash_rounds("single", total - shared, &mut rng);
    crash_rounds("shared", shared, &mut rng);
}
