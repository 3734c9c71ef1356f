//! The `DURABLE` file: where a writer's log is synced, for readers.
//!
//! A writer under `Durability::Always` promises that a write shows only once it is synced, and
//! readers in other processes keep that promise by reading no further than this file says.
//! It holds one fixed-size line, rewritten in place (never synced: it describes syncs, it does
//! not need one) after each sync:
//!
//! ```text
//! rewind-durable 1 <generation> <position> <crc32c of the text before it, 8 hex digits>
//! rewind-durable 1 none
//! ```
//!
//! padded with spaces to 63 bytes and a newline. The position is a log position (`segment << 40
//! | offset`) in the generation named: every write before it is synced. Every writer's open
//! rewrites the file first — `none` (read everything) until an `Always` writer has synced — so
//! a mark left by an earlier writer never holds readers back; a mark left by a writer that
//! died is right as it stands: what lies past it was never acknowledged. A line that does not
//! check out (read while being rewritten) is read again; a missing file means no limit.
//! Readers only ever read it, so this works on read-only media and for Node.js readers.

use std::io;

use rewind_core::frame::crc32c;

use crate::file_system::StoreFile;

/// Name of the file.
pub const DURABLE_FILE: &str = "DURABLE";
const LINE: usize = 64;
const PREFIX: &str = "rewind-durable 1 ";

/// Writes the mark: `Some((generation, position))`, or `None` for no limit.
pub(crate) fn write(file: &dyn StoreFile, mark: Option<(u32, u64)>) -> io::Result<()> {
    let text = match mark {
        Some((generation, position)) => {
            let body = format!("{PREFIX}{generation} {position}");
            format!("{body} {:08x}", crc32c(body.as_bytes()))
        }
        None => format!("{PREFIX}none"),
    };
    let mut line = [b' '; LINE];
    line[..text.len()].copy_from_slice(text.as_bytes());
    line[LINE - 1] = b'\n';
    file.write_all_at(&line, 0)
}

/// Reads the mark; `None` when there is no limit (or no line that checks out).
pub(crate) fn read(file: &dyn StoreFile) -> io::Result<Option<(u32, u64)>> {
    for _ in 0..3 {
        let mut line = [0u8; LINE];
        let got = file.read_at(&mut line, 0)?;
        if let Some(parsed) = parse(&line[..got]) {
            return Ok(parsed);
        }
    }
    Ok(None)
}

/// `Some(mark)` for a line that checks out (`Some(None)`: no limit); `None` for a torn one.
fn parse(line: &[u8]) -> Option<Option<(u32, u64)>> {
    let text = std::str::from_utf8(line).ok()?;
    let rest = text.trim_end().strip_prefix(PREFIX)?;
    if rest == "none" {
        return Some(None);
    }
    let mut words = rest.split(' ');
    let (generation, position, crc) = (words.next()?, words.next()?, words.next()?);
    let body = format!("{PREFIX}{generation} {position}");
    (u32::from_str_radix(crc, 16).ok()? == crc32c(body.as_bytes()) && words.next().is_none())
        .then_some(())?;
    Some(Some((generation.parse().ok()?, position.parse().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_read_back_and_torn_lines_are_refused() {
        let line = |mark| {
            let text = match mark {
                Some((g, p)) => {
                    let body = format!("{PREFIX}{g} {p}");
                    format!("{body} {:08x}", crc32c(body.as_bytes()))
                }
                None => format!("{PREFIX}none"),
            };
            format!("{text:<63}\n")
        };
        for mark in [None, Some((1, 7)), Some((u32::MAX, u64::MAX))] {
            assert_eq!(parse(line(mark).as_bytes()), Some(mark));
        }
        let good = line(Some((3, 1234)));
        // A line half rewritten: new digits with the old checksum, or cut short.
        let torn = good.replacen("1234", "1235", 1);
        assert_ne!(torn, good);
        assert_eq!(parse(torn.as_bytes()), None);
        assert_eq!(parse(&good.as_bytes()[..20]), None);
        assert_eq!(parse(b""), None);
    }
}
