import { expect, test } from "vitest";
import type { ReceiptView } from "./bindings";
import { applyFilter, noFilter, succeeded, totalsBy } from "./receipts";

function r(id: string, over: Partial<ReceiptView> = {}): ReceiptView {
  return {
    id,
    task_id: `task-${id}`,
    direction: "made",
    peer: "bob",
    skill: "echo",
    status: "completed",
    started_ms: 0,
    duration_ms: 100,
    units: 1,
    verified: true,
    ...over,
  };
}

const rows = [
  r("1"),
  r("2", { direction: "served", peer: "carol", skill: "summarize", units: 5, duration_ms: 900 }),
  r("3", { status: "failed:TIMEOUT", units: null, duration_ms: null }),
  r("4", { peer: "carol", skill: "echo", duration_ms: 50 }),
];

test("succeeded", () => {
  expect(succeeded("completed")).toBe(true);
  expect(succeeded("failed:TIMEOUT")).toBe(false);
});

test("filters by each field and by text", () => {
  const ids = (f: Partial<typeof noFilter>) => applyFilter(rows, { ...noFilter, ...f }).map((x) => x.id);
  expect(ids({})).toEqual(["1", "2", "3", "4"]);
  expect(ids({ direction: "served" })).toEqual(["2"]);
  expect(ids({ peer: "carol" })).toEqual(["2", "4"]);
  expect(ids({ skill: "echo" })).toEqual(["1", "3", "4"]);
  expect(ids({ status: "ok" })).toEqual(["1", "2", "4"]);
  expect(ids({ status: "failed" })).toEqual(["3"]);
  expect(ids({ text: "TIMEOUT" })).toEqual(["3"]);
  expect(ids({ text: "task-4" })).toEqual(["4"]);
  expect(applyFilter(rows, { ...noFilter, text: "Carol Smith" }, (p) => (p === "carol" ? "Carol Smith" : p)).map((x) => x.id)).toEqual(["2", "4"]);
});

test("totals per key", () => {
  expect(totalsBy(rows, (x) => x.peer)).toEqual([
    { key: "bob", calls: 2, failures: 1, units: 1, durationMs: 100 },
    { key: "carol", calls: 2, failures: 0, units: 6, durationMs: 950 },
  ]);
  expect(totalsBy(rows, (x) => x.skill).map((t) => [t.key, t.calls])).toEqual([
    ["echo", 3],
    ["summarize", 1],
  ]);
  expect(totalsBy([], (x) => x.skill)).toEqual([]);
});
