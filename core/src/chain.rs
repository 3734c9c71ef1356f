//! The log's hash chain (format versions 2 and 3): a log that commits to its own order.
//!
//! A running blake3 hash covers every frame of a log from its first, in log order: for each
//! frame, its payload length (u32 LE) and its record — the payload without the raw chunk bytes
//! that follow the record. A version 2 record binds those bytes by listing each new chunk's
//! blake3 hash and length (checked by every frame's checksum at open, and by `verify`, which
//! re-hashes every chunk); a version 3 record lists lengths only, and the chain takes in each
//! new chunk's hash after the record (computed from the bytes on replay, known to the writer),
//! so a chunk changed in the log breaks the chain too. Seals and segment starts only record the
//! hash. Hashing chunk hashes rather than chunk bytes keeps the chain's cost per write and per
//! open to the records, not the states. Every write (one backend append) ends with a **seal**,
//! a frame carrying the first 16 bytes of the running hash as it stands after the write's
//! frames:
//!
//! ```text
//! head_0     = 32 zero bytes                                        (the empty log)
//! head_{k+1} = blake3(head_k || len(p1) || r1 || len(p2) || r2 ...)  (the frames of write k+1:
//!              payload length, then the record without its chunk bytes — in version 3
//!              followed by its new chunks' hashes)
//! seal       = head_{k+1}[..16]
//! ```
//!
//! So a record removed, inserted, reordered or changed anywhere — a checkpoint, a session, an
//! annotation, a head move, an attachment — makes the next seal disagree, and opening the log
//! fails there with [`CorruptKind::ChainBroken`]. The full
//! 32-byte head after the last seal is the log's **head hash** ([`Store::log_head`]): a user who
//! keeps it can later show that nothing was cut off the end (`rewind verify --expect-head`). What
//! it cannot show: an attacker who rewrites the whole log recomputes every seal and the head,
//! which is why the head is worth keeping somewhere else.
//!
//! The frames after the last seal (a write a crash cut short before its seal landed) must look
//! like one write — one record, or a transaction's opening frame and at most its records; more
//! than that means seals were removed. A writer's open voids them with an abort record and
//! seals them, in one append, so the chain goes on from there; when the power goes again
//! before that seal lands, the tail is the cut write and the abort, which is accepted too
//! (and voided and sealed by the next open).
//!
//! [`Store::log_head`]: crate::Store::log_head

use crate::error::CorruptKind;
use crate::frame::{FRAME_HEADER_LEN, FrameHeader};
use crate::id::Hash;
use crate::record::{Record, SEAL_LEN, Seal, SegmentStart};

/// Which format a log being replayed turned out to have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Version {
    /// No record frame seen yet (an empty log, or segment starts only).
    #[default]
    Unknown,
    /// Version 1: no chain.
    V1,
    /// Version 2: sealed writes.
    V2,
    /// Version 3: sealed writes of compact records (see [`crate::record::CompactCheckpoint`]).
    V3,
}

impl Version {
    /// Whether every write of such a log is sealed (versions 2 and 3).
    pub fn sealed(self) -> bool {
        matches!(self, Version::V2 | Version::V3)
    }

    /// The version's number in a log header (an empty log is written as the newest).
    pub fn number(self) -> u16 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
            Version::V3 | Version::Unknown => 3,
        }
    }
}

/// The running hash of a log and what replay learned about its structure.
#[derive(Clone, Debug, Default)]
pub(crate) struct Chain {
    pub version: Version,
    /// The running hash after the last seal (`head_k` above).
    head: [u8; 32],
    /// The hash of the frames since the last seal, primed with `head`.
    pending: Option<blake3::Hasher>,
    /// Record frames since the last seal (a log start not counted).
    pending_records: u32,
    /// Every frame since the last seal.
    pending_frames: u32,
    /// When the first of them opened a transaction: its record count.
    pending_txn: Option<u32>,
    /// When one of them is an abort (what a writer's open appends to void a write cut short):
    /// how many records came before it.
    pending_abort: Option<u32>,
    /// Where the first unsealed frame starts (for errors).
    pending_at: u64,
    /// Seals seen or written.
    pub seals: u64,
    /// A segment start was seen before any record: the log is version 2.
    saw_segment: bool,
    /// The last segment start seen.
    last_segment: Option<u32>,
    /// The head of the log a compaction replaced, from the log start.
    pub previous_head: Option<Hash>,
    /// A head being looked for (`verify --expect-head`), and whether a seal reached it.
    pub watch: Option<Hash>,
    pub watch_found: bool,
    /// Salvaging a damaged log: structure is not checked.
    pub salvage: bool,
    /// The log's log-start record exists (a new version 2 log gets it with its first write).
    pub started: bool,
    /// The chain was resumed from an index snapshot, which does not know the segment its
    /// position is in: the next segment start may name any segment before it.
    resumed: bool,
    /// Content records of format version 3 (`compact`) and of versions 1 and 2 (`wide`) seen
    /// in the log: one log has one kind, the one its header's version says.
    pub compact: bool,
    pub wide: bool,
}

