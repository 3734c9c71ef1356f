//! Limits on what one call may store, checked before anything is written.
//!
//! The defaults suit agent reasoning states (conversations, scratchpads, tool results); raise
//! them for larger states. Every limit is enforced with [`Error::LimitExceeded`] naming the limit,
//! its value and what the input had.
//!
//! Two ceilings hold whatever the limits say, because the log could not be read back past them:
//! a state or attachment is at most [`MAX_BLOB_BYTES`] (one log frame holds at most 1 GiB), and
//! metadata nests at most [`MAX_METADATA_DEPTH`] levels (JSON readers stop at 128).

use crate::error::{Error, LimitKind};

/// Largest state or attachment, whatever [`Limits`] allow: with its record it must fit in one
/// log frame of at most 1 GiB.
pub const MAX_BLOB_BYTES: u64 = (1 << 30) - (16 << 20);

/// Deepest nesting of metadata (objects and arrays, the metadata object itself included).
pub const MAX_METADATA_DEPTH: usize = 64;

/// Configurable limits. `Limits::default()` gives the documented defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest state of one checkpoint (default 64 MiB).
    pub max_state_bytes: u64,
    /// Longest checkpoint message (default 4 KiB).
    pub max_message_bytes: u64,
    /// Most tags on one checkpoint (default 64).
    pub max_tags: u64,
    /// Longest tag (default 128 bytes).
    pub max_tag_bytes: u64,
    /// Largest metadata object, as compact JSON (default 64 KiB).
    pub max_metadata_bytes: u64,
    /// Longest namespace (default 256 bytes).
    pub max_namespace_bytes: u64,
    /// Longest session name (default 256 bytes).
    pub max_name_bytes: u64,
    /// Longest content type (default 128 bytes).
    pub max_content_type_bytes: u64,
    /// Longest annotation note (default 16 KiB).
    pub max_note_bytes: u64,
    /// Largest attachment (default 16 MiB).
    pub max_attachment_bytes: u64,
    /// Longest attachment key (default 256 bytes).
    pub max_attachment_key_bytes: u64,
    /// Largest import, JSON or binary (default 1 GiB).
    pub max_import_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_state_bytes: 64 << 20,
            max_message_bytes: 4 << 10,
            max_tags: 64,
            max_tag_bytes: 128,
            max_metadata_bytes: 64 << 10,
            max_namespace_bytes: 256,
            max_name_bytes: 256,
            max_content_type_bytes: 128,
            max_note_bytes: 16 << 10,
            max_attachment_bytes: 16 << 20,
            max_attachment_key_bytes: 256,
            max_import_bytes: 1 << 30,
        }
    }
}

impl Limits {
    pub(crate) fn check(kind: LimitKind, limit: u64, actual: u64) -> Result<(), Error> {
        let limit = match kind {
            LimitKind::StateBytes | LimitKind::AttachmentBytes => limit.min(MAX_BLOB_BYTES),
            _ => limit,
        };
        if actual > limit {
            Err(Error::LimitExceeded {
                kind,
                limit,
                actual,
            })
        } else {
            Ok(())
        }
    }
}
