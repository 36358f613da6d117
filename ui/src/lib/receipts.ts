// Filtering and totals for the Receipts page (pure, so they are easy to test).
import type { ReceiptView } from "./bindings";

export interface ReceiptFilter {
  /** "" for both, or `made` / `served`. */
  direction: string;
  /** "" for all, or an inbox id. */
  peer: string;
  /** "" for all, or a skill name. */
  skill: string;
  /** "" for all, `ok` or `failed`. */
  status: string;
  /** Free text, matched against peer name, skill, status and task id. */
  text: string;
}

export const noFilter: ReceiptFilter = { direction: "", peer: "", skill: "", status: "", text: "" };

/** Whether a receipt's status means success. */
export function succeeded(status: string): boolean {
  return status === "completed" || status === "ok";
}

export function applyFilter(
  receipts: ReceiptView[],
  filter: ReceiptFilter,
  nameOf: (inbox: string) => string = (x) => x,
): ReceiptView[] {
  const needle = filter.text.trim().toLowerCase();
  return receipts.filter((r) => {
    if (filter.direction && r.direction !== filter.direction) return false;
    if (filter.peer && r.peer !== filter.peer) return false;
    if (filter.skill && r.skill !== filter.skill) return false;
    if (filter.status === "ok" && !succeeded(r.status)) return false;
    if (filter.status === "failed" && succeeded(r.status)) return false;
    if (needle) {
      const hay = [nameOf(r.peer), r.peer, r.skill, r.status, r.task_id, r.direction].join(" ").toLowerCase();
      if (!hay.includes(needle)) return false;
    }
    return true;
  });
}

export interface Total {
  key: string;
  calls: number;
  failures: number;
  units: number;
  durationMs: number;
}

/** Calls, failures, units and total duration per `keyOf(receipt)`, most calls first. */
export function totalsBy(receipts: ReceiptView[], keyOf: (r: ReceiptView) => string): Total[] {
  const totals = new Map<string, Total>();
  for (const r of receipts) {
    const key = keyOf(r);
    let total = totals.get(key);
    if (!total) {
      total = { key, calls: 0, failures: 0, units: 0, durationMs: 0 };
      totals.set(key, total);
    }
    total.calls += 1;
    if (!succeeded(r.status)) total.failures += 1;
    total.units += r.units ?? 0;
    total.durationMs += r.duration_ms ?? 0;
  }
  return [...totals.values()].sort((a, b) => b.calls - a.calls || a.key.localeCompare(b.key));
}
