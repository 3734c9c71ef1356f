// A LangGraph.js agent whose checkpoints are a file store, in a process of its own, for the
// kill-and-restart test (test/langgraph.test.mjs):
//
//   node test/support/agent-on-files.mjs <dir> ask      asks "What is 6 times 7?"; the graph stops
//                                                       before the tool; prints "interrupted",
//                                                       then waits to be killed
//   node test/support/agent-on-files.mjs <dir> resume   prints what the restarted agent finds
//                                                       ("next <node>"), resumes it and prints
//                                                       "answer <text>" and "history <n>"

import { HumanMessage } from "@langchain/core/messages";
import { RewindSaver } from "../../dist/node/langgraph/index.js";
import { buildAgent } from "./agent.mjs";

const [dir, phase] = process.argv.slice(2);
// `node --test test/` also loads this file: without arguments there is nothing to run.
if (dir === undefined) process.exit(0);

const saver = await RewindSaver.open({ backend: "file", path: dir, lock: "wait" });
const agent = buildAgent(saver, { interruptBefore: ["tools"] });
const config = { configurable: { thread_id: "killed" } };
if (phase === "ask") {
  await agent.invoke({ messages: [new HumanMessage("What is 6 times 7?")] }, config);
  process.stdout.write("interrupted\n");
  // Killed here, with the store open (SIGKILL: nothing is closed).
  setInterval(() => {}, 1000);
} else {
  const state = await agent.getState(config);
  process.stdout.write(`next ${state.next.join(",")}\n`);
  const done = await agent.invoke(null, config);
  process.stdout.write(`answer ${done.messages.at(-1).content}\n`);
  let history = 0;
  for await (const _ of agent.getStateHistory(config)) history++;
  process.stdout.write(`history ${history}\n`);
  await saver.store.close();
}
