//! Arbitrary bytes as each packed form of the binding layer — a checkpoint to create, a list of
//! strings, a summary page read in place — an error or a whole value, never a panic
//! (`rewind_core::conformance::assert_packed_input_handled`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rewind_core::conformance::assert_packed_input_handled(data);
});
