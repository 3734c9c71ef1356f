//! The native host's error type: the engine's errors plus what files and locks can do wrong.

use std::fmt;
use std::io;
use std::path::PathBuf;

use rewind_core::CorruptKind;

/// Every error the native host returns.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The engine refused or failed the operation (unknown id, limit, hash mismatch, ...).
    Store(rewind_core::Error),
    /// Another writer holds the store.
    Locked {
        /// The store directory.
        path: PathBuf,
        /// The holder's process id, when it could be read.
        pid: Option<u32>,
    },
    /// A file operation failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// A segment file is damaged before its end (not a torn tail): the store does not open.
    /// `rewind repair` salvages every valid record into a new store.
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damaged frame within the file.
        offset: u64,
        /// What is wrong.
        kind: CorruptKind,
    },
    /// The directory is not a rewind store (or is one from an incompatible version).
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A store location that cannot be used: a URL with an unknown scheme, a scheme this build
    /// was made without, or a malformed URL (see [`StoreLocation`](crate::StoreLocation)).
    Location {
        /// The location as given (a URL's password left out).
        location: String,
        /// Why.
        reason: String,
    },
    /// A database server refused or failed what a store asked of it (connecting, creating
    /// the schema, a store missing on it).
    Server {
        /// What was being done.
        op: &'static str,
        /// The server's (or the connection's) message.
        message: String,
        /// The SQLSTATE code, when the server sent one.
        code: Option<String>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Store(err) => fmt::Display::fmt(err, f),
            Error::Locked {
                path,
                pid: Some(pid),
            } => write!(f, "store {} is locked by pid {pid}", path.display()),
            Error::Locked { path, pid: None } => {
                write!(f, "store {} is locked by another process", path.display())
            }
            Error::Io { path, op, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
            Error::Corrupt { file, offset, kind } => write!(
                f,
                "{} is corrupt at byte {offset}: {kind} (run `rewind repair` to salvage)",
                file.display()
            ),
            Error::NotAStore { path, reason } => {
                write!(f, "{} is not a rewind store: {reason}", path.display())
            }
            Error::Location { location, reason } => {
                write!(f, "cannot use the store location {location:?}: {reason}")
            }
            Error::Server {
                op,
                message,
                code: Some(code),
            } => write!(f, "cannot {op}: {message} (SQLSTATE {code})"),
            Error::Server {
                op,
                message,
                code: None,
            } => write!(f, "cannot {op}: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(err) => Some(err),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<rewind_core::Error> for Error {
    fn from(err: rewind_core::Error) -> Self {
        Error::Store(err)
    }
}

impl From<rewind_core::BackendError> for Error {
    fn from(err: rewind_core::BackendError) -> Self {
        Error::Store(rewind_core::Error::Backend(err))
    }
}

impl Error {
    /// The engine error inside, if this is one.
    pub fn as_store_error(&self) -> Option<&rewind_core::Error> {
        match self {
            Error::Store(err) => Some(err),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }
}

/// Result alias of the native host.
pub type Result<T, E = Error> = std::result::Result<T, E>;