impl Chain {
    /// The head hash after the last seal.
    pub fn head(&self) -> Hash {
        Hash(self.head)
    }

    /// Whether frames were replayed or written since the last seal.
    pub fn has_unsealed(&self) -> bool {
        self.pending.is_some()
    }

    /// Frames after the last seal, for the load report.
    pub fn unsealed_frames(&self) -> u32 {
        self.pending_frames
    }

    /// Adds a frame to the running hash: its payload's length and `record`, the payload
    /// without its raw chunk bytes. `txn` is the record count when the frame opens a
    /// transaction; `log_start` marks the log's first frame.
    pub fn absorb(
        &mut self,
        at: u64,
        payload_len: usize,
        record: &[u8],
        txn: Option<u32>,
        log_start: bool,
    ) {
        let head = self.head;
        let hasher = self.pending.get_or_insert_with(|| primed(&head));
        hasher.update(&(payload_len as u32).to_le_bytes());
        hasher.update(record);
        self.pending_frames = self.pending_frames.saturating_add(1);
        if log_start {
            return;
        }
        if self.pending_records == 0 {
            self.pending_at = at;
            self.pending_txn = txn;
        }
        self.pending_records = self.pending_records.saturating_add(1);
    }

    /// Adds the hashes of the new chunks of the frame just absorbed (a version 3 record, which
    /// names its new chunks by length only: the chain binds their bytes through these).
    pub fn absorb_chunk_hashes<'h>(&mut self, hashes: impl Iterator<Item = &'h Hash>) {
        let head = self.head;
        let hasher = self.pending.get_or_insert_with(|| primed(&head));
        for hash in hashes {
            hasher.update(&hash.0);
        }
    }

    /// Closes the frames since the last seal: the new head, and the seal that records it.
    pub fn seal(&mut self) -> Seal {
        let hasher = self.pending.take().unwrap_or_else(|| primed(&self.head));
        let head = *hasher.finalize().as_bytes();
        self.advance(head);
        if self.watch == Some(Hash(head)) {
            self.watch_found = true;
        }
        truncated(&head)
    }

    /// Checks a seal read from the log against the frames before it.
    pub fn check_seal(&mut self, stored: &Seal) -> Result<(), CorruptKind> {
        if !self.version.sealed() && !self.salvage {
            return Err(CorruptKind::Inconsistent("a seal in a version 1 log"));
        }
        let computed = self.seal();
        if computed != *stored && !self.salvage {
            return Err(CorruptKind::ChainBroken);
        }
        Ok(())
    }

    /// Checks a segment start: it must follow the segment it names, at a write boundary.
    pub fn segment(&mut self, start: SegmentStart) -> Result<(), CorruptKind> {
        if self.salvage {
            return Ok(());
        }
        if self.version == Version::V1 {
            return Err(CorruptKind::Inconsistent(
                "a segment start in a version 1 log",
            ));
        }
        if self.pending.is_some() {
            // The previous segment ended inside a write: its seal is gone.
            return Err(CorruptKind::ChainBroken);
        }
        let unknown = self.resumed && self.last_segment.is_none() && start.previous.is_some();
        if start.previous != self.last_segment && !unknown {
            return Err(match start.previous {
                Some(missing) => CorruptKind::SegmentMissing(missing),
                None => CorruptKind::Inconsistent("a log's first segment in the middle of it"),
            });
        }
        self.saw_segment = true;
        self.last_segment = Some(start.number);
        Ok(())
    }

    /// Notes the log's first record frame: a log start makes it version 2.
    pub fn first_record(&mut self, log_start: bool) -> Result<(), CorruptKind> {
        if self.version != Version::Unknown {
            // A writer of a shared log that found it empty, catching up on another writer's
            // first write, meets that write's log start before anything else.
            let first_of_empty = !self.started && self.seals == 0 && self.version.sealed();
            if log_start && !self.salvage && !first_of_empty {
                return Err(CorruptKind::Inconsistent(
                    "a log-start record in the middle of a log",
                ));
            }
            self.started |= log_start;
            return Ok(());
        }
        self.started = log_start;
        self.version = if log_start {
            Version::V2
        } else if self.saw_segment && !self.salvage {
            return Err(CorruptKind::Inconsistent(
                "a version 2 log must begin with its log-start record",
            ));
        } else {
            Version::V1
        };
        Ok(())
    }

    /// The last segment start seen.
    pub fn last_segment(&self) -> Option<u32> {
        self.last_segment
    }

    /// Forgets the frames after the last seal, as if the log ended there: a read-only store's
    /// view ends at its last sealed write, and a refresh reads on from there. `last_segment` is
    /// the segment that seal is in.
    pub fn forget_pending(&mut self, last_segment: Option<u32>) {
        self.pending = None;
        self.pending_records = 0;
        self.pending_frames = 0;
        self.pending_txn = None;
        self.pending_abort = None;
        self.last_segment = last_segment;
    }

    /// Notes that the record just absorbed is an abort.
    pub fn absorbed_abort(&mut self) {
        if self.pending_abort.is_none() {
            self.pending_abort = Some(self.pending_records.saturating_sub(1));
        }
    }

    /// At the end of a replay: the frames after the last seal must look like one write cut
    /// short — or like one write cut short and then the abort a writer's open appends to void
    /// it (the abort and its seal are one append, so the power can go between them: nothing
    /// else may follow the abort). Returns where they start when they do not.
    pub fn check_tail(&self) -> Result<(), (u64, CorruptKind)> {
        if !self.version.sealed() || self.salvage {
            return Ok(());
        }
        let records = match self.pending_abort {
            Some(before) if self.pending_records == before.saturating_add(1) => before,
            Some(_) => return Err((self.pending_at, CorruptKind::ChainBroken)),
            None => self.pending_records,
        };
        if records <= 1 {
            return Ok(());
        }
        match self.pending_txn {
            Some(n) if records <= n.saturating_add(1) => Ok(()),
            _ => Err((self.pending_at, CorruptKind::ChainBroken)),
        }
    }

    /// The chain as it stood at a sealed point an index snapshot recorded (see
    /// [`crate::snapshot`]): replay goes on from there.
    pub fn resume(version: Version, head: Hash, previous_head: Option<Hash>, seals: u64) -> Chain {
        Chain {
            version,
            head: head.0,
            previous_head,
            seals,
            started: version.sealed(),
            saw_segment: version.sealed(),
            resumed: true,
            ..Chain::default()
        }
    }

    /// The chain a new log of the newest version starts from.
    pub fn fresh() -> Chain {
        Chain {
            version: Version::V3,
            ..Chain::default()
        }
    }

    /// The head and seal that closing `frames` (whole frames, as a write appends them) would
    /// give, without changing the chain: a write applies them with [`Chain::advance`] once its
    /// append succeeded. `raw` marks the frames that carry chunk bytes (see [`RawMarks`]).
    pub fn seal_of(&self, frames: &[u8], raw: &RawMarks) -> ([u8; 32], Seal) {
        let mut hasher = self.pending.clone().unwrap_or_else(|| primed(&self.head));
        let mut marks = raw.marks.iter().peekable();
        let mut pos = 0;
        while let Some(head) = frames.get(pos..).and_then(FrameHeader::read) {
            let start = pos + FRAME_HEADER_LEN;
            let end = (start + head.len as usize).min(frames.len());
            // Marks of earlier frames (there are none when they come in order) are passed over.
            loop {
                match marks.peek() {
                    Some(Mark::Frame { frame, .. }) if *frame < pos => {}
                    Some(Mark::Chunk(_)) => {}
                    _ => break,
                }
                marks.next();
            }
            let mut record_end = end;
            let mine = matches!(marks.peek(), Some(Mark::Frame { frame, .. }) if *frame == pos);
            if let (true, Some(Mark::Frame { raw_at, .. })) = (mine, marks.peek()) {
                record_end = (*raw_at).clamp(start, end);
                marks.next();
            }
            hasher.update(&head.len.to_le_bytes());
            hasher.update(&frames[start..record_end]);
            while let (true, Some(Mark::Chunk(hash))) = (mine, marks.peek()) {
                hasher.update(&hash.0);
                marks.next();
            }
            pos = end;
        }
        let head = *hasher.finalize().as_bytes();
        (head, truncated(&head))
    }

    /// Moves the chain past a write whose seal [`Chain::seal_of`] (or [`Chain::seal`])
    /// computed.
    pub fn advance(&mut self, head: [u8; 32]) {
        self.head = head;
        self.pending = None;
        self.pending_records = 0;
        self.pending_frames = 0;
        self.pending_txn = None;
        self.pending_abort = None;
        self.seals += 1;
        self.started = true;
    }
}

