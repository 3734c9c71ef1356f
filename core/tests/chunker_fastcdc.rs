//! Cross-checks `rewind_core::chunker` against the `fastcdc` crate's v2020
//! chunker, whose boundaries ours must reproduce exactly, and checks that
//! content-defined chunking localises the effect of an edit.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::ops::Range;

use fastcdc::v2020::FastCDC;
use proptest::prelude::*;
use rewind_core::chunker::{
    ChunkerParams, DEFAULT_PARAMS, LARGE_PARAMS, MEDIUM_PARAMS, chunks, params_for_len,
};

/// Deterministic pseudo-random bytes (xorshift64), so failures reproduce.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect()
}

/// A growing agent conversation serialized as JSON: the kind of state rewind
/// checkpoints, with lots of repeated structure and a long shared prefix.
fn conversation_json(turns: usize) -> Vec<u8> {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const WORDS: [&str; 12] = [
        "the",
        "checkpoint",
        "agent",
        "reasoning",
        "tool",
        "call",
        "returned",
        "state",
        "because",
        "plan",
        "next",
        "file",
    ];
    let mut out = String::from(r#"{"messages":["#);
    for turn in 0..turns {
        if turn > 0 {
            out.push(',');
        }
        let role = if turn % 2 == 0 { "user" } else { "assistant" };
        write!(out, r#"{{"role":"{role}","turn":{turn},"content":""#).unwrap();
        let words = 5 + (next() % 60) as usize;
        for w in 0..words {
            if w > 0 {
                out.push(' ');
            }
            out.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
        }
        out.push_str(r#""}"#);
    }
    out.push_str("]}");
    out.into_bytes()
}

fn params(min: u32, avg: u32, max: u32) -> ChunkerParams {
    ChunkerParams::new(min, avg, max).expect("test parameters are valid")
}

fn param_sets() -> [ChunkerParams; 8] {
    [
        DEFAULT_PARAMS,
        MEDIUM_PARAMS,
        LARGE_PARAMS,
        params(256, 1024, 4096),
        params(2048, 8192, 65536),
        params(4096, 16384, 65534),
        params(1024, 1024, 1024),
        params(64, 4096, 1 << 20),
    ]
}

/// Our chunks as (offset, length) pairs.
fn ours(data: &[u8], p: ChunkerParams) -> Vec<(usize, usize)> {
    chunks(data, p)
        .map(|r| (r.start, r.end - r.start))
        .collect()
}

/// The `fastcdc` crate's chunks as (offset, length) pairs.
fn reference(data: &[u8], p: ChunkerParams) -> Vec<(usize, usize)> {
    FastCDC::new(data, p.min as usize, p.avg as usize, p.max as usize)
        .map(|c| (c.offset, c.length))
        .collect()
}

fn assert_matches_fastcdc(data: &[u8], p: ChunkerParams, what: &str) {
    let expected = reference(data, p);
    let got = ours(data, p);
    assert_eq!(got, expected, "{what}, {} bytes, {p:?}", data.len());
}

#[test]
fn random_bytes_match_fastcdc() {
    for p in param_sets() {
        for (i, len) in [0, 1, 63, 64, 65, 1000, 100_000, 1_000_000]
            .into_iter()
            .enumerate()
        {
            let data = random_bytes(len, 0x5eed + i as u64);
            assert_matches_fastcdc(&data, p, "random");
        }
    }
}

#[test]
fn json_conversation_matches_fastcdc() {
    for p in param_sets() {
        for turns in [0, 1, 10, 200, 3000] {
            let data = conversation_json(turns);
            assert_matches_fastcdc(&data, p, "json");
        }
    }
}

#[test]
fn degenerate_inputs_match_fastcdc() {
    // Uniform and short-period inputs force cuts at `max` or in the loose
    // phase; odd lengths exercise the unpaired trailing byte.
    let mut inputs = vec![vec![0u8; 300_001], vec![0xffu8; 70_000]];
    inputs.push((0..200_003u32).map(|i| (i % 7) as u8).collect());
    inputs.push((0..200_000u32).map(|i| (i % 251) as u8).collect());
    for p in param_sets() {
        for data in &inputs {
            assert_matches_fastcdc(data, p, "degenerate");
        }
    }
}

#[test]
fn every_prefix_of_a_short_buffer_matches_fastcdc() {
    // Every length around the min/avg/max thresholds of DEFAULT_PARAMS.
    let data = random_bytes(3000, 42);
    for len in 0..=data.len() {
        assert_matches_fastcdc(&data[..len], DEFAULT_PARAMS, "prefix");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_match_fastcdc(data in proptest::collection::vec(any::<u8>(), 0..=65_536)) {
        prop_assert_eq!(ours(&data, DEFAULT_PARAMS), reference(&data, DEFAULT_PARAMS));
    }

    #[test]
    fn low_entropy_bytes_match_fastcdc(
        data in proptest::collection::vec(0u8..4, 0..=65_536),
        p in prop::sample::select(param_sets().to_vec()),
    ) {
        prop_assert_eq!(ours(&data, p), reference(&data, p));
    }
}

/// The distinct chunk contents of `data`.
fn chunk_set(data: &[u8], p: ChunkerParams) -> HashSet<&[u8]> {
    chunks(data, p).map(|r: Range<usize>| &data[r]).collect()
}

#[test]
fn insertion_only_disturbs_nearby_chunks() {
    for p in [DEFAULT_PARAMS, params(2048, 8192, 65536)] {
        let original = random_bytes(4 << 20, 0xabcdef);
        let middle = original.len() / 2;
        let mut edited = original[..middle].to_vec();
        edited.extend_from_slice(b"an inserted tool result of a few dozen bytes");
        edited.extend_from_slice(&original[middle..]);

        let before = chunk_set(&original, p);
        let after = chunk_set(&edited, p);
        let lost = before.difference(&after).count();
        let gained = after.difference(&before).count();
        // The insertion can only affect the chunk it lands in and, through
        // the hash window and `min` skipping, a few after it before the
        // boundaries resynchronise.
        assert!(lost <= 4, "{p:?}: {lost} of {} chunks lost", before.len());
        assert!(gained <= 5, "{p:?}: {gained} chunks gained");
        assert!(before.len() > 100, "{p:?}: too few chunks to be meaningful");

        // Chunks are shared on both sides of the edit, not just before it.
        let tail_chunk = chunks(&original, p)
            .last()
            .map(|r| &original[r])
            .expect("non-empty");
        assert!(after.contains(tail_chunk));
    }
}

#[test]
fn tiers_pick_larger_chunks_for_larger_states() {
    assert_eq!(params_for_len(0), DEFAULT_PARAMS);
    assert_eq!(params_for_len((4 << 20) - 1), DEFAULT_PARAMS);
    assert_eq!(params_for_len(4 << 20), MEDIUM_PARAMS);
    assert_eq!(params_for_len((64 << 20) - 1), MEDIUM_PARAMS);
    assert_eq!(params_for_len(64 << 20), LARGE_PARAMS);
}
