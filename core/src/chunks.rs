//! The chunk table: every distinct chunk once, keyed by its blake3 hash, with a reference count.
//!
//! Core keeps only where a chunk's bytes live in the backend (position and length), never the
//! bytes themselves, so memory holds indexes while states stay on the medium. A state or
//! attachment is a list of slot numbers (4 bytes per chunk). When a count drops to zero the slot
//! is freed; its bytes are reclaimed by the next log rewrite.
//!
//! Memory per distinct chunk is about 66 bytes: the 56-byte slot (hash, position, length,
//! count, chunk number), a 4-byte slot number in a hash table keyed by the slot's own hash (a
//! blake3 hash is already uniform, so its first 8 bytes serve as the table hash; nothing is
//! stored twice), and 4 bytes in the list of chunk numbers.
//!
//! **A snapshot's table.** Opened from an index snapshot (see [`crate::snapshot`]), the table
//! is two layers: the snapshot's slots, hashes and numbers, read in place from its tables (see
//! `store::tables`), and what changed since, in memory — a changed slot (its count, or its
//! position after a rewrite) is copied into memory, and chunks inserted since take new slots
//! after the snapshot's. The snapshot's slots are dense (a snapshot is written without free
//! slots), so a slot of the snapshot is live exactly while its count is above zero; its freed
//! slots are not reused before the next snapshot, which numbers the slots afresh.
//!
//! **Chunk numbers.** Every chunk gets the next number of its log when it is inserted (0, 1,
//! 2, ... in log order; a log rewrite numbers its chunks afresh). Format version 3 records name
//! chunks by number instead of by 32-byte hash (see [`crate::record::CompactBlob`]). A number
//! stops resolving when its chunk is freed, and is never handed out again, so a stale number
//! in a damaged log finds nothing rather than another chunk.

use alloc::sync::Arc;
use alloc::vec::Vec;

use hashbrown::{HashMap, HashTable};
use serde::{Deserialize, Serialize};

use crate::id::Hash;
use crate::store::tables::{Persisted, TableId, u32_at, u64_at};

/// Index of a chunk in the table.
pub(crate) type Slot = u32;

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct ChunkInfo {
    pub hash: Hash,
    pub pos: u64,
    pub len: u32,
    pub refs: u32,
    /// The chunk's number in its log.
    pub number: u64,
}

impl ChunkInfo {
    /// Where the chunk lies: (position, length).
    pub fn extent(&self) -> (u64, u32) {
        (self.pos, self.len)
    }

    /// A row of the snapshot's slot table.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hash.0);
        out.extend_from_slice(&self.pos.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.refs.to_le_bytes());
        out.extend_from_slice(&self.number.to_le_bytes());
    }

    fn read(row: &[u8]) -> ChunkInfo {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&row[..32]);
        ChunkInfo {
            hash: Hash(hash),
            pos: u64_at(row, 32),
            len: u32_at(row, 40),
            refs: u32_at(row, 44),
            number: u64_at(row, 48),
        }
    }
}

/// A number that names no live chunk.
pub(crate) const NO_SLOT: Slot = Slot::MAX;

/// What stands for a slot of a damaged snapshot block: no bytes, no references.
const UNREADABLE: ChunkInfo = ChunkInfo {
    hash: Hash([0; 32]),
    pos: 0,
    len: 0,
    refs: 0,
    number: u64::MAX,
};

/// A snapshot's chunk table: its slots `0..slots` (all live when it was written) and its
/// chunk numbers `0..numbers`.
#[derive(Debug)]
struct BaseChunks {
    snap: Arc<Persisted>,
    slots: Slot,
    numbers: u64,
}

#[derive(Debug, Default)]
pub(crate) struct ChunkTable {
    base: Option<BaseChunks>,
    /// Slots of the snapshot changed since it was read.
    changed: HashMap<Slot, ChunkInfo>,
    /// The slots after the snapshot's (all of them without one).
    slots: Vec<ChunkInfo>,
    /// Free slots among `slots`, in the order they are reused.
    free: Vec<Slot>,
    /// Live slots among `slots`, by hash.
    by_hash: HashTable<Slot>,
    stored_bytes: u64,
    live: usize,
    /// The slot of each chunk number handed out after the snapshot's ([`NO_SLOT`] once freed).
    numbers: Vec<Slot>,
    /// Numbers of the snapshot freed since.
    freed_numbers: hashbrown::HashSet<u64>,
}

