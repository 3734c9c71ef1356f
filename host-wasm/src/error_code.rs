//! Stable error codes: the `code` property of every error the JavaScript API throws.
//!
//! Codes are part of the public contract (scripts switch on them), so a code, once published,
//! never changes meaning. They are SCREAMING_SNAKE_CASE and independent of the message text.

use rewind_core::{BackendError, CorruptKind, Error};

/// The stable code for an engine error.
pub fn error_code(err: &Error) -> &'static str {
    match err {
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
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewind_core::{CheckpointId, LimitKind};

    #[test]
    fn codes_are_stable_and_specific() {
        let id = CheckpointId::from_bytes([1; 16]);
        assert_eq!(
            error_code(&Error::CheckpointNotFound(id)),
            "CHECKPOINT_NOT_FOUND"
        );
        assert_eq!(
            error_code(&Error::LimitExceeded {
                kind: LimitKind::StateBytes,
                limit: 1,
                actual: 2
            }),
            "LIMIT_EXCEEDED"
        );
        assert_eq!(
            error_code(&Error::Corrupt {
                at: 0,
                kind: CorruptKind::UnknownRecord(40)
            }),
            "UNKNOWN_RECORD"
        );
        assert_eq!(
            error_code(&Error::Backend(BackendError::Full("quota".into()))),
            "QUOTA_EXCEEDED"
        );
        assert_eq!(
            error_code(&Error::Backend(BackendError::Io("x".into()))),
            "STORAGE_FAILED"
        );
    }
}
