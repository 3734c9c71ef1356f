// A scripted language model for the example and the tests: the AI SDK's own MockLanguageModelV3
// (from `ai/test`), streaming an answer that names the question and counts the calls, so a
// regenerated answer differs from the first. No network, no API key.

import { simulateReadableStream } from "ai";
import { MockLanguageModelV3 } from "ai/test";

/** The text of the last user message in a model prompt. */
function lastUserText(prompt) {
  const user = prompt.findLast((message) => message.role === "user");
  return (user?.content ?? [])
    .filter((part) => part.type === "text")
    .map((part) => part.text)
    .join(" ");
}

/**
 * A model answering "Answer <n> to: <question>" (or what `reply(question, n)` returns), streamed
 * in pieces.
 */
export function scriptedModel({ reply = (question, n) => `Answer ${n} to: ${question}` } = {}) {
  let calls = 0;
  return new MockLanguageModelV3({
    doStream: async ({ prompt }) => {
      calls += 1;
      const text = reply(lastUserText(prompt), calls);
      // Streamed in pieces of 64 characters, as models stream tokens.
      const words = [];
      for (let i = 0; i < text.length; i += 64) words.push(text.slice(i, i + 64));
      return {
        stream: simulateReadableStream({
          // No timer between chunks (the default waits a macrotask for each).
          initialDelayInMs: null,
          chunkDelayInMs: null,
          chunks: [
            { type: "text-start", id: "t" },
            ...words.map((delta) => ({ type: "text-delta", id: "t", delta })),
            { type: "text-end", id: "t" },
            {
              type: "finish",
              finishReason: { unified: "stop", raw: undefined },
              usage: {
                inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
                outputTokens: { total: words.length, text: words.length, reasoning: undefined },
              },
            },
          ],
        }),
      };
    },
  });
}
