//! The checkpoints of the index, keyed by seq, with an index from id to seq.
//!
//! Seq is the primary key: it orders the log, every listing and every other per-checkpoint
//! index of the store (a session's checkpoints, a tag's, a session's branch tips), which all
//! hold seqs (see [`super::seqs`]) and find the checkpoint here. An id is looked up through
//! [`Entries::seq_of`].
//!
//! Like the sets, the checkpoints are two layers: those an index snapshot holds, read in place
//! (see [`super::tables`]) and decoded the first time they are read (then kept, so a reference
//! to one lasts as long as the index), and the changes since, in memory — checkpoints added,
//! snapshot checkpoints changed (copied into memory first) or removed. An open reads only the
//! checkpoints it is asked for; memory grows with what is read and what changed.

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::RangeInclusive;

use hashbrown::{HashMap, HashSet};
use once_cell::race::OnceBox;

use super::index::Entry;
use super::tables::{Persisted, TableId, u32_at, u64_at};
use crate::id::CheckpointId;

/// Rows per page of [`Decoded`].
const PAGE: usize = 1024;

/// The entries of a snapshot's rows decoded so far, by row: pages of cells, each page made when
/// a row of it is first read, so an open holds a pointer per 1,024 rows rather than per row.
struct Decoded {
    rows: usize,
    pages: Vec<OnceBox<Vec<OnceBox<Entry>>>>,
}

impl Decoded {
    fn new(rows: usize) -> Self {
        Decoded {
            rows,
            pages: (0..rows.div_ceil(PAGE)).map(|_| OnceBox::new()).collect(),
        }
    }

    /// The cell of row `row` (its page made if need be).
    fn cell(&self, row: usize) -> Option<&OnceBox<Entry>> {
        if row >= self.rows {
            return None;
        }
        let page = self
            .pages
            .get(row / PAGE)?
            .get_or_init(|| Box::new((0..PAGE).map(|_| OnceBox::new()).collect()));
        page.get(row % PAGE)
    }

    /// The entry of row `row`, if it was decoded.
    fn get(&self, row: usize) -> Option<&Entry> {
        self.pages.get(row / PAGE)?.get()?.get(row % PAGE)?.get()
    }
}

/// The checkpoints a snapshot holds: rows of its [`TableId::Seqs`] and [`TableId::Ids`]
/// tables, with each row's entry once decoded.
struct BaseEntries {
    snap: Arc<Persisted>,
    decoded: Decoded,
    /// Decodes an entry's heap bytes (see [`super::snapshot`]).
    decode: Decode,
}

/// Turns a checkpoint's bytes in a snapshot's heap into its entry.
pub(crate) type Decode = Box<dyn Fn(&[u8]) -> Option<Entry> + Send + Sync>;

impl core::fmt::Debug for BaseEntries {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BaseEntries")
            .field("rows", &self.decoded.rows)
            .finish()
    }
}

impl BaseEntries {
    fn seq(&self, row: usize) -> Option<u64> {
        self.snap.row(TableId::Seqs, row).map(|r| u64_at(r, 0))
    }

    /// The row of seq `seq`.
    fn row_of(&self, seq: u64) -> Option<usize> {
        let rows = self.decoded.rows;
        let row = self
            .snap
            .search(TableId::Seqs, 0, rows, |r| u64_at(r, 0) < seq)?;
        (row < rows && self.seq(row)? == seq).then_some(row)
    }

    /// The rows of the seqs in `seqs`.
    fn rows_of(&self, seqs: &RangeInclusive<u64>) -> Option<(usize, usize)> {
        let rows = self.decoded.rows;
        let (lo, hi) = (*seqs.start(), *seqs.end());
        let i = self
            .snap
            .search(TableId::Seqs, 0, rows, |r| u64_at(r, 0) < lo)?;
        let j = self
            .snap
            .search(TableId::Seqs, i, rows, |r| u64_at(r, 0) <= hi)?;
        Some((i, j))
    }

