//! The exported `store` resource: the engine over the host's backend. Each method parses its
//! ids, converts its inputs through the API layer (`convert.rs`), calls the engine and converts
//! what comes back.

use std::cell::RefCell;

use rewind_core::api::{self, parse_checkpoint_id, parse_session_id};
use rewind_core::{Error as CoreError, LoadReport, Options, Query, RetentionPolicy, Store};

use crate::convert::{self, error};
use crate::exports::rewind::store::store as wit;
use crate::host::{HostBackend, HostEnv};

type Engine = Store<HostBackend, HostEnv>;

/// The exported resource.
pub struct GuestStore {
    engine: RefCell<Engine>,
    loaded: LoadReport,
}

impl GuestStore {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<T, CoreError>,
    ) -> Result<T, wit::Error> {
        f(&mut self.engine.borrow_mut()).map_err(error)
    }

    fn create(
        &self,
        input: wit::CheckpointInput,
        state: &[u8],
        attachments: &[wit::NewAttachment],
    ) -> Result<wit::Checkpoint, wit::Error> {
        let input = convert::checkpoint_input(input, attachments)?;
        let bytes: Vec<&[u8]> = attachments.iter().map(|a| a.bytes.as_slice()).collect();
        self.with(|e| {
            let new = input.into_new(state, &bytes)?;
            e.checkpoint(new).map(convert::checkpoint)
        })
    }
}

fn checkpoint_id(text: &str) -> Result<rewind_core::CheckpointId, wit::Error> {
    parse_checkpoint_id(text).map_err(error)
}

fn session_id(text: &str) -> Result<rewind_core::SessionId, wit::Error> {
    parse_session_id(text).map_err(error)
}

impl wit::GuestStore for GuestStore {
    fn open(options: wit::Options) -> Result<wit::Store, wit::Error> {
        let options = Options::try_from(convert::options(options)).map_err(error)?;
        let (engine, loaded) = Engine::open(HostBackend, HostEnv, options).map_err(error)?;
        Ok(wit::Store::new(GuestStore {
            engine: RefCell::new(engine),
            loaded,
        }))
    }

    fn load_report(&self) -> wit::LoadReport {
        convert::load_report(&self.loaded)
    }

    fn create_session(&self, name: String, metadata: String) -> Result<String, wit::Error> {
        let metadata: serde_json::Map<String, serde_json::Value> = if metadata.is_empty() {
            Default::default()
        } else {
            serde_json::from_str(&metadata).map_err(|e| {
                error(CoreError::InvalidInput(format!(
                    "metadata is not a JSON object: {e}"
                )))
            })?
        };
        self.with(|e| e.create_session(name, metadata))
            .map(|id| id.to_string())
    }

    fn session(&self, id: String) -> Result<wit::Session, wit::Error> {
        let id = session_id(&id)?;
        self.with(|e| e.session(id).map(convert::session))
    }

    fn sessions(&self) -> Vec<wit::Session> {
        self.engine
            .borrow()
            .sessions()
            .map(convert::session)
            .collect()
    }

    fn delete_session(&self, id: String) -> Result<u64, wit::Error> {
        let id = session_id(&id)?;
        self.with(|e| e.delete_session(id))
    }

    fn checkpoint(
        &self,
        input: wit::CheckpointInput,
        state: Vec<u8>,
    ) -> Result<wit::Checkpoint, wit::Error> {
        self.create(input, &state, &[])
    }

    fn checkpoint_with(
        &self,
        input: wit::CheckpointInput,
        state: Vec<u8>,
        attachments: Vec<wit::NewAttachment>,
    ) -> Result<wit::Checkpoint, wit::Error> {
        self.create(input, &state, &attachments)
    }

    fn auto_checkpoint(
        &self,
        input: wit::CheckpointInput,
        state: Vec<u8>,
        reason: String,
    ) -> Result<Option<wit::Checkpoint>, wit::Error> {
        let input = convert::checkpoint_input(input, &[])?;
        self.with(|e| {
            let new = input.into_new(&state, &[])?;
            e.auto_checkpoint(new, reason)
                .map(|c| c.map(convert::checkpoint))
        })
    }