/// What a [`ChunkTable`] read from a snapshot changed since (what a snapshot delta keeps, see
/// [`crate::snapshot`]).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChunkDelta {
    /// The snapshot's chunk numbers still in use (0 after a rewrite numbered chunks afresh).
    base_numbers: u64,
    changed: Vec<(Slot, ChunkInfo)>,
    slots: Vec<ChunkInfo>,
    free: Vec<Slot>,
    stored_bytes: u64,
    live: u64,
    numbers: Vec<Slot>,
    freed_numbers: Vec<u64>,
}

/// The table hash of a chunk hash: its first 8 bytes.
fn table_hash(hash: &Hash) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash.0[..8]);
    u64::from_le_bytes(b)
}

impl ChunkTable {
    /// The table a snapshot holds: `slots` live slots (of which `stored_bytes` bytes) and
    /// `numbers` chunk numbers handed out.
    pub fn persisted(snap: Arc<Persisted>, slots: Slot, numbers: u64, stored_bytes: u64) -> Self {
        ChunkTable {
            base: Some(BaseChunks {
                snap,
                slots,
                numbers,
            }),
            stored_bytes,
            live: slots as usize,
            ..ChunkTable::default()
        }
    }

    /// What changed since the snapshot; `None` for a table not read from one.
    pub fn delta(&self) -> Option<ChunkDelta> {
        let base = self.base.as_ref()?;
        let mut changed: Vec<(Slot, ChunkInfo)> =
            self.changed.iter().map(|(s, i)| (*s, *i)).collect();
        changed.sort_unstable_by_key(|(s, _)| *s);
        let mut freed_numbers: Vec<u64> = self.freed_numbers.iter().copied().collect();
        freed_numbers.sort_unstable();
        Some(ChunkDelta {
            base_numbers: base.numbers,
            changed,
            slots: self.slots.clone(),
            free: self.free.clone(),
            stored_bytes: self.stored_bytes,
            live: self.live as u64,
            numbers: self.numbers.clone(),
            freed_numbers,
        })
    }

    /// Applies what [`delta`](ChunkTable::delta) listed to a table just read from its
    /// snapshot; `None` when it does not fit (a changed slot or number out of the snapshot,
    /// a free or numbered slot out of the table, or a slot's hash twice).
    pub fn apply_delta(&mut self, delta: ChunkDelta) -> Option<()> {
        let base = self.base.as_mut()?;
        if delta.base_numbers > base.numbers {
            return None;
        }
        base.numbers = delta.base_numbers;
        let base_slots = base.slots;
        let count = base_slots as usize + delta.slots.len();
        if delta.changed.iter().any(|(s, _)| *s >= base_slots)
            || delta
                .free
                .iter()
                .any(|s| *s < base_slots || *s as usize >= count)
            || delta
                .numbers
                .iter()
                .any(|s| *s != NO_SLOT && *s as usize >= count)
            || delta.freed_numbers.iter().any(|n| *n >= delta.base_numbers)
        {
            return None;
        }
        self.changed = delta.changed.into_iter().collect();
        self.slots = delta.slots;
        self.free = delta.free;
        self.stored_bytes = delta.stored_bytes;
        self.live = usize::try_from(delta.live).ok()?;
        self.numbers = delta.numbers;
        self.freed_numbers = delta.freed_numbers.into_iter().collect();
        let mut free = alloc::vec![false; self.slots.len()];
        for s in &self.free {
            let flag = &mut free[(*s - base_slots) as usize];
            if *flag {
                return None;
            }
            *flag = true;
        }
        for (i, info) in self.slots.iter().enumerate() {
            if free[i] {
                continue;
            }
            let slot = base_slots + i as Slot;
            let slots = &self.slots;
            if self
                .by_hash
                .find(table_hash(&info.hash), |s| {
                    slots[(*s - base_slots) as usize].hash == info.hash
                })
                .is_some()
            {
                return None;
            }
            self.by_hash
                .insert_unique(table_hash(&info.hash), slot, |s| {
                    table_hash(&slots[(*s - base_slots) as usize].hash)
                });
        }
        Some(())
    }

