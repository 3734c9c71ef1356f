//! End-to-end tests of the `rewind` command-line tool: every command runs as a process on
//! temporary stores, and its stdout, stderr and exit code are checked.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rewind::{FileOptions, FileStore, NewCheckpoint, Trigger};
use serde_json::{Value, json};

// ----- helpers ------------------------------------------------------------------------------

/// A scratch directory for a test (removed when dropped): commands run in it, so the default
/// store `./.rewind` lands there.
struct TempDir(tempfile::TempDir);

impl TempDir {
    fn new(label: &str) -> TempDir {
        TempDir(
            tempfile::Builder::new()
                .prefix(&format!("rewind-cli-{label}-"))
                .tempdir()
                .expect("create a temp dir"),
        )
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn join(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// The default store of a command run in this directory.
    fn store(&self) -> PathBuf {
        self.join(".rewind")
    }

    /// Writes `bytes` to a file in the directory and returns its path.
    fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, bytes).expect("write a test file");
        path
    }
}

/// What a finished `rewind` process left.
struct Output {
    args: String,
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Output {
    fn out(&self) -> String {
        String::from_utf8(self.stdout.clone())
            .unwrap_or_else(|_| panic!("`rewind {}`: stdout is not UTF-8", self.args))
    }

    fn lines(&self) -> Vec<String> {
        self.out().lines().map(str::to_string).collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`rewind {}`: stdout is not one JSON value ({e}):\n{}",
                self.args,
                String::from_utf8_lossy(&self.stdout)
            )
        })
    }
}

/// A `rewind` invocation being built.
struct Run {
    cmd: Command,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
}

/// `rewind` run in `dir`, with no `REWIND_STORE` or `NO_COLOR` from the test's environment.
fn rewind(dir: &Path) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rewind"));
    cmd.current_dir(dir)
        .env_remove("REWIND_STORE")
        .env_remove("NO_COLOR")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    Run {
        cmd,
        args: Vec::new(),
        stdin: None,
    }
}

impl Run {
    fn arg(mut self, arg: impl AsRef<OsStr>) -> Run {
        self.args.push(arg.as_ref().to_string_lossy().into_owned());
        self.cmd.arg(arg);
        self
    }

    fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Run {
        self.cmd.env(key, value);
        self
    }

    fn stdin(mut self, bytes: impl AsRef<[u8]>) -> Run {
        self.stdin = Some(bytes.as_ref().to_vec());
        self
    }

    fn run(mut self) -> Output {
        let args = self.args.join(" ");
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("start rewind");
        if let Some(bytes) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            // The child may exit without reading (a failure): a broken pipe is fine.
            let _ = pipe.write_all(&bytes);
        }
        let out = child.wait_with_output().expect("wait for rewind");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out
            .status
            .code()
            .unwrap_or_else(|| panic!("`rewind {args}` was killed by a signal: {stderr}"));
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "`rewind {args}` panicked:\n{stderr}"
        );
        Output {
            args,
            code,
            stdout: out.stdout,
            stderr,
        }
    }

    /// Runs and asserts exit code 0.
    fn ok(self) -> Output {
        let out = self.run();
        assert_eq!(
            out.code,
            0,
            "`rewind {}` failed:\nstdout: {}\nstderr: {}",
            out.args,
            String::from_utf8_lossy(&out.stdout),
            out.stderr
        );
        out
    }

    /// Runs and asserts exit `code` with a one-line, clean message containing `needle`.
    fn fails(self, code: i32, needle: &str) -> Output {
        let out = self.run();
        assert_eq!(
            out.code,
            code,
            "`rewind {}`: wrong exit code\nstdout: {}\nstderr: {}",
            out.args,
            String::from_utf8_lossy(&out.stdout),
            out.stderr
        );
        assert_one_line_error(&out, needle);
        out
    }
}

fn assert_one_line_error(out: &Output, needle: &str) {
    let err = &out.stderr;
    assert!(
        err.starts_with("rewind: ") && err.ends_with('\n') && err.lines().count() == 1,
        "`rewind {}`: expected one `rewind: ...` line on stderr, got:\n{err}",
        out.args
    );
    assert!(
        err.contains(needle),
        "`rewind {}`: stderr lacks {needle:?}:\n{err}",
        out.args
    );
    for debug in ["Os {", "Error {", "kind:", "Custom {", "backtrace"] {
        assert!(
            !err.contains(debug),
            "`rewind {}`: Debug dump on stderr:\n{err}",
            out.args
        );
    }
}

/// `rewind ARGS` in `dir`, expected to succeed.
fn ok<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    rewind(dir).args(args).ok()
}

/// `rewind --json ARGS` in `dir`, expected to succeed; stdout parsed.
fn ok_json<I, S>(dir: &Path, args: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    rewind(dir).arg("--json").args(args).ok().json()
}

/// Creates a session and returns its id.
fn new_session(dir: &Path, name: &str) -> String {
    let out = ok(dir, ["session", "new", name]);
    let id = out.out().trim().to_string();
    assert_uuid(&id);
    id
}

/// Saves a checkpoint and returns (seq, id) from the `@SEQ ID` line.
fn checkpoint(dir: &Path, args: &[&str]) -> (u64, String) {
    let out = rewind(dir).arg("checkpoint").args(args).ok();
    parse_saved(&out.out())
}

/// Saves a checkpoint whose state is `state` (through stdin).
fn checkpoint_state(dir: &Path, message: &str, state: &str) -> String {
    let out = rewind(dir)
        .args(["checkpoint", "-m", message, "--state", "-"])
        .stdin(state)
        .ok();
    parse_saved(&out.out()).1
}

fn parse_saved(line: &str) -> (u64, String) {
    let line = line.trim_end_matches('\n');
    assert!(!line.contains('\n'), "one line expected: {line:?}");
    let (seq, id) = line
        .strip_prefix('@')
        .and_then(|l| l.split_once(' '))
        .unwrap_or_else(|| panic!("not `@SEQ ID`: {line:?}"));
    assert_uuid(id);
    (seq.parse().expect("a seq"), id.to_string())
}

fn assert_uuid(id: &str) {
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "not a UUID: {id:?}");
    assert!(
        id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "not a UUID: {id:?}"
    );
}

fn show(dir: &Path, id: &str) -> Value {
    ok_json(dir, ["show", id])
}

fn stats(dir: &Path) -> Value {
    ok_json(dir, ["stats"])
}

/// `log --json ARGS`: the messages, newest first.
fn log_messages(dir: &Path, args: &[&str]) -> Vec<String> {
    let value = rewind(dir).args(["--json", "log"]).args(args).ok().json();
    value
        .as_array()
        .expect("log --json is an array")
        .iter()
        .map(|c| c["message"].as_str().expect("message").to_string())
        .collect()
}

/// The ids of every checkpoint, oldest first.
fn all_ids(dir: &Path) -> Vec<String> {
    let value = ok_json(dir, ["log"]);
    let mut ids: Vec<String> = value
        .as_array()
        .expect("an array")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect();
    ids.reverse();
    ids
}

fn digits(id: &str) -> String {
    id.chars().filter(|c| *c != '-').collect()
}

/// The first `n` hex digits of `id`, hyphens kept.
fn hyphenated_prefix(id: &str, n: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for c in id.chars() {
        if count == n {
            break;
        }
        if c != '-' {
            count += 1;
        }
        out.push(c);
    }
    out
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// The one segment file of a store.
fn segment(store: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(store)
        .expect("list the store")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert_eq!(segs.len(), 1, "one segment expected: {segs:?}");
    segs.pop().unwrap()
}

/// (offset, total length) of every frame of a segment or binary export.
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut offset = rewind::core::frame::HEADER_LEN;
    while offset + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        out.push((offset, 8 + len));
        offset += 8 + len;
    }
    assert_eq!(offset, bytes.len(), "frames do not end at the end");
    out
}

/// Replaces the first byte of `needle` (which occurs once in the segment) with `byte` and fixes
/// its frame's checksum, so only what checks more than checksums can tell; returns the bytes.
fn edit_with_checksum(seg: &Path, needle: &[u8], byte: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(seg).unwrap();
    let at = find(&bytes, needle).expect("the text is in the segment");
    assert!(find(&bytes[at + 1..], needle).is_none());
    bytes[at] = byte;
    let (offset, len) = frames(&bytes)
        .into_iter()
        .find(|(o, l)| *o <= at && at < o + l)
        .unwrap();
    let crc = rewind::core::frame::crc32c(&bytes[offset + 8..offset + len]);
    bytes[offset + 4..offset + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(seg, &bytes).unwrap();
    bytes
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A JSON value's type, for shape checks.
#[derive(Clone, Copy, Debug)]
enum T {
    Str,
    U64,
    F64,
    Bool,
    Arr,
    Obj,
    Null,
    StrOrNull,
    ObjOrNull,
}

fn has_type(v: &Value, t: T) -> bool {
    match t {
        T::Str => v.is_string(),
        T::U64 => v.is_u64(),
        T::F64 => v.is_number(),
        T::Bool => v.is_boolean(),
        T::Arr => v.is_array(),
        T::Obj => v.is_object(),
        T::Null => v.is_null(),
        T::StrOrNull => v.is_string() || v.is_null(),
        T::ObjOrNull => v.is_object() || v.is_null(),
    }
}

/// Asserts `v` is an object with exactly these keys, of these types.
fn assert_shape(what: &str, v: &Value, keys: &[(&str, T)]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {v}"));
    for (key, t) in keys {
        let field = obj
            .get(*key)
            .unwrap_or_else(|| panic!("{what}: no {key:?} in {v}"));
        assert!(has_type(field, *t), "{what}: {key:?} is not {t:?}: {field}");
    }
    let mut expected: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected, "{what}: unexpected key set");
}

/// The keys of a checkpoint in `--json` output.
fn checkpoint_shape() -> Vec<(&'static str, T)> {
    vec![
        ("id", T::Str),
        ("session", T::Str),
        ("namespace", T::Str),
        ("seq", T::U64),
        ("parent", T::StrOrNull),
        ("parent_hash", T::StrOrNull),
        ("created_at", T::U64),
        ("created", T::Str),
        ("message", T::Str),
        ("tags", T::Arr),
        ("trigger", T::Obj),
        ("metadata", T::Obj),
        ("content_type", T::Str),
        ("state_len", T::U64),
        ("hash", T::Str),
    ]
}

const SESSION_SHAPE: [(&str, T); 7] = [
    ("id", T::Str),
    ("name", T::Str),
    ("metadata", T::Obj),
    ("created_at", T::U64),
    ("created", T::Str),
    ("head", T::StrOrNull),
    ("checkpoints", T::U64),
];

/// An RFC 3339 UTC time with milliseconds: `2026-01-01T00:00:00.000Z`.
fn assert_rfc3339(text: &str) {
    let b = text.as_bytes();
    assert_eq!(b.len(), 24, "not RFC 3339 with ms: {text:?}");
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        };
        assert!(ok, "not RFC 3339 with ms: {text:?}");
    }
}

// ----- where the store is ---------------------------------------------------------------------

#[test]
fn the_default_store_is_dot_rewind_in_the_working_directory() {
    let t = TempDir::new("default");
    assert!(!t.store().exists());
    // Reading a store that does not exist is an error, and creates nothing.
    rewind(t.path())
        .arg("stats")
        .fails(7, "no rewind store at .rewind");
    assert!(!t.store().exists(), "a reading command created a store");
    ok(t.path(), ["session", "new", "first"]);
    let out = ok(t.path(), ["stats"]);
    assert!(t.store().is_dir(), "./.rewind was not created");
    assert!(t.store().join("CURRENT").is_file());
    segment(&t.store());
    assert!(
        out.lines()
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["store", ".rewind"]),
        "{}",
        out.out()
    );

    let id = new_session(t.path(), "agent");
    let list = ok(t.path(), ["session", "list"]).out();
    assert!(list.contains(&id) && list.contains("agent"), "{list}");
    // Nothing else was created next to it.
    let entries: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn store_flag_and_env_var_choose_the_store_and_the_flag_wins() {
    let t = TempDir::new("where");
    let from_env = t.join("from-env");
    let from_flag = t.join("from-flag");

    let out = rewind(t.path())
        .env("REWIND_STORE", &from_env)
        .args(["session", "new", "env"])
        .ok();
    assert_uuid(out.out().trim());
    assert!(from_env.is_dir());
    assert!(!t.store().exists(), "REWIND_STORE was ignored");

    rewind(t.path())
        .env("REWIND_STORE", &from_env)
        .arg("--store")
        .arg(&from_flag)
        .args(["session", "new", "flag"])
        .ok();
    assert!(from_flag.is_dir());
    assert!(!t.store().exists());

    let names = |store: &Path| -> Vec<String> {
        let v = rewind(t.path())
            .arg("--store")
            .arg(store)
            .args(["--json", "session", "list"])
            .ok()
            .json();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&from_env), ["env"]);
    assert_eq!(names(&from_flag), ["flag"]);

    // --store after the subcommand works too (a global flag), relative to the working dir.
    ok(t.path(), ["session", "new", "rel", "--store", "relative"]);
    assert!(t.join("relative").is_dir());
    assert_eq!(names(&t.join("relative")), ["rel"]);
}

