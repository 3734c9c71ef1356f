//! What rewind keeps in a PostgreSQL database, and how it is created and migrated.
//!
//! Everything lives in the schema `rewind`:
//!
//! - `rewind.schema_version (version int)`: one row, the layout below (1). A database laid out
//!   by a newer rewind is refused, never changed.
//! - `rewind.stores (id, name, generation, header, created_at)`: one row per store. `name` is
//!   the URL's `store`; `generation` counts the compactions that replaced the store's log;
//!   `header` is its log's header (magic and format version).
//! - `rewind.log_<id>_<generation>`: the store's log, one row per sealed write, in log order:
//!   `pos` (the write's position in the log, its primary key), `len`, `frames` (the write's
//!   records, framed as in every rewind log) and `writer`/`nonce` (which handle wrote it: how a
//!   writer that lost its connection mid-commit learns whether its write landed). Rows are only
//!   ever inserted: never updated, never deleted.
//! - `rewind.index_<id>_<generation>`: the newest index snapshot of that log (see
//!   `rewind_core::snapshot`), in parts of 1 MiB: `at` (the log end it describes), `part`,
//!   `bytes`.
//!
//! A compaction writes the next generation's tables beside the current ones and switches the
//! store's `generation` in the same transaction; the old generation's tables are then dropped,
//! which returns their space (table, TOAST and index) to the operating system at once, unlike
//! a `DELETE` and `VACUUM`.
//!
//! Creating and migrating run in a transaction holding an advisory lock, so processes opening
//! stores at once never race each other into a half-made schema.

use postgres::Client;

use crate::error::{Error, Result};

/// The layout this build reads and writes.
pub const SCHEMA_VERSION: i32 = 1;

/// The advisory lock key that serialises schema changes (an arbitrary constant: "rewind" in
/// ASCII).
const SCHEMA_LOCK: i64 = 0x7265_7769_6e64;

/// The name of a store generation's log table.
pub fn log_table(store: i64, generation: i64) -> String {
    format!("rewind.log_{store}_{generation}")
}

/// The name of a store generation's snapshot table.
pub fn index_table(store: i64, generation: i64) -> String {
    format!("rewind.index_{store}_{generation}")
}

/// The NOTIFY channel on which writes to a store are announced.
pub fn channel(store: i64) -> String {
    format!("rewind_{store}")
}

/// The SQL that creates a generation's two tables.
pub fn create_generation(store: i64, generation: i64) -> String {
    format!(
        "CREATE TABLE {log} (
             pos bigint PRIMARY KEY,
             len integer NOT NULL,
             writer bigint NOT NULL,
             nonce bigint NOT NULL,
             frames bytea NOT NULL
         );
         CREATE TABLE {index} (
             at bigint NOT NULL,
             part integer NOT NULL,
             bytes bytea NOT NULL,
             PRIMARY KEY (at, part)
         );",
        log = log_table(store, generation),
        index = index_table(store, generation),
    )
}

/// What a store's row says.
#[derive(Clone, Debug)]
pub struct StoreRow {
    /// The store's id (in its tables' names).
    pub id: i64,
    /// The current generation.
    pub generation: i64,
    /// The current log's header.
    pub header: Vec<u8>,
}

pub(crate) fn server_error(op: &'static str, err: &postgres::Error) -> Error {
    Error::Server {
        op,
        message: message_of(err),
        code: err.code().map(|c| c.code().to_string()),
    }
}

