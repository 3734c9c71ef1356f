//! The error type of rewind-core.
//!
//! One enum for the whole engine. Every variant says what went wrong in terms a caller can act
//! on, and hosts convert it into their own error types (`From` impls live in the hosts).
//! The enum is `#[non_exhaustive]` so new failure modes can be added without breaking callers.
//!
//! Every error also has a stable [code](Error::code) (`CHECKPOINT_NOT_FOUND`) and a
//! [kind](Error::kind), the category a caller acts on. Each host maps a kind the same way — a
//! JavaScript error class, a WIT error kind, a CLI exit code — so one failure reads alike
//! everywhere (the table is in the README).

use alloc::string::String;
use core::fmt;

use crate::id::{CheckpointId, ParseIdError, SessionId};

/// Why a backend operation failed. Hosts wrap their I/O errors in this.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendError {
    /// The medium reported an I/O failure (disk, IndexedDB, a sandbox host).
    Io(String),
    /// The medium is full or over its quota; nothing was written.
    Full(String),
    /// A read asked for bytes that the backend does not hold.
    OutOfRange {
        /// First byte asked for.
        pos: u64,
        /// Number of bytes asked for.
        len: u64,
    },
    /// A rewrite call arrived in the wrong order (append without begin, ...).
    RewriteState(&'static str),
    /// The store was opened read-only: nothing may be written.
    ReadOnly,
    /// Another writer of a shared log (see [`Backend::is_shared`](crate::Backend::is_shared))
    /// appended first, or compacted the log: nothing was written. The store catches up on
    /// what the others wrote and plans the write again; a caller sees this only when that
    /// kept failing (see [`Store::refresh`](crate::Store::refresh)).
    Behind,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Io(msg) => write!(f, "I/O error: {msg}"),
            BackendError::Full(msg) => write!(f, "storage full: {msg}"),
            BackendError::OutOfRange { pos, len } => {
                write!(
                    f,
                    "read of {len} bytes at position {pos} is outside the log"
                )
            }
            BackendError::RewriteState(msg) => write!(f, "log rewrite misused: {msg}"),
            BackendError::ReadOnly => write!(f, "the store is open read-only"),
            BackendError::Behind => write!(
                f,
                "another writer changed the store first, again and again: nothing was written"
            ),
        }
    }
}

impl core::error::Error for BackendError {}

/// Which limit of [`Limits`](crate::Limits) an input broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// State bytes of one checkpoint.
    StateBytes,
    /// Length of a checkpoint message, in bytes.
    MessageBytes,
    /// Number of tags on one checkpoint.
    TagCount,
    /// Length of one tag, in bytes.
    TagBytes,
    /// Encoded size of a metadata object, in bytes.
    MetadataBytes,
    /// Length of a namespace, in bytes.
    NamespaceBytes,
    /// Length of a session name, in bytes.
    NameBytes,
    /// Length of a content type, in bytes.
    ContentTypeBytes,
    /// Length of an annotation note, in bytes.
    NoteBytes,
    /// Bytes of one attachment.
    AttachmentBytes,
    /// Length of an attachment key, in bytes.
    AttachmentKeyBytes,
    /// Size of an import, in bytes.
    ImportBytes,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::StateBytes => "state size",
            LimitKind::MessageBytes => "message length",
            LimitKind::TagCount => "tag count",
            LimitKind::TagBytes => "tag length",
            LimitKind::MetadataBytes => "metadata size",
            LimitKind::NamespaceBytes => "namespace length",
            LimitKind::NameBytes => "session name length",
            LimitKind::ContentTypeBytes => "content type length",
            LimitKind::NoteBytes => "annotation note length",
            LimitKind::AttachmentBytes => "attachment size",
            LimitKind::AttachmentKeyBytes => "attachment key length",
            LimitKind::ImportBytes => "import size",
        })
    }
}

/// What is wrong with a log: which frame, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptKind {
    /// The header does not start with rewind's magic bytes.
    BadMagic,
    /// The header names a format version this build does not read.
    UnsupportedVersion(u16),
    /// A frame's checksum does not match its payload.
    Checksum,
    /// A frame claims a length larger than the format allows.
    FrameTooLarge(u32),
    /// The log ends inside a frame (only an error where a torn tail is not acceptable).
    Truncated,
    /// A record's payload could not be decoded.
    Decode,
    /// A record kind this build does not know (written by a newer version).
    UnknownRecord(u32),
    /// A record refers to something that does not exist or contradicts the store.
    Inconsistent(&'static str),
    /// A seal does not match the log before it: a record was removed, inserted, reordered or
    /// changed since it was written (format version 2).
    ChainBroken,
    /// A segment of the log is missing: the one with this number.
    SegmentMissing(u32),
    /// The index snapshot the store reads in place turned out damaged where it was read (a
    /// block that does not match its checksum, or parts that do not agree): what the store
    /// says may be incomplete, so it refuses to answer or write. The log is not affected: an
    /// open that ignores the snapshot (`Options::use_snapshot(false)`) replays it, and a
    /// writer replaces the snapshot.
    Snapshot,
}

