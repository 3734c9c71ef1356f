// A child process for the SIGKILL test of file stores (test/files.test.mjs): writes checkpoints
// to the file store in `dir` under strict durability and prints `ok <n> <id> <hash>` once each
// write's promise resolved, so the parent knows exactly which were acknowledged when it kills
// this process, and `doomed <id>` for each checkpoint a compaction is about to remove. The
// state of checkpoint n is { n, pad } (a few hundred bytes).
//
//   node test/support/file-writer.mjs <dir> <first n>

import { Store } from "../../dist/node/index.js";

const [dir, first] = process.argv.slice(2);
// `node --test test/` also loads this file, as it loads every module under test/: without
// arguments there is nothing to write.
if (dir === undefined) process.exit(0);
// The killed writer before this one freed the lock by dying; wait for it all the same.
const store = await Store.open({ backend: "file", path: dir, lock: "wait", segmentBytes: 64 * 1024 });
const session = store.sessions()[0]?.id ?? (await store.createSession("killed"));
process.stdout.write("started\n");
for (let n = Number(first); ; n++) {
  // Now and then a compaction, so kills land in log rewrites too. What it may remove is said
  // first (`doomed <id>`): those may be gone after a kill, whether or not it finished.
  if (n % 50 === 49) {
    const policy = { keepLast: 1000 };
    for (const { id } of store.planCompaction(policy).remove) process.stdout.write(`doomed ${id}\n`);
    await store.compact(policy);
  }
  const cp = await store.checkpoint({ session, message: `n${n}`, state: { n, pad: "p".repeat(200 + (n % 300)) } });
  process.stdout.write(`ok ${n} ${cp.id} ${cp.hash}\n`);
}