    fn base_slots(&self) -> Slot {
        self.base.as_ref().map_or(0, |b| b.slots)
    }

    fn base_numbers(&self) -> u64 {
        self.base.as_ref().map_or(0, |b| b.numbers)
    }

    pub fn lookup(&self, hash: &Hash) -> Option<Slot> {
        let base_slots = self.base_slots();
        let slots = &self.slots;
        if let Some(slot) = self.by_hash.find(table_hash(hash), |s| {
            slots[(*s - base_slots) as usize].hash == *hash
        }) {
            return Some(*slot);
        }
        let base = self.base.as_ref()?;
        let rows = base.snap.rows(TableId::ChunkHashes);
        let row = base
            .snap
            .search(TableId::ChunkHashes, 0, rows, |row| row[..32] < hash.0[..])?;
        let row = base.snap.row(TableId::ChunkHashes, row)?;
        let slot = u32_at(row, 32);
        (row[..32] == hash.0[..] && slot < base.slots && self.get(slot).refs > 0).then_some(slot)
    }

    fn unindex(&mut self, slot: Slot) {
        let base_slots = self.base_slots();
        if slot < base_slots {
            return;
        }
        let slots = &self.slots;
        let hash = slots[(slot - base_slots) as usize].hash;
        if let Ok(entry) = self.by_hash.find_entry(table_hash(&hash), |s| *s == slot) {
            entry.remove();
        }
    }

    /// The chunk in `slot` (a slot the index handed out; one in a damaged snapshot block reads
    /// as an empty chunk, and the snapshot is marked damaged).
    pub fn get(&self, slot: Slot) -> ChunkInfo {
        let base_slots = self.base_slots();
        if slot >= base_slots {
            let info = self.slots.get((slot - base_slots) as usize);
            return info.copied().unwrap_or(UNREADABLE);
        }
        if let Some(info) = self.changed.get(&slot) {
            return *info;
        }
        self.base
            .as_ref()
            .and_then(|b| b.snap.row(TableId::ChunkSlots, slot as usize))
            .map_or(UNREADABLE, ChunkInfo::read)
    }

    /// Where the chunk in `slot` lies, (position, length): [`get`](Self::get) without copying
    /// the rest of it, for the loops that read states.
    pub fn extent(&self, slot: Slot) -> (u64, u32) {
        let info = match slot.checked_sub(self.base_slots()) {
            Some(i) => self.slots.get(i as usize).unwrap_or(&UNREADABLE),
            None => return self.get(slot).extent(),
        };
        info.extent()
    }

    /// The chunk in `slot`, to change.
    fn get_mut(&mut self, slot: Slot) -> &mut ChunkInfo {
        let base_slots = self.base_slots();
        if slot >= base_slots {
            return &mut self.slots[(slot - base_slots) as usize];
        }
        if !self.changed.contains_key(&slot) {
            let info = self.get(slot);
            self.changed.insert(slot, info);
        }
        self.changed.entry(slot).or_insert(UNREADABLE)
    }

    /// The live chunk with this number.
    pub fn by_number(&self, number: u64) -> Option<Slot> {
        let base_numbers = self.base_numbers();
        if number >= base_numbers {
            let slot = *self
                .numbers
                .get(usize::try_from(number - base_numbers).ok()?)?;
            return (slot != NO_SLOT).then_some(slot);
        }
        let base = self.base.as_ref()?;
        if self.freed_numbers.contains(&number) {
            return None;
        }
        let slot = u32_at(base.snap.row(TableId::ChunkNumbers, number as usize)?, 0);
        if slot >= base.slots {
            return None;
        }
        let info = self.get(slot);
        (info.refs > 0 && info.number == number).then_some(slot)
    }

    /// The number the next chunk inserted gets.
    pub fn next_number(&self) -> u64 {
        self.base_numbers() + self.numbers.len() as u64
    }

