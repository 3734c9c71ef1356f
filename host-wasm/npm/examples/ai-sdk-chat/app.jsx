// The example page: a minimal `useChat` UI whose chat persists in IndexedDB through
// rewind-store/ai-sdk. Sending saves the chat when the answer is complete; regenerating an answer
// forks it; the branches list switches between the versions. Reloading the page loads the chat
// back from IndexedDB.

import { useChat } from "@ai-sdk/react";
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { Store } from "rewind-store";
import { RewindChats } from "rewind-store/ai-sdk";

// A second tab waits for the first to close (IndexedDB stores have one writer at a time).
const store = await Store.open({ backend: "indexeddb", name: "ai-sdk-chat-example", lock: "wait" });
const chats = new RewindChats(store);
const chatId = new URL(location.href).searchParams.get("chat") ?? "example";

const textOf = (message) =>
  message.parts
    .filter((part) => part.type === "text")
    .map((part) => part.text)
    .join("");

function Chat({ initial }) {
  const [input, setInput] = useState("");
  const [branches, setBranches] = useState([]);
  const [saves, setSaves] = useState(0);
  const refresh = () => chats.branches(chatId).then(setBranches);
  const { messages, sendMessage, regenerate, setMessages, status, error } = useChat({
    id: chatId,
    messages: initial,
    onFinish: async ({ messages }) => {
      await chats.saveChat({ chatId, messages });
      setSaves((n) => n + 1);
      await refresh();
    },
  });
  useEffect(() => void refresh(), []);

  const switchTo = async (checkpoint) => {
    setMessages(await chats.switchBranch(chatId, checkpoint));
    await refresh();
  };

  return (
    <main>
      <h1>rewind chat</h1>
      {messages.map((message) => (
        <div key={message.id} className={`message ${message.role}`} data-testid="message" data-role={message.role}>
          {textOf(message)}
        </div>
      ))}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (input.trim() === "") return;
          sendMessage({ text: input });
          setInput("");
        }}
      >
        <input data-testid="input" value={input} onChange={(event) => setInput(event.target.value)} placeholder="Say something" />
        <button data-testid="send" type="submit" disabled={status !== "ready"}>
          Send
        </button>
        <button data-testid="regenerate" type="button" onClick={() => regenerate()} disabled={status !== "ready" || messages.at(-1)?.role !== "assistant"}>
          Regenerate
        </button>
      </form>
      <p>
        <span data-testid="status">{status}</span> · saved <span data-testid="saves">{saves}</span> times
        {error ? <span data-testid="error"> · {String(error.message)}</span> : null}
      </p>
      <h2>Branches</h2>
      <div className="branches">
        {branches.map((branch) => (
          <button key={branch.checkpoint} data-testid="branch" data-checkpoint={branch.checkpoint} data-current={String(branch.current)} onClick={() => switchTo(branch.checkpoint)}>
            {branch.current ? "● " : "○ "}
            {branch.messages} messages: {branch.lastMessage ? textOf(branch.lastMessage) : "(empty)"}
          </button>
        ))}
      </div>
    </main>
  );
}

const initial = await chats.loadChat(chatId);
createRoot(document.getElementById("root")).render(
  <StrictMode>
    <Chat initial={initial} />
  </StrictMode>,
);
