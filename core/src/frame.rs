//! The framing every rewind log uses: a header, then frames of checksummed payloads.
//!
//! ```text
//! header:  b"RWNDLOG\0" | format version (u16 LE) | reserved (u16, zero) | reserved (u32, zero)
//! frame:   payload length (u32 LE) | crc32c of payload (u32 LE) | payload
//! ```
//!
//! This module knows bytes only: what a payload means is `record.rs`'s business, how a reader
//! tells a torn tail from damage is [`crate::log`]'s, and how a version 2 log commits to its
//! own order is [`crate::chain`]'s.
//!
//! Versions: **1** (frames of records); **2** (the same frames, plus a log-start record first,
//! a seal ending every write and, in segmented backends, a segment-start record opening each
//! segment — see [`crate::chain`]); **3** (version 2's structure, with checkpoints and
//! attachments in their compact form — chunks named by number, parents by seq, no stored
//! checkpoint hash — see `record.rs`). This build reads all three and
//! writes version 3; an older log keeps its version as it grows, until a compaction or `rewind
//! upgrade` rewrites it.
//!
//! Every place that reads or writes a log header or a frame header (the log scanner, the record
//! encoder, the file store, repair) goes through the functions here.

use alloc::vec::Vec;

use crate::error::{CorruptKind, Error};

/// Magic bytes that open every rewind log.
pub const MAGIC: [u8; 8] = *b"RWNDLOG\0";
/// The log format version this build writes.
pub const FORMAT_VERSION: u16 = 3;
/// The oldest log format version this build reads.
pub const OLDEST_VERSION: u16 = 1;
/// Length of the log header in bytes.
pub const HEADER_LEN: usize = 16;
/// Length of a frame header (length + checksum) in bytes.
pub const FRAME_HEADER_LEN: usize = 8;
/// Largest payload a frame may carry (1 GiB). Larger lengths are treated as corruption, so a
/// damaged length field never makes a reader allocate or skip gigabytes.
pub const MAX_PAYLOAD: u32 = 1 << 30;

const CRC32C: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// CRC-32C (Castagnoli) of `bytes`, the checksum of every frame.
pub fn crc32c(bytes: &[u8]) -> u32 {
    CRC32C.checksum(bytes)
}

/// The 16-byte header of a log in the current format.
pub fn header() -> [u8; HEADER_LEN] {
    header_of(FORMAT_VERSION)
}

/// The 16-byte header of a log in format `version` (a version 1 log keeps its version as it
/// grows).
pub fn header_of(version: u16) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&version.to_le_bytes());
    h
}

/// Checks a log header and returns its format version.
pub fn check_header(bytes: &[u8]) -> Result<u16, CorruptKind> {
    if bytes.len() < HEADER_LEN {
        return Err(CorruptKind::Truncated);
    }
    if bytes[..8] != MAGIC {
        return Err(CorruptKind::BadMagic);
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(CorruptKind::UnsupportedVersion(version));
    }
    Ok(version)
}

/// The 8 bytes in front of every payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length in bytes.
    pub len: u32,
    /// CRC-32C of the payload.
    pub crc: u32,
}

impl FrameHeader {
    /// The header of a frame carrying `payload`.
    pub fn of(payload: &[u8]) -> FrameHeader {
        FrameHeader {
            len: payload.len() as u32,
            crc: crc32c(payload),
        }
    }

    /// Reads a header from the first [`FRAME_HEADER_LEN`] bytes of `bytes`; `None` when there
    /// are fewer.
    pub fn read(bytes: &[u8]) -> Option<FrameHeader> {
        let head: &[u8; FRAME_HEADER_LEN] = bytes.get(..FRAME_HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader::from_bytes(head))
    }

    /// The header these bytes hold.
    pub fn from_bytes(b: &[u8; FRAME_HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// The header's bytes.
    pub fn to_bytes(self) -> [u8; FRAME_HEADER_LEN] {
        let mut out = [0u8; FRAME_HEADER_LEN];
        out[..4].copy_from_slice(&self.len.to_le_bytes());
        out[4..].copy_from_slice(&self.crc.to_le_bytes());
        out
    }

    /// Whether the length is one a writer can produce: not zero (every record has a kind) and
    /// at most [`MAX_PAYLOAD`].
    pub fn len_is_plausible(self) -> bool {
        self.len != 0 && self.len <= MAX_PAYLOAD
    }

    /// Whether `payload` is what this header describes (its length and checksum match).
    pub fn matches(self, payload: &[u8]) -> bool {
        payload.len() as u64 == u64::from(self.len) && crc32c(payload) == self.crc
    }

    /// Size of the whole frame, header included.
    pub fn frame_len(self) -> usize {
        FRAME_HEADER_LEN + self.len as usize
    }
}

/// Appends one frame holding `payload` to `out`.
pub fn write_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.reserve(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&FrameHeader::of(payload).to_bytes());
    out.extend_from_slice(payload);
}

/// Fills in the header of the frame that starts at `frame_start` in `out` and runs to its end
/// (room for the header was reserved there before the payload was written).
pub(crate) fn seal_frame(out: &mut [u8], frame_start: usize) {
    let payload = &out[frame_start + FRAME_HEADER_LEN..];
    let header = FrameHeader::of(payload).to_bytes();
    out[frame_start..frame_start + FRAME_HEADER_LEN].copy_from_slice(&header);
}

/// Refuses a frame (header included) whose payload would be over [`MAX_PAYLOAD`]: opening the
/// log would reject it as corrupt.
pub(crate) fn check_frame_len(frame_len: usize) -> Result<(), Error> {
    let payload = frame_len.saturating_sub(FRAME_HEADER_LEN) as u64;
    if payload > u64::from(MAX_PAYLOAD) {
        return Err(Error::InvalidInput(alloc::format!(
            "a log record of {payload} bytes is over the frame limit of {MAX_PAYLOAD} bytes \
             (a state or attachment with its new content must fit in one frame)"
        )));
    }
    Ok(())
}

/// The number of frames in `buf`, which holds whole frames this process just wrote (their
/// lengths are trusted and their checksums not recomputed).
pub(crate) fn count_frames(buf: &[u8]) -> u32 {
    let mut count = 0;
    let mut pos = 0;
    while let Some(head) = buf.get(pos..).and_then(FrameHeader::read) {
        pos += head.frame_len();
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        assert_eq!(check_header(&header()), Ok(FORMAT_VERSION));
        let mut h = header();
        h[0] = b'X';
        assert_eq!(check_header(&h), Err(CorruptKind::BadMagic));
        let mut h = header();
        h[8] = 99;
        assert_eq!(check_header(&h), Err(CorruptKind::UnsupportedVersion(99)));
        assert_eq!(check_header(&h[..3]), Err(CorruptKind::Truncated));
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The CRC-32C check value from the catalogue of parametrised CRC algorithms.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn frame_headers_round_trip() {
        let mut out = Vec::new();
        write_frame(&mut out, b"payload");
        let head = FrameHeader::read(&out).unwrap();
        assert_eq!(head, FrameHeader::of(b"payload"));
        assert!(head.matches(&out[FRAME_HEADER_LEN..]));
        assert_eq!(head.frame_len(), out.len());
        assert_eq!(FrameHeader::read(&out[..7]), None);
        assert_eq!(count_frames(&out), 1);
    }
}
