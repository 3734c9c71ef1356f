//! Content-defined chunking: splitting a byte string into variable-sized
//! chunks whose boundaries are chosen by the bytes themselves rather than by
//! their offsets.
//!
//! rewind stores states as chunks addressed by their hash. With fixed-size
//! blocks, inserting one byte near the start of a state would shift every
//! later block and defeat deduplication; with content-defined boundaries the
//! same run of bytes produces the same chunks wherever it sits in a state, so
//! an edit only disturbs the chunks around it. Boundaries are a pure function
//! of the input bytes and the [`ChunkerParams`]: no randomness, no host
//! state, no floating point, so every host computes the same chunks.
//!
//! # Algorithm
//!
//! This is FastCDC in its 2020 form (Xia et al., "The Design of Fast
//! Content-Defined Chunking for Data Deduplication Based Storage Systems"),
//! and it produces exactly the cut points of
//! `fastcdc::v2020::FastCDC::new(data, min, avg, max)` from the `fastcdc`
//! crate (normalization level 1, default gear table, no seed). Compatibility
//! with that widely used implementation means our boundaries can be checked
//! against an independent implementation, which the test suite does.
//!
//! A 64-bit Gear hash is rolled over the data: per byte, `h = (h << 1) +
//! GEAR[byte]`. Because of the shift, a byte stops influencing `h` after 64
//! more bytes, so `h` depends only on a short trailing window. A position is
//! a cut point when `h & mask == 0`. For each chunk:
//!
//! * the first `min` bytes are skipped outright (no chunk is shorter than
//!   `min` unless it is the last one, and skipping is what makes the
//!   algorithm fast); the hash starts from zero at offset `min`;
//! * up to offset `avg` a stricter mask (one more bit than `log2(avg)`) is
//!   used, past it a looser one (one bit fewer): "normalized chunking", which
//!   pulls chunk sizes towards `avg`;
//! * a chunk is cut at `max` bytes if no cut point was found.
//!
//! The scan rolls two bytes per step ("rolling two bytes each time"):
//! `h = (h << 2) + GEAR_LS[b0]`, tested against `mask << 1`, then
//! `h += GEAR[b1]`, tested against `mask`, where `GEAR_LS[x] = GEAR[x] << 1`.
//! This is the one-byte recurrence unrolled, with the hash after `b0` held
//! shifted one bit left (hence the shifted mask), so it halves the loop
//! iterations without changing which positions match. When the hash through
//! the byte at offset `i` matches, the chunk ends just before that byte
//! (its length is `i`); this is the convention of the `fastcdc` crate's v2020
//! chunker, which we must reproduce.
//!
//! # Parameters
//!
//! See [`ChunkerParams`]. The parameters are part of the storage format:
//! two hosts only share chunks if they chunk with the same parameters.

use core::iter::FusedIterator;
use core::ops::Range;

/// Chunk size parameters, in bytes.
///
/// Invariants, checked by [`ChunkerParams::new`] (they are the limits the
/// `fastcdc` crate accepts, so every valid value here is one it can be
/// compared against):
///
/// * `64 <= min <= 1 MiB`, `min` even;
/// * `avg` a power of two, `256 <= avg <= 4 MiB`;
/// * `1024 <= max <= 16 MiB`, `max` even;
/// * `min <= avg <= max`.
///
/// The two-bytes-per-step scan tests candidates in pairs starting at `min`,
/// which is why `min` and `max` must be even (`fastcdc` asserts the same).
///
/// The fields are public for reading and pattern matching. A value built
/// without [`ChunkerParams::new`] that breaks the invariants never makes
/// [`chunks`] panic or loop: the chunks stay non-empty, contiguous and
/// covering, but their boundaries are unspecified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkerParams {
    /// Minimum chunk size: no chunk but the last is shorter than this.
    pub min: u32,
    /// Target average chunk size: the point where normalized chunking
    /// switches from the strict mask to the loose one.
    pub avg: u32,
    /// Maximum chunk size: no chunk is longer than this.
    pub max: u32,
}

