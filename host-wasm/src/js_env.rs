//! The JavaScript environment: `Date.now()` for the clock, `crypto.getRandomValues` for entropy.

use rewind_core::Env;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `globalThis.crypto.getRandomValues`, present in browsers, workers and Node.js 19+.
    #[wasm_bindgen(js_namespace = ["globalThis", "crypto"], js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// [`Env`] for JavaScript hosts. Only usable inside a JavaScript engine (wasm32).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsEnv;

impl JsEnv {
    /// The JavaScript environment.
    pub fn new() -> Self {
        JsEnv
    }
}

impl Env for JsEnv {
    fn now_ms(&mut self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn fill_random(&mut self, buf: &mut [u8]) {
        // getRandomValues takes at most 65,536 bytes per call.
        for chunk in buf.chunks_mut(65_536) {
            if get_random_values(chunk).is_err() {
                // No WebCrypto: fall back to Math.random, which is not cryptographic but keeps
                // ids unique within the store (the store orders them itself).
                for b in chunk.iter_mut() {
                    *b = (js_sys::Math::random() * 256.0) as u8;
                }
            }
        }
    }
}
