//! Structural diffs between two JSON states, expressed as RFC 6902 JSON Patch.
//!
//! A checkpoint store keeps successive JSON states of an agent (its conversation,
//! scratchpad, tool results, ...). Most consecutive states differ by a little: a
//! conversation gains a message, a field changes. [`diff`] turns two states into
//! the RFC 6902 operations that lead from one to the other, so a checkpoint can
//! be stored or shipped as a small delta, and [`apply`] replays such a patch (our
//! own or anyone's RFC 6902 patch) onto a document. Pointers follow RFC 6901;
//! [`escape_token`] and [`unescape_token`] convert single reference tokens.
//!
//! Both directions recurse once per nesting level of the documents. That is fine
//! for anything parsed by `serde_json`, which refuses input nested deeper than 128
//! levels; a `Value` built programmatically with absurd nesting could exhaust the
//! stack here, but `serde_json` itself (drop, clone, equality) already recurses on
//! such values, so this module adds no new limit.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};
use core::mem;

use serde_json::{Map, Number, Value};

/// One RFC 6902 operation.
///
/// Serializes to the RFC's JSON shape, e.g. `{"op":"add","path":"/a/0","value":1}`,
/// `{"op":"remove","path":"/a"}` or `{"op":"move","from":"/a","path":"/b"}`.
/// Paths are RFC 6901 JSON pointers; `""` is the whole document.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PatchOp {
    /// Inserts `value` at `path`: a new object member (or overwrites an existing
    /// one), an array element shifted in at an index (`-` appends), or the root.
    Add {
        /// Where to insert.
        path: String,
        /// The value to insert.
        value: Value,
    },
    /// Removes the existing value at `path`; later array elements shift down.
    Remove {
        /// What to remove.
        path: String,
    },
    /// Replaces the existing value at `path` with `value`.
    Replace {
        /// What to replace; it must exist.
        path: String,
        /// The new value.
        value: Value,
    },
    /// Removes the value at `from` and adds it at `path`.
    Move {
        /// Where the value is taken from; must not be a proper prefix of `path`.
        from: String,
        /// Where it is added, resolved after the removal.
        path: String,
    },
    /// Adds a copy of the value at `from` at `path`.
    Copy {
        /// Where the copied value lives.
        from: String,
        /// Where the copy is added.
        path: String,
    },
    /// Fails the whole patch unless the value at `path` equals `value`
    /// (RFC 6902 equality: numbers compare by numeric value, `1 == 1.0`).
    Test {
        /// What to check.
        path: String,
        /// The expected value.
        value: Value,
    },
}

impl PatchOp {
    /// The operation's target pointer (the `path` member every op has).
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            PatchOp::Add { path, .. }
            | PatchOp::Remove { path }
            | PatchOp::Replace { path, .. }
            | PatchOp::Move { path, .. }
            | PatchOp::Copy { path, .. }
            | PatchOp::Test { path, .. } => path,
        }
    }
}

/// Why a patch could not be applied.
///
/// Pointers are reported exactly as written in the failing operation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatchError {
    /// A pointer is neither empty nor starts with `/`, or it has a `~` that is
    /// not followed by `0` or `1`.
    InvalidPointer {
        /// The offending pointer (or token, from [`unescape_token`]).
        pointer: String,
    },
    /// The location, or a container on the way to it, does not exist (missing
    /// object member, or a step through a string, number, bool or null).
    PathNotFound {
        /// The pointer that could not be resolved.
        pointer: String,
    },
    /// An array was addressed with a token that is not an array index: not all
    /// digits, or with a leading zero (`01`), sign or whitespace.
    InvalidIndex {
        /// The pointer containing the token.
        pointer: String,
        /// The offending token.
        token: String,
    },
    /// An array index lies past the end: `>= len` for an existing element
    /// (including `-`, which names the slot after the last one), `> len` for
    /// an insertion point.
    IndexOutOfRange {
        /// The pointer containing the index.
        pointer: String,
        /// Length of the array it was applied to.
        len: usize,
    },
    /// A `test` operation found a different value.
    TestFailed {
        /// The tested pointer.
        path: String,
    },
    /// A `move` whose `from` is a proper prefix of its `path`: a value cannot be
    /// moved into one of its own children.
    MoveIntoChild {
        /// The source pointer.
        from: String,
        /// The destination pointer, inside the source.
        path: String,
    },
    /// A `remove` targeted the root; a document cannot be left empty.
    CannotRemoveRoot,
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchError::InvalidPointer { pointer } => {
                write!(f, "invalid JSON pointer {pointer:?}")
            }
            PatchError::PathNotFound { pointer } => {
                write!(f, "JSON pointer {pointer:?} does not resolve to a value")
            }
            PatchError::InvalidIndex { pointer, token } => {
                write!(f, "{token:?} in {pointer:?} is not a valid array index")
            }
            PatchError::IndexOutOfRange { pointer, len } => write!(
                f,
                "array index in {pointer:?} is out of range for an array of length {len}"
            ),
            PatchError::TestFailed { path } => {
                write!(
                    f,
                    "test failed: value at {path:?} differs from the expected one"
                )
            }
            PatchError::MoveIntoChild { from, path } => {
                write!(f, "cannot move {from:?} into its own child {path:?}")
            }
            PatchError::CannotRemoveRoot => f.write_str("cannot remove the document root"),
        }
    }
}

impl core::error::Error for PatchError {}

/// Escapes one RFC 6901 reference token: `~` becomes `~0`, `/` becomes `~1`.
///
/// Borrows when there is nothing to escape, which is the common case for keys.
#[must_use]
pub fn escape_token(token: &str) -> Cow<'_, str> {
    if !token.contains(['~', '/']) {
        return Cow::Borrowed(token);
    }
    let mut out = String::with_capacity(token.len() + 2);
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Inverse of [`escape_token`]: `~1` becomes `/`, `~0` becomes `~`.
///
/// Decoding is a single left-to-right pass, so `~01` is `~1` (not `/`), as RFC
/// 6901 requires.
///
/// # Errors
///
/// [`PatchError::InvalidPointer`] if a `~` is followed by anything but `0` or
/// `1` (or ends the token).
pub fn unescape_token(token: &str) -> Result<Cow<'_, str>, PatchError> {
    if !token.contains('~') {
        return Ok(Cow::Borrowed(token));
    }
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => {
                return Err(PatchError::InvalidPointer {
                    pointer: token.into(),
                });
            }
        }
    }
    Ok(Cow::Owned(out))
}

// ---------------------------------------------------------------------------
// diff
// ---------------------------------------------------------------------------