/// The frames of a write that carry chunk bytes, for [`Chain::seal_of`]: where each starts in
/// the write's buffer, where its chunk bytes start (the chain covers the record before them),
/// and, for a version 3 record, its new chunks' hashes (which the chain covers in place of the
/// bytes, as replay computes them).
#[derive(Clone, Debug, Default)]
pub(crate) struct RawMarks {
    /// Each marked frame, followed by its new chunks' hashes (one list: one allocation).
    marks: alloc::vec::Vec<Mark>,
}

#[derive(Clone, Debug)]
enum Mark {
    /// A frame that starts at `frame` and whose chunk bytes start at `raw_at`.
    Frame { frame: usize, raw_at: usize },
    /// The hash of a new chunk of the frame marked before.
    Chunk(Hash),
}

impl RawMarks {
    /// Marks the frame of `rec` that starts at `frame` and whose chunk bytes start at
    /// `raw_at`.
    pub fn push(&mut self, frame: usize, raw_at: usize, rec: &Record) {
        self.marks.push(Mark::Frame { frame, raw_at });
        self.marks
            .extend(rec.chained_chunk_hashes().map(|h| Mark::Chunk(*h)));
    }

    pub fn clear(&mut self) {
        self.marks.clear();
    }

    /// The same marks in a buffer that starts `by` bytes later.
    pub fn shifted_back(&self, by: usize) -> RawMarks {
        RawMarks {
            marks: self
                .marks
                .iter()
                .map(|mark| match mark {
                    Mark::Frame { frame, raw_at } => Mark::Frame {
                        frame: frame - by,
                        raw_at: raw_at - by,
                    },
                    chunk => chunk.clone(),
                })
                .collect(),
        }
    }
}

