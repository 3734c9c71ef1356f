//! The tables of an index snapshot, read in place.
//!
//! A snapshot (see [`super::snapshot`]) holds what replay builds as sorted tables of
//! fixed-width rows and one heap of variable-length checkpoint entries. An open does not decode
//! them: it keeps the snapshot's bytes as the host holds them ([`SnapshotBytes`]: in memory,
//! or a file it reads from) and reads a row where a lookup needs it — a binary search touches a handful of blocks of a table of any size.
//!
//! **Blocks and checksums.** Every table (and the heap) is a region of the snapshot split
//! into blocks of [`BLOCK`] bytes; no row of a table crosses a block (a block ends in zeros
//! where the next row would not fit). The snapshot's summary, which has its own checksum and
//! is read whole at open, lists each block's checksum (the first 8 bytes of its blake3 hash). A
//! block is checked the first time anything in it is read: a snapshot held in memory is then
//! read in place (one bit per block remembers it was checked); one in a file is read a block at
//! a time, and each block read is kept (so what an open store holds of it grows with what it
//! reads, and a reference into it lasts as long as the store). A block that does not match is never used: the read finds nothing, the snapshot
//! is marked damaged ([`Persisted::damaged`]) and the store's next operation reports it as an
//! error (see [`crate::CorruptKind::Snapshot`]).

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use once_cell::race::OnceBox;
use serde::{Deserialize, Serialize};

use crate::backend::SnapshotBytes;
use crate::id::Hash;

/// Bytes per block of a table.
pub(crate) const BLOCK: usize = 4096;

/// Bytes of a block's checksum.
const SUM_LEN: usize = 8;

fn block_sum(block: &[u8]) -> [u8; SUM_LEN] {
    let mut sum = [0u8; SUM_LEN];
    sum.copy_from_slice(&Hash::of(block).0[..SUM_LEN]);
    sum
}

/// Where a region is in the snapshot, and its blocks' checksums (what the summary keeps).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct RegionSnap {
    pub at: u64,
    pub len: u64,
    pub sums: Vec<[u8; SUM_LEN]>,
}

impl RegionSnap {
    /// Describes `out[start..]` as a region, computing its blocks' checksums.
    pub fn of(out: &[u8], start: usize) -> RegionSnap {
        RegionSnap {
            at: start as u64,
            len: (out.len() - start) as u64,
            sums: out[start..].chunks(BLOCK).map(block_sum).collect(),
        }
    }
}

/// Appends rows of `width` bytes to a region that starts at `start` in `out`, so that no row
/// crosses a block: a row that would is put at the start of the next block, after zeros.
pub(crate) fn push_row(out: &mut Vec<u8>, start: usize, width: usize, row: &[u8]) {
    let used = (out.len() - start) % BLOCK;
    if used + width > BLOCK {
        out.resize(out.len() + BLOCK - used, 0);
    }
    out.extend_from_slice(row);
}

/// A region of the snapshot with its blocks' checksums, and the blocks checked so far (kept,
/// when the snapshot is read from a file rather than held in memory).
struct Region {
    at: u64,
    len: usize,
    sums: Vec<[u8; SUM_LEN]>,
    /// Blocks read and checked (a source that is not in memory).
    blocks: Vec<OnceBox<Box<[u8]>>>,
    /// Blocks checked, one bit each (a source in memory). 32-bit words: every target has
    /// them (thumbv7em has no 64-bit atomics).
    checked: Vec<AtomicU32>,
}

impl Region {
    /// The region `snap` describes, in a snapshot of `file_len` bytes; `None` when it does not
    /// fit in the file or its checksums do not cover it.
    fn new(snap: RegionSnap, file_len: u64, in_memory: bool) -> Option<Region> {
        let len = usize::try_from(snap.len).ok()?;
        if snap.at.checked_add(snap.len)? > file_len || snap.sums.len() != len.div_ceil(BLOCK) {
            return None;
        }
        let blocks = snap.sums.len();
        Some(Region {
            at: snap.at,
            len,
            sums: snap.sums,
            blocks: if in_memory {
                Vec::new()
            } else {
                (0..blocks).map(|_| OnceBox::new()).collect()
            },
            checked: if in_memory {
                (0..blocks.div_ceil(32))
                    .map(|_| AtomicU32::new(0))
                    .collect()
            } else {
                Vec::new()
            },
        })
    }

