// RewindSaver: a LangGraph.js checkpoint saver (BaseCheckpointSaver) over a rewind store.
//
// Imported as "rewind-store/langgraph"; the core package never imports LangGraph. The folder:
// names.js (how LangGraph names become rewind ids, keys, namespaces and content types),
// config.js (reading a RunnableConfig), metadata.js (LangGraph metadata mirrored for rewind
// and list() filters), catalogue.js (thread -> namespace -> checkpoint ids, shared by every
// saver on a store), saver.js (the saver: reads, and puts planned then written).
//
// Mapping
//   thread_id      -> a rewind session. Its id is derived: uuid5("thread:" + thread_id) in a fixed
//                     namespace, so the same thread finds the same session in every store and tab
//                     (no name table to keep in sync). The session is named after the thread and
//                     its metadata holds { langgraph_thread_id }.
//   checkpoint_ns  -> the rewind checkpoint's namespace ("" is the root graph).
//   checkpoint id  -> the rewind checkpoint id, as given (LangGraph's uuid6 ids are UUIDs, which
//                     rewind accepts). An id that is not a canonical UUID, or that another thread
//                     or namespace already uses (rewind ids are store-wide), is stored under
//                     uuid5(JSON [thread, ns, id]) with the original in the rewind metadata key
//                     "langgraph:checkpoint_id" (which LangGraph metadata cannot set).
//   parent         -> the rewind parent, so LangGraph forks (time travel) are rewind branches.
//   checkpoint     -> the rewind state: serde.dumpsTyped({ checkpoint without channel_values,
//                     metadata, parent, blobs }), the serde type tag in the content type
//                     (application/vnd.langgraph.checkpoint+json for "json",
//                     application/vnd.langgraph.checkpoint; serde=<tag> otherwise).
//   channel values -> attachments "c:<channel>" on the checkpoint whose put() listed the channel in
//                     newVersions, each serialised once with serde.dumpsTyped (type tag in the
//                     content type: application/json for "json"), written in the checkpoint's
//                     transaction and sharing its chunk-list prefix with the previous version
//                     (a growing message list logs its new messages only). `blobs` maps every
//                     channel to the checkpoint holding its value; later checkpoints point at
//                     it, and reads rebuild channel_values from those attachments. Small values
//                     live in the envelope instead, copied to children that keep them: null,
//                     booleans, finite numbers and strings of at most 64 characters as
//                     themselves in its `values` map (serialised with the envelope, no serde
//                     call of their own), other values whose serialised JSON is at most 64
//                     bytes as that text in its `inline` map. A channel the checkpoint has but
//                     neither lists in newVersions nor shares with its parent (same version) is
//                     stored too when the thread and namespace stored that channel at that
//                     version before (a copy of a sibling: updateState(config, undefined,
//                     "__copy__")): the value given, its chunks shared with the earlier one. An
//                     index of the stored (channel, version)s, built from the envelopes the first
//                     time a put needs it, answers that. A channel at a version stored nowhere is
//                     not invented: as in LangGraph's delta savers (Postgres), newVersions says
//                     what is new.
//   pending writes -> attachments 'w:["<task_path>","<task_id>",<idx>,"<channel>"]' on their
//                     checkpoint, returned in LangGraph's writesSortKey order.
//   long names     -> rewind limits keys and namespaces to 256 bytes: longer channel names use the
//                     key "c#<uuid5>", longer write keys "w#<uuid5>" (their text in "k#<uuid5>"),
//                     longer namespaces "#<uuid5>" (the original in the rewind metadata key
//                     "langgraph:checkpoint_ns").
//   odd strings    -> JavaScript strings may hold lone surrogates (text cut inside an emoji);
//                     rewind's are UTF-8. Thread ids, namespaces, channel names and ids holding
//                     them are derived names as above (uuid5 of their JSON text), and the
//                     originals are kept in rewind metadata as JSON text under "<key>~json".
//                     Everything round-trips exactly through the saver.
//   metadata       -> in the serialised state (exact round trip through serde) and, as JSON, in
//                     the rewind metadata (for rewind queries and tools; lone surrogates shown as
//                     U+FFFD; only source and step when the whole cannot be mirrored). Metadata
//                     the envelope's JSON cannot hold (a BigInt, a cycle) is serialised on its
//                     own into the attachment "m:", so the serde's answer for it (LangGraph's
//                     replaces it with a placeholder) spoils nothing else. Tags
//                     "langgraph:<source>" and the message "<source> step <n>" make the
//                     checkpoints readable in rewind's own tools.
//   the same id    -> a put of an id the thread and namespace already have replaces that
//     again           checkpoint, as in MemorySaver: the new one (with a new rewind id, the
//                     LangGraph id in "langgraph:checkpoint_id") keeps the old one's pending
//                     writes; the old one is deleted once the new one is stored, or, when rewind
//                     children still take values from it, stays in the store out of LangGraph's
//                     sight (where a thread has two checkpoints with one LangGraph id, the newer
//                     is the one LangGraph sees). A put or putWrites of a checkpoint waits for
//                     the ones before it.
//
// A per-store catalogue (thread -> namespace -> checkpoint ids, sorted) answers "latest" and
// list() in LangGraph's order (checkpoint id descending) without asking the engine for checkpoint
// objects. It is built from store.list() once per session and kept current by put() and by the
// store's events (deletions, compaction, reloads, checkpoints made by others).

export { RewindSaver } from "./saver.js";
