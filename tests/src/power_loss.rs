//! A disk that loses power: [`SimulatedDisk`], a [`FileSystem`] kept in memory with a durable and
//! a volatile image of every file and directory, and [`PowerLossFiles`], the conformance harness
//! that runs the native file backend on it.
//!
//! What the disk promises is what POSIX promises and no more:
//!
//! - reads see every write (the volatile image, like the page cache);
//! - a file's writes and length changes become durable when the file is synced
//!   (`sync_data`/`sync_all`); until then each may be lost;
//! - a name created, renamed or removed becomes durable when its directory is synced
//!   (`sync_dir`) — syncing a file does not make its name durable;
//! - a rename is atomic: after a power cut the target names the old file or the new one.
//!
//! When the power comes back ([`SimulatedDisk::after_power_loss`]) every change made since the
//! last sync of its file or directory is, independently and as a seed draws: lost, kept, or — a
//! write across a 512-byte sector boundary — torn, keeping only its first bytes up to any byte.
//! So a later write may survive without an earlier one (they are reordered), and a write may be
//! cut anywhere but inside a sector (disks write a sector whole or not at all). Synced bytes
//! are never touched. The store directory itself (and its parents) is created durable.
//!
//! [`SimulatedDisk::cut_power_after`] picks the moment: the `n`-th call from now that changes
//! anything (a write, length change, sync, create, rename or removal) is where the power goes.
//! A write at the cut may land in part; a sync at the cut does not happen. That call and every
//! later one — reads included — fail, as they would in a process that died with its machine.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rewind::core::conformance::{Harness, PowerLossHarness};
use rewind::{DirLock, Error, FileBackend, FileSystem, OpenMode, StoreFile};

use crate::file_harness::SMALL_SEGMENTS;

/// A file system in memory that can lose power (see the module docs). Clones share the disk.
#[derive(Clone, Debug, Default)]
pub struct SimulatedDisk {
    state: Arc<Mutex<Disk>>,
}

#[derive(Debug, Default)]
struct Disk {
    files: Vec<Inode>,
    dirs: BTreeMap<PathBuf, Directory>,
    /// Changing calls made so far.
    calls: u64,
    /// The call at which the power goes.
    cut_at: Option<u64>,
    cut: bool,
    locked: BTreeSet<PathBuf>,
}

#[derive(Clone, Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    unsynced: Vec<FileChange>,
}

#[derive(Clone, Debug)]
enum FileChange {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct Directory {
    durable: BTreeMap<OsString, usize>,
    volatile: BTreeMap<OsString, usize>,
    unsynced: Vec<NameChange>,
}

#[derive(Clone, Debug)]
enum NameChange {
    Link(OsString, usize),
    Unlink(OsString),
    Rename {
        from: OsString,
        to: OsString,
        file: usize,
    },
}

fn power_off() -> io::Error {
    io::Error::other("the power is off (simulated power loss)")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl Disk {
    /// Counts a changing call: fails when the power is already off; `Ok(true)` when this call is
    /// the one the power goes at.
    fn changing_call(&mut self) -> io::Result<bool> {
        if self.cut {
            return Err(power_off());
        }
        self.calls += 1;
        if self.cut_at == Some(self.calls) {
            self.cut = true;
            return Ok(true);
        }
        Ok(false)
    }

    fn powered(&self) -> io::Result<()> {
        if self.cut { Err(power_off()) } else { Ok(()) }
    }

    /// The directory and file name of `path`.
    fn split<'p>(&mut self, path: &'p Path) -> io::Result<(&mut Directory, &'p std::ffi::OsStr)> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(not_found(path));
        };
        let dir = self.dirs.get_mut(parent).ok_or_else(|| not_found(path))?;
        Ok((dir, name))
    }

    fn new_file(&mut self) -> usize {
        self.files.push(Inode::default());
        self.files.len() - 1
    }
}

/// Draws for [`SimulatedDisk::after_power_loss`].
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        if n == 0 { 0 } else { x % n }
    }
}

impl SimulatedDisk {
    /// An empty disk.
    pub fn new() -> SimulatedDisk {
        SimulatedDisk::default()
    }

    fn disk(&self) -> MutexGuard<'_, Disk> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cuts the power at the `calls`-th changing call from now (see the module docs).
    pub fn cut_power_after(&self, calls: u64) {
        let mut disk = self.disk();
        disk.cut_at = Some(disk.calls + calls.max(1));
    }

