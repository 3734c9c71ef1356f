//! [`PgBackend`]: a store's log in PostgreSQL tables, written by many processes at once.
//!
//! Each sealed write is one row of the generation's log table, keyed by its position in the
//! log. A writer appends with a conditional insert at the end it last saw:
//!
//! ```sql
//! WITH live AS (SELECT 1 FROM rewind.stores WHERE id = $1 AND generation = $2
//!               AND pg_try_advisory_xact_lock_shared(29303, $1::int4) FOR KEY SHARE),
//!      ins AS (INSERT INTO rewind.log_<id>_<generation> (pos, len, writer, nonce, frames)
//!              SELECT $3, $4, $5, $6, $7 FROM live ON CONFLICT (pos) DO NOTHING RETURNING pos)
//! SELECT pg_notify($8, pos::text) FROM ins
//! ```
//!
//! No row back means another writer took that position first (or a compaction switched the
//! store to a new generation): nothing was written, and the append fails with
//! [`BackendError::Behind`] so the store catches up and plans the write again (see
//! [`Backend::is_shared`]). The position is the fence: a writer that was cut off — its
//! connection lost, its network partitioned, its process paused — can only ever append at the
//! end it has seen, which by then is taken, so it cannot write anything stale.
//!
//! A write returns once its insert committed (the server's `synchronous_commit` decides what
//! that means for durability; its default waits for the server's own log flush). When the
//! connection breaks before the answer comes, the outcome is unknown: the backend reconnects
//! (for up to [`PgOptions::reconnect_for`]) and looks for its row by `writer` and `nonce`, so a
//! write that landed is acknowledged once and a write that did not is tried again; only when
//! the server stays out of reach does the write fail, and then the row may still have landed
//! (the store then finds it as another writer's on its next catch-up).
//!
//! Under contention writers queue instead of racing: a writer that lost a race takes the
//! store's advisory lock (`pg_advisory_xact_lock(29303, id)`, in a transaction) for its next
//! few appends, reading with it the rows the others appended, catches up on those, plans its
//! write again and commits it with the lock still held; racing appends take the lock shared
//! and fail at once while someone holds it (then queue too). The store lets the lock go when
//! the write is over ([`Backend::end_write`]).
//!
//! A compaction rewrites the log into the next generation's tables inside one transaction that
//! holds the advisory lock and the store's row (`FOR UPDATE`): writers' appends wait for it,
//! then find the generation moved and catch up on the new log. After the switch the old
//! tables are dropped.
//!
//! Reads of chunk bytes fetch the row holding them by position (`pos <= $1 ORDER BY pos DESC
//! LIMIT 1`) — a state's rows in one query ([`Backend::prefetch`]) — and keep recent rows in a
//! small cache; nothing loads the log whole except an open without a usable index snapshot.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use rewind_core::backend::{LoadReport, Refresh, Visitor, replay_part};
use rewind_core::frame::HEADER_LEN;
use rewind_core::{Backend, BackendError, CorruptKind};

use super::location::PgLocation;
use super::schema::{self, StoreRow};
use crate::error::{Error, Result};

/// Rows of the log read per query while replaying.
const ROWS_PER_QUERY: i64 = 256;

/// Bytes of log rows kept for chunk reads.
const CACHE_BYTES: usize = 32 << 20;

/// The most a snapshot part holds.
const SNAPSHOT_PART: usize = 1 << 20;

/// How a store on PostgreSQL is opened.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PgOptions {
    /// How long a write or read waits for a lost server to come back (reconnecting with
    /// growing pauses) before it fails (default 30 s).
    pub reconnect_for: Duration,
    /// Open read-only: nothing is written, not even the schema; the store must exist.
    pub read_only: bool,
    /// Create the schema and the store when they are missing (default); when unset, a
    /// missing store is [`Error::NotAStore`].
    pub create: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            reconnect_for: Duration::from_secs(30),
            read_only: false,
            create: true,
        }
    }
}

impl PgOptions {
    /// Sets how long to wait for a lost server.
    pub fn reconnect_for(mut self, wait: Duration) -> Self {
        self.reconnect_for = wait;
        self
    }

    /// Sets read-only.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Sets whether a missing store is created.
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }
}

/// A connection that comes back: dropped when it broke, made again at the next use.
struct Connection {
    config: postgres::Config,
    /// TLS, when the location asks for it.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    client: Option<Client>,
    /// Prepared statements of this connection, by their SQL.
    statements: HashMap<String, Statement>,
    /// Counts connections made: a transaction held open belongs to one of them.
    epoch: u64,
}

impl Connection {
    fn client(&mut self) -> std::result::Result<&mut Client, postgres::Error> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.statements.clear();
            self.client = None;
            self.client = Some(match &self.tls {
                Some(tls) => self.config.connect(tls.clone())?,
                None => self.config.connect(NoTls)?,
            });
            self.epoch += 1;
        }
        Ok(self.client.as_mut().expect("just connected"))
    }

    fn prepared(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql)
            && self.client.as_ref().is_some_and(|c| !c.is_closed())
        {
            return Ok(statement.clone());
        }
        let statement = self.client()?.prepare(sql)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Forgets a connection that an error may have broken.
    fn after_error(&mut self, err: &postgres::Error) {
        if broken(err) || self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
            self.statements.clear();
        }
    }
}

