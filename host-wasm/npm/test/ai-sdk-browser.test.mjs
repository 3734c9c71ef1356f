// The AI SDK example app (examples/ai-sdk-chat: React, `useChat` from @ai-sdk/react, chats in
// IndexedDB through rewind-store/ai-sdk) in a real headless Chromium (Debian's /usr/bin/chromium
// driven by playwright-core): send, regenerate (a fork), reload the page, switch branch, reload
// again; everything comes back from IndexedDB.
//
//   node --test test/ai-sdk-browser.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { startServer } from "../examples/ai-sdk-chat/server.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let app;
let profile;
before(async () => {
  app = await startServer();
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-chromium-ai-sdk-"));
});
after(async () => {
  await app?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

/** The messages on the page: [role, text]. */
const messagesOf = (page) => page.$$eval('[data-testid="message"]', (nodes) => nodes.map((n) => [n.dataset.role, n.textContent]));
/** The branch buttons: [current, text, checkpoint]. */
const branchesOf = (page) =>
  page.$$eval('[data-testid="branch"]', (nodes) => nodes.map((n) => [n.dataset.current === "true", n.textContent, n.dataset.checkpoint]));

async function waitFor(page, what, predicate) {
  const deadline = Date.now() + 30_000;
  let last;
  while (Date.now() < deadline) {
    last = await what(page);
    if (predicate(last)) return last;
    await page.waitForTimeout(50);
  }
  assert.fail(`timed out; last seen: ${JSON.stringify(last)}`);
}

async function send(page, text, saves) {
  await page.fill('[data-testid="input"]', text);
  await page.click('[data-testid="send"]');
  await waitFor(page, (p) => p.textContent('[data-testid="saves"]'), (n) => Number(n) === saves);
}

test("useChat with chats in IndexedDB: send, regenerate, reload, switch branch", async () => {
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    const url = `${app.url}?chat=browser-chat`;
    await page.goto(url);
    await page.waitForSelector('[data-testid="input"]');
    assert.deepEqual(await messagesOf(page), []);

    await send(page, "hello", 1);
    await send(page, "what is rewind?", 2);
    assert.deepEqual(await messagesOf(page), [
      ["user", "hello"],
      ["assistant", "Answer 1 to: hello"],
      ["user", "what is rewind?"],
      ["assistant", "Answer 2 to: what is rewind?"],
    ]);

    // Regenerate the last answer: a fork; both versions are branches.
    await page.click('[data-testid="regenerate"]');
    await waitFor(page, (p) => p.textContent('[data-testid="saves"]'), (n) => Number(n) === 3);
    const regenerated = await messagesOf(page);
    assert.deepEqual(regenerated.at(-1), ["assistant", "Answer 3 to: what is rewind?"]);
    let branches = await waitFor(page, branchesOf, (b) => b.length === 2);
    assert.deepEqual(
      branches.map(([current, text]) => [current, text]),
      [
        [true, "● 4 messages: Answer 3 to: what is rewind?"],
        [false, "○ 4 messages: Answer 2 to: what is rewind?"],
      ],
    );

    // Reload: the chat comes back from IndexedDB, on the regenerated branch.
    await page.reload();
    await page.waitForSelector('[data-testid="input"]');
    assert.deepEqual(await waitFor(page, messagesOf, (m) => m.length === 4), regenerated);
    branches = await waitFor(page, branchesOf, (b) => b.length === 2);

    // Switch to the first answer's branch, reload: still there.
    await page.click(`[data-checkpoint="${branches[1][2]}"]`);
    const first = await waitFor(page, messagesOf, (m) => m.at(-1)?.[1] === "Answer 2 to: what is rewind?");
    await waitFor(page, branchesOf, (b) => b.find(([current]) => current)?.[2] === branches[1][2]);
    await page.reload();
    await page.waitForSelector('[data-testid="input"]');
    assert.deepEqual(await waitFor(page, messagesOf, (m) => m.length === 4), first);

    // Continue on that branch: it grows, the regenerated one stays.
    await send(page, "thanks", 1);
    assert.deepEqual((await messagesOf(page)).slice(4), [
      ["user", "thanks"],
      ["assistant", "Answer 4 to: thanks"],
    ]);
    branches = await waitFor(page, branchesOf, (b) => b.length === 2 && b[0][1].startsWith("● 6"));
    assert.equal(branches[1][1], "○ 4 messages: Answer 3 to: what is rewind?");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
