// Opening a 10,000-message conversation in headless Chromium on the production build: from the
// click on the conversation until its newest message is in the DOM and a frame has been painted
// (two animation frames), Playwright's round trips included. Two such conversations, opened in
// turn, so every iteration fetches and renders a whole chat. The messages are answered inside the
// page, parsed from JSON text on every call as Tauri's IPC does, so the figure is the UI's and not
// the test harness's. `npm run build && npm run bench:chromium`.
import { bench } from "vitest";
import type { Browser } from "playwright-core";
import { launchChromium, openApp, serveDist, type App } from "./harness";
import { BOB, readyApp } from "./fixtures";
import type { ConversationView_Serialize } from "../src/lib/bindings";

const chats: ConversationView_Serialize[] = ["c1", "c2"].map((id) => ({
  id,
  kind: "dm",
  title: `bob ${id}`,
  members: [{ inbox_id: BOB, name: "bob", tier: 2 }],
  active: true,
}));
/** Answers `messages` in the page: the conversation's 10,000 messages, parsed anew each call. */
const HISTORY = `
  const json = {};
  const history = (c) => JSON.stringify(Array.from({ length: 10000 }, (_, i) => ({
    id: c + "-m" + i,
    sender: "${BOB}",
    mine: i % 2 === 1,
    sent_ms: 1760000000000 + i * 1000,
    kind: i % 10 === 0 ? "call" : "chat",
    text: "message " + i + ": " + "lorem ipsum dolor sit amet ".repeat(1 + (i % 5)),
  })));
  window.__flowLocal = { messages: (a) => JSON.parse(json[a.conversation] ??= history(a.conversation)) };
`;

let server: Awaited<ReturnType<typeof serveDist>> | undefined;
let browser: Browser | undefined;
let app: App | undefined;
let next = 0;

bench(
  "open a 10,000-message chat (click → newest message painted)",
  async () => {
    const id = chats[next++ % 2].id;
    await app!.page.click(`.conversation[data-id="${id}"]`);
    await app!.page.locator(`.message[data-id="${id}-m9999"]`).waitFor();
    await app!.page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))");
  },
  {
    throws: true,
    iterations: 30,
    warmupIterations: 4,
    async setup() {
      server ??= await serveDist();
      browser ??= await launchChromium();
      app ??= await openApp(browser, server.url, { ...readyApp(), conversations: chats }, HISTORY);
      await app.page.click("#nav-chat");
      await app.page.locator(".conversation").first().waitFor();
    },
    async teardown(_task, mode) {
      if (mode === "warmup") return; // the same page for the measured run
      await app?.close();
      await browser?.close();
      await server?.close();
      [app, browser, server] = [undefined, undefined, undefined];
    },
  },
);
