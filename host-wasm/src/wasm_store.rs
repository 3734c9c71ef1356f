//! `WasmStore`: the engine as seen from JavaScript.
//!
//! Synchronous and in memory: every method runs the engine over a [`LogBackend`] and returns
//! JSON text (parsed by the package's JavaScript layer) or bytes. Inputs and outputs are the
//! engine's binding-neutral API ([`rewind_core::api`]): JSON in, views out. The JavaScript
//! layer adds persistence (IndexedDB), promises, events and error classes; no store logic
//! lives there.

use rewind_core::api::{
    self, AnnotationView, CheckpointView, DiffView, EventView, MetricsView, OptionsInput, PageView,
    PlanView, QueryInput, RetentionInput, VerifyView,
};
use std::sync::Arc;

use js_sys::Uint8Array;
use rewind::{FileBackend, FileSystem};
use rewind_core::{Options, Query, RetentionPolicy, SnapshotBytes, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

use crate::js_env::JsEnv;
use crate::js_error::{files_error, invalid, to_js};
use crate::js_snapshot::JsSnapshot;
use crate::log_backend::{LogBackend, Persist};
use crate::node_files::{JsFiles, NodeFileSystem};
use crate::persist_batch::PersistBatch;
use crate::store_backend::StoreBackend;

type Engine = Store<StoreBackend, JsEnv>;

/// The engine over an in-memory log (memory and IndexedDB stores, which the JavaScript layer
/// persists) or over the native store's files (Node.js, see [`crate::node_files`]). Used
/// through the package's `Store` class.
#[wasm_bindgen]
pub struct WasmStore {
    store: Engine,
    /// Whether the open used the index snapshot it was given.
    snapshot: rewind_core::SnapshotUse,
}

/// A view as JSON text.
fn text<T: Serialize + ?Sized>(view: &T) -> String {
    serde_json::to_string(view).unwrap_or_default()
}

/// A JSON argument, naming `what` when it does not parse.
fn parse<T: DeserializeOwned>(json: &str, what: &str) -> Result<T, JsValue> {
    serde_json::from_str(json).map_err(|e| invalid(format!("{what}: {e}")))
}

/// Strings as the package packs them (`src/packed.js`, `packStrings`; the layout is
/// [`api::unpack_strings`]'s).
fn unpack_strings(bytes: &[u8]) -> Result<Vec<&str>, JsValue> {
    api::unpack_strings(bytes).map_err(to_js)
}

/// `[checkpoint id, key]` pairs: packed strings, id and key in turn.
fn unpack_pairs(bytes: &[u8]) -> Result<Vec<(&str, &str)>, JsValue> {
    let strings = unpack_strings(bytes)?;
    if strings.len() % 2 != 0 {
        return Err(invalid(
            "attachments: a checkpoint id without its key".to_string(),
        ));
    }
    Ok(strings.chunks_exact(2).map(|p| (p[0], p[1])).collect())
}

/// The checkpoint a packed buffer describes (see [`rewind_core::api::packed`]).
fn new_checkpoint(packed: &[u8]) -> Result<rewind_core::NewCheckpoint<'_>, JsValue> {
    let (input, bytes) = api::unpack_checkpoint(packed).map_err(to_js)?;
    let (state, attachments) = input.split(bytes).map_err(to_js)?;
    input.into_new(state, &attachments).map_err(to_js)
}

/// A JSON argument that may be left empty for its default (options, metadata, a query, a
/// selection of sessions).
fn parse_or_default<T: DeserializeOwned + Default>(json: &str, what: &str) -> Result<T, JsValue> {
    if json.is_empty() {
        return Ok(T::default());
    }
    parse(json, what)
}

fn checkpoint_id(text: &str) -> Result<rewind_core::CheckpointId, JsValue> {
    api::parse_checkpoint_id(text).map_err(to_js)
}

fn session_id(text: &str) -> Result<rewind_core::SessionId, JsValue> {
    api::parse_session_id(text).map_err(to_js)
}

