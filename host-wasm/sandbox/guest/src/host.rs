//! The component's imports as the engine sees them: the host's `backend` as a [`Backend`],
//! its `host-env` as an [`Env`].

use rewind_core::backend::{LoadReport, Visitor};
use rewind_core::{Backend, BackendError, Env, Error};

use crate::rewind::store::{backend, host_env};

/// The engine's backend: the host's `backend` import.
pub struct HostBackend;

fn host(err: String) -> BackendError {
    BackendError::Io(err)
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
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        let bytes = backend::read_at(pos, buf.len() as u32).map_err(host)?;
        if bytes.len() != buf.len() {
            return Err(BackendError::OutOfRange {
                pos,
                len: buf.len() as u64,
            });
        }
        buf.copy_from_slice(&bytes);
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
