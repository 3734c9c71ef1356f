//! Events: what changed in a store, for subscribers.
//!
//! Core queues events as operations succeed; hosts drain the queue with
//! [`Store::drain_events`](crate::Store::drain_events) and deliver them their own way (channels,
//! callbacks, JS functions). The queue is bounded ([`Options::event_capacity`](crate::Options));
//! when nobody drains it the oldest events are dropped and counted, so an unread queue never
//! grows without bound.

use alloc::vec::Vec;

use crate::annotation::Severity;
use crate::id::{CheckpointId, SessionId};

/// Something that happened in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A session was created.
    SessionCreated {
        /// The new session.
        session: SessionId,
    },
    /// A checkpoint was created.
    Created {
        /// The session.
        session: SessionId,
        /// The new checkpoint.
        checkpoint: CheckpointId,
        /// Its seq.
        seq: u64,
    },
    /// A session's head moved to a checkpoint (restore).
    Restored {
        /// The session.
        session: SessionId,
        /// The new head.
        checkpoint: CheckpointId,
    },
    /// A checkpoint was deleted.
    Deleted {
        /// The session it belonged to.
        session: SessionId,
        /// The deleted checkpoint.
        checkpoint: CheckpointId,
    },
    /// A session and all its checkpoints were deleted.
    SessionDeleted {
        /// The deleted session.
        session: SessionId,
    },
    /// A compaction removed checkpoints and rewrote the log.
    Compacted {
        /// Checkpoints removed.
        removed: u64,
        /// Log bytes before the rewrite.
        bytes_before: u64,
        /// Log bytes after the rewrite.
        bytes_after: u64,
    },
    /// A checkpoint was annotated.
    Annotated {
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// The annotation's severity.
        severity: Severity,
    },
}

impl Event {
    /// The event's stable name: `sessionCreated`, `created`, `restored`, `deleted`,
    /// `sessionDeleted`, `compacted`, `annotated`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Event::SessionCreated { .. } => "sessionCreated",
            Event::Created { .. } => "created",
            Event::Restored { .. } => "restored",
            Event::Deleted { .. } => "deleted",
            Event::SessionDeleted { .. } => "sessionDeleted",
            Event::Compacted { .. } => "compacted",
            Event::Annotated { .. } => "annotated",
        }
    }
}

#[derive(Debug)]
pub(crate) struct EventQueue {
    events: alloc::collections::VecDeque<Event>,
    capacity: usize,
    dropped: u64,
}

impl EventQueue {
    pub fn new(capacity: usize) -> Self {
        EventQueue {
            events: alloc::collections::VecDeque::new(),
            capacity,
            dropped: 0,
        }
    }

    pub fn push(&mut self, event: Event) {
        if self.capacity == 0 {
            self.dropped += 1;
            return;
        }
        if self.events.len() == self.capacity {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(event);
    }

    pub fn drain(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
