//! What a command failure tells the user: one line, and an exit code that means something.
//! An engine error's exit code follows its kind, as its class does in JavaScript and its error
//! kind in WIT (the table is in the README).

use rewind::{Error, ErrorKind};

/// Exit codes (documented in `--help`).
pub mod code {
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const LOCKED: u8 = 4;
    pub const DAMAGED: u8 = 5;
    pub const INVALID: u8 = 6;
    pub const NO_STORE: u8 = 7;
}

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(code::USAGE, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(code::NOT_FOUND, message)
    }
    pub fn no_store(path: &std::path::Path) -> Self {
        Self::new(
            code::NO_STORE,
            format!(
                "no rewind store at {} (`rewind session new` or `rewind checkpoint` creates one; \
                 --store or REWIND_STORE names another)",
                path.display()
            ),
        )
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(code::INVALID, message)
    }
    pub fn damaged(message: impl Into<String>) -> Self {
        Self::new(code::DAMAGED, message)
    }
    pub fn io(what: impl std::fmt::Display, err: std::io::Error) -> Self {
        Self::new(code::FAILURE, format!("{what}: {err}"))
    }
}

/// The exit code of an engine error's kind.
pub fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::NotFound => code::NOT_FOUND,
        ErrorKind::InvalidInput | ErrorKind::LimitExceeded | ErrorKind::ImportRejected => {
            code::INVALID
        }
        ErrorKind::Corrupt | ErrorKind::HashMismatch => code::DAMAGED,
        ErrorKind::Storage => code::FAILURE,
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        let code = match &err {
            Error::Locked { .. } => code::LOCKED,
            Error::Corrupt { .. } | Error::NotAStore { .. } => code::DAMAGED,
            Error::Store(inner) => return Failure::from(inner.clone()),
            _ => code::FAILURE,
        };
        Failure::new(code, err.to_string())
    }
}

impl From<rewind::core::Error> for Failure {
    fn from(err: rewind::core::Error) -> Self {
        Failure::new(exit_code(err.kind()), err.to_string())
    }
}
