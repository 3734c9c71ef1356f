//! Prints the benchmark results as markdown tables: the reference suite's groups with rewind's
//! row beside the reference's and the floor's, all measured in the same run (no figure typed in
//! from elsewhere), the sandbox component beside native rewind, then rewind's own groups.
//!
//! ```sh
//! cargo bench -p rewind-benches --features reference --bench suite -- --save-baseline run1
//! cargo bench -p rewind-benches --features reference --bench suite -- --save-baseline run2
//! cargo run -p rewind-benches --bin report -- run1 run2
//! ```
//!
//! With two saved baselines every ratio is given for both runs (their spread); with none named,
//! criterion's latest results (`new`) are read. Reads
//! `<target>/criterion/<group>/<bench>/<side>/<baseline>/estimates.json` (the median point
//! estimate, in nanoseconds).

use std::path::{Path, PathBuf};

/// A row of the suite: where each side's result is, and whether the two sides do the same work.
struct Row {
    id: String,
    what: String,
    rewind: String,
    reference: Option<String>,
    floor: Option<String>,
    /// None: like for like. Some: what differs.
    differs: Option<&'static str>,
}

/// A row of rewind's result alone (the others are added with struct update syntax).
fn same(id: impl Into<String>, what: impl Into<String>, rewind: impl Into<String>) -> Row {
    Row {
        id: id.into(),
        what: what.into(),
        rewind: rewind.into(),
        reference: None,
        floor: None,
        differs: None,
    }
}

/// A row whose sides are `<base>/rewind` and `<base>/reference`.
fn both(id: impl Into<String>, what: impl Into<String>, base: &str) -> Row {
    Row {
        reference: Some(format!("{base}/reference")),
        ..same(id, what, format!("{base}/rewind"))
    }
}

/// A create's row: both sides and `<base>/floor`.
fn create(id: impl Into<String>, what: impl Into<String>, base: &str) -> Row {
    Row {
        floor: Some(format!("{base}/floor")),
        ..both(id, what, base)
    }
}

/// The suite's rows, in the reference suite's order.
fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    rows.push(create(
        "checkpoint_creation/single",
        "create, fresh 3 KB JSON state, memory",
        "checkpoint_creation/single",
    ));
    for n in ["10", "100", "1000"] {
        let base = format!("checkpoint_creation_batch/{n}");
        rows.push(create(&base, format!("{n} creates, fresh states"), &base));
    }
    rows.push(create(
        "checkpoint_with_tags/with_3_tags",
        "create with 3 tags, fresh state",
        "checkpoint_with_tags/with_3_tags",
    ));
    rows.push(create(
        "storage_backends/in_memory",
        "create, fresh state, memory",
        "storage_backends/in_memory",
    ));
    rows.push(both(
        "query_operations/list_all",
        "list 100, read id, seq, message, tags",
        "query_operations/list_all",
    ));
    rows.push(both(
        "query_operations/list_by_session",
        "list a session's 100, same fields",
        "query_operations/list_by_session",
    ));
    rows.push(Row {
        differs: Some(
            "each reads a 10 KB state from its own in-memory store: rewind from its log's chunks, \
             the reference clones the copy its storage caches",
        ),
        ..both(
            "restore/single",
            "read a 10 KB state back",
            "restore/single",
        )
    });
    for n in ["100", "500", "1000"] {
        let base = format!("compaction/{n}");
        rows.push(both(&base, format!("compact {n} -> 10"), &base));
    }
    for n in ["2", "4", "8"] {
        let base = format!("concurrent_creation/{n}");
        rows.push(Row {
            differs: Some(
                "rewind's thread-safe store writes files (no sync); the reference's is SQLite in \
                 memory",
            ),
            floor: Some(format!("{base}/floor")),
            ..both(&base, format!("{n} threads x 10 fresh creates"), &base)
        });
    }
    for n in ["10", "100", "500"] {
        // Criterion turns the '/' of a function name into '_' in its directories.
        rows.push(both(
            format!("export/json/{n}"),
            format!("export a session of {n} as JSON"),
            &format!("export/json_{n}"),
        ));
    }
    rows.push(Row {
        differs: Some(
            "the reference inserts an id into a map (nothing stored); rewind validates, logs and \
             indexes a session record",
        ),
        ..both(
            "service_operations/create_session",
            "create a session",
            "service_operations/create_session",
        )
    });
    rows.push(Row {
        differs: Some(
            "the reference captures its own state (this process's environment); rewind stores a \
             fresh 3 KB state through its thread-safe store on files (no sync)",
        ),
        floor: Some("service_operations/checkpoint_through_service/floor".into()),
        ..both(
            "service_operations/checkpoint_through_service",
            "create through the service",
            "service_operations/checkpoint_through_service",
        )
    });
    rows.push(Row {
        reference: Some("service_operations/metrics/reference".into()),
        ..same(
            "service_operations/metrics (by listing)",
            "count a session's 10 checkpoints by listing them (what the reference's metrics does)",
            "service_operations/metrics_by_listing/rewind",
        )
    });
    rows.push(Row {
        reference: Some("service_operations/metrics/reference".into()),
        differs: Some("rewind reads its counters; the reference lists its checkpoints"),
        ..same(
            "service_operations/metrics",
            "metrics",
            "service_operations/metrics/rewind",
        )
    });
    rows.push(Row {
        reference: Some("storage_backends/file_based/reference".into()),
        ..same(
            "storage_backends/file_based_never",
            "create on files, survives the process (rewind Never; the reference's SQLite WAL, \
             synchronous=NORMAL)",
            "storage_backends/file_based_never/rewind",
        )
    });
    rows.push(Row {
        reference: Some("storage_backends/file_based/reference".into()),
        floor: Some("storage_backends/file_based/fdatasync".into()),
        differs: Some(
            "rewind (Always) syncs every write, surviving a power loss; the reference does not \
             (synchronous=NORMAL), and cannot be configured to",
        ),
        ..same(
            "storage_backends/file_based",
            "create on files, rewind Always (floor: one fdatasync of the state)",
            "storage_backends/file_based/rewind",
        )
    });
    rows
}

