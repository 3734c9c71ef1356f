//! Annotations: notes attached to a checkpoint after the fact ("this is where it went wrong").
//!
//! Annotations persist as their own records and are not part of the checkpoint hash (they are
//! commentary on history, not history). A [`Severity::Critical`] annotation protects its
//! checkpoint from compaction unless the policy says otherwise.

use alloc::string::String;

use serde::{Deserialize, Serialize};

/// How much an annotation matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// A remark.
    Info,
    /// Something to look at.
    Warning,
    /// Something that must not be lost: protects the checkpoint from compaction.
    Critical,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" | "warn" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl core::fmt::Display for Severity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A note on a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Annotation {
    /// The text.
    pub note: String,
    /// How much it matters.
    pub severity: Severity,
    /// When it was made, Unix milliseconds.
    pub created_at: u64,
}

impl Annotation {
    /// An annotation with the given note, severity and time.
    pub fn new(note: impl Into<String>, severity: Severity, created_at: u64) -> Self {
        Annotation {
            note: note.into(),
            severity,
            created_at,
        }
    }
}
