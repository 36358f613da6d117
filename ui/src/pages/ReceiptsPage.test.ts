import { afterEach, beforeEach, expect, test } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import ReceiptsPage from "./ReceiptsPage.svelte";
import type { PeerView, ReceiptView } from "../lib/bindings";
import { callsTo, failure, mockCommands } from "../lib/ipcmock";
import { live } from "../lib/live.svelte";
import { setLanguage } from "../lib/i18n.svelte";

const BOB = "bb".repeat(32);
const CAROL = "cc".repeat(32);
const STRANGER = "dd".repeat(32);
const peers: PeerView[] = [
  { inbox_id: BOB, name: "bob", tier: 2, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null },
  { inbox_id: CAROL, name: "carol", tier: 1, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null },
];

function receipt(id: string, over: Partial<ReceiptView> = {}): ReceiptView {
  return {
    id,
    task_id: `task-${id}`,
    direction: "made",
    peer: BOB,
    skill: "summarize",
    status: "completed",
    started_ms: Date.UTC(2026, 0, 1, 12, 0, Number(id)),
    duration_ms: 200,
    units: 2,
    verified: true,
    ...over,
  };
}

const receipts = [
  receipt("1"),
  receipt("2", { skill: "translate", units: 3, duration_ms: 1500 }),
  receipt("3", { direction: "served", peer: CAROL, skill: "echo", units: 1, duration_ms: 10 }),
  receipt("4", { status: "failed:TIMEOUT", units: null, duration_ms: 30_000, verified: false }),
  receipt("5", { direction: "served", peer: STRANGER, skill: "echo", units: 1, duration_ms: 20 }),
];

beforeEach(() => setLanguage("en"));
afterEach(() => {
  live.disconnect();
  cleanup();
  clearMocks();
  setLanguage("");
});

function rows(root: HTMLElement): string[] {
  return [...root.querySelectorAll("tr.receipt")].map((r) => r.getAttribute("data-id") ?? "");
}

function total(root: HTMLElement, table: string, key: string): Record<string, string> {
  const row = root.querySelector(`#${table} tr[data-key="${key}"]`);
  if (!row) throw new Error(`no ${table} row ${key}`);
  const cell = (c: string) => row.querySelector(`.${c}`)?.textContent ?? "";
  return { calls: cell("calls"), failures: cell("failures"), units: cell("units"), duration: cell("total-duration") };
}

async function choose(root: HTMLElement, selector: string, value: string) {
  const select = root.querySelector(selector) as HTMLSelectElement;
  select.value = value;
  await fireEvent.change(select);
}

test("lists receipts newest first with names, status and signature badges", async () => {
  await mockCommands({ receipts, peers });
  const { container } = render(ReceiptsPage);
  await waitFor(() => expect(rows(container).length).toBe(5));
  expect(rows(container)).toEqual(["5", "4", "3", "2", "1"]);
  const r4 = container.querySelector('tr.receipt[data-id="4"]') as HTMLElement;
  expect(r4.textContent).toContain("bob");
  expect(r4.textContent).toContain("Failed: TIMEOUT");
  expect(r4.textContent).toContain("30.0 s");
  expect(r4.querySelector(".unverified")?.textContent).toContain("✗");
  const r3 = container.querySelector('tr.receipt[data-id="3"]') as HTMLElement;
  expect(r3.textContent).toContain("Served");
  expect(r3.textContent).toContain("carol");
  expect(r3.querySelector(".verified")?.textContent).toContain("✓ verified");
  // Unknown peers fall back to a short id.
  expect(container.querySelector('tr.receipt[data-id="5"] .peer')?.textContent).toBe("dddddddd…");

  expect(total(container, "totals-peer", BOB)).toEqual({ calls: "3", failures: "1", units: "5", duration: "31.7 s" });
  expect(total(container, "totals-skill", "echo")).toEqual({ calls: "2", failures: "0", units: "2", duration: "30 ms" });
});

