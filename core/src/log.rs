//! The portable log format: a header, then framed records.
//!
//! ```text
//! header:  b"RWNDLOG\0" | format version (u16 LE) | reserved (u16, zero) | reserved (u32, zero)
//! frame:   payload length (u32 LE) | crc32c of payload (u32 LE) | payload
//! ```
//!
//! The payload is one record (see `record.rs`). Every host uses these bytes: the file store's
//! segments, IndexedDB rows, binary exports and the sandbox. A reader distinguishes a **torn
//! tail** (the log ends inside its last frame, as after a crash mid-write: safe to drop) from
//! **corruption** (a bad frame followed by more data: never silently skipped).

use alloc::vec::Vec;

use crate::error::{CorruptKind, Error};

/// Magic bytes that open every rewind log.
pub const MAGIC: [u8; 8] = *b"RWNDLOG\0";
/// The log format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the log header in bytes.
pub const HEADER_LEN: usize = 16;
/// Length of a frame header (length + checksum) in bytes.
pub const FRAME_HEADER_LEN: usize = 8;
/// Largest payload a frame may carry (1 GiB). Larger lengths are treated as corruption, so a
/// damaged length field never makes a reader allocate or skip gigabytes.
pub const MAX_PAYLOAD: u32 = 1 << 30;

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

const CRC32C: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// CRC-32C (Castagnoli) of `bytes`, the checksum of every frame.
pub fn crc32c(bytes: &[u8]) -> u32 {
    CRC32C.checksum(bytes)
}

/// The 16-byte header of a log in the current format.
pub fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
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
    if version != FORMAT_VERSION {
        return Err(CorruptKind::UnsupportedVersion(version));
    }
    Ok(version)
}

/// Appends one frame holding `payload` to `out`.
pub fn write_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.reserve(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// One frame found in a byte buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Offset of the frame's first byte within the scanned buffer.
    pub offset: usize,
    /// The payload.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Offset of the payload's first byte within the scanned buffer.
    pub fn payload_offset(&self) -> usize {
        self.offset + FRAME_HEADER_LEN
    }
    /// Offset just past the frame.
    pub fn end(&self) -> usize {
        self.offset + FRAME_HEADER_LEN + self.payload.len()
    }
}

/// Why scanning stopped before the end of the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanStop {
    /// The buffer ends inside the frame that starts at `offset`: a torn write. Everything from
    /// `offset` on can be dropped.
    TornTail {
        /// Where the incomplete frame starts.
        offset: usize,
    },
    /// The frame at `offset` is damaged and more data follows it.
    Corrupt {
        /// Where the damaged frame starts.
        offset: usize,
        /// What is wrong with it.
        kind: CorruptKind,
    },
}

/// The number of frames in `buf`, which holds whole frames this process just wrote (their
/// lengths are trusted and their checksums not recomputed).
pub(crate) fn count_frames(buf: &[u8]) -> u32 {
    let mut count = 0;
    let mut pos = 0;
    while let Some(head) = buf.get(pos..pos + FRAME_HEADER_LEN) {
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        pos += FRAME_HEADER_LEN + len;
        count += 1;
    }
    count
}

/// Iterates over the frames of `buf` (which holds frames only, no header), starting at `start`.
///
/// Yields `Ok(frame)` for each valid frame and at most one `Err(stop)` at the end. A frame whose
/// length runs past the end, or whose checksum fails while it is the last thing in the buffer,
/// is a torn tail; a bad frame with data after it is corruption.
pub fn frames(buf: &[u8], start: usize) -> Frames<'_> {
    Frames {
        buf,
        pos: start,
        done: false,
    }
}

/// Iterator returned by [`frames`].
#[derive(Debug)]
pub struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, ScanStop>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let offset = self.pos;
        let rest = &self.buf[offset..];
        if rest.len() < FRAME_HEADER_LEN {
            self.done = true;
            return Some(Err(ScanStop::TornTail { offset }));
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > MAX_PAYLOAD {
            self.done = true;
            return Some(Err(ScanStop::Corrupt {
                offset,
                kind: CorruptKind::FrameTooLarge(len),
            }));
        }
        let end = FRAME_HEADER_LEN + len as usize;
        if rest.len() < end {
            self.done = true;
            // A torn write leaves a frame cut short at the end; a damaged length field leaves
            // whole frames after it. Only the first is safe to drop.
            return Some(Err(if valid_frame_within(&rest[FRAME_HEADER_LEN..]) {
                ScanStop::Corrupt {
                    offset,
                    kind: CorruptKind::Checksum,
                }
            } else {
                ScanStop::TornTail { offset }
            }));
        }
        let payload = &rest[FRAME_HEADER_LEN..end];
        if len == 0 || crc32c(payload) != crc {
            self.done = true;
            let at_tail = rest.len() == end || !valid_frame_within(&rest[FRAME_HEADER_LEN..]);
            return Some(Err(if at_tail {
                ScanStop::TornTail { offset }
            } else {
                ScanStop::Corrupt {
                    offset,
                    kind: CorruptKind::Checksum,
                }
            }));
        }
        self.pos = offset + end;
        Some(Ok(Frame { offset, payload }))
    }
}

