//! Input checks: one set, used by live writes, throttled automatic checkpoints and both
//! imports, so what one path refuses every path refuses.
//!
//! Each check returns [`Error::LimitExceeded`] for a configured limit and
//! [`Error::InvalidInput`] for malformed input; an import wraps the latter into its own
//! rejection naming the checkpoint. Nothing here looks at the store's contents (ids, sessions,
//! parents): those checks need the index and live beside the writes.

use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{Map, Value};

use crate::checkpoint::{Trigger, canonical_metadata};
use crate::error::{Error, LimitKind, Result};
use crate::limits::{Limits, MAX_METADATA_DEPTH};

/// What describes a checkpoint, as checked before anything is stored.
pub(crate) struct CheckpointFields<'a> {
    pub message: &'a str,
    pub state_len: usize,
    pub namespace: &'a str,
    pub content_type: &'a str,
    /// Sorted and unique: live writes pass them through [`normalise_tags`] first; an import
    /// must bring them so, because the hash covers them as they are.
    pub tags: &'a [String],
    pub metadata: &'a Map<String, Value>,
    pub trigger: &'a Trigger,
}

/// Checks a checkpoint's description against `limits`; returns its metadata as the canonical
/// JSON text the log stores and the hash covers.
pub(crate) fn checkpoint(limits: &Limits, f: &CheckpointFields<'_>) -> Result<String> {
    if f.message.trim().is_empty() {
        return Err(Error::InvalidInput("checkpoint message is empty".into()));
    }
    within(
        LimitKind::MessageBytes,
        limits.max_message_bytes,
        f.message.len(),
    )?;
    within(LimitKind::StateBytes, limits.max_state_bytes, f.state_len)?;
    within(
        LimitKind::NamespaceBytes,
        limits.max_namespace_bytes,
        f.namespace.len(),
    )?;
    within(
        LimitKind::ContentTypeBytes,
        limits.max_content_type_bytes,
        f.content_type.len(),
    )?;
    tags(limits, f.tags)?;
    let metadata = metadata(limits, f.metadata)?;
    if let Trigger::Automatic { reason } = f.trigger {
        within(
            LimitKind::MessageBytes,
            limits.max_message_bytes,
            reason.len(),
        )?;
    }
    Ok(metadata)
}

/// Sorts tags and drops repeats: a checkpoint's tags are a set.
pub(crate) fn normalise_tags(tags: &mut Vec<String>) {
    tags.sort_unstable();
    tags.dedup();
}

fn tags(limits: &Limits, tags: &[String]) -> Result<()> {
    within(LimitKind::TagCount, limits.max_tags, tags.len())?;
    for tag in tags {
        within(LimitKind::TagBytes, limits.max_tag_bytes, tag.len())?;
        if tag.is_empty() {
            return Err(Error::InvalidInput(
                "tags must be sorted, unique and non-empty: one is empty".into(),
            ));
        }
    }
    if tags.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::InvalidInput(
            "tags must be sorted, unique and non-empty: they are out of order or repeat".into(),
        ));
    }
    Ok(())
}

/// Checks a metadata object's nesting and size; returns its canonical JSON text.
pub(crate) fn metadata(limits: &Limits, metadata: &Map<String, Value>) -> Result<String> {
    fn within_depth(value: &Value, levels: usize) -> bool {
        match value {
            Value::Array(items) => levels > 0 && items.iter().all(|v| within_depth(v, levels - 1)),
            Value::Object(map) => levels > 0 && map.values().all(|v| within_depth(v, levels - 1)),
            _ => true,
        }
    }
    if !metadata
        .values()
        .all(|v| within_depth(v, MAX_METADATA_DEPTH - 1))
    {
        return Err(Error::InvalidInput(alloc::format!(
            "metadata is nested deeper than {MAX_METADATA_DEPTH} levels"
        )));
    }
    let text = canonical_metadata(metadata);
    within(
        LimitKind::MetadataBytes,
        limits.max_metadata_bytes,
        text.len(),
    )?;
    Ok(text)
}

/// Checks a new session's name and metadata; returns the metadata's canonical JSON text.
pub(crate) fn session(limits: &Limits, name: &str, meta: &Map<String, Value>) -> Result<String> {
    if name.trim().is_empty() {
        return Err(Error::InvalidInput("session name is empty".into()));
    }
    within(LimitKind::NameBytes, limits.max_name_bytes, name.len())?;
    metadata(limits, meta)
}

/// Checks an annotation's note.
pub(crate) fn annotation(limits: &Limits, note: &str) -> Result<()> {
    within(LimitKind::NoteBytes, limits.max_note_bytes, note.len())?;
    if note.trim().is_empty() {
        return Err(Error::InvalidInput("annotation note is empty".into()));
    }
    Ok(())
}

/// Checks one attachment's key, content type and size.
pub(crate) fn attachment(limits: &Limits, key: &str, content_type: &str, len: usize) -> Result<()> {
    within(
        LimitKind::AttachmentKeyBytes,
        limits.max_attachment_key_bytes,
        key.len(),
    )?;
    within(LimitKind::AttachmentBytes, limits.max_attachment_bytes, len)?;
    within(
        LimitKind::ContentTypeBytes,
        limits.max_content_type_bytes,
        content_type.len(),
    )
}

/// Checks the attachments written with one checkpoint: each on its own, and their keys
/// distinct (two with one key would replace each other inside one transaction, freeing chunks
/// that later records of it rely on).
pub(crate) fn attachments<'a>(
    limits: &Limits,
    items: impl IntoIterator<Item = (&'a str, &'a str, usize)>,
) -> Result<()> {
    let mut keys: Vec<&str> = Vec::new();
    for (key, content_type, len) in items {
        attachment(limits, key, content_type, len)?;
        if keys.contains(&key) {
            return Err(Error::InvalidInput(alloc::format!(
                "attachment key {key:?} appears twice"
            )));
        }
        keys.push(key);
    }
    Ok(())
}

/// Checks an import's size before it is parsed.
pub(crate) fn import_size(limits: &Limits, len: usize) -> Result<()> {
    within(LimitKind::ImportBytes, limits.max_import_bytes, len)
}

fn within(kind: LimitKind, limit: u64, actual: usize) -> Result<()> {
    Limits::check(kind, limit, actual as u64)
}
