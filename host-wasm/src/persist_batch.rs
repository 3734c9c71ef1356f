//! `PersistBatch`: what the JavaScript layer must write to IndexedDB after an operation.

use wasm_bindgen::prelude::*;

use crate::log_backend::Snapshot;

/// Bytes the JavaScript layer must persist: appended frames (and where they start), or a
/// whole new log, and the index snapshot and delta written after them, if any.
#[wasm_bindgen]
pub struct PersistBatch {
    replace: bool,
    at: u64,
    bytes: Vec<u8>,
    snapshot: Snapshot,
}

impl PersistBatch {
    pub(crate) fn new(replace: bool, at: u64, bytes: Vec<u8>, snapshot: Snapshot) -> Self {
        PersistBatch {
            replace,
            at,
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

    /// The log position of the first byte of `bytes` (0 when `replace`): stored rows are
    /// keyed by their position, so a read can fetch the one row that holds what it needs.
    #[wasm_bindgen(getter)]
    pub fn at(&self) -> f64 {
        self.at as f64
    }

    /// Where the rows of `bytes` end (offsets in `bytes`, the last its length): `bytes` split
    /// at frame boundaries into rows of about 256 KiB, so a read of a few frames never
    /// fetches a whole compacted log.
    #[wasm_bindgen(getter, js_name = rowEnds)]
    pub fn row_ends(&self) -> Vec<u32> {
        crate::log_backend::row_ends(&self.bytes, self.replace)
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
        self.snapshot.whole.clone()
    }

    /// The snapshot's delta to store after the bytes (`undefined`: keep the stored one; empty:
    /// delete it). When `replace` is true and there is none, the stored one is deleted.
    #[wasm_bindgen(getter)]
    pub fn delta(&self) -> Option<Vec<u8>> {
        self.snapshot.delta.clone()
    }
}
