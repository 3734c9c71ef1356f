// Reads the code examples out of the root README (shared by the README tests).

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** The code block that follows `<!-- example: NAME -->` in the root README. */
export function readmeExample(name) {
  const readme = fs.readFileSync(path.resolve(here, "../../../../README.md"), "utf8");
  const marker = `<!-- example: ${name} -->`;
  const at = readme.indexOf(marker);
  assert.ok(at >= 0, `the README has the ${name} example`);
  const start = readme.indexOf("```js\n", at) + "```js\n".length;
  const end = readme.indexOf("```", start);
  return readme.slice(start, end);
}

