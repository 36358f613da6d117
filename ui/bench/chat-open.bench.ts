// Opening a 10,000-message conversation: time from mounting the Chat page until its messages are
// in the DOM (IPC mocked, jsdom). Run with `npm run bench`.
import { bench, describe } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { mockIPC } from "@tauri-apps/api/mocks";
import ChatPage from "../src/pages/ChatPage.svelte";
import type { ConversationView, MessageView } from "../src/lib/bindings";
import { nav } from "../src/lib/nav.svelte";

const ME = "aa".repeat(32);
const BOB = "bb".repeat(32);
const conversation: ConversationView = {
  id: "c0ffee",
  kind: "dm",
  title: "bob",
  active: true,
  members: [
    { inbox_id: ME, name: "ada", tier: null },
    { inbox_id: BOB, name: "bob", tier: 2 },
  ],
};
const messages: MessageView[] = Array.from({ length: 10_000 }, (_, i) => ({
  id: `m${i}`,
  sender: i % 2 ? ME : BOB,
  mine: i % 2 === 1,
  sent_ms: 1_760_000_000_000 + i * 1000,
  kind: i % 10 === 0 ? "call" : "chat",
  text: `message ${i}: ${"lorem ipsum dolor sit amet ".repeat(1 + (i % 5))}`,
}));

/** Resolves once `root` holds a rendered message. */
function rendered(root: HTMLElement): Promise<void> {
  return new Promise((resolve) => {
    if (root.querySelector(".message")) return resolve();
    const observer = new MutationObserver(() => {
      if (root.querySelector(".message")) {
        observer.disconnect();
        resolve();
      }
    });
    observer.observe(root, { childList: true, subtree: true });
  });
}

// (Benchmark mode runs no beforeAll/afterAll hooks: the IPC mock is installed here, once.)
mockIPC((cmd) => {
  if (cmd === "conversations") return [conversation];
  if (cmd === "peers") return [];
  if (cmd === "messages") return messages;
  return null;
});

describe("chat", () => {
  bench(
    "open a 10,000-message conversation",
    async () => {
      nav.conversation = conversation.id;
      const target = document.createElement("div");
      document.body.append(target);
      const page = mount(ChatPage, { target });
      await rendered(target);
      flushSync();
      const count = target.querySelectorAll(".message").length;
      if (count === 0 || count >= 100) throw new Error(`${count} messages in the DOM`);
      unmount(page);
      target.remove();
    },
    { time: 2000, warmupIterations: 3 },
  );
});
