//! Engine errors as JavaScript `Error`s carrying a stable `code` and `kind`.
//!
//! The package's JavaScript layer turns these into `RewindError` subclasses by kind; a bare
//! string never crosses the boundary.

use rewind_core::{Error, ErrorKind};
use wasm_bindgen::JsValue;

/// A JavaScript `Error` with the engine error's stable code and kind.
pub fn to_js(err: Error) -> JsValue {
    js_error(err.code(), err.kind(), &err.to_string())
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
