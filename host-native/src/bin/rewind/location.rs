//! Where the store is: a directory (the file store) or a store on PostgreSQL named by a
//! `postgres://` URL. Commands are written once over the engine ([`Engine`]) and run on either:
//! [`on_store!`] opens the store the way a command needs it and binds the engine.

use std::mem::ManuallyDrop;

use rewind::{Backend, FileStore};

use crate::Engine;

/// Something that holds an opened engine: a file store, or a store on a server.
pub trait AsEngine {
    /// The backend under the engine.
    type Backend: Backend;
    /// The engine.
    fn engine(&mut self) -> &mut Engine<Self::Backend>;
}

impl AsEngine for FileStore {
    type Backend = rewind::FileBackend;
    fn engine(&mut self) -> &mut Engine<rewind::FileBackend> {
        FileStore::engine(self)
    }
}

impl<T: AsEngine> AsEngine for ManuallyDrop<T> {
    type Backend = T::Backend;
    fn engine(&mut self) -> &mut Engine<T::Backend> {
        (**self).engine()
    }
}

/// A store on PostgreSQL opened by a command. A writer leaves an index snapshot when it closes
/// after the log grew, so the next command (or worker) replays little.
#[cfg(feature = "postgres")]
pub struct PgOpened(pub rewind::PgEngine, pub rewind::LoadReport);

#[cfg(feature = "postgres")]
impl AsEngine for PgOpened {
    type Backend = rewind::PgBackend;
    fn engine(&mut self) -> &mut Engine<rewind::PgBackend> {
        &mut self.0
    }
}

#[cfg(feature = "postgres")]
impl Drop for PgOpened {
    fn drop(&mut self) {
        if self.0.snapshot_due() {
            let _ = self.0.write_snapshot();
        }
    }
}

/// Opens the store `$ctx` names — `create` (for writing, created on first use), `existing` (for
/// writing, an existing store), or `read` (read-only) — binds `$s` to its engine
/// (`&mut Engine<_>`) and runs `$body`, which is compiled once per kind of store.
macro_rules! on_store {
    ($ctx:expr, $how:ident, |$s:ident| $body:expr) => {{
        match $ctx.pg() {
            None => {
                let mut opened = on_store!(@file $ctx, $how);
                let $s = $crate::location::AsEngine::engine(&mut opened);
                $body
            }
            #[cfg(feature = "postgres")]
            Some(at) => {
                let mut opened = $ctx.open_pg(at, on_store!(@pg $how))?;
                let $s = $crate::location::AsEngine::engine(&mut opened);
                $body
            }
            #[cfg(not(feature = "postgres"))]
            Some(never) => match never {},
        }
    }};
    (@file $ctx:expr, create) => { $ctx.open()? };
    (@file $ctx:expr, existing) => { $ctx.open_existing()? };
    (@file $ctx:expr, read) => { $ctx.read()? };
    (@pg create) => { $crate::location::PgMode::Create };
    (@pg existing) => { $crate::location::PgMode::Existing };
    (@pg read) => { $crate::location::PgMode::Read };
}
pub(crate) use on_store;

/// How a command opens a store on PostgreSQL.
#[cfg(feature = "postgres")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgMode {
    /// For writing; created (schema and store) when missing.
    Create,
    /// For writing; the store must exist.
    Existing,
    /// Read-only; the store must exist.
    Read,
}

/// Stands in for a PostgreSQL location in a build without the feature: no value exists.
#[cfg(not(feature = "postgres"))]
pub enum NoPg {}
