//! Records: every mutation of a store, as it is written to the log.
//!
//! A record payload is the postcard encoding of [`Record`] followed, for records that bring new
//! chunks, by the raw bytes of those chunks in order. Keeping chunk bytes outside postcard lets a
//! backend serve a chunk by (position, length) without decoding anything, and lets core compute
//! every chunk's position while encoding.
//!
//! The enum's variant index is the record kind. Kinds are only ever added at the end; a reader
//! meets a kind it does not know with [`CorruptKind::UnknownRecord`], never a misread.
//!
//! A state (or attachment) lists its chunks as a [`BlobRecord`]: optionally "the first `prefix`
//! chunks of checkpoint `base`" (a growing conversation shares all but its tail with its
//! parent, so the log grows with new chunks only, not with the whole list), then chunk
//! references by hash or by index into the record's new chunks. An attachment can do the same
//! with the attachment of the same key on another checkpoint ([`Record::DerivedAttachment`]).

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::annotation::Annotation;
use crate::checkpoint::Trigger;
use crate::error::CorruptKind;
use crate::frame::{self, FRAME_HEADER_LEN};
use crate::id::{CheckpointId, Hash, SessionId};

/// Number of record kinds this build knows.
pub(crate) const RECORD_KINDS: u32 = 18;

// Records are built one at a time and encoded straight away; boxing the large variants would
// cost an allocation per write for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Record {
    Session(SessionRecord),
    Checkpoint(CheckpointRecord),
    Annotation(AnnotationRecord),
    Attachment(AttachmentRecord),
    DeleteCheckpoint(CheckpointId),
    DeleteSession(SessionId),
    Head(HeadRecord),
    /// The next seq the store hands out is at least this (written at the start of a rewritten
    /// log, so seqs of removed checkpoints are never reused).
    SeqFloor(u64),
    /// The next `n` records form one transaction: a log that ends before all of them is replayed
    /// without any of them.
    Txn(u32),
    /// Closes a transaction that a crash cut short: its records already in the log are void.
    /// Written at open, so records appended afterwards are never mistaken for its missing ones.
    TxnAbort,
    /// An attachment whose `blob.base` names the attachment with the same key on another
    /// checkpoint (an [`Attachment`](Record::Attachment)'s base is that checkpoint's state): a
    /// value that grows from one checkpoint to the next is logged as its new tail only.
    DerivedAttachment(AttachmentRecord),
    /// Format version 2: ends every write, carrying the first 16 bytes of the log's running
    /// hash over every frame since the log began (see [`crate::chain`]).
    Seal(Seal),
    /// Format version 2: the first frame of a log. `previous_head` is the head of the log this
    /// one replaced, when a compaction wrote it.
    LogStart(Option<Hash>),
    /// Format version 2, segmented backends: the first frame of a segment, naming the segment
    /// and the one before it in the same log (`None` for the log's first). Written by the
    /// backend, outside the hash chain.
    SegmentStart(SegmentStart),
    /// Format version 3: a checkpoint in its compact form (see [`CompactCheckpoint`]).
    CompactCheckpoint(CompactCheckpoint),
    /// Format version 3: an attachment in its compact form.
    CompactAttachment(CompactAttachment),
    /// Format version 3: a derived attachment (see [`Record::DerivedAttachment`]) in its
    /// compact form.
    CompactDerivedAttachment(CompactAttachment),
    /// Format version 3: the first frame of a log (as [`Record::LogStart`] in version 2), so
    /// that the records of a log tell its version even where no header does.
    CompactLogStart(Option<Hash>),
}

/// The truncated running hash a [`Record::Seal`] carries.
pub(crate) type Seal = [u8; SEAL_LEN];