/// The sessions named in a JSON array (`None`: all).
fn sessions(json: &str) -> Result<Option<Vec<rewind_core::SessionId>>, JsValue> {
    let ids: Vec<String> = parse_or_default(json, "sessions")?;
    api::parse_session_list(&ids).map_err(to_js)
}

#[wasm_bindgen]
impl WasmStore {
    /// Opens a store on a log and the index snapshot and delta stored with it (if any; checked
    /// against the log, ignored when they do not match), with options JSON. `persist`: false for
    /// stores that are never persisted (memory), whose appended frames and snapshots are not
    /// kept for `takePersist`.
    ///
    /// `head` is the log from its start (all of it, or just its first row: at least the
    /// header), `tail` the log from position `tailAt` to its end (empty, with `tailAt` 0, when
    /// `head` is the whole log). The bytes between are fetched when asked for (see
    /// [`LogBackend`]): a store opened through its snapshot needs only the log from the
    /// snapshot's anchor on ([`WasmStore::snapshot_anchor`]). An open that needs more (a
    /// snapshot that does not match: the whole log is replayed) fails with an error whose
    /// `missingAt` says where the missing bytes start. The snapshot is not copied: the store
    /// keeps a reference to it and reads the blocks it needs (see [`JsSnapshot`]), so the
    /// caller must not change it afterwards.
    #[wasm_bindgen(constructor)]
    pub fn new(
        head: Vec<u8>,
        tail: Vec<u8>,
        tail_at: f64,
        snapshot: Option<Uint8Array>,
        delta: Option<Vec<u8>>,
        options: &str,
        persist: bool,
    ) -> Result<WasmStore, JsValue> {
        let input: OptionsInput = parse_or_default(options, "options")?;
        let options = Options::try_from(input).map_err(to_js)?;
        // Left where it is: the index copies the blocks it reads.
        let snapshot =
            snapshot.map(|bytes| Arc::new(JsSnapshot::new(bytes)) as Arc<dyn SnapshotBytes>);
        let backend = LogBackend::new(head, tail, position(tail_at)?, snapshot, delta, persist);
        let (store, report) =
            Store::open(StoreBackend::Log(backend), JsEnv::new(), options).map_err(to_js)?;
        Ok(WasmStore {
            store,
            snapshot: report.snapshot,
        })
    }