/// Whether the error came from a lost connection (or a server going down or coming up), after
/// which the same request may well succeed on a new connection.
fn broken(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    // A server whose certificate is not trusted stays so: no point waiting for it.
    if schema::message_of(err).contains("TLS handshake") {
        return false;
    }
    match err.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        // No SQLSTATE: the socket failed, or the connection could not be made.
        None => err.as_db_error().is_none(),
    }
}

/// Whether the error is of a table that is not there (a generation a compaction dropped).
fn undefined_table(err: &postgres::Error) -> bool {
    err.code().is_some_and(|c| c.code() == "42P01")
}

fn io(op: &str, err: &postgres::Error) -> BackendError {
    let message = schema::message_of(err);
    match err.code().map(|c| c.code()) {
        // disk_full, out_of_memory, program_limit_exceeded
        Some(code @ ("53100" | "53200" | "54000")) => {
            BackendError::Full(format!("postgres: {op}: {message} (SQLSTATE {code})"))
        }
        Some(code) => BackendError::Io(format!("postgres: {op}: {message} (SQLSTATE {code})")),
        None => BackendError::Io(format!("postgres: {op}: {message}")),
    }
}

/// Recent log rows, for chunk reads.
#[derive(Default)]
struct RowCache {
    rows: BTreeMap<u64, Arc<Vec<u8>>>,
    order: VecDeque<u64>,
    bytes: usize,
}

impl RowCache {
    fn find(&self, pos: u64) -> Option<(u64, Arc<Vec<u8>>)> {
        let (start, row) = self.rows.range(..=pos).next_back()?;
        (pos < start + row.len() as u64).then(|| (*start, row.clone()))
    }

    fn keep(&mut self, start: u64, row: Arc<Vec<u8>>) {
        self.bytes += row.len();
        if self.rows.insert(start, row).is_none() {
            self.order.push_back(start);
        }
        while self.bytes > CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(row) = self.rows.remove(&old) {
                self.bytes -= row.len();
            }
        }
    }

    fn clear(&mut self) {
        *self = RowCache::default();
    }
}

/// A compaction's new generation being written (inside the transaction that holds the store's
/// row).
struct Rewrite {
    generation: i64,
    end: u64,
}

/// The log of one store on a PostgreSQL server. See the module docs.
pub struct PgBackend {
    conn: Mutex<Connection>,
    location: PgLocation,
    options: PgOptions,
    store: i64,
    generation: i64,
    header: Vec<u8>,
    /// Where the log this handle has seen ends (0: empty).
    end: u64,
    /// This handle's mark on its rows, and the running number of its appends.
    writer: i64,
    nonce: i64,
    rewrite: Option<Rewrite>,
    /// A compaction that found others ahead holds the store's row (in a transaction of the
    /// connection made at this epoch) while its writer catches up.
    held: Option<u64>,
    /// The store's generation as the transaction holding its row read it.
    held_generation: Option<i64>,
    /// The rows after this handle's end, read with the store's row when it was taken: a
    /// catch-up while holding it replays them without another round trip.
    prefetched: Option<Prefetched>,
    /// Appends left that take the store's row before writing instead of racing: set when an
    /// append found others ahead (contention), counted down by each append.
    queue_for: u32,
    cache: Mutex<RowCache>,
}

/// Rows read with the store's row (see `PgBackend::hold_store`).
struct Prefetched {
    /// Where they start (the handle's end when they were read).
    from: u64,
    rows: Vec<(u64, Vec<u8>)>,
    /// Whether they are all the rows there are (nobody appends while the row is held).
    complete: bool,
}

/// The first key of the advisory lock (`pg_advisory_xact_lock(APPEND_LOCK, store id)`) that
/// writers queue on under contention and a compaction holds: "rw" in ASCII. Appends that do
/// not queue take it shared (and fail at once, to queue, while it is held).
const APPEND_LOCK: i32 = 0x7277;

/// The first key of the advisory lock that one writer at a time holds to replace a store's
/// snapshot: "rs".
const SNAPSHOT_LOCK: i32 = 0x7273;

/// How many appends after a lost race queue for the store first.
const QUEUED_APPENDS: u32 = 16;

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend")
            .field("location", &self.location)
            .field("store", &self.store)
            .field("generation", &self.generation)
            .field("end", &self.end)
            .field("read_only", &self.options.read_only)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn random_writer() -> i64 {
    let mut bytes = [0u8; 8];
    // Without randomness two handles could share a mark; the time makes that unlikely too.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (nanos ^ u64::from(std::process::id()) << 32).to_le_bytes();
    }
    i64::from_le_bytes(bytes)
}

