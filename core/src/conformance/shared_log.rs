//! A log that several stores write, in memory: the reference for backends whose log is
//! [shared](crate::Backend::is_shared) by writers (a database server many processes reach).
//!
//! [`SharedLog`] holds the log's generations (a compaction starts a new one); each
//! [`SharedLogBackend`] on it is one writer's handle. An append or a rewrite lands only when the
//! handle has seen the whole current log — otherwise it fails with [`BackendError::Behind`] and
//! writes nothing — which is the conditional append a server backend makes with a unique key
//! on the next log position. Handles share the log through `Rc<RefCell<..>>`: the stores of a
//! test take turns on one thread, so every interleaving a test asks for is reproducible.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::backend::{
    Backend, LoadReport, Refresh, Visitor, read_slice, replay_bytes, replay_part,
};
use crate::error::{BackendError, Error};
use crate::frame::{self, HEADER_LEN};

/// The log every [`SharedLogBackend`] made from it writes. Cheap to clone (one log).
#[derive(Clone, Debug, Default)]
pub struct SharedLog {
    /// Every generation's bytes, oldest first (the last is current). Old ones are kept so a
    /// handle that has not noticed a compaction still reads what its index points at.
    generations: Rc<RefCell<Vec<Vec<u8>>>>,
    /// The newest index snapshot any writer left of the current generation, and the log end
    /// it describes: a writer's snapshot of an earlier point does not replace it.
    snapshot: Rc<RefCell<Option<KeptSnapshot>>>,
}

/// A snapshot's bytes and the log end it describes.
type KeptSnapshot = (u64, Vec<u8>);

impl SharedLog {
    /// An empty log.
    pub fn new() -> Self {
        SharedLog {
            generations: Rc::new(RefCell::new(alloc::vec![Vec::new()])),
            snapshot: Rc::new(RefCell::new(None)),
        }
    }

    /// A new writer's handle on the log (it sees nothing until its store opens it).
    pub fn backend(&self) -> SharedLogBackend {
        SharedLogBackend {
            log: self.clone(),
            generation: 0,
            end: 0,
            rewrite: None,
        }
    }

    /// The current generation's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.generations
            .borrow()
            .last()
            .cloned()
            .unwrap_or_default()
    }

    /// How many times the log was replaced (compactions).
    pub fn generation(&self) -> usize {
        self.generations.borrow().len() - 1
    }
}

/// One writer's handle on a [`SharedLog`]. See the module docs.
#[derive(Debug)]
pub struct SharedLogBackend {
    log: SharedLog,
    /// The generation this handle reads, and where the log it has seen ends in it.
    generation: usize,
    end: u64,
    rewrite: Option<Vec<u8>>,
}

impl SharedLogBackend {
    /// Whether the handle has seen the whole current log.
    fn current(&self) -> bool {
        let generations = self.log.generations.borrow();
        self.generation + 1 == generations.len()
            && generations
                .last()
                .is_some_and(|log| log.len() as u64 == self.end)
    }
}

impl Backend for SharedLogBackend {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        if !self.current() {
            return Err(BackendError::Behind);
        }
        let mut generations = self.log.generations.borrow_mut();
        let log = generations.last_mut().ok_or(BackendError::Behind)?;
        if log.is_empty() {
            log.extend_from_slice(&frame::header());
        }
        let pos = log.len() as u64;
        log.extend_from_slice(frames);
        self.end = log.len() as u64;
        Ok(pos)
    }

    fn sync(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, Error> {
        let generations = self.log.generations.borrow();
        self.generation = generations.len() - 1;
        let log = &generations[self.generation];
        let (report, valid) = replay_bytes(log, visit)?;
        self.end = valid as u64;
        Ok(report)
    }

    fn refresh(&mut self, from: u64, visit: &mut Visitor<'_>) -> Result<Refresh, Error> {
        let generations = self.log.generations.borrow();
        if self.generation + 1 != generations.len() {
            self.generation = generations.len() - 1;
            return Ok(Refresh::Replaced { rewritten: true });
        }
        let log = &generations[self.generation];
        if log.is_empty() {
            return Ok(Refresh::Appended(LoadReport::default()));
        }
        let from = from.max(HEADER_LEN as u64);
        let (report, end) = replay_part(log, log, 0, from, visit)?;
        self.end = end;
        Ok(Refresh::Appended(report))
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn keeps_snapshots(&self) -> bool {
        true
    }

    fn read_snapshot(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.log.snapshot.borrow().as_ref().map(|(_, b)| b.clone()))
    }

    fn write_snapshot(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        let mut snapshot = self.log.snapshot.borrow_mut();
        if snapshot.as_ref().is_some_and(|(at, _)| *at >= self.end) {
            return Ok(false);
        }
        *snapshot = Some((self.end, bytes.to_vec()));
        Ok(true)
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        read_slice(&self.log.generations.borrow()[self.generation], pos, buf)
    }

    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        if !self.current() {
            return Err(BackendError::Behind);
        }
        self.rewrite = Some(frame::header().to_vec());
        Ok(())
    }

    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        let log = self.rewrite.as_mut().ok_or(BackendError::RewriteState(
            "rewrite_append before begin_rewrite",
        ))?;
        let pos = log.len() as u64;
        log.extend_from_slice(frames);
        Ok(pos)
    }

    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        if !self.current() {
            self.rewrite = None;
            return Err(BackendError::Behind);
        }
        let log = self.rewrite.take().ok_or(BackendError::RewriteState(
            "commit_rewrite before begin_rewrite",
        ))?;
        self.end = log.len() as u64;
        let mut generations = self.log.generations.borrow_mut();
        generations.push(log);
        self.generation = generations.len() - 1;
        *self.log.snapshot.borrow_mut() = None;
        Ok(())
    }

    fn abort_rewrite(&mut self) {
        self.rewrite = None;
    }
}
