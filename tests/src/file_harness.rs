//! The conformance harness for the native file backend: every fresh store is a new directory,
//! and reopening drops the backend (closing files, releasing the lock) and opens the directory
//! again, as a restarted program would.

use rewind::FileBackend;
use rewind_core::conformance::Harness;

use tempfile::TempDir;

/// Runs conformance scenarios on [`FileBackend`] with small segments, so rotation is exercised.
#[derive(Debug, Default)]
pub struct FileHarness {
    dirs: Vec<TempDir>,
}

/// Segment size for conformance runs: small enough that scenarios span several segments.
pub const SMALL_SEGMENTS: u64 = 4096;

impl Harness for FileHarness {
    type Backend = FileBackend;

    fn fresh(&mut self) -> FileBackend {
        let dir = TempDir::new().expect("a temporary directory");
        let backend = FileBackend::open(&dir.path().join("store"), SMALL_SEGMENTS)
            .unwrap_or_else(|e| panic!("open a fresh file store: {e}"));
        self.dirs.push(dir);
        backend
    }

    fn reopen(&mut self, backend: FileBackend) -> FileBackend {
        let dir = backend.dir().to_path_buf();
        drop(backend);
        FileBackend::open(&dir, SMALL_SEGMENTS)
            .unwrap_or_else(|e| panic!("reopen {}: {e}", dir.display()))
    }
}
