//! Stores on PostgreSQL under a fleet of writers, measured in one run on one server:
//!
//! 1. **Fleet**: 1, 4 and 8 writer processes each write `--count` checkpoints of fresh ~3 KB
//!    states into sessions of their own, all into one store, starting together. Printed: the
//!    latency of a checkpoint call (p50, p99) over every writer, the total throughput, and each
//!    writer's throughput against the mean (no writer may starve).
//! 2. **Conversation**: the 1,000-step growing conversation (+1 KB per step, every step's
//!    state the whole conversation) that `bench/postgres-saver.bench.mjs` runs through
//!    LangGraph's PostgresSaver: the put latency, the state read at step 1,000 (from a
//!    handle that did not write it) and the bytes the store's tables take on the server.
//!
//! ```text
//! cargo run --release -p rewind-benches --bin pg_fleet -- [--url postgres://…] [--count N]
//! ```
//!
//! Without `--url` it starts a throwaway server (as the tests do, but syncing its write-ahead
//! log at every commit as a production server does). Times vary from run to run
//! on a shared machine: compare figures from the same run.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rewind::{NewCheckpoint, PgLocation, PgOptions, PgStore};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("writer") {
        writer(&args[2], args[3].parse().expect("a count"), &args[4]);
        return;
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let count: usize = flag("--count").map_or(1000, |c| c.parse().expect("--count N"));
    let cluster;
    let base = match flag("--url") {
        Some(url) => url,
        None => {
            cluster = rewind_tests::PgCluster::start_durable();
            cluster.url("x")
        }
    };
    let url_for = |store: &str| {
        PgLocation::parse(&base)
            .expect("a postgres:// URL")
            .with_store(store)
            .to_string()
    };
    println!("fleet: {count} checkpoints of fresh ~3 KB states per writer process");
    println!("| writers | p50 | p99 | total checkpoints/s | slowest / fastest writer vs mean |");
    println!("|---|---|---|---|---|");
    let mut single = None;
    for writers in [1, 4, 8] {
        let run = fleet(
            &url_for(&format!("fleet-{writers}-{}", std::process::id())),
            writers,
            count,
        );
        let throughput = run.total as f64 / run.elapsed.as_secs_f64();
        let mean = run.rates.iter().sum::<f64>() / run.rates.len() as f64;
        let (min, max) = run
            .rates
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        println!(
            "| {writers} | {:.2} ms | {:.2} ms | {throughput:.0} | {:.2}x / {:.2}x |",
            ms(percentile(&run.latencies, 0.5)),
            ms(percentile(&run.latencies, 0.99)),
            min / mean,
            max / mean
        );
        let single = *single.get_or_insert(throughput);
        if throughput < single * 0.8 {
            println!(
                "  (below one writer's throughput: {:.2}x)",
                throughput / single
            );
        }
    }
    conversation(&url_for(&format!("conversation-{}", std::process::id())));
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

/// What a fleet run measured.
struct Run {
    total: usize,
    elapsed: Duration,
    /// Every checkpoint call's latency (µs), sorted.
    latencies: Vec<u64>,
    /// Each writer's checkpoints per second.
    rates: Vec<f64>,
}

/// Starts `writers` processes, lets them go at once, and gathers what they measured.
fn fleet(url: &str, writers: usize, count: usize) -> Run {
    let exe = std::env::current_exe().expect("this program's path");
    let mut children: Vec<_> = (0..writers)
        .map(|i| {
            Command::new(&exe)
                .args(["writer", url, &count.to_string(), &format!("w{i}")])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a writer")
        })
        .collect();
    // Each says "ready" once its store is open; then all are told to go.
    let mut outputs: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("stdout")))
        .collect();
    for out in &mut outputs {
        let mut line = String::new();
        out.read_line(&mut line).expect("ready");
        assert_eq!(line.trim(), "ready");
    }
    let started = Instant::now();
    for child in &mut children {
        writeln!(child.stdin.as_mut().expect("stdin"), "go").expect("go");
    }
    let mut latencies = Vec::new();
    let mut rates = Vec::new();
    for out in &mut outputs {
        let mut line = String::new();
        out.read_line(&mut line).expect("results");
        let mut numbers = line
            .split_whitespace()
            .map(|n| n.parse::<u64>().expect("a number"));
        let elapsed = numbers.next().expect("elapsed");
        let mine: Vec<u64> = numbers.collect();
        rates.push(mine.len() as f64 / (elapsed as f64 / 1e6));
        latencies.extend(mine);
    }
    let elapsed = started.elapsed();
    for mut child in children {
        assert!(child.wait().expect("wait").success(), "a writer failed");
    }
    latencies.sort_unstable();
    Run {
        total: latencies.len(),
        elapsed,
        latencies,
        rates,
    }
}

