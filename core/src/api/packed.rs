//! The packed form of a checkpoint to create: its description and its bytes in one buffer, so a
//! binding that writes often (the npm package, LangGraph's saver) hands the engine one array and
//! nothing is turned into JSON text and parsed back but the metadata.
//!
//! Layout (integers little-endian; a *string* is a `u32` byte length and that many bytes of
//! UTF-8; an *optional string* is a string, or the length `0xFFFF_FFFF` for none):
//!
//! ```text
//! u8      layout version (1)
//! string  session
//! string  message
//! opt     content type
//! opt     namespace
//! opt     id
//! opt     parent
//! u8      flags: bit 0 root (no parent); bit 1 a creation time follows
//! [u64    creation time, Unix ms, when flag bit 1 is set]
//! opt     trigger kind ("manual" | "automatic" | "scheduled")
//! opt     trigger reason
//! opt     metadata (a JSON object as text)
//! u32     tag count, then that many strings
//! u32     attachment count, then for each: string key, string content type, opt base, u32 length
//! u32     state length
//! bytes   the state, then each attachment's bytes in order (nothing after them)
//! ```
//!
//! Every field means what the same field of [`CheckpointInput`] means; [`unpack_checkpoint`] fills one, so
//! the checks and defaults are the ones every binding gets.
//!
//! A list of strings (the ids and keys of many reads in one call) is packed as a `u32` count,
//! then each string: [`unpack_strings`].
//!
//! A listing can come back packed too, for bindings where every string that crosses costs a
//! copy and an allocation (the sandbox component). [`pack_summaries`] writes, for each
//! checkpoint, what a listing's reader most often needs (or less: [`SummaryFields`]), as a
//! table of fixed-size entries and then all the text, so a reader checks the text once and then
//! slices it:
//!
//! ```text
//! u32     count
//! count × 40 bytes, one per checkpoint:
//!         id (16 bytes) | seq (u64) | creation time (u64, Unix ms)
//!         | message length (u32) | tag count (u32)
//! u32 ×   the sum of the tag counts: each tag's length, in page order
//! text    each checkpoint's message and then its tags, in page order, UTF-8 (nothing after)
//! ```
//!
//! [`Summaries`] reads it in place, borrowing every string from the bytes; [`unpack_summaries`]
//! reads it into owned [`Summary`] values.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::{Map, Value};

use super::input::{AttachmentInput, CheckpointInput, TriggerInput};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::id::CheckpointId;

/// The layout version [`unpack_checkpoint`] reads.
pub const PACKED_LAYOUT: u8 = 1;

const NONE: u32 = u32::MAX;
const FLAG_ROOT: u8 = 1;
const FLAG_CREATED_AT: u8 = 2;

/// Reads a packed checkpoint (layout in the [module docs](self)): its description, and the bytes
/// that follow it (the state, then the attachments: pass them to [`CheckpointInput::split`]).
/// Malformed input is an [`Error::InvalidInput`] naming what is wrong; nothing panics.
pub fn unpack_checkpoint(bytes: &[u8]) -> Result<(CheckpointInput, &[u8])> {
    let mut r = Reader { bytes, at: 0 };
    let version = r.u8()?;
    if version != PACKED_LAYOUT {
        return Err(bad(alloc::format!(
            "layout {version} (this engine reads layout {PACKED_LAYOUT})"
        )));
    }
    let session = r.string("session")?;
    let message = r.string("message")?;
    let content_type = r.optional("content type")?;
    let namespace = r.optional("namespace")?;
    let id = r.optional("id")?;
    let parent = r.optional("parent")?;
    let flags = r.u8()?;
    if flags & !(FLAG_ROOT | FLAG_CREATED_AT) != 0 {
        return Err(bad(alloc::format!("unknown flags {flags:#04x}")));
    }
    let created_at = if flags & FLAG_CREATED_AT != 0 {
        Some(r.u64()?)
    } else {
        None
    };
    let trigger_kind = r.optional("trigger kind")?;
    let reason = r.optional("trigger reason")?;
    let trigger = match (trigger_kind, reason) {
        (Some(kind), reason) => Some(TriggerInput { kind, reason }),
        (None, None) => None,
        (None, Some(_)) => return Err(bad("a trigger reason without a trigger kind".into())),
    };
    let metadata = match r.str("metadata")? {
        Some(text) => serde_json::from_str::<Map<String, Value>>(text)
            .map_err(|e| Error::InvalidInput(alloc::format!("checkpoint metadata: {e}")))?,
        None => Map::new(),
    };
    let tag_count = r.count("tags")?;
    let mut tags = Vec::with_capacity(tag_count);
    for _ in 0..tag_count {
        tags.push(r.string("tag")?);
    }
    let attachment_count = r.count("attachments")?;
    let mut attachments = Vec::with_capacity(attachment_count);
    for _ in 0..attachment_count {
        let key = r.string("attachment key")?;
        let content_type = r.string("attachment content type")?;
        let base = r.optional("attachment base")?;
        let len = r.u32()? as usize;
        attachments.push(AttachmentInput {
            key,
            content_type,
            len,
            base,
        });
    }
    let state_len = r.u32()? as usize;
    let input = CheckpointInput {
        session,
        message,
        content_type,
        tags,
        metadata,
        trigger,
        parent,
        root: flags & FLAG_ROOT != 0,
        namespace,
        id,
        created_at,
        state_len: Some(state_len),
        attachments,
    };
    Ok((input, &bytes[r.at..]))
}

