//! The conformance suite against core's own `MemoryBackend`.

rewind_core::conformance_tests!(rewind_core::conformance::MemoryHarness);
