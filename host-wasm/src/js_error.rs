//! Engine errors as JavaScript `Error`s carrying a stable `code`.
//!
//! The package's JavaScript layer turns these into `RewindError` subclasses by code; a bare
//! string never crosses the boundary.

use rewind_core::Error;
use wasm_bindgen::JsValue;

use crate::error_code::error_code;

/// A JavaScript `Error` with `code` set to the engine error's stable code.
pub fn to_js(err: Error) -> JsValue {
    js_error(error_code(&err), &err.to_string())
}

/// A JavaScript `Error` with the given code and message.
pub fn js_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

/// Input that did not parse (a malformed options object, a bad id).
pub fn invalid(message: impl std::fmt::Display) -> JsValue {
    js_error("INVALID_INPUT", &message.to_string())
}
