//! Ordered sets of seqs (and of `(time, seq)` pairs): the per-checkpoint indexes of sessions
//! and tags.
//!
//! A session's checkpoints, its branch tips and its checkpoints by time, and a tag's
//! checkpoints, are each a set of keys that name checkpoints by seq (the checkpoint itself is
//! found in [`super::entries::Entries`]).
//!
//! A set is two layers: the keys an index snapshot holds (a range of rows of one of its
//! tables, read in place: see [`super::tables`]), and the changes since, in memory — keys
//! added, and snapshot keys removed. Lookups and ranges merge the two, so an open reads only the
//! rows a query walks, and memory grows with what changed since the snapshot, not with the
//! set. A set that no snapshot holds is its in-memory layer alone.

use alloc::collections::BTreeSet;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use super::tables::{Persisted, TableId, u64_at};

/// A key kept in a snapshot table's rows, after the row's 4-byte group number (a session's or
/// a tag's number).
pub(crate) trait StoredKey: Ord + Copy + core::fmt::Debug {
    /// The key in `row`.
    fn read(row: &[u8]) -> Self;
    /// Appends the key's bytes (after the group number) to `out`.
    fn write(self, out: &mut alloc::vec::Vec<u8>);
    /// The least key.
    const MIN: Self;
    /// The greatest key.
    const MAX: Self;
}

impl StoredKey for u64 {
    fn read(row: &[u8]) -> Self {
        u64_at(row, 4)
    }
    fn write(self, out: &mut alloc::vec::Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    const MIN: Self = 0;
    const MAX: Self = u64::MAX;
}

impl StoredKey for (u64, u64) {
    fn read(row: &[u8]) -> Self {
        (u64_at(row, 4), u64_at(row, 12))
    }
    fn write(self, out: &mut alloc::vec::Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        out.extend_from_slice(&self.1.to_le_bytes());
    }
    const MIN: Self = (0, 0);
    const MAX: Self = (u64::MAX, u64::MAX);
}

/// The rows `start..end` of a snapshot table: a set's snapshot layer.
#[derive(Clone, Debug)]
pub(crate) struct BaseRows {
    pub snap: Arc<Persisted>,
    pub table: TableId,
    pub start: usize,
    pub end: usize,
}

impl BaseRows {
    fn key<K: StoredKey>(&self, row: usize) -> Option<K> {
        self.snap.row(self.table, row).map(K::read)
    }

    /// The first row in `start..end` whose key is not below `key` (`after`: above it).
    fn seek<K: StoredKey>(&self, key: K, after: bool) -> Option<usize> {
        self.snap.search(self.table, self.start, self.end, |row| {
            let k = K::read(row);
            if after { k <= key } else { k < key }
        })
    }

    fn contains<K: StoredKey>(&self, key: &K) -> bool {
        // A key past the last (a new seq, a new time) is not there: one row read, no search.
        if self.start == self.end
            || self
                .end
                .checked_sub(1)
                .and_then(|last| self.key::<K>(last))
                .is_none_or(|last| *key > last)
        {
            return false;
        }
        self.seek(*key, false)
            .filter(|&row| row < self.end)
            .and_then(|row| self.key::<K>(row))
            == Some(*key)
    }
}

/// What a [`KeySet`] changed since its snapshot (what a snapshot delta keeps, see
/// [`super::snapshot`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyDelta<K> {
    /// Whether the set has a snapshot layer.
    pub based: bool,
    pub added: Vec<K>,
    pub removed: Vec<K>,
}

/// An ordered set of keys. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct KeySet<K: StoredKey> {
    base: Option<BaseRows>,
    /// Keys added that the snapshot does not hold.
    added: BTreeSet<K>,
    /// Keys of the snapshot taken out.
    removed: BTreeSet<K>,
}