impl fmt::Display for CorruptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptKind::BadMagic => f.write_str("not a rewind log (bad magic bytes)"),
            CorruptKind::UnsupportedVersion(v) => {
                write!(f, "log format version {v} is not supported by this build")
            }
            CorruptKind::Checksum => f.write_str("checksum mismatch"),
            CorruptKind::FrameTooLarge(len) => write!(f, "frame length {len} exceeds the limit"),
            CorruptKind::Truncated => f.write_str("log ends inside a frame"),
            CorruptKind::Decode => f.write_str("record payload cannot be decoded"),
            CorruptKind::UnknownRecord(kind) => {
                write!(
                    f,
                    "unknown record kind {kind} (written by a newer version?)"
                )
            }
            CorruptKind::Inconsistent(what) => write!(f, "inconsistent record: {what}"),
            CorruptKind::ChainBroken => f.write_str(
                "the log's hash chain is broken here: a record before this point was removed, \
                 inserted, reordered or changed",
            ),
            CorruptKind::SegmentMissing(n) => write!(f, "segment {n:08x} of the log is missing"),
            CorruptKind::Snapshot => f.write_str(
                "the index snapshot is damaged where it was read (the log is intact: reopen \
                 without the snapshot, or let a writer replace it)",
            ),
        }
    }
}

/// Every error rewind-core returns.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// No session with this id.
    SessionNotFound(SessionId),
    /// No checkpoint with this id.
    CheckpointNotFound(CheckpointId),
    /// A caller-supplied id is already used in this store.
    DuplicateId(String),
    /// An input is over a configured limit; nothing was stored.
    LimitExceeded {
        /// Which limit.
        kind: LimitKind,
        /// The configured maximum.
        limit: u64,
        /// What the input had.
        actual: u64,
    },
    /// An input is malformed (empty message, metadata that is not an object, bad cursor, ...).
    InvalidInput(String),
    /// The parent given for a checkpoint belongs to another session.
    ParentInOtherSession {
        /// The parent asked for.
        parent: CheckpointId,
        /// The session of the new checkpoint.
        session: SessionId,
    },
    /// A log or export could not be read.
    Corrupt {
        /// Position of the offending frame or record (byte offset in the log, or index in an export).
        at: u64,
        /// What is wrong.
        kind: CorruptKind,
    },
    /// An export or a checkpoint failed hash verification.
    HashMismatch {
        /// The checkpoint whose hash does not match its contents.
        checkpoint: CheckpointId,
        /// Which link is broken.
        detail: &'static str,
    },
    /// An import was rejected; nothing from it was stored.
    ImportRejected(String),
    /// The backend failed; the operation did not take effect.
    Backend(BackendError),
    /// A checkpoint is protected from removal (session head or critical annotation).
    Protected(CheckpointId),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::SessionNotFound(id) => write!(f, "session {id} not found"),
            Error::CheckpointNotFound(id) => write!(f, "checkpoint {id} not found"),
            Error::DuplicateId(id) => write!(f, "id {id} is already used in this store"),
            Error::LimitExceeded {
                kind,
                limit,
                actual,
            } => write!(f, "{kind} is {actual}, over the limit of {limit}"),
            Error::InvalidInput(msg) => write!(f, "invalid input: {msg}"),
            Error::ParentInOtherSession { parent, session } => {
                write!(f, "parent {parent} does not belong to session {session}")
            }
            Error::Corrupt { at, kind } => write!(f, "corrupt data at {at}: {kind}"),
            Error::HashMismatch { checkpoint, detail } => {
                write!(f, "hash mismatch at checkpoint {checkpoint}: {detail}")
            }
            Error::ImportRejected(msg) => write!(f, "import rejected: {msg}"),
            Error::Backend(err) => write!(f, "storage backend failed: {err}"),
            Error::Protected(id) => write!(
                f,
                "checkpoint {id} is protected (session head or critical annotation)"
            ),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Backend(err) => Some(err),
            _ => None,
        }
    }
}

impl From<ParseIdError> for Error {
    fn from(err: ParseIdError) -> Self {
        Error::InvalidInput(alloc::string::ToString::to_string(&err))
    }
}

