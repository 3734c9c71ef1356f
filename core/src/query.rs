//! Queries: find checkpoints by session, tag, trigger, metadata, seq, time, namespace.
//!
//! A query walks one ordered index — the session's seqs, the rarest required tag's seqs, or the
//! store-wide seq index — from the cursor position, in the requested order, and filters the rest
//! of the conditions on the way. A page therefore costs O(log n + scanned), where scanned is the
//! page itself when the walked index matches the query (by session, by tag, everything) and more
//! when extra filters discard entries. Results are borrowed checkpoints: state bytes are never
//! copied.
//!
//! Cursors are opaque strings that name the last seq returned and the order; seqs are never
//! reused, so a cursor stays valid while the store changes underneath it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use serde_json::Value;

use crate::backend::Backend;
use crate::checkpoint::{Checkpoint, TriggerKind};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::id::{CheckpointId, SessionId};
use crate::store::Store;
use crate::store::seqs::SeqSet;

/// Result order, by seq.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Ascending,
    /// Newest first (the default, like a log).
    #[default]
    Descending,
}

impl Order {
    /// `asc` or `desc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Ascending => "asc",
            Order::Descending => "desc",
        }
    }

    /// Parses `asc`/`ascending` or `desc`/`descending`.
    pub fn parse(s: &str) -> Option<Order> {
        match s {
            "asc" | "ascending" => Some(Order::Ascending),
            "desc" | "descending" => Some(Order::Descending),
            _ => None,
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the next page starts. Opaque; print it with `Display` and read it back with `FromStr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    last_seq: u64,
    order: Order,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = match self.order {
            Order::Ascending => 'a',
            Order::Descending => 'd',
        };
        write!(f, "c1{o}{:x}", self.last_seq)
    }
}

impl FromStr for Cursor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Cursor> {
        let bad = || Error::InvalidInput(alloc::format!("not a rewind cursor: {s:?}"));
        let rest = s.strip_prefix("c1").ok_or_else(bad)?;
        let order = match rest.as_bytes().first() {
            Some(b'a') => Order::Ascending,
            Some(b'd') => Order::Descending,
            _ => return Err(bad()),
        };
        let last_seq = u64::from_str_radix(&rest[1..], 16).map_err(|_| bad())?;
        Ok(Cursor { last_seq, order })
    }
}

/// What to list. Build with [`Query::new`] and the setters; every condition must hold.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Query {
    /// Only this session.
    pub session: Option<SessionId>,
    /// Only this namespace (exact match; `Some("")` is the root namespace).
    pub namespace: Option<String>,
    /// At least one of these tags (ignored when empty).
    pub tags_any: Vec<String>,
    /// All of these tags.
    pub tags_all: Vec<String>,
    /// Only these trigger kinds (ignored when empty).
    pub triggers: Vec<TriggerKind>,
    /// Top-level metadata keys that must equal these values.
    pub metadata: Vec<(String, Value)>,
    /// Lowest seq (inclusive).
    pub seq_min: Option<u64>,
    /// Highest seq (inclusive).
    pub seq_max: Option<u64>,
    /// Created at or after (Unix ms).
    pub time_from: Option<u64>,
    /// Created before (Unix ms, exclusive).
    pub time_to: Option<u64>,
    /// Only checkpoints older (lower seq) than this one.
    pub before: Option<CheckpointId>,
    /// Order of results.
    pub order: Order,
    /// Page size (all when `None`).
    pub limit: Option<usize>,
    /// Continue after this cursor.
    pub cursor: Option<Cursor>,
}

impl Query {
    /// Everything, newest first.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only `session`.
    pub fn session(mut self, session: SessionId) -> Self {
        self.session = Some(session);
        self
    }
    /// Only `namespace`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
    /// Requires `tag` (all given this way must be present).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags_all.push(tag.into());
        self
    }
    /// Requires at least one of `tags`.
    pub fn any_tag<I: IntoIterator<Item = T>, T: Into<String>>(mut self, tags: I) -> Self {
        self.tags_any.extend(tags.into_iter().map(Into::into));
        self
    }
    /// Only `kind` (call again to allow several).
    pub fn trigger(mut self, kind: TriggerKind) -> Self {
        self.triggers.push(kind);
        self
    }
    /// Requires metadata `key` to equal `value`.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }
    /// Seqs in `min..=max`.
    pub fn seq_range(mut self, min: u64, max: u64) -> Self {
        self.seq_min = Some(min);
        self.seq_max = Some(max);
        self
    }
    /// Created in `from..to` (Unix ms).
    pub fn time_range(mut self, from: u64, to: u64) -> Self {
        self.time_from = Some(from);
        self.time_to = Some(to);
        self
    }
    /// Older than `id`.
    pub fn before(mut self, id: CheckpointId) -> Self {
        self.before = Some(id);
        self
    }
    /// Result order.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }
    /// Page size.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
    /// Continues after `cursor`.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// Whether any condition is checked per checkpoint (beyond the index a query walks and its
    /// seq range): when none is, a page takes the index's entries as they come.
    fn filters_items(&self) -> bool {
        self.namespace.is_some()
            || !self.tags_all.is_empty()
            || !self.tags_any.is_empty()
            || !self.triggers.is_empty()
            || self.time_from.is_some()
            || self.time_to.is_some()
            || !self.metadata.is_empty()
    }

    fn matches(&self, cp: &Checkpoint) -> bool {
        if let Some(ns) = &self.namespace
            && cp.namespace != *ns
        {
            return false;
        }
        if !self.tags_all.iter().all(|t| cp.has_tag(t)) {
            return false;
        }
        if !self.tags_any.is_empty() && !self.tags_any.iter().any(|t| cp.has_tag(t)) {
            return false;
        }
        if !self.triggers.is_empty() && !self.triggers.contains(&cp.trigger.kind()) {
            return false;
        }
        if let Some(from) = self.time_from
            && cp.created_at < from
        {
            return false;
        }
        if let Some(to) = self.time_to
            && cp.created_at >= to
        {
            return false;
        }
        self.metadata
            .iter()
            .all(|(k, v)| cp.metadata.get(k) == Some(v))
    }
}

/// One page of results.
#[derive(Clone, Debug)]
pub struct Page<'a> {
    /// The checkpoints, in the query's order.
    pub items: Vec<&'a Checkpoint>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

impl<B: Backend, E: Env> Store<B, E> {
    /// Runs a query and returns one page.
    pub fn list(&self, query: &Query) -> Result<Page<'_>> {
        if let Some(cursor) = query.cursor
            && cursor.order != query.order
        {
            return Err(Error::InvalidInput(
                "cursor was made for the other order".into(),
            ));
        }
        let mut lo = query.seq_min.unwrap_or(0);
        let mut hi = query.seq_max.unwrap_or(u64::MAX);
        if let Some(before) = query.before {
            let seq = self.get(before)?.seq;
            hi = hi.min(seq.saturating_sub(1));
            if seq == 0 {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
        }
        if let Some(cursor) = query.cursor {
            match query.order {
                Order::Ascending => lo = lo.max(cursor.last_seq.saturating_add(1)),
                Order::Descending => {
                    if cursor.last_seq == 0 {
                        return Ok(Page {
                            items: Vec::new(),
                            next: None,
                        });
                    }
                    hi = hi.min(cursor.last_seq - 1)
                }
            }
        }
        let limit = query.limit.unwrap_or(usize::MAX);
        let empty = Page {
            items: Vec::new(),
            next: None,
        };
        if lo > hi || limit == 0 {
            return Ok(empty);
        }
        // Pick the narrowest index that every result must be in.
        let source: Source<'_> = if let Some(session) = query.session {
            match self.index.sessions.get(&session) {
                Some(s) => Source::Seqs(&s.seqs),
                None => return Err(Error::SessionNotFound(session)),
            }
        } else if !query.tags_all.is_empty() {
            let rarest = query
                .tags_all
                .iter()
                .map(|t| self.index.tags.get(t.as_str()))
                .min_by_key(|s| s.map_or(0, |s| s.len()));
            match rarest.flatten() {
                Some(set) => Source::Seqs(set),
                None => return Ok(empty),
            }
        } else if query.tags_any.len() == 1 {
            match self.index.tags.get(query.tags_any[0].as_str()) {
                Some(set) => Source::Seqs(set),
                None => return Ok(empty),
            }
        } else {
            Source::All(self.index.checkpoints.len())
        };
        // Room for a full page, up to what the index holds (filters may take fewer).
        let capacity = limit.min(source.len()).min(MAX_PRESIZE);
        let all = || self.index.checkpoints.range(lo..=hi).map(|e| &e.cp);
        let page = match (source, query.order) {
            (Source::All(_), Order::Ascending) => page(all(), query, limit, capacity),
            (Source::All(_), Order::Descending) => page(all().rev(), query, limit, capacity),
            // A set without a snapshot layer is walked directly (no merge to step through).
            (Source::Seqs(set), Order::Ascending) if let Some(keys) = set.added_range(lo..=hi) => {
                page(
                    keys.filter_map(|seq| self.get_by_seq(seq)),
                    query,
                    limit,
                    capacity,
                )
            }
            (Source::Seqs(set), Order::Descending) if let Some(keys) = set.added_range(lo..=hi) => {
                page(
                    keys.rev().filter_map(|seq| self.get_by_seq(seq)),
                    query,
                    limit,
                    capacity,
                )
            }
            (Source::Seqs(set), Order::Ascending) => page(
                set.range(lo..=hi).filter_map(|seq| self.get_by_seq(seq)),
                query,
                limit,
                capacity,
            ),
            (Source::Seqs(set), Order::Descending) => page(
                set.range(lo..=hi)
                    .rev()
                    .filter_map(|seq| self.get_by_seq(seq)),
                query,
                limit,
                capacity,
            ),
        };
        self.index.intact()?;
        Ok(page)
    }

    /// All tags in use with their checkpoint counts, sorted by tag.
    pub fn tags(&self) -> Vec<(&str, usize)> {
        let mut out: Vec<(&str, usize)> = self
            .index
            .tags
            .iter()
            .map(|(t, s)| (t.as_str(), s.len()))
            .collect();
        out.sort_unstable();
        out
    }
}

/// The index a query walks: every checkpoint (of which there are this many), or the seqs of a
/// session's or a tag's.
enum Source<'a> {
    All(usize),
    Seqs(&'a SeqSet),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::All(len) => *len,
            Source::Seqs(set) => set.len(),
        }
    }
}

/// A page needs no more room than this up front; larger pages grow as they fill.
const MAX_PRESIZE: usize = 1024;

/// The first `limit` checkpoints of `candidates` that match `query`, and a cursor when more
/// match.
fn page<'a>(
    candidates: impl Iterator<Item = &'a Checkpoint>,
    query: &Query,
    limit: usize,
    capacity: usize,
) -> Page<'a> {
    let mut items = Vec::with_capacity(capacity);
    let mut next = None;
    // A query with a session walks that session's index, so the session needs no check here.
    let filtered = query.filters_items();
    for cp in candidates {
        if filtered && !query.matches(cp) {
            continue;
        }
        if items.len() == limit {
            // One more match exists: there is a next page.
            let last: &Checkpoint = items[items.len() - 1];
            next = Some(Cursor {
                last_seq: last.seq,
                order: query.order,
            });
            break;
        }
        items.push(cp);
    }
    Page { items, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    use alloc::string::ToString;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            last_seq: 0x1234,
            order: Order::Ascending,
        };
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        for bad in ["", "c1", "c1x12", "zz", "c1a", "c1dzz"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }
}
