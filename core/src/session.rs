//! Sessions: one agent run (or one LangGraph thread) and the tree of checkpoints it made.

use alloc::string::String;

use serde_json::{Map, Value};

use crate::id::{CheckpointId, SessionId};

/// A session. Its **head** is the checkpoint the next checkpoint continues from by default;
/// [`restore`](crate::Store::restore) moves it, which is how a session forks.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "api",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
#[non_exhaustive]
pub struct Session {
    /// Unique id.
    pub id: SessionId,
    /// Human-readable name (need not be unique).
    pub name: String,
    /// Free-form JSON metadata (an object).
    pub metadata: Map<String, Value>,
    /// Creation time, Unix milliseconds.
    pub created_at: u64,
    /// Where the next checkpoint continues from.
    pub head: Option<CheckpointId>,
    /// Number of checkpoints in the session.
    pub checkpoints: u64,
}