/// A writer process: opens the store, says ready, waits for go, writes `count` checkpoints,
/// prints its elapsed time and every call's latency (µs).
fn writer(url: &str, count: usize, name: &str) {
    let location = PgLocation::parse(url).expect("a URL");
    let store = PgStore::open(&location, PgOptions::default(), rewind::Options::default())
        .expect("open the store");
    let session = store
        .create_session(name, Default::default())
        .expect("a session");
    let seed = name.bytes().fold(0u64, |h, b| h * 31 + u64::from(b)) << 32;
    let states: Vec<Vec<u8>> = (0..count)
        .map(|i| rewind_benches::agent_state(3000, seed + i as u64))
        .collect();
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("go");
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    for (i, state) in states.iter().enumerate() {
        let t = Instant::now();
        store
            .checkpoint(NewCheckpoint::new(session, format!("step {i}"), state))
            .expect("checkpoint");
        latencies.push(t.elapsed().as_micros() as u64);
    }
    let elapsed = started.elapsed().as_micros();
    let mut out = std::io::stdout().lock();
    write!(out, "{elapsed}").expect("stdout");
    for l in latencies {
        write!(out, " {l}").expect("stdout");
    }
    writeln!(out).expect("stdout");
}

/// The words the conversation's text is drawn from.
const WORDS: [&str; 64] = [
    "agent", "tool", "plan", "result", "search", "query", "answer", "memory", "state", "step",
    "user", "model", "token", "context", "graph", "node", "edge", "retry", "error", "value",
    "file", "read", "write", "check", "test", "build", "run", "deploy", "config", "option",
    "branch", "merge", "commit", "review", "issue", "fix", "patch", "log", "trace", "span",
    "metric", "alert", "service", "request", "response", "cache", "store", "index", "table", "row",
    "column", "key", "hash", "chunk", "page", "limit", "batch", "queue", "worker", "thread",
    "lock", "time", "date", "price",
];

/// One ~1 KB message of the conversation: words drawn by a xorshift generator seeded with
/// the step, the same text `bench/postgres-saver.bench.mjs` draws (text compresses about as
/// prose does, so neither side gains from repetition).
fn message(i: usize) -> serde_json::Value {
    let mut x = ((i as u32).wrapping_add(1)).wrapping_mul(2_654_435_761);
    let mut content = format!("Turn {i}.");
    while content.len() < 1000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        content.push(' ');
        content.push_str(WORDS[(x % 64) as usize]);
    }
    json!({
        "role": if i % 2 == 1 { "ai" } else { "human" },
        "id": format!("msg-{i}"),
        "content": content,
    })
}

/// The growing conversation through rewind's Rust API.
fn conversation(url: &str) {
    const STEPS: usize = 1000;
    let location = PgLocation::parse(url).expect("a URL");
    let store = PgStore::open(&location, PgOptions::default(), rewind::Options::default())
        .expect("open the store");
    let session = store
        .create_session("conversation", Default::default())
        .expect("a session");
    let mut messages = Vec::new();
    let mut puts = Vec::with_capacity(STEPS);
    let mut last = None;
    for i in 0..STEPS {
        messages.push(message(i));
        let state = serde_json::to_vec(&json!({ "messages": messages })).expect("JSON");
        let t = Instant::now();
        let cp = store
            .checkpoint(NewCheckpoint::new(session, format!("step {i}"), &state))
            .expect("checkpoint");
        puts.push(t.elapsed().as_micros() as u64);
        last = Some(cp.id);
    }
    let last = last.expect("a checkpoint");
    let bytes = store
        .read(|s| s.backend().server_bytes())
        .expect("table bytes");
    let log_bytes = store.metrics().log_bytes;
    drop(store);
    // The read at step 1,000 from handles that did not write it: each opens the store (from
    // its index snapshot) and reads the state from the server.
    let mut reads = Vec::new();
    let mut opens = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let reader = PgStore::open(
            &location,
            PgOptions::default().read_only(true),
            rewind::Options::default(),
        )
        .expect("open");
        opens.push(t.elapsed().as_micros() as u64);
        let t = Instant::now();
        let state = reader.state(last).expect("state");
        reads.push(t.elapsed().as_micros() as u64);
        assert!(state.len() > STEPS * 1000);
    }
    let avg = puts.iter().sum::<u64>() as f64 / puts.len() as f64;
    puts.sort_unstable();
    reads.sort_unstable();
    opens.sort_unstable();
    println!("\nconversation: {STEPS} steps, +1 KB per step, the whole conversation as each state");
    println!(
        "put: {:.2} ms on average (p50 {:.2} ms, p99 {:.2} ms)",
        avg / 1000.0,
        ms(percentile(&puts, 0.5)),
        ms(percentile(&puts, 0.99))
    );
    println!(
        "state at step {STEPS} from a new handle: {:.2} ms (median of 20; opening the handle {:.2} ms)",
        ms(percentile(&reads, 0.5)),
        ms(percentile(&opens, 0.5))
    );
    println!(
        "bytes in the database: {bytes} ({:.1} MB; log {log_bytes} bytes)",
        bytes as f64 / 1e6
    );
}