    /// Cancels a cut that has not happened yet.
    pub fn keep_power_on(&self) {
        self.disk().cut_at = None;
    }

    /// Whether the power is off.
    pub fn power_is_off(&self) -> bool {
        self.disk().cut
    }

    /// The names in `dir` as the running system sees them.
    pub fn names(&self, dir: &Path) -> Vec<OsString> {
        self.disk()
            .dirs
            .get(dir)
            .map(|d| d.volatile.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// What the disk holds when the power comes back: the durable images, with each unsynced
    /// change lost, kept or torn as `seed` draws. The new disk is powered and shares nothing
    /// with this one (locks are gone with the processes that held them).
    pub fn after_power_loss(&self, seed: u64) -> SimulatedDisk {
        let disk = self.disk();
        let mut draw = Draw(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let files = disk
            .files
            .iter()
            .map(|inode| {
                let mut image = inode.durable.clone();
                for change in &inode.unsynced {
                    match (draw.below(3), change) {
                        (0, _) => {}
                        (1, FileChange::Write { offset, bytes }) => {
                            write_into(&mut image, *offset, bytes);
                        }
                        // A write inside one sector lands whole or not at all.
                        (_, FileChange::Write { offset, bytes })
                            if in_one_sector(*offset, bytes) =>
                        {
                            write_into(&mut image, *offset, bytes);
                        }
                        (_, FileChange::Write { offset, bytes }) => {
                            let kept = draw.below(bytes.len() as u64 + 1) as usize;
                            write_into(&mut image, *offset, &bytes[..kept]);
                        }
                        (_, FileChange::SetLen(len)) => image.resize(*len as usize, 0),
                    }
                }
                Inode {
                    durable: image.clone(),
                    volatile: image,
                    unsynced: Vec::new(),
                }
            })
            .collect();
        let dirs = disk
            .dirs
            .iter()
            .map(|(path, dir)| {
                let mut names = dir.durable.clone();
                for change in &dir.unsynced {
                    if draw.below(2) == 0 {
                        continue;
                    }
                    match change {
                        NameChange::Link(name, file) => {
                            names.insert(name.clone(), *file);
                        }
                        NameChange::Unlink(name) => {
                            names.remove(name);
                        }
                        NameChange::Rename { from, to, file } => {
                            names.remove(from);
                            names.insert(to.clone(), *file);
                        }
                    }
                }
                let dir = Directory {
                    durable: names.clone(),
                    volatile: names,
                    unsynced: Vec::new(),
                };
                (path.clone(), dir)
            })
            .collect();
        SimulatedDisk {
            state: Arc::new(Mutex::new(Disk {
                files,
                dirs,
                ..Disk::default()
            })),
        }
    }
}

/// Bytes a disk writes atomically: a write that does not cross a sector boundary lands whole
/// or not at all (what PostgreSQL's `pg_control` and rewind's `DURABLE` line rely on).
const SECTOR: u64 = 512;

fn in_one_sector(offset: u64, bytes: &[u8]) -> bool {
    !bytes.is_empty() && offset / SECTOR == (offset + bytes.len() as u64 - 1) / SECTOR
}

fn write_into(image: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let end = offset as usize + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[offset as usize..end].copy_from_slice(bytes);
}

impl FileSystem for SimulatedDisk {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>> {
        let mut disk = self.disk();
        disk.powered()?;
        let existing = {
            let (dir, name) = disk.split(path)?;
            dir.volatile.get(name).copied()
        };
        let file = match (mode, existing) {
            (OpenMode::Read | OpenMode::ReadWrite, Some(file)) => file,
            (OpenMode::Read | OpenMode::ReadWrite, None) => return Err(not_found(path)),
            (OpenMode::CreateNew, Some(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists", path.display()),
                ));
            }
            (OpenMode::Replace, Some(file)) => {
                let at_cut = disk.changing_call()?;
                let inode = &mut disk.files[file];
                inode.volatile.clear();
                inode.unsynced.push(FileChange::SetLen(0));
                if at_cut {
                    return Err(power_off());
                }
                file
            }
            (OpenMode::CreateNew | OpenMode::Replace, None) => {
                let at_cut = disk.changing_call()?;
                let file = disk.new_file();
                let (dir, name) = disk.split(path)?;
                dir.volatile.insert(name.to_owned(), file);
                dir.unsynced.push(NameChange::Link(name.to_owned(), file));
                if at_cut {
                    return Err(power_off());
                }
                file
            }
        };
        Ok(Arc::new(SimulatedFile {
            disk: self.clone(),
            file,
            writable: mode != OpenMode::Read,
        }))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let disk = self.disk();
        disk.powered()?;
        let dir = disk.dirs.get(dir).ok_or_else(|| not_found(dir))?;
        Ok(dir.volatile.keys().cloned().collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let mut disk = self.disk();
        if disk.dirs.contains_key(path) {
            return true;
        }
        disk.split(path)
            .is_ok_and(|(dir, name)| dir.volatile.contains_key(name))
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.disk();
        disk.powered()?;
        for ancestor in dir.ancestors() {
            disk.dirs.entry(ancestor.to_path_buf()).or_default();
        }
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = self.disk();
        disk.powered()?;
        if from.parent() != to.parent() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the simulated disk renames within a directory only",
            ));
        }
        let (Some(from_name), Some(to_name)) = (from.file_name(), to.file_name()) else {
            return Err(not_found(from));
        };
        if !disk.split(from)?.0.volatile.contains_key(from_name) {
            return Err(not_found(from));
        }
        let at_cut = disk.changing_call()?;
        let (dir, _) = disk.split(from)?;
        let file = dir
            .volatile
            .remove(from_name)
            .ok_or_else(|| not_found(from))?;
        dir.volatile.insert(to_name.to_owned(), file);
        dir.unsynced.push(NameChange::Rename {
            from: from_name.to_owned(),
            to: to_name.to_owned(),
            file,
        });
        if at_cut { Err(power_off()) } else { Ok(()) }
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.disk();
        disk.powered()?;
        let (dir, name) = disk.split(path)?;
        if !dir.volatile.contains_key(name) {
            return Err(not_found(path));
        }
        let at_cut = disk.changing_call()?;
        let (dir, name) = disk.split(path)?;
        dir.volatile.remove(name);
        dir.unsynced.push(NameChange::Unlink(name.to_owned()));
        if at_cut { Err(power_off()) } else { Ok(()) }
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.disk();
        if disk.changing_call()? {
            return Err(power_off());
        }
        let dir = disk.dirs.get_mut(path).ok_or_else(|| not_found(path))?;
        dir.durable = dir.volatile.clone();
        dir.unsynced.clear();
        Ok(())
    }

