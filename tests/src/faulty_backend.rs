//! A backend wrapper that fails on command: the Nth append, sync, rewrite or commit (the
//! rename that switches generations). It wraps real backends, so the failure lands in the middle
//! of real file work.

use rewind_core::backend::{LoadReport, Visitor};
use rewind_core::{Backend, BackendError};

/// Which call to fail, counted from 1 after arming.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Fail the n-th `append`.
    pub append: Option<u32>,
    /// Fail the n-th `sync`.
    pub sync: Option<u32>,
    /// Fail the n-th `rewrite_append`.
    pub rewrite_append: Option<u32>,
    /// Fail the n-th `commit_rewrite` (the switch to the new generation).
    pub commit: Option<u32>,
}

/// Wraps `B`, failing the calls named in [`Faults`] once each.
#[derive(Debug)]
pub struct FaultyBackend<B> {
    /// The real backend.
    pub inner: B,
    faults: Faults,
    counts: [u32; 4],
    /// How many injected failures have fired.
    pub fired: u32,
}

impl<B: Backend> FaultyBackend<B> {
    /// Wraps `inner` with no faults armed.
    pub fn new(inner: B) -> Self {
        FaultyBackend {
            inner,
            faults: Faults::default(),
            counts: [0; 4],
            fired: 0,
        }
    }

    /// Arms faults; counting restarts.
    pub fn arm(&mut self, faults: Faults) {
        self.faults = faults;
        self.counts = [0; 4];
    }

    fn trip(&mut self, which: usize, at: Option<u32>) -> Result<(), BackendError> {
        self.counts[which] += 1;
        if at == Some(self.counts[which]) {
            self.fired += 1;
            return Err(BackendError::Io(format!("injected failure #{which}")));
        }
        Ok(())
    }
}

impl<B: Backend> Backend for FaultyBackend<B> {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        self.trip(0, self.faults.append)?;
        self.inner.append(frames)
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        self.trip(1, self.faults.sync)?;
        self.inner.sync()
    }
    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, rewind_core::Error> {
        self.inner.load(visit)
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        self.inner.read_at(pos, buf)
    }
    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        self.inner.begin_rewrite()
    }
    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        self.trip(2, self.faults.rewrite_append)?;
        self.inner.rewrite_append(frames)
    }
    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        self.trip(3, self.faults.commit)?;
        self.inner.commit_rewrite()
    }
    fn abort_rewrite(&mut self) {
        self.inner.abort_rewrite()
    }
}