/// Operations that turn `from` into `to`: [`apply`]ing them to `from` yields a
/// value `==` to `to` (`serde_json` equality, so `1` and `1.0` count as different
/// and produce a `replace`).
///
/// The output is deterministic and uses only `add`, `remove` and `replace`:
///
/// * Objects are compared key by key (in the map's sorted order): members only
///   in `from` are removed, members only in `to` are added, members in both are
///   diffed recursively.
/// * Arrays: the longest common prefix and then the longest common suffix (of
///   what remains) are left alone. Of the differing middle, elements at the same
///   index in both are diffed recursively; surplus new elements are `add`ed and
///   surplus old ones `remove`d, highest index first so that the remaining
///   indexes stay valid. Hence appending messages to a conversation gives one
///   `add` per message, and inserting or deleting a single element anywhere
///   gives exactly one `add` or `remove`. It is not a minimal edit script (no
///   LCS): moves or several scattered edits may cost more operations.
/// * Appended elements use explicit indexes (`/messages/7`), never `-`: every
///   operation then states where its element ends up, and applying the patch to
///   a document of an unexpected length fails with
///   [`PatchError::IndexOutOfRange`] instead of appending in the wrong place.
/// * Anything else that differs (scalars, or a change of type) is a `replace`;
///   a differing root gives a single `replace` at path `""`.
///
/// Recursion depth equals the nesting depth of the inputs (see module docs).
#[must_use]
pub fn diff(from: &Value, to: &Value) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    let mut path = String::new();
    diff_value(from, to, &mut path, &mut ops);
    ops
}

/// Diffs `from` against `to`, both located at `path`, appending to `ops`.
/// `path` is one buffer shared by the whole walk, so building child pointers
/// costs no allocation until an operation actually needs one.
fn diff_value(from: &Value, to: &Value, path: &mut String, ops: &mut Vec<PatchOp>) {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => diff_object(a, b, path, ops),
        (Value::Array(a), Value::Array(b)) => diff_array(a, b, path, ops),
        _ if from == to => {}
        _ => ops.push(PatchOp::Replace {
            path: path.clone(),
            value: to.clone(),
        }),
    }
}

fn diff_object(
    from: &Map<String, Value>,
    to: &Map<String, Value>,
    path: &mut String,
    ops: &mut Vec<PatchOp>,
) {
    let base = path.len();
    for (key, old) in from {
        push_key(path, key);
        match to.get(key) {
            Some(new) => diff_value(old, new, path, ops),
            None => ops.push(PatchOp::Remove { path: path.clone() }),
        }
        path.truncate(base);
    }
    for (key, new) in to {
        if !from.contains_key(key) {
            push_key(path, key);
            ops.push(PatchOp::Add {
                path: path.clone(),
                value: new.clone(),
            });
            path.truncate(base);
        }
    }
}

fn diff_array(from: &[Value], to: &[Value], path: &mut String, ops: &mut Vec<PatchOp>) {
    let prefix = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    // The suffix is only searched in what the prefix left over, so the two never
    // overlap (e.g. `[1, 1]` -> `[1, 1, 1]` is one add at index 2).
    let (from_rest, to_rest) = (&from[prefix..], &to[prefix..]);
    let suffix = from_rest
        .iter()
        .rev()
        .zip(to_rest.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let from_mid = &from_rest[..from_rest.len() - suffix];
    let to_mid = &to_rest[..to_rest.len() - suffix];
    let paired = from_mid.len().min(to_mid.len());

    let base = path.len();
    // Same index on both sides: recurse. These never change this array's
    // length, so the indexes used by the adds/removes below are unaffected.
    for (offset, (old, new)) in from_mid.iter().zip(to_mid).enumerate() {
        push_index(path, prefix + offset);
        diff_value(old, new, path, ops);
        path.truncate(base);
    }
    // Surplus new elements, ascending: each index is the element's final
    // position and is at most the array's current length when applied.
    for (offset, new) in to_mid.iter().enumerate().skip(paired) {
        push_index(path, prefix + offset);
        ops.push(PatchOp::Add {
            path: path.clone(),
            value: new.clone(),
        });
        path.truncate(base);
    }
    // Surplus old elements, highest index first so earlier removals do not
    // shift the elements later removals refer to.
    for offset in (paired..from_mid.len()).rev() {
        push_index(path, prefix + offset);
        ops.push(PatchOp::Remove { path: path.clone() });
        path.truncate(base);
    }
}

fn push_key(path: &mut String, key: &str) {
    path.push('/');
    path.push_str(&escape_token(key));
}

fn push_index(path: &mut String, index: usize) {
    // Writing into a String cannot fail.
    let _ = write!(path, "/{index}");
}

// ---------------------------------------------------------------------------
// apply
// ---------------------------------------------------------------------------

/// Applies `patch` to `doc`, operation by operation, with RFC 6902 semantics.
///
/// Atomic: if any operation fails, the operations already applied are undone
/// and `doc` is left exactly as it was. This uses an undo log rather than a
/// copy of the document, so a one-message append to a long conversation does
/// not clone the conversation. Never panics, whatever the patch contains.
///
/// # Errors
///
/// The first failing operation's [`PatchError`]: a malformed pointer or array
/// index, a location that does not exist, a failed `test`, a `move` into its
/// own child, or a `remove` of the root.
pub fn apply(doc: &mut Value, patch: &[PatchOp]) -> Result<(), PatchError> {
    let mut log = Vec::with_capacity(patch.len());
    for op in patch {
        match apply_op(doc, op) {
            Ok(Some(step)) => log.push(step),
            Ok(None) => {}
            Err(error) => {
                // Undo in reverse: each step's locations are valid in the state
                // right after its own operation, which is what we restore to.
                for step in log.into_iter().rev() {
                    undo(doc, step);
                }
                return Err(error);
            }
        }
    }
    Ok(())
}

/// Parsed, unescaped reference tokens of a pointer, borrowed from the patch
/// whenever no unescaping was needed.
type Tokens<'a> = Vec<Cow<'a, str>>;

/// The last step of a location, resolved against its (existing) parent.
enum Slot<'a> {
    /// The whole document.
    Root,
    /// A member of an object.
    Key(Cow<'a, str>),
    /// An array position, already range-checked for the operation at hand.
    Index(usize),
}

/// A resolved location: the path to its parent container plus the last step.
struct Loc<'a> {
    parent: Tokens<'a>,
    slot: Slot<'a>,
}