/// `fastcdc` limits (see [`ChunkerParams`]).
const MIN_LOWEST: u32 = 64;
const MIN_HIGHEST: u32 = 1 << 20;
const AVG_LOWEST: u32 = 256;
const AVG_HIGHEST: u32 = 4 << 20;
const MAX_LOWEST: u32 = 1024;
const MAX_HIGHEST: u32 = 16 << 20;

impl ChunkerParams {
    /// Checks the invariants listed on [`ChunkerParams`] and returns the
    /// parameters, or `None` when any of them fails.
    pub const fn new(min: u32, avg: u32, max: u32) -> Option<ChunkerParams> {
        let min_ok = MIN_LOWEST <= min && min <= MIN_HIGHEST && min.is_multiple_of(2);
        let avg_ok = avg.is_power_of_two() && AVG_LOWEST <= avg && avg <= AVG_HIGHEST;
        let max_ok = MAX_LOWEST <= max && max <= MAX_HIGHEST && max.is_multiple_of(2);
        if min_ok && avg_ok && max_ok && min <= avg && avg <= max {
            Some(ChunkerParams { min, avg, max })
        } else {
            None
        }
    }
}

/// Chunking parameters for states (and attachments) under 4 MiB: min 64, avg 256, max 1024
/// bytes.
///
/// Small chunks are what make a growing conversation cheap: each step stores its new bytes plus
/// the tail of the previous last chunk (about half an average chunk), so a 1,000-step
/// conversation growing by 1 KB a step stores about 1.2x its unique bytes. 64/256/1024 are the
/// smallest sizes FastCDC accepts.
///
/// These, [`MEDIUM_PARAMS`], [`LARGE_PARAMS`] and the tier limits in [`params_for_len`] are part
/// of the format: every chunk boundary depends on them, so changing them changes every chunk
/// hash and stops new states from deduplicating against old ones.
pub const DEFAULT_PARAMS: ChunkerParams = match ChunkerParams::new(64, 256, 1024) {
    Some(params) => params,
    // Evaluated at compile time: invalid defaults fail the build.
    None => panic!("DEFAULT_PARAMS violate the ChunkerParams invariants"),
};

/// Chunking parameters for states from 4 MiB to 64 MiB: min 1 KiB, avg 4 KiB, max 16 KiB.
pub const MEDIUM_PARAMS: ChunkerParams = match ChunkerParams::new(1024, 4096, 16384) {
    Some(params) => params,
    None => panic!("MEDIUM_PARAMS violate the ChunkerParams invariants"),
};

/// Chunking parameters for states of 64 MiB and more: min 8 KiB, avg 32 KiB, max 128 KiB.
pub const LARGE_PARAMS: ChunkerParams = match ChunkerParams::new(8192, 32768, 131072) {
    Some(params) => params,
    None => panic!("LARGE_PARAMS violate the ChunkerParams invariants"),
};

/// Size of the first tier: states shorter than this use [`DEFAULT_PARAMS`].
pub const MEDIUM_FROM: usize = 4 << 20;
/// Size of the last tier: states this long or longer use [`LARGE_PARAMS`].
pub const LARGE_FROM: usize = 64 << 20;

/// The parameters rewind chunks a blob of `len` bytes with.
///
/// Chunk size grows with the blob so that the chunk table (about 54 bytes of memory per distinct
/// chunk) stays small next to the data: 2 GiB of unique 8 MiB states make about half a million
/// chunks rather than eight million. The price is paid once, when a growing state crosses a tier
/// limit: that state shares no chunks with its smaller predecessor.
pub const fn params_for_len(len: usize) -> ChunkerParams {
    if len < MEDIUM_FROM {
        DEFAULT_PARAMS
    } else if len < LARGE_FROM {
        MEDIUM_PARAMS
    } else {
        LARGE_PARAMS
    }
}

