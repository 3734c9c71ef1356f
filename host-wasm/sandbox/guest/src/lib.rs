//! rewind as a WebAssembly component: the world `rewind:store` (../wit/store.wit).
//!
//! A thin binding: the engine is rewind-core; storage goes through the imported `backend`
//! interface and time and randomness through `host-env`, so the embedding host decides where
//! bytes go and the component can reach nothing else.

use std::cell::RefCell;

use rewind_core::backend::{LoadReport, Visitor};
use rewind_core::{
    Backend, BackendError, CheckpointId, Env, Error as CoreError, NewCheckpoint, Options, Order,
    Query, RetentionPolicy, SessionId, Severity, Store as Engine, Trigger as CoreTrigger,
};
use serde_json::{Map, Value};

wit_bindgen::generate!({
    world: "rewind-store",
    path: "../wit",
});

use exports::rewind::store::conformance::Guest as ConformanceGuest;
use exports::rewind::store::store::{
    Annotation, Checkpoint, CheckpointInput, Diff, Error, Event, Guest, GuestStore, Health,
    Metrics, NewAttachment, Page, Query as WitQuery, Removal, Retention, Session, Store, Trigger,
};
use rewind::store::{backend, host_env};

/// The engine's backend: the host's `backend` import.
struct HostBackend;

fn host(err: String) -> BackendError {
    BackendError::Io(err)
}

impl Backend for HostBackend {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        backend::append(frames).map_err(host)
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        backend::sync().map_err(host)
    }
    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, CoreError> {
        let frames = backend::load().map_err(|e| CoreError::Backend(host(e)))?;
        let mut report = LoadReport::default();
        for frame in frames {
            visit(frame.pos, &frame.payload)?;
            report.frames += 1;
            report.log_bytes += frame.payload.len() as u64 + 8;
        }
        Ok(report)
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        let bytes = backend::read_at(pos, buf.len() as u32).map_err(host)?;
        if bytes.len() != buf.len() {
            return Err(BackendError::OutOfRange {
                pos,
                len: buf.len() as u64,
            });
        }
        buf.copy_from_slice(&bytes);
        Ok(())
    }
    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        backend::begin_rewrite().map_err(host)
    }
    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        backend::rewrite_append(frames).map_err(host)
    }
    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        backend::commit_rewrite().map_err(host)
    }
    fn abort_rewrite(&mut self) {
        backend::abort_rewrite()
    }
}

/// The engine's clock and entropy: the host's `host-env` import.
struct HostEnv;

impl Env for HostEnv {
    fn now_ms(&mut self) -> u64 {
        host_env::now_ms()
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        let bytes = host_env::random_bytes(buf.len() as u32);
        for (dst, src) in buf.iter_mut().zip(bytes) {
            *dst = src;
        }
    }
}

fn error(err: CoreError) -> Error {
    let text = err.to_string();
    match err {
        CoreError::SessionNotFound(_) | CoreError::CheckpointNotFound(_) => Error::NotFound(text),
        CoreError::LimitExceeded { .. } => Error::LimitExceeded(text),
        CoreError::Corrupt { .. } => Error::Corrupt(text),
        CoreError::HashMismatch { .. } => Error::HashMismatch(text),
        CoreError::ImportRejected(_) => Error::ImportRejected(text),
        CoreError::Backend(_) => Error::Storage(text),
        CoreError::InvalidInput(_)
        | CoreError::DuplicateId(_)
        | CoreError::ParentInOtherSession { .. } => Error::InvalidInput(text),
        _ => Error::Other(text),
    }
}

fn checkpoint_id(text: &str) -> Result<CheckpointId, Error> {
    text.parse().map_err(error)
}

fn session_id(text: &str) -> Result<SessionId, Error> {
    text.parse().map_err(error)
}

fn json_object(text: &str) -> Result<Map<String, Value>, Error> {
    if text.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::InvalidInput(format!("not a JSON object: {text}"))),
    }
}

