//! Where a store lives, as a user writes it (`--store`, `REWIND_STORE`): a directory, or a URL
//! naming a store on a server.
//!
//! A value that starts with a URL scheme (`letters://`) is never a path: `postgres://…` and
//! `postgresql://…` name a store on PostgreSQL (in a build with the `postgres` feature); any
//! other scheme, or a PostgreSQL URL in a build without the feature, is an
//! [`Error::Location`]. To use a directory whose name looks like a URL, write it as
//! `./name://…`.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// A parsed store location. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// A store directory.
    Dir(PathBuf),
    /// A store on a PostgreSQL server.
    #[cfg(feature = "postgres")]
    Postgres(crate::PgLocation),
}

/// The scheme of a URL-looking location (`scheme://…`), if it is one.
pub fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

impl StoreLocation {
    /// Parses a location. See the module docs.
    pub fn parse(text: &str) -> Result<StoreLocation> {
        let Some(scheme) = url_scheme(text) else {
            return Ok(StoreLocation::Dir(PathBuf::from(text)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                Ok(StoreLocation::Postgres(crate::PgLocation::parse(text)?))
            }
            #[cfg(not(feature = "postgres"))]
            "postgres" | "postgresql" => Err(Error::Location {
                location: redact(text),
                reason: "this build of rewind has no PostgreSQL support (the `postgres` \
                         cargo feature)"
                    .into(),
            }),
            _ => Err(Error::Location {
                location: redact(text),
                reason: format!(
                    "unknown scheme {scheme:?} (a store is a directory, or a postgres:// URL; \
                     write ./{text} for a directory of that name)"
                ),
            }),
        }
    }
}

/// The location with a URL's password left out, for messages.
pub fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or("");
            if user_info.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                text.to_string()
            }
        }
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheme_is_never_a_path() {
        assert_eq!(
            StoreLocation::parse("./.rewind").ok(),
            Some(StoreLocation::Dir(PathBuf::from("./.rewind")))
        );
        assert_eq!(
            StoreLocation::parse("./postgres://x").ok(),
            Some(StoreLocation::Dir(PathBuf::from("./postgres://x")))
        );
        match StoreLocation::parse("mysql://host/db") {
            Err(Error::Location { reason, .. }) => assert!(reason.contains("unknown scheme")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            StoreLocation::parse("s3://bucket/key"),
            Err(Error::Location { .. })
        ));
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://me:secret@db.example:5432/x?store=a"),
            "postgres://me:***@db.example:5432/x?store=a"
        );
        assert_eq!(redact("postgres://me@db/x"), "postgres://me@db/x");
        assert_eq!(redact("/tmp/store"), "/tmp/store");
    }
}