/// How to restore the document after one successful operation.
enum Undo<'a> {
    /// Undoes an insertion: take the inserted value out again.
    Take(Loc<'a>),
    /// Undoes an overwrite: swap the previous value back in.
    Restore(Loc<'a>, Value),
    /// Undoes a removal: put the removed value back.
    Reinsert(Loc<'a>, Value),
    /// Undoes a move: undo its insertion, then reinsert what that gave back at
    /// the source. The moved value is not stored twice.
    MoveBack {
        insertion: Box<Undo<'a>>,
        source: Loc<'a>,
    },
}

/// Whether an array token must name an existing element or may name the
/// insertion point just past the end (`len`, or `-`).
#[derive(Clone, Copy)]
enum Access {
    Existing,
    Insert,
}

fn apply_op<'a>(doc: &mut Value, op: &'a PatchOp) -> Result<Option<Undo<'a>>, PatchError> {
    match op {
        PatchOp::Add { path, value } => {
            let (target, loc) = locate(doc, parse_pointer(path)?, Access::Insert, path)?;
            Ok(Some(add_at(target, loc, value.clone())))
        }
        PatchOp::Remove { path } => {
            let (target, loc) = locate(doc, parse_pointer(path)?, Access::Existing, path)?;
            let value = remove_at(target, &loc.slot, path)?;
            Ok(Some(Undo::Reinsert(loc, value)))
        }
        PatchOp::Replace { path, value } => {
            let (target, loc) = locate(doc, parse_pointer(path)?, Access::Existing, path)?;
            let slot = slot_mut(target, &loc.slot).ok_or_else(|| not_found(path))?;
            let old = mem::replace(slot, value.clone());
            Ok(Some(Undo::Restore(loc, old)))
        }
        PatchOp::Move { from, path } => {
            let source_tokens = parse_pointer(from)?;
            let target_tokens = parse_pointer(path)?;
            if source_tokens.len() < target_tokens.len()
                && target_tokens.starts_with(&source_tokens)
            {
                return Err(PatchError::MoveIntoChild {
                    from: from.clone(),
                    path: path.clone(),
                });
            }
            if source_tokens == target_tokens {
                // Removing and re-adding at the same place changes nothing,
                // but the source must still exist (and the root can be moved
                // onto itself even though it cannot be removed).
                navigate(doc, &source_tokens, from)?;
                return Ok(None);
            }
            let (source, source_loc) = locate(doc, source_tokens, Access::Existing, from)?;
            let value = remove_at(source, &source_loc.slot, from)?;
            // The destination is resolved in the document without the value.
            match locate(doc, target_tokens, Access::Insert, path) {
                Ok((target, loc)) => Ok(Some(Undo::MoveBack {
                    insertion: Box::new(add_at(target, loc, value)),
                    source: source_loc,
                })),
                Err(error) => {
                    // Not in the undo log yet, so restore the source here.
                    undo(doc, Undo::Reinsert(source_loc, value));
                    Err(error)
                }
            }
        }
        PatchOp::Copy { from, path } => {
            let value = navigate(doc, &parse_pointer(from)?, from)?.clone();
            let (target, loc) = locate(doc, parse_pointer(path)?, Access::Insert, path)?;
            Ok(Some(add_at(target, loc, value)))
        }
        PatchOp::Test { path, value } => {
            let actual = navigate(doc, &parse_pointer(path)?, path)?;
            if json_eq(actual, value) {
                Ok(None)
            } else {
                Err(PatchError::TestFailed { path: path.clone() })
            }
        }
    }
}

/// Splits an RFC 6901 pointer into unescaped tokens (`""` is the root).
fn parse_pointer(pointer: &str) -> Result<Tokens<'_>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PatchError::InvalidPointer {
            pointer: pointer.into(),
        });
    };
    rest.split('/')
        .map(|token| {
            unescape_token(token).map_err(|_| PatchError::InvalidPointer {
                pointer: pointer.into(),
            })
        })
        .collect()
}

/// Reads an array token. Only canonical decimal indexes are accepted (RFC 6901
/// forbids leading zeros, so each element has exactly one spelling); `-` means
/// `len`, which is valid only as an insertion point.
fn array_index(
    token: &str,
    len: usize,
    access: Access,
    pointer: &str,
) -> Result<usize, PatchError> {
    let index = if token == "-" {
        len
    } else {
        let bytes = token.as_bytes();
        let canonical = !bytes.is_empty()
            && bytes.iter().all(u8::is_ascii_digit)
            && (bytes.len() == 1 || bytes.first() != Some(&b'0'));
        if !canonical {
            return Err(PatchError::InvalidIndex {
                pointer: pointer.into(),
                token: token.into(),
            });
        }
        // All digits, so parsing only fails on overflow: past the end of any
        // array that can exist.
        token.parse::<usize>().unwrap_or(usize::MAX)
    };
    let in_range = match access {
        Access::Existing => index < len,
        Access::Insert => index <= len,
    };
    if in_range {
        Ok(index)
    } else {
        Err(PatchError::IndexOutOfRange {
            pointer: pointer.into(),
            len,
        })
    }
}

/// The existing value at `tokens`. `pointer` is only used for error reports.
fn navigate<'v>(
    doc: &'v mut Value,
    tokens: &[Cow<'_, str>],
    pointer: &str,
) -> Result<&'v mut Value, PatchError> {
    let mut current = doc;
    for token in tokens {
        current = match current {
            Value::Object(map) => map
                .get_mut(token.as_ref())
                .ok_or_else(|| not_found(pointer))?,
            Value::Array(items) => {
                let index = array_index(token, items.len(), Access::Existing, pointer)?;
                items.get_mut(index).ok_or_else(|| not_found(pointer))?
            }
            _ => return Err(not_found(pointer)),
        };
    }
    Ok(current)
}

/// Resolves a location whose parent must exist: returns the parent container
/// (or the document itself for the root) and the resolved last step.
fn locate<'a, 'v>(
    doc: &'v mut Value,
    mut tokens: Tokens<'a>,
    access: Access,
    pointer: &str,
) -> Result<(&'v mut Value, Loc<'a>), PatchError> {
    let Some(last) = tokens.pop() else {
        let loc = Loc {
            parent: tokens,
            slot: Slot::Root,
        };
        return Ok((doc, loc));
    };
    let parent = navigate(doc, &tokens, pointer)?;
    let slot = match &*parent {
        Value::Object(_) => Slot::Key(last),
        Value::Array(items) => Slot::Index(array_index(&last, items.len(), access, pointer)?),
        _ => return Err(not_found(pointer)),
    };
    Ok((
        parent,
        Loc {
            parent: tokens,
            slot,
        },
    ))
}

/// `add` semantics at a resolved location; returns how to undo it.
fn add_at<'a>(target: &mut Value, loc: Loc<'a>, value: Value) -> Undo<'a> {
    match insert(target, &loc.slot, value) {
        Some(previous) => Undo::Restore(loc, previous),
        None => Undo::Take(loc),
    }
}

/// `remove` semantics at a resolved location.
fn remove_at(target: &mut Value, slot: &Slot<'_>, pointer: &str) -> Result<Value, PatchError> {
    match slot {
        Slot::Root => Err(PatchError::CannotRemoveRoot),
        _ => take(target, slot).ok_or_else(|| not_found(pointer)),
    }
}

/// Inserts into the container `target` (or replaces `target` for the root).
/// Returns the value that was overwritten, if any. `locate` has checked the
/// container type and index range; should they not hold, nothing happens.
fn insert(target: &mut Value, slot: &Slot<'_>, value: Value) -> Option<Value> {
    match (target, slot) {
        (target, Slot::Root) => Some(mem::replace(target, value)),
        (Value::Object(map), Slot::Key(key)) => map.insert(key.as_ref().into(), value),
        (Value::Array(items), Slot::Index(index)) if *index <= items.len() => {
            items.insert(*index, value);
            None
        }
        _ => None,
    }
}

