// The README's JavaScript examples run as tests: the Node.js one here, the browser one in
// browser.test.mjs. An example that stops working fails the build.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { readmeExample } from "./support/readme.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

test("the README's Node.js example runs and prints what it says", () => {
  // Inside the package, `import "rewind-store"` resolves to the package itself.
  const file = path.join(here, "readme-node.tmp.mjs");
  fs.writeFileSync(file, readmeExample("node"));
  try {
    const out = execFileSync(process.execPath, [file], { encoding: "utf8" });
    const lines = out.trim().split("\n");
    assert.match(out, /1 first/);
    assert.match(out, /2 second/);
    assert.ok(lines.includes("true CHECKPOINT_NOT_FOUND"), out);
    assert.equal(lines.at(-1), "true");
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test("the README's Node.js file-store example runs and prints what it says", () => {
  const file = path.join(here, "readme-node-files.tmp.mjs");
  fs.writeFileSync(file, readmeExample("node-files"));
  // The example keeps its store under os.tmpdir(): here, a directory removed afterwards.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-readme-"));
  try {
    const out = execFileSync(process.execPath, [file], { encoding: "utf8", env: { ...process.env, TMPDIR: tmp } });
    assert.equal(out.trim(), "planned");
    assert.ok(fs.readdirSync(tmp).length === 1, "the store was written where the example says");
  } finally {
    fs.rmSync(file, { force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("the README's AI SDK and OpenAI Agents examples run and print what they say", () => {
  for (const [name, expected] of [
    ["ai-sdk", ["forked", "* Version control for agent state.", "- A checkpoint store.", "A checkpoint store."]],
    ["openai-agents", ["1 It is noon.", "2"]],
  ]) {
    const file = path.join(here, `readme-${name}.tmp.mjs`);
    fs.writeFileSync(file, readmeExample(name));
    try {
      const out = execFileSync(process.execPath, [file], { encoding: "utf8" });
      assert.deepEqual(out.trim().split("\n"), expected, name);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
});
