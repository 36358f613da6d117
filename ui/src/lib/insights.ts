// Workflow insights (the original dashboard's): per peer and per skill, calls, success rate,
// latency percentiles and units, and the same over time, from the receipts and from the calls
// that never got one (no answer, the peer unreachable). Pure, so they are easy to test.
import type { CallView, ReceiptView } from "./bindings";
import { succeeded } from "./receipts";

/** One call as the insights count it: a receipt, or a call of ours that ended without one. */
export type Outcome = {
  direction: string;
  peer: string;
  skill: string;
  ok: boolean;
  startedMs: number;
  /** Round trip or run time; null when the call never got an answer. */
  durationMs: number | null;
  units: number;
};

/** Receipts, plus our calls that failed without a receipt (they count as failures). */
export function outcomes(receipts: ReceiptView[], calls: CallView[]): Outcome[] {
  const all: Outcome[] = receipts.map((r) => ({
    direction: r.direction,
    peer: r.peer,
    skill: r.skill,
    ok: succeeded(r.status),
    startedMs: r.started_ms ?? 0,
    durationMs: r.duration_ms,
    units: r.units ?? 0,
  }));
  const receipted = new Set(receipts.filter((r) => r.direction === "made").map((r) => r.task_id));
  for (const call of calls) {
    if (call.status.state !== "failed" || receipted.has(call.task_id)) continue;
    all.push({ direction: "made", peer: call.peer, skill: call.skill, ok: false, startedMs: call.created_ms ?? 0, durationMs: null, units: 0 });
  }
  return all;
}

/** The value below which `q` (0..1) of the sorted values lie (nearest rank); null for none. */
export function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export type Insight = {
  key: string;
  calls: number;
  succeeded: number;
  /** Share of calls that succeeded, 0..1. */
  successRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  units: number;
};

function summarize(key: string, items: Outcome[]): Insight {
  const times = items.flatMap((o) => (o.durationMs == null ? [] : [o.durationMs])).sort((a, b) => a - b);
  const ok = items.filter((o) => o.ok).length;
  return {
    key,
    calls: items.length,
    succeeded: ok,
    successRate: items.length === 0 ? 0 : ok / items.length,
    p50Ms: percentile(times, 0.5),
    p95Ms: percentile(times, 0.95),
    units: items.reduce((sum, o) => sum + o.units, 0),
  };
}

/** One insight per `keyOf(outcome)`, most calls first. */
export function insightsBy(items: Outcome[], keyOf: (o: Outcome) => string): Insight[] {
  const groups = new Map<string, Outcome[]>();
  for (const o of items) {
    const key = keyOf(o);
    const group = groups.get(key);
    if (group) group.push(o);
    else groups.set(key, [o]);
  }
  return [...groups.entries()]
    .map(([key, group]) => summarize(key, group))
    .sort((a, b) => b.calls - a.calls || a.key.localeCompare(b.key));
}

export type Day = Insight & { dayMs: number };

const DAY_MS = 86_400_000;

/**
 * The last `days` days up to `nowMs` (local midnights, oldest first), each with its calls,
 * success, latency and units; days without calls are there, empty.
 */
export function overTime(items: Outcome[], nowMs: number, days: number): Day[] {
  const today = new Date(nowMs);
  today.setHours(0, 0, 0, 0);
  const starts = Array.from({ length: days }, (_, i) => {
    const d = new Date(today);
    d.setDate(d.getDate() - (days - 1 - i));
    return d.getTime();
  });
  const buckets: Outcome[][] = starts.map(() => []);
  for (const o of items) {
    if (o.startedMs < starts[0] || o.startedMs >= today.getTime() + DAY_MS) continue;
    let i = starts.length - 1;
    while (i > 0 && o.startedMs < starts[i]) i--;
    buckets[i].push(o);
  }
  return starts.map((dayMs, i) => ({ ...summarize(String(dayMs), buckets[i]), dayMs }));
}