// ----- sessions and checkpoints -----------------------------------------------------------------

#[test]
fn session_new_and_list_with_metadata() {
    let t = TempDir::new("sessions");
    let d = t.path();
    let alpha = rewind(d)
        .args(["session", "new", "alpha"])
        .args([
            "--meta",
            "owner=ann",
            "--meta",
            "budget=3",
            "--meta",
            "flags=[1,2]",
        ])
        .args([
            "--meta",
            r#"cfg={"deep":true}"#,
            "--meta",
            "empty=",
            "--meta",
            "a=b=c",
        ])
        .ok()
        .out()
        .trim()
        .to_string();
    assert_uuid(&alpha);
    let beta = ok_json(d, ["session", "new", "beta"]);
    assert_shape("session new --json", &beta, &SESSION_SHAPE);
    assert_eq!(beta["name"], "beta");
    assert_eq!(beta["checkpoints"], 0);
    assert_eq!(beta["head"], Value::Null);

    let list = ok_json(d, ["session", "list"]);
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 2);
    for s in list {
        assert_shape("session list --json", s, &SESSION_SHAPE);
        assert_rfc3339(s["created"].as_str().unwrap());
    }
    assert_eq!(list[0]["id"], alpha.as_str());
    assert_eq!(list[0]["name"], "alpha");
    assert_eq!(
        list[0]["metadata"],
        json!({"owner": "ann", "budget": 3, "flags": [1, 2], "cfg": {"deep": true}, "empty": "", "a": "b=c"})
    );
    assert_eq!(list[1]["id"], beta["id"]);

    // The table: oldest first, full ids, no head yet.
    let (_, cp) = checkpoint(d, &["-m", "first", "-s", "alpha"]);
    let lines = ok(d, ["session", "list"]).lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["SESSION", "CREATED", "CHECKPOINTS", "HEAD", "NAME"]
    );
    assert_eq!(lines.len(), 3);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], alpha);
    assert_eq!(row[3], "1");
    assert!(cp.starts_with(row[4]), "head {} is not {cp}", row[4]);
    assert_eq!(row[5], "alpha");
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(row[0], beta["id"].as_str().unwrap());
    assert_eq!(row[3..], ["0", "-", "beta"]);

    rewind(d)
        .args(["session", "new", "x", "--meta", "novalue"])
        .fails(2, "expected KEY=VALUE");
}

#[test]
fn checkpoint_takes_messages_tags_metadata_and_states_from_files_and_stdin() {
    let t = TempDir::new("checkpoint");
    let d = t.path();
    let session = new_session(d, "agent");

    let (seq1, c1) = checkpoint(
        d,
        &[
            "-m",
            "plan drafted",
            "-t",
            "plan",
            "--tag",
            "first",
            "--meta",
            "step=1",
        ],
    );
    assert_eq!(seq1, 1);
    let v = show(d, &c1);
    assert_eq!(v["message"], "plan drafted");
    // Tags are a set: kept sorted.
    assert_eq!(v["tags"], json!(["first", "plan"]));
    assert_eq!(v["metadata"], json!({"step": 1}));
    assert_eq!(v["session"], session.as_str());
    assert_eq!(v["parent"], Value::Null);
    assert_eq!(v["content_type"], "application/json");
    assert_eq!(v["state_len"], 2, "the default state is {{}}");
    assert_eq!(ok(d, ["state", &c1]).stdout, b"{}");
    assert_eq!(v["trigger"], json!({"kind": "manual"}));

    let from_file = "{\"step\": 2, \"notes\": [\"read the test\"]}\n";
    let file = t.file("state.json", from_file);
    let (seq2, c2) = checkpoint(
        d,
        &[
            "--message",
            "from a file",
            "--state",
            file.to_str().unwrap(),
            "--meta",
            r#"usage={"tokens":812}"#,
            "--meta",
            "ok=true",
            "--meta",
            "who=agent-7",
        ],
    );
    assert_eq!(seq2, 2);
    let v = show(d, &c2);
    assert_eq!(v["parent"], c1.as_str(), "the head is the default parent");
    assert_eq!(v["parent_hash"], show(d, &c1)["hash"]);
    assert_eq!(
        v["metadata"],
        json!({"usage": {"tokens": 812}, "ok": true, "who": "agent-7"})
    );
    assert_eq!(v["state_len"], from_file.len());
    assert_eq!(ok(d, ["state", &c2]).stdout, from_file.as_bytes());

    let from_stdin = r#"{"from":"stdin","n":[1,2,3]}"#;
    let out = rewind(d)
        .args([
            "checkpoint",
            "-m",
            "from stdin",
            "--state",
            "-",
            "-s",
            "agent",
        ])
        .stdin(from_stdin)
        .ok();
    let (seq3, c3) = parse_saved(&out.out());
    assert_eq!(seq3, 3);
    assert_eq!(show(d, &c3)["parent"], c2.as_str());
    assert_eq!(ok(d, ["state", &c3]).stdout, from_stdin.as_bytes());

    // A namespace is kept and shown.
    let (_, c4) = checkpoint(d, &["-m", "tool output", "--namespace", "tools"]);
    assert_eq!(show(d, &c4)["namespace"], "tools");
    let text = ok(d, ["show", &c4]).out();
    assert!(text.contains("  namespace    tools\n"), "{text}");

    // With no session at all, a checkpoint is refused.
    let empty = TempDir::new("checkpoint-empty");
    rewind(empty.path())
        .args(["checkpoint", "-m", "x"])
        .fails(3, "no sessions");
}

#[test]
fn checkpoint_with_a_content_type_keeps_non_json_bytes_exactly() {
    let t = TempDir::new("bytes");
    let d = t.path();
    new_session(d, "agent");
    let bytes: &[u8] = &[0, 159, 146, 150, 255, 10, 13];
    let out = rewind(d)
        .args(["checkpoint", "-m", "pickle", "--state", "-"])
        .args(["--content-type", "application/octet-stream"])
        .stdin(bytes)
        .ok();
    let (_, id) = parse_saved(&out.out());
    assert_eq!(ok(d, ["state", &id]).stdout, bytes);
    assert_eq!(ok(d, ["state", "latest"]).stdout, bytes);
    let v = ok_json(d, ["state", &id]);
    assert_eq!(
        v,
        json!({"id": id, "content_type": "application/octet-stream", "encoding": "base64", "data": "AJ+Slv8KDQ=="})
    );
    let shown = ok(d, ["show", &id]).out();
    assert!(
        shown.contains("  state        7 B (application/octet-stream)\n"),
        "{shown}"
    );

    // Text that is not JSON, with a text content type.
    let text = "not { json\n";
    let out = rewind(d)
        .args([
            "checkpoint",
            "-m",
            "notes",
            "--state",
            "-",
            "--content-type",
            "text/plain",
        ])
        .stdin(text)
        .ok();
    let (_, notes) = parse_saved(&out.out());
    assert_eq!(ok(d, ["state", &notes]).stdout, text.as_bytes());
    let v = ok_json(d, ["state", &notes]);
    assert_eq!(v["encoding"], "utf8");
    assert_eq!(v["data"], text);
    assert_eq!(v["content_type"], "text/plain");

    // Diffing non-JSON states says there is no structural diff.
    let diff = ok(d, ["diff", &id, &notes]).out();
    assert!(
        diff.contains("(not both JSON: no structural diff)"),
        "{diff}"
    );
}

#[test]
fn parent_forks_a_branch_and_log_graph_draws_the_join() {
    let t = TempDir::new("graph");
    let d = t.path();
    let sid = new_session(d, "tree");
    let (_, c1) = checkpoint(d, &["-m", "root", "-t", "plan"]);
    let (_, c2) = checkpoint(d, &["-m", "wrong turn"]);
    let (_, c3) = checkpoint(d, &["-m", "better idea", "--parent", "@1"]);

    let v3 = show(d, &c3);
    assert_eq!(v3["parent"], c1.as_str());
    assert_eq!(v3["is_head"], true);
    assert_eq!(show(d, &c2)["is_head"], false);
    let v1 = show(d, &c1);
    let mut children: Vec<&str> = v1["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    children.sort_unstable();
    let mut expected = vec![c2.as_str(), c3.as_str()];
    expected.sort_unstable();
    assert_eq!(children, expected);
    let text = ok(d, ["show", &c1]).out();
    assert!(text.contains("  children     "), "{text}");

    // The next checkpoint continues the fork (the head).
    let (_, c4) = checkpoint(d, &["-m", "it works", "--parent", &c3]);
    assert_eq!(show(d, &c4)["parent"], c3.as_str());

    let out = ok(d, ["log", "--graph"]);
    let lines = out.lines();
    assert_eq!(lines[0], format!("session tree {sid}"), "{}", out.out());
    let rows = &lines[1..];
    assert_eq!(rows.len(), 6, "{}", out.out());
    assert!(
        rows[0].starts_with(&format!("* @4 {}", &c4[..8])),
        "{}",
        rows[0]
    );
    assert!(rows[0].contains(" (head) "), "{}", rows[0]);
    assert!(rows[0].ends_with(" it works"), "{}", rows[0]);
    assert!(
        rows[1].starts_with(&format!("* @3 {}", &c3[..8])),
        "{}",
        rows[1]
    );
    assert!(rows[1].ends_with(" better idea"));
    assert!(
        rows[2].starts_with(&format!("| * @2 {}", &c2[..8])),
        "{}",
        rows[2]
    );
    assert!(rows[2].ends_with(" wrong turn"));
    assert_eq!(rows[3], "|/");
    assert!(
        rows[4].starts_with(&format!("* @1 {}", &c1[..8])),
        "{}",
        rows[4]
    );
    assert!(rows[4].ends_with(" [plan] root"), "{}", rows[4]);
    assert_eq!(rows[5], "");
    assert_eq!(
        out.out().matches("(head)").count(),
        1,
        "only the head is marked"
    );

    let v = ok_json(d, ["log", "--graph"]);
    let sessions = v.as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_shape(
        "log --graph --json session",
        &sessions[0]["session"],
        &SESSION_SHAPE,
    );
    let rows = sessions[0]["rows"].as_array().unwrap();
    let graphs: Vec<&str> = rows.iter().map(|r| r["graph"].as_str().unwrap()).collect();
    assert_eq!(graphs, ["* ", "* ", "| * ", "|/", "* "]);
    assert_eq!(rows[3]["checkpoint"], Value::Null);
    assert_eq!(rows[2]["checkpoint"]["id"], c2.as_str());

    rewind(d)
        .args(["log", "--graph", "--tag", "plan"])
        .fails(2, "--graph");
}

/// A store whose checkpoints have chosen times and triggers, made with the library.
fn timed_store(dir: &Path) {
    let ms = |s: &str| -> u64 {
        // 2020-01-01, 2021-06-15T12:00:00, 2026-01-01 as Unix ms.
        match s {
            "2020-01-01T00:00:00Z" => 1_577_836_800_000,
            "2021-06-15T12:00:00Z" => 1_623_758_400_000,
            "2026-01-01T00:00:00Z" => 1_767_225_600_000,
            _ => unreachable!(),
        }
    };
    let mut store = FileStore::open(dir, FileOptions::default()).unwrap();
    let a = store.create_session("alpha", Default::default()).unwrap();
    let b = store.create_session("beta", Default::default()).unwrap();
    store
        .checkpoint(
            NewCheckpoint::new(a, "a1 old", b"{}")
                .tag("plan")
                .created_at(ms("2020-01-01T00:00:00Z")),
        )
        .unwrap();
    store
        .checkpoint(
            NewCheckpoint::new(a, "a2 scheduled", b"{}")
                .tags(["plan", "tool"])
                .trigger(Trigger::Scheduled)
                .created_at(ms("2021-06-15T12:00:00Z")),
        )
        .unwrap();
    store
        .checkpoint(
            NewCheckpoint::new(a, "a3 auto", b"{}")
                .trigger(Trigger::Automatic {
                    reason: "before tool call".into(),
                })
                .created_at(ms("2026-01-01T00:00:00Z")),
        )
        .unwrap();
    store
        .checkpoint(NewCheckpoint::new(b, "b1 now", b"{}").tag("tool"))
        .unwrap();
}

#[test]
fn log_filters_by_tag_trigger_time_limit_and_session() {
    let t = TempDir::new("log");
    let d = t.path();
    timed_store(&t.store());

    assert_eq!(
        log_messages(d, &[]),
        ["b1 now", "a3 auto", "a2 scheduled", "a1 old"]
    );
    assert_eq!(
        log_messages(d, &["--tag", "plan"]),
        ["a2 scheduled", "a1 old"]
    );
    assert_eq!(log_messages(d, &["-t", "tool"]), ["b1 now", "a2 scheduled"]);
    assert_eq!(
        log_messages(d, &["--tag", "plan", "--tag", "tool"]),
        ["a2 scheduled"]
    );
    assert!(log_messages(d, &["--tag", "nothing"]).is_empty());
    assert_eq!(
        log_messages(d, &["--trigger", "scheduled"]),
        ["a2 scheduled"]
    );
    assert_eq!(log_messages(d, &["--trigger", "automatic"]), ["a3 auto"]);
    assert_eq!(
        log_messages(d, &["--trigger", "manual"]),
        ["b1 now", "a1 old"]
    );
    // Ages.
    assert_eq!(log_messages(d, &["--since", "1h"]), ["b1 now"]);
    assert_eq!(
        log_messages(d, &["--until", "1h"]),
        ["a3 auto", "a2 scheduled", "a1 old"]
    );
    assert_eq!(
        log_messages(d, &["--since", "36500d", "--until", "30m"]),
        ["a3 auto", "a2 scheduled", "a1 old"]
    );
    // RFC 3339 (since inclusive, until exclusive), and the shorter forms.
    assert_eq!(
        log_messages(
            d,
            &[
                "--since",
                "2021-01-01T00:00:00Z",
                "--until",
                "2026-01-01T00:00:00Z"
            ]
        ),
        ["a2 scheduled"]
    );
    assert_eq!(
        log_messages(d, &["--since", "2026-01-01T00:00:00Z"]),
        ["b1 now", "a3 auto"]
    );
    assert_eq!(
        log_messages(
            d,
            &[
                "--since",
                "2021-06-15T12:00:00.000Z",
                "--until",
                "2021-06-15T12:00:00.001Z"
            ]
        ),
        ["a2 scheduled"]
    );
    assert_eq!(
        log_messages(
            d,
            &["--since", "2021-06-15", "--until", "2021-06-15 12:00:01"]
        ),
        ["a2 scheduled"]
    );
    // Limits and sessions.
    assert_eq!(log_messages(d, &["--limit", "2"]), ["b1 now", "a3 auto"]);
    assert_eq!(
        log_messages(d, &["-n", "1", "--tag", "plan"]),
        ["a2 scheduled"]
    );
    assert_eq!(
        log_messages(d, &["-s", "alpha"]),
        ["a3 auto", "a2 scheduled", "a1 old"]
    );
    let beta = ok_json(d, ["session", "list"])[1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(log_messages(d, &["--session", &beta]), ["b1 now"]);
    assert_eq!(
        log_messages(d, &["-s", "alpha", "--trigger", "manual", "--until", "1d"]),
        ["a1 old"]
    );

    // The table: a SESSION column when several sessions show, triggers spelled out.
    let out = ok(d, ["log"]);
    let lines = out.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "SEQ", "ID", "CREATED", "(UTC)", "TRIGGER", "TAGS", "SESSION", "MESSAGE"
        ]
    );
    assert_eq!(lines.len(), 5);
    assert!(lines[1].starts_with("4 "), "{}", lines[1]);
    assert!(lines[1].contains(" beta ") && lines[1].ends_with("b1 now"));
    assert!(
        lines[2].contains(" 2026-01-01 00:00:00 ") && lines[2].contains(" auto: before tool call ")
    );
    assert!(lines[3].contains(" scheduled ") && lines[3].contains(" plan,tool "));
    assert!(lines[4].contains(" 2020-01-01 00:00:00 ") && lines[4].ends_with("a1 old"));
    let lines = ok(d, ["log", "-s", "alpha", "-n", "2"]).lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "SEQ", "ID", "CREATED", "(UTC)", "TRIGGER", "TAGS", "MESSAGE"
        ]
    );
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3], "(more: raise --limit)");

    rewind(d)
        .args(["log", "--since", "yesterday"])
        .fails(2, "not a time");
    rewind(d).args(["log", "-s", "gamma"]).fails(3, "gamma");
}