/// Takes the value out of the container `target`, if it is there.
fn take(target: &mut Value, slot: &Slot<'_>) -> Option<Value> {
    match (target, slot) {
        (Value::Object(map), Slot::Key(key)) => map.remove(key.as_ref()),
        (Value::Array(items), Slot::Index(index)) if *index < items.len() => {
            Some(items.remove(*index))
        }
        _ => None,
    }
}

/// The existing value at the slot of `target`.
fn slot_mut<'v>(target: &'v mut Value, slot: &Slot<'_>) -> Option<&'v mut Value> {
    match (target, slot) {
        (target, Slot::Root) => Some(target),
        (Value::Object(map), Slot::Key(key)) => map.get_mut(key.as_ref()),
        (Value::Array(items), Slot::Index(index)) => items.get_mut(*index),
        _ => None,
    }
}

/// Reverts one operation; returns the value it took out of the document (what
/// a `MoveBack` puts back at the source). Applied in reverse order the locations
/// are always valid, so the lookups cannot fail; if they somehow did, the step
/// is skipped rather than panicking.
fn undo(doc: &mut Value, step: Undo<'_>) -> Option<Value> {
    match step {
        Undo::Take(loc) => take(navigate(doc, &loc.parent, "").ok()?, &loc.slot),
        Undo::Restore(loc, previous) => {
            let parent = navigate(doc, &loc.parent, "").ok()?;
            Some(mem::replace(slot_mut(parent, &loc.slot)?, previous))
        }
        Undo::Reinsert(loc, value) => {
            insert(navigate(doc, &loc.parent, "").ok()?, &loc.slot, value);
            None
        }
        Undo::MoveBack { insertion, source } => {
            let value = undo(doc, *insertion)?;
            undo(doc, Undo::Reinsert(source, value))
        }
    }
}

fn not_found(pointer: &str) -> PatchError {
    PatchError::PathNotFound {
        pointer: pointer.into(),
    }
}

