//! Structural diffs between two JSON states, expressed as RFC 6902 JSON Patch.
//!
//! A checkpoint store keeps successive JSON states of an agent (its conversation,
//! scratchpad, tool results, ...). Most consecutive states differ by a little: a
//! conversation gains a message, a field changes. [`diff`] turns two states into
//! the RFC 6902 operations that lead from one to the other, which any RFC 6902
//! implementation applies (the tests check every diff against the `json-patch`
//! crate's). Pointers follow RFC 6901; [`escape_token`] escapes a single reference
//! token.
//!
//! The diff recurses once per nesting level of the documents. That is fine for
//! anything parsed by `serde_json`, which refuses input nested deeper than 128
//! levels; a `Value` built programmatically with absurd nesting could exhaust the
//! stack here, but `serde_json` itself (drop, clone, equality) already recurses on
//! such values, so this module adds no new limit.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use serde_json::{Map, Value};

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

// ---------------------------------------------------------------------------
// diff
// ---------------------------------------------------------------------------

/// Operations that turn `from` into `to`: applying them to `from` yields a
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
///   a document of an unexpected length fails (the index is out of range)
///   instead of appending in the wrong place.
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

    /// `patch` applied to `doc` by the `json-patch` crate, an independent RFC 6902
    /// implementation.
    fn applied_by_oracle(mut doc: Value, patch: &[PatchOp]) -> Result<Value, String> {
        let text = serde_json::to_value(patch).map_err(|e| e.to_string())?;
        let patch: ::json_patch::Patch = serde_json::from_value(text).map_err(|e| e.to_string())?;
        ::json_patch::patch(&mut doc, &patch).map_err(|e| e.to_string())?;
        Ok(doc)
    }

    /// Diffs, checks the round trip, and returns the ops for exact assertions.
    fn checked_diff(from: &Value, to: &Value) -> Vec<PatchOp> {
        let ops = diff(from, to);
        assert_eq!(applied_by_oracle(from.clone(), &ops).as_ref(), Ok(to));
        ops
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
    fn escape_tokens() {
        assert!(matches!(escape_token("plain"), Cow::Borrowed("plain")));
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
        assert_eq!(escape_token("~1"), "~01");
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
        /// apply(diff(a, b), a) == b, applied by an independent implementation.
        #[test]
        fn diff_then_apply_roundtrips((from, to) in related_pair()) {
            let ops = diff(&from, &to);
            prop_assert_eq!(&ops, &diff(&from, &to), "diff is deterministic");
            prop_assert_eq!(applied_by_oracle(from.clone(), &ops), Ok(to.clone()));
            if from == to {
                prop_assert!(ops.is_empty());
            }
        }

        #[test]
        fn diff_then_apply_roundtrips_unrelated(from in arb_value(), to in arb_value()) {
            prop_assert_eq!(applied_by_oracle(from.clone(), &diff(&from, &to)), Ok(to));
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
    }
}
