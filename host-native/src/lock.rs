//! The writer lock: one process (and one handle within it) writes a store at a time.
//!
//! # Protocol
//!
//! The lock is a **Unix socket bound in Linux's abstract namespace** under a name derived from
//! the store directory's identity:
//!
//! ```text
//! "\0rewind/lock/<st_dev in hex>/<st_ino in hex>"      (no file on disk)
//! ```
//!
//! Binding the name is taking the lock: the kernel lets one socket hold a name, refuses a
//! second bind with `EADDRINUSE` (in this process or any other), and frees the name when the
//! socket closes — also when its process dies from SIGKILL. Nothing in the store directory can
//! be deleted to steal it, and a reader can ask whether a writer is live without writing
//! anything (connect: refused means no writer). Node.js takes the same lock with
//! `net.createServer().listen("\0rewind/lock/…")`, so native and Node writers exclude each
//! other without a native addon. An abstract name's length is part of the name, and Node.js
//! writers bind it padded with NULs to the full 107 bytes of an abstract address (Node.js 20's
//! libuv pads it anyway; later ones bind what they are given, and the package gives it padded);
//! so a native writer binds **both spellings** — the name as written and the name padded — and
//! a native opener is refused when either is held, and asks both who holds them.
//!
//! The holder answers every connection with one line, `rewind-lock 1 pid <pid>\n`, and closes
//! it; a refused opener reads it to say who holds the store.
//!
//! A second guard: the writer also holds an exclusive `flock` on the empty file `LOCK`. It
//! covers writers in **different network namespaces** (containers sharing a volume), which see
//! different abstract namespaces; it is not the lock itself (deleting `LOCK` under a live
//! writer changes nothing, since the socket still holds) and Node writers, which cannot
//! `flock`, rely on the socket only. So: native writers exclude each other everywhere; a Node
//! writer and a native writer exclude each other within one network namespace.
//!
//! Other platforms: abstract sockets are Linux-only. Elsewhere on Unix the `flock` on `LOCK`
//! is the lock (released by the OS when the holder dies; deleting the file under a live writer
//! defeats it there), and a refused opener cannot name the holder's pid.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::file_backend::LOCK_FILE;
use crate::file_system::DirLock;

/// How long a lock whose holder does not answer is tried again.
const SILENT_HOLDER_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// A held writer lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    #[cfg(target_os = "linux")]
    _socket: linux::Holder,
    _file: File,
    path: PathBuf,
}

impl DirLock for StoreLock {}

impl StoreLock {
    /// Takes the lock of the store in `dir` (an existing directory), or fails with
    /// [`Error::Locked`] naming the holder.
    ///
    /// A lock held by something that does not answer is tried again for up to a second before
    /// the open fails: a child process between `fork` and `exec` briefly holds copies of its
    /// parent's descriptors, so a store its parent just closed can look held for a moment.
    /// A live writer answers at once, and the refusal is immediate.
    pub fn acquire(dir: &Path) -> Result<StoreLock> {
        let deadline = std::time::Instant::now() + SILENT_HOLDER_GRACE;
        loop {
            match StoreLock::try_acquire(dir) {
                Err(Error::Locked { pid: None, .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                result => return result,
            }
        }
    }

    fn try_acquire(dir: &Path) -> Result<StoreLock> {
        #[cfg(target_os = "linux")]
        let socket = linux::Holder::bind(dir)?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(&path, "open lock file", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: dir.to_path_buf(),
                    pid: None,
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, "lock", e)),
        }
        Ok(StoreLock {
            #[cfg(target_os = "linux")]
            _socket: socket,
            _file: file,
            path: dir.to_path_buf(),
        })
    }

    /// Whether a writer holds the store in `dir` right now, and its pid when it says. Writes
    /// nothing: usable on read-only media and without write permission. `Ok(None)` when no
    /// writer is live.
    pub fn holder(dir: &Path) -> Result<Option<Holder>> {
        #[cfg(target_os = "linux")]
        {
            linux::probe(dir)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let path = dir.join(LOCK_FILE);
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io(&path, "open lock file", e)),
            };
            match file.try_lock_shared() {
                Ok(()) => Ok(None),
                Err(TryLockError::WouldBlock) => Ok(Some(Holder { pid: None })),
                Err(TryLockError::Error(e)) => Err(Error::io(&path, "lock", e)),
            }
        }
    }

    /// The store directory this lock holds.
    pub fn dir(&self) -> &Path {
        &self.path
    }
}