test("filters change the rows and the totals", async () => {
  await mockCommands({ receipts, peers });
  const { container } = render(ReceiptsPage);
  await waitFor(() => expect(rows(container).length).toBe(5));

  await choose(container, "#filter-direction", "made");
  expect(rows(container)).toEqual(["4", "2", "1"]);
  expect(container.querySelector(`#totals-peer tr[data-key="${CAROL}"]`)).toBeNull();
  expect(container.querySelector("#receipts-count")?.textContent).toBe("3 of 5 receipts");

  await choose(container, "#filter-status", "ok");
  expect(rows(container)).toEqual(["2", "1"]);
  expect(total(container, "totals-peer", BOB)).toEqual({ calls: "2", failures: "0", units: "5", duration: "1.7 s" });

  await choose(container, "#filter-skill", "translate");
  expect(rows(container)).toEqual(["2"]);
  expect(total(container, "totals-skill", "translate").calls).toBe("1");

  await fireEvent.click(container.querySelector("#filter-clear")!);
  expect(rows(container).length).toBe(5);

  await choose(container, "#filter-peer", CAROL);
  expect(rows(container)).toEqual(["3"]);

  await choose(container, "#filter-peer", "");
  await fireEvent.input(container.querySelector("#filter-text")!, { target: { value: "timeout" } });
  expect(rows(container)).toEqual(["4"]);
  await fireEvent.input(container.querySelector("#filter-text")!, { target: { value: "carol" } });
  expect(rows(container)).toEqual(["3"]);
  await fireEvent.input(container.querySelector("#filter-text")!, { target: { value: "nothing like this" } });
  expect(rows(container)).toEqual([]);
  expect(container.querySelector("#totals-skill")?.textContent).toContain("No receipts match");
});

test("Export CSV shows where the file was saved", async () => {
  const calls = await mockCommands({ receipts, peers, export_receipts: "/home/ada/Downloads/receipts.csv" });
  const { container } = render(ReceiptsPage);
  await waitFor(() => expect(rows(container).length).toBe(5));
  await fireEvent.click(container.querySelector("#receipts-export")!);
  await waitFor(() =>
    expect(container.querySelector("#receipts-export-path")?.textContent).toContain("/home/ada/Downloads/receipts.csv"),
  );
  expect(callsTo(calls, "export_receipts")).toEqual([{}]);
});

test("export and load errors are shown", async () => {
  await mockCommands({
    receipts: () => {
      throw failure("receipts store is corrupt");
    },
    peers,
    export_receipts: () => {
      throw failure("no Downloads folder");
    },
  });
  const { container } = render(ReceiptsPage);
  expect((await screen.findByRole("alert")).textContent).toContain("receipts store is corrupt");
  await fireEvent.click(container.querySelector("#receipts-export")!);
  await waitFor(() => expect(container.querySelector("#receipts-export-error")?.textContent).toContain("no Downloads folder"));
});

test("finished calls and served tasks reload the receipts", async () => {
  let current = receipts.slice(0, 2);
  const calls = await mockCommands({ receipts: () => current, peers });
  const { container } = render(ReceiptsPage);
  await waitFor(() => expect(rows(container).length).toBe(2));

  current = receipts.slice(0, 3);
  await emit("activity-event", {
    at_ms: Date.now(),
    event: { type: "task_served", peer: CAROL, skill: "echo", task_id: "task-3", status: { state: "completed" } },
  });
  await waitFor(() => expect(rows(container).length).toBe(3));

  current = receipts;
  await emit("activity-event", { at_ms: Date.now(), event: { type: "call_finished", peer: BOB, task_id: "t", status: { state: "completed" } } });
  await waitFor(() => expect(rows(container).length).toBe(5));

  // Other activity does not reload.
  const before = callsTo(calls, "receipts").length;
  await emit("activity-event", { at_ms: Date.now(), event: { type: "chat", conversation: "c", sender: BOB, text: "hi" } });
  await new Promise((r) => setTimeout(r, 150));
  expect(callsTo(calls, "receipts").length).toBe(before);
});