/// Reads a packed list of strings (a `u32` count, then each string), with nothing after it.
/// Malformed input is an [`Error::InvalidInput`]; a count the bytes cannot hold allocates
/// nothing.
pub fn unpack_strings(bytes: &[u8]) -> Result<Vec<&str>> {
    let mut r = Reader { bytes, at: 0 };
    let count = r.count("strings")?;
    let mut strings = Vec::with_capacity(count);
    for _ in 0..count {
        strings.push(
            r.str("string")?
                .ok_or_else(|| bad("a string is missing".into()))?,
        );
    }
    if r.at != bytes.len() {
        return Err(bad("bytes left over after the strings".into()));
    }
    Ok(strings)
}

/// What a packed listing carries of a checkpoint ([`pack_summaries`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The checkpoint id.
    pub id: CheckpointId,
    /// Its store-wide sequence number.
    pub seq: u64,
    /// Its creation time, Unix ms.
    pub created_at: u64,
    /// What the moment is.
    pub message: String,
    /// Its tags.
    pub tags: Vec<String>,
}

/// Bytes of one summary's fixed part: id, seq, creation time, message length, tag count.
const SUMMARY_ENTRY: usize = 40;

/// Which of a checkpoint's fields a packed listing carries besides its id, seq and creation
/// time, which it always does. A field left out is packed empty (a message of length 0, no
/// tags), so the layout stays the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SummaryFields {
    /// The message.
    pub message: bool,
    /// The tags.
    pub tags: bool,
}

impl SummaryFields {
    /// Everything: id, seq, creation time, message and tags.
    pub const ALL: SummaryFields = SummaryFields {
        message: true,
        tags: true,
    };
    /// Ids, seqs and creation times only.
    pub const IDS: SummaryFields = SummaryFields {
        message: false,
        tags: false,
    };
}

/// Appends the packed summaries of `items` to `out` (layout in the [module docs](self)), with
/// the `fields` asked for.
pub fn pack_summaries(items: &[&Checkpoint], fields: SummaryFields, out: &mut Vec<u8>) {
    let message = |cp: &Checkpoint| if fields.message { cp.message.len() } else { 0 };
    fn tags(cp: &Checkpoint, fields: SummaryFields) -> &[String] {
        if fields.tags { &cp.tags } else { &[] }
    }
    let tag_count: usize = items.iter().map(|cp| tags(cp, fields).len()).sum();
    let text: usize = items
        .iter()
        .map(|cp| message(cp) + tags(cp, fields).iter().map(String::len).sum::<usize>())
        .sum();
    // Sized once: the page crosses the boundary as this one buffer.
    out.reserve(4 + items.len() * SUMMARY_ENTRY + 4 * tag_count + text);
    // Messages, tags and counts are far below 4 GiB (the engine's limits), so lengths fit.
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for cp in items {
        let mut entry = [0u8; SUMMARY_ENTRY];
        entry[..16].copy_from_slice(cp.id.as_bytes());
        entry[16..24].copy_from_slice(&cp.seq.to_le_bytes());
        entry[24..32].copy_from_slice(&cp.created_at.to_le_bytes());
        entry[32..36].copy_from_slice(&(message(cp) as u32).to_le_bytes());
        entry[36..].copy_from_slice(&(tags(cp, fields).len() as u32).to_le_bytes());
        out.extend_from_slice(&entry);
    }
    for tag in items.iter().flat_map(|cp| tags(cp, fields)) {
        out.extend_from_slice(&(tag.len() as u32).to_le_bytes());
    }
    for cp in items {
        out.extend_from_slice(&cp.message.as_bytes()[..message(cp)]);
        for tag in tags(cp, fields) {
            out.extend_from_slice(tag.as_bytes());
        }
    }
}

