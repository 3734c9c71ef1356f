//! Stores on PostgreSQL: one store written by many processes on many machines.
//!
//! - [`location`]: the `postgres://…?store=NAME` URL;
//! - [`schema`]: the tables rewind keeps in the database, created and migrated at open;
//! - [`backend`]: [`PgBackend`], the log as rows, appended with a conditional insert;
//! - [`store`]: [`PgStore`], the thread-safe handle that follows the other writers.
//!
//! The server orders and keeps the writes; rewind's engine is unchanged on top of it (see
//! `rewind_core::Backend::is_shared`).

pub mod backend;
pub mod location;
pub mod schema;
pub mod store;

pub use backend::{PgBackend, PgOptions};
pub use location::PgLocation;
pub use store::{PgEngine, PgStore};