fn to_wit(cp: &rewind_core::Checkpoint) -> Checkpoint {
    Checkpoint {
        id: cp.id.to_string(),
        session: cp.session.to_string(),
        namespace: cp.namespace.clone(),
        seq: cp.seq,
        parent: cp.parent.map(|p| p.to_string()),
        parent_hash: cp.parent_hash.map(|h| h.to_string()),
        created_at: cp.created_at,
        message: cp.message.clone(),
        tags: cp.tags.clone(),
        trigger: match &cp.trigger {
            CoreTrigger::Automatic { reason } => Trigger::Automatic(reason.clone()),
            CoreTrigger::Scheduled => Trigger::Scheduled,
            _ => Trigger::Manual,
        },
        metadata: serde_json::to_string(&cp.metadata).unwrap_or_default(),
        content_type: cp.content_type.clone(),
        state_len: cp.state_len,
        hash: cp.hash.to_string(),
    }
}

fn session_to_wit(s: &rewind_core::Session) -> Session {
    Session {
        id: s.id.to_string(),
        name: s.name.clone(),
        metadata: serde_json::to_string(&s.metadata).unwrap_or_default(),
        created_at: s.created_at,
        head: s.head.map(|h| h.to_string()),
        checkpoints: s.checkpoints,
    }
}

fn build(input: CheckpointInput, state: &[u8]) -> Result<NewCheckpoint<'_>, Error> {
    let mut new = NewCheckpoint::new(session_id(&input.session)?, input.message, state)
        .tags(input.tags)
        .metadata(json_object(&input.metadata)?)
        .namespace(input.namespace)
        .trigger(match input.trigger {
            Trigger::Manual => CoreTrigger::Manual,
            Trigger::Automatic(reason) => CoreTrigger::Automatic { reason },
            Trigger::Scheduled => CoreTrigger::Scheduled,
        });
    if let Some(ct) = input.content_type {
        new = new.content_type(ct);
    }
    if let Some(p) = input.parent {
        new = new.parent(checkpoint_id(&p)?);
    }
    if let Some(id) = input.id {
        new = new.id(checkpoint_id(&id)?);
    }
    Ok(new)
}

fn retention(policy: Retention) -> RetentionPolicy {
    let mut p = RetentionPolicy::default();
    p.keep_last = policy.keep_last.map(|n| n as usize);
    p.keep_tags = policy.keep_tags;
    p.max_age_ms = policy.max_age_ms;
    p.max_bytes = policy.max_bytes;
    p
}

/// The exported resource: the engine over the host's backend.
struct GuestStoreImpl {
    engine: RefCell<Engine<HostBackend, HostEnv>>,
}

impl GuestStoreImpl {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Engine<HostBackend, HostEnv>) -> Result<T, CoreError>,
    ) -> Result<T, Error> {
        f(&mut self.engine.borrow_mut()).map_err(error)
    }
}

struct Component;

impl Guest for Component {
    type Store = GuestStoreImpl;
}

impl GuestStore for GuestStoreImpl {
    fn open(options: String) -> Result<Store, Error> {
        let mut engine_options = Options::default();
        let o = json_object(&options)?;
        let num = |k: &str| o.get(k).and_then(Value::as_u64);
        if let Some(v) = num("maxStateBytes") {
            engine_options.limits.max_state_bytes = v;
        }
        if let Some(v) = num("maxTags") {
            engine_options.limits.max_tags = v;
        }
        if let Some(v) = num("maxMessageBytes") {
            engine_options.limits.max_message_bytes = v;
        }
        let (engine, _) = Engine::open(HostBackend, HostEnv, engine_options).map_err(error)?;
        Ok(Store::new(GuestStoreImpl {
            engine: RefCell::new(engine),
        }))
    }

    fn create_session(&self, name: String, metadata: String) -> Result<String, Error> {
        let metadata = json_object(&metadata)?;
        self.with(|e| e.create_session(name, metadata))
            .map(|id| id.to_string())
    }

    fn session(&self, id: String) -> Result<Session, Error> {
        let id = session_id(&id)?;
        self.with(|e| e.session(id).map(session_to_wit))
    }

    fn sessions(&self) -> Vec<Session> {
        self.engine
            .borrow()
            .sessions()
            .map(session_to_wit)
            .collect()
    }

    fn delete_session(&self, id: String) -> Result<u64, Error> {
        let id = session_id(&id)?;
        self.with(|e| e.delete_session(id))
    }

    fn checkpoint(&self, input: CheckpointInput, state: Vec<u8>) -> Result<Checkpoint, Error> {
        let new = build(input, &state)?;
        self.with(|e| e.checkpoint(new).map(to_wit))
    }