#[test]
fn log_since_and_until_with_milliseconds_are_exact() {
    // `created` in the JSON output is RFC 3339 with milliseconds; typing it back into --since
    // must select that checkpoint and not the one a millisecond before it.
    let t = TempDir::new("millis");
    let d = t.path();
    {
        let mut store = FileStore::open(t.store(), FileOptions::default()).unwrap();
        let s = store.create_session("s", Default::default()).unwrap();
        for (msg, at) in [
            ("at .000", 1_767_225_601_000),
            ("at .001", 1_767_225_601_001),
        ] {
            store
                .checkpoint(NewCheckpoint::new(s, msg, b"{}").created_at(at))
                .unwrap();
        }
    }
    let log = ok_json(d, ["log"]);
    let created = log[0]["created"].as_str().unwrap().to_string();
    assert_eq!(created, "2026-01-01T00:00:01.001Z");
    assert_eq!(log_messages(d, &["--since", &created]), ["at .001"]);
    assert_eq!(log_messages(d, &["--until", &created]), ["at .000"]);
}

#[test]
fn show_prints_every_field() {
    let t = TempDir::new("show");
    let d = t.path();
    let sid = new_session(d, "agent");
    let (_, c1) = checkpoint(d, &["-m", "first", "-t", "x", "-t", "y", "--meta", "k=1"]);
    ok(d, ["annotate", &c1, "looks wrong", "--severity", "warning"]);
    ok(
        d,
        ["annotate", &c1, "really wrong", "--severity", "critical"],
    );
    let out = ok(d, ["show", &c1]);
    let text = out.out();
    let hash = show(d, &c1)["hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64);
    let lines = out.lines();
    assert_eq!(lines[0], format!("checkpoint {c1}"));
    for expected in [
        format!("  session      agent ({sid})"),
        "  seq          1".to_string(),
        "  message      first".to_string(),
        "  trigger      manual".to_string(),
        "  tags         x, y".to_string(),
        "  parent       (root)".to_string(),
        "  head         yes: the next checkpoint of the session continues from here".to_string(),
        "  state        2 B (application/json)".to_string(),
        format!("  hash         {hash}"),
        "  metadata     {\"k\":1}".to_string(),
    ] {
        assert!(lines.contains(&expected), "no {expected:?} in:\n{text}");
    }
    let created = lines
        .iter()
        .find(|l| l.starts_with("  created      "))
        .expect("a created line");
    assert!(created.ends_with(" UTC"), "{created}");
    assert!(
        text.contains("  note         [warning] looks wrong ("),
        "{text}"
    );
    assert!(
        text.contains("  note         [critical] really wrong ("),
        "{text}"
    );

    let (_, c2) = checkpoint(d, &["-m", "second"]);
    let text = ok(d, ["show", &c2]).out();
    assert!(text.contains(&format!("  parent       {c1}\n")), "{text}");
    let text = ok(d, ["show", &c1]).out();
    assert!(!text.contains("  head "), "{text}");
    assert!(text.contains(&format!("  children     {c2}\n")), "{text}");
}

#[test]
fn state_writes_the_exact_bytes_to_stdout_or_a_file() {
    let t = TempDir::new("state");
    let d = t.path();
    new_session(d, "agent");
    // Not re-serialised: spacing, key order and the missing final newline stay.
    let state = "{ \"b\" : 1,\n  \"a\": [true, null, 1.50] }";
    let id = checkpoint_state(d, "odd spacing", state);
    let out = ok(d, ["state", &id]);
    assert_eq!(out.stdout, state.as_bytes());
    assert_eq!(out.stderr, "");

    let file = t.join("out.json");
    let out = ok(d, ["state", &id, "-o", file.to_str().unwrap()]);
    assert_eq!(std::fs::read(&file).unwrap(), state.as_bytes());
    assert!(out.stdout.is_empty());
    assert!(out.stderr.starts_with("wrote ") && out.stderr.contains("out.json"));

    let other = t.join("other.json");
    let v = ok_json(d, ["state", "latest", "--output", other.to_str().unwrap()]);
    assert_shape(
        "state -o --json",
        &v,
        &[("id", T::Str), ("written", T::Str), ("bytes", T::U64)],
    );
    assert_eq!(v["bytes"], state.len());
    assert_eq!(std::fs::read(&other).unwrap(), state.as_bytes());

    let v = ok_json(d, ["state", &id]);
    assert_shape(
        "state --json",
        &v,
        &[
            ("id", T::Str),
            ("content_type", T::Str),
            ("encoding", T::Str),
            ("data", T::Str),
        ],
    );
    assert_eq!(v["data"], state);
    assert_eq!(v["encoding"], "utf8");

    // An output file in a missing directory: an I/O failure.
    rewind(d)
        .args(["state", &id, "-o"])
        .arg(t.join("missing/dir/out.json"))
        .fails(1, "missing/dir/out.json");
}

#[test]
fn restore_prints_the_state_and_the_next_checkpoint_forks_from_it() {
    let t = TempDir::new("restore");
    let d = t.path();
    new_session(d, "agent");
    let c1 = checkpoint_state(d, "step one", r#"{"step":1}"#);
    let c2 = checkpoint_state(d, "step two", r#"{"step":2}"#);
    assert_eq!(show(d, &c2)["is_head"], true);

    let out = ok(d, ["restore", "@1"]);
    assert_eq!(out.stdout, br#"{"step":1}"#);
    assert_eq!(
        out.stderr,
        format!("head of session \"agent\" is now {c1}: the next checkpoint forks from here\n")
    );
    assert_eq!(show(d, &c1)["is_head"], true);
    assert_eq!(show(d, &c2)["is_head"], false);

    let (_, c3) = checkpoint(d, &["-m", "after the restore"]);
    let v3 = show(d, &c3);
    assert_eq!(v3["parent"], c1.as_str());
    assert_eq!(v3["parent_hash"], show(d, &c1)["hash"]);

    // To a file, and as JSON.
    let file = t.join("restored.json");
    let out = ok(d, ["restore", &c2, "-o", file.to_str().unwrap()]);
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&file).unwrap(), br#"{"step":2}"#);
    assert!(out.stderr.contains("wrote ") && out.stderr.contains("head of session"));
    let (_, c4) = checkpoint(d, &["-m", "second fork"]);
    assert_eq!(show(d, &c4)["parent"], c2.as_str());

    let v = ok_json(d, ["restore", &c1]);
    assert_eq!(v["id"], c1.as_str());
    assert_eq!(v["data"], r#"{"step":1}"#);
    assert_eq!(show(d, &c1)["is_head"], true);
}

#[test]
fn diff_prints_json_patch_lines_and_says_when_states_are_identical() {
    let t = TempDir::new("diff");
    let d = t.path();
    new_session(d, "agent");
    let a = t.file("a.json", r#"{"keep":1,"drop":true,"change":"old"}"#);
    let b = t.file("b.json", r#"{"keep":1,"change":"new","add":[1]}"#);
    let (_, c1) = checkpoint(
        d,
        &["-m", "first", "-t", "t1", "--state", a.to_str().unwrap()],
    );
    let (_, c2) = checkpoint(
        d,
        &[
            "-m",
            "second",
            "-t",
            "t2",
            "--meta",
            "k=v",
            "--state",
            b.to_str().unwrap(),
        ],
    );
    let (_, c3) = checkpoint(
        d,
        &["-m", "third", "-t", "t2", "--state", b.to_str().unwrap()],
    );

    let out = ok(d, ["diff", &c1, &c2]);
    let lines = out.lines();
    let text = out.out();
    assert!(
        lines[0].starts_with("diff @1 ") && lines[0].contains(&c1) && lines[0].contains(&c2),
        "{text}"
    );
    for expected in [
        "  1 seq apart, ",
        "  message: - first + second",
        "  tag +t2",
        "  tag -t1",
        "  metadata + /k = \"v\"",
        "  JSON Patch (3 operations):",
        "    - /drop",
        "    ~ /change = \"new\"",
        "    + /add = [1]",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(expected)),
            "no {expected:?} in:\n{text}"
        );
    }
    assert!(!text.contains("identical"));

    let text = ok(d, ["diff", "@2", "@3"]).out();
    assert!(text.contains("  states are identical\n"), "{text}");
    assert!(
        text.contains("100% of the new state's bytes shared"),
        "{text}"
    );
    assert!(text.contains("  message: - second + third"), "{text}");

    let v = ok_json(d, ["diff", &c1, &c2]);
    assert_shape(
        "diff --json",
        &v,
        &[
            ("from", T::Str),
            ("to", T::Str),
            ("seq_delta", T::F64),
            ("time_delta_ms", T::F64),
            ("message", T::ObjOrNull),
            ("tags_added", T::Arr),
            ("tags_removed", T::Arr),
            ("metadata_patch", T::Arr),
            ("from_len", T::U64),
            ("to_len", T::U64),
            ("shared_ratio", T::F64),
            ("same_state", T::Bool),
            ("state_patch", T::Arr),
        ],
    );
    assert_eq!(v["from"], c1.as_str());
    assert_eq!(v["to"], c2.as_str());
    assert_eq!(v["message"], json!({"from": "first", "to": "second"}));
    assert_eq!(v["tags_added"], json!(["t2"]));
    assert_eq!(v["tags_removed"], json!(["t1"]));
    assert_eq!(v["same_state"], false);
    let mut ops: Vec<(String, String)> = v["state_patch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            (
                op["op"].as_str().unwrap().to_string(),
                op["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ops.sort();
    assert_eq!(
        ops,
        [
            ("add".to_string(), "/add".to_string()),
            ("remove".to_string(), "/drop".to_string()),
            ("replace".to_string(), "/change".to_string()),
        ]
    );
    let v = ok_json(d, ["diff", &c2, &c3]);
    assert_eq!(v["same_state"], true);
    assert_eq!(v["state_patch"], json!([]));
}

#[test]
fn a_critical_annotation_keeps_a_checkpoint_through_compaction() {
    let t = TempDir::new("annotate");
    let d = t.path();
    new_session(d, "agent");
    let ids: Vec<String> = (1..=4)
        .map(|i| checkpoint_state(d, &format!("step {i}"), &format!("{{\"step\":{i}}}")))
        .collect();
    let out = ok(
        d,
        ["annotate", "@1", "a wrong turn", "--severity", "critical"],
    );
    assert_eq!(out.out(), format!("annotated {} (critical)\n", ids[0]));
    let v = ok_json(d, ["annotate", "@2", "just a note"]);
    assert_shape(
        "annotate --json",
        &v,
        &[
            ("note", T::Str),
            ("severity", T::Str),
            ("created_at", T::U64),
            ("created", T::Str),
            ("checkpoint", T::Str),
        ],
    );
    assert_eq!(v["severity"], "info");
    assert_eq!(v["checkpoint"], ids[1].as_str());
    let annotations = &show(d, &ids[0])["annotations"];
    assert_eq!(annotations.as_array().unwrap().len(), 1);
    assert_shape(
        "show --json annotation",
        &annotations[0],
        &[
            ("note", T::Str),
            ("severity", T::Str),
            ("created_at", T::U64),
            ("created", T::Str),
        ],
    );
    assert_eq!(annotations[0]["severity"], "critical");
    assert!(
        ok(d, ["log", "--graph"])
            .out()
            .contains("step 1 (annotated)")
    );

    let plan = ok(d, ["compact", "--keep", "1", "--dry-run"]).lines();
    let row = |seq: u64| -> Vec<String> {
        plan.iter()
            .find(|l| l.split_whitespace().nth(1) == Some(&seq.to_string()))
            .unwrap_or_else(|| panic!("no row for seq {seq}: {plan:?}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(row(1)[0], "keep");
    assert_eq!(row(1)[3], "critical");
    assert_eq!(row(2)[0], "remove");
    assert_eq!(row(3)[0], "remove");

    let out = ok(d, ["compact", "--keep", "1"]);
    assert!(
        out.out().contains("removed 2 checkpoints; log "),
        "{}",
        out.out()
    );
    assert_eq!(all_ids(d), [ids[0].clone(), ids[3].clone()]);
    assert_eq!(show(d, &ids[0])["annotations"][0]["note"], "a wrong turn");
    ok(d, ["verify"]);
}

#[test]
fn compact_dry_run_changes_nothing_and_each_policy_removes_what_it_says() {
    let t = TempDir::new("compact");
    let d = t.path();
    new_session(d, "agent");
    let mut ids = Vec::new();
    for i in 1..=4 {
        let tag = if i == 1 { "milestone" } else { "step" };
        let out = rewind(d)
            .args([
                "checkpoint",
                "-m",
                &format!("step {i}"),
                "-t",
                tag,
                "--state",
                "-",
            ])
            .stdin(format!(
                "{{\"step\":{i},\"pad\":\"{}\"}}",
                "x".repeat(100 * i)
            ))
            .ok();
        ids.push(parse_saved(&out.out()).1);
    }
    let store_files = || -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(t.store())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.ends_with("LOCK"))
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect();
        files.sort();
        files
    };
    let before = (stats(d), ok(d, ["log"]).out(), store_files());

    let rows = |out: &Output| -> Vec<Vec<String>> {
        out.lines()
            .iter()
            .filter(|l| l.starts_with("remove ") || l.starts_with("keep "))
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    };

    // --keep N
    let out = ok(d, ["compact", "--keep", "2", "--dry-run"]);
    let lines = out.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ACTION", "SEQ", "ID", "WHY", "MESSAGE"]
    );
    let r = rows(&out);
    assert_eq!(r.len(), 2, "{}", out.out());
    assert_eq!(r[0][..2], ["remove", "1"]);
    assert_eq!(r[0][3], "beyondKeepLast");
    assert_eq!(r[0][4..], ["step", "1"]);
    assert!(ids[0].starts_with(&r[0][2]));
    assert_eq!(r[1][..2], ["remove", "2"]);
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("2 of 4 checkpoints would go; stored bytes "),
        "{}",
        out.out()
    );

    // --keep-tag
    let out = ok(d, ["compact", "--keep-tag", "milestone", "--dry-run"]);
    let r = rows(&out);
    let removed: Vec<&str> = r
        .iter()
        .filter(|r| r[0] == "remove")
        .map(|r| r[1].as_str())
        .collect();
    assert_eq!(removed, ["2", "3"], "{}", out.out());
    assert!(r.iter().all(|r| r[0] != "remove" || r[3] == "untagged"));
    assert!(
        r.iter().any(|r| r[..2] == ["keep", "4"] && r[3] == "head"),
        "{}",
        out.out()
    );

    // --keep with --keep-tag: the tagged one stays.
    let out = ok(
        d,
        [
            "compact",
            "--keep",
            "2",
            "--keep-tag",
            "milestone",
            "--dry-run",
        ],
    );
    let removed: Vec<String> = rows(&out)
        .into_iter()
        .filter(|r| r[0] == "remove")
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(removed, ["2"], "{}", out.out());

    // --max-age
    let out = ok(d, ["compact", "--max-age", "1h", "--dry-run"]);
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "{}", out.out());
    assert_eq!(lines[0], "nothing to remove");
    assert!(lines[1].starts_with("0 of 4 checkpoints would go; "));
    std::thread::sleep(std::time::Duration::from_millis(5));
    let out = ok(d, ["compact", "--max-age", "1ms", "--dry-run"]);
    let r = rows(&out);
    let removed: Vec<&str> = r
        .iter()
        .filter(|r| r[0] == "remove")
        .map(|r| r[1].as_str())
        .collect();
    assert_eq!(removed, ["1", "2", "3"], "{}", out.out());
    assert_eq!(r[0][3], "tooOld", "{}", out.out());

    // --max-bytes
    let out = ok(d, ["compact", "--max-bytes", "1GiB", "--dry-run"]);
    assert_eq!(out.lines()[0], "nothing to remove");
    let out = ok(d, ["compact", "--max-bytes", "600", "--dry-run"]);
    let r = rows(&out);
    assert!(!r.is_empty(), "{}", out.out());
    assert_eq!(r[0][..2], ["remove", "1"], "the oldest go first");
    assert!(r.iter().all(|r| r[0] != "remove" || r[3] == "overBudget"));

    // --json dry run
    let v = ok_json(d, ["compact", "--keep", "2", "--dry-run"]);
    assert_shape(
        "compact --dry-run --json",
        &v,
        &[
            ("dry_run", T::Bool),
            ("remove", T::Arr),
            ("protected", T::Arr),
            ("stored_bytes_before", T::U64),
            ("stored_bytes_after", T::U64),
        ],
    );
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["remove"].as_array().unwrap().len(), 2);
    assert_shape(
        "compact remove entry",
        &v["remove"][0],
        &[
            ("id", T::Str),
            ("seq", T::U64),
            ("reason", T::Str),
            ("detail", T::Str),
            ("keep_last", T::U64),
        ],
    );
    assert_eq!(v["remove"][0]["id"], ids[0].as_str());
    assert_eq!(v["remove"][0]["reason"], "beyondKeepLast");
    assert_eq!(
        v["remove"][0]["detail"],
        "older than the 2 newest of its session"
    );
    assert!(v["stored_bytes_after"].as_u64().unwrap() < v["stored_bytes_before"].as_u64().unwrap());

    // None of the dry runs changed anything, not even a byte on disk.
    let after = (stats(d), ok(d, ["log"]).out(), store_files());
    assert_eq!(before, after);

    // Applying.
    let out = ok(d, ["compact", "--keep", "2"]);
    assert!(
        out.out().contains("removed 2 checkpoints; log "),
        "{}",
        out.out()
    );
    let s = stats(d);
    assert_eq!(s["checkpoints"], 2);
    assert!(s["stored_bytes"].as_u64() < before.0["stored_bytes"].as_u64());
    assert_eq!(all_ids(d), ids[2..]);
    rewind(d)
        .args(["show", &ids[0]])
        .fails(3, "no checkpoint matches");
    ok(d, ["verify"]);

    let v = ok_json(d, ["compact", "--keep", "1"]);
    assert_eq!(v["dry_run"], false);
    assert_eq!(v["removed"], 1);
    assert!(v["log_bytes_before"].is_u64() && v["log_bytes_after"].is_u64());
    assert_eq!(stats(d)["checkpoints"], 1);
}

// ----- export, import, verify, repair, stats, demo --------------------------------------------

/// Two sessions, a fork, an annotation, a binary state.
fn populate(d: &Path) {
    new_session(d, "first");
    checkpoint_state(d, "one", r#"{"n":1}"#);
    checkpoint_state(d, "two", r#"{"n":2}"#);
    checkpoint(
        d,
        &[
            "-m", "fork", "--parent", "@1", "-t", "fork", "--meta", "k=[1]",
        ],
    );
    ok(d, ["annotate", "@2", "dead end", "--severity", "critical"]);
    new_session(d, "second");
    rewind(d)
        .args([
            "checkpoint",
            "-m",
            "bytes",
            "--state",
            "-",
            "--content-type",
            "image/png",
        ])
        .stdin([0x89u8, b'P', b'N', b'G', 0, 0xff])
        .ok();
}

#[test]
fn export_writes_json_or_binary_to_stdout_or_a_file() {
    let t = TempDir::new("export");
    let d = t.path();
    populate(d);

    let out = ok(d, ["export"]);
    assert_eq!(out.stderr, "");
    let v = out.json();
    assert_eq!(v["format"], "rewind.export");
    assert_eq!(v["version"], 1);
    assert_eq!(v["sessions"].as_array().unwrap().len(), 2);
    let cps = v["checkpoints"].as_array().unwrap();
    assert_eq!(cps.len(), 4);
    let ids = all_ids(d);
    let exported: Vec<&str> = cps.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(exported, ids);
    assert_eq!(cps[1]["annotations"][0]["severity"], "critical");
    assert_eq!(
        cps[0]["state"],
        json!({"encoding": "utf8", "data": "{\"n\":1}"})
    );
    assert_eq!(cps[3]["state"]["encoding"], "base64");

    let file = t.join("e.json");
    let out = ok(
        d,
        ["export", "--format", "json", "-o", file.to_str().unwrap()],
    );
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.starts_with("exported ") && out.stderr.ends_with("e.json\n"),
        "{}",
        out.stderr
    );
    let mut from_file: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    from_file["exported_at"] = v["exported_at"].clone();
    assert_eq!(from_file, v);

    let out = ok(d, ["export", "--format", "binary"]);
    assert!(out.stdout.starts_with(b"RWNDLOG\0"));
    frames(&out.stdout);
    let bin = t.join("e.bin");
    let out2 = ok(
        d,
        [
            "export",
            "--format",
            "binary",
            "--output",
            bin.to_str().unwrap(),
        ],
    );
    assert!(out2.stdout.is_empty());
    assert!(out2.stderr.starts_with("exported "));
    assert_eq!(std::fs::read(&bin).unwrap(), out.stdout);

    // One session only.
    let v = ok(d, ["export", "-s", "second"]).json();
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(v["sessions"][0]["name"], "second");
    assert_eq!(v["checkpoints"].as_array().unwrap().len(), 1);
    rewind(d).args(["export", "-s", "third"]).fails(3, "third");
}

/// The fields that must survive an import unchanged.
fn identity(v: &Value) -> Value {
    json!({
        "id": v["id"], "hash": v["hash"], "parent": v["parent"], "parent_hash": v["parent_hash"],
        "session": v["session"], "message": v["message"], "tags": v["tags"],
        "metadata": v["metadata"], "created_at": v["created_at"], "trigger": v["trigger"],
        "content_type": v["content_type"], "state_len": v["state_len"],
        "annotations": v["annotations"], "namespace": v["namespace"],
    })
}

#[test]
fn import_into_another_store_keeps_ids_hashes_and_states() {
    let t = TempDir::new("import");
    let d = t.path();
    populate(d);
    let ids = all_ids(d);
    let json_file = t.join("e.json");
    let bin_file = t.join("e.bin");
    ok(d, ["export", "-o", json_file.to_str().unwrap()]);
    ok(
        d,
        [
            "export",
            "--format",
            "binary",
            "-o",
            bin_file.to_str().unwrap(),
        ],
    );
    let json_bytes = std::fs::read(&json_file).unwrap();
    let bin_bytes = std::fs::read(&bin_file).unwrap();

    for (label, format, file, stdin) in [
        ("json-file", "json", Some(&json_file), None),
        ("json-stdin", "json", None, Some(&json_bytes)),
        ("bin-file", "binary", Some(&bin_file), None),
        ("bin-stdin", "binary", None, Some(&bin_bytes)),
    ] {
        let dst = t.join(label);
        let import = |json: bool| {
            let mut run = rewind(d).arg("--store").arg(&dst);
            if json {
                run = run.arg("--json");
            }
            run = run.arg("import");
            match (file, stdin) {
                (Some(f), _) => run.arg(f),
                (None, Some(bytes)) => run.arg("-").stdin(bytes),
                _ => unreachable!(),
            }
            .ok()
        };
        let out = import(false);
        assert_eq!(
            out.out(),
            "imported 4 checkpoints in 2 new sessions (0 already present); every hash verified\n",
            "{label}"
        );
        let at = |args: &[&str]| rewind(d).arg("--store").arg(&dst).args(args).ok();
        for id in &ids {
            let src = show(d, id);
            let got = at(&["--json", "show", id]).json();
            assert_eq!(identity(&got), identity(&src), "{label}: {id}");
            assert_eq!(got["is_head"], src["is_head"], "{label}: {id}");
            assert_eq!(
                at(&["state", id]).stdout,
                ok(d, ["state", id]).stdout,
                "{label}: {id}"
            );
        }
        let src_sessions = ok_json(d, ["session", "list"]);
        let dst_sessions = at(&["--json", "session", "list"]).json();
        assert_eq!(dst_sessions, src_sessions, "{label}");
        assert!(at(&["verify"]).out().starts_with("ok: 4 checkpoints"));

        // Again: everything is already there.
        let v = import(true).json();
        assert_shape(
            "import --json",
            &v,
            &[
                ("format", T::Str),
                ("sessions_added", T::U64),
                ("checkpoints_added", T::U64),
                ("skipped", T::U64),
                ("conflicts", T::Arr),
                ("annotations_added", T::U64),
                ("attachments_added", T::U64),
            ],
        );
        assert_eq!(v["format"], format, "{label}");
        assert_eq!(v["checkpoints_added"], 0, "{label}");
        assert_eq!(v["sessions_added"], 0, "{label}");
        assert_eq!(v["skipped"], 4, "{label}");
        assert_eq!(v["annotations_added"], 0, "{label}");
        assert_eq!(at(&["--json", "stats"]).json()["checkpoints"], 4);
        let out = import(false);
        assert_eq!(
            out.out(),
            "imported 0 checkpoints in 0 new sessions (4 already present); every hash verified\n",
            "{label}"
        );
    }
}

/// A store that grew by more than a little gets an index snapshot when its writer closes;
/// commands read it and replay only what came after; a damaged one is said, ignored, and
/// replaced by the next writer — the answers are the same throughout.
#[test]
fn commands_open_through_the_index_snapshot_and_say_when_it_cannot_be_used() {
    let t = TempDir::new("index");
    let store_dir = t.store();
    {
        let mut store = FileStore::open(&store_dir, FileOptions::default()).unwrap();
        let s = store.create_session("big", Default::default()).unwrap();
        for i in 0..60u64 {
            let state = rewind::core::conformance::noise(2000, i);
            let message = if i == 0 { "the first words" } else { "step" };
            store
                .checkpoint(NewCheckpoint::new(s, message, &state))
                .unwrap();
        }
    }
    let index = store_dir.join("INDEX");
    assert!(
        index.exists(),
        "a writer closing after 120 KB of log wrote no snapshot"
    );
    let v = stats(t.path());
    assert_eq!(v["index"], json!({ "snapshot": true, "tail_frames": 0 }));
    assert_eq!(v["checkpoints"], 60);

    // A writer adding a little: its close leaves the snapshot alone; the next open reads the
    // snapshot and the new write after it.
    checkpoint_state(t.path(), "one more", "{}");
    let v = stats(t.path());
    assert_eq!(v["checkpoints"], 61);
    assert!(v["index"]["tail_frames"].as_u64().unwrap() > 0, "{v}");
    let listed = ok(t.path(), ["log", "--json"]).out();

    // Damaged: said on stderr, ignored, and the store reads the same.
    let mut bytes = std::fs::read(&index).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&index, &bytes).unwrap();
    let out = ok(t.path(), ["stats", "--json"]);
    assert!(
        out.stderr
            .contains("the index snapshot is damaged: the log was replayed whole"),
        "{}",
        out.stderr
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["checkpoints"], 61);
    assert_eq!(v["index"]["snapshot"], false);
    assert_eq!(ok(t.path(), ["log", "--json"]).out(), listed);
    // The next writer writes a good one.
    checkpoint_state(t.path(), "and another", "{}");
    let v = stats(t.path());
    assert_eq!(v["index"], json!({ "snapshot": true, "tail_frames": 0 }));
    assert_eq!(v["checkpoints"], 62);
    ok(t.path(), ["verify"]);

    // A record before the snapshot's point edited, its frame checksum fixed: an open through
    // the snapshot does not read it again, but verify replays the whole log and every seal.
    edit_with_checksum(&segment(&store_dir), b"the first words", b'T');
    assert_eq!(stats(t.path())["index"]["snapshot"], true);
    rewind(t.path())
        .args(["verify"])
        .fails(5, "hash chain is broken here");
}

#[test]
fn verify_and_stats_on_a_healthy_store() {
    let t = TempDir::new("verify");
    let d = t.path();
    populate(d);
    let out = ok(d, ["verify"]);
    let line = out.out();
    assert!(
        line.starts_with("ok: 4 checkpoints and ")
            && line.contains(" chunks verified, every hash and parent link\n")
            && line.contains("\nlog: format version 3, every seal of the hash chain checks out\n")
            && line.contains("\nhead: "),
        "{line}"
    );
    let v = ok_json(d, ["verify"]);
    assert_shape(
        "verify --json",
        &v,
        &[
            ("ok", T::Bool),
            ("checkpoints", T::U64),
            ("chunks", T::U64),
            ("first_error", T::Null),
            ("format_version", T::U64),
            ("log_head", T::Str),
            ("dangling_parents", T::U64),
        ],
    );
    assert_eq!(v["ok"], true);
    assert_eq!(v["checkpoints"], 4);

    let v = stats(d);
    assert_shape(
        "stats --json",
        &v,
        &[
            ("sessions", T::U64),
            ("checkpoints", T::U64),
            ("annotations", T::U64),
            ("attachments", T::U64),
            ("logical_bytes", T::U64),
            ("stored_bytes", T::U64),
            ("dedup_ratio", T::F64),
            ("chunks", T::U64),
            ("log_bytes", T::U64),
            ("disk_bytes", T::U64),
            ("segments", T::U64),
            ("generation", T::Null),
            ("next_seq", T::U64),
            ("reclaimable_ratio", T::F64),
            ("format_version", T::U64),
            ("log_head", T::Str),
            ("index", T::Obj),
        ],
    );
    // A store this small gets no index snapshot at close: it replays in no time.
    assert_eq!(v["index"], json!({ "snapshot": false }));
    assert_eq!(v["sessions"], 2);
    assert_eq!(v["checkpoints"], 4);
    assert_eq!(v["annotations"], 1);
    assert_eq!(v["next_seq"], 5);
    assert_eq!(v["segments"], 1);
    let text = ok(d, ["stats"]).out();
    for (key, value) in [
        ("store", ".rewind"),
        ("sessions", "2"),
        ("checkpoints", "4"),
        ("annotations", "1"),
        ("next seq", "5"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(key) && l[key.len()..].trim() == value),
            "no {key} = {value} in:\n{text}"
        );
    }
    for key in [
        "logical bytes",
        "stored bytes",
        "dedup ratio",
        "on disk",
        "reclaimable",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(key)),
            "no {key}:\n{text}"
        );
    }
}

