//! The binding-neutral API: what every binding of the engine passes in and hands out.
//!
//! The JavaScript package, the WebAssembly component and the CLI's `--json` output all go
//! through this module, so the model is mapped once:
//!
//! - [`input`]: serde-deserialisable inputs (a checkpoint to create, a query, a retention
//!   policy, store options) and their conversions into the engine's types;
//! - [`view`]: serde-serialisable views of what the engine returns (types that serialise as
//!   they are — `Session`, `Metrics`, `Health`, `OpCounters`, `CompactionReport`,
//!   `ImportReport` — derive
//!   `Serialize` with this feature instead);
//! - [`SnakeCase`]: the same views with snake_case field names, for hosts whose convention
//!   that is (the CLI).
//!
//! Field names are camelCase, ids and hashes are strings, every enum crosses as its stable
//! name (`as_str`: `tooOld`, `chunkMismatch`, `automatic`), and errors as their
//! [code](crate::Error::code) and [kind](crate::Error::kind). Behind the `api` feature.

mod case;
pub mod input;
pub mod packed;
pub mod view;

pub use case::SnakeCase;
pub use input::{
    AttachmentInput, CheckpointInput, OptionsInput, QueryInput, RetentionInput, TriggerInput,
    parse_checkpoint_id, parse_session_id, parse_session_list, parse_severity, parse_trigger_kind,
};
pub use packed::{
    PACKED_LAYOUT, Summaries, Summary, SummaryFields, SummaryIter, SummaryRef, Tags,
    pack_summaries, unpack_checkpoint, unpack_strings, unpack_summaries,
};
pub use view::{
    AnnotationView, BriefPageView, BriefView, CheckpointView, DiffView, EventView, Kept,
    MessageChange, MetricsView, PageView, PlanView, Removal, TriggerView, VerifyErrorView,
    VerifyView,
};
