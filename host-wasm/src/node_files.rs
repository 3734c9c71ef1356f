//! The native store's files in Node.js: the file backend of the `rewind` crate over `node:fs`.
//!
//! A file store in Node.js is the native store's directory — segments, `CURRENT`, `DURABLE`,
//! `INDEX` — written and read by the same backend code as the native library's (the `rewind`
//! crate, built for WebAssembly), so the bytes are the same by construction. What the backend
//! asks of a file system ([`FileSystem`], [`StoreFile`]) is answered by calls into the
//! package's JavaScript layer ([`JsFiles`], `npm/src/files.js`), which makes them with Node.js's
//! synchronous `fs` calls (`readSync`, `writeSync`, `fdatasyncSync`, …): a write reaches the
//! operating system before the engine's call returns, as a native write does, and a sync blocks
//! until the disk has it.
//!
//! The writer lock is the native one — a Unix socket in Linux's abstract namespace named after
//! the directory (see `host-native/src/lock.rs`) — taken by the JavaScript layer before the
//! backend opens (binding a socket in Node.js is asynchronous): [`FileSystem::lock`] asks it
//! whether it holds the lock of that directory. The socket is released when the store closes
//! or the process dies.
//!
//! `stamp` is not offered (Node.js's times would do, but the backend then also keeps a clock,
//! which WebAssembly lacks): a follower reads `CURRENT` at every refresh, a few dozen bytes.

use std::ffi::OsString;
use std::io::{self, ErrorKind};
use std::path::Path;
use std::sync::Arc;

use rewind::{DirLock, Error, FileSystem, OpenMode, StoreFile};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The file calls of the package's Node.js layer (`npm/src/files.js`). Each throws a
    /// Node.js error (with its `code`, e.g. `ENOENT`) when the call fails; every one is caught
    /// here (an exception must never unwind through the module).
    #[derive(Debug)]
    pub type JsFiles;

    #[wasm_bindgen(method, catch)]
    fn open(this: &JsFiles, path: &str, mode: &str) -> Result<f64, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn list(this: &JsFiles, dir: &str) -> Result<Vec<String>, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn exists(this: &JsFiles, path: &str) -> Result<bool, JsValue>;
    #[wasm_bindgen(method, catch, js_name = createDirAll)]
    fn create_dir_all(this: &JsFiles, dir: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn rename(this: &JsFiles, from: &str, to: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn remove(this: &JsFiles, path: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = syncDir)]
    fn sync_dir(this: &JsFiles, dir: &str) -> Result<(), JsValue>;
    /// Whether the layer holds the writer lock of the store in `dir`.
    #[wasm_bindgen(method, catch, js_name = holdsLock)]
    fn holds_lock(this: &JsFiles, dir: &str) -> Result<bool, JsValue>;

    #[wasm_bindgen(method, catch, js_name = readAt)]
    fn read_at(this: &JsFiles, fd: f64, buf: &mut [u8], offset: f64) -> Result<f64, JsValue>;
    #[wasm_bindgen(method, catch, js_name = writeAt)]
    fn write_at(this: &JsFiles, fd: f64, buf: &[u8], offset: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = setLen)]
    fn set_len(this: &JsFiles, fd: f64, len: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn size(this: &JsFiles, fd: f64) -> Result<f64, JsValue>;
    #[wasm_bindgen(method, catch, js_name = syncData)]
    fn sync_data(this: &JsFiles, fd: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = syncAll)]
    fn sync_all(this: &JsFiles, fd: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn close(this: &JsFiles, fd: f64) -> Result<(), JsValue>;
}

/// The file system of the Node.js layer (see the module docs).
#[derive(Clone, Debug)]
pub struct NodeFileSystem {
    js: Arc<JsFiles>,
}

impl NodeFileSystem {
    /// The file system the layer's `files` object offers.
    pub fn new(files: JsFiles) -> NodeFileSystem {
        NodeFileSystem {
            js: Arc::new(files),
        }
    }
}

// SAFETY: the module is built for wasm32 without the `atomics` feature, so it runs on one
// thread and these values are never reached from another (the backend asks for `Send + Sync`
// because native hosts share it between threads). A build with threads does not compile these.
#[cfg(not(target_feature = "atomics"))]
unsafe impl Send for NodeFileSystem {}
#[cfg(not(target_feature = "atomics"))]
unsafe impl Sync for NodeFileSystem {}
#[cfg(not(target_feature = "atomics"))]
unsafe impl Send for NodeFile {}
#[cfg(not(target_feature = "atomics"))]
unsafe impl Sync for NodeFile {}