#[test]
fn repair_copies_a_store_into_a_new_directory() {
    let t = TempDir::new("repair");
    let d = t.path();
    populate(d);
    let into = t.join("fixed");
    let out = ok(d, ["repair", into.to_str().unwrap()]);
    assert!(
        out.out().starts_with(&format!(
            "repaired into {}: 4 checkpoints in 2 sessions; ",
            into.display()
        )),
        "{}",
        out.out()
    );
    assert!(out.out().ends_with(", 0 dropped\n"), "{}", out.out());
    let at = |args: &[&str]| rewind(d).arg("--store").arg(&into).args(args).ok();
    assert_eq!(at(&["--json", "log"]).json(), ok_json(d, ["log"]));
    assert!(at(&["verify"]).out().starts_with("ok: 4 checkpoints"));

    let v = ok_json(d, ["repair", t.join("fixed-json").to_str().unwrap()]);
    assert_eq!(v["checkpoints"], 4);
    assert_eq!(v["sessions"], 2);
    assert_eq!(v["records_dropped"], 0);
    assert_eq!(v["damaged"], json!([]));
}

#[test]
fn repair_salvages_a_damaged_store() {
    let t = TempDir::new("salvage");
    let d = t.path();
    new_session(d, "agent");
    let c1 = checkpoint_state(d, "one", r#"{"n":"first-state"}"#);
    let c2 = checkpoint_state(d, "two", r#"{"n":"second-state"}"#);
    checkpoint_state(d, "three", r#"{"n":"third-state-marker"}"#);
    checkpoint_state(d, "four", r#"{"n":"fourth-state"}"#);
    let seg = segment(&t.store());
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = find(&bytes, b"third-state-marker").expect("the state is in the segment");
    bytes[at] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    rewind(d).arg("log").fails(5, "00000001-00000001.seg");

    let into = t.join("fixed");
    let out = ok(d, ["repair", into.to_str().unwrap()]);
    let text = out.out();
    assert!(text.starts_with("repaired into "), "{text}");
    assert!(
        text.contains("  skipped ") && text.contains(".rewind/00000001-00000001.seg:"),
        "{text}"
    );
    let ids = rewind(d)
        .arg("--store")
        .arg(&into)
        .args(["--json", "log"])
        .ok()
        .json();
    let ids: Vec<&str> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&c1.as_str()) && ids.contains(&c2.as_str()),
        "{ids:?}"
    );
    rewind(d).arg("--store").arg(&into).arg("verify").ok();
}

#[test]
fn repair_into_a_non_empty_directory_is_a_usage_error() {
    // Like `demo --into`: a target that is not new or empty is a mistake on the command line,
    // not damaged data (exit 5 means "corrupt store, verify failed, hash mismatch").
    let t = TempDir::new("repair-busy");
    let d = t.path();
    populate(d);
    std::fs::create_dir_all(t.join("busy")).unwrap();
    t.file("busy/file.txt", b"x");
    rewind(d).args(["repair", "busy"]).fails(2, "busy");
}

#[test]
fn demo_runs_and_into_leaves_a_store_log_can_read() {
    let t = TempDir::new("demo");
    let d = t.path();
    // The demo's own temporary store goes under TMPDIR: keep it inside the test dir.
    let out = rewind(d).env("TMPDIR", d).arg("demo").ok();
    let text = out.out();
    for expected in [
        "recording a demo session into ",
        "$ rewind log --graph",
        "|/",
        "* @",
        "(head)",
        "$ rewind diff <wrong turn> <fix>",
        "JSON Patch (",
        "$ rewind stats",
        "dedup ratio",
        "checkpoints    10",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    let made: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        made.iter().any(|n| n.starts_with("rewind-demo-")),
        "{made:?}"
    );

    let into = t.join("demo-store");
    let out = ok(d, ["demo", "--into", into.to_str().unwrap()]);
    assert!(out.out().contains(&into.display().to_string()));
    let at = |args: &[&str]| rewind(d).arg("--store").arg(&into).args(args).ok();
    let log = at(&["log"]).lines();
    assert_eq!(log.len(), 11, "{log:?}");
    assert!(log[0].starts_with("SEQ "));
    assert!(log[1].starts_with("10 "));
    let graph = at(&["log", "--graph"]).out();
    assert!(graph.contains("|/") && graph.contains("(head)"), "{graph}");
    let auto = at(&["--json", "log", "--trigger", "automatic"]).json();
    assert_eq!(auto.as_array().unwrap().len(), 1);
    assert_eq!(
        auto[0]["trigger"],
        json!({"kind": "automatic", "reason": "before context compaction"})
    );
    assert!(at(&["verify"]).out().starts_with("ok: 10 checkpoints"));
    rewind(d)
        .args(["demo", "--into"])
        .arg(&into)
        .fails(2, "is not empty");
}

// ----- ids -------------------------------------------------------------------------------------

#[test]
fn ids_can_be_full_unique_prefixes_with_or_without_hyphens_seqs_or_latest() {
    let t = TempDir::new("ids");
    let d = t.path();
    new_session(d, "agent");
    let ids: Vec<String> = (1..=3)
        .map(|i| checkpoint(d, &["-m", &format!("c{i}")]).1)
        .collect();
    let id_of = |text: &str| show(d, text)["id"].as_str().unwrap().to_string();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(id_of(id), *id);
        assert_eq!(id_of(&id.to_uppercase()), *id);
        assert_eq!(id_of(&format!("@{}", i + 1)), *id);
        // The shortest unique prefix, but at least 12 digits so it spans a hyphen.
        let mine = digits(id);
        let shared = ids
            .iter()
            .filter(|o| *o != id)
            .map(|o| common_prefix(&mine, &digits(o)))
            .max()
            .unwrap();
        let n = (shared + 1).max(12);
        if n >= 32 {
            continue; // made in the same millisecond: no shorter unique prefix
        }
        assert_eq!(id_of(&mine[..n]), *id, "prefix {}", &mine[..n]);
        let hyphenated = hyphenated_prefix(id, n);
        assert!(hyphenated.contains('-'));
        assert_eq!(id_of(&hyphenated), *id, "prefix {hyphenated}");
    }
    assert_eq!(id_of("latest"), ids[2]);
    assert_eq!(ok(d, ["state", "latest"]).stdout, b"{}");
    let text = ok(d, ["diff", "@1", "latest"]).out();
    assert!(
        text.starts_with(&format!("diff @1 {} -> @3 {}", ids[0], ids[2])),
        "{text}"
    );

    rewind(d)
        .args(["show", "@x"])
        .fails(2, "@ takes a seq number");
    rewind(d)
        .args(["show", "@0"])
        .fails(3, "no checkpoint with seq 0");
    rewind(d)
        .args(["show", "@99"])
        .fails(3, "no checkpoint with seq 99");
    rewind(d)
        .args(["show", "not-an-id"])
        .fails(2, "is not a checkpoint id");
    let empty = TempDir::new("ids-empty");
    rewind(empty.path())
        .args(["show", "latest"])
        .fails(7, "no rewind store at");
    new_session(empty.path(), "empty");
    rewind(empty.path())
        .args(["show", "latest"])
        .fails(3, "no checkpoints");
}

#[test]
fn an_ambiguous_prefix_fails_listing_the_candidates() {
    let t = TempDir::new("ambiguous");
    let d = t.path();
    new_session(d, "agent");
    let (_, c1) = checkpoint(d, &["-m", "one"]);
    let (_, c2) = checkpoint(d, &["-m", "two"]);
    let shared = common_prefix(&digits(&c1), &digits(&c2));
    assert!(shared >= 1);
    // UUID v7 made within the same minute share their first 8 digits.
    let prefix = &digits(&c1)[..shared.min(8)];
    let out = rewind(d).args(["show", prefix]).run();
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines[0],
        format!("rewind: \"{prefix}\" is ambiguous: 2 checkpoints match")
    );
    assert_eq!(lines[1..], [format!("  {c1}"), format!("  {c2}")]);
    assert_eq!(rewind(d).args(["diff", prefix, "@1"]).run().code, 3);
    assert_eq!(rewind(d).args(["state", prefix]).run().code, 3);
}

