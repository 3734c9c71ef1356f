// LangGraph stores written by earlier versions of RewindSaver stay readable: each golden store in
// test/fixtures (written by test/support/langgraph-golden.mjs with the saver of its version)
// answers getTuple() and list() as it did when it was written.
//
//   node --test test/langgraph-format.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { Store } from "rewind-store";
import { RewindSaver } from "rewind-store/langgraph";

import { answers } from "./support/langgraph-golden.mjs";

/**
 * Golden stores by envelope version: v1, the envelope serialised with the serde, metadata and
 * small values copied into every envelope; v2, the envelope as plain JSON, metadata in rewind's,
 * values of at most 512 bytes in the envelope of the checkpoint that wrote them.
 */
const VERSIONS = ["v1", "v2"];

for (const version of VERSIONS) {
  test(`a store written with envelope ${version} reads as it did`, async () => {
    const dir = new URL("./fixtures/", import.meta.url);
    const log = new Uint8Array(readFileSync(new URL(`langgraph-${version}.log`, dir)));
    const expected = JSON.parse(readFileSync(new URL(`langgraph-${version}.json`, dir), "utf8"));
    const saver = new RewindSaver(Store.memory({ log }));
    assert.deepEqual(await answers(saver), expected);
    assert.equal((await saver.store.verify()).ok, true);
  });
}