    /// Block `block`, checked against its checksum; `None` when it does not match or cannot
    /// be read.
    fn block<'a>(&'a self, file: &'a dyn SnapshotBytes, block: usize) -> Option<&'a [u8]> {
        let start = block.checked_mul(BLOCK).filter(|s| *s < self.len)?;
        let len = (self.len - start).min(BLOCK);
        let at = self.at + start as u64;
        if let Some(all) = file.in_memory() {
            let bytes = all.get(usize::try_from(at).ok()?..)?.get(..len)?;
            let (word, bit) = (&self.checked[block / 32], 1u32 << (block % 32));
            if word.load(Ordering::Relaxed) & bit == 0 {
                if block_sum(bytes) != self.sums[block] {
                    return None;
                }
                word.fetch_or(bit, Ordering::Relaxed);
            }
            return Some(bytes);
        }
        let cell = &self.blocks[block];
        if let Some(bytes) = cell.get() {
            return Some(bytes);
        }
        let mut bytes = alloc::vec![0u8; len].into_boxed_slice();
        file.read_at(at, &mut bytes).ok()?;
        if block_sum(&bytes) != self.sums[block] {
            return None;
        }
        Some(cell.get_or_init(|| Box::new(bytes)))
    }

    /// The region's bytes `at..at + len`, once every block they touch is checked: borrowed
    /// when they are in one block, copied when they cross blocks.
    fn bytes<'a>(
        &'a self,
        file: &'a dyn SnapshotBytes,
        at: usize,
        len: usize,
    ) -> Option<Cow<'a, [u8]>> {
        let end = at.checked_add(len).filter(|end| *end <= self.len)?;
        if len == 0 {
            return Some(Cow::Borrowed(&[]));
        }
        let (first, last) = (at / BLOCK, (end - 1) / BLOCK);
        if first == last {
            let block = self.block(file, first)?;
            return block.get(at % BLOCK..at % BLOCK + len).map(Cow::Borrowed);
        }
        let mut out = Vec::with_capacity(len);
        for b in first..=last {
            let block = self.block(file, b)?;
            let from = if b == first { at % BLOCK } else { 0 };
            let to = if b == last {
                (end - 1) % BLOCK + 1
            } else {
                block.len()
            };
            out.extend_from_slice(block.get(from..to)?);
        }
        Some(Cow::Owned(out))
    }

    /// How many rows of `width` bytes the region holds (rows do not cross blocks); `None`
    /// when its length is not that of whole rows.
    fn rows(&self, width: usize) -> Option<usize> {
        let per_block = BLOCK / width;
        let rest = self.len % BLOCK;
        (rest.is_multiple_of(width) && rest / width <= per_block)
            .then_some(self.len / BLOCK * per_block + rest / width)
    }

    /// Row `row` of `width` bytes.
    fn row<'a>(
        &'a self,
        file: &'a dyn SnapshotBytes,
        width: usize,
        row: usize,
    ) -> Option<&'a [u8]> {
        let per_block = BLOCK / width;
        let block = self.block(file, row / per_block)?;
        let at = (row % per_block) * width;
        block.get(at..at + width)
    }

    fn check_all(&self, file: &dyn SnapshotBytes) -> bool {
        (0..self.sums.len()).all(|b| self.block(file, b).is_some())
    }
}

impl core::fmt::Debug for Region {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Region")
            .field("at", &self.at)
            .field("len", &self.len)
            .finish()
    }
}

/// The tables of a snapshot, in the order the summary lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TableId {
    /// Checkpoints by seq: seq (u64), the entry's place in the heap (u64) and length (u32).
    Seqs,
    /// Checkpoints by id: id (16 bytes), row in `Seqs` (u32).
    Ids,
    /// Each session's checkpoints: session number (u32), seq (u64).
    SessionSeqs,
    /// Each session's checkpoints by time: session number, created_at (u64), seq (u64).
    SessionTimes,
    /// Each session's branch tips: session number, seq.
    SessionLeaves,
    /// Each tag's checkpoints: tag number (u32), seq (u64).
    Tags,
    /// The chunk table by slot: hash (32 bytes), pos (u64), len (u32), refs (u32), number (u64).
    ChunkSlots,
    /// Live chunks by hash: hash (32 bytes), slot (u32).
    ChunkHashes,
    /// The slot of each chunk number handed out (u32, `u32::MAX` once freed).
    ChunkNumbers,
}

impl TableId {
    /// Every table, in the summary's order.
    pub const ALL: [TableId; 9] = [
        TableId::Seqs,
        TableId::Ids,
        TableId::SessionSeqs,
        TableId::SessionTimes,
        TableId::SessionLeaves,
        TableId::Tags,
        TableId::ChunkSlots,
        TableId::ChunkHashes,
        TableId::ChunkNumbers,
    ];

