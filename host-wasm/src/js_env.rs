//! The JavaScript environment: `Date.now()` for the clock, `crypto.getRandomValues` for entropy.

use rewind_core::Env;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `globalThis.crypto.getRandomValues`, present in browsers, workers and Node.js 19+.
    #[wasm_bindgen(js_namespace = ["globalThis", "crypto"], js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// Entropy fetched per call into JavaScript: ids take 10 bytes each, and a call into
/// `crypto.getRandomValues` costs about as much as the rest of a small checkpoint.
const POOL_BYTES: usize = 1024;

/// [`Env`] for JavaScript hosts. Only usable inside a JavaScript engine (wasm32).
///
/// Not `Clone`: a copy would hand out the same pooled random bytes as the original.
#[derive(Debug)]
pub struct JsEnv {
    /// Random bytes not handed out yet: `pool[used..]`.
    pool: Box<[u8; POOL_BYTES]>,
    used: usize,
}

impl Default for JsEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl JsEnv {
    /// The JavaScript environment.
    pub fn new() -> Self {
        JsEnv {
            pool: Box::new([0; POOL_BYTES]),
            used: POOL_BYTES,
        }
    }

    /// Fills `buf` straight from `crypto.getRandomValues`.
    fn fetch(buf: &mut [u8]) {
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

impl Env for JsEnv {
    fn now_ms(&mut self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn fill_random(&mut self, buf: &mut [u8]) {
        if buf.len() > POOL_BYTES / 4 {
            return Self::fetch(buf);
        }
        if POOL_BYTES - self.used < buf.len() {
            Self::fetch(&mut self.pool[..]);
            self.used = 0;
        }
        let end = self.used + buf.len();
        buf.copy_from_slice(&self.pool[self.used..end]);
        // Bytes handed out are not kept around.
        self.pool[self.used..end].fill(0);
        self.used = end;
    }
}
