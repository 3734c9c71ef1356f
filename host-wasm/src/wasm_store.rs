//! `WasmStore`: the engine as seen from JavaScript.
//!
//! Synchronous and in memory: every method runs the engine over a [`LogBackend`] and returns
//! JSON text (parsed by the package's JavaScript layer) or bytes. The JavaScript layer adds
//! persistence (IndexedDB), promises, events and error classes; no store logic lives there.

use rewind_core::{NewCheckpoint, Options, Severity, Store};
use serde_json::{Map, Value, json};
use wasm_bindgen::prelude::*;

use crate::js_env::JsEnv;
use crate::js_error::{invalid, to_js};
use crate::log_backend::{LogBackend, Persist};
use crate::persist_batch::PersistBatch;
use crate::shapes::{self, CheckpointInput, OptionsInput, PolicyInput, QueryInput};

type Engine = Store<LogBackend, JsEnv>;

/// The engine over an in-memory log. Used through the package's `Store` class.
#[wasm_bindgen]
pub struct WasmStore {
    store: Engine,
}

fn text(value: Value) -> String {
    shapes::to_string(&value)
}

#[wasm_bindgen]
impl WasmStore {
    /// Opens a store on `log` (the bytes of a log, empty for a new store) with options JSON.
    #[wasm_bindgen(constructor)]
    pub fn new(log: Vec<u8>, options: &str) -> Result<WasmStore, JsValue> {
        let input: OptionsInput = if options.is_empty() {
            OptionsInput::default()
        } else {
            shapes::parse(options, "options")?
        };
        let mut engine_options = Options::default();
        if let Some(v) = input.max_state_bytes {
            engine_options.limits.max_state_bytes = v;
        }
        if let Some(v) = input.max_message_bytes {
            engine_options.limits.max_message_bytes = v;
        }
        if let Some(v) = input.max_tags {
            engine_options.limits.max_tags = v;
        }
        if let Some(v) = input.max_metadata_bytes {
            engine_options.limits.max_metadata_bytes = v;
        }
        if let Some(v) = input.auto_min_interval_ms {
            engine_options.auto.min_interval_ms = v;
        }
        if let Some(v) = input.event_capacity {
            engine_options.event_capacity = v;
        }
        let backend = LogBackend::new(log, input.persist.unwrap_or(true));
        let (store, _) = Store::open(backend, JsEnv::new(), engine_options).map_err(to_js)?;
        Ok(WasmStore { store })
    }

    /// Creates a session; returns its id. `metadata` is a JSON object; `id` may be empty.
    #[wasm_bindgen(js_name = createSession)]
    pub fn create_session(
        &mut self,
        name: &str,
        metadata: &str,
        id: &str,
    ) -> Result<String, JsValue> {
        let metadata: Map<String, Value> = if metadata.is_empty() {
            Map::new()
        } else {
            shapes::parse(metadata, "metadata")?
        };
        let id = if id.is_empty() {
            self.store.create_session(name, metadata)
        } else {
            self.store
                .create_session_with_id(shapes::session_id(id)?, name, metadata)
        }
        .map_err(to_js)?;
        Ok(id.to_string())
    }

    /// A session as JSON.
    pub fn session(&self, id: &str) -> Result<String, JsValue> {
        let s = self.store.session(shapes::session_id(id)?).map_err(to_js)?;
        Ok(text(shapes::session(s)))
    }

    /// Every session as a JSON array, oldest first.
    pub fn sessions(&self) -> String {
        text(Value::Array(
            self.store.sessions().map(shapes::session).collect(),
        ))
    }

    /// Creates a checkpoint from its description (JSON) and bytes (the state, then the
    /// attachments written with it); returns it as JSON.
    pub fn checkpoint(&mut self, input: &str, bytes: &[u8]) -> Result<String, JsValue> {
        let new = build(shapes::parse(input, "checkpoint")?, bytes)?;
        let cp = self.store.checkpoint(new).map_err(to_js)?;
        Ok(text(shapes::checkpoint(cp)))
    }

    /// Like `checkpoint`, returning only the new checkpoint's id (no JSON to build and parse).
    pub fn save(&mut self, input: &str, bytes: &[u8]) -> Result<String, JsValue> {
        let new = build(shapes::parse(input, "checkpoint")?, bytes)?;
        let cp = self.store.checkpoint(new).map_err(to_js)?;
        Ok(cp.id.to_string())
    }