    /// Bytes per row.
    pub const fn width(self) -> usize {
        match self {
            TableId::Seqs => 20,
            TableId::Ids => 20,
            TableId::SessionSeqs | TableId::SessionLeaves | TableId::Tags => 12,
            TableId::SessionTimes => 20,
            TableId::ChunkSlots => 56,
            TableId::ChunkHashes => 36,
            TableId::ChunkNumbers => 4,
        }
    }
}

/// A loaded snapshot's tables and heap over its bytes. Shared (behind an [`Arc`]) by every
/// part of the index that reads from it.
pub(crate) struct Persisted {
    /// The snapshot's checksum (what a delta written on top of it names it by).
    pub checksum: Hash,
    /// The log's size at the snapshot's point.
    pub log_bytes: u64,
    file: Arc<dyn SnapshotBytes>,
    tables: Vec<(Region, usize)>,
    heap: Region,
    damaged: AtomicBool,
}

impl core::fmt::Debug for Persisted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Persisted")
            .field("bytes", &self.file.len())
            .field("damaged", &self.damaged())
            .finish()
    }
}

impl Persisted {
    /// The snapshot's bytes.
    pub fn file(&self) -> &Arc<dyn SnapshotBytes> {
        &self.file
    }

    /// The tables `tables` (in [`TableId::ALL`]'s order) and `heap` describe in `file`; `None`
    /// when one does not fit in it or is not a whole number of rows.
    pub fn new(
        file: Arc<dyn SnapshotBytes>,
        (checksum, log_bytes): (Hash, u64),
        tables: Vec<RegionSnap>,
        heap: RegionSnap,
    ) -> Option<Persisted> {
        let len = file.len();
        let in_memory = file.in_memory().is_some();
        if tables.len() != TableId::ALL.len() {
            return None;
        }
        let tables = tables
            .into_iter()
            .zip(TableId::ALL)
            .map(|(snap, id)| {
                let region = Region::new(snap, len, in_memory)?;
                let rows = region.rows(id.width())?;
                Some((region, rows))
            })
            .collect::<Option<Vec<_>>>()?;
        let heap = Region::new(heap, len, in_memory)?;
        Some(Persisted {
            checksum,
            log_bytes,
            file,
            tables,
            heap,
            damaged: AtomicBool::new(false),
        })
    }

    /// The snapshot's size in bytes.
    pub fn len(&self) -> u64 {
        self.file.len()
    }

    /// Whether a read found a block that does not match its checksum, or something that does
    /// not hold together.
    pub fn damaged(&self) -> bool {
        self.damaged.load(Ordering::Relaxed)
    }

    /// Marks the snapshot damaged: something read from it does not hold together.
    pub fn mark_damaged(&self) {
        self.damaged.store(true, Ordering::Relaxed);
    }

    fn note<T>(&self, read: Option<T>) -> Option<T> {
        if read.is_none() {
            self.mark_damaged();
        }
        read
    }

    /// Checks every block of every table and of the heap; whether all match.
    pub fn check_all(&self) -> bool {
        let file = &*self.file;
        self.tables.iter().all(|(r, _)| r.check_all(file)) && self.heap.check_all(file)
    }

    /// How many rows table `id` has.
    pub fn rows(&self, id: TableId) -> usize {
        self.tables[id as usize].1
    }

    /// Row `row` of table `id`; `None` when it is past the table's end, or (and the
    /// snapshot is marked damaged) its block is damaged.
    pub fn row(&self, id: TableId, row: usize) -> Option<&[u8]> {
        let (region, rows) = &self.tables[id as usize];
        if row >= *rows {
            return None;
        }
        self.note(region.row(&*self.file, id.width(), row))
    }

    /// `len` bytes of the heap at `at`.
    pub fn heap(&self, at: u64, len: u32) -> Option<Cow<'_, [u8]>> {
        let read = usize::try_from(at)
            .ok()
            .and_then(|at| self.heap.bytes(&*self.file, at, len as usize));
        self.note(read)
    }

    /// The first row in `lo..hi` of table `id` for which `before` is false, where `before`
    /// holds for every row up to some point and for none after (a binary search); `None` when
    /// a row on the way cannot be read.
    pub fn search(
        &self,
        id: TableId,
        mut lo: usize,
        mut hi: usize,
        before: impl Fn(&[u8]) -> bool,
    ) -> Option<usize> {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(self.row(id, mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }
}

/// A little-endian integer at `at` in `row` (which the table's width makes long enough).
pub(crate) fn u64_at(row: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&row[at..at + 8]);
    u64::from_le_bytes(b)
}

/// See [`u64_at`].
pub(crate) fn u32_at(row: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&row[at..at + 4]);
    u32::from_le_bytes(b)
}