    /// The entry in row `row`, decoded once.
    fn entry(&self, row: usize) -> Option<&Entry> {
        let cell = self.decoded.cell(row)?;
        if let Some(entry) = cell.get() {
            return Some(entry);
        }
        let entry = self.decode_row(row)?;
        Some(cell.get_or_init(|| Box::new(entry)))
    }

    /// The entry in row `row`, decoded afresh (and not kept).
    fn decode_row(&self, row: usize) -> Option<Entry> {
        let r = self.snap.row(TableId::Seqs, row)?;
        let (seq, at, len) = (u64_at(r, 0), u64_at(r, 8), u32_at(r, 16));
        let entry = self
            .snap
            .heap(at, len)
            .and_then(|bytes| (self.decode)(&bytes));
        let Some(entry) = entry.filter(|e| e.cp.seq == seq) else {
            self.snap.mark_damaged();
            return None;
        };
        Some(entry)
    }

    /// The seq of checkpoint `id`.
    fn seq_of(&self, id: &CheckpointId) -> Option<u64> {
        let rows = self.snap.rows(TableId::Ids);
        let key = id.as_bytes();
        // Ids past the last (generated ids sort by time, so new ones are) are not there: one
        // row read, no search.
        let last = self.snap.row(TableId::Ids, rows.checked_sub(1)?)?;
        if key[..] > last[..16] {
            return None;
        }
        let at = self
            .snap
            .search(TableId::Ids, 0, rows, |r| r[..16] < key[..])?;
        let r = self
            .snap
            .row(TableId::Ids, at)
            .filter(|r| r[..16] == key[..])?;
        let row = u32_at(r, 16) as usize;
        let entry = self.entry(row)?;
        if entry.cp.id != *id {
            self.snap.mark_damaged();
            return None;
        }
        Some(entry.cp.seq)
    }
}

/// A checkpoint of the in-memory layer: decoded, or as a snapshot delta holds it. Both boxed,
/// so that the hash map's slots stay small (a listing probes one per item).
enum Held {
    Entry(Box<Entry>),
    Encoded(Box<Encoded>),
}

/// A delta's checkpoint: its id, and where its encoding is in the delta's bytes (decoded the
/// first time it is read).
struct Encoded {
    id: CheckpointId,
    at: usize,
    len: usize,
    decoded: OnceBox<Entry>,
}

impl core::fmt::Debug for Held {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Held::Entry(e) => write!(f, "Entry({})", e.cp.seq),
            Held::Encoded(e) => write!(f, "Encoded({}, {})", e.at, e.len),
        }
    }
}

/// The bytes of the snapshot delta an open applied, and how its checkpoints decode.
struct DeltaBytes {
    bytes: Arc<Vec<u8>>,
    decode: Decode,
}

impl core::fmt::Debug for DeltaBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DeltaBytes({})", self.bytes.len())
    }
}

/// What changed since the snapshot, one checkpoint of it (see [`Entries::changes`]).
pub(crate) enum Change<'a> {
    /// A checkpoint in memory.
    Entry(&'a Entry),
    /// A checkpoint as the delta the store opened with encodes it.
    Encoded(&'a [u8]),
}

/// The checkpoints, by seq and by id. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Entries {
    base: Option<BaseEntries>,
    /// Checkpoints added or changed since the snapshot (all of them without one). Boxed:
    /// growing the map moves pointers, not ~500-byte entries.
    by_seq: HashMap<u64, Held>,
    /// The seqs of `by_seq`, in order (a hash map finds a checkpoint by seq in one probe, which
    /// a listing of a session's or a tag's seqs does once per item).
    order: BTreeSet<u64>,
    delta: Option<DeltaBytes>,
    ids: HashMap<CheckpointId, u64>,
    /// Seqs of snapshot checkpoints removed or changed (a changed one is in `by_seq`).
    hidden: HashSet<u64>,
    len: usize,
}

impl Entries {
    /// The checkpoints a snapshot holds in its tables, with no changes yet; `decode` turns an
    /// entry's heap bytes into the entry.
    pub fn persisted(snap: Arc<Persisted>, decode: Decode) -> Self {
        let rows = snap.rows(TableId::Seqs);
        let decoded = Decoded::new(rows);
        Entries {
            base: Some(BaseEntries {
                snap,
                decoded,
                decode,
            }),
            len: rows,
            ..Entries::default()
        }
    }

