//! The `--json` shapes: the engine's API views with snake_case field names, plus the times as
//! RFC 3339 text beside the Unix ms (`created`).

use rewind::core::api::{AnnotationView, CheckpointView, SnakeCase};
use rewind::{Annotation, Checkpoint, Session};
use serde::Serialize;
use serde_json::Value;

use crate::output::rfc3339;

/// Any API view, snake_case.
pub fn view(v: impl Serialize) -> Value {
    serde_json::to_value(SnakeCase(v)).unwrap_or(Value::Null)
}

fn with_created(mut value: Value, created_at: u64) -> Value {
    value["created"] = rfc3339(created_at).into();
    value
}

pub fn checkpoint(cp: &Checkpoint) -> Value {
    with_created(view(CheckpointView::from(cp)), cp.created_at)
}

pub fn session(s: &Session) -> Value {
    with_created(view(s), s.created_at)
}

pub fn annotation(a: &Annotation) -> Value {
    with_created(view(AnnotationView::from(a)), a.created_at)
}

/// Prints a JSON value on one line.
pub fn print(value: &Value) {
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}