    fn checkpoint_with(
        &self,
        input: CheckpointInput,
        state: Vec<u8>,
        attachments: Vec<NewAttachment>,
    ) -> Result<Checkpoint, Error> {
        let mut new = build(input, &state)?;
        for a in &attachments {
            let (key, content_type) = (a.key.clone(), a.content_type.clone());
            new = match &a.base {
                Some(base) => {
                    new.attach_based_on(key, content_type, &a.bytes, checkpoint_id(base)?)
                }
                None => new.attach(key, content_type, &a.bytes),
            };
        }
        self.with(|e| e.checkpoint(new).map(to_wit))
    }

    fn auto_checkpoint(
        &self,
        input: CheckpointInput,
        state: Vec<u8>,
        reason: String,
    ) -> Result<Option<Checkpoint>, Error> {
        let new = build(input, &state)?;
        self.with(|e| e.auto_checkpoint(new, reason).map(|c| c.map(to_wit)))
    }

    fn get(&self, id: String) -> Result<Checkpoint, Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.get(id).map(to_wit))
    }

    fn state(&self, id: String) -> Result<Vec<u8>, Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.state(id))
    }

    fn restore(&self, id: String) -> Result<Vec<u8>, Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.restore(id).map(|r| r.state))
    }

    fn latest(&self, session: String) -> Result<Option<Checkpoint>, Error> {
        let id = session_id(&session)?;
        self.with(|e| e.latest(id).map(|c| c.map(to_wit)))
    }

    fn at(&self, session: String, time_ms: u64) -> Result<Option<Checkpoint>, Error> {
        let id = session_id(&session)?;
        self.with(|e| e.at(id, time_ms).map(|c| c.map(to_wit)))
    }

    fn history(&self, id: String) -> Result<Vec<Checkpoint>, Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.history(id).map(|h| h.map(to_wit).collect()))
    }

    fn branches(&self, session: String) -> Result<Vec<Checkpoint>, Error> {
        let id = session_id(&session)?;
        self.with(|e| e.branches(id).map(|b| b.into_iter().map(to_wit).collect()))
    }

    fn list(&self, q: WitQuery) -> Result<Page, Error> {
        let mut query = Query::new().order(if q.descending {
            Order::Descending
        } else {
            Order::Ascending
        });
        if let Some(s) = q.session {
            query = query.session(session_id(&s)?);
        }
        if let Some(ns) = q.namespace {
            query = query.namespace(ns);
        }
        for t in q.tags_all {
            query = query.tag(t);
        }
        query = query.any_tag(q.tags_any);
        query.seq_min = q.seq_min;
        query.seq_max = q.seq_max;
        query.time_from = q.time_from;
        query.time_to = q.time_to;
        if let Some(b) = q.before {
            query = query.before(checkpoint_id(&b)?);
        }
        if let Some(limit) = q.limit {
            query = query.limit(limit as usize);
        }
        if let Some(c) = q.cursor {
            query = query.after(c.parse().map_err(error)?);
        }
        self.with(|e| {
            e.list(&query).map(|page| Page {
                items: page.items.iter().map(|c| to_wit(c)).collect(),
                next: page.next.map(|c| c.to_string()),
            })
        })
    }

    fn diff(&self, from: String, to: String) -> Result<Diff, Error> {
        let (a, b) = (checkpoint_id(&from)?, checkpoint_id(&to)?);
        self.with(|e| {
            e.diff(a, b).map(|d| Diff {
                seq_delta: d.seq_delta,
                time_delta_ms: d.time_delta_ms,
                tags_added: d.tags_added,
                tags_removed: d.tags_removed,
                from_len: d.from_len,
                to_len: d.to_len,
                shared_ratio: d.shared_ratio,
                same_state: d.same_state,
                state_patch: d
                    .state_patch
                    .map(|p| serde_json::to_string(&p).unwrap_or_default()),
            })
        })
    }

    fn annotations(&self, id: String) -> Result<Vec<Annotation>, Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| {
            e.annotations(id).map(|notes| {
                notes
                    .iter()
                    .map(|a| Annotation {
                        note: a.note.clone(),
                        severity: a.severity.as_str().into(),
                        created_at: a.created_at,
                    })
                    .collect()
            })
        })
    }

    fn children(&self, id: String) -> Result<Vec<Checkpoint>, Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.children(id).map(|c| c.into_iter().map(to_wit).collect()))
    }

    fn plan_compaction(&self, policy: Retention) -> Result<Vec<Removal>, Error> {
        let p = retention(policy);
        self.with(|e| {
            e.plan_compaction(&p).map(|plan| {
                plan.remove
                    .iter()
                    .map(|(id, why)| Removal {
                        id: id.to_string(),
                        reason: format!("{why:?}"),
                    })
                    .collect()
            })
        })
    }

    fn health(&self) -> Health {
        let h = self.engine.borrow().health();
        Health {
            ok: h.ok,
            write_error: h.write_error,
            dead_ratio: h.dead_ratio,
        }
    }

    fn drain_events(&self) -> Vec<Event> {
        use rewind_core::Event as E;
        let events = self.engine.borrow_mut().drain_events();
        events
            .into_iter()
            .filter_map(|e| match e {
                E::SessionCreated { session } => Some(Event::SessionCreated(session.to_string())),
                E::Created { checkpoint, .. } => Some(Event::Created(checkpoint.to_string())),
                E::Restored { checkpoint, .. } => Some(Event::Restored(checkpoint.to_string())),
                E::Deleted { checkpoint, .. } => Some(Event::Deleted(checkpoint.to_string())),
                E::SessionDeleted { session } => Some(Event::SessionDeleted(session.to_string())),
                E::Compacted { removed, .. } => Some(Event::Compacted(removed)),
                E::Annotated { checkpoint, .. } => Some(Event::Annotated(checkpoint.to_string())),
                _ => None,
            })
            .collect()
    }

    fn annotate(&self, id: String, note: String, severity: String) -> Result<(), Error> {
        let id = checkpoint_id(&id)?;
        let severity = Severity::parse(&severity)
            .ok_or_else(|| Error::InvalidInput(format!("severity {severity:?}")))?;
        self.with(|e| e.annotate(id, note, severity).map(|_| ()))
    }

    fn attach(
        &self,
        id: String,
        key: String,
        content_type: String,
        bytes: Vec<u8>,
    ) -> Result<(), Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.attach(id, key, content_type, &bytes))
    }

    fn attachment(&self, id: String, key: String) -> Result<Option<Vec<u8>>, Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.attachment(id, &key).map(|a| a.map(|(_, b)| b)))
    }

    fn delete(&self, id: String) -> Result<(), Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.delete(id))
    }

    fn compact(&self, policy: Retention) -> Result<u64, Error> {
        let p = retention(policy);
        self.with(|e| e.compact(&p).map(|r| r.removed))
    }

    fn export_binary(&self) -> Result<Vec<u8>, Error> {
        self.with(|e| e.export_binary(None))
    }

    fn export_json(&self) -> Result<String, Error> {
        self.with(|e| e.export_json(None))
    }

    fn import_binary(&self, bytes: Vec<u8>) -> Result<u64, Error> {
        self.with(|e| e.import_binary(&bytes).map(|r| r.checkpoints_added))
    }

    fn import_json(&self, text: String) -> Result<u64, Error> {
        self.with(|e| e.import_json(text.as_bytes()).map(|r| r.checkpoints_added))
    }

    fn verify(&self) -> Option<String> {
        let report = self.engine.borrow().verify();
        report.first_error.map(|e| {
            format!(
                "checkpoint {} (seq {}): {:?}",
                e.checkpoint, e.seq, e.problem
            )
        })
    }

    fn metrics(&self) -> Metrics {
        let m = self.engine.borrow().metrics();
        Metrics {
            sessions: m.sessions,
            checkpoints: m.checkpoints,
            logical_bytes: m.logical_bytes,
            stored_bytes: m.stored_bytes,
            log_bytes: m.log_bytes,
            next_seq: m.next_seq,
        }
    }

    fn flush(&self) -> Result<(), Error> {
        self.with(|e| e.flush())
    }
}

impl ConformanceGuest for Component {
    fn run_scenario(name: String) -> Result<(), String> {
        use rewind_core::conformance::{MemoryHarness, run};
        // A failed assertion traps; its message reaches the host first.
        std::panic::set_hook(Box::new(|info| host_env::log(&info.to_string())));
        if run(&name, &mut MemoryHarness) {
            Ok(())
        } else {
            Err(format!("unknown scenario {name}"))
        }
    }

    fn scenarios() -> Vec<String> {
        rewind_core::conformance::SCENARIOS
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn transcript() -> String {
        rewind_core::conformance::transcript(&mut rewind_core::conformance::MemoryHarness)
    }
}

export!(Component);