    /// An automatic checkpoint, unless the throttling policy skips it (then `undefined`).
    #[wasm_bindgen(js_name = autoCheckpoint)]
    pub fn auto_checkpoint(
        &mut self,
        input: &str,
        state: &[u8],
        reason: &str,
    ) -> Result<Option<String>, JsValue> {
        let new = build(shapes::parse(input, "checkpoint")?, state)?;
        let cp = self.store.auto_checkpoint(new, reason).map_err(to_js)?;
        Ok(cp.map(|cp| text(shapes::checkpoint(cp))))
    }

    /// A checkpoint as JSON.
    pub fn get(&self, id: &str) -> Result<String, JsValue> {
        let cp = self.store.get(shapes::checkpoint_id(id)?).map_err(to_js)?;
        Ok(text(shapes::checkpoint(cp)))
    }

    /// A checkpoint's state bytes.
    pub fn state(&self, id: &str) -> Result<Vec<u8>, JsValue> {
        self.store.state(shapes::checkpoint_id(id)?).map_err(to_js)
    }

    /// Moves the checkpoint's session head there and returns the state bytes.
    pub fn restore(&mut self, id: &str) -> Result<Vec<u8>, JsValue> {
        let restored = self
            .store
            .restore(shapes::checkpoint_id(id)?)
            .map_err(to_js)?;
        Ok(restored.state)
    }

    /// The newest checkpoint of a session (JSON or `undefined`).
    pub fn latest(&self, session: &str) -> Result<Option<String>, JsValue> {
        let cp = self
            .store
            .latest(shapes::session_id(session)?)
            .map_err(to_js)?;
        Ok(cp.map(|c| text(shapes::checkpoint(c))))
    }

    /// The newest checkpoint of a session created at or before `time_ms`.
    pub fn at(&self, session: &str, time_ms: f64) -> Result<Option<String>, JsValue> {
        let cp = self
            .store
            .at(shapes::session_id(session)?, time_ms.max(0.0) as u64)
            .map_err(to_js)?;
        Ok(cp.map(|c| text(shapes::checkpoint(c))))
    }

    /// The checkpoint and its ancestors, newest first (JSON array).
    pub fn history(&self, id: &str) -> Result<String, JsValue> {
        let items = self
            .store
            .history(shapes::checkpoint_id(id)?)
            .map_err(to_js)?;
        Ok(text(Value::Array(items.map(shapes::checkpoint).collect())))
    }

    /// Branch tips of a session, newest first (JSON array).
    pub fn branches(&self, session: &str) -> Result<String, JsValue> {
        let items = self
            .store
            .branches(shapes::session_id(session)?)
            .map_err(to_js)?;
        Ok(text(Value::Array(
            items.into_iter().map(shapes::checkpoint).collect(),
        )))
    }

    /// Direct children, oldest first (JSON array).
    pub fn children(&self, id: &str) -> Result<String, JsValue> {
        let items = self
            .store
            .children(shapes::checkpoint_id(id)?)
            .map_err(to_js)?;
        Ok(text(Value::Array(
            items.into_iter().map(shapes::checkpoint).collect(),
        )))
    }

    /// A page of a query (JSON `{items, next}`).
    pub fn list(&self, query: &str) -> Result<String, JsValue> {
        let input: QueryInput = if query.is_empty() {
            QueryInput::default()
        } else {
            shapes::parse(query, "query")?
        };
        let page = self.store.list(&input.into_query()?).map_err(to_js)?;
        Ok(text(json!({
            "items": page.items.iter().map(|c| shapes::checkpoint(c)).collect::<Vec<_>>(),
            "next": page.next.map(|c| c.to_string()),
        })))
    }

    /// Differences between two checkpoints (JSON).
    pub fn diff(&self, from: &str, to: &str) -> Result<String, JsValue> {
        let d = self
            .store
            .diff(shapes::checkpoint_id(from)?, shapes::checkpoint_id(to)?)
            .map_err(to_js)?;
        Ok(text(shapes::diff(&d)))
    }

    /// Adds a note (`severity`: info, warning, critical); returns it as JSON.
    pub fn annotate(&mut self, id: &str, note: &str, severity: &str) -> Result<String, JsValue> {
        let severity = Severity::parse(severity)
            .ok_or_else(|| invalid(format!("severity {severity:?} (info, warning, critical)")))?;
        let a = self
            .store
            .annotate(shapes::checkpoint_id(id)?, note, severity)
            .map_err(to_js)?;
        Ok(text(shapes::annotation(a)))
    }

