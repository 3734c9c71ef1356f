//! An index snapshot left in JavaScript memory.
//!
//! IndexedDB hands a store's snapshot to the page as one buffer of its own (tens of MB for a
//! store of 100,000 checkpoints). The engine reads a snapshot in place, a block at a time, and
//! an open touches a few blocks of it (see `rewind_core::snapshot`), so the buffer is not
//! copied into the module's memory: [`JsSnapshot`] copies each block the index reads, when it
//! first reads it. An open then costs what it reads, and the module's memory grows with the
//! blocks in use rather than with the store.

use js_sys::Uint8Array;
use rewind_core::{BackendError, SnapshotBytes};

/// A snapshot's bytes held by JavaScript, read a range at a time (see the module docs).
#[derive(Debug)]
pub struct JsSnapshot {
    bytes: Uint8Array,
    len: u64,
}

impl JsSnapshot {
    /// The snapshot `bytes` (not copied).
    pub fn new(bytes: Uint8Array) -> JsSnapshot {
        let len = u64::from(bytes.length());
        JsSnapshot { bytes, len }
    }
}

// SAFETY: the module is built for wasm32 without the `atomics` feature, so it runs on one
// thread and a `JsSnapshot` is never reached from another (the engine asks for `Send + Sync`
// so that native hosts can read a snapshot from several threads). A build with threads does
// not compile these, and so cannot use this type where they are required.
#[cfg(not(target_feature = "atomics"))]
unsafe impl Send for JsSnapshot {}
#[cfg(not(target_feature = "atomics"))]
unsafe impl Sync for JsSnapshot {}

impl SnapshotBytes for JsSnapshot {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        let out_of_range = BackendError::OutOfRange {
            pos,
            len: buf.len() as u64,
        };
        let end = pos
            .checked_add(buf.len() as u64)
            .filter(|end| *end <= self.len)
            .ok_or(out_of_range.clone())?;
        // Within `len`, which is a u32.
        let (start, end) = (pos as u32, end as u32);
        self.bytes.subarray(start, end).copy_to(buf);
        Ok(())
    }
}
