//! Prints the latest criterion results as a markdown table beside the reference figures:
//! `cargo run -p rewind-benches --bin report` after `cargo bench -p rewind-benches`.
//!
//! Reads `<target>/criterion/<group>/<bench>/new/estimates.json` (the median point estimate,
//! in nanoseconds).

use std::path::{Path, PathBuf};

/// (criterion id, reference median in ns or None, what it measures).
const ROWS: &[(&str, Option<f64>, &str)] = &[
    (
        "checkpoint_creation/single",
        Some(80_800.0),
        "create, 3 KB JSON state, memory",
    ),
    (
        "checkpoint_creation/single_200b",
        None,
        "create, 200 B state",
    ),
    (
        "checkpoint_creation/single_10kb",
        None,
        "create, 10 KB state",
    ),
    (
        "checkpoint_creation_batch/10",
        Some(950_000.0),
        "10 creates",
    ),
    (
        "checkpoint_creation_batch/100",
        Some(12_600_000.0),
        "100 creates",
    ),
    (
        "checkpoint_creation_batch/1000",
        Some(134_600_000.0),
        "1000 creates",
    ),
    (
        "checkpoint_with_tags/with_3_tags",
        Some(137_000.0),
        "create with 3 tags",
    ),
    ("query_operations/list_all", Some(13_300.0), "list 100"),
    (
        "query_operations/list_by_session",
        Some(13_400.0),
        "list 100 of a session",
    ),
    ("restore/single", Some(8_500.0), "restore a 10 KB state"),
    ("compaction/100", Some(960_000.0), "compact 100 -> 10"),
    ("compaction/500", Some(6_500_000.0), "compact 500 -> 10"),
    ("compaction/1000", Some(15_700_000.0), "compact 1000 -> 10"),
    ("concurrent_creation/2", Some(9_000_000.0), "2 threads x 10"),
    (
        "concurrent_creation/4",
        Some(13_900_000.0),
        "4 threads x 10",
    ),
    (
        "concurrent_creation/8",
        Some(12_600_000.0),
        "8 threads x 10",
    ),
    ("export/binary/10", Some(227_000.0), "export 10 (binary)"),
    (
        "export/binary/100",
        Some(2_260_000.0),
        "export 100 (binary)",
    ),
    (
        "export/binary/500",
        Some(16_600_000.0),
        "export 500 (binary)",
    ),
    ("export/json/10", Some(227_000.0), "export 10 (JSON)"),
    ("export/json/100", Some(2_260_000.0), "export 100 (JSON)"),
    ("export/json/500", Some(16_600_000.0), "export 500 (JSON)"),
    (
        "service_operations/create_session",
        Some(198.0),
        "create a session",
    ),
    (
        "service_operations/checkpoint_through_service",
        Some(141_000.0),
        "create via SharedStore",
    ),
    ("service_operations/metrics", Some(953.0), "metrics"),
    (
        "storage_backends/in_memory",
        Some(81_400.0),
        "create, memory",
    ),
    (
        "storage_backends/file_based",
        Some(6_210_000.0),
        "create, file, Always",
    ),
    (
        "storage_backends/file_based_batched",
        None,
        "create, file, Batched 50 ms",
    ),
    (
        "storage_backends/file_based_never",
        None,
        "create, file, Never",
    ),
    (
        "durable/raw_fdatasync_300b",
        Some(190_000.0),
        "raw append + fdatasync",
    ),
    (
        "durable/always_1_writer",
        None,
        "create under Always, 1 writer",
    ),
    (
        "durable/always_8_writers_x16",
        None,
        "8 writers x 16 creates, Always",
    ),
    (
        "open/writer/100000",
        None,
        "reopen 100,000 checkpoints (writer, index snapshot)",
    ),
    (
        "open/read_only/100000",
        None,
        "reopen 100,000 (reader, index snapshot)",
    ),
    (
        "open/replay/100000",
        None,
        "reopen 100,000 (reader, replaying the log)",
    ),
    (
        "open/writer/1000000",
        None,
        "reopen 1,000,000 checkpoints (writer, index snapshot)",
    ),
    (
        "open/read_only/1000000",
        None,
        "reopen 1,000,000 (reader, index snapshot)",
    ),
    (
        "open/replay/1000000",
        None,
        "reopen 1,000,000 (reader, replaying the log)",
    ),
    (
        "dedup/checkpoint_growing_1mb",
        None,
        "create, 1 MB growing state",
    ),
    (
        "wasmtime/checkpoint_creation/single",
        Some(80_800.0),
        "create in wasmtime",
    ),
    (
        "wasmtime/query_operations/list_all",
        Some(13_300.0),
        "list 100 in wasmtime",
    ),
    (
        "wasmtime/query_operations/list_by_session",
        Some(13_400.0),
        "list 100 of a session in wasmtime",
    ),
    (
        "wasmtime/restore/single",
        Some(8_500.0),
        "restore 10 KB in wasmtime",
    ),
    (
        "wasmtime/compaction/100",
        Some(960_000.0),
        "compact 100 in wasmtime",
    ),
    (
        "wasmtime/compaction/1000",
        Some(15_700_000.0),
        "compact 1000 in wasmtime",
    ),
    (
        "wasmtime/export/binary/100",
        Some(2_260_000.0),
        "export 100 in wasmtime",
    ),
    (
        "wasmtime/export/binary/500",
        Some(16_600_000.0),
        "export 500 in wasmtime",
    ),
];

fn median_ns(root: &Path, id: &str) -> Option<f64> {
    read_median(root, id).or_else(|| {
        // Criterion turns '/' inside a function name into '_' (the wasmtime rows are named
        // `wasmtime/<group>/<bench>`), and keeps a parameter as its own directory.
        let (group, rest) = id.split_once('/')?;
        let (name, param) = match rest.rsplit_once('/') {
            Some((name, param)) if param.chars().all(|c| c.is_ascii_digit()) => (name, Some(param)),
            _ => (rest, None),
        };
        let dir = format!("{group}/{}", name.replace('/', "_"));
        let dir = match param {
            Some(p) => format!("{dir}/{p}"),
            None => dir,
        };
        read_median(root, &dir)
    })
}

fn read_median(root: &Path, id: &str) -> Option<f64> {
    let path = root.join(id).join("new/estimates.json");
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

fn main() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let root = target.join("criterion");
    println!("| bench | what | rewind (median) | reference | reference / rewind |");
    println!("|---|---|---|---|---|");
    for (id, reference, what) in ROWS {
        let Some(ours) = median_ns(&root, id) else {
            println!("| `{id}` | {what} | (not run) | | |");
            continue;
        };
        let (reference, ratio) = match reference {
            Some(r) => (human(*r), format!("{:.1}x", r / ours)),
            None => (String::new(), String::new()),
        };
        println!(
            "| `{id}` | {what} | {} | {reference} | {ratio} |",
            human(ours)
        );
    }
    // The native/wasm ratio of the rows measured both ways.
    println!();
    println!("| workload | native | wasmtime | wasmtime / native |");
    println!("|---|---|---|---|");
    for id in [
        "checkpoint_creation/single",
        "query_operations/list_all",
        "restore/single",
        "compaction/1000",
        "export/binary/500",
    ] {
        if let (Some(n), Some(w)) = (
            median_ns(&root, id),
            median_ns(&root, &format!("wasmtime/{id}")),
        ) {
            println!("| `{id}` | {} | {} | {:.2}x |", human(n), human(w), w / n);
        }
    }
}
