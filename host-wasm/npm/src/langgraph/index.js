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
//   checkpoint     -> the rewind state: the envelope, version 2 (content type
//                     application/vnd.langgraph.checkpoint.v2+json): the checkpoint without its
//                     id and channel_values, as plain JSON written without the serde (it holds
//                     only versions, ids and names): { v, ts, cv: channel_versions,
//                     vs: versions_seen, p: parent id, a, i, e, o, ma } (saver.js has the
//                     layout). Envelopes of version 1 (serde.dumpsTyped({ checkpoint, metadata,
//                     parent, blobs, inline, values }), content type
//                     application/vnd.langgraph.checkpoint+json or "; serde=<tag>") are read as
//                     before; test/fixtures holds a golden store of each version.
//   channel values -> a value lives with the checkpoint whose put() listed the channel in
//                     newVersions: null, booleans, finite numbers and strings of at most 64
//                     characters as themselves in the envelope ("e", copied to children that
//                     keep them); other values serialised once with serde.dumpsTyped, in the
//                     envelope as their JSON text when that is at most 512 bytes ("i"), else as
//                     the attachment "c:<channel>" (type tag in the content type:
//                     application/json for "json"), written in the checkpoint's transaction and
//                     sharing its chunk-list prefix with the previous version (a growing message
//                     list logs its new messages only). Later checkpoints that keep the value
//                     name its holder ("o": channel -> rewind id), and reads take it from there.
//                     A channel the checkpoint has but neither lists in newVersions nor shares
//                     with its parent (same version) is stored too when the thread and
//                     namespace stored that channel at that version before (a copy of a sibling:
//                     updateState(config, undefined, "__copy__")): the value given, its chunks
//                     shared with the earlier one. An index of the stored (channel, version)s,
//                     built from the envelopes the first time a put needs it, answers that. A
//                     channel at a version stored nowhere is not invented: as in LangGraph's
//                     delta savers (Postgres), newVersions says what is new.
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
//   metadata       -> the rewind metadata, when that holds it exactly (plain JSON the serde
//                     would read back the same, at most 32 KiB, no key of the saver's own);
//                     otherwise serialised with the serde into the attachment "m:" ("ma" in the
//                     envelope), and mirrored into the rewind metadata as far as it can be (for
//                     rewind's queries and tools; lone surrogates shown as U+FFFD; only source
//                     and step when the whole cannot be). Tags "langgraph:<source>" and the
//                     message "<source> step <n>" make the checkpoints readable in rewind's own
//                     tools.
//   the same id    -> a put of an id the thread and namespace already have replaces that
//     again           checkpoint, as in MemorySaver: the new one (with a new rewind id, the
//                     LangGraph id in "langgraph:checkpoint_id") keeps the old one's pending
//                     writes; the old one is deleted once the new one is stored, or, when rewind
//                     children still take values from it, stays in the store out of LangGraph's
//                     sight (where a thread has two checkpoints with one LangGraph id, the newer
//                     is the one LangGraph sees). A put or putWrites of a checkpoint waits for
//                     the ones before it.
//
// LangGraph's newer saver methods: getDeltaChannelHistory walks the stored envelopes and write
// names once (the default walks getTuple per ancestor); prune, copyThread and deleteForRuns
// (declared by LangGraph's Python base, rewind extensions here) remove through rewind's
// compaction after copying values that staying checkpoints take from removed ones, and keep
// the ancestors a staying checkpoint's delta channels replay (named by LangGraph in its
// metadata, counters_since_delta_snapshot) back to their snapshots.
//
// A per-store catalogue (thread -> namespace -> checkpoint ids, sorted) answers "latest" and
// list() in LangGraph's order (checkpoint id descending) without asking the engine for checkpoint
// objects. It is built from store.list() once per session and kept current by put() and by the
// store's events (deletions, compaction, reloads, checkpoints made by others). list() reads each
// page of checkpoints (8, then twice as many, up to 64) in three store calls: their envelopes
// (store.statesOf), the values they name and their pending writes (store.attachmentsOf).

export { RewindSaver } from "./saver.js";
