//! Engine errors as JavaScript `Error`s carrying a stable `code` and `kind`.
//!
//! The package's JavaScript layer turns these into `RewindError` subclasses by kind; a bare
//! string never crosses the boundary.

use rewind_core::{BackendError, Error, ErrorKind};
use wasm_bindgen::JsValue;

/// A JavaScript `Error` with the engine error's stable code and kind.
///
/// A read of log bytes the store does not hold (a store opened through its snapshot fetches the
/// rest of its log on demand) also carries `missingAt`: the position of the first missing byte,
/// which the JavaScript layer fetches before it asks again.
pub fn to_js(err: Error) -> JsValue {
    let error = js_error(err.code(), err.kind(), &err.to_string());
    if let Error::Backend(BackendError::OutOfRange { pos, .. }) = &err {
        let _ = js_sys::Reflect::set(&error, &"missingAt".into(), &(*pos as f64).into());
    }
    error
}

/// A JavaScript `Error` with the given code, kind and message.
pub fn js_error(code: &str, kind: ErrorKind, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    let _ = js_sys::Reflect::set(&error, &"kind".into(), &kind.as_str().into());
    error.into()
}

/// Input that did not parse (a malformed options object or query).
pub fn invalid(message: impl std::fmt::Display) -> JsValue {
    to_js(Error::InvalidInput(message.to_string()))
}

/// An error of the native store's files (a Node.js file store) as a JavaScript `Error`: the
/// engine's own errors as [`to_js`] makes them, the lock as `LOCKED`, a damaged segment as
/// `CORRUPT` naming the file and offset, a directory that holds no store as `NOT_A_STORE`, and a
/// failed file call as `STORAGE_FAILED` (`STORAGE_FULL` when the disk or quota is full).
pub fn files_error(err: rewind::Error) -> JsValue {
    let message = err.to_string();
    match err {
        rewind::Error::Store(err) => to_js(err),
        rewind::Error::Locked { .. } => js_error("LOCKED", ErrorKind::Storage, &message),
        rewind::Error::Corrupt { .. } => js_error("CORRUPT", ErrorKind::Corrupt, &message),
        rewind::Error::NotAStore { .. } => js_error("NOT_A_STORE", ErrorKind::NotFound, &message),
        rewind::Error::Io { source, .. } => {
            let full = matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            );
            let code = if full {
                "QUOTA_EXCEEDED"
            } else {
                "STORAGE_FAILED"
            };
            js_error(code, ErrorKind::Storage, &message)
        }
        _ => js_error("STORAGE_FAILED", ErrorKind::Storage, &message),
    }
}
