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
//! **Chunk numbers.** Every chunk gets the next number of its log when it is inserted (0, 1,
//! 2, ... in log order; a log rewrite numbers its chunks afresh). Format version 3 records name
//! chunks by number instead of by 32-byte hash (see [`crate::record::CompactBlob`]). A number
//! stops resolving when its chunk is freed, and is never handed out again, so a stale number
//! in a damaged log finds nothing rather than another chunk.

use alloc::vec::Vec;

use hashbrown::HashTable;

use crate::id::Hash;

/// Index of a chunk in the table.
pub(crate) type Slot = u32;

#[derive(Clone, Debug)]
pub(crate) struct ChunkInfo {
    pub hash: Hash,
    pub pos: u64,
    pub len: u32,
    pub refs: u32,
    /// The chunk's number in its log.
    pub number: u64,
}

/// A number that names no live chunk.
const NO_SLOT: Slot = Slot::MAX;

#[derive(Debug, Default)]
pub(crate) struct ChunkTable {
    slots: Vec<ChunkInfo>,
    free: Vec<Slot>,
    by_hash: HashTable<Slot>,
    stored_bytes: u64,
    /// The slot of each chunk number handed out ([`NO_SLOT`] once freed).
    numbers: Vec<Slot>,
}

/// The table hash of a chunk hash: its first 8 bytes.
fn table_hash(hash: &Hash) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash.0[..8]);
    u64::from_le_bytes(b)
}

impl ChunkTable {
    pub fn lookup(&self, hash: &Hash) -> Option<Slot> {
        let slots = &self.slots;
        self.by_hash
            .find(table_hash(hash), |s| slots[*s as usize].hash == *hash)
            .copied()
    }

    fn unindex(&mut self, slot: Slot) {
        let slots = &self.slots;
        let hash = slots[slot as usize].hash;
        if let Ok(entry) = self.by_hash.find_entry(table_hash(&hash), |s| *s == slot) {
            entry.remove();
        }
    }

    pub fn get(&self, slot: Slot) -> &ChunkInfo {
        &self.slots[slot as usize]
    }

    /// The live chunk with this number.
    pub fn by_number(&self, number: u64) -> Option<Slot> {
        let slot = *self.numbers.get(usize::try_from(number).ok()?)?;
        (slot != NO_SLOT).then_some(slot)
    }

    /// The number the next chunk inserted gets.
    pub fn next_number(&self) -> u64 {
        self.numbers.len() as u64
    }

    /// Skips numbers up to `number` (a salvaged log whose records that took them are lost).
    pub fn skip_numbers_to(&mut self, number: u64) {
        if let Ok(to) = usize::try_from(number)
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
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = info;
                slot
            }
            None => {
                self.slots.push(info);
                (self.slots.len() - 1) as Slot
            }
        };
        let slots = &self.slots;
        self.by_hash.insert_unique(table_hash(&hash), slot, |s| {
            table_hash(&slots[*s as usize].hash)
        });
        self.stored_bytes += len as u64;
        self.numbers.push(slot);
        slot
    }

    pub fn retain(&mut self, slots: &[Slot]) {
        for &slot in slots {
            self.slots[slot as usize].refs += 1;
        }
    }

    /// Drops one reference from each slot; frees slots that reach zero.
    pub fn release(&mut self, slots: &[Slot]) {
        for &slot in slots {
            let info = &mut self.slots[slot as usize];
            info.refs -= 1;
            if info.refs == 0 {
                self.free_slot(slot);
            }
        }
    }

    fn free_slot(&mut self, slot: Slot) {
        let info = &self.slots[slot as usize];
        let (len, number) = (info.len, info.number);
        self.unindex(slot);
        self.stored_bytes -= len as u64;
        if let Some(n) = usize::try_from(number)
            .ok()
            .and_then(|n| self.numbers.get_mut(n))
            .filter(|n| **n == slot)
        {
            *n = NO_SLOT;
        }
        self.free.push(slot);
    }

    /// Frees chunks inserted but never retained (an aborted write).
    pub fn drop_unreferenced(&mut self, slots: &[Slot]) {
        for &slot in slots {
            let info = &self.slots[slot as usize];
            if info.refs == 0 && self.lookup(&info.hash) == Some(slot) {
                self.free_slot(slot);
            }
        }
    }

    pub fn set_pos(&mut self, slot: Slot, pos: u64) {
        self.slots[slot as usize].pos = pos;
    }

    /// Numbers the live chunks afresh (after a log rewrite): `numbered` lists each chunk's slot
    /// at its new number, in order. Chunks left out (garbage, or only used by what a
    /// compaction removes) have no number.
    pub fn renumber(&mut self, numbered: Vec<Slot>) {
        for info in &mut self.slots {
            info.number = u64::MAX;
        }
        for (number, &slot) in numbered.iter().enumerate() {
            self.slots[slot as usize].number = number as u64;
        }
        self.numbers = numbered;
    }

    /// Total bytes of distinct live chunks.
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// One more than the highest slot number in use (live or free).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Every slot, live or free, in slot order (what an index snapshot keeps).
    pub fn slots(&self) -> &[ChunkInfo] {
        &self.slots
    }

    /// The free slots, in the order they are reused.
    pub fn free_slots(&self) -> &[Slot] {
        &self.free
    }

    /// A table with exactly these slots and free list, and `next_number` numbers handed out
    /// (read from an index snapshot). `None` when they do not make a table: a free slot out of
    /// range or listed twice, two live slots with one hash or one number, a number not below
    /// `next_number` (which the caller bounds, so it cannot ask for a huge list), or numbers
    /// out of the order of the chunks' positions.
    pub fn restore(slots: Vec<ChunkInfo>, free: Vec<Slot>, next_number: u64) -> Option<ChunkTable> {
        let mut is_free = alloc::vec![false; slots.len()];
        for &slot in &free {
            let flag = is_free.get_mut(slot as usize)?;
            if *flag {
                return None;
            }
            *flag = true;
        }
        let mut table = ChunkTable {
            by_hash: HashTable::with_capacity(slots.len() - free.len()),
            numbers: alloc::vec![NO_SLOT; usize::try_from(next_number).ok()?],
            slots,
            free,
            stored_bytes: 0,
        };
        for (slot, info) in table.slots.iter().enumerate() {
            if is_free[slot] {
                continue;
            }
            let slots = &table.slots;
            let hash = table_hash(&info.hash);
            if table
                .by_hash
                .find(hash, |s| slots[*s as usize].hash == info.hash)
                .is_some()
            {
                return None;
            }
            table
                .by_hash
                .insert_unique(hash, slot as Slot, |s| table_hash(&slots[*s as usize].hash));
            table.stored_bytes += info.len as u64;
            let number = table.numbers.get_mut(usize::try_from(info.number).ok()?)?;
            if *number != NO_SLOT {
                return None;
            }
            *number = slot as Slot;
        }
        // Numbers are handed out in log order, and a chunk's bytes sit where the log was then:
        // in number order, positions only grow.
        let mut last_pos = None;
        for &slot in &table.numbers {
            if slot == NO_SLOT {
                continue;
            }
            let pos = table.slots[slot as usize].pos;
            if last_pos.is_some_and(|last| last >= pos) {
                return None;
            }
            last_pos = Some(pos);
        }
        Some(table)
    }

    /// Number of distinct live chunks.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }
}
