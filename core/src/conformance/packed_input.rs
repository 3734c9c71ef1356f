//! The checks of the `packed` fuzz target, shared with the test that replays its seeds and
//! crashers: arbitrary bytes read as each packed form of the [`api`](crate::api) layer — a
//! checkpoint to create and a list of strings (what a binding hands the engine), a summary page
//! (what a host reads back from the sandbox component).

use alloc::string::ToString;
use alloc::vec::Vec;

use crate::api::{Summaries, unpack_checkpoint, unpack_strings, unpack_summaries};
use crate::{DeterministicEnv, MemoryBackend, Options, Store};

/// Reads `data` as every packed form. Each read returns a value or an error and never panics;
/// what a read accepts is whole:
/// - a packed checkpoint splits into its state and attachments, and creating it in a store
///   either succeeds or fails with the store unchanged;
/// - a string list's strings, and a summary page's messages and tags, lie inside `data`;
/// - a summary page accepted in place holds as many checkpoints as it says, and reads back the
///   same owned.
pub fn assert_packed_input_handled(data: &[u8]) {
    let inside = data.as_ptr_range();
    let within = |s: &str| s.is_empty() || inside.contains(&s.as_ptr());

    if let Ok((input, rest)) = unpack_checkpoint(data)
        && let Ok((state, attachments)) = input.split(rest)
    {
        let (mut store, _) = Store::open(
            MemoryBackend::new(),
            DeterministicEnv::new(),
            Options::default(),
        )
        .expect("an empty store opens");
        let session = store
            .create_session("fuzz", Default::default())
            .expect("a session");
        // Into the session the input names, and into the store's own (so a write is reached).
        let mut own = input.clone();
        own.session = session.to_string();
        for input in [input, own] {
            let before = store.metrics().checkpoints;
            let made = input
                .into_new(state, &attachments)
                .and_then(|new| store.checkpoint(new).map(|cp| cp.id));
            match made {
                Ok(id) => assert_eq!(store.state(id).expect("its state reads back"), state),
                Err(_) => assert_eq!(store.metrics().checkpoints, before, "nothing stored"),
            }
        }
    }

    if let Ok(strings) = unpack_strings(data) {
        assert!(strings.iter().all(|s| within(s)));
    }

    match Summaries::new(data) {
        Ok(page) => {
            let read: Vec<_> = page.iter().collect();
            assert_eq!(read.len(), page.len());
            for s in &read {
                assert!(within(s.message) && s.tags.clone().all(within));
            }
            let owned = unpack_summaries(data).expect("the same bytes read owned");
            assert_eq!(owned.len(), read.len());
            for (o, s) in owned.iter().zip(&read) {
                assert_eq!(*o, s.to_owned());
            }
        }
        Err(_) => assert!(unpack_summaries(data).is_err()),
    }
}
