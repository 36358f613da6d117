// Child processes of the end-to-end test, each in its own process group so that stopping one
// also stops everything it started (tauri-driver starts WebKitWebDriver, which starts the app,
// which starts WebKit's processes). Their output goes to a log file, never to the test's own
// stderr: a straggler holding that pipe open would keep `node --test` from exiting.
import { spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** The live (not zombie) processes in process group `pgid`, as "pid command" lines. */
function groupMembers(pgid) {
  const members = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    // Fields after the command's closing parenthesis: state ppid pgrp ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) !== pgid || state === "Z") continue;
    let command = "";
    try {
      command = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
    } catch {}
    members.push(`${entry} ${command}`);
  }
  return members;
}

async function waitUntilGone(pgid, ms) {
  const deadline = Date.now() + ms;
  while (groupMembers(pgid).length > 0) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Groups started and not yet stopped: killed if the test itself is stopped by a signal. */
const running = new Set();
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.once(signal, () => {
    for (const pgid of running) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {}
    }
    process.exit(128 + (signal === "SIGHUP" ? 1 : signal === "SIGINT" ? 2 : 15));
  });
}

/**
 * Starts `command` as the leader of a new process group, its stdout and stderr appended to
 * `logFile` (or stdout piped to the caller when `pipeStdout`).
 */
export function spawnGroup(command, args, { env = process.env, logFile, pipeStdout = false }) {
  const log = openSync(logFile, "w");
  const child = spawn(command, args, {
    env,
    detached: true,
    stdio: ["ignore", pipeStdout ? "pipe" : log, log],
  });
  closeSync(log);
  if (child.pid !== undefined) running.add(child.pid);
  return {
    child,
    /**
     * Stops the whole group: SIGTERM, then SIGKILL for whatever is left after `graceMs`.
     * Returns the processes that had to be killed (empty when all ended on SIGTERM).
     */
    async stop(graceMs = 5_000) {
      const pgid = child.pid;
      if (pgid === undefined) return [];
      running.delete(pgid);
      try {
        process.kill(-pgid, "SIGTERM");
      } catch {
        return []; // the group is already gone
      }
      if (await waitUntilGone(pgid, graceMs)) return [];
      const stragglers = groupMembers(pgid);
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {}
      if (!(await waitUntilGone(pgid, 5_000))) {
        throw new Error(`processes survived SIGKILL: ${groupMembers(pgid).join("; ")}`);
      }
      return stragglers;
    },
  };
}

/** A free loopback port (for an app's embedded node). */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