    fn lock(&self, dir: &Path) -> rewind::Result<Box<dyn DirLock>> {
        let mut disk = self.disk();
        if !disk.locked.insert(dir.to_path_buf()) {
            return Err(Error::Locked {
                path: dir.to_path_buf(),
                pid: None,
            });
        }
        Ok(Box::new(SimulatedLock {
            disk: self.clone(),
            dir: dir.to_path_buf(),
        }))
    }
}

/// A file on a [`SimulatedDisk`].
#[derive(Debug)]
struct SimulatedFile {
    disk: SimulatedDisk,
    file: usize,
    writable: bool,
}

impl SimulatedFile {
    fn writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the file was opened for reading",
            ))
        }
    }
}

impl StoreFile for SimulatedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let disk = self.disk.disk();
        disk.powered()?;
        let data = &disk.files[self.file].volatile;
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.writable()?;
        let mut disk = self.disk.disk();
        let at_cut = disk.changing_call()?;
        let inode = &mut disk.files[self.file];
        write_into(&mut inode.volatile, offset, buf);
        inode.unsynced.push(FileChange::Write {
            offset,
            bytes: buf.to_vec(),
        });
        if at_cut { Err(power_off()) } else { Ok(()) }
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.writable()?;
        let mut disk = self.disk.disk();
        let at_cut = disk.changing_call()?;
        let inode = &mut disk.files[self.file];
        inode.volatile.resize(len as usize, 0);
        inode.unsynced.push(FileChange::SetLen(len));
        if at_cut { Err(power_off()) } else { Ok(()) }
    }

    fn size(&self) -> io::Result<u64> {
        let disk = self.disk.disk();
        disk.powered()?;
        Ok(disk.files[self.file].volatile.len() as u64)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.disk.disk();
        if disk.changing_call()? {
            return Err(power_off());
        }
        let inode = &mut disk.files[self.file];
        inode.durable = inode.volatile.clone();
        inode.unsynced.clear();
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }
}

/// The writer lock on a [`SimulatedDisk`]: one holder per directory.
#[derive(Debug)]
struct SimulatedLock {
    disk: SimulatedDisk,
    dir: PathBuf,
}