/// Bytes of the running hash kept in a seal: enough that damage never matches by chance; the
/// full 32-byte head is computed, never stored.
pub(crate) const SEAL_LEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SegmentStart {
    pub number: u32,
    pub previous: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub id: SessionId,
    pub name: String,
    pub metadata: String,
    pub created_at: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckpointRecord {
    pub id: CheckpointId,
    pub session: SessionId,
    pub namespace: String,
    pub seq: u64,
    pub parent: Option<CheckpointId>,
    pub parent_hash: Option<Hash>,
    pub created_at: u64,
    pub message: String,
    pub tags: Vec<String>,
    pub trigger: Trigger,
    pub metadata: String,
    pub hash: Hash,
    pub state: BlobRecord,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnnotationRecord {
    pub checkpoint: CheckpointId,
    pub annotation: Annotation,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AttachmentRecord {
    pub checkpoint: CheckpointId,
    pub key: String,
    pub blob: BlobRecord,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct HeadRecord {
    pub session: SessionId,
    pub head: Option<CheckpointId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct BlobRecord {
    pub content_type: String,
    pub len: u64,
    pub base: Option<BaseRef>,
    pub chunks: Vec<ChunkRef>,
    pub new: Vec<NewChunk>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct BaseRef {
    pub checkpoint: CheckpointId,
    pub prefix: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum ChunkRef {
    /// A chunk already in the store.
    Known(Hash),
    /// The n-th new chunk of this record.
    New(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct NewChunk {
    pub hash: Hash,
    pub len: u32,
}

/// Format version 3: a checkpoint as the log keeps it. What the index can tell is left out: the
/// checkpoint's hash (computed from its fields on replay, exactly as the writer did, and held
/// to the first 8 bytes of it that the record keeps), the
/// parent's id and hash when the parent is in the store (named by how many seqs back it is),
/// the chunk hashes (a chunk is named by its number, and a new chunk's hash is computed from
/// its bytes). Ids are raw 16-byte arrays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompactCheckpoint {
    pub id: [u8; 16],
    pub session: [u8; 16],
    pub namespace: String,
    pub seq: u64,
    /// The first 8 bytes of the checkpoint's hash as its writer computed it: what `verify`
    /// holds the contents to.
    pub check: [u8; 8],
    pub parent: ParentRef,
    pub created_at: u64,
    pub message: String,
    pub tags: Vec<String>,
    pub trigger: Trigger,
    /// The canonical metadata text, empty for `{}`.
    pub metadata: String,
    pub state: CompactBlob,
}

/// Format version 3: a checkpoint's parent.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum ParentRef {
    /// A root.
    None,
    /// The checkpoint this many seqs before this one (in the store when the record was written).
    Back(u64),
    /// A parent that was not in the store when the record was written (removed before an
    /// export or a compaction): its id and, when known, its hash.
    Detached(CheckpointId, Option<Hash>),
}

/// Format version 3: an attachment as the log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompactAttachment {
    pub checkpoint: CheckpointId,
    pub key: String,
    pub blob: CompactBlob,
}

/// Format version 3: a blob's chunk list. Every chunk a log stores gets the next **chunk
/// number** of that log when its bytes are logged (0, 1, 2, ... in log order); a record names
/// the number of its first new chunk, so a log with records missing (a salvage) never
/// attributes numbers to the wrong chunks. The list is: the first `prefix` chunks of a base
/// blob, then runs of consecutive chunk numbers. Each run starts at an offset from where the
/// previous one ended (the first from `first_new`), so the runs of a state that reuses recent
/// chunks take a byte or two each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompactBlob {
    /// Stored as a [`ContentType`].
    #[serde(with = "content_type_code")]
    pub content_type: String,
    pub len: u64,
    pub base: Option<CompactBase>,
    /// The chunk number of the first new chunk (the next number of the log).
    pub first_new: u64,
    /// The new chunks, whose bytes follow the record in this order. Only their lengths are
    /// stored: their hashes are computed from their bytes when the record is read
    /// ([`Record::hash_new_chunks`]) and known to the writer when it is written.
    #[serde(with = "lengths_only")]
    pub new: Vec<NewChunk>,
    pub runs: Vec<Run>,
}

/// New chunks stored by length only (see [`CompactBlob::new`]).
mod lengths_only {
    use alloc::vec::Vec;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::NewChunk;
    use crate::id::Hash;

    pub fn serialize<S: Serializer>(new: &[NewChunk], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(new.iter().map(|c| c.len))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NewChunk>, D::Error> {
        let lens = Vec::<u32>::deserialize(d)?;
        Ok(lens
            .into_iter()
            .map(|len| NewChunk {
                hash: Hash([0; 32]),
                len,
            })
            .collect())
    }
}

/// A content type stored as a [`ContentType`], held as its text.
mod content_type_code {
    use alloc::string::String;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::ContentType;

    pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        ContentType::of(text).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(ContentType::<String>::deserialize(d)?.into_string())
    }
}

/// A base blob: the state of the checkpoint `back` seqs before the record's checkpoint (or, for
/// a derived attachment, that checkpoint's attachment of the same key), of which the first
/// `prefix` chunks are shared.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompactBase {
    pub back: i64,
    pub prefix: u32,
}

/// Consecutive chunk numbers `start .. start + len`, `start` given as an offset from the end of
/// the run before.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Run {
    pub offset: i64,
    pub len: u32,
}

/// A content type, with the common ones in one byte; `Other` holds the text of the rest
/// (borrowed when writing, owned when reading).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum ContentType<S> {
    Json,
    OctetStream,
    Text,
    Other(S),
}

impl<'a> ContentType<&'a str> {
    pub fn of(text: &'a str) -> Self {
        match text {
            "application/json" => ContentType::Json,
            "application/octet-stream" => ContentType::OctetStream,
            "text/plain" => ContentType::Text,
            other => ContentType::Other(other),
        }
    }
}

impl ContentType<String> {
    pub fn into_string(self) -> String {
        match self {
            ContentType::Json => String::from("application/json"),
            ContentType::OctetStream => String::from("application/octet-stream"),
            ContentType::Text => String::from("text/plain"),
            ContentType::Other(text) => text,
        }
    }
}

impl Record {
    /// The lengths of the new chunks this record carries (their bytes follow the postcard part).
    fn new_chunk_lens(&self) -> impl Iterator<Item = u64> + '_ {
        let new: &[NewChunk] = match self {
            Record::Checkpoint(c) => &c.state.new,
            Record::Attachment(a) | Record::DerivedAttachment(a) => &a.blob.new,
            Record::CompactCheckpoint(c) => &c.state.new,
            Record::CompactAttachment(a) | Record::CompactDerivedAttachment(a) => &a.blob.new,
            _ => &[],
        };
        new.iter().map(|c| c.len as u64)
    }

    /// The compact blob of a version 3 record.
    pub(crate) fn compact_blob(&self) -> Option<&CompactBlob> {
        match self {
            Record::CompactCheckpoint(c) => Some(&c.state),
            Record::CompactAttachment(a) | Record::CompactDerivedAttachment(a) => Some(&a.blob),
            _ => None,
        }
    }

    /// The compact blob of a version 3 record, to fill in.
    pub(crate) fn compact_blob_mut(&mut self) -> Option<&mut CompactBlob> {
        match self {
            Record::CompactCheckpoint(c) => Some(&mut c.state),
            Record::CompactAttachment(a) | Record::CompactDerivedAttachment(a) => Some(&mut a.blob),
            _ => None,
        }
    }

    /// Whether this record is one of the kinds only format version 3 writes (`Some(true)`),
    /// one only versions 1 and 2 write (`Some(false)`), or one of any version.
    pub(crate) fn is_compact(&self) -> Option<bool> {
        match self {
            Record::CompactCheckpoint(_)
            | Record::CompactAttachment(_)
            | Record::CompactDerivedAttachment(_)
            | Record::CompactLogStart(_) => Some(true),
            Record::Checkpoint(_)
            | Record::Attachment(_)
            | Record::DerivedAttachment(_)
            | Record::LogStart(_) => Some(false),
            _ => None,
        }
    }

    /// The hashes the chain takes in after this record: a version 3 record's new chunks'
    /// (it names them by length only); none for any other.
    pub(crate) fn chained_chunk_hashes(&self) -> impl Iterator<Item = &Hash> {
        self.compact_blob()
            .map_or(&[][..], |b| &b.new[..])
            .iter()
            .map(|c| &c.hash)
    }

    /// Fills in a version 3 record's new chunk hashes from its chunk bytes (`raw`, which
    /// [`read`] checked against the announced lengths).
    pub(crate) fn hash_new_chunks(&mut self, raw: &[u8]) {
        if let Some(blob) = self.compact_blob_mut() {
            let mut at = 0usize;
            for chunk in &mut blob.new {
                let end = at + chunk.len as usize;
                chunk.hash = Hash::of(&raw[at..end]);
                at = end;
            }
        }
    }
}

/// Appends `record` as one frame to `out`, followed by the raw bytes of its new chunks.
/// Returns the offset in `out` where the raw chunk bytes start.
pub(crate) fn write(out: &mut Vec<u8>, record: &Record, raw: &[&[u8]]) -> usize {
    let frame_start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    // Encoding into a Vec cannot fail for these types.
    let taken = core::mem::take(out);
    *out = postcard::to_extend(record, taken).unwrap_or_default();
    let raw_start = out.len();
    for bytes in raw {
        out.extend_from_slice(bytes);
    }
    frame::seal_frame(out, frame_start);
    raw_start
}

/// The frame a segmented backend writes first in segment `number` of a version 2 log, after
/// the header: `previous` is the segment before it in the same log (`None` for the first).
pub fn segment_start_frame(number: u32, previous: Option<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    write(
        &mut out,
        &Record::SegmentStart(SegmentStart { number, previous }),
        &[],
    );
    out
}

/// Decodes a payload into its record and the raw chunk area, checking that the raw area has
/// exactly the bytes the record announces.
pub(crate) fn read(payload: &[u8]) -> Result<(Record, &[u8]), CorruptKind> {
    let kind = peek_kind(payload)?;
    if kind >= RECORD_KINDS {
        return Err(CorruptKind::UnknownRecord(kind));
    }
    let (record, raw) =
        postcard::take_from_bytes::<Record>(payload).map_err(|_| CorruptKind::Decode)?;
    let announced = record
        .new_chunk_lens()
        .try_fold(0u64, |sum, len| sum.checked_add(len));
    if announced != Some(raw.len() as u64) {
        return Err(CorruptKind::Inconsistent(
            "chunk bytes do not match their announced lengths",
        ));
    }
    Ok((record, raw))
}

/// Reads the leading varint (the variant index) of a payload.
pub(crate) fn peek_kind(payload: &[u8]) -> Result<u32, CorruptKind> {
    let mut value: u32 = 0;
    for (i, byte) in payload.iter().take(5).enumerate() {
        value |= ((byte & 0x7f) as u32) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(CorruptKind::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_raw_chunks() {
        let rec = Record::Attachment(AttachmentRecord {
            checkpoint: CheckpointId::from_bytes([1; 16]),
            key: "writes".into(),
            blob: BlobRecord {
                content_type: "application/octet-stream".into(),
                len: 5,
                base: None,
                chunks: alloc::vec![ChunkRef::New(0)],
                new: alloc::vec![NewChunk {
                    hash: Hash::of(b"hello"),
                    len: 5
                }],
            },
        });
        let mut out = Vec::new();
        let raw_at = write(&mut out, &rec, &[b"hello"]);
        assert_eq!(&out[raw_at..], b"hello");
        let payload = &out[FRAME_HEADER_LEN..];
        assert!(frame::FrameHeader::read(&out).unwrap().matches(payload));
        let (back, raw) = read(payload).unwrap();
        assert_eq!(back, rec);
        assert_eq!(raw, b"hello");
    }

    #[test]
    fn unknown_kinds_are_named() {
        assert_eq!(read(&[42, 0, 0]), Err(CorruptKind::UnknownRecord(42)));
        assert_eq!(
            read(&[0x80, 0x80, 0x80, 0x80, 0x80]),
            Err(CorruptKind::Decode)
        );
    }

    #[test]
    fn raw_length_mismatch_is_rejected() {
        let rec = Record::SeqFloor(7);
        let mut out = Vec::new();
        write(&mut out, &rec, &[b"junk"]);
        assert!(matches!(
            read(&out[FRAME_HEADER_LEN..]),
            Err(CorruptKind::Inconsistent(_))
        ));
    }
}