/// Reads packed summaries ([`pack_summaries`]) into owned values. Malformed input is an
/// [`Error::InvalidInput`]; a count the bytes cannot hold allocates nothing.
pub fn unpack_summaries(bytes: &[u8]) -> Result<Vec<Summary>> {
    Ok(Summaries::new(bytes)?
        .iter()
        .map(|s| s.to_owned())
        .collect())
}

/// The little-endian `u32` at `at`, if the bytes hold one there.
fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The little-endian `u64` at `at`, if the bytes hold one there.
fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Packed summaries ([`pack_summaries`]) read in place: checked whole once by
/// [`Summaries::new`] (one UTF-8 check of all the text), then each checkpoint's fields are
/// borrowed from the bytes, so reading a page allocates nothing.
#[derive(Clone, Copy, Debug)]
pub struct Summaries<'a> {
    entries: &'a [u8],
    tag_lens: &'a [u8],
    text: &'a str,
}

impl<'a> Summaries<'a> {
    /// Checks `bytes`: the counts fit them, the text is UTF-8 and is exactly what the lengths
    /// add up to, and every string starts and ends on a character boundary. Malformed input is
    /// an [`Error::InvalidInput`].
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        let cut = || bad("ends before its description does".into());
        let count = le_u32(bytes, 0).ok_or_else(cut)? as usize;
        let entries_end = count
            .checked_mul(SUMMARY_ENTRY)
            .and_then(|n| n.checked_add(4))
            .filter(|end| *end <= bytes.len())
            .ok_or_else(|| bad(alloc::format!("{count} summaries in {} bytes", bytes.len())))?;
        let entries = &bytes[4..entries_end];
        let mut tags = 0usize;
        for entry in entries.chunks_exact(SUMMARY_ENTRY) {
            tags = tags.saturating_add(le_u32(entry, 36).ok_or_else(cut)? as usize);
        }
        let tags_end = tags
            .checked_mul(4)
            .and_then(|n| n.checked_add(entries_end))
            .filter(|end| *end <= bytes.len())
            .ok_or_else(|| bad(alloc::format!("{tags} tags in {} bytes", bytes.len())))?;
        let tag_lens = &bytes[entries_end..tags_end];
        let text = core::str::from_utf8(&bytes[tags_end..])
            .map_err(|_| bad("the text of the summaries is not UTF-8".into()))?;
        // Every string's end in turn: on a character boundary, and the last one the text's end.
        let mut at = 0usize;
        let mut lens = tag_lens.chunks_exact(4);
        for entry in entries.chunks_exact(SUMMARY_ENTRY) {
            let strings = 1 + le_u32(entry, 36).ok_or_else(cut)? as usize;
            for i in 0..strings {
                let len = if i == 0 {
                    le_u32(entry, 32)
                } else {
                    lens.next().and_then(|l| le_u32(l, 0))
                };
                at = at.saturating_add(len.ok_or_else(cut)? as usize);
                if !text.is_char_boundary(at) {
                    return Err(bad(alloc::format!(
                        "a string of the summaries ends at byte {at} of {} of text",
                        text.len()
                    )));
                }
            }
        }
        if at != text.len() {
            return Err(bad("bytes left over after the summaries".into()));
        }
        Ok(Summaries {
            entries,
            tag_lens,
            text,
        })
    }

    /// How many checkpoints the page holds.
    pub fn len(&self) -> usize {
        self.entries.len() / SUMMARY_ENTRY
    }

    /// Whether the page is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The checkpoints, in the page's order.
    pub fn iter(&self) -> SummaryIter<'a> {
        SummaryIter {
            entries: self.entries.chunks_exact(SUMMARY_ENTRY),
            tag_lens: self.tag_lens,
            text: self.text,
        }
    }
}

impl<'a> IntoIterator for Summaries<'a> {
    type Item = SummaryRef<'a>;
    type IntoIter = SummaryIter<'a>;
    fn into_iter(self) -> SummaryIter<'a> {
        self.iter()
    }
}

/// The checkpoints of [`Summaries`], in order.
#[derive(Clone, Debug)]
pub struct SummaryIter<'a> {
    entries: core::slice::ChunksExact<'a, u8>,
    /// The lengths of the tags not yet read.
    tag_lens: &'a [u8],
    /// The text not yet read.
    text: &'a str,
}

