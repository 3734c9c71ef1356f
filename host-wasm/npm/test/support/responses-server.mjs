// A local stand-in for the OpenAI Responses API (POST /v1/responses, non-streaming): an HTTP
// server answering like a model, so the real @openai/agents runner and openai client run
// against it with no network. It records each request's input.
//
// The scripted model: a user message mentioning "time" gets a call of the `clock` tool; a tool
// result gets "It is <result>."; anything else gets "Heard <n> items: <the user's text>", where n
// is the number of input items (so a test can see how much history the agent sent).

import http from "node:http";

function textOf(item) {
  if (typeof item?.content === "string") return item.content;
  if (Array.isArray(item?.content)) return item.content.map((part) => part?.text ?? "").join("");
  return "";
}

let counter = 0;
const nextId = (prefix) => `${prefix}_${(++counter).toString(36).padStart(6, "0")}`;

function reply(input) {
  const items = Array.isArray(input) ? input : [{ role: "user", content: String(input) }];
  const last = items.at(-1);
  if (last?.type === "function_call_output") {
    return [message(`It is ${typeof last.output === "string" ? last.output : JSON.stringify(last.output)}.`)];
  }
  const text = textOf(last);
  if (/time/i.test(text)) {
    return [{ type: "function_call", id: nextId("fc"), call_id: nextId("call"), name: "clock", arguments: "{}", status: "completed" }];
  }
  return [message(`Heard ${items.length} items: ${text}`)];
}

function message(text) {
  return { type: "message", id: nextId("msg"), status: "completed", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] };
}

/** Starts the server; resolves to { baseURL, requests, close }. */
export async function startResponsesServer() {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    if (req.method !== "POST" || !req.url.endsWith("/responses")) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `no route ${req.url}` } }));
      return;
    }
    const request = JSON.parse(body);
    requests.push(request);
    const response = {
      id: nextId("resp"),
      object: "response",
      created_at: Math.floor(Date.now() / 1000),
      status: "completed",
      model: request.model,
      output: reply(request.input),
      usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
    };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(response));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    baseURL: `http://127.0.0.1:${server.address().port}/v1`,
    requests,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
