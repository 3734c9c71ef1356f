//! Identifiers: session and checkpoint ids (UUID v7) and content hashes (blake3).
//!
//! Ids are UUID v7, so they sort by creation time. Core builds them from the host's clock and
//! entropy and keeps them strictly increasing within a store even when the clock stalls or
//! steps back, so "sorted by id" and "sorted by creation" agree.

use alloc::string::String;
use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::env::Env;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }
            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
            /// The 16 bytes of the UUID, big-endian.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
            /// Builds an id from its 16 bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                $name(Uuid::from_bytes(bytes))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, ParseIdError> {
                Uuid::try_parse(s).map($name).map_err(|_| ParseIdError {
                    what: $what,
                    text: s.into(),
                })
            }
        }
    };
}

/// Text that is not an id (an [`Error::InvalidInput`](crate::Error::InvalidInput) once it
/// reaches the engine's error type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseIdError {
    what: &'static str,
    text: String,
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a {} id: {:?}", self.what, self.text)
    }
}

impl core::error::Error for ParseIdError {}

uuid_id!(
    /// Identifies a session (an agent run, a LangGraph thread).
    SessionId,
    "session"
);
uuid_id!(
    /// Identifies a checkpoint. UUID v7 unless a caller supplied its own id.
    CheckpointId,
    "checkpoint"
);

/// A blake3 digest: the key of a chunk and the hash of a checkpoint.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// blake3 of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        alloc::format!("{self}")
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Hash(out))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of 64 characters: hashes are printed on every listing that crosses a host
        // boundary, and a formatter call per byte showed up in profiles.
        let mut out = [0u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 15) as usize];
        }
        f.write_str(core::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// Makes UUID v7 ids that are strictly increasing for one store.
#[derive(Debug, Default)]
pub(crate) struct IdGen {
    last: u128,
}

impl IdGen {
    /// The newest v7 id seen, as a number (what an index snapshot keeps).
    pub(crate) fn last(&self) -> u128 {
        self.last
    }

    /// A generator that counts on from `last` (read from an index snapshot).
    pub(crate) fn from_last(last: u128) -> IdGen {
        IdGen { last }
    }

    /// Remembers an id that exists in the store, so new ids sort after it when they are v7.
    pub(crate) fn observe(&mut self, uuid: &Uuid) {
        if uuid.get_version_num() == 7 {
            self.last = self.last.max(uuid.as_u128());
        }
    }

    pub(crate) fn next(&mut self, env: &mut dyn Env) -> Uuid {
        let mut random = [0u8; 10];
        env.fill_random(&mut random);
        let candidate =
            uuid::Builder::from_unix_timestamp_millis(env.now_ms(), &random).into_uuid();
        let uuid = if candidate.as_u128() > self.last {
            candidate
        } else {
            // Same millisecond (or a clock that stepped back): count up from the last id, keeping
            // the version and variant bits of a v7 UUID; past the last v7 id there is no larger
            // one, and the clock's id is used (callers check it is unused).
            bump_v7(self.last).unwrap_or(candidate)
        };
        self.last = self.last.max(uuid.as_u128());
        uuid
    }
}

/// The next v7 UUID after `last`: increments the 74 non-fixed bits below the timestamp. None
/// past the largest timestamp.
fn bump_v7(last: u128) -> Option<Uuid> {
    // Layout: 48-bit ms | 4-bit version | 12-bit rand_a | 2-bit variant | 62-bit rand_b.
    let ts = last >> 80;
    let rand_a = (last >> 64) & 0xfff;
    let rand_b = last & ((1u128 << 62) - 1);
    let counter = (rand_a << 62) | rand_b;
    let (ts, counter) = if counter + 1 >= (1u128 << 74) {
        if ts + 1 >= (1u128 << 48) {
            return None;
        }
        (ts + 1, 0)
    } else {
        (ts, counter + 1)
    };
    let rand_a = counter >> 62;
    let rand_b = counter & ((1u128 << 62) - 1);
    let value = (ts << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b;
    Some(Uuid::from_u128(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::DeterministicEnv;

    #[test]
    fn ids_increase_even_when_the_clock_stalls() {
        let mut env = DeterministicEnv::with(1_000, 0, 7);
        let mut ids = IdGen::default();
        let mut prev = ids.next(&mut env);
        for _ in 0..1000 {
            let id = ids.next(&mut env);
            assert!(id > prev, "{id} should sort after {prev}");
            assert_eq!(id.get_version_num(), 7);
            prev = id;
        }
    }

    #[test]
    fn hash_hex_round_trips() {
        let h = Hash::of(b"hello");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(h.to_hex(), alloc::format!("{h}"));
        assert_eq!(Hash::from_hex("zz"), None);
    }

    #[test]
    fn ids_parse_and_reject() {
        let id: SessionId = "0190f3a0-0000-7000-8000-000000000001".parse().unwrap();
        assert_eq!(
            alloc::format!("{id}"),
            "0190f3a0-0000-7000-8000-000000000001"
        );
        let err = "nope".parse::<SessionId>().unwrap_err();
        assert_eq!(alloc::format!("{err}"), r#"not a session id: "nope""#);
        assert!(matches!(
            crate::Error::from(err),
            crate::Error::InvalidInput(msg) if msg == r#"not a session id: "nope""#
        ));
    }
}
