//! The conformance harness for stores on PostgreSQL: every fresh store is a new store (a new
//! name) on the test process's throwaway server, and reopening drops the backend (closing its
//! connection) and opens the store again, as a restarted program would.

use rewind::{PgBackend, PgLocation, PgOptions};
use rewind_core::conformance::Harness;

use crate::pg_cluster::PgCluster;

/// Runs conformance scenarios on [`PgBackend`].
#[derive(Debug, Default)]
pub struct PgHarness;

/// Opens (creating) the store `name` on the shared test server.
pub fn open_pg(name: &str) -> PgBackend {
    let location = PgLocation::parse(&PgCluster::shared().url(name)).expect("a test URL");
    PgBackend::open(&location, PgOptions::default())
        .unwrap_or_else(|e| panic!("open the store {name} on the test server: {e}"))
}

impl Harness for PgHarness {
    type Backend = PgBackend;

    fn fresh(&mut self) -> PgBackend {
        open_pg(&PgCluster::unique_store("conformance"))
    }

    fn reopen(&mut self, backend: PgBackend) -> PgBackend {
        let location = backend.location().clone();
        drop(backend);
        PgBackend::open(&location, PgOptions::default())
            .unwrap_or_else(|e| panic!("reopen {location}: {e}"))
    }
}