    /// The checkpoint `held` of the in-memory layer, with seq `seq`; `None` (and the
    /// snapshot marked damaged) when a delta's checkpoint does not decode.
    fn held<'a>(&'a self, seq: u64, held: &'a Held) -> Option<&'a Entry> {
        match held {
            Held::Entry(entry) => Some(entry),
            Held::Encoded(e) => match e.decoded.get() {
                Some(entry) => Some(entry),
                None => {
                    let entry = self.decode_held(seq, e)?;
                    Some(e.decoded.get_or_init(|| Box::new(entry)))
                }
            },
        }
    }

    /// A delta's checkpoint, decoded afresh.
    fn decode_held(&self, seq: u64, held: &Encoded) -> Option<Entry> {
        let Encoded { id, at, len, .. } = held;
        let delta = self.delta.as_ref()?;
        let entry = delta
            .bytes
            .get(*at..*at + *len)
            .and_then(|bytes| (delta.decode)(bytes))
            .filter(|e| e.cp.seq == seq && e.cp.id == *id);
        if entry.is_none()
            && let Some(base) = &self.base
        {
            base.snap.mark_damaged();
        }
        entry
    }

    /// What changed since the snapshot (what a snapshot delta keeps, see
    /// [`super::snapshot`]): the checkpoints added or changed, and the snapshot seqs removed or
    /// changed.
    pub fn changes(
        &self,
    ) -> (
        impl Iterator<Item = (u64, CheckpointId, Change<'_>)> + '_,
        Vec<u64>,
    ) {
        let mut hidden: Vec<u64> = self.hidden.iter().copied().collect();
        hidden.sort_unstable();
        let delta = self.delta.as_ref().map(|d| d.bytes.as_slice());
        let by_seq = &self.by_seq;
        let held = move |seq: &u64| Some((*seq, by_seq.get(seq)?));
        let changes = self
            .order
            .iter()
            .filter_map(held)
            .map(move |(seq, held)| match held {
                Held::Entry(entry) => (seq, entry.cp.id, Change::Entry(entry)),
                Held::Encoded(e) => {
                    let bytes = delta.and_then(|d| d.get(e.at..e.at + e.len));
                    (seq, e.id, Change::Encoded(bytes.unwrap_or_default()))
                }
            });
        (changes, hidden)
    }

    /// Applies what [`changes`](Entries::changes) listed to the checkpoints of a snapshot just
    /// read: the delta's checkpoints, each by seq, id and where its encoding is in `bytes`
    /// (decoded by `decode` when first read), and the snapshot's seqs hidden; `None` when they
    /// do not fit (a seq or id twice, or a checkpoint out of the delta's bytes).
    pub fn apply_changes(
        &mut self,
        entries: Vec<(u64, CheckpointId, usize, usize)>,
        hidden: Vec<u64>,
        bytes: Arc<Vec<u8>>,
        decode: Decode,
    ) -> Option<()> {
        let base_rows = self.base.as_ref().map_or(0, |b| b.decoded.rows);
        if self.base.is_none() && !hidden.is_empty() {
            return None;
        }
        let hidden_base = hidden
            .iter()
            .filter(|seq| {
                self.base
                    .as_ref()
                    .is_some_and(|b| b.row_of(**seq).is_some())
            })
            .count();
        self.hidden = hidden.into_iter().collect();
        for (seq, id, at, len) in entries {
            if self.by_seq.contains_key(&seq)
                || self.ids.contains_key(&id)
                || at.checked_add(len).is_none_or(|end| end > bytes.len())
            {
                return None;
            }
            self.ids.insert(id, seq);
            self.order.insert(seq);
            let decoded = OnceBox::new();
            self.by_seq.insert(
                seq,
                Held::Encoded(Box::new(Encoded {
                    id,
                    at,
                    len,
                    decoded,
                })),
            );
        }
        self.delta = Some(DeltaBytes { bytes, decode });
        self.len = (base_rows - hidden_base.min(base_rows)) + self.by_seq.len();
        Some(())
    }

    /// How many checkpoints there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The seq of checkpoint `id`.
    pub fn seq_of(&self, id: &CheckpointId) -> Option<u64> {
        if let Some(seq) = self.ids.get(id) {
            return Some(*seq);
        }
        let seq = self.base.as_ref()?.seq_of(id)?;
        (!self.hidden.contains(&seq)).then_some(seq)
    }

    /// Whether checkpoint `id` is here.
    pub fn contains(&self, id: &CheckpointId) -> bool {
        self.seq_of(id).is_some()
    }

    /// Whether a checkpoint has seq `seq`.
    pub fn contains_seq(&self, seq: u64) -> bool {
        self.at_seq(seq).is_some()
    }

    /// Checkpoint `id`.
    pub fn get(&self, id: &CheckpointId) -> Option<&Entry> {
        self.at_seq(self.seq_of(id)?)
    }

    /// The checkpoint with seq `seq`.
    pub fn at_seq(&self, seq: u64) -> Option<&Entry> {
        if let Some(held) = self.by_seq.get(&seq) {
            return self.held(seq, held);
        }
        if self.hidden.contains(&seq) {
            return None;
        }
        let base = self.base.as_ref()?;
        base.entry(base.row_of(seq)?)
    }

    /// Checkpoint `id`, to change. Its seq, id and session must stay as they are.
    pub fn get_mut(&mut self, id: &CheckpointId) -> Option<&mut Entry> {
        let seq = self.seq_of(id)?;
        if !matches!(self.by_seq.get(&seq), Some(Held::Entry(_))) {
            // A snapshot checkpoint, or a delta's: changed in a decoded copy (which hides the
            // snapshot's).
            let copy = self.at_seq(seq)?.clone();
            if !self.by_seq.contains_key(&seq) {
                self.hidden.insert(seq);
            }
            self.ids.insert(*id, seq);
            self.order.insert(seq);
            self.by_seq.insert(seq, Held::Entry(Box::new(copy)));
        }
        match self.by_seq.get_mut(&seq) {
            Some(Held::Entry(entry)) => Some(entry),
            _ => None,
        }
    }

    /// Adds a checkpoint; the caller has checked that its id and seq are new.
    pub fn insert(&mut self, entry: Box<Entry>) {
        self.ids.insert(entry.cp.id, entry.cp.seq);
        self.order.insert(entry.cp.seq);
        self.by_seq.insert(entry.cp.seq, Held::Entry(entry));
        self.len += 1;
    }

    /// Takes checkpoint `id` out.
    pub fn remove(&mut self, id: &CheckpointId) -> Option<Box<Entry>> {
        let seq = self.seq_of(id)?;
        let entry = match self.by_seq.get(&seq) {
            Some(Held::Entry(_)) => match self.by_seq.remove(&seq) {
                Some(Held::Entry(entry)) => entry,
                _ => return None,
            },
            Some(held) => {
                let entry = Box::new(self.held(seq, held)?.clone());
                self.by_seq.remove(&seq);
                entry
            }
            None => Box::new(self.at_seq(seq)?.clone()),
        };
        self.order.remove(&seq);
        self.ids.remove(id);
        if self.base.is_some() {
            self.hidden.insert(seq);
        }
        self.len -= 1;
        Some(entry)
    }

    /// Hands every checkpoint to `f`, in seq order, until it returns false. Unlike
    /// [`iter`](Entries::iter), a snapshot checkpoint not read before is decoded for the call
    /// and not kept, so a pass over the whole store (writing the next snapshot) does not leave
    /// it all in memory. A damaged snapshot block ends the pass early (and marks the snapshot
    /// damaged).
    pub fn scan(&self, mut f: impl FnMut(&Entry) -> bool) {
        let by_seq = &self.by_seq;
        let mut added = self
            .order
            .iter()
            .filter_map(|seq| Some((seq, by_seq.get(seq)?)))
            .peekable();
        if let Some(base) = &self.base {
            for row in 0..base.decoded.rows {
                let Some(seq) = base.seq(row) else {
                    return;
                };
                while let Some((added_seq, held)) = added.next_if(|(s, _)| **s < seq) {
                    if !self.visit(*added_seq, held, &mut f) {
                        return;
                    }
                }
                if self.hidden.contains(&seq) {
                    continue;
                }
                let go_on = match base.decoded.get(row) {
                    Some(entry) => f(entry),
                    None => match base.decode_row(row) {
                        Some(entry) => f(&entry),
                        None => return,
                    },
                };
                if !go_on {
                    return;
                }
            }
        }
        for (seq, held) in added {
            if !self.visit(*seq, held, &mut f) {
                return;
            }
        }
    }

    /// Hands a checkpoint of the in-memory layer to `f` (a delta's not read before is decoded
    /// for the call, and not kept); false when `f` says to stop or it does not decode.
    fn visit(&self, seq: u64, held: &Held, f: &mut impl FnMut(&Entry) -> bool) -> bool {
        match held {
            Held::Entry(entry) => f(entry),
            Held::Encoded(e) => match e.decoded.get() {
                Some(entry) => f(entry),
                None => self.decode_held(seq, e).is_some_and(|entry| f(&entry)),
            },
        }
    }

    /// The ids nearest `id` below and above it (in byte order) among the checkpoints' ids. A
    /// snapshot checkpoint removed since may still count: a neighbour too many only makes a
    /// prefix that tells `id` apart longer, never ambiguous.
    pub fn id_neighbours(&self, id: &CheckpointId) -> (Option<[u8; 16]>, Option<[u8; 16]>) {
        let key = *id.as_bytes();
        let mut below = None;
        let mut above = None;
        let mut consider = |other: [u8; 16]| {
            if other < key && below.is_none_or(|b| other > b) {
                below = Some(other);
            }
            if other > key && above.is_none_or(|a| other < a) {
                above = Some(other);
            }
        };
        if let Some(base) = &self.base {
            let snap = &base.snap;
            let rows = snap.rows(TableId::Ids);
            let id_at = |row: usize| {
                snap.row(TableId::Ids, row).map(|r| {
                    let mut id = [0u8; 16];
                    id.copy_from_slice(&r[..16]);
                    id
                })
            };
            if let Some(at) = snap.search(TableId::Ids, 0, rows, |r| r[..16] < key[..]) {
                if let Some(prev) = at.checked_sub(1).and_then(id_at) {
                    consider(prev);
                }
                let next = match id_at(at) {
                    Some(same) if same == key => id_at(at + 1),
                    other => other,
                };
                if let Some(next) = next {
                    consider(next);
                }
            }
        }
        for other in self.ids.keys() {
            consider(*other.as_bytes());
        }
        (below, above)
    }

    /// Up to `limit` ids from `lo` to `hi` (inclusive, byte order) of checkpoints here, in
    /// byte order.
    pub fn ids_between(&self, lo: [u8; 16], hi: [u8; 16], limit: usize) -> Vec<CheckpointId> {
        if limit == 0 {
            return Vec::new();
        }
        let mut found: Vec<CheckpointId> = self
            .ids
            .keys()
            .filter(|id| (lo..=hi).contains(id.as_bytes()))
            .copied()
            .collect();
        if let Some(base) = &self.base {
            let snap = &base.snap;
            let rows = snap.rows(TableId::Ids);
            let mut row = snap
                .search(TableId::Ids, 0, rows, |r| r[..16] < lo[..])
                .unwrap_or(rows);
            // The snapshot's come in order: the first `limit` of them are all that can count.
            let mut taken = 0;
            while let Some(r) = snap.row(TableId::Ids, row).filter(|r| r[..16] <= hi[..]) {
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&r[..16]);
                let id = CheckpointId::from_bytes(bytes);
                if !self.ids.contains_key(&id) && self.contains(&id) {
                    found.push(id);
                    taken += 1;
                    if taken == limit {
                        break;
                    }
                }
                row += 1;
            }
        }
        found.sort_unstable_by_key(|id| *id.as_bytes());
        found.truncate(limit);
        found
    }