/// Whether an intact frame starts anywhere in `bytes`. Used to tell a torn tail (nothing intact
/// after the damage) from corruption in the middle of a log. A false positive needs a 32-bit
/// checksum to match by chance; the scan only runs when a frame is already known to be bad.
///
/// Every position is a candidate, so the checksum (which reads the whole claimed payload) is
/// computed only where the payload also decodes as a record announcing exactly its chunk bytes:
/// in the random bytes of a large torn frame that rules out nearly every position at once, and
/// the scan stays close to linear instead of checksumming megabytes at each byte.
pub fn valid_frame_within(bytes: &[u8]) -> bool {
    (0..bytes.len()).any(|at| {
        candidate_payload(bytes, at)
            .is_some_and(|(payload, crc)| plausible_payload(payload) && crc32c(payload) == crc)
    })
}

/// The payload and checksum a frame starting at `at` would have, if its length fits.
fn candidate_payload(bytes: &[u8], at: usize) -> Option<(&[u8], u32)> {
    let head = bytes.get(at..at.checked_add(FRAME_HEADER_LEN)?)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 || len > MAX_PAYLOAD {
        return None;
    }
    let start = at + FRAME_HEADER_LEN;
    Some((bytes.get(start..start + len as usize)?, crc))
}

/// Whether a payload could be a record: one this reader knows that decodes with exactly its
/// announced chunk bytes, or (a kind from a newer writer) a payload of at most 1 MiB.
fn plausible_payload(payload: &[u8]) -> bool {
    match crate::record::peek_kind(payload) {
        Ok(kind) if kind < crate::record::RECORD_KINDS => crate::record::read(payload).is_ok(),
        Ok(kind) => kind < 128 && payload.len() <= 1 << 20,
        Err(_) => false,
    }
}

/// The length of the intact frame starting at `at` in `bytes`, if there is one.
pub fn frame_len_at(bytes: &[u8], at: usize) -> Option<usize> {
    let head = bytes.get(at..at.checked_add(FRAME_HEADER_LEN)?)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 || len > MAX_PAYLOAD {
        return None;
    }
    let end = at + FRAME_HEADER_LEN + len as usize;
    let payload = bytes.get(at + FRAME_HEADER_LEN..end)?;
    (crc32c(payload) == crc).then_some(end - at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            write_frame(&mut out, p);
        }
        out
    }

    #[test]
    fn frames_round_trip() {
        let buf = log_of(&[b"one", b"two!", b"3"]);
        let got: Vec<_> = frames(&buf, 0).map(|f| f.unwrap().payload).collect();
        assert_eq!(got, [&b"one"[..], b"two!", b"3"]);
    }

    #[test]
    fn a_cut_anywhere_in_the_last_frame_is_a_torn_tail() {
        let buf = log_of(&[b"first", b"second frame"]);
        let second = FRAME_HEADER_LEN + 5;
        for cut in second + 1..buf.len() {
            let items: Vec<_> = frames(&buf[..cut], 0).collect();
            assert_eq!(items.len(), 2, "cut at {cut}");
            assert_eq!(items[1], Err(ScanStop::TornTail { offset: second }));
        }
    }

    #[test]
    fn a_flipped_bit_before_the_tail_is_corruption() {
        let mut buf = log_of(&[b"first", b"second", b"third"]);
        buf[FRAME_HEADER_LEN + 1] ^= 0x40;
        let items: Vec<_> = frames(&buf, 0).collect();
        assert_eq!(
            items,
            [Err(ScanStop::Corrupt {
                offset: 0,
                kind: CorruptKind::Checksum
            })]
        );
    }

    #[test]
    fn a_huge_length_is_corruption_not_an_allocation() {
        let mut buf = log_of(&[b"x"]);
        buf[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            frames(&buf, 0).next(),
            Some(Err(ScanStop::Corrupt {
                kind: CorruptKind::FrameTooLarge(_),
                ..
            }))
        ));
    }

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
}
