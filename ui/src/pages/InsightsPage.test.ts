import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import InsightsPage from "./InsightsPage.svelte";
import type { CallView, PeerView, ReceiptView } from "../lib/bindings";
import { mockCommands } from "../lib/ipcmock";
import { live } from "../lib/live.svelte";
import { setLanguage } from "../lib/i18n.svelte";

const BOB = "bb".repeat(32);
const CAROL = "cc".repeat(32);
const peers: PeerView[] = [
  { inbox_id: BOB, name: "bob", tier: 2, skills: [], name_verified: true, fingerprint: "0", blocked: false, last_seen_ms: null },
  { inbox_id: CAROL, name: "carol", tier: 1, skills: [], name_verified: true, fingerprint: "0", blocked: false, last_seen_ms: null },
];
// A fixed afternoon: the calls "a minute ago" fall on the same day whenever the tests run.
const now = new Date(2026, 11, 3, 15, 0).getTime();
const DAY = 86_400_000;

function receipt(id: string, over: Partial<ReceiptView> = {}): ReceiptView {
  return { id, task_id: `t-${id}`, direction: "made", peer: BOB, skill: "summarize", status: "completed", started_ms: now - 60_000, duration_ms: 100, units: 2, verified: true, ...over };
}

const receipts = [
  receipt("1", { duration_ms: 100 }),
  receipt("2", { duration_ms: 300 }),
  receipt("3", { status: "failed:SKILL_FAILED", duration_ms: 50, started_ms: now - 2 * DAY }),
  receipt("4", { direction: "served", peer: CAROL, skill: "echo", units: 1, duration_ms: 10 }),
];
const calls: CallView[] = [
  { task_id: "t-1", peer: BOB, skill: "summarize", status: { state: "completed" }, created_ms: now - 60_000 },
  { task_id: "t-9", peer: BOB, skill: "summarize", status: { state: "failed", code: "TIMEOUT" }, created_ms: now - 30_000 },
];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(now);
  setLanguage("en");
});
afterEach(() => {
  vi.useRealTimers();
  live.disconnect();
  cleanup();
  clearMocks();
  setLanguage("");
});

function row(root: HTMLElement, table: string, key: string): Record<string, string> {
  const tr = root.querySelector(`#${table} tr[data-key="${key}"]`);
  const cell = (c: string) => tr?.querySelector(`.${c}`)?.textContent?.trim() ?? "";
  return { calls: cell("calls"), success: cell("success"), p50: cell("p50"), p95: cell("p95"), units: cell("units") };
}

test("per peer and per skill: calls, success rate, latency percentiles and units, counting calls never answered", async () => {
  await mockCommands({ receipts, calls, peers });
  const { container } = render(InsightsPage);
  await waitFor(() => expect(container.querySelector("#insights-peer tr.insight")).toBeTruthy());
  // bob: 3 receipts (one failed) + a call that timed out without a receipt.
  expect(row(container, "insights-peer", BOB)).toEqual({ calls: "4", success: "50%", p50: "100 ms", p95: "300 ms", units: "6" });
  expect(container.querySelector(`#insights-peer tr[data-key="${BOB}"]`)?.textContent).toContain("bob");
  expect(row(container, "insights-skill", "echo")).toEqual({ calls: "1", success: "100%", p50: "10 ms", p95: "10 ms", units: "1" });
  expect(container.querySelector("#insights-summary .calls")?.textContent).toBe("5");

  // Only the calls I made.
  await fireEvent.change(container.querySelector("#insights-direction")!, { target: { value: "made" } });
  await waitFor(() => expect(container.querySelector(`#insights-peer tr[data-key="${CAROL}"]`)).toBeNull());
  expect(container.querySelector("#insights-summary .calls")?.textContent).toBe("4");
});

test("charts show each day of the period; choosing a skill narrows them", async () => {
  await mockCommands({ receipts, calls, peers });
  const { container } = render(InsightsPage);
  await waitFor(() => expect(container.querySelector("#chart-calls")).toBeTruthy());
  const bars = (chart: string, cls: string) => [...container.querySelectorAll(`#${chart} rect.bar.${cls}`)];
  expect(container.querySelectorAll("#chart-calls text.label").length).toBeGreaterThan(0);
  // Today: 3 ok (two of bob's, carol's) and one failed; two days ago: one failed.
  expect(bars("chart-calls", "ok").map((b) => b.querySelector("title")?.textContent)).toEqual([expect.stringContaining("Succeeded: 3")]);
  expect(bars("chart-calls", "failed").length).toBe(2);
  expect(bars("chart-latency", "p95").length).toBe(2);

  await fireEvent.click(screen.getByRole("button", { name: "echo" }));
  expect(container.querySelector("#insights-overall")?.textContent).toContain("Calls with echo");
  expect(bars("chart-calls", "ok").map((b) => b.querySelector("title")?.textContent)).toEqual([expect.stringContaining("Succeeded: 1")]);
  expect(bars("chart-calls", "failed").length).toBe(0);
  await fireEvent.click(container.querySelector("#insights-clear")!);
  expect(container.querySelector("#insights-overall")?.textContent).toContain("All calls");

  // One slot per day of the period.
  const slots = () => Number(container.querySelector("#chart-calls svg")?.getAttribute("viewBox")?.split(" ")[2]) / 24;
  expect(slots()).toBe(14);
  await fireEvent.change(container.querySelector("#insights-days")!, { target: { value: "7" } });
  expect(slots()).toBe(7);
});

test("no calls yet says so; new calls reload it", async () => {
  let current: ReceiptView[] = [];
  await mockCommands({ receipts: () => current, calls: [], peers });
  const { container } = render(InsightsPage);
  await screen.findByText(/No calls yet/);
  current = receipts;
  await emit("activity-event", { at_ms: now, event: { type: "task_served", peer: CAROL, skill: "echo", task_id: "t-4", status: { state: "completed" } } });
  await waitFor(() => expect(container.querySelector("#insights-peer")).toBeTruthy());
});