// ----- bad input -------------------------------------------------------------------------------

#[test]
fn unknown_ids_and_sessions_exit_3() {
    let t = TempDir::new("unknown");
    let d = t.path();
    new_session(d, "agent");
    checkpoint(d, &["-m", "one"]);
    rewind(d)
        .args(["show", "ffffffff"])
        .fails(3, "no checkpoint matches \"ffffffff\"");
    rewind(d)
        .args(["state", "ffffffff-ffff-7fff-bfff-ffffffffffff"])
        .fails(3, "no checkpoint matches");
    rewind(d)
        .args(["annotate", "ffff", "note"])
        .fails(3, "no checkpoint matches");
    rewind(d)
        .args(["checkpoint", "-m", "x", "--parent", "ffff"])
        .fails(3, "no checkpoint matches");
    rewind(d)
        .args(["checkpoint", "-m", "x", "-s", "nosuch"])
        .fails(3, "no session matches \"nosuch\"");
    rewind(d)
        .args(["log", "--session", "nosuch"])
        .fails(3, "no session matches");
    rewind(d)
        .args(["compact", "--keep", "1", "-s", "nosuch"])
        .fails(3, "no session matches");
    assert_eq!(stats(d)["checkpoints"], 1);
}

#[test]
fn invalid_states_and_messages_are_refused() {
    let t = TempDir::new("invalid");
    let d = t.path();
    new_session(d, "agent");
    rewind(d)
        .args(["checkpoint", "-m", "x", "--state", "-"])
        .stdin("{not json")
        .fails(6, "not valid JSON");
    let bad = t.file("bad.json", "[1, 2,");
    rewind(d)
        .args(["checkpoint", "-m", "x", "--state"])
        .arg(&bad)
        .fails(6, "pass --content-type");
    rewind(d)
        .args(["checkpoint", "-m", "x", "--state", "-"])
        .stdin([0xffu8, 0x00])
        .fails(6, "not valid JSON");
    rewind(d)
        .args(["checkpoint", "-m", "x", "--state", "does-not-exist.json"])
        .fails(1, "does-not-exist.json");
    rewind(d)
        .args(["checkpoint", "-m", "x", "--state", "."])
        .fails(1, ".");
    rewind(d)
        .args(["checkpoint", "-m", "", "--state", "-"])
        .stdin("{}")
        .fails(6, "message is empty");
    rewind(d)
        .args(["checkpoint", "-m", "x", "--meta", "novalue"])
        .fails(2, "KEY=VALUE");
    rewind(d)
        .args(["import", "missing-export.json"])
        .fails(1, "missing-export.json");
    assert_eq!(stats(d)["checkpoints"], 0);
}