/// The server's message, or the connection's error with what caused it ("error performing
/// TLS handshake: invalid peer certificate: UnknownIssuer").
pub(crate) fn message_of(err: &postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return db.message().to_string();
    }
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Creates the schema if it is missing, and checks its version.
pub fn ensure(client: &mut Client) -> Result<()> {
    let fail = |e: postgres::Error| server_error("set up rewind's schema", &e);
    let mut txn = client.transaction().map_err(fail)?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(fail)?;
    txn.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS rewind;
         CREATE TABLE IF NOT EXISTS rewind.schema_version (version integer NOT NULL);
         CREATE TABLE IF NOT EXISTS rewind.stores (
             id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             name text NOT NULL UNIQUE,
             generation bigint NOT NULL,
             header bytea NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .map_err(fail)?;
    let version: Option<i32> = txn
        .query_opt("SELECT max(version) FROM rewind.schema_version", &[])
        .map_err(fail)?
        .and_then(|row| row.get(0));
    match version {
        None => {
            txn.execute(
                "INSERT INTO rewind.schema_version (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .map_err(fail)?;
        }
        Some(v) if v > SCHEMA_VERSION => return Err(newer(v)),
        Some(_) => {}
    }
    txn.commit().map_err(fail)
}

/// Checks that the schema is one this build reads (a missing schema is the caller's to
/// handle: its tables are missing too).
pub fn check_version(client: &mut Client) -> Result<()> {
    let version: Option<i32> = client
        .query_opt("SELECT max(version) FROM rewind.schema_version", &[])
        .map_err(|e| server_error("read rewind's schema version", &e))?
        .and_then(|row| row.get(0));
    match version {
        Some(v) if v > SCHEMA_VERSION => Err(newer(v)),
        _ => Ok(()),
    }
}

fn newer(version: i32) -> Error {
    Error::Server {
        op: "open rewind's schema",
        message: format!(
            "the database is laid out by a newer rewind (schema version {version}; this build \
             knows up to {SCHEMA_VERSION})"
        ),
        code: None,
    }
}

/// The store named `name`: created (with its first generation's tables) when `create` is set
/// and it does not exist yet, else `None`.
pub fn store(client: &mut Client, name: &str, create: bool) -> Result<Option<StoreRow>> {
    let fail = |e: postgres::Error| server_error("open the store", &e);
    let select = "SELECT id, generation, header FROM rewind.stores WHERE name = $1";
    let row_of = |row: postgres::Row| StoreRow {
        id: row.get(0),
        generation: row.get(1),
        header: row.get(2),
    };
    if let Some(row) = client.query_opt(select, &[&name]).map_err(fail)? {
        return Ok(Some(row_of(row)));
    }
    if !create {
        return Ok(None);
    }
    let mut txn = client.transaction().map_err(fail)?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(fail)?;
    if let Some(row) = txn.query_opt(select, &[&name]).map_err(fail)? {
        return Ok(Some(row_of(row)));
    }
    let header = rewind_core::frame::header().to_vec();
    let id: i64 = txn
        .query_one(
            "INSERT INTO rewind.stores (name, generation, header) VALUES ($1, 0, $2) RETURNING id",
            &[&name, &header],
        )
        .map_err(fail)?
        .get(0);
    txn.batch_execute(&create_generation(id, 0)).map_err(fail)?;
    txn.commit().map_err(fail)?;
    Ok(Some(StoreRow {
        id,
        generation: 0,
        header,
    }))
}

/// Drops the tables of a store's generations older than `current` (left behind when a
/// compaction's drop found them in use). Waits at most a second for each; what is still in use
/// is left for a later try.
pub fn drop_old_generations(client: &mut Client, store: i64, current: i64) -> usize {
    let Ok(rows) = client.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'rewind' \
         AND (tablename LIKE $1 OR tablename LIKE $2)",
        &[
            &format!("log\\_{store}\\_%"),
            &format!("index\\_{store}\\_%"),
        ],
    ) else {
        return 0;
    };
    let mut dropped = 0;
    for row in rows {
        let table: String = row.get(0);
        let generation = table.rsplit('_').next().and_then(|g| g.parse::<i64>().ok());
        if generation.is_some_and(|g| g < current)
            && client
                .batch_execute(&format!(
                    "SET lock_timeout = '1s'; DROP TABLE IF EXISTS rewind.{table}; \
                     SET lock_timeout = 0"
                ))
                .is_ok()
        {
            dropped += 1;
        }
    }
    let _ = client.batch_execute("SET lock_timeout = 0");
    dropped
}