/// `path` as the string Node.js takes.
fn text(path: &Path) -> io::Result<&str> {
    path.to_str().ok_or_else(|| {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!("{} is not valid UTF-8", path.display()),
        )
    })
}

/// A Node.js `fs` error as an `io::Error` of the kind its `code` says.
fn io_error(error: JsValue) -> io::Error {
    let field = |name: &str| {
        js_sys::Reflect::get(&error, &name.into())
            .ok()
            .and_then(|v| v.as_string())
    };
    let code = field("code").unwrap_or_default();
    let kind = match code.as_str() {
        "ENOENT" => ErrorKind::NotFound,
        "EEXIST" => ErrorKind::AlreadyExists,
        "EACCES" | "EPERM" => ErrorKind::PermissionDenied,
        "ENOSPC" => ErrorKind::StorageFull,
        "EDQUOT" => ErrorKind::QuotaExceeded,
        "EFBIG" => ErrorKind::FileTooLarge,
        "EROFS" => ErrorKind::ReadOnlyFilesystem,
        "EINTR" => ErrorKind::Interrupted,
        "ENOTDIR" => ErrorKind::NotADirectory,
        "EISDIR" => ErrorKind::IsADirectory,
        _ => ErrorKind::Other,
    };
    let message = field("message").unwrap_or_else(|| format!("{error:?}"));
    io::Error::new(kind, message)
}

/// A byte count or offset as the JavaScript number Node.js takes (exact up to 2^53).
fn number(n: u64) -> f64 {
    n as f64
}

impl FileSystem for NodeFileSystem {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>> {
        let mode = match mode {
            OpenMode::Read => "read",
            OpenMode::ReadWrite => "readWrite",
            OpenMode::CreateNew => "createNew",
            OpenMode::Replace => "replace",
        };
        let fd = self.js.open(text(path)?, mode).map_err(io_error)?;
        Ok(Arc::new(NodeFile {
            js: self.js.clone(),
            fd,
        }))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let names = self.js.list(text(dir)?).map_err(io_error)?;
        Ok(names.into_iter().map(OsString::from).collect())
    }

    fn exists(&self, path: &Path) -> bool {
        // A call that fails says no: the backend then treats the file as absent, and the call
        // it makes next reports the error.
        text(path).is_ok_and(|p| self.js.exists(p).unwrap_or(false))
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.js.create_dir_all(text(dir)?).map_err(io_error)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.js.rename(text(from)?, text(to)?).map_err(io_error)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.js.remove(text(path)?).map_err(io_error)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.js.sync_dir(text(dir)?).map_err(io_error)
    }

    fn lock(&self, dir: &Path) -> rewind::Result<Box<dyn DirLock>> {
        if text(dir).is_ok_and(|d| self.js.holds_lock(d).unwrap_or(false)) {
            Ok(Box::new(HeldByJs))
        } else {
            Err(Error::Locked {
                path: dir.to_path_buf(),
                pid: None,
            })
        }
    }
}

/// The writer lock, held by the JavaScript layer for as long as the store is open.
#[derive(Debug)]
struct HeldByJs;

impl DirLock for HeldByJs {}

/// A file open in the Node.js layer, by descriptor; closed when dropped.
#[derive(Debug)]
struct NodeFile {
    js: Arc<JsFiles>,
    fd: f64,
}

impl Drop for NodeFile {
    fn drop(&mut self) {
        // Nothing to do about a descriptor that will not close (it is not used again).
        let _ = self.js.close(self.fd);
    }
}

impl StoreFile for NodeFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let read = self
            .js
            .read_at(self.fd, buf, number(offset))
            .map_err(io_error)?;
        Ok(read as usize)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.js
            .write_at(self.fd, buf, number(offset))
            .map_err(io_error)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.js.set_len(self.fd, number(len)).map_err(io_error)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.js.size(self.fd).map_err(io_error)? as u64)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.js.sync_data(self.fd).map_err(io_error)
    }

    fn sync_all(&self) -> io::Result<()> {
        self.js.sync_all(self.fd).map_err(io_error)
    }
}
