//! Parity: one scenario (`parity.json`) that exercises every query filter and retention flag,
//! store options (limits, automatic-checkpoint throttling) and errors of the kinds bad input
//! causes (not found, invalid input, over a limit, a rejected import, a corrupt log), run
//! through each host's own public API.
//!
//! The scenario is data, so the JavaScript package (in Node.js and Chromium) and the
//! WebAssembly component run the very same file through their bindings, and a filter or flag
//! missing from one binding fails there. This module reads it into the binding-neutral inputs
//! ([`crate::api`]) and drives a [`ParityHost`]: the engine itself here, the component in the
//! sandbox's tests.
//!
//! Labels name sessions and checkpoints; the driver replaces them with the ids the host made.
//! Times (`at`, `timeFrom`, `timeTo`) are milliseconds after a base ten minutes before the run,
//! so age-based retention sees the same ages everywhere.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use hashbrown::HashMap;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::{CheckpointInput, OptionsInput, PlanView, QueryInput, RetentionInput};
use crate::backend::Backend;
use crate::env::Env;
use crate::error::Error;
use crate::store::Store;
use crate::{Query, RetentionPolicy};

/// The scenario, as every host reads it.
pub const SCENARIO: &str = include_str!("parity.json");

/// How far before the run the scenario's times start.
const BASE_BEFORE_NOW_MS: u64 = 600_000;

/// A failed operation as a host reports it: the error's code and kind names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `LIMIT_EXCEEDED`, ...
    pub code: String,
    /// `limitExceeded`, ...
    pub kind: String,
}

impl Failure {
    /// What a host reports for an input its binding's types cannot express (a trigger kind
    /// outside a typed enum): accepted only where the scenario marks the case `typed`.
    pub fn unrepresentable() -> Failure {
        Failure {
            code: "UNREPRESENTABLE".into(),
            kind: "typed".into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure {
            code: err.code().into(),
            kind: err.kind().as_str().into(),
        }
    }
}

/// What a host must offer to run the scenario: its public operations, with the
/// binding-neutral inputs, reporting ids and names as its binding hands them out.
pub trait ParityHost {
    /// The host's clock, Unix ms.
    fn now_ms(&mut self) -> u64;
    /// Creates a session; returns its id.
    fn create_session(
        &mut self,
        name: &str,
        metadata: Map<String, Value>,
    ) -> Result<String, Failure>;
    /// Creates a checkpoint with this state; returns its id.
    fn checkpoint(&mut self, input: CheckpointInput, state: &[u8]) -> Result<String, Failure>;
    /// An automatic checkpoint; returns its id, or `None` when throttled.
    fn auto_checkpoint(
        &mut self,
        input: CheckpointInput,
        state: &[u8],
        reason: &str,
    ) -> Result<Option<String>, Failure>;
    /// Annotates a checkpoint (severity by name).
    fn annotate(&mut self, id: &str, note: &str, severity: &str) -> Result<(), Failure>;
    /// Restores a checkpoint (moves its session's head).
    fn restore(&mut self, id: &str) -> Result<(), Failure>;
    /// One page: the ids in order, and the next cursor.
    fn list(&mut self, query: QueryInput) -> Result<(Vec<String>, Option<String>), Failure>;
    /// Imports a JSON export.
    fn import_json(&mut self, text: &str) -> Result<(), Failure>;
    /// Imports a binary export.
    fn import_binary(&mut self, bytes: &[u8]) -> Result<(), Failure>;
    /// A compaction plan: (id, reason name) of the removals and of the protected.
    #[allow(clippy::type_complexity)]
    fn plan(
        &mut self,
        policy: RetentionInput,
    ) -> Result<(Vec<(String, String)>, Vec<(String, String)>), Failure>;
}

#[derive(Deserialize)]
struct Scenario {
    options: Value,
    sessions: Vec<SessionSpec>,
    checkpoints: Vec<Map<String, Value>>,
    annotations: Vec<AnnotationSpec>,
    restores: Vec<String>,
    queries: Vec<QuerySpec>,
    plans: Vec<PlanSpec>,
    errors: Vec<ErrorSpec>,
    autos: Vec<AutoSpec>,
}

#[derive(Deserialize)]
struct SessionSpec {
    label: String,
    name: String,
    metadata: Map<String, Value>,
}

#[derive(Deserialize)]
struct AnnotationSpec {
    checkpoint: String,
    note: String,
    severity: String,
}

#[derive(Deserialize)]
struct QuerySpec {
    about: String,
    query: Map<String, Value>,
    #[serde(default)]
    expect: Vec<String>,
    #[serde(default)]
    pages: Vec<Vec<String>>,
}

#[derive(Deserialize)]
struct PlanSpec {
    about: String,
    policy: Map<String, Value>,
    remove: Vec<(String, String)>,
    protected: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct ErrorSpec {
    about: String,
    op: String,
    #[serde(default)]
    input: Map<String, Value>,
    #[serde(default)]
    query: Map<String, Value>,
    #[serde(default)]
    policy: Map<String, Value>,
    #[serde(default)]
    checkpoint: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    text: String,
    code: String,
    kind: String,
    /// Bindings whose types rule the input out pass by construction.
    #[serde(default)]
    typed: bool,
}

#[derive(Deserialize)]
struct AutoSpec {
    about: String,
    session: String,
    message: String,
    reason: String,
    at: u64,
    expect: String,
}

/// The store options the scenario opens its store with.
pub fn options() -> OptionsInput {
    let scenario = scenario();
    serde_json::from_value(scenario.options).unwrap_or_else(|e| panic!("parity options: {e}"))
}

fn scenario() -> Scenario {
    serde_json::from_str(SCENARIO).unwrap_or_else(|e| panic!("parity.json: {e}"))
}

/// Labels to ids, and times relative to the base.
struct Names {
    ids: HashMap<String, String>,
    labels: HashMap<String, String>,
    base: u64,
}

impl Names {
    fn id(&self, label: &str) -> String {
        self.ids
            .get(label)
            .cloned()
            .unwrap_or_else(|| label.to_owned())
    }

