//! Stores on PostgreSQL over TLS: with `sslmode=require` the connection is encrypted and the
//! server's certificate verified — by the CA named with `sslrootcert=`, or the system's roots,
//! which do not know the test server's CA, so the connection is refused.

use rewind::{NewCheckpoint, PgStore};
use rewind_tests::PgCluster;

#[test]
fn a_store_over_tls_verifies_the_server_and_encrypts() {
    let cluster = PgCluster::start_tls();
    let ca = cluster.ca_file();
    let url = format!(
        "postgres://rewind@localhost:{}/postgres?store=tls&sslmode=verify-full&sslrootcert={}\
         &application_name=rewind-tls",
        cluster.port(),
        ca.display()
    );
    let store = PgStore::open_url(&url).expect("open over TLS");
    let session = store
        .create_session("over tls", Default::default())
        .expect("session");
    let cp = store
        .checkpoint(NewCheckpoint::new(session, "sealed", b"{\"secret\":1}"))
        .expect("checkpoint");
    assert_eq!(store.state(cp.id).expect("state"), b"{\"secret\":1}");
    // Every connection the store holds is encrypted.
    let encrypted = cluster.psql(
        "SELECT count(*) FILTER (WHERE s.ssl) || '/' || count(*) FROM pg_stat_ssl s \
         JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'rewind-tls'",
    );
    assert_eq!(encrypted, "1/1");

    // Without the CA, the server's certificate is not trusted: the open fails, saying why.
    let unverified = format!(
        "postgres://rewind@localhost:{}/postgres?store=tls&sslmode=require",
        cluster.port()
    );
    match PgStore::open_url(&unverified) {
        Err(err) => {
            let text = err.to_string();
            assert!(
                text.contains("certificate") || text.contains("no CA certificate"),
                "{text}"
            );
        }
        Ok(_) => panic!("a server with an unknown CA was trusted"),
    }
    // A certificate for another name is refused too (the server reached at its address, its
    // name taken to be another).
    let wrong_name = format!(
        "postgres://rewind@db.example:{}/postgres?hostaddr=127.0.0.1&store=tls&sslmode=require\
         &sslrootcert={}",
        cluster.port(),
        ca.display()
    );
    match PgStore::open_url(&wrong_name) {
        Err(err) => assert!(err.to_string().contains("certificate"), "{err}"),
        Ok(_) => panic!("a certificate for another name was trusted"),
    }
}
