//! The checkpoints of the index, keyed by seq, with an index from id to seq.
//!
//! Seq is the primary key: it orders the log, every listing and every other per-checkpoint
//! index of the store (a session's checkpoints, a tag's, a session's branch tips), which all
//! hold seqs and find the checkpoint here. An id is looked up through [`Entries::seq_of`].
//!
//! Every per-checkpoint structure of the index is reached through this type's methods and
//! [`super::seqs::SeqSet`]'s, never through a map directly, so that what backs them can be a
//! persisted table read where it is needed instead of a map built whole at open (see
//! [`super::snapshot`]).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use core::ops::RangeInclusive;

use hashbrown::HashMap;

use super::index::Entry;
use crate::id::CheckpointId;

/// The checkpoints, by seq and by id. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Entries {
    /// Boxed: growing the map moves pointers, not ~500-byte entries.
    by_seq: BTreeMap<u64, Box<Entry>>,
    ids: HashMap<CheckpointId, u64>,
}

impl Entries {
    /// How many checkpoints there are.
    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// The seq of checkpoint `id`.
    pub fn seq_of(&self, id: &CheckpointId) -> Option<u64> {
        self.ids.get(id).copied()
    }

    /// Whether checkpoint `id` is here.
    pub fn contains(&self, id: &CheckpointId) -> bool {
        self.ids.contains_key(id)
    }

    /// Whether a checkpoint has seq `seq`.
    pub fn contains_seq(&self, seq: u64) -> bool {
        self.by_seq.contains_key(&seq)
    }

    /// Checkpoint `id`.
    pub fn get(&self, id: &CheckpointId) -> Option<&Entry> {
        self.at_seq(self.seq_of(id)?)
    }

    /// Checkpoint `id`, to change. Its seq, id and session must stay as they are.
    pub fn get_mut(&mut self, id: &CheckpointId) -> Option<&mut Entry> {
        let seq = self.seq_of(id)?;
        self.by_seq.get_mut(&seq).map(|e| &mut **e)
    }

    /// The checkpoint with seq `seq`.
    pub fn at_seq(&self, seq: u64) -> Option<&Entry> {
        self.by_seq.get(&seq).map(|e| &**e)
    }

    /// Adds a checkpoint; the caller has checked that its id and seq are new.
    pub fn insert(&mut self, entry: Box<Entry>) {
        self.ids.insert(entry.cp.id, entry.cp.seq);
        self.by_seq.insert(entry.cp.seq, entry);
    }

    /// Takes checkpoint `id` out.
    pub fn remove(&mut self, id: &CheckpointId) -> Option<Box<Entry>> {
        let seq = self.ids.remove(id)?;
        self.by_seq.remove(&seq)
    }

    /// Every checkpoint, in seq order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> + '_ {
        self.by_seq.values().map(|e| &**e)
    }

    /// The checkpoints with seqs in `seqs`, in seq order.
    pub fn range(&self, seqs: RangeInclusive<u64>) -> impl DoubleEndedIterator<Item = &Entry> + '_ {
        self.by_seq.range(seqs).map(|(_, e)| &**e)
    }

    /// Room for `additional` more checkpoints (a snapshot load knows how many come).
    pub fn reserve(&mut self, additional: usize) {
        self.ids.reserve(additional);
    }
}

impl core::ops::Index<&CheckpointId> for Entries {
    type Output = Entry;

    /// Checkpoint `id`, which the caller knows is here.
    fn index(&self, id: &CheckpointId) -> &Entry {
        match self.get(id) {
            Some(entry) => entry,
            None => panic!("checkpoint {id} is not in the index"),
        }
    }
}