/// A hasher for the frames after a seal whose head is `head`.
fn primed(head: &[u8; 32]) -> blake3::Hasher {
    let mut hasher = blake3::Hasher::new();
    hasher.update(head);
    hasher
}

/// The part of a head a seal stores.
fn truncated(head: &[u8; 32]) -> Seal {
    let mut seal = [0u8; SEAL_LEN];
    seal.copy_from_slice(&head[..SEAL_LEN]);
    seal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_commits_to_every_frame_and_their_order() {
        let seal_of = |frames: &[&[u8]]| {
            let mut c = Chain::fresh();
            for (i, f) in frames.iter().enumerate() {
                c.absorb(i as u64, f.len(), f, None, false);
            }
            c.seal()
        };
        let base = seal_of(&[b"a", b"bc"]);
        assert_eq!(base, seal_of(&[b"a", b"bc"]));
        assert_ne!(base, seal_of(&[b"bc", b"a"]), "reordered");
        assert_ne!(base, seal_of(&[b"ab", b"c"]), "reframed");
        assert_ne!(base, seal_of(&[b"a"]), "removed");
        assert_ne!(base, seal_of(&[b"a", b"bc", b""]), "inserted");
    }

    #[test]
    fn a_replayed_chain_checks_the_seals_a_writer_made() {
        let mut writer = Chain::fresh();
        writer.absorb(0, 3, b"one", None, false);
        let s1 = writer.seal();
        writer.absorb(1, 3, b"two", None, false);
        let s2 = writer.seal();

        let mut reader = Chain::fresh();
        reader.absorb(0, 3, b"one", None, false);
        assert_eq!(reader.check_seal(&s1), Ok(()));
        reader.absorb(1, 3, b"tw0", None, false);
        assert_eq!(reader.check_seal(&s2), Err(CorruptKind::ChainBroken));
        assert_eq!(writer.head().0[..SEAL_LEN], s2);
    }
}