impl DirLock for SimulatedLock {}

impl Drop for SimulatedLock {
    fn drop(&mut self) {
        self.disk.disk().locked.remove(&self.dir);
    }
}

/// What the backend sees of a [`SimulatedDisk`]: the disk itself, or a file system wrapped
/// around it (a test's faulty one).
pub type Mount = Arc<dyn Fn(SimulatedDisk) -> Arc<dyn FileSystem> + Send + Sync>;

/// The conformance harness on a [`SimulatedDisk`]: each fresh backend gets a new disk (the two
/// newest are kept, for scenarios that use two stores at once); a reopen is a clean restart on
/// the backend's disk; [`PowerLossHarness`] cuts the power of the newest disk and restarts on
/// what the cut left. Small segments, so scenarios rotate.
#[derive(Default)]
pub struct PowerLossFiles {
    /// How the backend sees a disk (`None`: as it is).
    mount: Option<Mount>,
    /// The newest disk.
    disk: SimulatedDisk,
    /// The disk before it, and its store directory.
    older: Option<(SimulatedDisk, PathBuf)>,
    fresh: u64,
    /// Restarts whose open found a torn tail (and moved it aside).
    pub torn_tails: u64,
    /// Restarts whose open removed files of an abandoned generation (an interrupted
    /// compaction).
    pub abandoned_generations: u64,
}

impl PowerLossFiles {
    /// A harness; its first disk is made by the first fresh backend.
    pub fn new() -> PowerLossFiles {
        PowerLossFiles::default()
    }

    /// A harness whose backends see each disk through `mount` (a file system that misbehaves
    /// in a way a test wants to show is caught).
    pub fn mounted(mount: Mount) -> PowerLossFiles {
        PowerLossFiles {
            mount: Some(mount),
            ..PowerLossFiles::default()
        }
    }

    /// The store directory of the newest disk.
    fn dir(&self) -> PathBuf {
        PathBuf::from(format!("/store-{}", self.fresh))
    }

    fn file_system(&self, disk: SimulatedDisk) -> Arc<dyn FileSystem> {
        match &self.mount {
            Some(mount) => mount(disk),
            None => Arc::new(disk),
        }
    }

    fn open(&self) -> rewind::Result<FileBackend> {
        FileBackend::open_on(
            self.file_system(self.disk.clone()),
            &self.dir(),
            SMALL_SEGMENTS,
        )
    }
}

impl std::fmt::Debug for PowerLossFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerLossFiles")
            .field("disk", &self.disk)
            .field("fresh", &self.fresh)
            .field("mounted", &self.mount.is_some())
            .finish_non_exhaustive()
    }
}

impl Harness for PowerLossFiles {
    type Backend = FileBackend;

    fn fresh(&mut self) -> FileBackend {
        self.older = Some((std::mem::take(&mut self.disk), self.dir()));
        self.fresh += 1;
        self.open()
            .unwrap_or_else(|e| panic!("open a fresh store on a simulated disk: {e}"))
    }

    fn reopen(&mut self, backend: FileBackend) -> FileBackend {
        let dir = backend.dir().to_path_buf();
        drop(backend);
        let disk = match &self.older {
            Some((disk, older)) if *older == dir => disk.clone(),
            _ => self.disk.clone(),
        };
        FileBackend::open_on(self.file_system(disk), &dir, SMALL_SEGMENTS)
            .unwrap_or_else(|e| panic!("reopen on a simulated disk: {e}"))
    }
}

impl PowerLossHarness for PowerLossFiles {
    fn cut_power_after(&mut self, calls: u64) {
        self.disk.cut_power_after(calls);
    }

    fn power_was_cut(&self) -> bool {
        self.disk.power_is_off()
    }

    fn keep_power_on(&mut self) {
        self.disk.keep_power_on();
    }

    fn restart(&mut self, seed: u64, cut_after: Option<u64>) -> rewind::core::Result<FileBackend> {
        self.disk = self.disk.after_power_loss(seed);
        if let Some(calls) = cut_after {
            self.disk.cut_power_after(calls);
        }
        self.open()
            .map_err(|e| rewind::core::Error::Backend(rewind::BackendError::Io(e.to_string())))
    }

    fn opened(&mut self, backend: &FileBackend) {
        let report = backend.report();
        self.torn_tails += u64::from(report.torn_tail.is_some());
        self.abandoned_generations += u64::from(!report.removed_stale_files.is_empty());
    }
}
