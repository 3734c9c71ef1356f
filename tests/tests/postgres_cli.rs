//! The `rewind` command-line tool on a store on PostgreSQL (`--store postgres://…`): the same
//! commands as on a directory, on a throwaway server this test process starts.
//!
//! Runs the `rewind` binary `cargo test --workspace` builds beside this test (or the one
//! `REWIND_BIN` names).

use std::path::PathBuf;
use std::process::Command;

use rewind_tests::PgCluster;
use serde_json::Value;

fn rewind_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("REWIND_BIN") {
        return PathBuf::from(bin);
    }
    // target/<profile>/deps/<this test> -> target/<profile>/rewind
    let exe = std::env::current_exe().expect("the test's path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("rewind"))
        .expect("the target directory");
    assert!(
        bin.exists(),
        "{} is missing: build it (`cargo build -p rewind --bin rewind`, or run the tests with \
         --workspace) or name it with REWIND_BIN",
        bin.display()
    );
    bin
}

/// Runs `rewind --store <url> <args>`; returns (exit code, stdout, stderr).
fn rewind(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(rewind_bin())
        .arg("--store")
        .arg(url)
        .args(args)
        .output()
        .expect("run rewind");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(url: &str, args: &[&str]) -> String {
    let (code, out, err) = rewind(url, args);
    assert_eq!(code, 0, "rewind {args:?}: {err}");
    out
}

fn json(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(url, &all)).expect("JSON output")
}

#[test]
fn every_command_works_on_a_store_on_postgres() {
    let cluster = PgCluster::shared();
    let url = cluster.url(&PgCluster::unique_store("cli"));
    // Reading a store that does not exist is exit 7, and creates nothing.
    let (code, _, err) = rewind(&url, &["log"]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("no rewind store named"), "{err}");

    let dir = tempfile::tempdir().expect("temp dir");
    let state = |n: u32| {
        let path = dir.path().join(format!("s{n}.json"));
        std::fs::write(
            &path,
            format!(
                "{{\"step\":{n},\"notes\":\"{}\"}}",
                "x".repeat(n as usize * 500)
            ),
        )
        .expect("write a state");
        path.to_string_lossy().into_owned()
    };
    ok(&url, &["session", "new", "agent"]);
    for n in 1..=4 {
        ok(
            &url,
            &[
                "checkpoint",
                "-m",
                &format!("step {n}"),
                "--state",
                &state(n),
                "-t",
                "t",
            ],
        );
    }
    let log = json(&url, &["log"]);
    let items = log.as_array().expect("a list");
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["message"], "step 4");
    let shown = ok(&url, &["state", "@2"]);
    assert!(shown.starts_with("{\"step\":2"), "{shown}");
    ok(&url, &["restore", "@2"]);
    ok(&url, &["checkpoint", "-m", "fork", "--state", &state(5)]);
    let fork = json(&url, &["show", "latest"]);
    assert_eq!(fork["parent"], items[2]["id"], "the fork continues from @2");
    ok(&url, &["annotate", "@1", "looked wrong"]);
    assert!(ok(&url, &["diff", "@1", "@2"]).contains("JSON Patch"));
    assert!(ok(&url, &["verify"]).starts_with("ok: 5 checkpoints"));

    let before = json(&url, &["stats"]);
    assert_eq!(before["generation"], 0);
    let compacted = json(&url, &["compact", "--keep", "2"]);
    assert!(
        compacted["removed"].as_u64().unwrap_or(0) >= 1,
        "{compacted}"
    );
    let after = json(&url, &["stats"]);
    assert_eq!(after["generation"], 1);
    assert!(after["log_bytes"].as_u64() < before["log_bytes"].as_u64());
    assert!(ok(&url, &["verify"]).starts_with("ok:"));

    // A binary export of the store on the server opens as a directory store.
    let export = dir.path().join("export.bin");
    ok(
        &url,
        &[
            "export",
            "--format",
            "binary",
            "-o",
            &export.to_string_lossy(),
        ],
    );
    let local = dir.path().join("local");
    ok(
        &local.to_string_lossy(),
        &["import", &export.to_string_lossy()],
    );
    assert_eq!(
        json(&local.to_string_lossy(), &["stats"])["checkpoints"],
        after["checkpoints"]
    );
}

#[test]
fn a_url_is_never_a_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    for url in ["mysql://host/db", "s3://bucket/x"] {
        let (code, _, err) = Command::new(rewind_bin())
            .current_dir(dir.path())
            .args(["--store", url, "session", "new", "x"])
            .output()
            .map(|o| {
                (
                    o.status.code().unwrap_or(-1),
                    String::new(),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                )
            })
            .expect("run rewind");
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("unknown scheme"), "{err}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        0,
        "nothing was created"
    );
    let cluster = PgCluster::shared();
    let (code, _, err) = rewind(&cluster.url("whatever"), &["repair", "out"]);
    assert_eq!(code, 2, "{err}");
}
