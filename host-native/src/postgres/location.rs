//! A store on PostgreSQL named by URL: the server's connection URL plus rewind's own
//! parameter, `store` (the store's name in that database; `default` when left out).
//!
//! ```text
//! postgres://agent@db.internal:5432/agents?store=support-bot
//! postgres:///agents?host=/run/postgresql&store=support-bot      (a Unix socket)
//! ```
//!
//! Every other parameter is the server connection's (`host`, `port`, `user`, `password`,
//! `connect_timeout`, `application_name`, ...), as libpq reads them, except TLS, which rewind
//! makes strict: with `sslmode=require` (or `verify-ca`, `verify-full`) the connection is
//! encrypted and the server's certificate verified — against the system's roots, or the CA
//! certificates in the PEM file `sslrootcert=` names — and its name checked against the
//! host's; without it (or with `disable` or `prefer`) the connection is not encrypted (a TLS
//! connection that verifies nothing, libpq's `prefer`, stops no one in the middle).
//!
//! ```text
//! postgres://agent@db.internal/agents?store=bot&sslmode=require&sslrootcert=/etc/ssl/db-ca.pem
//! ```

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::store_location::redact;

/// The store's name when the URL gives none.
pub const DEFAULT_STORE: &str = "default";

/// The longest store name, in bytes.
pub const MAX_STORE_NAME: usize = 200;

/// A parsed `postgres://` location. See the module docs.
#[derive(Clone, PartialEq, Eq)]
pub struct PgLocation {
    /// The URL for the server, rewind's parameters taken out.
    server: String,
    /// The store's name in the database.
    store: String,
    /// Whether connections use TLS (verified), and the CA file when not the system's roots.
    tls: Option<Option<String>>,
}

impl std::fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLocation")
            .field("server", &redact(&self.server))
            .field("store", &self.store)
            .finish()
    }
}

impl std::fmt::Display for PgLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.server.contains('?') { '&' } else { '?' };
        write!(f, "{}{sep}store={}", redact(&self.server), self.store)
    }
}

impl PgLocation {
    /// Parses a `postgres://` or `postgresql://` URL.
    pub fn parse(url: &str) -> Result<PgLocation> {
        let bad = |reason: String| Error::Location {
            location: redact(url),
            reason,
        };
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (url, None),
        };
        let mut store = None;
        let mut tls = None;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = || {
                percent_decode(value)
                    .ok_or_else(|| bad(format!("{key}= is not valid percent-encoded UTF-8")))
            };
            match key {
                "store" => store = Some(decoded()?),
                "sslrootcert" => root_cert = Some(decoded()?),
                "sslmode" => match value {
                    "disable" | "prefer" => tls = Some(false),
                    "require" | "verify-ca" | "verify-full" => tls = Some(true),
                    other => {
                        return Err(bad(format!(
                            "sslmode={other} (rewind knows disable, prefer, require, \
                             verify-ca and verify-full)"
                        )));
                    }
                },
                _ => kept.push(pair),
            }
        }
        let store = store.unwrap_or_else(|| DEFAULT_STORE.to_string());
        let verified = tls.unwrap_or(false);
        if root_cert.is_some() && !verified {
            return Err(bad(
                "sslrootcert= without sslmode=require (or verify-ca, verify-full)".into(),
            ));
        }
        if verified {
            kept.push("sslmode=require");
        } else {
            kept.push("sslmode=disable");
        }
        if store.is_empty() || store.len() > MAX_STORE_NAME {
            return Err(bad(format!("a store name has 1 to {MAX_STORE_NAME} bytes")));
        }
        let server = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        postgres::Config::from_str(&server).map_err(|e| bad(e.to_string()))?;
        Ok(PgLocation {
            server,
            store,
            tls: verified.then_some(root_cert),
        })
    }

    /// A location for `store` in the database `server` names.
    pub fn with_store(&self, store: impl Into<String>) -> PgLocation {
        PgLocation {
            server: self.server.clone(),
            store: store.into(),
            tls: self.tls.clone(),
        }
    }

    /// The store's name.
    pub fn store(&self) -> &str {
        &self.store
    }

    /// The server's connection settings.
    pub(crate) fn config(&self) -> postgres::Config {
        // Checked by `parse`.
        postgres::Config::from_str(&self.server).unwrap_or_default()
    }

    /// Whether connections are encrypted (and the server's certificate verified).
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The TLS connector connections use (`None`: not encrypted): rustls over the system's
    /// root certificates, or the CA certificates of `sslrootcert=`.
    pub(crate) fn connector(&self) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let Some(root_cert) = &self.tls else {
            return Ok(None);
        };
        let failed = |reason: String| Error::Location {
            location: self.to_string(),
            reason,
        };
        let mut roots = rustls::RootCertStore::empty();
        match root_cert {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| failed(format!("sslrootcert={path}: {e}")))?;
                for cert in certs {
                    let cert = cert.map_err(|e| failed(format!("sslrootcert={path}: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| failed(format!("sslrootcert={path}: {e}")))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
            }
        }
        if roots.is_empty() {
            return Err(failed(
                "sslmode=require, but no CA certificate to verify the server with (install \
                 the system's, or name a PEM file with sslrootcert=)"
                    .into(),
            ));
        }
        // ring keeps the build to a C compiler (aws-lc also wants cmake); its key exchange is
        // the classical one.
        #[allow(deprecated)]
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| failed(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
    }
}

/// `%XX` sequences decoded (and `+` kept as is, as in a URL's path).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_parameter_is_rewinds_and_the_rest_the_servers() {
        let at = PgLocation::parse("postgres://me@db:5433/agents?store=bot%201&connect_timeout=5")
            .expect("parse");
        assert_eq!(at.store(), "bot 1");
        assert_eq!(
            at.server,
            "postgres://me@db:5433/agents?connect_timeout=5&sslmode=disable"
        );
        assert!(!at.uses_tls());
        let tls = PgLocation::parse("postgres://db/x?sslmode=verify-full&sslrootcert=%2Fca.pem")
            .expect("tls");
        assert!(tls.uses_tls());
        assert_eq!(tls.server, "postgres://db/x?sslmode=require");
        let config = at.config();
        assert_eq!(config.get_dbname(), Some("agents"));
        assert_eq!(config.get_ports(), &[5433]);
        assert_eq!(
            PgLocation::parse("postgresql:///x?host=/tmp/s")
                .expect("socket")
                .store(),
            DEFAULT_STORE
        );
    }

    #[test]
    fn bad_urls_are_location_errors() {
        for url in [
            "postgres://db/x?store=",
            "postgres://db/x?store=%zz",
            "postgres://db/x?nonsense=1",
            "postgres://db/x?sslmode=allow",
            "postgres://db/x?sslrootcert=/ca.pem",
        ] {
            assert!(
                matches!(PgLocation::parse(url), Err(Error::Location { .. })),
                "{url}"
            );
        }
    }
}
