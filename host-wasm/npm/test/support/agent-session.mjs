// One process's agent run (spawned by openai-agents.test.mjs): a real @openai/agents Agent with a
// tool, its model the openai client pointed at the local Responses server, its session a
// RewindSession on a file store. Prints the run's final output and the session's items as JSON.
//
//   node test/support/agent-session.mjs <store dir> <base URL> <session id> <prompt>

import { Agent, OpenAIResponsesModel, run, setTracingDisabled, tool } from "@openai/agents";
import OpenAI from "openai";
import { z } from "zod";
import { Store } from "rewind-store";
import { RewindSession } from "rewind-store/openai-agents";

export function buildAgent(baseURL) {
  const client = new OpenAI({ apiKey: "sk-local-test", baseURL, maxRetries: 0 });
  const clock = tool({
    name: "clock",
    description: "The current time.",
    parameters: z.object({}),
    execute: async () => "12:00",
  });
  return new Agent({ name: "Support", instructions: "Answer briefly.", model: new OpenAIResponsesModel(client, "gpt-local"), tools: [clock] });
}

const [dir, baseURL, sessionId, prompt] = process.argv.slice(2);
// `node --test test/` also loads this file: without arguments there is nothing to run.
if (import.meta.url === `file://${process.argv[1]}` && dir !== undefined) {
  setTracingDisabled(true);
  const store = await Store.open({ backend: "file", path: dir });
  const session = new RewindSession(store, { sessionId });
  const result = await run(buildAgent(baseURL), prompt, { session });
  console.log(JSON.stringify({ output: result.finalOutput, items: await session.getItems() }));
  await store.close();
}