/// RFC 6902 `test` equality: like `==`, except that numbers are equal when
/// numerically equal (`1`, `1.0` and `1e0` all match).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_eq(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| json_eq(x, y)))
        }
        _ => a == b,
    }
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "the casts are the integrality check: lossy exactly when not equal"
)]
fn numbers_eq(x: &Number, y: &Number) -> bool {
    // Integers compare exactly; going through f64 would equate distinct large
    // integers that round to the same float.
    let integer = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    // A float equals an integer only if it is integral and the same value; the
    // saturating cast round-trips exactly only in that case.
    let float_eq_int = |f: Option<f64>, i: i128| {
        f.is_some_and(|f| {
            let truncated = f as i128;
            truncated as f64 == f && truncated == i
        })
    };
    match (integer(x), integer(y)) {
        (Some(i), Some(j)) => i == j,
        (Some(i), None) => float_eq_int(y.as_f64(), i),
        (None, Some(j)) => float_eq_int(x.as_f64(), j),
        (None, None) => x.as_f64() == y.as_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use serde_json::json;

    fn add(path: &str, value: Value) -> PatchOp {
        PatchOp::Add {
            path: path.into(),
            value,
        }
    }
    fn remove(path: &str) -> PatchOp {
        PatchOp::Remove { path: path.into() }
    }
    fn replace(path: &str, value: Value) -> PatchOp {
        PatchOp::Replace {
            path: path.into(),
            value,
        }
    }
    fn mv(from: &str, path: &str) -> PatchOp {
        PatchOp::Move {
            from: from.into(),
            path: path.into(),
        }
    }
    fn copy(from: &str, path: &str) -> PatchOp {
        PatchOp::Copy {
            from: from.into(),
            path: path.into(),
        }
    }
    fn test(path: &str, value: Value) -> PatchOp {
        PatchOp::Test {
            path: path.into(),
            value,
        }
    }

    /// Diffs, checks the round trip, and returns the ops for exact assertions.
    fn checked_diff(from: &Value, to: &Value) -> Vec<PatchOp> {
        let ops = diff(from, to);
        let mut doc = from.clone();
        apply(&mut doc, &ops).expect("diff output applies");
        assert_eq!(&doc, to);
        ops
    }

    /// Applies `patch` to `doc` and returns the error, checking atomicity.
    fn apply_err(doc: Value, patch: &[PatchOp]) -> PatchError {
        let mut patched = doc.clone();
        let error = apply(&mut patched, patch).expect_err("patch must fail");
        assert_eq!(
            patched, doc,
            "failed patch must leave the document as it was"
        );
        error
    }

    fn applied(mut doc: Value, patch: &[PatchOp]) -> Value {
        apply(&mut doc, patch).expect("patch applies");
        doc
    }

    fn not_found(pointer: &str) -> PatchError {
        PatchError::PathNotFound {
            pointer: pointer.into(),
        }
    }

    // ----- diff -----

    #[test]
    fn diff_of_equal_values_is_empty() {
        let v = json!({"a": [1, {"b": null}], "c": "x"});
        assert_eq!(diff(&v, &v), vec![]);
    }

    #[test]
    fn diff_adds_object_member() {
        let ops = checked_diff(&json!({"a": 1}), &json!({"a": 1, "b": [2]}));
        assert_eq!(ops, vec![add("/b", json!([2]))]);
    }

    #[test]
    fn diff_removes_object_member() {
        let ops = checked_diff(&json!({"a": 1, "b": 2}), &json!({"b": 2}));
        assert_eq!(ops, vec![remove("/a")]);
    }

    #[test]
    fn diff_replaces_changed_scalar() {
        let ops = checked_diff(&json!({"a": 1, "b": true}), &json!({"a": "one", "b": true}));
        assert_eq!(ops, vec![replace("/a", json!("one"))]);
    }

    #[test]
    fn diff_replaces_on_type_change() {
        let ops = checked_diff(&json!({"a": {"x": 1}}), &json!({"a": [1]}));
        assert_eq!(ops, vec![replace("/a", json!([1]))]);
    }

    #[test]
    fn diff_treats_int_and_float_as_different() {
        let ops = checked_diff(&json!([1]), &json!([1.0]));
        assert_eq!(ops, vec![replace("/0", json!(1.0))]);
    }

    #[test]
    fn diff_object_ops_are_sorted_removes_then_adds() {
        let ops = checked_diff(
            &json!({"b": 1, "d": 2, "e": 3}),
            &json!({"a": 0, "d": 9, "e": 3, "f": 4}),
        );
        assert_eq!(
            ops,
            vec![
                remove("/b"),
                replace("/d", json!(9)),
                add("/a", json!(0)),
                add("/f", json!(4)),
            ]
        );
    }

    #[test]
    fn diff_recurses_into_nested_objects() {
        let from = json!({"agent": {"state": {"step": 1, "notes": ["a"]}, "id": "x"}});
        let to = json!({"agent": {"state": {"step": 2, "notes": ["a", "b"]}, "id": "x"}});
        let ops = checked_diff(&from, &to);
        assert_eq!(
            ops,
            vec![
                add("/agent/state/notes/1", json!("b")),
                replace("/agent/state/step", json!(2)),
            ]
        );
    }

    #[test]
    fn diff_replaces_root() {
        assert_eq!(
            checked_diff(&json!(1), &json!("1")),
            vec![replace("", json!("1"))]
        );
        assert_eq!(
            checked_diff(&json!({"a": 1}), &json!([1])),
            vec![replace("", json!([1]))]
        );
    }

    #[test]
    fn diff_appends_to_conversation_with_explicit_indexes() {
        let msg = |i: usize| json!({"role": "user", "content": format!("message {i}")});
        let from = json!({"messages": (0..5).map(msg).collect::<Vec<_>>()});
        let to = json!({"messages": (0..7).map(msg).collect::<Vec<_>>()});
        let ops = checked_diff(&from, &to);
        assert_eq!(
            ops,
            vec![add("/messages/5", msg(5)), add("/messages/6", msg(6))]
        );
    }

    #[test]
    fn diff_streamed_last_message_and_append() {
        let from = json!({"messages": [{"content": "hi"}, {"content": "partial"}]});
        let to = json!({"messages": [{"content": "hi"}, {"content": "partial answer"}, {"content": "next"}]});
        let ops = checked_diff(&from, &to);
        assert_eq!(
            ops,
            vec![
                replace("/messages/1/content", json!("partial answer")),
                add("/messages/2", json!({"content": "next"})),
            ]
        );
    }

    #[test]
    fn diff_insert_in_middle_is_one_add() {
        let from: Vec<Value> = (0..100).map(Value::from).collect();
        let mut to = from.clone();
        to.insert(40, json!("new"));
        let ops = checked_diff(&Value::Array(from), &Value::Array(to));
        assert_eq!(ops, vec![add("/40", json!("new"))]);
    }

    #[test]
    fn diff_insert_next_to_equal_element_is_one_add() {
        let ops = checked_diff(&json!([1, 1]), &json!([1, 1, 1]));
        assert_eq!(ops, vec![add("/2", json!(1))]);
        let ops = checked_diff(&json!([1, 2, 3]), &json!([1, 2, 2, 3]));
        assert_eq!(ops, vec![add("/2", json!(2))]);
    }

    #[test]
    fn diff_remove_from_middle_is_one_remove() {
        let from: Vec<Value> = (0..100).map(Value::from).collect();
        let mut to = from.clone();
        to.remove(60);
        let ops = checked_diff(&Value::Array(from), &Value::Array(to));
        assert_eq!(ops, vec![remove("/60")]);
    }

    #[test]
    fn diff_shrink_removes_from_end_highest_first() {
        let ops = checked_diff(&json!({"m": [0, 1, 2, 3, 4]}), &json!({"m": [0, 1]}));
        assert_eq!(ops, vec![remove("/m/4"), remove("/m/3"), remove("/m/2")]);
    }

    #[test]
    fn diff_middle_pairs_then_adds() {
        // Prefix [0], suffix [9]; middle [1, 2] -> [a, b, c].
        let ops = checked_diff(&json!([0, 1, 2, 9]), &json!([0, "a", "b", "c", 9]));
        assert_eq!(
            ops,
            vec![
                replace("/1", json!("a")),
                replace("/2", json!("b")),
                add("/3", json!("c")),
            ]
        );
    }

    #[test]
    fn diff_middle_pairs_then_removes() {
        let ops = checked_diff(&json!([0, 1, 2, 3, 9]), &json!([0, "a", 9]));
        assert_eq!(
            ops,
            vec![replace("/1", json!("a")), remove("/3"), remove("/2")]
        );
    }

    #[test]
    fn diff_escapes_keys() {
        let from = json!({"a/b": 1, "m~n": {"x": 1}, "~1": 0});
        let to = json!({"a/b": 2, "m~n": {"x": 2}, "/": 3});
        let ops = checked_diff(&from, &to);
        assert_eq!(
            ops,
            vec![
                replace("/a~1b", json!(2)),
                replace("/m~0n/x", json!(2)),
                remove("/~01"),
                add("/~1", json!(3)),
            ]
        );
    }

    #[test]
    fn diff_handles_empty_key() {
        let ops = checked_diff(&json!({"": 1}), &json!({"": {"": 2}}));
        assert_eq!(ops, vec![replace("/", json!({"": 2}))]);
    }

    // ----- tokens -----

    #[test]
    fn escape_and_unescape_tokens() {
        assert!(matches!(escape_token("plain"), Cow::Borrowed("plain")));
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
        assert_eq!(escape_token("~1"), "~01");
        assert_eq!(unescape_token("a~1b~0c").unwrap(), "a/b~c");
        assert_eq!(unescape_token("~01").unwrap(), "~1");
        assert!(matches!(
            unescape_token("plain"),
            Ok(Cow::Borrowed("plain"))
        ));
        for bad in ["~", "a~", "~2", "~a"] {
            assert_eq!(
                unescape_token(bad),
                Err(PatchError::InvalidPointer {
                    pointer: bad.into()
                })
            );
        }
    }

    // ----- apply: each op -----

    #[test]
    fn apply_add() {
        let doc = json!({"a": [1, 2], "o": {}});
        assert_eq!(
            applied(doc.clone(), &[add("/o/k", json!(1))]),
            json!({"a": [1, 2], "o": {"k": 1}})
        );
        assert_eq!(
            applied(doc.clone(), &[add("/a/0", json!(0))])["a"],
            json!([0, 1, 2])
        );
        assert_eq!(
            applied(doc.clone(), &[add("/a/2", json!(3))])["a"],
            json!([1, 2, 3])
        );
        assert_eq!(
            applied(doc.clone(), &[add("/a/-", json!(3))])["a"],
            json!([1, 2, 3])
        );
        // Adding an existing member replaces it.
        assert_eq!(applied(doc.clone(), &[add("/o", json!(5))])["o"], json!(5));
        // Adding the root replaces the document.
        assert_eq!(applied(doc, &[add("", json!([true]))]), json!([true]));
        // Array indexes are just object keys in objects.
        assert_eq!(applied(json!({}), &[add("/0", json!(1))]), json!({"0": 1}));
        assert_eq!(applied(json!({}), &[add("/-", json!(1))]), json!({"-": 1}));
    }

    #[test]
    fn apply_remove() {
        let doc = json!({"a": [1, 2, 3], "b": 1});
        assert_eq!(
            applied(doc.clone(), &[remove("/b")]),
            json!({"a": [1, 2, 3]})
        );
        assert_eq!(
            applied(doc, &[remove("/a/1")]),
            json!({"a": [1, 3], "b": 1})
        );
    }

    #[test]
    fn apply_replace() {
        let doc = json!({"a": [1, 2], "b": 1});
        assert_eq!(
            applied(doc.clone(), &[replace("/b", json!(null))])["b"],
            json!(null)
        );
        assert_eq!(
            applied(doc.clone(), &[replace("/a/1", json!(9))])["a"],
            json!([1, 9])
        );
        assert_eq!(applied(doc, &[replace("", json!(0))]), json!(0));
    }

    #[test]
    fn apply_move() {
        let doc = json!({"a": {"x": 1}, "l": [1, 2, 3]});
        assert_eq!(
            applied(doc.clone(), &[mv("/a/x", "/y")]),
            json!({"a": {}, "l": [1, 2, 3], "y": 1})
        );
        // The destination is resolved after the removal.
        assert_eq!(
            applied(doc.clone(), &[mv("/l/0", "/l/2")])["l"],
            json!([2, 3, 1])
        );
        assert_eq!(
            applied(doc.clone(), &[mv("/l/0", "/l/-")])["l"],
            json!([2, 3, 1])
        );
        assert_eq!(applied(doc.clone(), &[mv("/a", "")]), json!({"x": 1}));
        // Moving onto itself is a no-op, even for the root.
        assert_eq!(applied(doc.clone(), &[mv("/a", "/a")]), doc);
        assert_eq!(applied(doc.clone(), &[mv("", "")]), doc);
        // Sibling with a common string prefix is not a child.
        assert_eq!(
            applied(json!({"a": 1}), &[mv("/a", "/ab")]),
            json!({"ab": 1})
        );
    }

    #[test]
    fn apply_copy() {
        let doc = json!({"a": {"x": [1]}, "l": [1]});
        assert_eq!(
            applied(doc.clone(), &[copy("/a", "/a/y")]),
            json!({"a": {"x": [1], "y": {"x": [1]}}, "l": [1]})
        );
        assert_eq!(
            applied(doc.clone(), &[copy("/l/0", "/l/0")])["l"],
            json!([1, 1])
        );
        assert_eq!(applied(doc.clone(), &[copy("", "/l/-")])["l"][1], doc);
    }

    #[test]
    fn apply_test() {
        let doc = json!({"a": [1, {"b": 2.0}], "s": "x"});
        assert_eq!(applied(doc.clone(), &[test("/s", json!("x"))]), doc);
        assert_eq!(applied(doc.clone(), &[test("", doc.clone())]), doc);
        // Numbers compare numerically.
        assert_eq!(
            applied(doc.clone(), &[test("/a", json!([1.0, {"b": 2}]))]),
            doc
        );
        assert_eq!(
            apply_err(doc.clone(), &[test("/a/0", json!("1"))]),
            PatchError::TestFailed {
                path: "/a/0".into()
            }
        );
        assert_eq!(
            apply_err(doc, &[test("/a", json!([1, {"b": 2, "c": 3}]))]),
            PatchError::TestFailed { path: "/a".into() }
        );
    }

    #[test]
    fn test_number_equality() {
        let n = |v: Value| match v {
            Value::Number(n) => n,
            _ => unreachable!(),
        };
        assert!(numbers_eq(&n(json!(1)), &n(json!(1.0))));
        assert!(numbers_eq(&n(json!(0)), &n(json!(-0.0))));
        assert!(numbers_eq(&n(json!(u64::MAX)), &n(json!(u64::MAX))));
        assert!(!numbers_eq(&n(json!(u64::MAX)), &n(json!(u64::MAX - 1))));
        assert!(!numbers_eq(&n(json!(1)), &n(json!(1.5))));
        assert!(!numbers_eq(&n(json!(-1)), &n(json!(u64::MAX))));
        assert!(numbers_eq(&n(json!(0.5)), &n(json!(0.5))));
    }

    // ----- apply: errors -----

    #[test]
    fn apply_rejects_invalid_pointers() {
        let doc = json!({"a": 1});
        for bad in ["a", "a/b", "/a~2", "/~"] {
            assert_eq!(
                apply_err(doc.clone(), &[add(bad, json!(1))]),
                PatchError::InvalidPointer {
                    pointer: bad.into()
                }
            );
        }
        assert_eq!(
            apply_err(doc, &[mv("x", "/b")]),
            PatchError::InvalidPointer {
                pointer: "x".into()
            }
        );
    }

    #[test]
    fn apply_reports_missing_paths() {
        let doc = json!({"a": {"b": 1}, "s": "str", "l": [1]});
        assert_eq!(apply_err(doc.clone(), &[remove("/x")]), not_found("/x"));
        assert_eq!(
            apply_err(doc.clone(), &[replace("/a/x", json!(1))]),
            not_found("/a/x")
        );
        assert_eq!(
            apply_err(doc.clone(), &[add("/x/y", json!(1))]),
            not_found("/x/y")
        );
        assert_eq!(
            apply_err(doc.clone(), &[add("/s/0", json!(1))]),
            not_found("/s/0")
        );
        assert_eq!(
            apply_err(doc.clone(), &[test("/a/b/c", json!(1))]),
            not_found("/a/b/c")
        );
        assert_eq!(
            apply_err(doc.clone(), &[copy("/nope", "/b")]),
            not_found("/nope")
        );
        assert_eq!(apply_err(doc, &[mv("/nope", "/b")]), not_found("/nope"));
    }

    #[test]
    fn apply_rejects_malformed_indexes() {
        let doc = json!({"l": [1, 2]});
        for token in ["01", "00", "+1", "-1", " 1", "1.0", "a", ""] {
            let pointer = format!("/l/{token}");
            assert_eq!(
                apply_err(doc.clone(), &[add(&pointer, json!(0))]),
                PatchError::InvalidIndex {
                    pointer: pointer.clone(),
                    token: token.into()
                }
            );
        }
        assert_eq!(
            apply_err(doc, &[test("/l/01", json!(2))]),
            PatchError::InvalidIndex {
                pointer: "/l/01".into(),
                token: "01".into()
            }
        );
    }

    #[test]
    fn apply_rejects_out_of_range_indexes() {
        let doc = json!({"l": [1, 2]});
        let out_of_range = |pointer: &str| PatchError::IndexOutOfRange {
            pointer: pointer.into(),
            len: 2,
        };
        assert_eq!(
            apply_err(doc.clone(), &[add("/l/3", json!(0))]),
            out_of_range("/l/3")
        );
        assert_eq!(
            apply_err(doc.clone(), &[remove("/l/2")]),
            out_of_range("/l/2")
        );
        assert_eq!(
            apply_err(doc.clone(), &[remove("/l/-")]),
            out_of_range("/l/-")
        );
        assert_eq!(
            apply_err(doc.clone(), &[replace("/l/-", json!(0))]),
            out_of_range("/l/-")
        );
        assert_eq!(
            apply_err(doc.clone(), &[test("/l/-/x", json!(0))]),
            out_of_range("/l/-/x")
        );
        assert_eq!(
            apply_err(doc.clone(), &[copy("/l/5", "/l/0")]),
            out_of_range("/l/5")
        );
        let huge = "/l/99999999999999999999999999";
        assert_eq!(apply_err(doc, &[add(huge, json!(0))]), out_of_range(huge));
    }

    #[test]
    fn apply_rejects_removing_root() {
        assert_eq!(
            apply_err(json!({"a": 1}), &[remove("")]),
            PatchError::CannotRemoveRoot
        );
    }

    #[test]
    fn apply_rejects_move_into_own_child() {
        let doc = json!({"a": {"b": {}}});
        assert_eq!(
            apply_err(doc.clone(), &[mv("/a", "/a/b")]),
            PatchError::MoveIntoChild {
                from: "/a".into(),
                path: "/a/b".into()
            }
        );
        assert_eq!(
            apply_err(doc, &[mv("", "/x")]),
            PatchError::MoveIntoChild {
                from: "".into(),
                path: "/x".into()
            }
        );
    }

    #[test]
    fn failed_move_destination_restores_source() {
        let doc = json!({"a": 1, "l": [1, 2]});
        assert_eq!(
            apply_err(doc.clone(), &[mv("/a", "/x/y")]),
            not_found("/x/y")
        );
        // The destination is checked against the array after the removal.
        assert_eq!(
            apply_err(doc, &[mv("/l/0", "/l/2")]),
            PatchError::IndexOutOfRange {
                pointer: "/l/2".into(),
                len: 1
            }
        );
    }

    #[test]
    fn apply_is_atomic() {
        let doc = json!({"a": {"x": 1}, "l": [1, 2, 3], "s": "v"});
        let patch = [
            add("/l/1", json!("in")),
            remove("/s"),
            replace("/a/x", json!(2)),
            mv("/l/0", "/a/moved"),
            copy("/a", "/l/-"),
            add("/a/x", json!("over")),
            add("", json!({"new": "root"})),
            add("/back", json!(0)),
            mv("/back", "/front"),
            test("/front", json!(1)),
        ];
        assert_eq!(
            apply_err(doc.clone(), &patch),
            PatchError::TestFailed {
                path: "/front".into()
            }
        );
        // The same patch minus the failing test goes through.
        assert_eq!(
            applied(doc, &patch[..patch.len() - 1]),
            json!({"new": "root", "front": 0})
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            PatchError::IndexOutOfRange {
                pointer: "/l/3".into(),
                len: 2
            }
            .to_string(),
            "array index in \"/l/3\" is out of range for an array of length 2"
        );
        assert_eq!(
            PatchError::CannotRemoveRoot.to_string(),
            "cannot remove the document root"
        );
        let error: &dyn core::error::Error = &PatchError::TestFailed { path: "/a".into() };
        assert!(error.to_string().contains("/a"));
    }

    /// A selection of RFC 6902 Appendix A examples.
    #[test]
    fn rfc6902_appendix_a() {
        let cases: Vec<(Value, Value, Result<Value, PatchError>)> = vec![
            // A.1, A.2
            (
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz", "value": "qux"}]),
                Ok(json!({"baz": "qux", "foo": "bar"})),
            ),
            (
                json!({"foo": ["bar", "baz"]}),
                json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
                Ok(json!({"foo": ["bar", "qux", "baz"]})),
            ),
            // A.4 remove array element
            (
                json!({"foo": ["bar", "qux", "baz"]}),
                json!([{"op": "remove", "path": "/foo/1"}]),
                Ok(json!({"foo": ["bar", "baz"]})),
            ),
            // A.7 move array element
            (
                json!({"foo": ["all", "grass", "cows", "eat"]}),
                json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
                Ok(json!({"foo": ["all", "cows", "eat", "grass"]})),
            ),
            // A.8 test success
            (
                json!({"baz": "qux", "foo": ["a", 2, "c"]}),
                json!([{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]),
                Ok(json!({"baz": "qux", "foo": ["a", 2, "c"]})),
            ),
            // A.9 test failure
            (
                json!({"baz": "qux"}),
                json!([{"op": "test", "path": "/baz", "value": "bar"}]),
                Err(PatchError::TestFailed {
                    path: "/baz".into(),
                }),
            ),
            // A.10 add nested member object
            (
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
                Ok(json!({"foo": "bar", "child": {"grandchild": {}}})),
            ),
            // A.11 unrecognised members are ignored
            (
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]),
                Ok(json!({"foo": "bar", "baz": "qux"})),
            ),
            // A.12 add to nonexistent target
            (
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]),
                Err(not_found("/baz/bat")),
            ),
            // A.14 ~ escape ordering
            (
                json!({"/": 9, "~1": 10}),
                json!([{"op": "test", "path": "/~01", "value": 10}]),
                Ok(json!({"/": 9, "~1": 10})),
            ),
            // A.15 comparing strings and numbers
            (
                json!({"/": 9, "~1": 10}),
                json!([{"op": "test", "path": "/~01", "value": "10"}]),
                Err(PatchError::TestFailed {
                    path: "/~01".into(),
                }),
            ),
            // A.16 adding an array value
            (
                json!({"foo": ["bar"]}),
                json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
                Ok(json!({"foo": ["bar", ["abc", "def"]]})),
            ),
        ];
        for (doc, patch, expected) in cases {
            let patch: Vec<PatchOp> = serde_json::from_value(patch).expect("valid patch");
            let mut result = doc.clone();
            match apply(&mut result, &patch) {
                Ok(()) => assert_eq!(Ok(result), expected),
                Err(error) => {
                    assert_eq!(Err(error), expected);
                    assert_eq!(result, doc);
                }
            }
        }
    }

    // ----- serde -----

    #[test]
    fn patch_ops_serialize_to_rfc_shape() {
        let patch = vec![
            add("/a/0", json!({"k": 1})),
            remove("/a"),
            replace("", json!(null)),
            mv("/a", "/b"),
            copy("/a~1b", "/c"),
            test("/t", json!([true])),
        ];
        let text = serde_json::to_string(&patch).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"[{"op":"add","path":"/a/0","value":{"k":1}},"#,
                r#"{"op":"remove","path":"/a"},"#,
                r#"{"op":"replace","path":"","value":null},"#,
                r#"{"op":"move","from":"/a","path":"/b"},"#,
                r#"{"op":"copy","from":"/a~1b","path":"/c"},"#,
                r#"{"op":"test","path":"/t","value":[true]}]"#,
            )
        );
        let back: Vec<PatchOp> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, patch);
    }

    #[test]
    fn patch_ops_reject_malformed_json() {
        for bad in [
            r#"{"op":"add","path":"/a"}"#,
            r#"{"op":"frobnicate","path":"/a"}"#,
            r#"{"path":"/a"}"#,
            r#"{"op":"move","path":"/a"}"#,
        ] {
            assert!(serde_json::from_str::<PatchOp>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_accessor() {
        assert_eq!(mv("/a", "/b").path(), "/b");
        assert_eq!(remove("/x").path(), "/x");
    }

    // ----- properties -----

    fn arb_key() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "messages", "", "c/d", "~", "~1", "0"])
            .prop_map(String::from)
    }

    fn arb_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..4).prop_map(Value::from),
            // Exactly representable, so they also survive a JSON text round trip.
            prop::sample::select(vec![0.5f64, -1.25, 1.0, 0.0]).prop_map(Value::from),
            prop::sample::select(vec!["", "x", "y", "/", "~"]).prop_map(Value::from),
        ]
    }

    fn arb_value() -> BoxedStrategy<Value> {
        arb_leaf()
            .prop_recursive(4, 32, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::btree_map(arb_key(), inner, 0..5)
                        .prop_map(|map| Value::Object(map.into_iter().collect())),
                ]
            })
            .boxed()
    }

    /// A value derived from `v` by local edits (changed leaves, inserted and
    /// removed elements and members), so that diffs exercise prefixes,
    /// suffixes and recursion rather than mostly replacing the root.
    fn mutate(v: Value) -> BoxedStrategy<Value> {
        let kept = Just(v.clone());
        let edited = match v {
            Value::Array(items) => {
                let len = items.len();
                let children: Vec<BoxedStrategy<Value>> = items.into_iter().map(mutate).collect();
                (
                    children,
                    prop::collection::vec(any::<Index>(), 0..3),
                    prop::collection::vec((0..=len, arb_value()), 0..3),
                )
                    .prop_map(|(mut items, removals, inserts)| {
                        for at in removals {
                            if !items.is_empty() {
                                items.remove(at.index(items.len()));
                            }
                        }
                        for (at, value) in inserts {
                            items.insert(at.min(items.len()), value);
                        }
                        Value::Array(items)
                    })
                    .boxed()
            }
            Value::Object(map) => {
                let children: Vec<BoxedStrategy<(String, Value)>> = map
                    .into_iter()
                    .map(|(key, value)| mutate(value).prop_map(move |v| (key.clone(), v)).boxed())
                    .collect();
                (
                    children,
                    prop::collection::vec(any::<Index>(), 0..2),
                    prop::collection::btree_map(arb_key(), arb_value(), 0..2),
                )
                    .prop_map(|(entries, removals, additions)| {
                        let mut map: Map<String, Value> = entries.into_iter().collect();
                        for at in removals {
                            let key = map.keys().nth(at.index(map.len().max(1))).cloned();
                            if let Some(key) = key {
                                map.remove(&key);
                            }
                        }
                        map.extend(additions);
                        Value::Object(map)
                    })
                    .boxed()
            }
            _ => arb_leaf().boxed(),
        };
        prop_oneof![3 => kept, 3 => edited, 1 => arb_value()].boxed()
    }

    fn related_pair() -> impl Strategy<Value = (Value, Value)> {
        arb_value().prop_flat_map(|from| (Just(from.clone()), mutate(from)))
    }

    proptest! {
        #[test]
        fn diff_then_apply_roundtrips((from, to) in related_pair()) {
            let ops = diff(&from, &to);
            prop_assert_eq!(&ops, &diff(&from, &to), "diff is deterministic");
            let mut doc = from.clone();
            prop_assert_eq!(apply(&mut doc, &ops), Ok(()));
            prop_assert_eq!(&doc, &to);
            if from == to {
                prop_assert!(ops.is_empty());
            }
        }

        #[test]
        fn diff_then_apply_roundtrips_unrelated(from in arb_value(), to in arb_value()) {
            let mut doc = from.clone();
            prop_assert_eq!(apply(&mut doc, &diff(&from, &to)), Ok(()));
            prop_assert_eq!(doc, to);
        }

        #[test]
        fn failed_patch_leaves_doc_unchanged((from, to) in related_pair()) {
            let mut patch = diff(&from, &to);
            // Extra ops that touch everything, then one that always fails.
            patch.push(PatchOp::Copy { from: String::new(), path: String::new() });
            patch.push(PatchOp::Add { path: String::new(), value: json!({"moved": []}) });
            patch.push(PatchOp::Copy { from: String::new(), path: "/copy".into() });
            patch.push(PatchOp::Move { from: "/moved".into(), path: "/copy/moved/-".into() });
            patch.push(PatchOp::Test { path: String::new(), value: json!("never") });
            let mut doc = from.clone();
            prop_assert!(
                matches!(apply(&mut doc, &patch), Err(PatchError::TestFailed { .. })),
                "the final test must fail"
            );
            prop_assert_eq!(doc, from);
        }

        #[test]
        fn single_insert_is_single_add(
            items in prop::collection::vec(arb_leaf(), 0..20),
            at in any::<Index>(),
            value in arb_value(),
        ) {
            let at = at.index(items.len() + 1);
            let mut grown = items.clone();
            grown.insert(at, value);
            let ops = diff(&Value::Array(items), &Value::Array(grown));
            prop_assert_eq!(ops.len(), 1);
            prop_assert!(matches!(ops[0], PatchOp::Add { .. }), "expected an add: {:?}", ops);
        }

        #[test]
        fn single_removal_is_single_remove(
            items in prop::collection::vec(arb_value(), 1..20),
            at in any::<Index>(),
        ) {
            let mut shrunk = items.clone();
            shrunk.remove(at.index(items.len()));
            let ops = diff(&Value::Array(items), &Value::Array(shrunk));
            prop_assert_eq!(ops.len(), 1);
            prop_assert!(matches!(ops[0], PatchOp::Remove { .. }), "expected a remove: {:?}", ops);
        }

        #[test]
        fn patch_serde_roundtrip((from, to) in related_pair()) {
            let ops = diff(&from, &to);
            let text = serde_json::to_string(&ops).unwrap();
            let back: Vec<PatchOp> = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, ops);
        }

        #[test]
        fn apply_never_panics(doc in arb_value(), raw in prop::collection::vec(arb_raw_op(), 0..6)) {
            let mut patched = doc.clone();
            if apply(&mut patched, &raw).is_err() {
                prop_assert_eq!(patched, doc);
            }
        }
    }

    /// Arbitrary ops over pointers that mostly half-exist, for fuzzing `apply`.
    fn arb_raw_op() -> impl Strategy<Value = PatchOp> {
        let pointer = prop::collection::vec(
            prop::sample::select(vec![
                "a", "b", "0", "1", "-", "01", "~0", "~1", "~", "messages",
            ]),
            0..4,
        )
        .prop_map(|tokens| tokens.iter().map(|t| format!("/{t}")).collect::<String>());
        (0..6u8, pointer.clone(), pointer, arb_value()).prop_map(|(kind, path, from, value)| {
            match kind {
                0 => PatchOp::Add { path, value },
                1 => PatchOp::Remove { path },
                2 => PatchOp::Replace { path, value },
                3 => PatchOp::Move { from, path },
                4 => PatchOp::Copy { from, path },
                _ => PatchOp::Test { path, value },
            }
        })
    }
}