impl PgBackend {
    /// Connects and opens the store `location` names: for writing (creating the schema and
    /// the store when missing) or, with [`PgOptions::read_only`], for reading (the store must
    /// exist; nothing is written).
    pub fn open(location: &PgLocation, options: PgOptions) -> Result<PgBackend> {
        let mut conn = Connection {
            config: location.config(),
            tls: location.connector()?,
            client: None,
            statements: HashMap::new(),
            epoch: 0,
        };
        let client = connect_waiting(&mut conn, options.reconnect_for)
            .map_err(|e| schema::server_error("connect to the server", &e))?;
        let row = if options.read_only || !options.create {
            match schema::check_version(client)
                .and_then(|()| schema::store(client, location.store(), false))
            {
                Ok(row) => row,
                // No schema yet: no store either.
                Err(Error::Server {
                    code: Some(code), ..
                }) if code == "42P01" => None,
                Err(err) => return Err(err),
            }
        } else {
            schema::ensure(client)?;
            schema::store(client, location.store(), true)?
        };
        let Some(StoreRow {
            id,
            generation,
            header,
        }) = row
        else {
            return Err(Error::NotAStore {
                path: location.to_string().into(),
                reason: format!("the database holds no store named {:?}", location.store()),
            });
        };
        if !options.read_only {
            schema::drop_old_generations(client, id, generation);
        }
        Ok(PgBackend {
            conn: Mutex::new(conn),
            location: location.clone(),
            options,
            store: id,
            generation,
            header,
            end: 0,
            writer: random_writer(),
            nonce: 0,
            rewrite: None,
            held: None,
            held_generation: None,
            prefetched: None,
            queue_for: 0,
            cache: Mutex::new(RowCache::default()),
        })
    }

    /// Where the store is.
    pub fn location(&self) -> &PgLocation {
        &self.location
    }

    /// The store's id in `rewind.stores` (in its tables' names).
    pub fn store_id(&self) -> i64 {
        self.store
    }

    /// The generation of the log this handle reads (the compactions before it).
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// The NOTIFY channel that announces the store's writes.
    pub fn channel(&self) -> String {
        schema::channel(self.store)
    }