/// The Gear table: 256 fixed pseudo-random 64-bit values, one per byte value.
///
/// Entry `i` is the first 8 bytes, read as a big-endian `u64`, of the MD5
/// digest of a 64-byte buffer in which every byte equals `i`. This is the
/// derivation of the FastCDC reference implementation (destor) and of the
/// `fastcdc` crate, whose table this must equal for our boundaries to match
/// theirs. A unit test below recomputes it from MD5.
#[rustfmt::skip]
const GEAR: [u64; 256] = [
    0x3b5d3c7d207e37dc, 0x784d68ba91123086, 0xcd52880f882e7298, 0xeacf8e4e19fdcca7,
    0xc31f385dfbd1632b, 0x1d5f27001e25abe6, 0x83130bde3c9ad991, 0xc4b225676e9b7649,
    0xaa329b29e08eb499, 0xb67fcbd21e577d58, 0x0027baaada2acf6b, 0xe3ef2d5ac73c2226,
    0x0890f24d6ed312b7, 0xa809e036851d7c7e, 0xf0a6fe5e0013d81b, 0x1d026304452cec14,
    0x03864632648e248f, 0xcdaacf3dcd92b9b4, 0xf5e012e63c187856, 0x8862f9d3821c00b6,
    0xa82f7338750f6f8a, 0x1e583dc6c1cb0b6f, 0x7a3145b69743a7f1, 0xabb20fee404807eb,
    0xb14b3cfe07b83a5d, 0xb9dc27898adb9a0f, 0x3703f5e91baa62be, 0xcf0bb866815f7d98,
    0x3d9867c41ea9dcd3, 0x1be1fa65442bf22c, 0x14300da4c55631d9, 0xe698e9cbc6545c99,
    0x4763107ec64e92a5, 0xc65821fc65696a24, 0x76196c064822f0b7, 0x485be841f3525e01,
    0xf652bc9c85974ff5, 0xcad8352face9e3e9, 0x2a6ed1dceb35e98e, 0xc6f483badc11680f,
    0x3cfd8c17e9cf12f1, 0x89b83c5e2ea56471, 0xae665cfd24e392a9, 0xec33c4e504cb8915,
    0x3fb9b15fc9fe7451, 0xd7fd1fd1945f2195, 0x31ade0853443efd8, 0x255efc9863e1e2d2,
    0x10eab6008d5642cf, 0x46f04863257ac804, 0xa52dc42a789a27d3, 0xdaaadf9ce77af565,
    0x6b479cd53d87febb, 0x6309e2d3f93db72f, 0xc5738ffbaa1ff9d6, 0x6bd57f3f25af7968,
    0x67605486d90d0a4a, 0xe14d0b9663bfbdae, 0xb7bbd8d816eb0414, 0xdef8a4f16b35a116,
    0xe7932d85aaaffed6, 0x08161cbae90cfd48, 0x855507beb294f08b, 0x91234ea6ffd399b2,
    0xad70cf4b2435f302, 0xd289a97565bc2d27, 0x8e558437ffca99de, 0x96d2704b7115c040,
    0x0889bbcdfc660e41, 0x5e0d4e67dc92128d, 0x72a9f8917063ed97, 0x438b69d409e016e3,
    0xdf4fed8a5d8a4397, 0x00f41dcf41d403f7, 0x4814eb038e52603f, 0x9dafbacc58e2d651,
    0xfe2f458e4be170af, 0x4457ec414df6a940, 0x06e62f1451123314, 0xbd1014d173ba92cc,
    0xdef318e25ed57760, 0x9fea0de9dfca8525, 0x459de1e76c20624b, 0xaeec189617e2d666,
    0x126a2c06ab5a83cb, 0xb1321532360f6132, 0x65421503dbb40123, 0x2d67c287ea089ab3,
    0x6c93bff5a56bd6b6, 0x4ffb2036cab6d98d, 0xce7b785b1be7ad4f, 0xedb42ef6189fd163,
    0xdc905288703988f6, 0x365f9c1d2c691884, 0xc640583680d99bfe, 0x3cd4624c07593ec6,
    0x7f1ea8d85d7c5805, 0x014842d480b57149, 0x0b649bcb5a828688, 0xbcd5708ed79b18f0,
    0xe987c862fbd2f2f0, 0x982731671f0cd82c, 0xbaf13e8b16d8c063, 0x8ea3109cbd951bba,
    0xd141045bfb385cad, 0x2acbc1a0af1f7d30, 0xe6444d89df03bfdf, 0xa18cc771b8188ff9,
    0x9834429db01c39bb, 0x214add07fe086a1f, 0x8f07c19b1f6b3ff9, 0x56a297b1bf4ffe55,
    0x94d558e493c54fc7, 0x40bfc24c764552cb, 0x931a706f8a8520cb, 0x32229d322935bd52,
    0x2560d0f5dc4fefaf, 0x9dbcc48355969bb6, 0x0fd81c3985c0b56a, 0xe03817e1560f2bda,
    0xc1bb4f81d892b2d5, 0xb0c4864f4e28d2d7, 0x3ecc49f9d9d6c263, 0x51307e99b52ba65e,
    0x8af2b688da84a752, 0xf5d72523b91b20b6, 0x6d95ff1ff4634806, 0x562f21555458339a,
    0xc0ce47f889336346, 0x487823e5089b40d8, 0xe4727c7ebc6d9592, 0x5a8f7277e94970ba,
    0xfca2f406b1c8bb50, 0x5b1f8a95f1791070, 0xd304af9fc9028605, 0x5440ab7fc930e748,
    0x312d25fbca2ab5a1, 0x10f4a4b234a4d575, 0x90301d55047e7473, 0x3b6372886c61591e,
    0x293402b77c444e06, 0x451f34a4d3e97dd7, 0x3158d814d81bc57b, 0x034942425b9bda69,
    0xe2032ff9e532d9bb, 0x62ae066b8b2179e5, 0x9545e10c2f8d71d8, 0x7ff7483eb2d23fc0,
    0x00945fcebdc98d86, 0x8764bbbe99b26ca2, 0x1b1ec62284c0bfc3, 0x58e0fcc4f0aa362b,
    0x5f4abefa878d458d, 0xfd74ac2f9607c519, 0xa4e3fb37df8cbfa9, 0xbf697e43cac574e5,
    0x86f14a3f68f4cd53, 0x24a23d076f1ce522, 0xe725cd8048868cc8, 0xbf3c729eb2464362,
    0xd8f6cd57b3cc1ed8, 0x6329e52425541577, 0x62aa688ad5ae1ac0, 0x0a242566269bf845,
    0x168b1a4753aca74b, 0xf789afefff2e7e3c, 0x6c3362093b6fccdb, 0x4ce8f50bd28c09b2,
    0x006a2db95ae8aa93, 0x975b0d623c3d1a8c, 0x18605d3935338c5b, 0x5bb6f6136cad3c71,
    0x0f53a20701f8d8a6, 0xab8c5ad2e7e93c67, 0x40b5ac5127acaa29, 0x8c7bf63c2075895f,
    0x78bd9f7e014a805c, 0xb2c9e9f4f9c8c032, 0xefd6049827eb91f3, 0x2be459f482c16fbd,
    0xd92ce0c5745aaa8c, 0x0aaa8fb298d965b9, 0x2b37f92c6c803b15, 0x8c54a5e94e0f0e78,
    0x95f9b6e90c0a3032, 0xe7939faa436c7874, 0xd16bfe8f6a8a40c9, 0x44982b86263fd2fa,
    0xe285fb39f984e583, 0x779a8df72d7619d3, 0xf2d79a8de8d5dd1e, 0xd1037354d66684e2,
    0x004c82a4e668a8e5, 0x31d40a7668b044e6, 0xd70578538bd02c11, 0xdb45431078c5f482,
    0x977121bb7f6a51ad, 0x73d5ccbd34eff8dd, 0xe437a07d356e17cd, 0x47b2782043c95627,
    0x9fb251413e41d49a, 0xccd70b60652513d3, 0x1c95b31e8a1b49b2, 0xcae73dfd1bcb4c1b,
    0x34d98331b1f5b70f, 0x784e39f22338d92f, 0x18613d4a064df420, 0xf1d8dae25f0bcebe,
    0x33f77c15ae855efc, 0x3c88b3b912eb109c, 0x956a2ec96bafeea5, 0x1aa005b5e0ad0e87,
    0x5500d70527c4bb8e, 0xe36c57196421cc44, 0x13c4d286cc36ee39, 0x5654a23d818b2a81,
    0x77b1dc13d161abdc, 0x734f44de5f8d5eb5, 0x60717e174a6c89a2, 0xd47d9649266a211e,
    0x5b13a4322bb69e90, 0xf7669609f8b5fc3c, 0x21e6ac55bedcdac9, 0x9b56b62b61166dea,
    0xf48f66b939797e9c, 0x35f332f9c0e6ae9a, 0xcc733f6a9a878db0, 0x3da161e41cc108c2,
    0xb7d74ae535914d51, 0x4d493b0b11d36469, 0xce264d1dfba9741a, 0xa9d1f2dc7436dc06,
    0x70738016604c2a27, 0x231d36e96e93f3d5, 0x7666881197838d19, 0x4a2a83090aaad40c,
    0xf1e761591668b35d, 0x7363236497f730a7, 0x301080e37379dd4d, 0x502dea2971827042,
    0xc2c5eb858f32625f, 0x786afb9edfafbdff, 0xdaee0d868490b2a4, 0x617366b3268609f6,
    0xae0e35a0fe46173e, 0xd1a07de93e824f11, 0x079b8b115ea4cca8, 0x93a99274558faebb,
    0xfb1e6e22e08a03b3, 0xea635fdba3698dd0, 0xcf53659328503a5c, 0xcde3b31e6fd5d780,
    0x8e3e4221d3614413, 0xef14d0d86bf1a22c, 0xe1d830d3f16c5ddb, 0xaabd2b2a451504e1,
];

