// Installing the app as a user does on Debian: the .deb built from this tree (with its .rpm twin
// checked for the same contents) installed with dpkg, started from its desktop entry, and a
// coworker:// link opened through the system's handler reaching the running app. Runs as root
// (CI does), after app.test.mjs, inside scripts/with-desktop-services.sh under Xvfb; the package
// is removed at the end.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { freePort } from "./processes.mjs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const TARGET = process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target");
const BUNDLE = path.join(TARGET, "debug", "bundle");
const OUT = path.join(ROOT, "test-output", "e2e");
const VERSION = /^version = "(.+)"$/m.exec(readFileSync(path.join(ROOT, "Cargo.toml"), "utf8"))[1];
const DESKTOP = "/usr/share/applications/CoWorker.desktop";
const BINARY = "/usr/bin/coworker-app";

const run = (cmd, args, options = {}) => execFileSync(cmd, args, { encoding: "utf8", ...options });
const root = process.getuid?.() === 0;

let packageName;
let home;
let launched; // the `gio launch` process, whose output the app inherits
let output = "";

/** Pids of processes running the installed binary. */
function installedApps() {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/exe`) === BINARY;
      } catch {
        return false;
      }
    });
}

async function until(what, check, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = check();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the app said:\n${output.slice(-3000)}`);
    await sleep(200);
  }
}

before(() => {
  if (!root) return;
  mkdirSync(OUT, { recursive: true });
  // Packages from the debug build the other tests use (the release workflow packages release
  // builds the same way).
  run(path.join(ROOT, "ui", "node_modules", ".bin", "tauri"), ["bundle", "--debug", "--bundles", "deb,rpm", "--config", "packaging/bundle.json"], {
    cwd: ROOT,
    env: { ...process.env, TAURI_APP_PATH: "src-tauri" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  home = mkdtempSync(path.join(os.tmpdir(), "coworker-install-"));
});

after(() => {
  for (const pid of installedApps()) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {}
  }
  launched?.kill("SIGKILL");
  if (packageName) run("dpkg", ["--remove", packageName], { stdio: "ignore" });
  if (home) rmSync(home, { recursive: true, force: true });
});

test("the .rpm holds the same app: binary, desktop entry with the link handler, icons, dependencies", { skip: !root && "needs root (dpkg)" }, () => {
  const [rpm] = readdirSync(path.join(BUNDLE, "rpm")).filter((f) => f.endsWith(".rpm") && f.includes(VERSION));
  assert.ok(rpm, "an .rpm of this version");
  const file = path.join(BUNDLE, "rpm", rpm);
  const files = run("rpm", ["-qlp", file]).trim().split("\n");
  for (const want of [BINARY, DESKTOP, "/usr/share/icons/hicolor/128x128/apps/coworker-app.png"]) {
    assert.ok(files.includes(want), `${want} in ${files.join(", ")}`);
  }
  const requires = run("rpm", ["-qp", "--requires", file]);
  assert.match(requires, /libwebkit2gtk-4\.1/);
  assert.match(requires, /libayatana-appindicator-gtk3/);
  assert.equal(run("rpm", ["-qp", "--queryformat", "%{VERSION}", file]), VERSION);
});

test("the .deb installs with dpkg and registers the coworker:// handler", { skip: !root && "needs root (dpkg)" }, () => {
  const [deb] = readdirSync(path.join(BUNDLE, "deb")).filter((f) => f.endsWith(".deb") && f.includes(VERSION));
  assert.ok(deb, "a .deb of this version");
  const file = path.join(BUNDLE, "deb", deb);
  packageName = run("dpkg-deb", ["--field", file, "Package"]).trim();
  run("dpkg", ["--install", file], { stdio: ["ignore", "ignore", "inherit"] });
  assert.match(run("dpkg-query", ["--show", "--showformat", "${Status} ${Version}", packageName]), new RegExp(`install ok installed ${VERSION}`));
  const entry = readFileSync(DESKTOP, "utf8");
  assert.match(entry, /^Exec=coworker-app %u$/m);
  assert.match(entry, /^MimeType=.*x-scheme-handler\/coworker/m);
  run("desktop-file-validate", [DESKTOP]);
  assert.equal(run("xdg-mime", ["query", "default", "x-scheme-handler/coworker"]).trim(), "CoWorker.desktop");
});

test("its desktop entry starts the installed app, and a coworker:// link reaches it", { skip: !root && "needs root (dpkg)" }, async () => {
  assert.deepEqual(installedApps(), [], "no installed app running yet");
  const env = {
    ...process.env,
    XDG_DATA_HOME: home,
    COWORKER_NODE_LISTEN: `127.0.0.1:${await freePort()}`,
    RUST_LOG: "info",
  };
  // As a launcher does: through the desktop entry, not the binary's path.
  launched = spawn("gio", ["launch", DESKTOP], { env, stdio: ["ignore", "pipe", "pipe"] });
  launched.stdout.on("data", (d) => (output += d));
  launched.stderr.on("data", (d) => (output += d));
  const [pid] = await until("the installed app", () => {
    const pids = installedApps();
    return pids.length > 0 && pids;
  });
  await until("its window", () => /"CoWorker": \("coworker-app"/.test(run("xwininfo", ["-root", "-tree"])));
  assert.match(readFileSync(`/proc/${pid}/environ`, "utf8"), new RegExp(`XDG_DATA_HOME=${home}`));
  await until("its UI", () => output.includes("interactive"));

  // The system's handler starts a second instance, which hands the link to the first and ends.
  run("xdg-open", ["coworker://invite/eyJuIjoiaW5zdGFsbGVkIn0"], { env });
  await until("the link in the running app", () => output.includes("opening an invite link"));
  await until("the second instance to end", () => installedApps().length === 1);
  assert.deepEqual(installedApps(), [pid], "the first instance keeps running");
  await sleep(500); // the Invite page draws the link
  const tree = run("xwininfo", ["-root", "-tree"]);
  const id = /^\s+(0x[0-9a-f]+) "CoWorker": \("coworker-app"/m.exec(tree)?.[1];
  if (id) run("import", ["-silent", "-window", id, path.join(OUT, "installed.png")]);
});
