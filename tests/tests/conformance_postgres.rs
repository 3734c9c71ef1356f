//! The conformance suite against stores on PostgreSQL (a throwaway server this test process
//! starts): the same scenarios, and the same transcript as the in-memory reference.

rewind_core::conformance_tests!(rewind_tests::PgHarness);

/// The scripted run gives the golden transcript on PostgreSQL too.
#[test]
fn transcript_matches_the_golden_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/transcript.txt");
    let golden = std::fs::read_to_string(&path).expect("tests/golden/transcript.txt");
    let here = rewind_core::conformance::transcript(&mut rewind_tests::PgHarness);
    assert_eq!(
        here, golden,
        "the store on PostgreSQL drifted from the reference"
    );
}