    /// Every checkpoint, in seq order.
    pub fn iter(&self) -> Iter<'_> {
        self.range(0..=u64::MAX)
    }

    /// The checkpoints with seqs in `seqs`, in seq order.
    pub fn range(&self, seqs: RangeInclusive<u64>) -> Iter<'_> {
        let (i, j) = self
            .base
            .as_ref()
            .and_then(|b| b.rows_of(&seqs))
            .unwrap_or((0, 0));
        Iter {
            entries: self,
            i,
            j,
            front: None,
            back: None,
            added: self.order.range(seqs),
            added_front: None,
            added_back: None,
        }
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

/// The checkpoints of a seq range, in order: the snapshot's rows `i..j` not hidden, merged
/// with those added since.
pub(crate) struct Iter<'a> {
    entries: &'a Entries,
    i: usize,
    j: usize,
    /// A snapshot checkpoint taken from either end of `i..j` but not handed out yet.
    front: Option<&'a Entry>,
    back: Option<&'a Entry>,
    added: alloc::collections::btree_set::Range<'a, u64>,
    added_front: Option<&'a Entry>,
    added_back: Option<&'a Entry>,
}

impl<'a> Iter<'a> {
    /// The next snapshot checkpoint from the front (`back`: from the back) that is not hidden.
    fn base_next(&mut self, back: bool) -> Option<&'a Entry> {
        let base = self.entries.base.as_ref()?;
        while self.i < self.j {
            let row = if back { self.j - 1 } else { self.i };
            let Some(seq) = base.seq(row) else {
                // A damaged block (the snapshot is marked so): nothing more is read from it.
                self.i = self.j;
                return None;
            };
            if back {
                self.j -= 1;
            } else {
                self.i += 1;
            }
            if self.entries.hidden.contains(&seq) {
                continue;
            }
            match base.entry(row) {
                Some(entry) => return Some(entry),
                None => {
                    self.i = self.j;
                    return None;
                }
            }
        }
        None
    }

    fn peek_base_front(&mut self) -> Option<&'a Entry> {
        if self.front.is_none() {
            self.front = self.base_next(false).or_else(|| self.back.take());
        }
        self.front
    }

    fn peek_base_back(&mut self) -> Option<&'a Entry> {
        if self.back.is_none() {
            self.back = self.base_next(true).or_else(|| self.front.take());
        }
        self.back
    }

    fn peek_added_front(&mut self) -> Option<&'a Entry> {
        if self.added_front.is_none() {
            let entries = self.entries;
            // A delta's checkpoint that does not decode is left out (the snapshot is marked
            // damaged, which the store reports).
            self.added_front = self
                .added
                .find_map(|seq| entries.held(*seq, entries.by_seq.get(seq)?))
                .or_else(|| self.added_back.take());
        }
        self.added_front
    }

    fn peek_added_back(&mut self) -> Option<&'a Entry> {
        if self.added_back.is_none() {
            let entries = self.entries;
            self.added_back = self
                .added
                .by_ref()
                .rev()
                .find_map(|seq| entries.held(*seq, entries.by_seq.get(seq)?))
                .or_else(|| self.added_front.take());
        }
        self.added_back
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        if self.entries.base.is_none() {
            // Nothing to merge: the common case of a store not read from a snapshot.
            let entries = self.entries;
            return self
                .added
                .find_map(|seq| entries.held(*seq, entries.by_seq.get(seq)?));
        }
        match (self.peek_base_front(), self.peek_added_front()) {
            (Some(b), Some(a)) if a.cp.seq < b.cp.seq => self.added_front.take(),
            (Some(_), _) => self.front.take(),
            (None, Some(_)) => self.added_front.take(),
            (None, None) => None,
        }
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<&'a Entry> {
        if self.entries.base.is_none() {
            let entries = self.entries;
            return self
                .added
                .by_ref()
                .rev()
                .find_map(|seq| entries.held(*seq, entries.by_seq.get(seq)?));
        }
        match (self.peek_base_back(), self.peek_added_back()) {
            (Some(b), Some(a)) if a.cp.seq > b.cp.seq => self.added_back.take(),
            (Some(_), _) => self.back.take(),
            (None, Some(_)) => self.added_back.take(),
            (None, None) => None,
        }
    }
}