    /// Skips numbers up to `number` (a salvaged log whose records that took them are lost).
    pub fn skip_numbers_to(&mut self, number: u64) {
        if let Ok(to) = usize::try_from(number.saturating_sub(self.base_numbers()))
            && to > self.numbers.len()
        {
            self.numbers.resize(to, NO_SLOT);
        }
    }

    /// Adds a chunk with no references yet, with the next chunk number; the caller adds
    /// references with [`ChunkTable::retain`]. A chunk already in the table keeps its slot
    /// and number.
    pub fn insert(&mut self, hash: Hash, pos: u64, len: u32) -> Slot {
        if let Some(slot) = self.lookup(&hash) {
            return slot;
        }
        let number = self.next_number();
        let info = ChunkInfo {
            hash,
            pos,
            len,
            refs: 0,
            number,
        };
        let base_slots = self.base_slots();
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[(slot - base_slots) as usize] = info;
                slot
            }
            None => {
                self.slots.push(info);
                base_slots + (self.slots.len() - 1) as Slot
            }
        };
        let slots = &self.slots;
        self.by_hash.insert_unique(table_hash(&hash), slot, |s| {
            table_hash(&slots[(*s - base_slots) as usize].hash)
        });
        self.stored_bytes += len as u64;
        self.live += 1;
        self.numbers.push(slot);
        slot
    }

    pub fn retain(&mut self, slots: &[Slot]) {
        for &slot in slots {
            self.get_mut(slot).refs += 1;
        }
    }

    /// Drops one reference from each slot; frees slots that reach zero.
    pub fn release(&mut self, slots: &[Slot]) {
        for &slot in slots {
            let info = self.get_mut(slot);
            info.refs = info.refs.saturating_sub(1);
            if info.refs == 0 {
                self.free_slot(slot);
            }
        }
    }

    fn free_slot(&mut self, slot: Slot) {
        let info = self.get(slot);
        self.unindex(slot);
        self.stored_bytes = self.stored_bytes.saturating_sub(info.len as u64);
        self.live = self.live.saturating_sub(1);
        let base_numbers = self.base_numbers();
        if info.number < base_numbers {
            self.freed_numbers.insert(info.number);
        } else if let Some(n) = usize::try_from(info.number - base_numbers)
            .ok()
            .and_then(|n| self.numbers.get_mut(n))
            .filter(|n| **n == slot)
        {
            *n = NO_SLOT;
        }
        if slot >= self.base_slots() {
            self.free.push(slot);
        }
    }

    /// Frees chunks inserted but never retained (an aborted write).
    pub fn drop_unreferenced(&mut self, slots: &[Slot]) {
        for &slot in slots {
            let info = self.get(slot);
            if slot >= self.base_slots() && info.refs == 0 && self.lookup(&info.hash) == Some(slot)
            {
                self.free_slot(slot);
            }
        }
    }

    pub fn set_pos(&mut self, slot: Slot, pos: u64) {
        self.get_mut(slot).pos = pos;
    }

    /// Numbers the live chunks afresh (after a log rewrite): `numbered` lists each chunk's slot
    /// at its new number, in order. Chunks left out (garbage, or only used by what a
    /// compaction removes) have no number.
    pub fn renumber(&mut self, numbered: Vec<Slot>) {
        for slot in 0..self.slot_count() as Slot {
            self.get_mut(slot).number = u64::MAX;
        }
        for (number, &slot) in numbered.iter().enumerate() {
            self.get_mut(slot).number = number as u64;
        }
        if let Some(base) = &mut self.base {
            base.numbers = 0;
        }
        self.freed_numbers.clear();
        self.numbers = numbered;
    }

    /// Total bytes of distinct live chunks.
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// One more than the highest slot number in use (live or free).
    pub fn slot_count(&self) -> usize {
        self.base_slots() as usize + self.slots.len()
    }

    /// Number of distinct live chunks.
    pub fn len(&self) -> usize {
        self.live
    }

    /// The slot of every chunk number handed out, in number order ([`NO_SLOT`] for one freed).
    pub fn numbers(&self) -> impl Iterator<Item = Slot> + '_ {
        (0..self.next_number()).map(|n| self.by_number(n).unwrap_or(NO_SLOT))
    }
}
