import { expect, test } from "vitest";
import type { CallView, ReceiptView } from "./bindings";
import { insightsBy, outcomes, overTime, percentile } from "./insights";

const NOW = new Date(2026, 11, 3, 15, 0).getTime();
const DAY = 86_400_000;

function receipt(over: Partial<ReceiptView>): ReceiptView {
  return { id: "r", task_id: "t", direction: "made", peer: "bob", skill: "echo", status: "completed", started_ms: NOW - 1000, duration_ms: 10, units: 1, verified: true, ...over };
}

test("percentiles are nearest-rank; none without values", () => {
  const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  expect([percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0)]).toEqual([5, 10, 1]);
  expect(percentile([], 0.5)).toBeNull();
});

test("calls that failed without a receipt count as failures; answered ones are not counted twice", () => {
  const receipts = [receipt({ task_id: "a" }), receipt({ task_id: "b", status: "failed:SKILL_FAILED", duration_ms: 30 })];
  const calls: CallView[] = [
    { task_id: "a", peer: "bob", skill: "echo", status: { state: "completed" }, created_ms: NOW },
    { task_id: "b", peer: "bob", skill: "echo", status: { state: "failed", code: "SKILL_FAILED" }, created_ms: NOW },
    { task_id: "c", peer: "bob", skill: "echo", status: { state: "failed", code: "TIMEOUT" }, created_ms: NOW },
    { task_id: "d", peer: "bob", skill: "echo", status: { state: "sent" }, created_ms: NOW },
  ];
  const all = outcomes(receipts, calls);
  expect(all.length).toBe(3);
  const [bob] = insightsBy(all, (o) => o.peer);
  expect(bob).toMatchObject({ key: "bob", calls: 3, succeeded: 1, units: 2, p50Ms: 10, p95Ms: 30 });
  expect(bob.successRate).toBeCloseTo(1 / 3);
});

test("per skill, most calls first", () => {
  const all = outcomes([receipt({ skill: "a" }), receipt({ skill: "b" }), receipt({ skill: "b", units: 4 })], []);
  expect(insightsBy(all, (o) => o.skill).map((i) => [i.key, i.calls, i.units])).toEqual([["b", 2, 5], ["a", 1, 1]]);
});

test("over time: one bucket per day, empty days included, older calls left out", () => {
  const all = outcomes(
    [
      receipt({ started_ms: NOW - 1000, duration_ms: 5 }),
      receipt({ started_ms: NOW - 1000, status: "failed:TIMEOUT", duration_ms: 50 }),
      receipt({ started_ms: NOW - 2 * DAY, units: 3 }),
      receipt({ started_ms: NOW - 30 * DAY }),
    ],
    [],
  );
  const days = overTime(all, NOW, 7);
  expect(days.length).toBe(7);
  expect(days.map((d) => d.calls)).toEqual([0, 0, 0, 0, 1, 0, 2]);
  expect(days[6]).toMatchObject({ succeeded: 1, p50Ms: 5, p95Ms: 50 });
  expect(days[4].units).toBe(3);
  expect(days[5].p50Ms).toBeNull();
  expect(new Date(days[6].dayMs).getHours()).toBe(0);
});