    fn get(&self, id: String) -> Result<wit::Checkpoint, wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.get(id).map(convert::checkpoint))
    }

    fn state(&self, id: String) -> Result<Vec<u8>, wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.state(id))
    }

    fn restore(&self, id: String) -> Result<Vec<u8>, wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.restore(id).map(|r| r.state))
    }

    fn state_runs(&self, id: String) -> Result<Vec<(u64, u32)>, wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.state_runs(id))
    }

    fn restore_runs(&self, id: String) -> Result<Vec<(u64, u32)>, wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.restore_runs(id))
    }

    fn latest(&self, session: String) -> Result<Option<wit::Checkpoint>, wit::Error> {
        let id = session_id(&session)?;
        self.with(|e| e.latest(id).map(|c| c.map(convert::checkpoint)))
    }

    fn at(&self, session: String, time_ms: u64) -> Result<Option<wit::Checkpoint>, wit::Error> {
        let id = session_id(&session)?;
        self.with(|e| e.at(id, time_ms).map(|c| c.map(convert::checkpoint)))
    }

    fn history(&self, id: String) -> Result<Vec<wit::Checkpoint>, wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.history(id).map(convert::checkpoints))
    }

    fn branches(&self, session: String) -> Result<Vec<wit::Checkpoint>, wit::Error> {
        let id = session_id(&session)?;
        self.with(|e| e.branches(id).map(convert::checkpoints))
    }

    fn list(&self, q: wit::Query) -> Result<wit::Page, wit::Error> {
        let input = convert::query(q)?;
        self.with(|e| {
            let page = e.list(&Query::try_from(input)?)?;
            Ok(wit::Page {
                items: convert::checkpoints(page.items.iter().copied()),
                next: page.next.map(|c| c.to_string()),
            })
        })
    }

    fn list_summaries(
        &self,
        q: wit::Query,
        fields: wit::SummaryFields,
    ) -> Result<wit::SummaryPage, wit::Error> {
        let input = convert::query(q)?;
        let fields = api::SummaryFields {
            message: fields.message,
            tags: fields.tags,
        };
        self.with(|e| {
            let page = e.list(&Query::try_from(input)?)?;
            let mut items = Vec::new();
            api::pack_summaries(&page.items, fields, &mut items);
            Ok(wit::SummaryPage {
                items,
                next: page.next.map(|c| c.to_string()),
            })
        })
    }

    fn diff(&self, from: String, to: String) -> Result<wit::Diff, wit::Error> {
        let (a, b) = (checkpoint_id(&from)?, checkpoint_id(&to)?);
        self.with(|e| e.diff(a, b).map(|d| convert::diff(&d)))
    }

    fn annotate(&self, id: String, note: String, severity: String) -> Result<(), wit::Error> {
        let id = checkpoint_id(&id)?;
        let severity = api::parse_severity(&severity).map_err(error)?;
        self.with(|e| e.annotate(id, note, severity).map(|_| ()))
    }

    fn annotations(&self, id: String) -> Result<Vec<wit::Annotation>, wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| {
            e.annotations(id)
                .map(|notes| notes.iter().map(convert::annotation).collect())
        })
    }

    fn children(&self, id: String) -> Result<Vec<wit::Checkpoint>, wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.children(id).map(convert::checkpoints))
    }

    fn attach(
        &self,
        id: String,
        key: String,
        content_type: String,
        bytes: Vec<u8>,
    ) -> Result<(), wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.attach(id, key, content_type, &bytes))
    }

    fn attachment(&self, id: String, key: String) -> Result<Option<Vec<u8>>, wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.attachment(id, &key).map(|a| a.map(|(_, b)| b)))
    }

    fn delete(&self, id: String) -> Result<(), wit::Error> {
        let id = checkpoint_id(&id)?;
        self.with(|e| e.delete(id))
    }

    fn plan_compaction(&self, policy: wit::Retention) -> Result<wit::CompactionPlan, wit::Error> {
        let input = convert::retention(policy);
        self.with(|e| {
            let policy = RetentionPolicy::try_from(input)?;
            e.plan_compaction(&policy).map(|p| convert::plan(&p))
        })
    }

    fn compact(&self, policy: wit::Retention) -> Result<wit::CompactionReport, wit::Error> {
        let input = convert::retention(policy);
        self.with(|e| {
            let policy = RetentionPolicy::try_from(input)?;
            e.compact(&policy).map(|r| convert::compaction_report(&r))
        })
    }

    fn export_binary(&self) -> Result<Vec<u8>, wit::Error> {
        self.with(|e| e.export_binary(None))
    }

    fn export_json(&self) -> Result<String, wit::Error> {
        self.with(|e| e.export_json(None))
    }

    fn import_binary(&self, bytes: Vec<u8>) -> Result<wit::ImportReport, wit::Error> {
        self.with(|e| e.import_binary(&bytes).map(|r| convert::import_report(&r)))
    }

    fn import_json(&self, text: String) -> Result<wit::ImportReport, wit::Error> {
        self.with(|e| {
            e.import_json(text.as_bytes())
                .map(|r| convert::import_report(&r))
        })
    }

    fn verify(&self) -> wit::VerifyReport {
        convert::verify(&self.engine.borrow().verify())
    }

    fn metrics(&self) -> wit::Metrics {
        convert::metrics(&self.engine.borrow().metrics())
    }

    fn health(&self) -> wit::Health {
        convert::health(&self.engine.borrow().health())
    }

    fn drain_events(&self) -> Vec<wit::Event> {
        let events = self.engine.borrow_mut().drain_events();
        events.iter().filter_map(convert::event).collect()
    }

    fn flush(&self) -> Result<(), wit::Error> {
        self.with(|e| e.flush())
    }

    fn persist_index(&self) -> Result<bool, wit::Error> {
        self.with(|e| {
            if e.snapshot_due() {
                e.write_snapshot()
            } else {
                Ok(false)
            }
        })
    }
}
