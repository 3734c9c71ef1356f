//! Where a JavaScript store keeps its log: in memory or IndexedDB rows ([`LogBackend`], which
//! the JavaScript layer persists), or the native store's files in Node.js ([`FileBackend`]
//! over `node:fs`, see [`crate::node_files`]), which write themselves.

use std::sync::Arc;

use rewind::FileBackend;
use rewind_core::backend::{LoadReport, Refresh, Visitor};
use rewind_core::snapshot::SnapshotMerge;
use rewind_core::{Backend, BackendError, Error, SnapshotBytes};

use crate::log_backend::LogBackend;

/// The backend of a [`WasmStore`](crate::WasmStore).
#[derive(Debug)]
pub enum StoreBackend {
    /// Memory and IndexedDB stores.
    Log(LogBackend),
    /// Node.js file stores (boxed: the file backend is the larger by far, and a store holds
    /// one backend for its life).
    Files(Box<FileBackend>),
}

impl StoreBackend {
    /// The log of a memory or IndexedDB store (`None` for files).
    pub fn log(&self) -> Option<&LogBackend> {
        match self {
            StoreBackend::Log(log) => Some(log),
            StoreBackend::Files(_) => None,
        }
    }

    /// The log of a memory or IndexedDB store, to change (`None` for files).
    pub fn log_mut(&mut self) -> Option<&mut LogBackend> {
        match self {
            StoreBackend::Log(log) => Some(log),
            StoreBackend::Files(_) => None,
        }
    }
}

/// Runs `$e` with `$b` bound to whichever backend `$self` holds.
macro_rules! each {
    ($self:expr, $b:ident => $e:expr) => {
        match $self {
            StoreBackend::Log($b) => $e,
            StoreBackend::Files($b) => $e,
        }
    };
}

impl Backend for StoreBackend {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        each!(self, b => b.append(frames))
    }
    fn append_closing(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        each!(self, b => b.append_closing(frames))
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        each!(self, b => b.sync())
    }
    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, Error> {
        each!(self, b => b.load(visit))
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        each!(self, b => b.read_at(pos, buf))
    }
    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        each!(self, b => b.begin_rewrite())
    }
    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        each!(self, b => b.rewrite_append(frames))
    }
    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        each!(self, b => b.commit_rewrite())
    }
    fn abort_rewrite(&mut self) {
        each!(self, b => b.abort_rewrite())
    }
    fn is_read_only(&self) -> bool {
        each!(self, b => b.is_read_only())
    }
    fn refresh(&mut self, from: u64, visit: &mut Visitor<'_>) -> Result<Refresh, Error> {
        each!(self, b => b.refresh(from, visit))
    }
    fn load_from(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Option<LoadReport>, Error> {
        each!(self, b => b.load_from(from, visit))
    }
    fn keeps_snapshots(&self) -> bool {
        each!(self, b => b.keeps_snapshots())
    }
    fn open_snapshot(&mut self) -> Result<Option<Arc<dyn SnapshotBytes>>, BackendError> {
        each!(self, b => b.open_snapshot())
    }
    fn read_snapshot_delta(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        each!(self, b => b.read_snapshot_delta())
    }
    fn write_snapshot_delta(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        each!(self, b => b.write_snapshot_delta(bytes))
    }
    fn read_snapshot(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        each!(self, b => b.read_snapshot())
    }
    fn write_snapshot(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        each!(self, b => b.write_snapshot(bytes))
    }
    fn runs_snapshot_merges(&self) -> bool {
        each!(self, b => b.runs_snapshot_merges())
    }
    fn start_snapshot_merge(&mut self, merge: SnapshotMerge) -> bool {
        each!(self, b => b.start_snapshot_merge(merge))
    }
    fn snapshot_merge_done(&mut self, wait: bool) -> Option<bool> {
        each!(self, b => b.snapshot_merge_done(wait))
    }
    fn install_merged_snapshot(&mut self) -> Result<bool, BackendError> {
        each!(self, b => b.install_merged_snapshot())
    }
    fn discard_merged_snapshot(&mut self) {
        each!(self, b => b.discard_merged_snapshot())
    }
}