#[test]
fn compact_needs_a_policy_and_valid_durations_and_sizes() {
    let t = TempDir::new("compact-bad");
    let d = t.path();
    new_session(d, "agent");
    checkpoint(d, &["-m", "one"]);
    rewind(d)
        .arg("compact")
        .fails(2, "say what to keep: --keep N");
    rewind(d)
        .args(["compact", "--dry-run"])
        .fails(2, "say what to keep");
    rewind(d)
        .args(["compact", "--max-age", "1x"])
        .fails(2, "unknown unit \"x\"");
    rewind(d)
        .args(["compact", "--max-age", "30"])
        .fails(2, "needs a unit");
    rewind(d)
        .args(["compact", "--max-age", "99999999999999999999d"])
        .fails(2, "not a duration");
    rewind(d)
        .args(["compact", "--max-bytes", "5 parsecs"])
        .fails(2, "size");
    assert_eq!(stats(d)["checkpoints"], 1);
}

#[test]
fn a_corrupt_store_exits_5_naming_the_file() {
    let t = TempDir::new("corrupt");
    let d = t.path();
    new_session(d, "agent");
    checkpoint(d, &["-m", "one"]);
    checkpoint(d, &["-m", "two"]);
    let seg = segment(&t.store());
    let mut bytes = std::fs::read(&seg).unwrap();
    let first = frames(&bytes)[0];
    bytes[first.0 + 8 + 1] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    for args in [
        &["log"][..],
        &["stats"],
        &["verify"],
        &["checkpoint", "-m", "x"],
    ] {
        let out = rewind(d).args(args).fails(5, "00000001-00000001.seg");
        assert!(out.stderr.contains("corrupt"), "{}", out.stderr);
        assert!(out.stderr.contains("rewind repair"), "{}", out.stderr);
    }
    // Nothing was written to the damaged store.
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);
}

#[test]
fn a_locked_store_refuses_writes_with_exit_4_naming_the_holder_and_still_reads() {
    let t = TempDir::new("locked");
    let d = t.path();
    new_session(d, "agent");
    ok(d, ["checkpoint", "-m", "before"]);
    let held = rewind::SharedStore::open(t.store(), FileOptions::default()).unwrap();
    let pid = format!("locked by pid {}", std::process::id());
    rewind(d)
        .args(["--no-wait", "checkpoint", "-m", "x"])
        .fails(4, &pid);
    rewind(d)
        .args(["--no-wait", "annotate", "latest", "a note"])
        .fails(4, &pid);
    rewind(d)
        .args(["--no-wait", "compact", "--keep", "1"])
        .fails(4, &pid);
    // A writer waits its turn first (default 5s, --wait to change), then gives up the same way.
    let started = std::time::Instant::now();
    rewind(d)
        .args(["--wait", "300ms", "checkpoint", "-m", "x"])
        .fails(4, &pid);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    rewind(d)
        .args(["--wait", "soon", "checkpoint", "-m", "x"])
        .fails(2, "--wait");
    // Reading takes no lock: a live writer can be watched.
    assert!(ok(d, ["log"]).out().contains("before"));
    assert!(ok(d, ["session", "list"]).out().contains("agent"));
    ok(d, ["verify"]);
    ok(d, ["compact", "--keep", "1", "--dry-run"]);
    drop(held);
    ok(d, ["checkpoint", "-m", "x"]);
}

