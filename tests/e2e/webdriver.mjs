// A minimal W3C WebDriver client: just what our end-to-end tests use, over fetch.
// Spec: https://www.w3.org/TR/webdriver2/ (sessions, elements, scripts).
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { spawnGroup } from "./processes.mjs";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

export class WebDriverError extends Error {}

/** Every command answers within this time; a page that stops answering fails the test instead of hanging it. */
const COMMAND_TIMEOUT_MS = 60_000;

async function call(base, method, path, body, timeoutMs = COMMAND_TIMEOUT_MS) {
  let response;
  try {
    response = await fetch(base + path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    if (e.name !== "TimeoutError") throw e;
    throw new Error(`${method} ${path}: no answer in ${timeoutMs / 1000} s (is the app's page frozen?)`);
  }
  const json = await response.json().catch(() => ({}));
  if (!response.ok) {
    const v = json.value ?? {};
    throw new WebDriverError(`${method} ${path}: ${v.error ?? response.status}: ${v.message ?? ""}`);
  }
  return json.value;
}

export async function waitForPort(port, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${ms} ms`);
    await sleep(100);
  }
}

/**
 * Starts tauri-driver (which starts WebKitWebDriver, which starts the app) and waits until it
 * accepts sessions. Their output goes to `logFile`; `stop()` ends all of them.
 */
export async function startTauriDriver(logFile, port = 4444) {
  const driver = spawnGroup("tauri-driver", ["--port", String(port), "--native-port", String(port + 1)], {
    logFile,
  });
  const exited = new Promise((_, reject) =>
    driver.child.once("exit", (code) => reject(new Error(`tauri-driver exited with ${code} (see ${logFile})`))),
  );
  exited.catch(() => {}); // only raced below; a later exit is stop()'s doing
  await Promise.race([waitForPort(port), exited]);
  return { url: `http://127.0.0.1:${port}`, stop: () => driver.stop() };
}

export class Session {
  constructor(base, id) {
    this.base = `${base}/session/${id}`;
  }

  /** Starts the Tauri app at `application` in a new session. */
  static async start(driverUrl, application) {
    const value = await call(
      driverUrl,
      "POST",
      "/session",
      { capabilities: { alwaysMatch: { "tauri:options": { application } } } },
      2 * COMMAND_TIMEOUT_MS, // the app starts first
    );
    return new Session(driverUrl, value.sessionId);
  }

  async find(css) {
    const value = await call(this.base, "POST", "/element", { using: "css selector", value: css });
    return value[ELEMENT];
  }

  async text(css) {
    return call(this.base, "GET", `/element/${await this.find(css)}/text`);
  }

  async click(css) {
    await call(this.base, "POST", `/element/${await this.find(css)}/click`, {});
  }

  /** Types `text` into the input at `css`. */
  async type(css, text) {
    await call(this.base, "POST", `/element/${await this.find(css)}/value`, { text });
  }

  async title() {
    return call(this.base, "GET", "/title");
  }

  /** Polls `css`'s text until `predicate` accepts it; returns that text. */
  async waitForText(css, predicate, ms = 10_000) {
    const deadline = Date.now() + ms;
    let last = "(no element)";
    for (;;) {
      try {
        last = await this.text(css);
        if (predicate(last)) return last;
      } catch (e) {
        if (!(e instanceof WebDriverError)) throw e;
      }
      if (Date.now() > deadline) throw new Error(`${css}: text still ${JSON.stringify(last)} after ${ms} ms`);
      await sleep(50);
    }
  }

  /** Whether an element matches `css` now. */
  async exists(css) {
    try {
      await this.find(css);
      return true;
    } catch (e) {
      if (e instanceof WebDriverError) return false;
      throw e;
    }
  }

  /** Waits until an element matches `css`. */
  async waitFor(css, ms = 10_000) {
    const deadline = Date.now() + ms;
    while (!(await this.exists(css))) {
      if (Date.now() > deadline) throw new Error(`${css}: not there after ${ms} ms`);
      await sleep(50);
    }
  }

  /** Runs `script` (a function body; `arguments` holds `args`) in the page. */
  async execute(script, args = []) {
    return call(this.base, "POST", "/execute/sync", { script, args });
  }

  async end() {
    await call(this.base, "DELETE", "");
  }
}
