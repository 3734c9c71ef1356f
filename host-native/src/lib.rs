#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod system_env;

pub use rewind_core::*;
pub use system_env::SystemEnv;

/// A store kept in memory, with the system clock and OS randomness.
pub type MemoryStore = Store<MemoryBackend, SystemEnv>;

/// Opens an empty in-memory store with default options.
pub fn memory_store() -> Result<MemoryStore> {
    let (store, _) = Store::open(MemoryBackend::new(), SystemEnv::new(), Options::default())?;
    Ok(store)
}
