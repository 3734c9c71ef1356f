// A real tool-calling LangGraph.js agent with a scripted chat model (no network), shared by
// the saver tests (test/langgraph.test.mjs) and the process that is killed and restarted
// (test/support/agent-on-files.mjs).

import { StateGraph, MessagesAnnotation, START, END } from "@langchain/langgraph";
import { ToolNode, toolsCondition } from "@langchain/langgraph/prebuilt";
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { z } from "zod";

/**
 * A chat model with a script: asks for `multiply` on the first human turn of each question, then
 * answers from the tool's result. Deterministic; no network.
 */
export class ScriptedToolModel extends BaseChatModel {
  calls = 0;
  _llmType() {
    return "scripted-tool-model";
  }
  bindTools() {
    return this;
  }
  async _generate(messages) {
    this.calls++;
    const last = messages[messages.length - 1];
    let message;
    if (last instanceof ToolMessage || last?._getType?.() === "tool") {
      message = new AIMessage(`The answer is ${last.content}.`);
    } else {
      const text = String(last.content);
      const [a, b] = (text.match(/-?\d+/g) ?? ["6", "7"]).map(Number);
      message = new AIMessage({
        content: "",
        tool_calls: [{ name: "multiply", args: { a, b }, id: `call_${a}_${b}`, type: "tool_call" }],
      });
    }
    return { generations: [{ text: String(message.content), message }] };
  }
}

const multiply = tool(async ({ a, b }) => String(a * b), {
  name: "multiply",
  description: "Multiplies two numbers.",
  schema: z.object({ a: z.number(), b: z.number() }),
});

export function buildAgent(checkpointer, options = {}) {
  const model = new ScriptedToolModel({}).bindTools([multiply]);
  const graph = new StateGraph(MessagesAnnotation)
    .addNode("agent", async (state) => ({ messages: [await model.invoke(state.messages)] }))
    .addNode("tools", new ToolNode([multiply]))
    .addEdge(START, "agent")
    .addConditionalEdges("agent", toolsCondition, ["tools", END])
    .addEdge("tools", "agent");
  return graph.compile({ checkpointer, ...options });
}

