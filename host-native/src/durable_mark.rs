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
//! padded with spaces to 63 bytes and a newline, rewritten in place (never truncated). The
//! position is a log position (`segment << 40 | offset`) in the generation named: every write
//! before it is synced. Marks only move forward, also when syncs finish out of order (group
//! commit runs them outside the store lock). A writer that does not announce durability writes
//! `none` before its first write, so a mark left by an earlier writer never holds readers back
//! behind it; an `Always` writer writes its first mark once everything it found is synced. A
//! mark left by a writer killed as a process is right as it stands: what lies past it was never
//! acknowledged (after a power cut it may be older, see below). A failed open writes nothing.
//!
//! A writer's open that recovers after a crash reads the mark too: in the last segment, a damaged
//! frame at or past a mark of its generation is where unacknowledged writes were cut short —
//! writes that share one sync can reach the disk in any order when the power goes, leaving a
//! damaged write with whole ones after it — so it is a torn tail there, and damage before the
//! mark is corruption. For that, an `Always` writer's first mark (at open) is synced; later ones
//! are not, so a power cut leaves that mark or a later one (the line is one 64-byte write at
//! offset 0, inside one disk sector, so it lands whole or not at all). So after a power cut the
//! mark may be older than what was synced: readers then see less until a writer opens the store
//! (recovering, and writing a mark of its own), and damage to synced bytes past such a stale
//! mark is taken for a torn tail — moved aside and reported, not read as corruption.
//!
//! Readers: a mark of their generation limits them; a mark of another generation does not (an
//! older generation is no longer written, and a newer one held only synced bytes when it was
//! switched to, before its writer, still holding the lock, wrote its first mark). A line that
//! does not check out (read while being rewritten) is read again, then the last good one is
//! used; a missing file means no limit. Readers only ever read the file, so this works on
//! read-only media and for Node.js readers.

use std::io::{self, ErrorKind};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rewind_core::frame::crc32c;

use crate::file_system::{FileSystem, OpenMode, StoreFile};

/// Name of the file.
pub const DURABLE_FILE: &str = "DURABLE";
const LINE: usize = 64;
const PREFIX: &str = "rewind-durable 1 ";

/// A writer's `DURABLE` file and the mark it last wrote, shared with the syncs that run outside
/// the store lock.
#[derive(Debug)]
pub(crate) struct MarkWriter {
    file: Arc<dyn StoreFile>,
    last: Mutex<Option<(u32, u64)>>,
}

impl MarkWriter {
    /// Opens (or creates) `DURABLE` in `dir`, without truncating it.
    pub(crate) fn open(fs: &dyn FileSystem, dir: &Path) -> io::Result<MarkWriter> {
        let path = dir.join(DURABLE_FILE);
        let file = match fs.open(&path, OpenMode::ReadWrite) {
            Err(e) if e.kind() == ErrorKind::NotFound => fs.open(&path, OpenMode::CreateNew)?,
            other => other?,
        };
        Ok(MarkWriter {
            file,
            last: Mutex::new(None),
        })
    }

    /// Says the log is synced up to `mark`, unless a later mark was written already.
    pub(crate) fn advance(&self, mark: (u32, u64)) -> io::Result<()> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|l| l >= mark) {
            return Ok(());
        }
        write(self.file.as_ref(), Some(mark))?;
        *last = Some(mark);
        Ok(())
    }

    /// Makes the line written last durable (a writer's first mark, once at open).
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Says there is no limit (a writer that does not announce durability).
    pub(crate) fn clear(&self) -> io::Result<()> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        write(self.file.as_ref(), None)?;
        *last = None;
        Ok(())
    }
}

/// A reader's view of `DURABLE`: the file once found, and the last line that checked out.
#[derive(Debug, Default)]
pub(crate) struct MarkReader {
    file: Option<Arc<dyn StoreFile>>,
    last_good: Option<(u32, u64)>,
}

impl MarkReader {
    /// The writer's mark, or `None` for no limit.
    pub(crate) fn read(
        &mut self,
        fs: &dyn FileSystem,
        dir: &Path,
    ) -> io::Result<Option<(u32, u64)>> {
        if self.file.is_none() {
            match fs.open(&dir.join(DURABLE_FILE), OpenMode::Read) {
                Ok(file) => self.file = Some(file),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let Some(file) = &self.file else {
            return Ok(None);
        };
        for _ in 0..3 {
            let mut line = [0u8; LINE];
            let got = file.read_at(&mut line, 0)?;
            if let Some(mark) = parse(&line[..got]) {
                self.last_good = mark;
                return Ok(mark);
            }
        }
        // Rewritten under us three times running: the last good line is still a safe limit.
        Ok(self.last_good)
    }
}

/// Writes the mark: `Some((generation, position))`, or `None` for no limit.
fn write(file: &dyn StoreFile, mark: Option<(u32, u64)>) -> io::Result<()> {
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
    use crate::os_file_system::OsFileSystem;

    /// Marks only move forward: a sync that finishes late (group commit runs syncs outside the
    /// store lock) cannot take back a later mark, such as a compaction's new generation.
    #[test]
    fn marks_only_move_forward_and_readers_keep_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFileSystem;
        let marks = MarkWriter::open(&fs, dir.path()).unwrap();
        let mut reader = MarkReader::default();
        assert_eq!(
            reader.read(&fs, dir.path()).unwrap(),
            None,
            "a new file says nothing"
        );
        marks.advance((1, 500)).unwrap();
        marks.advance((2, 40)).unwrap();
        marks.advance((1, 900)).unwrap();
        assert_eq!(reader.read(&fs, dir.path()).unwrap(), Some((2, 40)));
        // A line torn while being rewritten: the last good mark stands.
        std::fs::write(dir.path().join(DURABLE_FILE), b"rewind-durable 1 2 4").unwrap();
        assert_eq!(reader.read(&fs, dir.path()).unwrap(), Some((2, 40)));
        marks.clear().unwrap();
        assert_eq!(reader.read(&fs, dir.path()).unwrap(), None);
        marks.advance((1, 1)).unwrap();
        assert_eq!(reader.read(&fs, dir.path()).unwrap(), Some((1, 1)));
    }

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