    fn label(&self, id: &str) -> String {
        self.labels
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }

    fn add(&mut self, label: &str, id: String) {
        self.labels.insert(id.clone(), label.to_owned());
        self.ids.insert(label.to_owned(), id);
    }

    /// Replaces the labels in `fields` of `object` with ids (also inside arrays).
    fn ids_in(&self, object: &mut Map<String, Value>, fields: &[&str]) {
        for field in fields {
            match object.get_mut(*field) {
                Some(Value::String(label)) => *label = self.id(label),
                Some(Value::Array(items)) => {
                    for item in items {
                        if let Value::String(label) = item {
                            *label = self.id(label);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Moves the times in `fields` from offsets to Unix ms.
    fn times_in(&self, object: &mut Map<String, Value>, fields: &[(&str, &str)]) {
        for (from, to) in fields {
            if let Some(at) = object.remove(*from).and_then(|v| v.as_u64()) {
                object.insert((*to).into(), Value::from(self.base + at));
            }
        }
    }

    fn checkpoint(&self, spec: &Map<String, Value>) -> (CheckpointInput, Vec<u8>) {
        let mut object = spec.clone();
        let label = object
            .remove("label")
            .and_then(|l| l.as_str().map(String::from))
            .unwrap_or_default();
        self.ids_in(&mut object, &["session", "parent", "id"]);
        self.times_in(&mut object, &[("at", "createdAt")]);
        let input = serde_json::from_value(Value::Object(object))
            .unwrap_or_else(|e| panic!("parity checkpoint {label}: {e}"));
        let state = format!(r#"{{"label":"{label}","body":"{}"}}"#, label.repeat(200));
        (input, state.into_bytes())
    }

    fn query(&self, spec: &Map<String, Value>) -> QueryInput {
        let mut object = spec.clone();
        self.ids_in(&mut object, &["session", "before"]);
        self.times_in(
            &mut object,
            &[("timeFrom", "timeFrom"), ("timeTo", "timeTo")],
        );
        serde_json::from_value(Value::Object(object))
            .unwrap_or_else(|e| panic!("parity query: {e}"))
    }

    fn policy(&self, spec: &Map<String, Value>) -> RetentionInput {
        let mut object = spec.clone();
        self.ids_in(&mut object, &["sessions"]);
        serde_json::from_value(Value::Object(object))
            .unwrap_or_else(|e| panic!("parity policy: {e}"))
    }

    fn labelled(&self, pairs: Vec<(String, String)>) -> Vec<(String, String)> {
        pairs
            .into_iter()
            .map(|(id, reason)| (self.label(&id), reason))
            .collect()
    }
}

/// Runs the scenario on `host` (opened with [`options`]); returns every mismatch, each naming
/// the step and what differed. Empty: the host behaves exactly as the scenario says.
pub fn run(host: &mut impl ParityHost) -> Vec<String> {
    let scenario = scenario();
    let mut problems = Vec::new();
    let mut names = Names {
        ids: HashMap::new(),
        labels: HashMap::new(),
        base: host.now_ms().saturating_sub(BASE_BEFORE_NOW_MS),
    };
    for s in &scenario.sessions {
        match host.create_session(&s.name, s.metadata.clone()) {
            Ok(id) => names.add(&s.label, id),
            Err(e) => problems.push(format!("session {}: failed with {e:?}", s.label)),
        }
    }
    for spec in &scenario.checkpoints {
        let label = spec.get("label").and_then(Value::as_str).unwrap_or("");
        let (input, state) = names.checkpoint(spec);
        match host.checkpoint(input, &state) {
            Ok(id) => names.add(label, id),
            Err(e) => problems.push(format!("checkpoint {label}: failed with {e:?}")),
        }
    }
    for a in &scenario.annotations {
        if let Err(e) = host.annotate(&names.id(&a.checkpoint), &a.note, &a.severity) {
            problems.push(format!("annotation on {}: failed with {e:?}", a.checkpoint));
        }
    }
    for label in &scenario.restores {
        if let Err(e) = host.restore(&names.id(label)) {
            problems.push(format!("restore {label}: failed with {e:?}"));
        }
    }
    for q in &scenario.queries {
        let expected: Vec<Vec<String>> = if q.pages.is_empty() {
            alloc::vec![q.expect.clone()]
        } else {
            q.pages.clone()
        };
        let mut got: Vec<Vec<String>> = Vec::new();
        let mut query = names.query(&q.query);
        loop {
            match host.list(query.clone()) {
                Ok((ids, next)) => {
                    got.push(ids.iter().map(|id| names.label(id)).collect());
                    match next {
                        Some(cursor) if !q.pages.is_empty() && got.len() <= expected.len() => {
                            query.cursor = Some(cursor);
                        }
                        _ => break,
                    }
                }
                Err(e) => {
                    problems.push(format!("query {:?}: failed with {e:?}", q.about));
                    break;
                }
            }
        }
        if got != expected {
            problems.push(format!(
                "query {:?}: expected {expected:?}, got {got:?}",
                q.about
            ));
        }
    }
    for p in &scenario.plans {
        match host.plan(names.policy(&p.policy)) {
            Ok((remove, protected)) => {
                let got = (names.labelled(remove), names.labelled(protected));
                let expected = (p.remove.clone(), p.protected.clone());
                if got != expected {
                    problems.push(format!(
                        "plan {:?}: expected {expected:?}, got {got:?}",
                        p.about
                    ));
                }
            }
            Err(e) => problems.push(format!("plan {:?}: failed with {e:?}", p.about)),
        }
    }
    for e in &scenario.errors {
        let result = match e.op.as_str() {
            "checkpoint" => {
                let mut spec = e.input.clone();
                spec.insert("label".into(), Value::from("error"));
                let (input, state) = names.checkpoint(&spec);
                host.checkpoint(input, &state).map(|_| ())
            }
            "list" => host.list(names.query(&e.query)).map(|_| ()),
            "plan" => host.plan(names.policy(&e.policy)).map(|_| ()),
            "annotate" => host.annotate(&names.id(&e.checkpoint), "note", &e.severity),
            "importJson" => host.import_json(&e.text),
            "importBinary" => host.import_binary(e.text.as_bytes()),
            other => panic!("parity.json: unknown op {other}"),
        };
        let expected = Failure {
            code: e.code.clone(),
            kind: e.kind.clone(),
        };
        match result {
            Err(failure) if failure == expected => {}
            Err(failure) if e.typed && failure == Failure::unrepresentable() => {}
            Err(failure) => problems.push(format!(
                "error {:?}: expected {expected:?}, got {failure:?}",
                e.about
            )),
            Ok(()) => problems.push(format!("error {:?}: the operation succeeded", e.about)),
        }
    }
    for a in &scenario.autos {
        let mut input = CheckpointInput::new(names.id(&a.session), a.message.clone());
        input.created_at = Some(names.base + a.at);
        let got = match host.auto_checkpoint(input, b"{}", &a.reason) {
            Ok(Some(_)) => "created",
            Ok(None) => "skipped",
            Err(e) => {
                problems.push(format!("auto {:?}: failed with {e:?}", a.about));
                continue;
            }
        };
        if got != a.expect {
            problems.push(format!(
                "auto {:?}: expected {}, got {got}",
                a.about, a.expect
            ));
        }
    }
    problems
}

/// The engine itself as a [`ParityHost`]: the inputs converted by the API layer, as every
/// binding converts them.
impl<B: Backend, E: Env> ParityHost for Store<B, E> {
    fn now_ms(&mut self) -> u64 {
        self.env_mut().now_ms()
    }

    fn create_session(
        &mut self,
        name: &str,
        metadata: Map<String, Value>,
    ) -> Result<String, Failure> {
        Ok(Store::create_session(self, name, metadata)?.to_string())
    }

    fn checkpoint(&mut self, input: CheckpointInput, state: &[u8]) -> Result<String, Failure> {
        let new = input.into_new(state, &[])?;
        Ok(Store::checkpoint(self, new)?.id.to_string())
    }

    fn auto_checkpoint(
        &mut self,
        input: CheckpointInput,
        state: &[u8],
        reason: &str,
    ) -> Result<Option<String>, Failure> {
        let new = input.into_new(state, &[])?;
        Ok(Store::auto_checkpoint(self, new, reason)?.map(|c| c.id.to_string()))
    }

    fn annotate(&mut self, id: &str, note: &str, severity: &str) -> Result<(), Failure> {
        let severity = crate::api::parse_severity(severity)?;
        Store::annotate(self, crate::api::parse_checkpoint_id(id)?, note, severity)?;
        Ok(())
    }

    fn restore(&mut self, id: &str) -> Result<(), Failure> {
        Store::restore(self, crate::api::parse_checkpoint_id(id)?)?;
        Ok(())
    }

    fn import_json(&mut self, text: &str) -> Result<(), Failure> {
        Store::import_json(self, text.as_bytes())?;
        Ok(())
    }

    fn import_binary(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        Store::import_binary(self, bytes)?;
        Ok(())
    }

    fn list(&mut self, query: QueryInput) -> Result<(Vec<String>, Option<String>), Failure> {
        let page = Store::list(self, &Query::try_from(query)?)?;
        let ids = page.items.iter().map(|c| c.id.to_string()).collect();
        Ok((ids, page.next.map(|c| c.to_string())))
    }

    fn plan(
        &mut self,
        policy: RetentionInput,
    ) -> Result<(Vec<(String, String)>, Vec<(String, String)>), Failure> {
        let plan = self.plan_compaction(&RetentionPolicy::try_from(policy)?)?;
        let view = PlanView::from(&plan);
        Ok((
            view.remove
                .iter()
                .map(|r| (r.id.to_string(), r.reason.into()))
                .collect(),
            view.protected
                .iter()
                .map(|k| (k.id.to_string(), k.reason.into()))
                .collect(),
        ))
    }
}
