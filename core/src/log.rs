//! Reading a log: the frames of a byte buffer, and whether a bad frame is a torn tail or damage.
//!
//! The bytes themselves (header, frame header, checksum) are [`crate::frame`]'s. A reader
//! distinguishes a **torn tail** (the log ends inside its last frame, as after a crash
//! mid-write: safe to drop) from **corruption** (a bad frame followed by more data: never
//! silently skipped). Telling them apart needs to know what a record looks like, which is why
//! this module sits above the record codec.

use crate::error::CorruptKind;
use crate::frame::{FRAME_HEADER_LEN, FrameHeader, MAX_PAYLOAD};

pub use crate::record::segment_start_frame;

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
        let Some(head) = FrameHeader::read(rest) else {
            self.done = true;
            return Some(Err(ScanStop::TornTail { offset }));
        };
        if head.len > MAX_PAYLOAD {
            self.done = true;
            return Some(Err(ScanStop::Corrupt {
                offset,
                kind: CorruptKind::FrameTooLarge(head.len),
            }));
        }
        let end = head.frame_len();
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
        if head.len == 0 || !head.matches(payload) {
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
            .is_some_and(|(head, payload)| plausible_payload(payload) && head.matches(payload))
    })
}

/// The header and payload a frame starting at `at` would have, if its length fits.
fn candidate_payload(bytes: &[u8], at: usize) -> Option<(FrameHeader, &[u8])> {
    let head = FrameHeader::read(bytes.get(at..)?)?;
    if !head.len_is_plausible() {
        return None;
    }
    let start = at + FRAME_HEADER_LEN;
    Some((head, bytes.get(start..start + head.len as usize)?))
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

/// The length of the intact frame starting at `at` in `bytes`, if there is one: a plausible
/// record (see [`valid_frame_within`]) whose checksum matches. Resynchronising after damage
/// tries this at every byte; the record check rules out nearly every position before its
/// checksum reads the claimed payload, which keeps the scan close to linear.
pub fn frame_len_at(bytes: &[u8], at: usize) -> Option<usize> {
    let (head, payload) = candidate_payload(bytes, at)?;
    (plausible_payload(payload) && head.matches(payload)).then_some(head.frame_len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::write_frame;
    use alloc::vec::Vec;

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
}