impl<'a> Iterator for SummaryIter<'a> {
    type Item = SummaryRef<'a>;

    fn next(&mut self) -> Option<SummaryRef<'a>> {
        // `Summaries::new` checked every length and boundary, so no read below fails; were
        // one to, the iteration would end rather than panic.
        let entry = self.entries.next()?;
        let id: [u8; 16] = entry.get(..16)?.try_into().ok()?;
        let message_len = le_u32(entry, 32)? as usize;
        let tag_count = le_u32(entry, 36)? as usize;
        let message = self.text.get(..message_len)?;
        let (lens, rest_lens) = self.tag_lens.split_at_checked(4 * tag_count)?;
        let tags_len: usize = lens
            .chunks_exact(4)
            .map(|l| le_u32(l, 0).unwrap_or(0) as usize)
            .sum();
        let tags_text = self.text.get(message_len..message_len + tags_len)?;
        self.text = self.text.get(message_len + tags_len..)?;
        self.tag_lens = rest_lens;
        Some(SummaryRef {
            id: CheckpointId::from_bytes(id),
            seq: le_u64(entry, 16)?,
            created_at: le_u64(entry, 24)?,
            message,
            tags: Tags {
                lens: lens.chunks_exact(4),
                text: tags_text,
            },
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for SummaryIter<'_> {}

/// One checkpoint of [`Summaries`], borrowed from the packed bytes.
#[derive(Clone, Debug)]
pub struct SummaryRef<'a> {
    /// The checkpoint id.
    pub id: CheckpointId,
    /// Its store-wide sequence number.
    pub seq: u64,
    /// Its creation time, Unix ms.
    pub created_at: u64,
    /// What the moment is.
    pub message: &'a str,
    /// Its tags.
    pub tags: Tags<'a>,
}

impl SummaryRef<'_> {
    /// The same summary as owned values.
    pub fn to_owned(&self) -> Summary {
        Summary {
            id: self.id,
            seq: self.seq,
            created_at: self.created_at,
            message: self.message.to_string(),
            tags: self.tags.clone().map(ToString::to_string).collect(),
        }
    }
}

/// The tags of a [`SummaryRef`], borrowed from the packed bytes.
#[derive(Clone, Debug)]
pub struct Tags<'a> {
    lens: core::slice::ChunksExact<'a, u8>,
    text: &'a str,
}

impl<'a> Iterator for Tags<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let len = le_u32(self.lens.next()?, 0)? as usize;
        let tag = self.text.get(..len)?;
        self.text = self.text.get(len..)?;
        Some(tag)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.lens.size_hint()
    }
}

impl ExactSizeIterator for Tags<'_> {}

fn bad(what: String) -> Error {
    Error::InvalidInput(alloc::format!("packed input: {what}"))
}

