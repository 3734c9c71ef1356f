//! Turning what a user types into ids: full ids, unique prefixes (like git), `@seq`, `latest`.

use crate::Engine;
use rewind::Backend;
use rewind::{CheckpointId, Order, Query, SessionId};

use crate::failure::Failure;

/// Lower-case hex digits of an id, hyphens removed.
fn digits(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// A checkpoint from an id, a unique prefix, `@seq` or `latest`.
pub fn checkpoint<B: Backend>(store: &Engine<B>, text: &str) -> Result<CheckpointId, Failure> {
    if text == "latest" {
        let page = store.list(&Query::new().order(Order::Descending).limit(1))?;
        return page
            .items
            .first()
            .map(|c| c.id)
            .ok_or_else(|| Failure::not_found("the store has no checkpoints"));
    }
    if let Some(seq) = text.strip_prefix('@') {
        let seq: u64 = seq
            .parse()
            .map_err(|_| Failure::usage(format!("{text:?}: @ takes a seq number")))?;
        return store
            .get_by_seq(seq)
            .map(|c| c.id)
            .ok_or_else(|| Failure::not_found(format!("no checkpoint with seq {seq}")));
    }
    let wanted = digits(text);
    if wanted.is_empty() || !wanted.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Failure::usage(format!(
            "{text:?} is not a checkpoint id (hex digits, @seq or latest)"
        )));
    }
    // Eleven: enough to list ten of an ambiguous prefix and say there are more.
    let matches = store.checkpoints_with_prefix(&wanted, 11)?;
    pick(text, matches, "checkpoint")
}

/// A session from an id or unique prefix; `None` means the newest session.
pub fn session<B: Backend>(store: &Engine<B>, text: Option<&str>) -> Result<SessionId, Failure> {
    let Some(text) = text else {
        return store.sessions().last().map(|s| s.id).ok_or_else(|| {
            Failure::not_found("the store has no sessions (rewind session new NAME)")
        });
    };
    let wanted = digits(text);
    let matches: Vec<SessionId> = store
        .sessions()
        .filter(|s| digits(&s.id.to_string()).starts_with(&wanted) || s.name == text)
        .map(|s| s.id)
        .collect();
    pick(text, matches, "session")
}

fn pick<T: std::fmt::Display + Copy>(
    text: &str,
    matches: Vec<T>,
    what: &str,
) -> Result<T, Failure> {
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Failure::not_found(format!("no {what} matches {text:?}"))),
        many => {
            let count = match many.len() {
                n if n > 10 => "more than 10".to_string(),
                n => n.to_string(),
            };
            let mut msg = format!("{text:?} is ambiguous: {count} {what}s match");
            for m in many.iter().take(10) {
                msg.push_str(&format!("\n  {m}"));
            }
            if many.len() > 10 {
                msg.push_str("\n  ...");
            }
            Err(Failure::not_found(msg))
        }
    }
}

/// How many hex digits tell each of `ids` apart from every other checkpoint of the store (at
/// least 8, and the same for all of them so a listing's column lines up), so abbreviated ids
/// can be typed back.
pub fn abbrev_digits<B: Backend>(
    store: &Engine<B>,
    ids: impl IntoIterator<Item = CheckpointId>,
) -> usize {
    ids.into_iter()
        .map(|id| store.unique_prefix_digits(id))
        .max()
        .unwrap_or(0)
        .max(8)
}

/// An id cut to `n` hex digits, hyphens kept.
pub fn abbrev(id: &impl std::fmt::Display, n: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for c in id.to_string().chars() {
        if count == n {
            break;
        }
        if c != '-' {
            count += 1;
        }
        out.push(c);
    }
    out
}
