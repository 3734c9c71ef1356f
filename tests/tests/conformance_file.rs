//! The conformance suite against the native file backend: the same scenarios, the same
//! transcript as the in-memory reference.

rewind_core::conformance_tests!(rewind_tests::FileHarness::default());
