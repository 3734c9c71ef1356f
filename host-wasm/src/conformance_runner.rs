//! The engine's conformance scenarios, compiled into the WebAssembly module and run by the
//! JavaScript engine that loads it (Node.js, Chromium) — the same Rust scenarios every native
//! backend passes — on memory, and in Node.js on the native store's files through `node:fs`
//! ([`crate::node_files`]). Only in builds with the `conformance` feature (the test bundle).

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

use rewind::{FileBackend, FileSystem};
use rewind_core::conformance::{self, Harness, MemoryHarness};
use wasm_bindgen::prelude::*;

use crate::node_files::{JsFiles, NodeFileSystem};

/// Segment size for runs on files: small enough that scenarios span several segments.
const SMALL_SEGMENTS: u64 = 4096;

/// Runs scenarios on the file backend over Node.js's `fs`: every fresh store is a new
/// directory under `root`, and reopening drops the backend (closing its files) and opens the
/// directory again, as a restarted program would. The `files` object must answer `holdsLock`
/// for these directories (one backend at a time is open on each).
struct NodeFilesHarness {
    fs: Arc<dyn FileSystem>,
    root: PathBuf,
    next: u32,
}

impl NodeFilesHarness {
    fn new(files: JsFiles, root: &str) -> NodeFilesHarness {
        NodeFilesHarness {
            fs: Arc::new(NodeFileSystem::new(files)),
            root: PathBuf::from(root),
            next: 0,
        }
    }
}

impl Harness for NodeFilesHarness {
    type Backend = FileBackend;

    fn fresh(&mut self) -> FileBackend {
        let dir = self.root.join(format!("store-{}", self.next));
        self.next += 1;
        FileBackend::open_on(self.fs.clone(), &dir, SMALL_SEGMENTS)
            .unwrap_or_else(|e| panic!("open a fresh file store in {}: {e}", dir.display()))
    }

    fn reopen(&mut self, backend: FileBackend) -> FileBackend {
        let dir = backend.dir().to_path_buf();
        drop(backend);
        FileBackend::open_on(self.fs.clone(), &dir, SMALL_SEGMENTS)
            .unwrap_or_else(|e| panic!("reopen {}: {e}", dir.display()))
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs one scenario by name; a failed assertion traps, and [`last_panic`] then says why.
#[wasm_bindgen(js_name = runConformanceScenario)]
pub fn run_scenario(name: &str) -> Result<(), JsValue> {
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
    }));
    if conformance::run(name, &mut MemoryHarness) {
        Ok(())
    } else {
        Err(JsValue::from_str(&format!("unknown scenario {name}")))
    }
}

/// Runs one scenario by name on file stores in directories under `root`, through `files`
/// (see [`NodeFilesHarness`]).
#[wasm_bindgen(js_name = runConformanceScenarioOnFiles)]
pub fn run_scenario_on_files(name: &str, files: JsFiles, root: &str) -> Result<(), JsValue> {
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
    }));
    if conformance::run(name, &mut NodeFilesHarness::new(files, root)) {
        Ok(())
    } else {
        Err(JsValue::from_str(&format!("unknown scenario {name}")))
    }
}

/// The scripted run on file stores under `root` (it must equal the native transcript).
#[wasm_bindgen(js_name = conformanceTranscriptOnFiles)]
pub fn transcript_on_files(files: JsFiles, root: &str) -> String {
    conformance::transcript(&mut NodeFilesHarness::new(files, root))
}

/// The names of every scenario.
#[wasm_bindgen(js_name = conformanceScenarios)]
pub fn scenarios() -> Vec<String> {
    conformance::SCENARIOS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The scripted run every host must reproduce exactly (compare with the native transcript).
#[wasm_bindgen(js_name = conformanceTranscript)]
pub fn transcript() -> String {
    conformance::transcript(&mut MemoryHarness)
}

/// The message of the last failed assertion, if any.
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow().clone())
}
