// Test helper: mocks the backend's commands by name and connects the live feed, so a test can
// `emit("activity-event", item)` and see the page react. Commands answer from `handlers` (a value
// or a function of the arguments); throwing `failure(...)` makes a typed command return that error.
import { mockIPC } from "@tauri-apps/api/mocks";
import type { ErrorKind, HostError_Serialize as HostError } from "./bindings";
import { live } from "./live.svelte";

export type Args = Record<string, unknown>;
export type Handlers = Record<string, unknown>;
export type Call = [string, Args];

export async function mockCommands(handlers: Handlers): Promise<Call[]> {
  const calls: Call[] = [];
  mockIPC(
    (cmd, args) => {
      const a = (args ?? {}) as Args;
      calls.push([cmd, a]);
      if (cmd in handlers) {
        const h = handlers[cmd];
        return typeof h === "function" ? (h as (a: Args) => unknown)(a) : h;
      }
      if (cmd === "activity") return [];
      return null;
    },
    { shouldMockEvents: true },
  );
  await live.connect();
  return calls;
}

/** Only the calls to `cmd`, with their arguments. */
export function callsTo(calls: Call[], cmd: string): Args[] {
  return calls.filter(([c]) => c === cmd).map(([, a]) => a);
}

/** The error a command answers (`throw failure("unknown peer", "runtime.not_found", "not_found")`). */
export function failure(message: string, code = "test.failed", kind: ErrorKind = "failed"): HostError {
  return { kind, code, message };
}