impl<K: StoredKey> Default for KeySet<K> {
    fn default() -> Self {
        KeySet {
            base: None,
            added: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }
}

/// A set of seqs.
pub(crate) type SeqSet = KeySet<u64>;

/// A set of `(created_at, seq)` pairs.
pub(crate) type TimeSet = KeySet<(u64, u64)>;

impl<K: StoredKey> KeySet<K> {
    /// The set a snapshot holds in `rows`, with no changes yet.
    pub fn persisted(rows: BaseRows) -> Self {
        KeySet {
            base: Some(rows),
            ..KeySet::default()
        }
    }

    /// The set's snapshot layer, if it has one.
    pub fn base_rows(&self) -> Option<BaseRows> {
        self.base.clone()
    }

    /// What changed since the snapshot.
    pub fn delta(&self) -> KeyDelta<K> {
        KeyDelta {
            based: self.base.is_some(),
            added: self.added.iter().copied().collect(),
            removed: self.removed.iter().copied().collect(),
        }
    }

    /// The set `rows` (its snapshot layer, if it has one) with the changes `delta`; `None`
    /// when they do not fit together (a delta of a set with a snapshot layer and none here,
    /// or the other way round).
    pub fn with_delta(rows: Option<BaseRows>, delta: KeyDelta<K>) -> Option<Self> {
        if delta.based != rows.is_some() || (rows.is_none() && !delta.removed.is_empty()) {
            return None;
        }
        Some(KeySet {
            base: rows,
            added: delta.added.into_iter().collect(),
            removed: delta.removed.into_iter().collect(),
        })
    }

    fn base_contains(&self, key: &K) -> bool {
        self.base.as_ref().is_some_and(|b| b.contains(key))
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        let base = self.base.as_ref().map_or(0, |b| b.end - b.start);
        (base + self.added.len()).saturating_sub(self.removed.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &K) -> bool {
        self.added.contains(key) || (!self.removed.contains(key) && self.base_contains(key))
    }

    /// Adds `key`; returns whether it was new.
    pub fn insert(&mut self, key: K) -> bool {
        if self.added.contains(&key) {
            return false;
        }
        if self.removed.remove(&key) {
            return true;
        }
        if self.base_contains(&key) {
            return false;
        }
        self.added.insert(key)
    }

    /// Takes `key` out; returns whether it was there.
    pub fn remove(&mut self, key: &K) -> bool {
        if self.added.remove(key) {
            return true;
        }
        if !self.removed.contains(key) && self.base_contains(key) {
            return self.removed.insert(*key);
        }
        false
    }

    /// Every key, in order.
    pub fn iter(&self) -> Keys<'_, K> {
        self.range(K::MIN..=K::MAX)
    }

    /// The keys in `range`, in order.
    pub fn range(&self, range: RangeInclusive<K>) -> Keys<'_, K> {
        let (lo, hi) = (*range.start(), *range.end());
        let base = self.base.as_ref().filter(|_| lo <= hi).and_then(|b| {
            let i = b.seek(lo, false)?;
            let j = b.seek(hi, true)?;
            Some(BaseKeys {
                rows: b,
                i,
                j: j.max(i),
                removed: &self.removed,
            })
        });
        let added = if lo <= hi {
            self.added.range(range)
        } else {
            self.added.range(K::MIN..K::MIN)
        };
        if self.base.is_none() {
            // Nothing to merge: the common case of a store not read from a snapshot.
            return Keys::Added(added.copied());
        }
        Keys::Merged {
            base: Ends::new(base.into_iter().flatten()),
            added: Ends::new(added.copied()),
        }
    }

    /// The keys in `range` when the set has no snapshot layer (all its keys are in memory):
    /// a plain ordered walk, for loops that visit every key. `None` when there is one.
    pub fn added_range(&self, range: RangeInclusive<K>) -> Option<AddedIter<'_, K>> {
        if self.base.is_some() {
            return None;
        }
        let (lo, hi) = (*range.start(), *range.end());
        Some(if lo <= hi {
            self.added.range(range).copied()
        } else {
            self.added.range(K::MIN..K::MIN).copied()
        })
    }

    /// The greatest key.
    pub fn last(&self) -> Option<K> {
        self.iter().next_back()
    }
}

