//! `PersistBatch`: what the JavaScript layer must write to IndexedDB after an operation.

use wasm_bindgen::prelude::*;

/// Bytes the JavaScript layer must persist: appended frames, or a whole new log, and the
/// index snapshot written after them, if any.
#[wasm_bindgen]
pub struct PersistBatch {
    replace: bool,
    bytes: Vec<u8>,
    snapshot: Option<Vec<u8>>,
}

impl PersistBatch {
    pub(crate) fn new(replace: bool, bytes: Vec<u8>, snapshot: Option<Vec<u8>>) -> Self {
        PersistBatch {
            replace,
            bytes,
            snapshot,
        }
    }
}

#[wasm_bindgen]
impl PersistBatch {
    /// True when `bytes` is a whole new log that replaces the stored one.
    #[wasm_bindgen(getter)]
    pub fn replace(&self) -> bool {
        self.replace
    }

    /// The bytes to write.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The index snapshot to store after the bytes (`undefined` when none was written). When
    /// `replace` is true and there is none, the stored one is deleted: it describes the old
    /// log.
    #[wasm_bindgen(getter)]
    pub fn snapshot(&self) -> Option<Vec<u8>> {
        self.snapshot.clone()
    }
}