    /// A checkpoint's notes (JSON array).
    pub fn annotations(&self, id: &str) -> Result<String, JsValue> {
        let items = self
            .store
            .annotations(shapes::checkpoint_id(id)?)
            .map_err(to_js)?;
        Ok(text(Value::Array(
            items.iter().map(shapes::annotation).collect(),
        )))
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
            .attach(shapes::checkpoint_id(id)?, key, content_type, bytes)
            .map_err(to_js)
    }

    /// An attachment's bytes (`undefined` when the key is absent).
    pub fn attachment(&self, id: &str, key: &str) -> Result<Option<Vec<u8>>, JsValue> {
        let found = self
            .store
            .attachment(shapes::checkpoint_id(id)?, key)
            .map_err(to_js)?;
        Ok(found.map(|(_, bytes)| bytes))
    }

    /// An attachment in one array (`undefined` when the key is absent): the content type's
    /// length as 4 bytes little-endian, the content type (UTF-8), then the bytes. One call
    /// instead of `attachment` and `attachmentType`.
    #[wasm_bindgen(js_name = attachmentEntry)]
    pub fn attachment_entry(&self, id: &str, key: &str) -> Result<Option<Vec<u8>>, JsValue> {
        let found = self
            .store
            .attachment(shapes::checkpoint_id(id)?, key)
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
            .attachment(shapes::checkpoint_id(id)?, key)
            .map_err(to_js)?;
        Ok(found.map(|(ct, _)| ct.to_string()))
    }

    /// Attachment keys of a checkpoint (JSON array).
    #[wasm_bindgen(js_name = attachmentKeys)]
    pub fn attachment_keys(&self, id: &str) -> Result<String, JsValue> {
        let keys: Vec<&str> = self
            .store
            .attachment_keys(shapes::checkpoint_id(id)?)
            .map_err(to_js)?
            .collect();
        Ok(text(json!(keys)))
    }

    /// Deletes a checkpoint.
    pub fn delete(&mut self, id: &str) -> Result<(), JsValue> {
        self.store.delete(shapes::checkpoint_id(id)?).map_err(to_js)
    }

    /// Deletes a session and its checkpoints; returns how many checkpoints went.
    #[wasm_bindgen(js_name = deleteSession)]
    pub fn delete_session(&mut self, id: &str) -> Result<f64, JsValue> {
        let n = self
            .store
            .delete_session(shapes::session_id(id)?)
            .map_err(to_js)?;
        Ok(n as f64)
    }

    /// What a retention policy (JSON) would remove and why (JSON plan).
    #[wasm_bindgen(js_name = planCompaction)]
    pub fn plan_compaction(&mut self, policy: &str) -> Result<String, JsValue> {
        let policy: PolicyInput = shapes::parse(policy, "policy")?;
        let plan = self
            .store
            .plan_compaction(&policy.into_policy()?)
            .map_err(to_js)?;
        Ok(text(shapes::plan(&plan)))
    }