    /// Where the log an open through a snapshot needs begins (the position of its anchor
    /// frame; `undefined` when the snapshot does not check out, and an open would replay the
    /// whole log). Takes the snapshot's length, its first bytes and its last ones (what
    /// holds its summary; a few MiB of a snapshot of any size): the snapshot is not copied
    /// whole for this. `undefined` too when the summary is not within `tail`.
    #[wasm_bindgen(js_name = snapshotAnchor)]
    pub fn snapshot_anchor(len: f64, head: Vec<u8>, tail: Vec<u8>) -> Option<f64> {
        /// A snapshot of which only the first and the last bytes are held.
        struct Ends {
            len: u64,
            head: Vec<u8>,
            tail: Vec<u8>,
        }
        impl rewind_core::SnapshotBytes for Ends {
            fn len(&self) -> u64 {
                self.len
            }
            fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), rewind_core::BackendError> {
                let end = pos + buf.len() as u64;
                let tail_at = self.len - self.tail.len() as u64;
                let src = if end <= self.head.len() as u64 {
                    self.head.get(pos as usize..end as usize)
                } else if pos >= tail_at {
                    self.tail
                        .get((pos - tail_at) as usize..(end - tail_at) as usize)
                } else {
                    None
                };
                let src = src.ok_or(rewind_core::BackendError::OutOfRange {
                    pos,
                    len: buf.len() as u64,
                })?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
        let len = position(len).ok()?;
        if (tail.len() as u64) > len {
            return None;
        }
        let ends = Ends { len, head, tail };
        rewind_core::snapshot::log_anchor(&ends).map(|at| at as f64)
    }

    /// Opens (or, for a writer, creates) the native store in directory `path`, its files
    /// written and read through `files` (the package's `node:fs` layer, see
    /// [`crate::node_files`]), with options JSON. A writer's layer must hold the store's lock
    /// (else this fails with `LOCKED`); `readOnly` opens without it and writes nothing.
    /// `durable`: writes are made durable by `flush` before they are acknowledged, so readers
    /// beside the writer see a write only once it is synced (the native `Durability::Always`).
    /// `segmentBytes`: the size at which a segment file is closed and the next begun.
    #[wasm_bindgen(js_name = openFiles)]
    pub fn open_files(
        path: &str,
        files: JsFiles,
        options: &str,
        read_only: bool,
        durable: bool,
        segment_bytes: f64,
    ) -> Result<WasmStore, JsValue> {
        let input: OptionsInput = parse_or_default(options, "options")?;
        let options = Options::try_from(input).map_err(to_js)?;
        let fs: Arc<dyn FileSystem> = Arc::new(NodeFileSystem::new(files));
        let dir = std::path::Path::new(path);
        let mut backend = if read_only {
            FileBackend::open_read_only_on(fs, dir)
        } else {
            FileBackend::open_on(fs, dir, position(segment_bytes)?.max(1))
        }
        .map_err(files_error)?;
        if durable && !read_only {
            backend.announce_durable();
        }
        let generation = backend.generation();
        let (mut store, report) = match Store::open(
            StoreBackend::Files(Box::new(backend)),
            JsEnv::new(),
            options,
        ) {
            Ok(opened) => opened,
            Err(rewind_core::Error::Corrupt { at, kind }) => {
                let (file, offset) = FileBackend::segment_path(dir, generation, at);
                return Err(files_error(rewind::Error::Corrupt { file, offset, kind }));
            }
            Err(err) => return Err(to_js(err)),
        };
        if durable
            && !read_only
            && let StoreBackend::Files(files) = store.backend_mut()
        {
            files.publish_durable().map_err(files_error)?;
        }
        Ok(WasmStore {
            store,
            snapshot: report.snapshot,
        })
    }

    /// Makes every write so far durable (a file store syncs its files; memory and IndexedDB
    /// stores are persisted by the JavaScript layer, and this does nothing for them).
    pub fn flush(&mut self) -> Result<(), JsValue> {
        self.store.flush().map_err(to_js)
    }

    /// Brings a read-only file store up to date with what its writer wrote since, queueing
    /// events for it; returns `{"writes":n,"events":n,"compacted":bool}`. A writer is always
    /// current (nothing is done).
    pub fn refresh(&mut self) -> Result<String, JsValue> {
        let refreshed = self.store.refresh().map_err(to_js)?;
        Ok(serde_json::json!({
            "writes": refreshed.writes,
            "events": refreshed.events,
            "compacted": refreshed.compacted,
        })
        .to_string())
    }

    /// Adds log bytes fetched from storage (a stored row: the log from position `at`). Returns
    /// whether any were not held yet.
    #[wasm_bindgen(js_name = addLog)]
    pub fn add_log(&mut self, at: f64, bytes: Vec<u8>) -> Result<bool, JsValue> {
        let at = position(at)?;
        Ok(self
            .store
            .backend_mut()
            .log_mut()
            .is_some_and(|log| log.add(at, bytes)))
    }

    /// The log's length in bytes (what is held and what is still in storage only).
    #[wasm_bindgen(js_name = logLength)]
    pub fn log_length(&self) -> f64 {
        self.store.backend().log().map_or(0, |log| log.len()) as f64
    }

    /// Whether the whole log is held (else parts are fetched when reads ask for them).
    #[wasm_bindgen(js_name = logWhole)]
    pub fn log_whole(&self) -> bool {
        self.store.backend().log().is_none_or(|log| log.is_whole())
    }

    /// The log positions a read of a checkpoint's state needs and the store does not hold yet
    /// (the first missing byte of each run of its chunks).
    #[wasm_bindgen(js_name = stateMissing)]
    pub fn state_missing(&self, id: &str) -> Result<Vec<f64>, JsValue> {
        let extents = self
            .store
            .state_extents(checkpoint_id(id)?)
            .map_err(to_js)?;
        Ok(self.missing(&extents))
    }

    /// The log positions a read of an attachment needs and the store does not hold yet.
    #[wasm_bindgen(js_name = attachmentMissing)]
    pub fn attachment_missing(&self, id: &str, key: &str) -> Result<Vec<f64>, JsValue> {
        let extents = self
            .store
            .attachment_extents(checkpoint_id(id)?, key)
            .map_err(to_js)?;
        Ok(self.missing(&extents))
    }

    /// How the open built the index, as JSON: `{"snapshot":"used","tailFrames":n}`,
    /// `{"snapshot":"none"}` (the log was replayed whole), or `{"snapshot":"ignored",
    /// "problem":"..."}`.
    #[wasm_bindgen(js_name = indexSource)]
    pub fn index_source(&self) -> String {
        use rewind_core::SnapshotUse;
        let value = match &self.snapshot {
            SnapshotUse::Used { tail_frames } => {
                serde_json::json!({ "snapshot": "used", "tailFrames": tail_frames })
            }
            SnapshotUse::Ignored(problem) => {
                serde_json::json!({ "snapshot": "ignored", "problem": problem.to_string() })
            }
            _ => serde_json::json!({ "snapshot": "none" }),
        };
        value.to_string()
    }

    /// Writes an index snapshot when one is due at close (the log grew since the last one);
    /// `takePersist` then carries it.
    #[wasm_bindgen(js_name = snapshotIfDue)]
    pub fn snapshot_if_due(&mut self) -> Result<(), JsValue> {
        if self.store.snapshot_due() {
            self.store.write_snapshot().map_err(to_js)?;
        }
        Ok(())
    }

    /// Creates a session; returns its id. `metadata` is a JSON object; `id` may be empty.
    #[wasm_bindgen(js_name = createSession)]
    pub fn create_session(
        &mut self,
        name: &str,
        metadata: &str,
        id: &str,
    ) -> Result<String, JsValue> {
        let metadata: Map<String, Value> = parse_or_default(metadata, "metadata")?;
        let id = if id.is_empty() {
            self.store.create_session(name, metadata)
        } else {
            self.store
                .create_session_with_id(session_id(id)?, name, metadata)
        }
        .map_err(to_js)?;
        Ok(id.to_string())
    }

    /// A session as JSON.
    pub fn session(&self, id: &str) -> Result<String, JsValue> {
        let s = self.store.session(session_id(id)?).map_err(to_js)?;
        Ok(text(s))
    }

    /// Every session as a JSON array, oldest first.
    pub fn sessions(&self) -> String {
        let all: Vec<&rewind_core::Session> = self.store.sessions().collect();
        text(&all)
    }

    /// Creates a checkpoint from its packed description and bytes (one buffer, laid out as
    /// [`rewind_core::api::packed`] says); returns it as JSON.
    pub fn checkpoint(&mut self, packed: &[u8]) -> Result<String, JsValue> {
        let cp = self.create(packed)?;
        Ok(text(&CheckpointView::from(cp)))
    }

    /// Like `checkpoint`, returning only the new checkpoint's id (no JSON to build and parse).
    pub fn save(&mut self, packed: &[u8]) -> Result<String, JsValue> {
        Ok(self.create(packed)?.id.to_string())
    }

    fn create(&mut self, packed: &[u8]) -> Result<&rewind_core::Checkpoint, JsValue> {
        let new = new_checkpoint(packed)?;
        self.store.checkpoint(new).map_err(to_js)
    }

    /// An automatic checkpoint, unless the throttling policy skips it (then `undefined`).
    #[wasm_bindgen(js_name = autoCheckpoint)]
    pub fn auto_checkpoint(
        &mut self,
        packed: &[u8],
        reason: &str,
    ) -> Result<Option<String>, JsValue> {
        let new = new_checkpoint(packed)?;
        let cp = self.store.auto_checkpoint(new, reason).map_err(to_js)?;
        Ok(cp.map(|cp| text(&CheckpointView::from(cp))))
    }

    /// A checkpoint as JSON.
    pub fn get(&self, id: &str) -> Result<String, JsValue> {
        let cp = self.store.get(checkpoint_id(id)?).map_err(to_js)?;
        Ok(text(&CheckpointView::from(cp)))
    }

    /// A checkpoint's state bytes.
    pub fn state(&self, id: &str) -> Result<Vec<u8>, JsValue> {
        self.store.state(checkpoint_id(id)?).map_err(to_js)
    }

    /// Many states in one call (`ids`: packed strings, as the package's `packStrings` writes
    /// them): for each, in order, `u32::MAX` when the checkpoint is gone, else the state as a
    /// `u32` length (little-endian) and that many bytes.
    #[wasm_bindgen(js_name = statesOf)]
    pub fn states_of(&self, ids: &[u8]) -> Result<Vec<u8>, JsValue> {
        let mut out = Vec::new();
        for id in unpack_strings(ids)? {
            match self.store.state(checkpoint_id(id)?) {
                Ok(bytes) => {
                    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    out.extend_from_slice(&bytes);
                }
                Err(rewind_core::Error::CheckpointNotFound(_)) => {
                    out.extend_from_slice(&u32::MAX.to_le_bytes());
                }
                Err(e) => return Err(to_js(e)),
            }
        }
        Ok(out)
    }

    /// The log positions `statesOf(ids)` would read that are not held yet.
    #[wasm_bindgen(js_name = statesMissing)]
    pub fn states_missing(&self, ids: &[u8]) -> Result<Vec<f64>, JsValue> {
        let mut extents = Vec::new();
        for id in unpack_strings(ids)? {
            match self.store.state_extents(checkpoint_id(id)?) {
                Ok(found) => extents.extend(found),
                Err(rewind_core::Error::CheckpointNotFound(_)) => {}
                Err(e) => return Err(to_js(e)),
            }
        }
        Ok(self.missing(&extents))
    }

    /// Moves the checkpoint's session head there and returns the state bytes.
    pub fn restore(&mut self, id: &str) -> Result<Vec<u8>, JsValue> {
        let restored = self.store.restore(checkpoint_id(id)?).map_err(to_js)?;
        Ok(restored.state)
    }

    /// The newest checkpoint of a session (JSON or `undefined`).
    pub fn latest(&self, session: &str) -> Result<Option<String>, JsValue> {
        let cp = self.store.latest(session_id(session)?).map_err(to_js)?;
        Ok(cp.map(|c| text(&CheckpointView::from(c))))
    }

    /// The newest checkpoint of a session created at or before `time_ms`.
    pub fn at(&self, session: &str, time_ms: f64) -> Result<Option<String>, JsValue> {
        let cp = self
            .store
            .at(session_id(session)?, time_ms.max(0.0) as u64)
            .map_err(to_js)?;
        Ok(cp.map(|c| text(&CheckpointView::from(c))))
    }

    /// The checkpoint and its ancestors, newest first (JSON array).
    pub fn history(&self, id: &str) -> Result<String, JsValue> {
        let items = self.store.history(checkpoint_id(id)?).map_err(to_js)?;
        let views: Vec<CheckpointView<'_>> = items.map(CheckpointView::from).collect();
        Ok(text(&views))
    }

    /// Branch tips of a session, newest first (JSON array).
    pub fn branches(&self, session: &str) -> Result<String, JsValue> {
        let items = self.store.branches(session_id(session)?).map_err(to_js)?;
        Ok(text(&checkpoints(&items)))
    }

    /// Direct children, oldest first (JSON array).
    pub fn children(&self, id: &str) -> Result<String, JsValue> {
        let items = self.store.children(checkpoint_id(id)?).map_err(to_js)?;
        Ok(text(&checkpoints(&items)))
    }

    /// A page of a query (JSON `{items, next}`).
    pub fn list(&self, query: &str) -> Result<String, JsValue> {
        let input: QueryInput = parse_or_default(query, "query")?;
        let query = Query::try_from(input).map_err(to_js)?;
        let page = self.store.list(&query).map_err(to_js)?;
        Ok(text(&PageView::from(&page)))
    }

    /// Like `list`, each checkpoint in brief (id, namespace, content type, metadata).
    #[wasm_bindgen(js_name = listBrief)]
    pub fn list_brief(&self, query: &str) -> Result<String, JsValue> {
        let input: QueryInput = parse_or_default(query, "query")?;
        let query = Query::try_from(input).map_err(to_js)?;
        let page = self.store.list(&query).map_err(to_js)?;
        Ok(text(&api::BriefPageView::from(&page)))
    }

    /// Differences between two checkpoints (JSON).
    pub fn diff(&self, from: &str, to: &str) -> Result<String, JsValue> {
        let d = self
            .store
            .diff(checkpoint_id(from)?, checkpoint_id(to)?)
            .map_err(to_js)?;
        Ok(text(&DiffView::from(&d)))
    }

    /// Adds a note (`severity`: info, warning, critical); returns it as JSON.
    pub fn annotate(&mut self, id: &str, note: &str, severity: &str) -> Result<String, JsValue> {
        let severity = api::parse_severity(severity).map_err(to_js)?;
        let a = self
            .store
            .annotate(checkpoint_id(id)?, note, severity)
            .map_err(to_js)?;
        Ok(text(&AnnotationView::from(a)))
    }

    /// A checkpoint's notes (JSON array).
    pub fn annotations(&self, id: &str) -> Result<String, JsValue> {
        let items = self.store.annotations(checkpoint_id(id)?).map_err(to_js)?;
        let views: Vec<AnnotationView<'_>> = items.iter().map(AnnotationView::from).collect();
        Ok(text(&views))
    }

    /// Stores a keyed blob on a checkpoint.
    pub fn attach(
        &mut self,
        id: &str,
        key: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<(), JsValue> {
        self.store
            .attach(checkpoint_id(id)?, key, content_type, bytes)
            .map_err(to_js)
    }

    /// An attachment's bytes (`undefined` when the key is absent).
    pub fn attachment(&self, id: &str, key: &str) -> Result<Option<Vec<u8>>, JsValue> {
        let found = self
            .store
            .attachment(checkpoint_id(id)?, key)
            .map_err(to_js)?;
        Ok(found.map(|(_, bytes)| bytes))
    }

    /// Many attachments in one call (`pairs`: packed strings, id and key in turn, as the
    /// package's `packPairs` writes them): for each, in order, `u32::MAX` when the checkpoint
    /// or the attachment is gone, else the content type and the bytes, each as a `u32` length
    /// (little-endian) and that many bytes.
    #[wasm_bindgen(js_name = attachmentsOf)]
    pub fn attachments_of(&self, pairs: &[u8]) -> Result<Vec<u8>, JsValue> {
        let pairs = unpack_pairs(pairs)?;
        let mut out = Vec::new();
        for (id, key) in pairs {
            let found = match self.store.attachment(checkpoint_id(id)?, key) {
                Ok(found) => found,
                Err(rewind_core::Error::CheckpointNotFound(_)) => None,
                Err(e) => return Err(to_js(e)),
            };
            match found {
                None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
                Some((ct, bytes)) => {
                    out.extend_from_slice(&(ct.len() as u32).to_le_bytes());
                    out.extend_from_slice(ct.as_bytes());
                    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    out.extend_from_slice(&bytes);
                }
            }
        }
        Ok(out)
    }

    /// The log positions `attachmentsOf(pairs)` would read that are not held yet.
    #[wasm_bindgen(js_name = attachmentsMissing)]
    pub fn attachments_missing(&self, pairs: &[u8]) -> Result<Vec<f64>, JsValue> {
        let pairs = unpack_pairs(pairs)?;
        let mut extents = Vec::new();
        for (id, key) in pairs {
            match self.store.attachment_extents(checkpoint_id(id)?, key) {
                Ok(found) => extents.extend(found),
                Err(rewind_core::Error::CheckpointNotFound(_)) => {}
                Err(e) => return Err(to_js(e)),
            }
        }
        Ok(self.missing(&extents))
    }

    /// An attachment in one array (`undefined` when the key is absent): the content type's
    /// length as 4 bytes little-endian, the content type (UTF-8), then the bytes. One call
    /// instead of `attachment` and `attachmentType`.
    #[wasm_bindgen(js_name = attachmentEntry)]
    pub fn attachment_entry(&self, id: &str, key: &str) -> Result<Option<Vec<u8>>, JsValue> {
        let found = self
            .store
            .attachment(checkpoint_id(id)?, key)
            .map_err(to_js)?;
        Ok(found.map(|(ct, bytes)| {
            let mut out = Vec::with_capacity(4 + ct.len() + bytes.len());
            out.extend_from_slice(&(ct.len() as u32).to_le_bytes());
            out.extend_from_slice(ct.as_bytes());
            out.extend_from_slice(&bytes);
            out
        }))
    }

    /// An attachment's content type (`undefined` when the key is absent).
    #[wasm_bindgen(js_name = attachmentType)]
    pub fn attachment_type(&self, id: &str, key: &str) -> Result<Option<String>, JsValue> {
        let found = self
            .store
            .attachment(checkpoint_id(id)?, key)
            .map_err(to_js)?;
        Ok(found.map(|(ct, _)| ct.to_string()))
    }

    /// Attachment keys of a checkpoint (JSON array).
    #[wasm_bindgen(js_name = attachmentKeys)]
    pub fn attachment_keys(&self, id: &str) -> Result<String, JsValue> {
        let keys: Vec<&str> = self
            .store
            .attachment_keys(checkpoint_id(id)?)
            .map_err(to_js)?
            .collect();
        Ok(text(&keys))
    }

    /// Deletes a checkpoint.
    pub fn delete(&mut self, id: &str) -> Result<(), JsValue> {
        self.store.delete(checkpoint_id(id)?).map_err(to_js)
    }

    /// Deletes a session and its checkpoints; returns how many checkpoints went.
    #[wasm_bindgen(js_name = deleteSession)]
    pub fn delete_session(&mut self, id: &str) -> Result<f64, JsValue> {
        let n = self.store.delete_session(session_id(id)?).map_err(to_js)?;
        Ok(n as f64)
    }

    /// What a retention policy (JSON) would remove and why (JSON plan).
    #[wasm_bindgen(js_name = planCompaction)]
    pub fn plan_compaction(&mut self, policy: &str) -> Result<String, JsValue> {
        let input: RetentionInput = parse(policy, "policy")?;
        let policy = RetentionPolicy::try_from(input).map_err(to_js)?;
        let plan = self.store.plan_compaction(&policy).map_err(to_js)?;
        Ok(text(&PlanView::from(&plan)))
    }

    /// Removes these checkpoints (a JSON array of ids, e.g. a plan's removals) and rewrites the
    /// log without them. Returns the report as JSON.
    #[wasm_bindgen(js_name = removeCheckpoints)]
    pub fn remove_checkpoints(&mut self, ids: &str) -> Result<String, JsValue> {
        let ids: Vec<String> = parse(ids, "ids")?;
        let ids = ids
            .iter()
            .map(|id| checkpoint_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let report = self.store.remove_checkpoints(&ids).map_err(to_js)?;
        Ok(text(&report))
    }

    /// The store (or the sessions in the JSON array `sessions`, when not empty) as a JSON export.
    #[wasm_bindgen(js_name = exportJson)]
    pub fn export_json(&mut self, sessions: &str) -> Result<String, JsValue> {
        let only = self::sessions(sessions)?;
        self.store.export_json(only.as_deref()).map_err(to_js)
    }

    /// The store (or some sessions) as a binary log.
    #[wasm_bindgen(js_name = exportBinary)]
    pub fn export_binary(&self, sessions: &str) -> Result<Vec<u8>, JsValue> {
        let only = self::sessions(sessions)?;
        self.store.export_binary(only.as_deref()).map_err(to_js)
    }

    /// Imports a JSON export; returns the report as JSON.
    #[wasm_bindgen(js_name = importJson)]
    pub fn import_json(&mut self, bytes: &[u8]) -> Result<String, JsValue> {
        let report = self.store.import_json(bytes).map_err(to_js)?;
        Ok(text(&report))
    }

    /// Imports a binary export; returns the report as JSON.
    #[wasm_bindgen(js_name = importBinary)]
    pub fn import_binary(&mut self, bytes: &[u8]) -> Result<String, JsValue> {
        let report = self.store.import_binary(bytes).map_err(to_js)?;
        Ok(text(&report))
    }

    /// Recomputes every hash (JSON report).
    pub fn verify(&self) -> String {
        text(&VerifyView::from(&self.store.verify()))
    }

    /// Counts and sizes (JSON).
    pub fn metrics(&self) -> String {
        text(&MetricsView::from(&self.store.metrics()))
    }

    /// Health (JSON).
    pub fn health(&self) -> String {
        text(&self.store.health())
    }

    /// Events since the last call (JSON array).
    #[wasm_bindgen(js_name = drainEvents)]
    pub fn drain_events(&mut self) -> String {
        let events = self.store.drain_events();
        let views: Vec<EventView> = events.iter().map(EventView::from).collect();
        text(&views)
    }

    /// Drops the events since the last call (when nobody listens: nothing to turn into JSON).
    #[wasm_bindgen(js_name = discardEvents)]
    pub fn discard_events(&mut self) {
        self.store.drain_events();
    }

    /// What must reach persistent storage since the last call (`undefined` when nothing).
    #[wasm_bindgen(js_name = takePersist)]
    pub fn take_persist(&mut self) -> Option<PersistBatch> {
        let (replace, at, bytes, snapshot) =
            match self.store.backend_mut().log_mut()?.take_persist() {
                Persist::Nothing => return None,
                Persist::Append(at, bytes, snapshot) => (false, at, bytes, snapshot),
                Persist::Replace(bytes, snapshot) => (true, 0, bytes, snapshot),
            };
        Some(PersistBatch::new(replace, at, bytes, snapshot))
    }

    /// The whole log, header included. Fails (with `missingAt`) when parts of it are not
    /// held yet: fetch them first.
    #[wasm_bindgen(js_name = logBytes)]
    pub fn log_bytes(&self) -> Result<Vec<u8>, JsValue> {
        let Some(log) = self.store.backend().log() else {
            return Err(invalid(
                "a file store's log is its segment files: use exportBinary for one log",
            ));
        };
        log.whole().ok_or_else(|| {
            let at = log.first_missing(0, log.len()).unwrap_or(0);
            to_js(rewind_core::Error::Backend(
                rewind_core::BackendError::OutOfRange {
                    pos: at,
                    len: log.len() - at,
                },
            ))
        })
    }
}

/// A log position given by JavaScript (a number).
fn position(at: f64) -> Result<u64, JsValue> {
    if at.is_finite() && at >= 0.0 && at.fract() == 0.0 && at <= 2f64.powi(53) {
        Ok(at as u64)
    } else {
        Err(invalid(format!("{at} is not a log position")))
    }
}

impl WasmStore {
    fn missing(&self, extents: &[(u64, u64)]) -> Vec<f64> {
        let Some(log) = self.store.backend().log() else {
            return Vec::new();
        };
        extents
            .iter()
            .filter_map(|&(pos, len)| log.first_missing(pos, len))
            .map(|pos| pos as f64)
            .collect()
    }
}

fn checkpoints<'a>(items: &[&'a rewind_core::Checkpoint]) -> Vec<CheckpointView<'a>> {
    items.iter().map(|c| CheckpointView::from(*c)).collect()
}
