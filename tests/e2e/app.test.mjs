// End-to-end test of the real desktop app: the built binary in a real window (Xvfb), driven
// through tauri-driver + WebKitWebDriver. Run by scripts/test.sh inside
// scripts/with-desktop-services.sh, which gives the app a fresh XDG_DATA_HOME.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Session, startTauriDriver } from "./webdriver.mjs";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const TARGET = process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target");
const APP = path.join(TARGET, "debug", "coworker-app");
const OUT = path.join(ROOT, "test-output", "e2e");
const VERSION = /^version = "(.+)"$/m.exec(readFileSync(path.join(ROOT, "Cargo.toml"), "utf8"))[1];

let driver;
let app;

before(async () => {
  assert.ok(process.env.XDG_DATA_HOME, "run this under scripts/with-desktop-services.sh");
  mkdirSync(OUT, { recursive: true });
  // The embedded node on a free loopback port, so parallel runs cannot collide.
  process.env.COWORKER_NODE_LISTEN = "127.0.0.1:0";
  driver = await startTauriDriver();
  app = await Session.start(driver.url, APP);
});

after(async () => {
  await app?.end().catch(() => {});
  driver?.stop();
});

test("the window is titled CoWorker", async () => {
  assert.equal(await app.title(), "CoWorker");
  // The X11 window itself (from tauri.conf.json), not just the document title.
  const tree = execFileSync("xwininfo", ["-root", "-tree"], { encoding: "utf8" });
  assert.match(tree, /"CoWorker": \("coworker-app"/);
});

test("the status screen shows the backend's real state", async () => {
  // A fresh data directory: the backend runs and waits for onboarding.
  assert.equal(await app.waitForText("#backend-state", (t) => t !== "Starting"), "Set up");
  assert.equal(await app.text("#app-version"), VERSION);
  assert.equal(await app.text("#data-dir"), path.join(process.env.XDG_DATA_HOME, "dev.coworker.app"));
  assert.match(await app.text("#startup"), /^\d+(\.\d)? (ms|s)$/);
  assert.equal(await app.text("#checked-at"), "never");
  writeFileSync(path.join(OUT, "status.png"), await app.screenshot());
});

test("onboarding creates the identity in the keychain and shows the invite", async () => {
  await app.type("#onboard-name", "e2e-agent");
  await app.click("#onboard-submit");
  assert.equal(await app.waitForText("#backend-state", (t) => t === "Ready", 30_000), "Ready");
  assert.equal(await app.text("#identity-name"), "e2e-agent");
  assert.match(await app.text("#inbox-id"), /^[0-9a-f]{64}$/);
  assert.match(await app.waitForText("#invite-code", (t) => t.length > 0), /^eyJ/);
  writeFileSync(path.join(OUT, "onboarded.png"), await app.screenshot());
});

test("Check now runs the backend's health check", async () => {
  await app.click("#check-backend");
  const checked = await app.waitForText("#checked-at", (t) => t !== "never");
  assert.match(checked, /^\d{1,2}:\d{2}:\d{2}/);
  assert.equal(await app.text("#backend-state"), "Ready");
  writeFileSync(path.join(OUT, "status-checked.png"), await app.screenshot());
});
