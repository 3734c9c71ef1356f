//! The component's imports as the engine sees them: the host's `backend` as a [`Backend`],
//! its `host-env` as an [`Env`].

use std::sync::Arc;

use rewind_core::backend::{LoadReport, Visitor};
use rewind_core::{Backend, BackendError, Env, Error, SnapshotBytes};

use crate::rewind::store::{backend, host_env};

/// The engine's backend: the host's `backend` import.
pub struct HostBackend;

fn host(err: String) -> BackendError {
    BackendError::Io(err)
}

/// Fills `buf` (read at `pos`) with what a host read returned: exactly that many bytes.
fn fill(pos: u64, buf: &mut [u8], read: Result<Vec<u8>, String>) -> Result<(), BackendError> {
    let bytes = read.map_err(host)?;
    if bytes.len() != buf.len() {
        return Err(BackendError::OutOfRange {
            pos,
            len: buf.len() as u64,
        });
    }
    buf.copy_from_slice(&bytes);
    Ok(())
}

/// Replays what the host's `load` or `load-from` gave.
fn replay(loaded: backend::Loaded, visit: &mut Visitor<'_>) -> Result<LoadReport, Error> {
    let mut report = LoadReport::default();
    for frame in loaded.frames {
        visit(frame.pos, &frame.payload)?;
        report.frames += 1;
    }
    report.truncated_bytes = loaded.truncated_bytes;
    report.log_bytes = loaded.log_bytes;
    report.format_version = loaded.format_version;
    Ok(report)
}

/// The host's stored index snapshot, read a block at a time as the engine needs it (the
/// engine keeps and checks each block it read).
struct HostSnapshot {
    len: u64,
}

impl SnapshotBytes for HostSnapshot {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        fill(pos, buf, backend::read_snapshot(pos, buf.len() as u32))
    }
}

impl Backend for HostBackend {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        backend::append(frames).map_err(host)
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        backend::sync().map_err(host)
    }
    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, Error> {
        let loaded = backend::load().map_err(|e| Error::Backend(host(e)))?;
        replay(loaded, visit)
    }
    fn load_from(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Option<LoadReport>, Error> {
        match backend::load_from(from).map_err(|e| Error::Backend(host(e)))? {
            Some(loaded) => replay(loaded, visit).map(Some),
            None => Ok(None),
        }
    }
    fn keeps_snapshots(&self) -> bool {
        backend::keeps_snapshots()
    }
    fn open_snapshot(&mut self) -> Result<Option<Arc<dyn SnapshotBytes>>, BackendError> {
        Ok(backend::snapshot_len()
            .map_err(host)?
            .map(|len| Arc::new(HostSnapshot { len }) as Arc<dyn SnapshotBytes>))
    }
    fn read_snapshot(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        let Some(len) = backend::snapshot_len().map_err(host)? else {
            return Ok(None);
        };
        let len = u32::try_from(len).map_err(|_| host("the index snapshot is too large".into()))?;
        backend::read_snapshot(0, len).map(Some).map_err(host)
    }
    fn write_snapshot(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        backend::write_snapshot(bytes).map_err(host)
    }
    fn read_snapshot_delta(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        backend::read_snapshot_delta().map_err(host)
    }
    fn write_snapshot_delta(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        backend::write_snapshot_delta(bytes).map_err(host)
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        fill(pos, buf, backend::read_at(pos, buf.len() as u32))
    }
    fn read_runs(&self, runs: &[(u64, u32)], out: &mut Vec<u8>) -> Result<(), BackendError> {
        // One host call for all of them. The host's list arrives in this instance's memory
        // already: an empty `out` (a state being read) takes it as it is.
        let bytes = backend::read_runs(runs).map_err(host)?;
        if out.is_empty() {
            *out = bytes;
        } else {
            out.extend_from_slice(&bytes);
        }
        Ok(())
    }
    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        backend::begin_rewrite().map_err(host)
    }
    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        backend::rewrite_append(frames).map_err(host)
    }
    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        backend::commit_rewrite().map_err(host)
    }
    fn abort_rewrite(&mut self) {
        backend::abort_rewrite()
    }
}

/// The engine's clock and entropy: the host's `host-env` import.
pub struct HostEnv;

impl Env for HostEnv {
    fn now_ms(&mut self) -> u64 {
        host_env::now_ms()
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        let bytes = host_env::random_bytes(buf.len() as u32);
        for (dst, src) in buf.iter_mut().zip(bytes) {
            *dst = src;
        }
    }
}