    /// Removes these checkpoints (a JSON array of ids, e.g. a plan's removals) and rewrites the
    /// log without them. Returns the report as JSON.
    #[wasm_bindgen(js_name = removeCheckpoints)]
    pub fn remove_checkpoints(&mut self, ids: &str) -> Result<String, JsValue> {
        let ids: Vec<String> = shapes::parse(ids, "ids")?;
        let ids = ids
            .iter()
            .map(|id| shapes::checkpoint_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let report = self.store.remove_checkpoints(&ids).map_err(to_js)?;
        Ok(text(json!({
            "removed": report.removed,
            "logBytesBefore": report.log_bytes_before,
            "logBytesAfter": report.log_bytes_after,
        })))
    }

    /// The store (or the sessions in the JSON array `sessions`, when not empty) as a JSON export.
    #[wasm_bindgen(js_name = exportJson)]
    pub fn export_json(&mut self, sessions: &str) -> Result<String, JsValue> {
        let only = session_list(sessions)?;
        self.store.export_json(only.as_deref()).map_err(to_js)
    }

    /// The store (or some sessions) as a binary log.
    #[wasm_bindgen(js_name = exportBinary)]
    pub fn export_binary(&self, sessions: &str) -> Result<Vec<u8>, JsValue> {
        let only = session_list(sessions)?;
        self.store.export_binary(only.as_deref()).map_err(to_js)
    }

    /// Imports a JSON export; returns the report as JSON.
    #[wasm_bindgen(js_name = importJson)]
    pub fn import_json(&mut self, bytes: &[u8]) -> Result<String, JsValue> {
        let report = self.store.import_json(bytes).map_err(to_js)?;
        Ok(text(shapes::import_report(&report)))
    }

    /// Imports a binary export; returns the report as JSON.
    #[wasm_bindgen(js_name = importBinary)]
    pub fn import_binary(&mut self, bytes: &[u8]) -> Result<String, JsValue> {
        let report = self.store.import_binary(bytes).map_err(to_js)?;
        Ok(text(shapes::import_report(&report)))
    }

    /// Recomputes every hash (JSON report).
    pub fn verify(&self) -> String {
        text(shapes::verify(&self.store.verify()))
    }

    /// Counts and sizes (JSON).
    pub fn metrics(&self) -> String {
        text(shapes::metrics(&self.store.metrics()))
    }

    /// Health (JSON).
    pub fn health(&self) -> String {
        text(shapes::health(&self.store.health()))
    }

    /// Events since the last call (JSON array).
    #[wasm_bindgen(js_name = drainEvents)]
    pub fn drain_events(&mut self) -> String {
        let events = self.store.drain_events();
        text(Value::Array(events.iter().map(shapes::event).collect()))
    }

    /// What must reach persistent storage since the last call (`undefined` when nothing).
    #[wasm_bindgen(js_name = takePersist)]
    pub fn take_persist(&mut self) -> Option<PersistBatch> {
        match self.store.backend_mut().take_persist() {
            Persist::Nothing => None,
            Persist::Append(bytes) => Some(PersistBatch::new(false, bytes)),
            Persist::Replace(bytes) => Some(PersistBatch::new(true, bytes)),
        }
    }

    /// The whole log, header included.
    #[wasm_bindgen(js_name = logBytes)]
    pub fn log_bytes(&self) -> Vec<u8> {
        self.store.backend().bytes().to_vec()
    }
}

fn build(input: CheckpointInput, bytes: &[u8]) -> Result<NewCheckpoint<'_>, JsValue> {
    let state_len = input.state_len.unwrap_or(bytes.len());
    let (state, mut rest) = bytes
        .split_at_checked(state_len)
        .ok_or_else(|| invalid("checkpoint: stateLen is longer than the bytes"))?;
    let mut new = NewCheckpoint::new(shapes::session_id(&input.session)?, input.message, state)
        .tags(input.tags)
        .metadata(input.metadata);
    for a in input.attachments {
        let (value, tail) = rest
            .split_at_checked(a.len)
            .ok_or_else(|| invalid("checkpoint: the attachments' lengths exceed the bytes"))?;
        rest = tail;
        new = match a.base {
            Some(base) => {
                new.attach_based_on(a.key, a.content_type, value, shapes::checkpoint_id(&base)?)
            }
            None => new.attach(a.key, a.content_type, value),
        };
    }
    if !rest.is_empty() {
        return Err(invalid(
            "checkpoint: bytes left over after the state and the attachments",
        ));
    }
    if let Some(ct) = input.content_type {
        new = new.content_type(ct);
    }
    if let Some(t) = input.trigger {
        new = new.trigger(t.into_trigger()?);
    }
    if let Some(p) = input.parent {
        new = new.parent(shapes::checkpoint_id(&p)?);
    } else if input.root {
        new = new.root();
    }
    if let Some(ns) = input.namespace {
        new = new.namespace(ns);
    }
    if let Some(id) = input.id {
        new = new.id(shapes::checkpoint_id(&id)?);
    }
    if let Some(t) = input.created_at {
        new = new.created_at(t);
    }
    Ok(new)
}

fn session_list(text: &str) -> Result<Option<Vec<rewind_core::SessionId>>, JsValue> {
    if text.is_empty() {
        return Ok(None);
    }
    let ids: Vec<String> = shapes::parse(text, "sessions")?;
    if ids.is_empty() {
        return Ok(None);
    }
    ids.iter()
        .map(|s| shapes::session_id(s))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