/// The rows the sandbox component runs too: (name, criterion directory of the group's bench).
const WASMTIME: &[(&str, &str)] = &[
    ("checkpoint_creation/single", "checkpoint_creation/single"),
    ("query_operations/list_all", "query_operations/list_all"),
    (
        "query_operations/list_by_session",
        "query_operations/list_by_session",
    ),
    ("restore/single", "restore/single"),
    ("compaction/100", "compaction/100"),
    ("compaction/500", "compaction/500"),
    ("compaction/1000", "compaction/1000"),
    ("export/binary/10", "export/binary_10"),
    ("export/binary/100", "export/binary_100"),
    ("export/binary/500", "export/binary_500"),
];

/// rewind's own rows: (criterion id, what it measures).
const OWN: &[(&str, &str)] = &[
    (
        "checkpoint_creation/repeat_state/rewind",
        "create, one of 64 states again (dedup hit)",
    ),
    (
        "checkpoint_creation/repeat_state_200b",
        "create, one of 64 200 B states again",
    ),
    (
        "checkpoint_creation/repeat_state_10kb",
        "create, one of 64 10 KB states again",
    ),
    (
        "export/binary_500/rewind",
        "export a session of 500, binary",
    ),
    (
        "storage_backends/file_based_batched/rewind",
        "create on files, Batched 50 ms",
    ),
    ("durable/raw_fdatasync_300b", "raw append + fdatasync"),
    ("durable/always_1_writer", "create under Always, 1 writer"),
    (
        "durable/always_8_writers_x16",
        "8 writers x 16 creates, Always",
    ),
    (
        "open/writer/1000000",
        "reopen 1,000,000 checkpoints (writer, index snapshot)",
    ),
    (
        "open/replay/1000000",
        "reopen 1,000,000 (reader, replaying the log)",
    ),
    ("dedup/checkpoint_growing_1mb", "create, 1 MB growing state"),
];

fn read_median(root: &Path, id: &str, baseline: &str) -> Option<f64> {
    let path = root.join(id).join(baseline).join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["median"]["point_estimate"].as_f64()
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The machine the results were measured on, as the report states it.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown date".into(), |d| d.trim().to_string())
}

fn main() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let root = target.join("criterion");
    let mut baselines: Vec<String> = std::env::args().skip(1).collect();
    if baselines.is_empty() {
        baselines.push("new".into());
    }
    let runs = baselines.join(", ");
    println!(
        "Measured on {} on {}; runs: {runs}. Ratios are of the same run; with two runs, both.",
        machine(),
        today()
    );
    println!();
    println!(
        "| bench | what | rewind | reference | reference / rewind | floor | rewind / floor | work |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let ratios = |a: Option<&str>, b: &str, f: fn(f64, f64) -> f64| -> String {
        let Some(a) = a else { return String::new() };
        let parts: Vec<String> = baselines
            .iter()
            .map(
                |base| match (read_median(&root, a, base), read_median(&root, b, base)) {
                    (Some(x), Some(y)) => format!("{:.2}x", f(x, y)),
                    _ => "–".into(),
                },
            )
            .collect();
        parts.join(" / ")
    };
    let first = &baselines[0];
    for row in rows() {
        let Some(rewind) = read_median(&root, &row.rewind, first) else {
            println!("| `{}` | {} | (not run) | | | | | |", row.id, row.what);
            continue;
        };
        let reference = row
            .reference
            .as_deref()
            .and_then(|r| read_median(&root, r, first))
            .map(human)
            .unwrap_or_default();
        let floor = row
            .floor
            .as_deref()
            .and_then(|f| read_median(&root, f, first))
            .map(human)
            .unwrap_or_default();
        let vs_reference = ratios(row.reference.as_deref(), &row.rewind, |r, w| r / w);
        let vs_floor = ratios(row.floor.as_deref(), &row.rewind, |f, w| w / f);
        let work = match row.differs {
            None if row.reference.is_some() => "like for like".to_string(),
            None => String::new(),
            Some(d) => format!("different work: {d}"),
        };
        println!(
            "| `{}` | {} | {} | {reference} | {vs_reference} | {floor} | {vs_floor} | {work} |",
            row.id,
            row.what,
            human(rewind)
        );
    }
    // The sandbox component beside native rewind, same work, same process.
    println!();
    println!("| bench | native | wasmtime | wasmtime / native |");
    println!("|---|---|---|---|");
    for (id, dir) in WASMTIME {
        let native = format!("{dir}/rewind");
        let wasm = format!("{dir}/wasmtime");
        let Some(n) = read_median(&root, &native, first) else {
            continue;
        };
        let Some(w) = read_median(&root, &wasm, first) else {
            continue;
        };
        let spread = ratios(Some(wasm.as_str()), &native, |w, n| w / n);
        println!("| `{id}` | {} | {} | {spread} |", human(n), human(w));
    }
    println!();
    println!("| bench | what | rewind |");
    println!("|---|---|---|");
    for (id, what) in OWN {
        if let Some(ns) = read_median(&root, id, first).or_else(|| read_median(&root, id, "new")) {
            println!("| `{id}` | {what} | {} |", human(ns));
        }
    }
}