/// The live writer of a store, as [`StoreLock::holder`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The writer's process id, when it answered.
    pub pid: Option<u32>,
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{ErrorKind, Read, Write};
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::JoinHandle;
    use std::time::Duration;

    use super::Holder as LiveHolder;
    use crate::error::{Error, Result};

    /// How long a refused opener waits for the holder's answer (a live holder answers at once).
    const ANSWER_TIMEOUT: Duration = Duration::from_millis(200);
    const ANSWER_PREFIX: &str = "rewind-lock 1 pid ";
    /// The longest abstract name: `sun_path` (108 bytes) less the leading NUL.
    const ABSTRACT_NAME_MAX: usize = 107;

    /// The bound sockets, each with the thread that answers who holds them; held (and
    /// released by dropping) for the lock's life.
    #[derive(Debug)]
    pub(super) struct Holder {
        _sockets: Vec<Answering>,
    }

    #[derive(Debug)]
    struct Answering {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    /// The lock's name in both of its spellings: as written, and padded with NULs to the
    /// longest abstract name. An abstract name's length is part of it, and Node.js (libuv)
    /// binds a name at the full length of the address, so a Node.js writer holds the padded
    /// spelling; a native writer binds both, and so excludes Node.js writers too.
    fn addresses(dir: &Path) -> Result<[SocketAddr; 2]> {
        let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, "stat", e))?;
        let name = format!("rewind/lock/{:x}/{:x}", meta.dev(), meta.ino());
        let mut padded = name.clone().into_bytes();
        padded.resize(ABSTRACT_NAME_MAX, 0);
        let addr = |bytes: &[u8]| {
            SocketAddr::from_abstract_name(bytes).map_err(|e| Error::io(dir, "lock", e))
        };
        Ok([addr(name.as_bytes())?, addr(&padded)?])
    }

    impl Holder {
        pub(super) fn bind(dir: &Path) -> Result<Holder> {
            let mut sockets = Vec::with_capacity(2);
            let addrs = addresses(dir)?;
            for addr in &addrs {
                let listener = match UnixListener::bind_addr(addr) {
                    Ok(l) => l,
                    Err(e) if e.kind() == ErrorKind::AddrInUse => {
                        // The holder of this spelling says who it is (the ones bound so far
                        // are this opener's own, released as `sockets` drops).
                        let pid = probe_addr(addr).ok().flatten().and_then(|h| h.pid);
                        return Err(Error::Locked {
                            path: dir.to_path_buf(),
                            pid,
                        });
                    }
                    Err(e) => return Err(Error::io(dir, "lock", e)),
                };
                sockets.push(Answering::start(addr.clone(), listener, dir)?);
            }
            Ok(Holder { _sockets: sockets })
        }
    }

    impl Answering {
        fn start(addr: SocketAddr, listener: UnixListener, dir: &Path) -> Result<Answering> {
            let stop = Arc::new(AtomicBool::new(false));
            let thread = {
                let stop = stop.clone();
                let answer = format!("{ANSWER_PREFIX}{}\n", std::process::id());
                std::thread::Builder::new()
                    .name("rewind-lock".into())
                    .spawn(move || {
                        for conn in listener.incoming() {
                            if stop.load(Ordering::Acquire) {
                                break;
                            }
                            if let Ok(mut conn) = conn {
                                let _ = conn.set_write_timeout(Some(ANSWER_TIMEOUT));
                                let _ = conn.write_all(answer.as_bytes());
                            }
                        }
                        // The listener drops here: the name is free.
                    })
                    .map_err(|e| Error::io(dir, "start the lock thread for", e))?
            };
            Ok(Answering {
                addr,
                stop,
                thread: Some(thread),
            })
        }
    }

    impl Drop for Answering {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Release);
            // Wake the accept; the thread sees the flag and closes the socket.
            if UnixStream::connect_addr(&self.addr).is_ok()
                && let Some(thread) = self.thread.take()
            {
                let _ = thread.join();
            }
        }
    }

    pub(super) fn probe(dir: &Path) -> Result<Option<LiveHolder>> {
        for addr in &addresses(dir)? {
            let found = probe_addr(addr).map_err(|e| Error::io(dir, "ask for the writer of", e))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    fn probe_addr(addr: &SocketAddr) -> std::io::Result<Option<LiveHolder>> {
        let conn = match UnixStream::connect_addr(addr) {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(None),
            Err(e) => return Err(e),
        };
        conn.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        let mut text = String::new();
        let _ = conn.take(64).read_to_string(&mut text);
        let pid = text
            .strip_prefix(ANSWER_PREFIX)
            .and_then(|p| p.trim_end().parse().ok());
        Ok(Some(LiveHolder { pid }))
    }
}