/// [`GEAR`] with every entry shifted left by one bit, used for the first
/// byte of each two-byte step (see the module docs). Derived at compile time
/// so that it cannot drift from [`GEAR`].
const GEAR_LS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < table.len() {
        table[i] = GEAR[i] << 1;
        i += 1;
    }
    table
};

/// The cut-point mask for chunks whose target size is `2^bits` bytes.
///
/// A mask with `k` bits set matches a random hash with probability `2^-k`,
/// so the mask for `2^bits` has `bits` bits set. The bits sit in the middle
/// and high part of the word, spread out rather than contiguous: the low bits
/// of a Gear hash depend on only the last few bytes, and the FastCDC authors
/// found spread masks deduplicate slightly better. The values are those of
/// the reference implementation (64 B..128 KiB) and restic's FastCDC (above),
/// as used by the `fastcdc` crate; they must match it bit for bit.
///
/// Only `7..=23` are reachable from valid parameters (avg `2^8..=2^22`, one
/// bit either side for normalization level 1). Anything else yields 0, a mask
/// that matches every position: harmless, and only reachable from parameters
/// that bypassed [`ChunkerParams::new`].
const fn mask(bits: u32) -> u64 {
    match bits {
        7 => 0x0000_0000_1803_5100,
        8 => 0x0000_0018_0003_5300,
        9 => 0x0000_0190_0035_3000,
        10 => 0x0000_5900_0353_0000,
        11 => 0x0000_d900_0353_0000,
        12 => 0x0000_d901_0353_0000,
        13 => 0x0000_d903_0353_0000,
        14 => 0x0000_d903_1353_0000,
        15 => 0x0000_d90f_0353_0000,
        16 => 0x0000_d903_0353_7000,
        17 => 0x0000_d907_0353_7000,
        18 => 0x0000_d907_0753_7000,
        19 => 0x0000_d917_0753_7000,
        20 => 0x0000_d917_4753_7000,
        21 => 0x0000_d917_6753_7000,
        22 => 0x0000_d937_6753_7000,
        23 => 0x0000_d937_7753_7000,
        _ => 0,
    }
}