/// A cursor over the packed bytes: every read checks the length first.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| bad("ends before its description does".into()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let mut out = [0u8; 8];
        out.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(out))
    }

    /// A count of items that each take at least 4 bytes: never more than the bytes left allow,
    /// so a hostile count cannot make a huge allocation.
    fn count(&mut self, what: &str) -> Result<usize> {
        let n = self.u32()? as usize;
        if n > (self.bytes.len() - self.at) / 4 {
            return Err(bad(alloc::format!(
                "{n} {what} in {} bytes",
                self.bytes.len()
            )));
        }
        Ok(n)
    }

    fn str(&mut self, what: &str) -> Result<Option<&'a str>> {
        let len = self.u32()?;
        if len == NONE {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        core::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| bad(alloc::format!("the {what} is not UTF-8")))
    }

    fn optional(&mut self, what: &str) -> Result<Option<String>> {
        Ok(self.str(what)?.map(ToString::to_string))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        self.optional(what)?
            .ok_or_else(|| bad(alloc::format!("the {what} is missing")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Packs like the npm package does (the one producer of this layout).
    fn pack(parts: &[Part<'_>]) -> Vec<u8> {
        let mut out = vec![PACKED_LAYOUT];
        for part in parts {
            match part {
                Part::Str(s) => {
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
                Part::None => out.extend_from_slice(&NONE.to_le_bytes()),
                Part::U8(b) => out.push(*b),
                Part::U32(n) => out.extend_from_slice(&n.to_le_bytes()),
                Part::U64(n) => out.extend_from_slice(&n.to_le_bytes()),
                Part::Bytes(b) => out.extend_from_slice(b),
            }
        }
        out
    }

    #[derive(Clone, Copy)]
    enum Part<'a> {
        Str(&'a str),
        None,
        U8(u8),
        U32(u32),
        U64(u64),
        Bytes(&'a [u8]),
    }
    use Part::*;

    fn full() -> Vec<u8> {
        pack(&[
            Str("0190a000-0000-7000-8000-000000000001"),
            Str("loop step 3"),
            Str("application/json"),
            Str("ns"),
            Str("0190a000-0000-7000-8000-000000000002"),
            None,
            U8(FLAG_ROOT | FLAG_CREATED_AT),
            U64(1_700_000_000_123),
            Str("automatic"),
            Str("langgraph"),
            Str(r#"{"step":3,"source":"loop"}"#),
            U32(2),
            Str("b"),
            Str("a"),
            U32(1),
            Str("c:messages"),
            Str("application/json"),
            None,
            U32(2),
            U32(3),
            Bytes(b"abcde"),
        ])
    }

    #[test]
    fn every_field_arrives_as_the_json_description_would_give_it() {
        let bytes = full();
        let (input, rest) = unpack_checkpoint(&bytes).unwrap();
        assert_eq!(input.message, "loop step 3");
        assert_eq!(input.content_type.as_deref(), Some("application/json"));
        assert_eq!(input.namespace.as_deref(), Some("ns"));
        assert!(input.parent.is_none() && input.root);
        assert_eq!(input.created_at, Some(1_700_000_000_123));
        let trigger = input.trigger.as_ref().unwrap();
        assert_eq!(
            (trigger.kind.as_str(), trigger.reason.as_deref()),
            ("automatic", Some("langgraph"))
        );
        assert_eq!(input.metadata["step"], 3);
        assert_eq!(input.tags, ["b", "a"]);
        assert_eq!(input.attachments[0].key, "c:messages");
        let (state, attachments) = input.split(rest).unwrap();
        assert_eq!(
            (state, attachments.clone()),
            (&b"abc"[..], vec![&b"de"[..]])
        );
        let new = input.clone().into_new(state, &attachments).unwrap();
        assert_eq!(new.attachments.len(), 1);
    }

    #[test]
    fn a_cut_buffer_is_an_error_at_every_length() {
        let bytes = full();
        // Cut inside the description: the description is incomplete. (Cuts in the bytes after
        // it are caught by `split`, which knows the lengths.)
        let (input, rest) = unpack_checkpoint(&bytes).unwrap();
        let description = bytes.len() - rest.len();
        for len in 0..description {
            let err = unpack_checkpoint(&bytes[..len]).unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{len}: {err}");
        }
        assert!(input.split(&rest[..rest.len() - 1]).is_err());
    }

    /// Session "s", message "m", no content type, namespace, id or parent, `flags`, then `rest`.
    fn after_flags(flags: u8, rest: &[Part<'_>]) -> Vec<u8> {
        let mut parts = vec![Str("s"), Str("m"), None, None, None, None, U8(flags)];
        parts.extend_from_slice(rest);
        pack(&parts)
    }

    fn refused(bytes: &[u8], what: &str) {
        let err = unpack_checkpoint(bytes).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }

    #[test]
    fn wrong_versions_flags_counts_and_text_are_refused() {
        let mut bytes = full();
        bytes[0] = 2;
        refused(&bytes, "layout 2");
        refused(
            &after_flags(0, &[None, None, None, U32(u32::MAX - 1)]),
            "tags",
        );
        refused(&after_flags(4, &[]), "flags");
        let mut latin1 = pack(&[Str("s")]);
        latin1.extend_from_slice(&1u32.to_le_bytes());
        latin1.push(0xff);
        refused(&latin1, "UTF-8");
        refused(&after_flags(0, &[None, Str("why")]), "reason");
        refused(&after_flags(0, &[None, None, Str("[1]")]), "metadata");
    }

    #[test]
    fn strings_read_back_and_malformed_lists_are_refused() {
        let mut bytes = 3u32.to_le_bytes().to_vec();
        for s in ["id", "", "clé"] {
            bytes.extend_from_slice(&(s.len() as u32).to_le_bytes());
            bytes.extend_from_slice(s.as_bytes());
        }
        assert_eq!(unpack_strings(&bytes).unwrap(), ["id", "", "clé"]);
        refuses_damage(&bytes, |b| unpack_strings(b).is_err());
    }

    /// A reader of a packed list refuses the bytes cut at every length, with a byte too many, and
    /// a count the bytes cannot hold.
    fn refuses_damage(bytes: &[u8], refused: impl Fn(&[u8]) -> bool) {
        for len in 0..bytes.len() {
            assert!(refused(&bytes[..len]), "cut at {len}");
        }
        let mut extra = bytes.to_vec();
        extra.push(0);
        assert!(refused(&extra));
        assert!(refused(&u32::MAX.to_le_bytes()));
    }

    #[test]
    fn summaries_read_back_what_was_listed_and_malformed_ones_are_refused() {
        use crate::{DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Query, Store};
        let (mut store, _) = Store::open(
            MemoryBackend::new(),
            DeterministicEnv::new(),
            Options::default(),
        )
        .unwrap();
        let s = store.create_session("s", Map::new()).unwrap();
        store
            .checkpoint(NewCheckpoint::new(s, "first", b"{}").tags(["b", "a"]))
            .unwrap();
        store
            .checkpoint(NewCheckpoint::new(s, "clé ✓", b"[1]"))
            .unwrap();
        let page = store.list(&Query::new()).unwrap();
        let mut bytes = Vec::new();
        pack_summaries(&page.items, SummaryFields::ALL, &mut bytes);
        let summaries = unpack_summaries(&bytes).unwrap();
        let expected: Vec<Summary> = page
            .items
            .iter()
            .map(|cp| Summary {
                id: cp.id,
                seq: cp.seq,
                created_at: cp.created_at,
                message: cp.message.clone(),
                tags: cp.tags.clone(),
            })
            .collect();
        assert_eq!(summaries, expected);
        assert_eq!(summaries[1].tags, ["a", "b"]);
        refuses_damage(&bytes, |b| unpack_summaries(b).is_err());
        refuses_damage(&bytes, |b| Summaries::new(b).is_err());

        // Read in place: the same fields, each string borrowed from the packed bytes.
        let view = Summaries::new(&bytes).unwrap();
        assert_eq!((view.len(), view.iter().len()), (2, 2));
        let first = view.iter().nth(1).unwrap();
        assert_eq!((first.message, first.seq), ("first", expected[1].seq));
        assert_eq!(first.tags.clone().collect::<Vec<_>>(), ["a", "b"]);
        let inside = bytes.as_ptr_range();
        assert!(inside.contains(&first.message.as_ptr()));
        assert!(first.tags.clone().all(|t| inside.contains(&t.as_ptr())));

        // Lengths that add up but cut a character in two are refused: "clé ✓" is 8 bytes, and
        // 3 ends inside "é".
        let mut split = bytes.clone();
        let len_at = 4 + 32;
        assert_eq!(split[len_at], 8);
        split[len_at] = 3;
        split[len_at + SUMMARY_ENTRY] += 5;
        let err = Summaries::new(&split).unwrap_err().to_string();
        assert!(err.contains("ends at byte 3"), "{err}");
        assert_eq!(unpack_summaries(&0u32.to_le_bytes()).unwrap(), []);

        // Ids only: the same entries, every message empty and no tags.
        let mut ids = Vec::new();
        pack_summaries(&page.items, SummaryFields::IDS, &mut ids);
        assert_eq!(ids.len(), 4 + 2 * SUMMARY_ENTRY);
        let brief: Vec<Summary> = unpack_summaries(&ids).unwrap();
        assert!(
            brief
                .iter()
                .all(|s| s.message.is_empty() && s.tags.is_empty())
        );
        let ids_of = |list: &[Summary]| {
            list.iter()
                .map(|s| (s.id, s.seq, s.created_at))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids_of(&brief), ids_of(&expected));
        let mut tags_only = Vec::new();
        let tags = SummaryFields {
            message: false,
            tags: true,
        };
        pack_summaries(&page.items, tags, &mut tags_only);
        let tagged = unpack_summaries(&tags_only).unwrap();
        assert_eq!(
            (tagged[1].message.as_str(), &tagged[1].tags[..]),
            ("", &expected[1].tags[..])
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = unpack_summaries(&bytes);
            // What the check accepts is read whole by the iterator.
            if let Ok(view) = Summaries::new(&bytes) {
                let read: usize = view.iter().map(|s| 1 + s.tags.count()).sum();
                proptest::prop_assert!(read >= view.len());
                proptest::prop_assert_eq!(view.iter().count(), view.len());
            }
            let _ = unpack_checkpoint(&bytes);
            let mut versioned = bytes.clone();
            versioned.insert(0, PACKED_LAYOUT);
            let _ = unpack_checkpoint(&versioned);
            let _ = unpack_strings(&bytes);
        }
    }
}
