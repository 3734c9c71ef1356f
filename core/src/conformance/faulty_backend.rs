//! A backend that fails on command, wrapping any other: the n-th append, sync, rewrite step or
//! commit (the switch to the new log) returns [`BackendError::Io`] ("injected ... failure")
//! without touching the wrapped backend, so the failure lands in the middle of real work (a
//! memory log, real files). Each armed fault fires once; [`FaultyBackend::fail_at_random`] makes
//! every write call fail with a given chance instead (seeded).

use alloc::format;

use crate::backend::{Backend, LoadReport, Visitor};
use crate::error::{BackendError, Error};
use alloc::vec::Vec;

/// How many times each call was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    /// `append`.
    pub append: u64,
    /// `sync`.
    pub sync: u64,
    /// `begin_rewrite`.
    pub begin: u64,
    /// `rewrite_append`.
    pub rewrite_append: u64,
    /// `commit_rewrite`.
    pub commit: u64,
    /// `abort_rewrite`.
    pub abort: u64,
}

/// Which call (by its running number, 1-based) fails.
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    append: Option<u64>,
    sync: Option<u64>,
    begin: Option<u64>,
    rewrite_append: Option<u64>,
    commit: Option<u64>,
}

/// `B` with injectable failures. See the module docs.
#[derive(Debug, Default)]
pub struct FaultyBackend<B> {
    /// The wrapped backend.
    pub inner: B,
    calls: Calls,
    faults: Faults,
    injected: u64,
    /// Random failures: the generator's state and the chance in percent.
    random: Option<(u64, u64)>,
}

/// The error an injected failure of `call` returns.
pub fn injected(call: &str) -> BackendError {
    BackendError::Io(format!("injected {call} failure"))
}

fn fires(slot: &mut Option<u64>, count: u64) -> bool {
    if *slot == Some(count) {
        *slot = None;
        true
    } else {
        false
    }
}

impl<B: Backend> FaultyBackend<B> {
    /// Wraps `inner`, nothing armed.
    pub fn new(inner: B) -> Self {
        FaultyBackend {
            inner,
            calls: Calls::default(),
            faults: Faults::default(),
            injected: 0,
            random: None,
        }
    }

    /// From now on every `append`, `begin_rewrite`, `rewrite_append` and `commit_rewrite` fails
    /// with a `percent` chance, drawn from a generator seeded with `seed`. (Syncs never fail
    /// this way: a failed sync refuses every later write on purpose, which would end the run.)
    pub fn fail_at_random(&mut self, seed: u64, percent: u64) {
        self.random = Some((seed | 1, percent));
    }

    /// Whether a random failure fires on this call.
    fn roll(&mut self) -> bool {
        let Some((state, percent)) = &mut self.random else {
            return false;
        };
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state % 100 < *percent
    }

    /// The `n`-th append from now fails (1: the next one).
    pub fn fail_append(&mut self, n: u64) {
        self.faults.append = Some(self.calls.append + n);
    }

    /// The `n`-th sync from now fails.
    pub fn fail_sync(&mut self, n: u64) {
        self.faults.sync = Some(self.calls.sync + n);
    }

    /// The next `begin_rewrite` fails.
    pub fn fail_begin_rewrite(&mut self) {
        self.faults.begin = Some(self.calls.begin + 1);
    }

    /// The `n`-th `rewrite_append` from now fails.
    pub fn fail_rewrite_append(&mut self, n: u64) {
        self.faults.rewrite_append = Some(self.calls.rewrite_append + n);
    }

    /// The next `commit_rewrite` fails (the old log stays).
    pub fn fail_commit_rewrite(&mut self) {
        self.faults.commit = Some(self.calls.commit + 1);
    }

    /// Forgets every armed fault that has not fired, and random failures.
    pub fn disarm(&mut self) {
        self.faults = Faults::default();
        self.random = None;
    }

    /// How many injected failures have fired.
    pub fn injected(&self) -> u64 {
        self.injected
    }

    /// How many times each call was made.
    pub fn calls(&self) -> Calls {
        self.calls
    }

    fn trip(&mut self, fired: bool, call: &str) -> Result<(), BackendError> {
        if fired {
            self.injected += 1;
            return Err(injected(call));
        }
        Ok(())
    }
}

impl<B: Backend> Backend for FaultyBackend<B> {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        self.calls.append += 1;
        let fired = fires(&mut self.faults.append, self.calls.append) || self.roll();
        self.trip(fired, "append")?;
        self.inner.append(frames)
    }
    fn append_closing(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        self.calls.append += 1;
        let fired = fires(&mut self.faults.append, self.calls.append) || self.roll();
        self.trip(fired, "append")?;
        self.inner.append_closing(frames)
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        self.calls.sync += 1;
        let fired = fires(&mut self.faults.sync, self.calls.sync);
        self.trip(fired, "sync")?;
        self.inner.sync()
    }
    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, Error> {
        self.inner.load(visit)
    }
    fn load_from(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Option<LoadReport>, Error> {
        self.inner.load_from(from, visit)
    }
    fn keeps_snapshots(&self) -> bool {
        self.inner.keeps_snapshots()
    }
    fn read_snapshot(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        self.inner.read_snapshot()
    }
    fn write_snapshot(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        let fired = self.roll();
        self.trip(fired, "write_snapshot")?;
        self.inner.write_snapshot(bytes)
    }
    fn read_snapshot_delta(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        self.inner.read_snapshot_delta()
    }
    fn write_snapshot_delta(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        let fired = self.roll();
        self.trip(fired, "write_snapshot_delta")?;
        self.inner.write_snapshot_delta(bytes)
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        self.inner.read_at(pos, buf)
    }
    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        self.calls.begin += 1;
        let fired = fires(&mut self.faults.begin, self.calls.begin) || self.roll();
        self.trip(fired, "begin_rewrite")?;
        self.inner.begin_rewrite()
    }
    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        self.calls.rewrite_append += 1;
        let fired =
            fires(&mut self.faults.rewrite_append, self.calls.rewrite_append) || self.roll();
        self.trip(fired, "rewrite_append")?;
        self.inner.rewrite_append(frames)
    }
    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        self.calls.commit += 1;
        let fired = fires(&mut self.faults.commit, self.calls.commit) || self.roll();
        self.trip(fired, "commit_rewrite")?;
        self.inner.commit_rewrite()
    }
    fn abort_rewrite(&mut self) {
        self.calls.abort += 1;
        self.inner.abort_rewrite()
    }
}