/// Everything the scan needs, derived once per [`chunks`] call.
#[derive(Clone, Copy, Debug)]
struct Cutter {
    min: usize,
    avg: usize,
    max: usize,
    /// Strict mask (before `avg`) and its one-bit-left twin for the first
    /// byte of each step, whose hash carries one extra shift.
    mask_s: u64,
    mask_s_ls: u64,
    /// Loose mask (after `avg`) and its twin.
    mask_l: u64,
    mask_l_ls: u64,
}

impl Cutter {
    const fn new(params: ChunkerParams) -> Cutter {
        // `avg` is a power of two, so its exact log2 is its trailing zero
        // count (for an invalid `avg` this is merely some number in 0..=32,
        // which `mask` maps to something harmless).
        let bits = params.avg.trailing_zeros();
        // Normalization level 1: one bit stricter before `avg`, one looser
        // after. `bits` is at most 32, so neither side can overflow.
        let mask_s = mask(bits + 1);
        let mask_l = mask(bits.saturating_sub(1));
        Cutter {
            min: params.min as usize,
            avg: params.avg as usize,
            max: params.max as usize,
            mask_s,
            mask_s_ls: mask_s << 1,
            mask_l,
            mask_l_ls: mask_l << 1,
        }
    }

    /// Length of the chunk at the start of `src` (which is not empty).
    ///
    /// Always returns a value `<= src.len()`; it is `>= min` unless
    /// `src.len() <= min`.
    #[inline]
    fn cut(&self, src: &[u8]) -> usize {
        let len = src.len();
        if len <= self.min {
            return len;
        }
        let end = if len < self.max { len } else { self.max };
        let center = if end < self.avg { end } else { self.avg };
        // Candidates are tested in pairs from `min`, so each phase covers an
        // even-length run starting on an even offset; a trailing odd byte
        // before `end` is never a candidate (matching `fastcdc`).
        let start = self.min & !1;
        let switch = center & !1;
        let stop = end & !1;
        let mut hash = 0u64;
        // `get` rather than indexing: for valid parameters
        // `start <= switch <= stop <= len` always holds, and for invalid
        // ones an empty phase is an acceptable (non-panicking) outcome.
        let strict = src.get(start..switch).unwrap_or(&[]);
        if let Some(at) = scan(strict, &mut hash, self.mask_s_ls, self.mask_s) {
            return start + at;
        }
        let loose = src.get(switch..stop).unwrap_or(&[]);
        if let Some(at) = scan(loose, &mut hash, self.mask_l_ls, self.mask_l) {
            return switch + at;
        }
        // No cut point before `max` (e.g. long runs of one byte value).
        end
    }
}