impl From<BackendError> for Error {
    fn from(err: BackendError) -> Self {
        Error::Backend(err)
    }
}

/// What kind of failure an error is: the category every host maps the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
// Exhaustive on purpose: every binding maps each variant, so a new one must reach them all.
pub enum ErrorKind {
    /// An unknown session or checkpoint.
    NotFound,
    /// Malformed input (an empty message, a bad id, a duplicate id, a parent in another
    /// session, a protected checkpoint); nothing was stored.
    InvalidInput,
    /// An input over a configured limit; nothing was stored.
    LimitExceeded,
    /// A damaged log or export, or one from an unsupported version.
    Corrupt,
    /// Contents that do not match their hash.
    HashMismatch,
    /// An import refused as a whole; nothing from it was stored.
    ImportRejected,
    /// The storage failed or is full; the operation did not take effect.
    Storage,
}

impl ErrorKind {
    /// The kind's stable name: `notFound`, `invalidInput`, `limitExceeded`, `corrupt`,
    /// `hashMismatch`, `importRejected`, `storage`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "notFound",
            ErrorKind::InvalidInput => "invalidInput",
            ErrorKind::LimitExceeded => "limitExceeded",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::HashMismatch => "hashMismatch",
            ErrorKind::ImportRejected => "importRejected",
            ErrorKind::Storage => "storage",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// A stable, machine-readable code: once published, a code never changes meaning.
    /// SCREAMING_SNAKE_CASE and independent of the message text.
    pub fn code(&self) -> &'static str {
        match self {
            Error::SessionNotFound(_) => "SESSION_NOT_FOUND",
            Error::CheckpointNotFound(_) => "CHECKPOINT_NOT_FOUND",
            Error::DuplicateId(_) => "DUPLICATE_ID",
            Error::LimitExceeded { .. } => "LIMIT_EXCEEDED",
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::ParentInOtherSession { .. } => "PARENT_IN_OTHER_SESSION",
            Error::Corrupt {
                kind: CorruptKind::UnknownRecord(_),
                ..
            } => "UNKNOWN_RECORD",
            Error::Corrupt {
                kind: CorruptKind::UnsupportedVersion(_),
                ..
            } => "UNSUPPORTED_VERSION",
            Error::Corrupt { .. } => "CORRUPT",
            Error::HashMismatch { .. } => "HASH_MISMATCH",
            Error::ImportRejected(_) => "IMPORT_REJECTED",
            Error::Backend(BackendError::Full(_)) => "QUOTA_EXCEEDED",
            Error::Backend(_) => "STORAGE_FAILED",
            Error::Protected(_) => "PROTECTED",
        }
    }

    /// The error's category.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::SessionNotFound(_) | Error::CheckpointNotFound(_) => ErrorKind::NotFound,
            Error::DuplicateId(_)
            | Error::InvalidInput(_)
            | Error::ParentInOtherSession { .. }
            | Error::Protected(_) => ErrorKind::InvalidInput,
            Error::LimitExceeded { .. } => ErrorKind::LimitExceeded,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::HashMismatch { .. } => ErrorKind::HashMismatch,
            Error::ImportRejected(_) => ErrorKind::ImportRejected,
            Error::Backend(_) => ErrorKind::Storage,
        }
    }
}

/// Result alias used throughout rewind-core.
pub type Result<T, E = Error> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::CheckpointId;

    #[test]
    fn codes_are_stable_and_kinds_follow_them() {
        let id = CheckpointId::from_bytes([1; 16]);
        let cases = [
            (
                Error::CheckpointNotFound(id),
                "CHECKPOINT_NOT_FOUND",
                ErrorKind::NotFound,
            ),
            (
                Error::LimitExceeded {
                    kind: LimitKind::StateBytes,
                    limit: 1,
                    actual: 2,
                },
                "LIMIT_EXCEEDED",
                ErrorKind::LimitExceeded,
            ),
            (
                Error::Corrupt {
                    at: 0,
                    kind: CorruptKind::UnknownRecord(40),
                },
                "UNKNOWN_RECORD",
                ErrorKind::Corrupt,
            ),
            (
                Error::Backend(BackendError::Full("quota".into())),
                "QUOTA_EXCEEDED",
                ErrorKind::Storage,
            ),
            (
                Error::Backend(BackendError::Io("x".into())),
                "STORAGE_FAILED",
                ErrorKind::Storage,
            ),
            (Error::Protected(id), "PROTECTED", ErrorKind::InvalidInput),
        ];
        for (err, code, kind) in cases {
            assert_eq!((err.code(), err.kind()), (code, kind), "{err}");
        }
    }
}
