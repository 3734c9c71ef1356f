//! The chunk table: every distinct chunk once, keyed by its blake3 hash, with a reference count.
//!
//! Core keeps only where a chunk's bytes live in the backend (position and length), never the
//! bytes themselves, so memory holds indexes while states stay on the medium. A state or
//! attachment is a list of slot numbers (4 bytes per chunk). When a count drops to zero the slot
//! is freed; its bytes are reclaimed by the next log rewrite.
//!
//! Memory per distinct chunk is about 54 bytes: the 48-byte slot (hash, position, length,
//! count) and a 4-byte slot number in a hash table keyed by the slot's own hash (a blake3 hash
//! is already uniform, so its first 8 bytes serve as the table hash; nothing is stored twice).

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
}

#[derive(Debug, Default)]
pub(crate) struct ChunkTable {
    slots: Vec<ChunkInfo>,
    free: Vec<Slot>,
    by_hash: HashTable<Slot>,
    stored_bytes: u64,
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

    /// Adds a chunk with no references yet; the caller adds them with [`ChunkTable::retain`].
    pub fn insert(&mut self, hash: Hash, pos: u64, len: u32) -> Slot {
        if let Some(slot) = self.lookup(&hash) {
            return slot;
        }
        let info = ChunkInfo {
            hash,
            pos,
            len,
            refs: 0,
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
                let len = info.len;
                self.unindex(slot);
                self.stored_bytes -= len as u64;
                self.free.push(slot);
            }
        }
    }

    /// Frees chunks inserted but never retained (an aborted write).
    pub fn drop_unreferenced(&mut self, slots: &[Slot]) {
        for &slot in slots {
            let info = &self.slots[slot as usize];
            if info.refs == 0 && self.lookup(&info.hash) == Some(slot) {
                let len = info.len;
                self.unindex(slot);
                self.stored_bytes -= len as u64;
                self.free.push(slot);
            }
        }
    }

    pub fn set_pos(&mut self, slot: Slot, pos: u64) {
        self.slots[slot as usize].pos = pos;
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

    /// A table with exactly these slots and free list (read from an index snapshot). `None`
    /// when they do not make a table: a free slot out of range or listed twice, or two live
    /// slots with one hash.
    pub fn restore(slots: Vec<ChunkInfo>, free: Vec<Slot>) -> Option<ChunkTable> {
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
        }
        Some(table)
    }

    /// Number of distinct live chunks.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }
}