/// Rolls the Gear hash over `region` two bytes per step, continuing from
/// `*hash`, and returns the offset in `region` of the first cut point.
///
/// The returned offset is that of the byte whose hash matched, so the chunk
/// ends just before it (the `fastcdc` v2020 convention, see the module docs).
#[inline(always)]
fn scan(region: &[u8], hash: &mut u64, mask_ls: u64, mask: u64) -> Option<usize> {
    // Whole pairs only; a trailing odd byte is never a candidate.
    let (pairs, _) = region.as_chunks::<2>();
    let mut h = *hash;
    for (i, &[first, second]) in pairs.iter().enumerate() {
        // Indexing by a `u8` into a 256-entry array needs no bounds check.
        let g_first = GEAR_LS[usize::from(first)];
        let shifted = h << 2;
        let h_first = shifted.wrapping_add(g_first);
        // Same value as `h_first + GEAR[second]` (wrapping addition is
        // associative), but this form keeps the loop-carried dependency to
        // one shift and one add per two bytes: the table sum is computed off
        // the critical path.
        h = shifted.wrapping_add(g_first.wrapping_add(GEAR[usize::from(second)]));
        if h_first & mask_ls == 0 {
            return Some(2 * i);
        }
        if h & mask == 0 {
            return Some(2 * i + 1);
        }
    }
    *hash = h;
    None
}

/// Iterator over the chunks of a byte string, returned by [`chunks`].
///
/// Yields byte ranges into the input: contiguous, non-empty, in order, and
/// together covering the whole input exactly. Allocates nothing.
#[derive(Clone, Debug)]
pub struct Chunks<'a> {
    data: &'a [u8],
    /// Offset of the next chunk; `data.len()` once exhausted.
    pos: usize,
    cutter: Cutter,
}

