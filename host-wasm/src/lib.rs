#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

#[cfg(feature = "conformance")]
pub mod conformance_runner;
pub mod js_env;
pub mod js_error;
pub mod js_snapshot;
pub mod log_backend;
pub mod node_files;
pub mod persist_batch;
pub mod store_backend;
pub mod wasm_store;

pub use js_env::JsEnv;
pub use log_backend::{LogBackend, Persist};
pub use persist_batch::PersistBatch;
pub use wasm_store::WasmStore;