    /// Bytes the store's current tables take on the server: heap, TOAST and indexes of its
    /// log and its index snapshot.
    pub fn server_bytes(&self) -> std::result::Result<u64, BackendError> {
        let (log, index) = (self.log_table(), self.index_table());
        self.with_retry("measure the store's tables", |conn| {
            let row = conn.client()?.query_one(
                "SELECT (coalesce(pg_total_relation_size(to_regclass($1::text)), 0) \
                 + coalesce(pg_total_relation_size(to_regclass($2::text)), 0))::bigint",
                &[&log, &index],
            )?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    fn log_table(&self) -> String {
        schema::log_table(self.store, self.generation)
    }

    fn index_table(&self) -> String {
        schema::index_table(self.store, self.generation)
    }

    /// Runs `f` on the connection, reconnecting and running it again while the connection
    /// breaks (for up to `reconnect_for`). For requests that may run twice: reads.
    fn with_retry<T>(
        &self,
        op: &str,
        mut f: impl FnMut(&mut Connection) -> std::result::Result<T, postgres::Error>,
    ) -> std::result::Result<T, BackendError> {
        let deadline = Instant::now() + self.options.reconnect_for;
        let mut pause = Duration::from_millis(10);
        let mut conn = lock(&self.conn);
        loop {
            match f(&mut conn) {
                Ok(value) => return Ok(value),
                Err(err) => {
                    conn.after_error(&err);
                    if !broken(&err) || Instant::now() >= deadline {
                        return Err(io(op, &err));
                    }
                }
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// The store's current generation and header, from its row.
    fn current_generation(&self) -> std::result::Result<(i64, Vec<u8>), BackendError> {
        let store = self.store;
        self.with_retry("read the store's generation", |conn| {
            let statement =
                conn.prepared("SELECT generation, header FROM rewind.stores WHERE id = $1")?;
            let row = conn.client()?.query_one(&statement, &[&store])?;
            Ok((row.get(0), row.get(1)))
        })
    }

    /// Replays the rows from `from` (a row's start, or the log's end) on. Returns the report
    /// (`log_bytes` counting from `from`) and where the log ends.
    fn replay_rows(
        &self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> std::result::Result<(LoadReport, u64), rewind_core::Error> {
        let version = rewind_core::frame::check_header(&self.header)
            .map_err(|kind| rewind_core::Error::Corrupt { at: 0, kind })?;
        let mut report = LoadReport::default();
        report.format_version = version;
        let table = self.log_table();
        let sql = format!(
            "SELECT pos, frames FROM {table} WHERE pos >= $1 ORDER BY pos LIMIT {ROWS_PER_QUERY}"
        );
        let mut expected = from.max(HEADER_LEN as u64);
        let mut end = from;
        loop {
            let next = expected as i64;
            let rows = self.with_retry("read the log", |conn| {
                let statement = conn.prepared(&sql)?;
                conn.client()?.query(&statement, &[&next])
            })?;
            let count = rows.len();
            for row in rows {
                let pos: i64 = row.get(0);
                expected = self.replay_row(expected, pos as u64, row.get(1), visit, &mut report)?;
                end = expected;
            }
            if (count as i64) < ROWS_PER_QUERY {
                break;
            }
        }
        Ok((report, end))
    }

    /// Replays one row — one sealed write at `pos`, which must be where the log read so far
    /// ends (`expected`) — adding it to `report`. Returns where it ends.
    fn replay_row(
        &self,
        expected: u64,
        pos: u64,
        frames: &[u8],
        visit: &mut Visitor<'_>,
        report: &mut LoadReport,
    ) -> std::result::Result<u64, rewind_core::Error> {
        if pos != expected {
            return Err(rewind_core::Error::Corrupt {
                at: expected,
                kind: CorruptKind::Inconsistent("a gap in a store's log on the server"),
            });
        }
        let (part, end) = replay_part(&self.header, frames, pos, pos, visit)?;
        if end != pos + frames.len() as u64 {
            return Err(rewind_core::Error::Corrupt {
                at: end,
                kind: CorruptKind::Truncated,
            });
        }
        report.frames += part.frames;
        report.log_bytes += part.log_bytes;
        Ok(end)
    }

    /// Where the log ends on the server (0: empty), and whether `from` is where a row starts
    /// or the log ends (where a replay may begin).
    fn check_start(&self, from: u64) -> std::result::Result<bool, BackendError> {
        let table = self.log_table();
        let sql = format!("SELECT pos + len FROM {table} WHERE pos < $1 ORDER BY pos DESC LIMIT 1");
        let before = from as i64;
        let end_before: Option<i64> = self.with_retry("read the log", |conn| {
            let statement = conn.prepared(&sql)?;
            Ok(conn
                .client()?
                .query_opt(&statement, &[&before])?
                .map(|row| row.get(0)))
        })?;
        Ok(match end_before {
            Some(end) => end as u64 == from,
            None => from <= HEADER_LEN as u64,
        })
    }

    fn try_append(
        &self,
        conn: &mut Connection,
        pos: u64,
        frames: &[u8],
    ) -> std::result::Result<bool, postgres::Error> {
        let sql = format!(
            "WITH live AS (SELECT 1 FROM rewind.stores WHERE id = $1 AND generation = $2 \
             AND pg_try_advisory_xact_lock_shared({APPEND_LOCK}, $1::int4) FOR KEY SHARE), \
             ins AS (INSERT INTO {} (pos, len, writer, nonce, frames) \
             SELECT $3, $4, $5, $6, $7 FROM live ON CONFLICT (pos) DO NOTHING RETURNING pos) \
             SELECT pg_notify($8, pos::text) FROM ins",
            self.log_table()
        );
        let statement = conn.prepared(&sql)?;
        let params: [&(dyn ToSql + Sync); 8] = [
            &self.store,
            &self.generation,
            &(pos as i64),
            &(frames.len() as i32),
            &self.writer,
            &self.nonce,
            &frames,
            &self.channel(),
        ];
        Ok(!conn.client()?.query(&statement, &params)?.is_empty())
    }

    /// After a lost answer: whether the row at `pos` is this handle's latest append (`None`:
    /// no row there).
    fn landed(
        &self,
        conn: &mut Connection,
        pos: u64,
    ) -> std::result::Result<Option<bool>, postgres::Error> {
        let sql = format!(
            "SELECT writer, nonce FROM {} WHERE pos = $1",
            self.log_table()
        );
        let statement = conn.prepared(&sql)?;
        let row = conn.client()?.query_opt(&statement, &[&(pos as i64)])?;
        Ok(row.map(|row| {
            let writer: i64 = row.get(0);
            let nonce: i64 = row.get(1);
            writer == self.writer && nonce == self.nonce
        }))
    }

    /// Reads the row holding `pos`.
    fn fetch_row(&self, pos: u64) -> std::result::Result<(u64, Arc<Vec<u8>>), BackendError> {
        if let Some(found) = lock(&self.cache).find(pos) {
            return Ok(found);
        }
        // During a rewrite too, reads are of the current log: the store's index points there.
        let table = self.log_table();
        let sql =
            format!("SELECT pos, frames FROM {table} WHERE pos <= $1 ORDER BY pos DESC LIMIT 1");
        let at = pos as i64;
        let row = self.with_retry("read chunk bytes", |conn| {
            let statement = conn.prepared(&sql)?;
            conn.client()?.query_opt(&statement, &[&at])
        })?;
        let Some(row) = row else {
            return Err(BackendError::OutOfRange { pos, len: 0 });
        };
        let start: i64 = row.get(0);
        let frames: Vec<u8> = row.get(1);
        let found = (start as u64, Arc::new(frames));
        lock(&self.cache).keep(found.0, found.1.clone());
        Ok(found)
    }

    /// Runs `sql` on the connection outside any retry (a rewrite's transaction must not be
    /// resumed on a new connection: it is gone with the old one).
    fn in_rewrite(
        &self,
        op: &str,
        f: impl FnOnce(&mut Client) -> std::result::Result<(), postgres::Error>,
    ) -> std::result::Result<(), BackendError> {
        let mut conn = lock(&self.conn);
        let result = conn.client().and_then(f);
        result.map_err(|err| {
            conn.after_error(&err);
            io(op, &err)
        })
    }

    /// Lets go of the store's row that a compaction held for its next try.
    fn release(&mut self) {
        self.held_generation = None;
        self.prefetched = None;
        if self.held.take() == Some(lock(&self.conn).epoch) {
            let _ = self.in_rewrite("let go of the store", |c| c.batch_execute("ROLLBACK"));
        }
    }

    /// The conditional insert at `pos`, reconnecting while the connection breaks; an answer
    /// lost on the way (`unknown`) is settled by looking for this handle's row. Returns
    /// whether the write landed (false: another writer's row is at `pos`, or the generation
    /// moved).
    fn append_at(
        &self,
        pos: u64,
        frames: &[u8],
        mut unknown: bool,
    ) -> std::result::Result<bool, BackendError> {
        let deadline = Instant::now() + self.options.reconnect_for;
        let mut pause = Duration::from_millis(10);
        let mut conn = lock(&self.conn);
        loop {
            let step = if unknown {
                self.landed(&mut conn, pos)
            } else {
                self.try_append(&mut conn, pos, frames).map(Some)
            };
            match step {
                Ok(Some(landed)) => return Ok(landed),
                // The lost insert did not land: insert again.
                Ok(None) => unknown = false,
                // The generation this handle appends to was switched and dropped by a
                // compaction: nothing was written, the store catches up on the new one.
                Err(err) if !unknown && undefined_table(&err) => return Ok(false),
                Err(err) => {
                    conn.after_error(&err);
                    if !broken(&err) {
                        return Err(io("append to the log", &err));
                    }
                    if Instant::now() >= deadline {
                        let mut failed = io("append to the log", &err);
                        if let BackendError::Io(message) = &mut failed {
                            message.push_str(
                                " (the server did not answer: the write may have landed, and \
                                 then shows after the next refresh)",
                            );
                        }
                        return Err(failed);
                    }
                    unknown = true;
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        }
    }

    /// Whether this handle holds the store's row (on its current connection).
    fn holding(&self) -> bool {
        self.held.is_some() && self.held == Some(lock(&self.conn).epoch)
    }

    /// The insert at `pos` inside the transaction that holds the store, and its commit, in one
    /// round trip (the frames sent as a hex literal).
    fn append_holding(&self, pos: u64, frames: &[u8]) -> std::result::Result<bool, BackendError> {
        let mut sql = format!(
            "WITH ins AS (INSERT INTO {} (pos, len, writer, nonce, frames) \
             VALUES ({pos}, {}, {}, {}, '\\x",
            self.log_table(),
            frames.len(),
            self.writer,
            self.nonce,
        );
        sql.reserve(frames.len() * 2 + 200);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for byte in frames {
            sql.push(HEX[usize::from(byte >> 4)] as char);
            sql.push(HEX[usize::from(byte & 0xf)] as char);
        }
        sql.push_str(&format!(
            "'::bytea) ON CONFLICT (pos) DO NOTHING RETURNING pos) \
             SELECT pg_notify('{}', pos::text) FROM ins; COMMIT",
            self.channel()
        ));
        let mut conn = lock(&self.conn);
        let result = conn.client().and_then(|c| c.simple_query(&sql));
        match result {
            Ok(messages) => Ok(messages
                .iter()
                .any(|m| matches!(m, postgres::SimpleQueryMessage::Row(_)))),
            Err(err) => {
                conn.after_error(&err);
                if broken(&err) {
                    // The commit's answer was lost: settle it as a lost insert.
                    drop(conn);
                    return self.append_at(pos, frames, true);
                }
                if let Ok(client) = conn.client() {
                    let _ = client.batch_execute("ROLLBACK");
                }
                Err(io("append to the log", &err))
            }
        }
    }

    /// Takes the store's row in a transaction (see `append`), reading with it the
    /// generation and the rows after this handle's end, in one round trip. A failure leaves
    /// nothing held: the next try races as before.
    fn hold_store(&mut self) {
        let from = self.end.max(HEADER_LEN as u64);
        let sql = format!(
            "BEGIN; SET LOCAL idle_in_transaction_session_timeout = '10s'; \
             SELECT pg_advisory_xact_lock({APPEND_LOCK}, {store}); \
             SELECT generation FROM rewind.stores WHERE id = {store}; \
             SELECT pos, frames FROM {log} WHERE pos >= {from} ORDER BY pos LIMIT {ROWS_PER_QUERY}",
            store = self.store as i32,
            log = self.log_table(),
        );
        let mut conn = lock(&self.conn);
        let held = conn.client().and_then(|c| c.simple_query(&sql));
        let messages = match held {
            Ok(messages) => messages,
            Err(err) => {
                conn.after_error(&err);
                if let Ok(client) = conn.client() {
                    let _ = client.batch_execute("ROLLBACK");
                }
                return;
            }
        };
        let mut generation = None;
        let mut rows = Vec::new();
        for message in &messages {
            let postgres::SimpleQueryMessage::Row(row) = message else {
                continue;
            };
            match row.len() {
                // The lock's row (empty text) and the generation's.
                1 => {
                    if let Some(g) = row.get(0).and_then(|g| g.parse::<i64>().ok()) {
                        generation = Some(g);
                    }
                }
                _ => {
                    let pos = row.get(0).and_then(|p| p.parse::<u64>().ok());
                    let frames = row.get(1).and_then(decode_hex);
                    match (pos, frames) {
                        (Some(pos), Some(frames)) => rows.push((pos, frames)),
                        // Unreadable: read them again the usual way.
                        _ => generation = None,
                    }
                }
            }
        }
        self.held = Some(conn.epoch);
        self.held_generation = generation;
        self.prefetched = generation.map(|_| Prefetched {
            from,
            complete: rows.len() < ROWS_PER_QUERY as usize,
            rows,
        });
    }

    fn write_check(&self) -> std::result::Result<(), BackendError> {
        if self.options.read_only {
            return Err(BackendError::ReadOnly);
        }
        Ok(())
    }
}

/// Connects, waiting for a server that is not up yet for up to `wait`.
fn connect_waiting(
    conn: &mut Connection,
    wait: Duration,
) -> std::result::Result<&mut Client, postgres::Error> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(20);
    loop {
        match conn.client() {
            Ok(_) => break,
            Err(err) if broken(&err) && Instant::now() < deadline => {
                conn.after_error(&err);
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(err) => return Err(err),
        }
    }
    conn.client()
}

impl Backend for PgBackend {
    fn append(&mut self, frames: &[u8]) -> std::result::Result<u64, BackendError> {
        self.write_check()?;
        if self.rewrite.is_some() {
            return Err(BackendError::RewriteState("append during a rewrite"));
        }
        if i32::try_from(frames.len()).is_err() {
            return Err(BackendError::Full(format!(
                "a write of {} bytes is larger than a row holds",
                frames.len()
            )));
        }
        let pos = self.end.max(HEADER_LEN as u64);
        self.nonce += 1;
        // Under contention, queue for the store's row instead of racing: a write that would
        // lose the race costs the others nothing then.
        if self.queue_for > 0 && !self.holding() {
            self.queue_for -= 1;
            self.hold_store();
            if self.prefetched.as_ref().is_some_and(|p| !p.rows.is_empty()) {
                // Others wrote since this write was planned: catch up (from the rows just
                // read) and plan it again, still holding the row.
                return Err(BackendError::Behind);
            }
        }
        let landed = if self.holding() {
            if self.held_generation != Some(self.generation) {
                // Held without knowing the log is still this one: a compaction may have
                // moved it. Let go and catch up the usual way.
                self.release();
                return Err(BackendError::Behind);
            }
            self.held = None;
            self.held_generation = None;
            self.prefetched = None;
            self.append_holding(pos, frames)?
        } else {
            self.held = None;
            self.append_at(pos, frames, false)?
        };
        if !landed {
            // Others wrote first. Keep them out while this writer catches up and plans again,
            // so that its next try lands: under contention writers queue instead of racing.
            self.queue_for = QUEUED_APPENDS;
            self.hold_store();
            return Err(BackendError::Behind);
        }
        self.end = pos + frames.len() as u64;
        Ok(pos)
    }

    fn sync(&mut self) -> std::result::Result<(), BackendError> {
        // Every append is a committed transaction.
        Ok(())
    }

    fn load(
        &mut self,
        visit: &mut Visitor<'_>,
    ) -> std::result::Result<LoadReport, rewind_core::Error> {
        let (generation, header) = self.current_generation()?;
        if generation != self.generation {
            self.generation = generation;
            self.header = header;
            lock(&self.cache).clear();
        }
        let (mut report, end) = self.replay_rows(0, visit)?;
        if end > 0 {
            report.log_bytes += HEADER_LEN as u64;
        }
        self.end = end;
        Ok(report)
    }

    fn load_from(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> std::result::Result<Option<LoadReport>, rewind_core::Error> {
        if !self.check_start(from)? {
            return Err(rewind_core::Error::Corrupt {
                at: from,
                kind: CorruptKind::Truncated,
            });
        }
        let (report, end) = self.replay_rows(from, visit)?;
        self.end = end.max(from);
        Ok(Some(report))
    }

    fn refresh(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> std::result::Result<Refresh, rewind_core::Error> {
        // Holding the store's row, the generation read with it stands (a compaction needs the
        // row to move it): one round trip less while others wait.
        let held = self.holding();
        let (generation, header) = match self.held_generation.filter(|_| held) {
            Some(generation) if generation == self.generation => (generation, self.header.clone()),
            _ => self.current_generation()?,
        };
        if generation != self.generation {
            self.generation = generation;
            self.header = header;
            self.end = 0;
            lock(&self.cache).clear();
            return Ok(Refresh::Replaced { rewritten: true });
        }
        if from == 0 {
            return Ok(Refresh::Replaced { rewritten: false });
        }
        let mut report = LoadReport::default();
        let mut next = from;
        if let Some(prefetched) = self
            .prefetched
            .take()
            .filter(|p| held && p.from == from.max(HEADER_LEN as u64))
        {
            for (pos, frames) in &prefetched.rows {
                let expected = next.max(HEADER_LEN as u64);
                next = self.replay_row(expected, *pos, frames, visit, &mut report)?;
            }
            if prefetched.complete {
                self.end = next.max(from);
                return Ok(Refresh::Appended(report));
            }
        }
        let (rest, end) = self.replay_rows(next, visit)?;
        report.frames += rest.frames;
        report.log_bytes += rest.log_bytes;
        self.end = end.max(next);
        Ok(Refresh::Appended(report))
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn end_write(&mut self) {
        self.release();
    }

    fn is_read_only(&self) -> bool {
        self.options.read_only
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> std::result::Result<(), BackendError> {
        let mut done = 0;
        while done < buf.len() {
            let at = pos + done as u64;
            let (start, row) = self.fetch_row(at)?;
            let offset = (at - start) as usize;
            let available = row.len().saturating_sub(offset);
            if available == 0 {
                return Err(BackendError::OutOfRange {
                    pos,
                    len: buf.len() as u64,
                });
            }
            let n = available.min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&row[offset..offset + n]);
            done += n;
        }
        Ok(())
    }

    fn prefetch(&self, positions: &[u64]) {
        let wanted: Vec<i64> = {
            let cache = lock(&self.cache);
            let mut wanted: Vec<i64> = positions
                .iter()
                .filter(|p| cache.find(**p).is_none())
                .map(|p| *p as i64)
                .collect();
            wanted.dedup();
            wanted
        };
        if wanted.len() < 2 {
            return;
        }
        // The row holding each position, in one round trip.
        let sql = format!(
            "SELECT pos, frames FROM {log} WHERE pos IN (SELECT (SELECT pos FROM {log} \
             WHERE pos <= want ORDER BY pos DESC LIMIT 1) FROM unnest($1::bigint[]) AS want)",
            log = self.log_table()
        );
        let rows = self.with_retry("read chunk bytes", |conn| {
            let statement = conn.prepared(&sql)?;
            conn.client()?.query(&statement, &[&wanted])
        });
        // A failed prefetch costs nothing but the reads it would have saved.
        if let Ok(rows) = rows {
            let mut cache = lock(&self.cache);
            for row in rows {
                let start: i64 = row.get(0);
                let frames: Vec<u8> = row.get(1);
                cache.keep(start as u64, Arc::new(frames));
            }
        }
    }

    fn begin_rewrite(&mut self) -> std::result::Result<(), BackendError> {
        self.write_check()?;
        if self.rewrite.is_some() {
            return Err(BackendError::RewriteState("begin_rewrite twice"));
        }
        let store = self.store;
        let old = self.generation;
        let end_sql = format!(
            "SELECT pos + len FROM {} ORDER BY pos DESC LIMIT 1",
            self.log_table()
        );
        let epoch = lock(&self.conn).epoch;
        let holding = self.held.take() == Some(epoch);
        let mut current = true;
        self.in_rewrite("start a compaction", |client| {
            if !holding {
                client.batch_execute(&format!(
                    "BEGIN; SET LOCAL idle_in_transaction_session_timeout = '10s'; \
                     SELECT pg_advisory_xact_lock({APPEND_LOCK}, {})",
                    store as i32
                ))?;
                // Held until the switch: appends wait, and a second compaction too.
                client.query_one(
                    "SELECT generation FROM rewind.stores WHERE id = $1 FOR UPDATE",
                    &[&store],
                )?;
            }
            let generation: i64 = client
                .query_one(
                    "SELECT generation FROM rewind.stores WHERE id = $1",
                    &[&store],
                )?
                .get(0);
            let end: i64 = client.query_opt(&end_sql, &[])?.map_or(0, |row| row.get(0));
            if generation != old || end as u64 != self.end {
                // Others wrote first. The row stays held while this writer catches up, so
                // that its next try finds the log as it read it; writers wait meanwhile (the
                // server ends the transaction if the writer goes quiet for 10 s).
                current = false;
                return Ok(());
            }
            client.batch_execute(&schema::create_generation(store, old + 1))
        })
        .inspect_err(|_| {
            let _ = self.in_rewrite("abandon a compaction", |c| c.batch_execute("ROLLBACK"));
        })?;
        if !current {
            self.held = Some(lock(&self.conn).epoch);
            return Err(BackendError::Behind);
        }
        self.rewrite = Some(Rewrite {
            generation: old + 1,
            end: 0,
        });
        Ok(())
    }

    fn rewrite_append(&mut self, frames: &[u8]) -> std::result::Result<u64, BackendError> {
        let Some(rewrite) = &self.rewrite else {
            return Err(BackendError::RewriteState(
                "rewrite_append before begin_rewrite",
            ));
        };
        if i32::try_from(frames.len()).is_err() {
            return Err(BackendError::Full(format!(
                "a write of {} bytes is larger than a row holds",
                frames.len()
            )));
        }
        let pos = rewrite.end.max(HEADER_LEN as u64);
        let sql = format!(
            "INSERT INTO {} (pos, len, writer, nonce, frames) VALUES ($1, $2, $3, $4, $5)",
            schema::log_table(self.store, rewrite.generation)
        );
        let (writer, nonce) = (self.writer, self.nonce);
        self.in_rewrite("write the compacted log", |client| {
            client.execute(
                &sql,
                &[
                    &(pos as i64),
                    &(frames.len() as i32),
                    &writer,
                    &nonce,
                    &frames,
                ],
            )?;
            Ok(())
        })?;
        if let Some(rewrite) = &mut self.rewrite {
            rewrite.end = pos + frames.len() as u64;
        }
        Ok(pos)
    }

    fn commit_rewrite(&mut self) -> std::result::Result<(), BackendError> {
        let Some(rewrite) = self.rewrite.take() else {
            return Err(BackendError::RewriteState(
                "commit_rewrite before begin_rewrite",
            ));
        };
        let store = self.store;
        let header = rewind_core::frame::header().to_vec();
        let channel = self.channel();
        let notice = format!("g{}", rewrite.generation);
        self.in_rewrite("switch to the compacted log", |client| {
            client.execute(
                "UPDATE rewind.stores SET generation = $2, header = $3 WHERE id = $1",
                &[&store, &rewrite.generation, &header],
            )?;
            client.execute("SELECT pg_notify($1, $2)", &[&channel, &notice])?;
            client.batch_execute("COMMIT")
        })?;
        let old = self.generation;
        self.generation = rewrite.generation;
        self.header = header;
        self.end = rewrite.end;
        lock(&self.cache).clear();
        // The old generation's space goes back now; tables a reader still holds are dropped by
        // a later open.
        let mut conn = lock(&self.conn);
        if let Ok(client) = conn.client() {
            schema::drop_old_generations(client, store, old + 1);
        }
        Ok(())
    }

    fn abort_rewrite(&mut self) {
        if self.rewrite.take().is_some() || self.held.take().is_some() {
            let _ = self.in_rewrite("abandon a compaction", |client| {
                client.batch_execute("ROLLBACK")
            });
        }
    }

    fn keeps_snapshots(&self) -> bool {
        true
    }

    fn read_snapshot(&mut self) -> std::result::Result<Option<Vec<u8>>, BackendError> {
        let sql = format!(
            "SELECT part, bytes FROM {table} WHERE at = (SELECT max(at) FROM {table}) \
             ORDER BY part",
            table = self.index_table()
        );
        let rows = self.with_retry("read the index snapshot", |conn| {
            let statement = conn.prepared(&sql)?;
            conn.client()?.query(&statement, &[])
        })?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let part: i32 = row.get(0);
            if part as usize != i {
                // A damaged snapshot is ignored by the store; a missing part makes it so.
                return Ok(Some(Vec::new()));
            }
            bytes.extend_from_slice(row.get::<_, &[u8]>(1));
        }
        Ok(Some(bytes))
    }

    fn write_snapshot(&mut self, bytes: &[u8]) -> std::result::Result<bool, BackendError> {
        self.write_check()?;
        self.release();
        let at = self.end as i64;
        let table = self.index_table();
        let store = self.store;
        // Another writer's snapshot of a later point is kept instead: not written.
        self.with_retry("write the index snapshot", |conn| {
            let client = conn.client()?;
            let mut txn = client.transaction()?;
            // One snapshot writer per store at a time; a newer snapshot is never replaced
            // by an older one.
            txn.execute(
                "SELECT pg_advisory_xact_lock($1, $2::int4)",
                &[&SNAPSHOT_LOCK, &(store as i32)],
            )?;
            let newest: Option<i64> = txn
                .query_one(&format!("SELECT max(at) FROM {table}"), &[])?
                .get(0);
            if newest.is_some_and(|newest| newest >= at) {
                txn.commit()?;
                return Ok(false);
            }
            let insert = format!("INSERT INTO {table} (at, part, bytes) VALUES ($1, $2, $3)");
            for (part, chunk) in bytes.chunks(SNAPSHOT_PART).enumerate() {
                txn.execute(&insert, &[&at, &(part as i32), &chunk])?;
            }
            txn.execute(&format!("DELETE FROM {table} WHERE at < $1"), &[&at])?;
            txn.commit()?;
            Ok(true)
        })
    }
}

/// A `bytea` in the server's text form (`\\x` and hex digits).
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("\\x")?.as_bytes();
    if hex.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    hex.chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}
