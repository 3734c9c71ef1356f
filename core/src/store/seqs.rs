//! Ordered sets of seqs (and of `(time, seq)` pairs): the per-checkpoint indexes of sessions
//! and tags.
//!
//! A session's checkpoints, its branch tips and its checkpoints by time, and a tag's
//! checkpoints, are each a set of keys that name checkpoints by seq (the checkpoint itself is
//! found in [`super::entries::Entries`]). They are reached only through this type's methods,
//! which hand out keys by value, so that what backs a set can be a persisted table read where
//! it is needed instead of a tree built whole at open (see [`super::snapshot`]).

use alloc::collections::BTreeSet;
use core::ops::RangeInclusive;

/// An ordered set of keys. See the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeySet<K: Ord + Copy> {
    keys: BTreeSet<K>,
}

/// A set of seqs.
pub(crate) type SeqSet = KeySet<u64>;

/// A set of `(created_at, seq)` pairs.
pub(crate) type TimeSet = KeySet<(u64, u64)>;

impl<K: Ord + Copy> KeySet<K> {
    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &K) -> bool {
        self.keys.contains(key)
    }

    /// Adds `key`; returns whether it was new.
    pub fn insert(&mut self, key: K) -> bool {
        self.keys.insert(key)
    }

    /// Takes `key` out; returns whether it was there.
    pub fn remove(&mut self, key: &K) -> bool {
        self.keys.remove(key)
    }

    /// Every key, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = K> + '_ {
        self.keys.iter().copied()
    }

    /// The keys in `range`, in order.
    pub fn range(&self, range: RangeInclusive<K>) -> impl DoubleEndedIterator<Item = K> + '_ {
        self.keys.range(range).copied()
    }

    /// The greatest key.
    pub fn last(&self) -> Option<K> {
        self.keys.last().copied()
    }
}

impl<K: Ord + Copy> FromIterator<K> for KeySet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        KeySet {
            keys: iter.into_iter().collect(),
        }
    }
}