impl<K: StoredKey> FromIterator<K> for KeySet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        KeySet {
            added: iter.into_iter().collect(),
            ..KeySet::default()
        }
    }
}

/// The snapshot rows `i..j` of a set, less the keys taken out.
pub(crate) struct BaseKeys<'a, K: StoredKey> {
    rows: &'a BaseRows,
    i: usize,
    j: usize,
    removed: &'a BTreeSet<K>,
}

impl<K: StoredKey> Iterator for BaseKeys<'_, K> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        while self.i < self.j {
            let Some(key) = self.rows.key::<K>(self.i) else {
                // A damaged block (the snapshot is marked so): nothing more is read from it.
                self.i = self.j;
                return None;
            };
            self.i += 1;
            if !self.removed.contains(&key) {
                return Some(key);
            }
        }
        None
    }
}

impl<K: StoredKey> DoubleEndedIterator for BaseKeys<'_, K> {
    fn next_back(&mut self) -> Option<K> {
        while self.i < self.j {
            let Some(key) = self.rows.key::<K>(self.j - 1) else {
                self.j = self.i;
                return None;
            };
            self.j -= 1;
            if !self.removed.contains(&key) {
                return Some(key);
            }
        }
        None
    }
}

/// An iterator whose next item at either end can be looked at before it is taken.
pub(crate) struct Ends<I: DoubleEndedIterator> {
    iter: I,
    front: Option<I::Item>,
    back: Option<I::Item>,
}

impl<I: DoubleEndedIterator> Ends<I>
where
    I::Item: Copy,
{
    fn new(iter: I) -> Self {
        Ends {
            iter,
            front: None,
            back: None,
        }
    }

    fn peek_front(&mut self) -> Option<I::Item> {
        if self.front.is_none() {
            self.front = self.iter.next().or_else(|| self.back.take());
        }
        self.front
    }

    fn peek_back(&mut self) -> Option<I::Item> {
        if self.back.is_none() {
            self.back = self.iter.next_back().or_else(|| self.front.take());
        }
        self.back
    }
}

pub(crate) type BaseIter<'a, K> = core::iter::Flatten<core::option::IntoIter<BaseKeys<'a, K>>>;
pub(crate) type AddedIter<'a, K> = core::iter::Copied<alloc::collections::btree_set::Range<'a, K>>;

/// The keys of a [`KeySet`] in order: its added keys alone when it has no snapshot layer, else
/// its snapshot's keys and its added keys, merged.
pub(crate) enum Keys<'a, K: StoredKey> {
    Added(AddedIter<'a, K>),
    Merged {
        base: Ends<BaseIter<'a, K>>,
        added: Ends<AddedIter<'a, K>>,
    },
}

impl<K: StoredKey> Iterator for Keys<'_, K> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        let (base, added) = match self {
            Keys::Added(added) => return added.next(),
            Keys::Merged { base, added } => (base, added),
        };
        match (base.peek_front(), added.peek_front()) {
            (Some(b), Some(a)) if a < b => added.front.take(),
            (Some(_), _) => base.front.take(),
            (None, Some(_)) => added.front.take(),
            (None, None) => None,
        }
    }
}

impl<K: StoredKey> DoubleEndedIterator for Keys<'_, K> {
    fn next_back(&mut self) -> Option<K> {
        let (base, added) = match self {
            Keys::Added(added) => return added.next_back(),
            Keys::Merged { base, added } => (base, added),
        };
        match (base.peek_back(), added.peek_back()) {
            (Some(b), Some(a)) if a > b => added.back.take(),
            (Some(_), _) => base.back.take(),
            (None, Some(_)) => added.back.take(),
            (None, None) => None,
        }
    }
}
