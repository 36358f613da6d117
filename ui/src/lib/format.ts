// Small, pure formatting helpers shared by pages.

/** A wall-clock time such as "14:03:07", in the user's locale. */
export function clockTime(epochMs: number, locale?: string): string {
  return new Date(epochMs).toLocaleTimeString(locale, { hour12: false });
}

/** A duration such as "840 ms" or "2.4 s". */
export function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