impl Iterator for Chunks<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let rest = self.data.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        // `cut` is in `1..=rest.len()` for valid parameters; clamping makes
        // termination and in-bounds ranges hold for any parameters at all.
        let len = self.cutter.cut(rest).max(1).min(rest.len());
        let start = self.pos;
        self.pos = start + len;
        Some(start..self.pos)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.data.len().saturating_sub(self.pos);
        // Chunks are non-empty; tighter bounds would only hold for valid
        // parameters.
        (usize::from(left > 0), Some(left))
    }
}

impl FusedIterator for Chunks<'_> {}

/// Splits `data` into content-defined chunks with the given parameters.
///
/// Returns an iterator of byte ranges into `data`: contiguous, covering all
/// of `data`, each at most `params.max` long and each but the last at least
/// `params.min` long. Empty `data` yields nothing; `data` no longer than
/// `params.min` yields one chunk. The boundaries are exactly those of
/// `fastcdc::v2020::FastCDC::new(data, min, avg, max)`.
pub fn chunks(data: &[u8], params: ChunkerParams) -> Chunks<'_> {
    Chunks {
        data,
        pos: 0,
        cutter: Cutter::new(params),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

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

    fn params(min: u32, avg: u32, max: u32) -> ChunkerParams {
        ChunkerParams::new(min, avg, max).expect("test parameters are valid")
    }

    fn param_sets() -> [ChunkerParams; 5] {
        [
            DEFAULT_PARAMS,
            params(256, 1024, 4096),
            params(2048, 8192, 65536),
            params(1024, 1024, 1024),
            params(64, 4096, 1 << 20),
        ]
    }

    /// Checks the structural guarantees of [`chunks`] and returns the ranges.
    fn checked_chunks(data: &[u8], p: ChunkerParams) -> Vec<Range<usize>> {
        let ranges: Vec<_> = chunks(data, p).collect();
        let mut next = 0;
        for (i, r) in ranges.iter().enumerate() {
            assert_eq!(r.start, next, "chunk {i} is not contiguous");
            assert!(r.end > r.start, "chunk {i} is empty");
            let len = r.end - r.start;
            assert!(len <= p.max as usize, "chunk {i} longer than max: {len}");
            if i + 1 < ranges.len() {
                assert!(len >= p.min as usize, "chunk {i} shorter than min: {len}");
            }
            next = r.end;
        }
        assert_eq!(next, data.len(), "chunks do not cover the input");
        ranges
    }

    #[test]
    fn empty_input_yields_no_chunks() {
        for p in param_sets() {
            assert_eq!(chunks(&[], p).next(), None);
        }
    }

    #[test]
    fn input_up_to_min_is_one_chunk() {
        for p in param_sets() {
            let min = p.min as usize;
            for len in [1, min / 2, min - 1, min] {
                let data = random_bytes(len, 7);
                let mut it = chunks(&data, p);
                assert_eq!(it.next(), Some(0..len), "len {len}, {p:?}");
                assert_eq!(it.next(), None, "len {len}, {p:?}");
            }
        }
    }

    #[test]
    fn chunks_are_contiguous_covering_and_sized() {
        for p in param_sets() {
            for (len, seed) in [(65, 1), (1000, 2), (4097, 3), (100_000, 4), (300_001, 5)] {
                checked_chunks(&random_bytes(len, seed), p);
            }
        }
    }

    #[test]
    fn random_data_is_cut_between_min_and_max() {
        // On random data most cuts come from the hash, not from `max`:
        // the average chunk should land within a factor of two of `avg`.
        for p in param_sets().into_iter().filter(|p| p.min < p.max) {
            let data = random_bytes(1 << 21, 11);
            let ranges = checked_chunks(&data, p);
            let mean = data.len() / ranges.len();
            let avg = p.avg as usize;
            assert!(mean > avg / 2 && mean < avg * 2, "{p:?}: mean {mean}");
        }
    }

    #[test]
    fn uniform_data_is_cut_at_max() {
        // A run of one byte value never matches the mask; `max` bounds it.
        let data = [0u8; 5000];
        let ranges = checked_chunks(&data, DEFAULT_PARAMS);
        assert_eq!(
            ranges,
            [0..1024, 1024..2048, 2048..3072, 3072..4096, 4096..5000]
        );
    }

    #[test]
    fn iterator_is_fused() {
        let data = random_bytes(3000, 9);
        let mut it = chunks(&data, DEFAULT_PARAMS);
        while it.next().is_some() {}
        assert_eq!(it.next(), None);
        assert_eq!(it.size_hint(), (0, Some(0)));
    }

    #[test]
    fn params_validation() {
        assert_eq!(
            DEFAULT_PARAMS,
            ChunkerParams {
                min: 64,
                avg: 256,
                max: 1024
            }
        );
        // Boundary values that are valid.
        assert!(ChunkerParams::new(64, 256, 1024).is_some());
        assert!(ChunkerParams::new(1 << 20, 4 << 20, 16 << 20).is_some());
        assert!(ChunkerParams::new(1024, 1024, 1024).is_some());
        assert!(ChunkerParams::new(2048, 8192, 65534).is_some());
        let invalid = [
            (62, 256, 1024),                    // min below 64
            (65, 256, 1024),                    // min odd
            ((1 << 20) + 2, 4 << 20, 16 << 20), // min above 1 MiB
            (64, 128, 1024),                    // avg below 256
            (64, 768, 1024),                    // avg not a power of two
            (64, 8 << 20, 16 << 20),            // avg above 4 MiB
            (64, 256, 1022),                    // max below 1024
            (64, 256, 1025),                    // max odd
            (64, 256, (16 << 20) + 2),          // max above 16 MiB
            (512, 256, 1024),                   // min > avg
            (64, 2048, 1024),                   // avg > max
            (0, 0, 0),
            (u32::MAX, u32::MAX, u32::MAX),
        ];
        for (min, avg, max) in invalid {
            assert_eq!(ChunkerParams::new(min, avg, max), None, "{min}/{avg}/{max}");
        }
    }

    #[test]
    fn invalid_params_never_panic_or_stall() {
        // The fields are public, so the invariants can be bypassed; the
        // iterator must still terminate with non-empty covering ranges.
        let data = random_bytes(20_000, 13);
        let bogus = [
            ChunkerParams {
                min: 0,
                avg: 0,
                max: 0,
            },
            ChunkerParams {
                min: 1,
                avg: 3,
                max: 1,
            },
            ChunkerParams {
                min: 5000,
                avg: 256,
                max: 100,
            },
            ChunkerParams {
                min: 0,
                avg: 1 << 31,
                max: u32::MAX,
            },
            ChunkerParams {
                min: u32::MAX,
                avg: u32::MAX,
                max: u32::MAX,
            },
        ];
        for p in bogus {
            let mut next = 0;
            for r in chunks(&data, p) {
                assert_eq!(r.start, next);
                assert!(r.end > r.start && r.end <= data.len());
                next = r.end;
            }
            assert_eq!(next, data.len(), "{p:?}");
        }
    }

    #[test]
    fn gear_table_is_md5_of_filled_blocks() {
        use md5::{Digest, Md5};
        for (i, &entry) in GEAR.iter().enumerate() {
            let byte = u8::try_from(i).expect("256 entries");
            let digest = Md5::digest([byte; 64]);
            let mut high = [0u8; 8];
            high.copy_from_slice(&digest[..8]);
            assert_eq!(entry, u64::from_be_bytes(high), "GEAR[{i}]");
        }
    }

    #[test]
    fn gear_ls_is_gear_shifted_left() {
        for (g, g_ls) in GEAR.iter().zip(GEAR_LS.iter()) {
            assert_eq!(*g_ls, g << 1);
        }
    }

    #[test]
    fn masks_have_one_bit_per_doubling() {
        // A mask for 2^bits-byte chunks matches with probability 2^-bits.
        for bits in 7..=23 {
            assert_eq!(mask(bits).count_ones(), bits, "mask({bits})");
        }
        assert_eq!(mask(6), 0);
        assert_eq!(mask(24), 0);
    }
}