#[test]
fn a_store_the_user_may_only_read_is_read_and_left_unchanged() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let t = TempDir::new("read-only");
    let d = t.path();
    populate(d);
    let store = t.store();
    let perms = |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    // A copy of the binary others may run; the test's own tree may be private.
    let bin = t.join("rewind-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_rewind"), &bin).unwrap();
    perms(&bin, 0o755).unwrap();
    perms(d, 0o755).unwrap();
    for entry in std::fs::read_dir(&store).unwrap() {
        perms(&entry.unwrap().path(), 0o444).unwrap();
    }
    perms(&store, 0o555).unwrap();
    let before: Vec<_> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.clone(), std::fs::read(&p).unwrap())
        })
        .collect();
    // Root may write anywhere: run as `nobody` then. Anyone else is already kept out by the
    // modes.
    let as_root = std::fs::metadata(d).unwrap().uid() == 0;
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&bin);
        cmd.current_dir(d).env_remove("REWIND_STORE").args(args);
        if as_root {
            cmd.uid(65534).gid(65534);
        }
        cmd.output().expect("run rewind")
    };
    for args in [
        &["log"][..],
        &["session", "list"],
        &["show", "@2"],
        &["verify"],
        &["stats"],
        &["export"],
        &["diff", "@1", "@2"],
        &["compact", "--keep", "1", "--dry-run"],
    ] {
        let out = run(args);
        assert!(
            out.status.success(),
            "`rewind {}` failed on a read-only store: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(String::from_utf8_lossy(&run(&["log"]).stdout).contains("fork"));
    let refused = run(&["checkpoint", "-m", "x"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("ermission denied"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let after: Vec<_> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.clone(), std::fs::read(&p).unwrap())
        })
        .collect();
    assert_eq!(before, after);
    perms(&store, 0o700).unwrap();
}

#[test]
fn an_edited_message_with_its_checksum_fixed_stops_every_command() {
    let t = TempDir::new("tamper-message");
    let d = t.path();
    new_session(d, "agent");
    checkpoint_state(d, "a message to keep", r#"{"n":1}"#);
    checkpoint_state(d, "later", r#"{"n":2}"#);
    let seg = segment(&t.store());
    let mut bytes = edit_with_checksum(&seg, b"a message to keep", b'A');
    let before = std::fs::read(&seg).unwrap();
    for cmd in [
        &["log"][..],
        &["verify"],
        &["stats"],
        &["checkpoint", "-m", "x"],
    ] {
        rewind(d).args(cmd).fails(5, "hash chain is broken here");
    }
    assert_eq!(std::fs::read(&seg).unwrap(), before);

    // Rewriting the chain too, as a deliberate forger would, gets past the open; the
    // checkpoint's own hash still gives the change away.
    rewind_core::conformance::reseal(&mut bytes);
    std::fs::write(&seg, &bytes).unwrap();
    ok(d, ["log"]);
    rewind(d)
        .arg("verify")
        .fails(5, "its recorded hash does not match its contents");
}

#[test]
fn verify_expect_head_proves_nothing_was_cut_off_the_end() {
    let t = TempDir::new("expect-head");
    let d = t.path();
    new_session(d, "agent");
    checkpoint_state(d, "one", r#"{"n":1}"#);
    let seg = segment(&t.store());
    let len_after_one = std::fs::metadata(&seg).unwrap().len();
    checkpoint_state(d, "two", r#"{"n":2}"#);
    let stats = ok(d, ["--json", "stats"]).json();
    assert_eq!(stats["format_version"], 3);
    let head = stats["log_head"].as_str().unwrap().to_string();
    assert_eq!(head.len(), 64);
    let verified = ok(d, ["verify"]).out();
    assert!(verified.contains(&format!("head: {head}")), "{verified}");

    // Later writes keep the old head on the chain.
    checkpoint_state(d, "three", r#"{"n":3}"#);
    let out = ok(d, ["verify", "--expect-head", &head]).out();
    assert!(out.contains("still passes through head"), "{out}");
    let v = ok(d, ["--json", "verify", "--expect-head", &head]).json();
    assert_eq!(v["expected_head"]["found"], true);

    // Cut back to before that head: a clean log that verifies, but not through the kept head.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len_after_one)
        .unwrap();
    ok(d, ["verify"]);
    rewind(d)
        .args(["verify", "--expect-head", &head])
        .fails(5, "does not pass through head");
    rewind(d)
        .args(["verify", "--expect-head", "xyz"])
        .fails(2, "not a 64-digit hex hash");
}

#[test]
fn upgrade_rewrites_older_stores_in_format_version_3() {
    for version in [1, 2] {
        let t = TempDir::new("upgrade");
        let d = t.path();
        let golden =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/golden/v{version}/store"));
        std::fs::create_dir_all(t.store()).unwrap();
        for entry in std::fs::read_dir(&golden).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), t.store().join(entry.file_name())).unwrap();
        }
        let before = ok(d, ["--json", "log"]).json();
        let stats = ok(d, ["--json", "stats"]).json();
        assert_eq!(stats["format_version"], version);
        assert!(
            ok(d, ["verify"])
                .out()
                .contains(&format!("format version {version}"))
        );
        if version == 1 {
            assert_eq!(stats["log_head"], Value::Null);
            rewind(d)
                .args(["verify", "--expect-head", &"0".repeat(64)])
                .fails(2, "needs a version 2");
        }

        let out = ok(d, ["upgrade"]).out();
        assert!(
            out.contains(&format!("upgraded from format version {version} to 3")),
            "{out}"
        );
        let stats = ok(d, ["--json", "stats"]).json();
        assert_eq!(stats["format_version"], 3);
        let head = stats["log_head"].as_str().unwrap().to_string();
        assert_eq!(
            ok(d, ["--json", "log"]).json(),
            before,
            "the upgrade changed the history"
        );
        ok(d, ["verify", "--expect-head", &head]);
        assert!(
            ok(d, ["upgrade"])
                .out()
                .contains("already format version 3")
        );
    }
}

#[test]
fn a_tampered_json_export_is_refused_with_exit_5() {
    let t = TempDir::new("tampered");
    let d = t.path();
    populate(d);
    let mut export = ok(d, ["export"]).json();
    export["checkpoints"][1]["message"] = json!("a different message");
    let file = t.file("tampered.json", serde_json::to_vec(&export).unwrap());
    let dst = t.join("dst");
    let out = rewind(d)
        .arg("--store")
        .arg(&dst)
        .arg("import")
        .arg(&file)
        .fails(5, "hash");
    assert!(out.stdout.is_empty());
    let s = rewind(d)
        .arg("--store")
        .arg(&dst)
        .args(["--json", "stats"])
        .ok()
        .json();
    assert_eq!(s["checkpoints"], 0);
    assert_eq!(s["sessions"], 0);

    // A JSON document that is not an export at all.
    rewind(d)
        .arg("--store")
        .arg(&dst)
        .args(["import", "-"])
        .stdin("{\"hello\": 1}")
        .fails(6, "import");
}

/// A second store holding one session of its own, and its stats.
fn other_store(t: &TempDir) -> (PathBuf, Value) {
    let dst = t.join("dst");
    rewind(t.path())
        .arg("--store")
        .arg(&dst)
        .args(["session", "new", "mine"])
        .ok();
    let s = rewind(t.path())
        .arg("--store")
        .arg(&dst)
        .args(["--json", "stats"])
        .ok()
        .json();
    (dst, s)
}

#[test]
fn a_binary_export_cut_short_is_refused_and_changes_nothing() {
    let t = TempDir::new("cut");
    let d = t.path();
    populate(d);
    let bin = ok(d, ["export", "--format", "binary"]).stdout;
    let last = *frames(&bin).last().unwrap();
    let (dst, before) = other_store(&t);
    for cut in [bin.len() - 1, last.0 + 5, last.0 + 12, 20] {
        let out = rewind(d)
            .arg("--store")
            .arg(&dst)
            .args(["import", "-"])
            .stdin(&bin[..cut])
            .run();
        assert_ne!(out.code, 0, "a cut at {cut} of {} was imported", bin.len());
        assert_one_line_error(&out, "cut short");
        let after = rewind(d)
            .arg("--store")
            .arg(&dst)
            .args(["--json", "stats"])
            .ok()
            .json();
        assert_eq!(after, before, "cut at {cut}");
    }
}

#[test]
fn a_binary_export_cut_at_a_frame_boundary_is_refused() {
    // Import is "all or nothing": an export that lost its last records (a copy cut short
    // between two frames) must not be imported as if it were whole.
    let t = TempDir::new("cut-frame");
    let d = t.path();
    populate(d);
    let bin = ok(d, ["export", "--format", "binary"]).stdout;
    let last = *frames(&bin).last().unwrap();
    let (dst, before) = other_store(&t);
    let out = rewind(d)
        .arg("--store")
        .arg(&dst)
        .args(["import", "-"])
        .stdin(&bin[..last.0])
        .run();
    let after = rewind(d)
        .arg("--store")
        .arg(&dst)
        .args(["--json", "stats"])
        .ok()
        .json();
    assert_ne!(
        out.code,
        0,
        "an export missing its last frame was imported: {}",
        out.out()
    );
    assert_eq!(after, before);
}

#[test]
fn an_altered_chunk_breaks_the_chain_and_verify_names_its_checkpoint_in_older_logs() {
    let t = TempDir::new("tamper-chunk");
    let d = t.path();
    new_session(d, "agent");
    checkpoint_state(d, "one", r#"{"n":1}"#);
    checkpoint_state(d, "target", r#"{"secret":"needle-0123456789abcdef"}"#);
    checkpoint_state(d, "three", r#"{"n":3}"#);
    ok(d, ["verify"]);

    // Alter one byte of the state and fix the frame's checksum. Format version 3 records name
    // new chunks by length and the chain covers their hashes: the store no longer opens, and
    // says where.
    let seg = segment(&t.store());
    edit_with_checksum(&seg, b"needle-0123456789abcdef", b'N');
    for args in [vec!["log"], vec!["verify"]] {
        let out = rewind(d).args(&args).fails(5, "hash chain is broken");
        assert!(
            out.stderr
                .contains("00000001-00000001.seg is corrupt at byte"),
            "{}",
            out.stderr
        );
    }

    // A version 2 log binds state bytes by the chunk hashes its records list (its chain
    // covers records only): the store opens, and verify finds the chunk and its checkpoint.
    let t = TempDir::new("tamper-chunk-v2");
    let d = t.path();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/v2/store");
    std::fs::create_dir_all(t.store()).unwrap();
    let needle = br#"{"turn":3,"#;
    let mut altered = None;
    for entry in std::fs::read_dir(&golden).unwrap() {
        let entry = entry.unwrap();
        let to = t.store().join(entry.file_name());
        std::fs::copy(entry.path(), &to).unwrap();
        if find(&std::fs::read(&to).unwrap(), needle).is_some() {
            altered = Some(to);
        }
    }
    edit_with_checksum(&altered.unwrap(), needle, b'[');
    // Turn 3 is the checkpoint with seq 4 (see the golden's expected.txt).
    let target = "01a2436c-d128-7676-9095-10cae262adc6";
    ok(d, ["log"]);
    let out = rewind(d).arg("verify").fails(
        5,
        &format!("verification failed at checkpoint {target} (seq 4)"),
    );
    assert!(out.stdout.is_empty(), "{}", out.out());
    assert!(
        out.stderr.contains("do not hash to it"),
        "said in words: {}",
        out.stderr
    );
    let out = rewind(d).args(["--json", "verify"]).run();
    assert_eq!(out.code, 5);
    let v = out.json();
    assert_eq!(v["ok"], false);
    assert_shape(
        "verify --json first_error",
        &v["first_error"],
        &[
            ("checkpoint", T::Str),
            ("seq", T::U64),
            ("problem", T::Str),
            ("detail", T::Str),
        ],
    );
    assert_eq!(v["first_error"]["problem"], "chunkMismatch");
    assert!(
        v["first_error"]["detail"]
            .as_str()
            .unwrap()
            .contains("do not hash to it"),
        "{v}"
    );
    assert_eq!(v["first_error"]["checkpoint"], target);
    assert_eq!(v["first_error"]["seq"], 4);
}

// ----- JSON shapes, colours, help --------------------------------------------------------------

#[test]
fn json_output_shapes() {
    let t = TempDir::new("shapes");
    let d = t.path();
    new_session(d, "agent");

    let v = rewind(d)
        .args([
            "--json",
            "checkpoint",
            "-m",
            "one",
            "-t",
            "a",
            "--meta",
            "k=1",
        ])
        .ok()
        .json();
    assert_shape("checkpoint --json", &v, &checkpoint_shape());
    assert_eq!(v["seq"], 1);
    assert_eq!(v["parent"], Value::Null);
    assert_eq!(v["trigger"], json!({"kind": "manual"}));
    assert_rfc3339(v["created"].as_str().unwrap());
    assert_uuid(v["id"].as_str().unwrap());
    assert_eq!(v["hash"].as_str().unwrap().len(), 64);
    let first = v["id"].as_str().unwrap().to_string();
    let v = ok_json(d, ["checkpoint", "-m", "two"]);
    assert_eq!(v["parent"], first.as_str());
    assert!(v["parent_hash"].is_string());

    let log = ok_json(d, ["log"]);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2);
    for cp in log {
        assert_shape("log --json", cp, &checkpoint_shape());
    }

    let mut show_shape = checkpoint_shape();
    show_shape.extend([
        ("annotations", T::Arr),
        ("attachments", T::Arr),
        ("children", T::Arr),
        ("is_head", T::Bool),
    ]);
    assert_shape("show --json", &show(d, &first), &show_shape);

    let list = ok_json(d, ["session", "list"]);
    assert_shape("session list --json", &list[0], &SESSION_SHAPE);
    assert_eq!(list[0]["checkpoints"], 2);

    // Failures print no JSON on stdout.
    let out = rewind(d)
        .args(["--json", "show", "ffffffff"])
        .fails(3, "no checkpoint");
    assert!(out.stdout.is_empty());
}

#[test]
fn no_ansi_escapes_when_stdout_is_not_a_terminal() {
    let t = TempDir::new("colour");
    let d = t.path();
    populate(d);
    ok(d, ["annotate", "@1", "note", "--severity", "warning"]);
    let mut outputs = Vec::new();
    for args in [
        &["session", "list"][..],
        &["log"],
        &["log", "--graph"],
        &["show", "@2"],
        &["show", "@1"],
        &["diff", "@1", "@2"],
        &["diff", "@1", "@3"],
        &["stats"],
        &["verify"],
        &["compact", "--keep", "1", "--dry-run"],
        &["restore", "@1"],
        &["--help"],
    ] {
        outputs.push(ok(d, args));
    }
    outputs.push(rewind(d).args(["show", "ffffffff"]).run());
    outputs.push(
        rewind(d)
            .env("TMPDIR", d)
            .args(["demo", "--into", "demo"])
            .ok(),
    );
    for out in outputs {
        assert!(
            !out.stdout.contains(&0x1b) && !out.stderr.contains('\x1b'),
            "`rewind {}` printed an escape:\n{}{}",
            out.args,
            String::from_utf8_lossy(&out.stdout),
            out.stderr
        );
    }
}

#[test]
fn help_lists_the_exit_codes() {
    let t = TempDir::new("help");
    let d = t.path();
    let text = ok(d, ["--help"]).out();
    assert!(text.contains("Exit codes:"), "{text}");
    for line in [
        "0  success",
        "1  failure",
        "2  usage error",
        "3  not found",
        "4  store locked",
        "5  damaged or tampered data",
        "6  invalid input",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    for command in [
        "demo",
        "session",
        "checkpoint",
        "log",
        "show",
        "state",
        "restore",
        "diff",
        "annotate",
        "compact",
        "export",
        "import",
        "verify",
        "repair",
        "stats",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "--help does not list {command}:\n{text}"
        );
    }
    assert!(!t.store().exists(), "--help must not create a store");
    // Usage errors from the parser exit 2.
    let out = rewind(d).arg("frobnicate").run();
    assert_eq!(out.code, 2);
    let out = rewind(d).args(["checkpoint"]).run();
    assert_eq!(out.code, 2, "a missing --message");
    assert!(out.stderr.contains("--message"));
}

#[test]
fn failed_output_leaves_the_head_alone_and_says_one_line() {
    let tmp = TempDir::new("output");
    let dir = tmp.path();
    new_session(dir, "agent");
    let first = checkpoint_state(dir, "first", "{\"n\":1}");
    let second = checkpoint_state(dir, "second", "{\"n\":2}");
    // The state cannot be written: restore fails before it moves the head.
    rewind(dir)
        .args(["restore", &first, "-o", "/nonexistent/dir/state.json"])
        .fails(1, "/nonexistent/dir/state.json");
    let third = checkpoint_state(dir, "third", "{\"n\":3}");
    assert_eq!(
        show(dir, &third)["parent"],
        second.as_str(),
        "the head did not move"
    );
    // A full disk is an error line, not a panic.
    let full = Command::new(env!("CARGO_BIN_EXE_rewind"))
        .current_dir(dir)
        .env_remove("REWIND_STORE")
        .arg("log")
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped())
        .output()
        .expect("run rewind");
    let out = Output {
        args: "log >/dev/full".into(),
        code: full.status.code().unwrap_or(-1),
        stdout: Vec::new(),
        stderr: String::from_utf8_lossy(&full.stderr).into_owned(),
    };
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_one_line_error(&out, "cannot write the output");
}

#[test]
fn dates_past_what_a_calendar_holds_are_usage_errors() {
    let tmp = TempDir::new("dates");
    let dir = tmp.path();
    new_session(dir, "agent");
    for date in [
        "300000000000-01-01",
        "9223372036854775807-01-01",
        "2026-02-31",
        "2025-02-29",
    ] {
        for flag in ["--since", "--until"] {
            rewind(dir).args(["log", flag, date]).fails(2, "not a time");
        }
    }
    ok(dir, ["log", "--since", "2024-02-29"]);
}

#[test]
fn a_dropped_unfinished_write_is_reported_when_the_store_opens() {
    let tmp = TempDir::new("torn");
    let dir = tmp.path();
    new_session(dir, "agent");
    let kept = checkpoint_state(dir, "kept", "{\"n\":1}");
    checkpoint_state(
        dir,
        "cut",
        "{\"n\":2, \"pad\": \"a string long enough to cut\"}",
    );
    let seg = segment(&dir.join(".rewind"));
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let cut = std::fs::read(&seg).unwrap();

    // Readers read up to it, say so, and change nothing; verify reports it.
    let out = rewind(dir).args(["log"]).ok();
    assert!(
        out.stderr.contains("are not a whole record"),
        "{}",
        out.stderr
    );
    assert_eq!(show(dir, &kept)["message"], "kept");
    rewind(dir).arg("verify").fails(5, "are not a whole record");
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        cut,
        "a reader changed the segment"
    );
    assert_eq!(
        std::fs::read_dir(dir.join(".rewind")).unwrap().count(),
        4,
        "a reader added or removed a file (CURRENT, DURABLE, LOCK and the segment are there)"
    );

    // The next writer moves the bytes aside before cutting them, and says where.
    let out = rewind(dir).args(["checkpoint", "-m", "after"]).ok();
    assert!(
        out.stderr
            .contains("moved an unfinished or damaged last write aside"),
        "{}",
        out.stderr
    );
    let aside: Vec<_> = std::fs::read_dir(dir.join(".rewind"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".seg.torn-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let offset: usize = aside[0]
        .to_string_lossy()
        .rsplit('-')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(std::fs::read(&aside[0]).unwrap(), cut[offset..]);
    assert!(
        out.stderr
            .contains(&*aside[0].file_name().unwrap().to_string_lossy()),
        "{}",
        out.stderr
    );
    ok(dir, ["verify"]);
}

#[test]
fn an_endless_input_is_refused_at_its_limit_not_read_whole() {
    let tmp = TempDir::new("endless");
    let dir = tmp.path();
    new_session(dir, "agent");
    rewind(dir)
        .args(["checkpoint", "-m", "big", "--state", "/dev/zero"])
        .fails(6, "state size limit");
    assert_eq!(stats(dir)["checkpoints"], 0);
}

// ----- untrusted text on the terminal ------------------------------------------------------------

/// Bytes an escape sequence needs, that must never reach a terminal from store text: ESC (OSC
/// and CSI sequences), BEL (ends OSC), C1 controls (CSI as one code point) and bidi overrides.
fn raw_control(out: &str) -> Option<char> {
    out.chars().find(|c| {
        *c == '\u{1b}'
            || *c == '\u{7}'
            || ('\u{80}'..='\u{9f}').contains(c)
            || ('\u{202a}'..='\u{202e}').contains(c)
            || ('\u{2066}'..='\u{2069}').contains(c)
    })
}

#[test]
fn text_from_the_store_reaches_the_terminal_escaped_and_json_exact() {
    let t = TempDir::new("injection");
    let d = t.path();
    let clipboard = "\u{1b}]52;c;cm0gLXJmIH4=\u{7}";
    let title = "\u{1b}]0;pwned\u{7}";
    let csi = "\u{1b}[2J\u{9b}31m";
    let bidi = "\u{202e}txt.exe";
    let name = format!("agent {clipboard}");
    let sid = new_session(d, &name);
    let message = format!("step {title} {bidi}");
    let tag = format!("t{csi}");
    let (_, first) = checkpoint(
        d,
        &[
            "-m",
            &message,
            "--tag",
            &tag,
            "--meta",
            &format!("k={bidi}"),
        ],
    );
    let state = format!("{{\"text\":\"{}\"}}", "\\u001b]52;c;eA==\\u0007");
    let second = checkpoint_state(d, &format!("second {csi}"), &state);
    ok(
        d,
        [
            "annotate",
            &first,
            &format!("note {clipboard}"),
            "--severity",
            "critical",
        ],
    );

    for args in [
        vec!["session", "list"],
        vec!["log"],
        vec!["log", "--graph"],
        vec!["show", &first],
        vec!["diff", &first, &second],
        vec!["compact", "--keep", "1", "--dry-run"],
    ] {
        let out = ok(d, &args).out();
        assert_eq!(
            raw_control(&out),
            None,
            "`rewind {}` printed it raw:\n{out:?}",
            args.join(" ")
        );
        assert!(
            out.contains("\\u{1b}"),
            "`rewind {}` shows the escape:\n{out}",
            args.join(" ")
        );
    }

    // --json keeps every byte: scripts get exactly what was stored.
    let sessions = ok_json(d, ["session", "list"]);
    assert_eq!(sessions[0]["id"], sid.as_str());
    assert_eq!(sessions[0]["name"], name.as_str());
    let shown = ok_json(d, ["show", &first]);
    assert_eq!(shown["message"], message.as_str());
    assert_eq!(shown["tags"], json!([tag]));
    assert_eq!(shown["metadata"]["k"], bidi);
    assert_eq!(shown["annotations"][0]["note"], format!("note {clipboard}"));
}

// ----- files whole or not at all; the lock only while writing --------------------------------

#[test]
fn an_export_that_cannot_be_written_whole_leaves_no_file() {
    let t = TempDir::new("export-limit");
    let d = t.path();
    new_session(d, "agent");
    for i in 0..20 {
        checkpoint_state(
            d,
            &format!("step {i}"),
            &format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(500)),
        );
    }
    let full = ok(d, ["export"]).stdout;
    assert!(full.len() > 8192);
    // A file-size limit (as a full disk would) stops the write partway.
    let out = Command::new("prlimit")
        .args(["--fsize=4096", "--"])
        .arg(env!("CARGO_BIN_EXE_rewind"))
        .args(["export", "-o", "backup.json"])
        .current_dir(d)
        .env_remove("REWIND_STORE")
        .output()
        .expect("run rewind under prlimit");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".rewind")
        .collect();
    assert!(
        left.is_empty(),
        "a partial export was left behind: {left:?}"
    );
    // Without the limit the same command writes the whole export.
    ok(d, ["export", "-o", "backup.json"]);
    let written: Value = serde_json::from_slice(&std::fs::read(d.join("backup.json")).unwrap())
        .expect("the export is whole JSON");
    let printed: Value = serde_json::from_slice(&full).unwrap();
    assert!(
        written["checkpoints"] == printed["checkpoints"],
        "the same checkpoints"
    );
}

#[test]
fn an_oversized_import_is_refused_from_its_size_before_reading() {
    let t = TempDir::new("import-size");
    let d = t.path();
    let big = d.join("big.rwd");
    // Sparse: 1 GiB + 1 byte on paper, nothing on disk.
    std::fs::File::create(&big)
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    rewind(d).args(["import", "big.rwd"]).fails(
        6,
        "1073741825 bytes, more than the import size limit of 1073741824 bytes",
    );
    assert!(
        !d.join(".rewind").exists(),
        "a refused import creates no store"
    );
}

#[test]
fn a_slow_state_on_stdin_does_not_hold_the_writer_lock() {
    let t = TempDir::new("slow-stdin");
    let d = t.path();
    new_session(d, "agent");
    let mut slow = Command::new(env!("CARGO_BIN_EXE_rewind"))
        .args(["checkpoint", "-m", "slow", "--state", "-"])
        .current_dir(d)
        .env_remove("REWIND_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rewind");
    let mut pipe = slow.stdin.take().unwrap();
    pipe.write_all(b"{\"partial\":").unwrap();
    // While the first command still waits for its state, another one writes.
    std::thread::sleep(std::time::Duration::from_millis(200));
    checkpoint(d, &["-m", "fast"]);
    pipe.write_all(b"true}").unwrap();
    drop(pipe);
    let out = slow.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = ok_json(d, ["log"]);
    let messages: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["slow", "fast"]);
}

// ----- watching a live store ---------------------------------------------------------------

/// Writers that meet a held lock wait their turn (the default `--wait`): two processes writing
/// in loops at once both land every checkpoint. `TWO_WRITERS_EACH` sets the count per writer
/// (default 25; `scripts/acceptance.sh` runs 500).
#[test]
fn two_writers_with_the_default_wait_both_land_every_checkpoint() {
    let each: usize = std::env::var("TWO_WRITERS_EACH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let t = TempDir::new("two-writers");
    let d = t.path().to_path_buf();
    new_session(&d, "agent");
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let d = d.clone();
            std::thread::spawn(move || {
                for i in 0..each {
                    ok(&d, ["checkpoint", "-m", &format!("writer {w} step {i}")]);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("a writer was refused");
    }
    let log = ok_json(&d, ["log", "-n", "100000"]);
    assert_eq!(log.as_array().unwrap().len(), 2 * each);
}

/// `rewind watch` (`log --follow`) prints each checkpoint a writer adds, once, in seq order —
/// across a compaction (of checkpoints from before the watch) — and `--json` makes it one
/// object per line.
#[test]
fn watch_prints_every_new_checkpoint_once_in_seq_order() {
    use std::io::{BufRead, BufReader};
    let t = TempDir::new("watch");
    let d = t.path();
    new_session(d, "agent");
    for i in 0..3 {
        ok(d, ["checkpoint", "-m", &format!("before {i}")]);
    }
    let mut watch = Command::new(env!("CARGO_BIN_EXE_rewind"))
        .current_dir(d)
        .env_remove("REWIND_STORE")
        .args(["--json", "watch", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rewind watch");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = |what: &str| {
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("watch printed nothing for {what}"))
    };
    let first: Value = serde_json::from_str(&next("the newest checkpoint")).unwrap();
    assert_eq!(first["seq"], 3, "-n 1 shows the newest first");
    let mut expected = Vec::new();
    for i in 0..12 {
        let (seq, _) = checkpoint(d, &["-m", &format!("during {i}"), "-t", "live"]);
        expected.push(seq);
        if i == 5 {
            // Removes the checkpoints from before the watch only.
            let out = ok_json(d, ["compact", "--keep", "1", "--keep-tag", "live"]);
            assert_eq!(out["removed"], 3, "{out}");
        }
    }
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        let line = next("a new checkpoint");
        let value: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        seen.push(value["seq"].as_u64().unwrap());
    }
    assert_eq!(seen, expected);
    watch.kill().unwrap();
    watch.wait().unwrap();
    assert!(rx.try_recv().is_err(), "printed something twice");
}

/// Only `session new`, `checkpoint`, `import` and `demo` create a store; every other command
/// on a path holding none fails with exit 7 and creates nothing.
#[test]
fn commands_that_do_not_create_a_store_fail_with_exit_7_on_a_missing_one() {
    let t = TempDir::new("no-store");
    let d = t.path();
    for args in [
        vec!["log"],
        vec!["watch"],
        vec!["log", "--follow"],
        vec!["stats"],
        vec!["verify"],
        vec!["annotate", "latest", "note"],
        vec!["restore", "latest"],
        vec!["compact", "--keep", "1"],
        vec!["upgrade"],
        vec!["export"],
    ] {
        rewind(d).args(&args).fails(7, "no rewind store at .rewind");
        assert!(
            !t.store().exists(),
            "`rewind {}` created a store",
            args.join(" ")
        );
    }
    // A directory that is there but holds no store is no store either.
    std::fs::create_dir(t.store()).unwrap();
    rewind(d).arg("log").fails(7, "no rewind store");
}

/// On a terminal, long commands show a progress bar of checkpoints done of the total, with the
/// rate and the time left (run under `script`, which gives the command a terminal).
#[test]
fn long_commands_show_a_progress_bar_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to give the command a terminal");
        return;
    }
    let t = TempDir::new("progress");
    {
        let mut store = FileStore::open(
            t.store(),
            FileOptions::default().durability(rewind::Durability::Never),
        )
        .unwrap();
        let s = store.create_session("agent", Default::default()).unwrap();
        for i in 0..300 {
            let state = format!("{{\"i\":{i}}}");
            store
                .checkpoint(NewCheckpoint::new(s, "step", state.as_bytes()))
                .unwrap();
        }
    }
    let run = |args: &str| {
        let line = format!(
            "{} --store {} {args}",
            env!("CARGO_BIN_EXE_rewind"),
            t.store().display()
        );
        let out = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        assert!(out.status.success(), "`{line}` under script failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let verify = run("verify");
    assert!(
        verify.contains("verifying hashes") && verify.contains("/300 checkpoints"),
        "no progress bar in:\n{verify}"
    );
    let export = run(&format!("export -o {}", t.join("export.json").display()));
    assert!(
        export.contains("exporting"),
        "no progress bar in:\n{export}"
    );
    // Without a terminal, nothing but the result.
    let plain = ok(t.path(), ["--store", ".rewind", "verify"]);
    assert!(!plain.stderr.contains("checkpoints,"), "{}", plain.stderr);
}
