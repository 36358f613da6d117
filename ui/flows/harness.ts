// UI flows in headless Chromium: the production build (ui/dist) served from loopback, with the
// Tauri backend replaced at the IPC boundary. The page's `__TAURI_INTERNALS__` (what
// @tauri-apps/api talks to) forwards every command to a Node function, so a test answers commands
// with typed fixtures, sees every call with its arguments, and pushes backend events.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export type Args = Record<string, unknown>;
/** A command's answer, or a function of its arguments; throwing `CommandError` makes it fail. */
export type Handlers = Record<string, unknown>;

/** The error a command returns (a typed command's `{ status: "error" }`): a `HostError`. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly code = "test.failed",
    readonly kind = "failed",
  ) {
    super(message);
  }
}

const DIST = path.resolve(import.meta.dirname, "..", "dist");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TYPES: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".css": "text/css",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json",
};

/** Serves ui/dist on a free loopback port; resolves to its URL and a function that stops it. */
export async function serveDist(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(async (request, response) => {
    const pathname = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname);
    const file = path.join(DIST, pathname === "/" ? "index.html" : pathname);
    if (!file.startsWith(DIST + path.sep)) {
      response.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      response.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Headless Chromium, without the background traffic this closed network refuses. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Runs in the page before the app's scripts: the IPC side of Tauri, forwarding commands to the
 * test's `__flowInvoke` and keeping event listeners for `__flowEmit`. (Plain JavaScript in a
 * string: it is evaluated in the browser as is.)
 */
const INSTALL_IPC = `(() => {
  const callbacks = new Map();
  const listeners = new Map();
  let next = 1;
  const internals = {
    metadata: { currentWindow: { label: "main" }, currentWebview: { windowLabel: "main", label: "main" } },
    callbacks,
    transformCallback(callback, once = false) {
      const id = next++;
      callbacks.set(id, (data) => {
        if (once) callbacks.delete(id);
        if (callback) callback(data);
      });
      return id;
    },
    unregisterCallback(id) { callbacks.delete(id); },
    runCallback(id, data) { const c = callbacks.get(id); if (c) c(data); },
    convertFileSrc: (file) => file,
    async invoke(cmd, args = {}) {
      if (cmd === "plugin:event|listen") {
        listeners.set(args.event, [...(listeners.get(args.event) ?? []), args.handler]);
        return args.handler;
      }
      if (cmd === "plugin:event|unlisten") {
        listeners.set(args.event, (listeners.get(args.event) ?? []).filter((id) => id !== args.eventId));
        return null;
      }
      const local = window.__flowLocal && window.__flowLocal[cmd];
      if (local) return local(args);
      const answer = await window.__flowInvoke(cmd, args);
      if (answer.error !== undefined) throw answer.error;
      return answer.ok ?? null;
    },
  };
  window.__TAURI_INTERNALS__ = internals;
  window.__TAURI_EVENT_PLUGIN_INTERNALS__ = { unregisterListener: (_, id) => callbacks.delete(id) };
  window.__flowEmit = (event, payload) => {
    for (const id of listeners.get(event) ?? []) internals.runCallback(id, { event, id, payload });
  };
})();`;

export interface App {
  page: Page;
  /** Every command the UI called, in order, with its arguments. */
  calls: [string, Args][];
  /** Only the calls to `cmd`. */
  callsTo(cmd: string): Args[];
  /** Pushes a backend event (e.g. "activity-event") to the page's listeners. */
  emit(event: string, payload: unknown): Promise<void>;
  /** Closes the page; fails if a script error happened in it. */
  close(): Promise<void>;
}

/**
 * Opens the app in a fresh browser context, its commands answered by `handlers`. A command
 * without a handler fails with "no mock for <command>", which the page shows as an error.
 * `pageScript` (JavaScript) may set `window.__flowLocal = { command: (args) => answer }` to answer
 * commands inside the page, without the round trip to the test (for benchmarks).
 */
export async function openApp(browser: Browser, url: string, handlers: Handlers, pageScript = ""): Promise<App> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 }, locale: "en-US" });
  const page = await context.newPage();
  const calls: [string, Args][] = [];
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.exposeFunction("__flowInvoke", async (cmd: string, args: Args) => {
    calls.push([cmd, args]);
    if (!(cmd in handlers)) return { error: { kind: "failed", code: "test.no_mock", message: `no mock for ${cmd}` } };
    const handler = handlers[cmd];
    try {
      const ok = typeof handler === "function" ? await (handler as (a: Args) => unknown)(args) : handler;
      return { ok };
    } catch (e) {
      if (e instanceof CommandError) return { error: { kind: e.kind, code: e.code, message: e.message } };
      throw e;
    }
  });
  await page.addInitScript({ content: INSTALL_IPC + pageScript });
  await page.goto(url);
  return {
    page,
    calls,
    callsTo: (cmd) => calls.filter(([c]) => c === cmd).map(([, a]) => a),
    emit: (event, payload) => page.evaluate(`window.__flowEmit(${JSON.stringify(event)}, ${JSON.stringify(payload)})`),
    async close() {
      await context.close();
      if (errors.length > 0) throw new Error(`script errors in the page: ${errors.join("; ")}`);
    },
  };
}
