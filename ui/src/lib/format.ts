// Small, pure formatting helpers shared by pages.

/** A wall-clock time such as "14:03:07", in the user's locale. */
export function clockTime(epochMs: number, locale?: string): string {
  return new Date(epochMs).toLocaleTimeString(locale, { hour12: false });
}

/** A duration such as "840 ms" or "2.4 s". */
export function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** How long ago `epochMs` was, such as "5 minutes ago" or "昨天", in `lang`. */
export function relativeTime(epochMs: number, now: number = Date.now(), lang?: string): string {
  const seconds = Math.round((epochMs - now) / 1000);
  const abs = Math.abs(seconds);
  const fmt = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  if (abs < 45) return fmt.format(0, "second");
  if (abs < 45 * 60) return fmt.format(Math.round(seconds / 60), "minute");
  if (abs < 22 * 3600) return fmt.format(Math.round(seconds / 3600), "hour");
  if (abs < 26 * 86400) return fmt.format(Math.round(seconds / 86400), "day");
  if (abs < 320 * 86400) return fmt.format(Math.round(seconds / (30 * 86400)), "month");
  return fmt.format(Math.round(seconds / (365 * 86400)), "year");
}

/** The first characters of a long id such as an inbox id, for display ("abcd1234…"). */
export function shortId(id: string, length = 8): string {
  return id.length > length ? `${id.slice(0, length)}…` : id;
}
