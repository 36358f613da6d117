import { expect, test } from "vitest";
import { duration, relativeTime, shortId } from "./format";

test("durations under a second are shown in milliseconds", () => {
  expect(duration(0)).toBe("0 ms");
  expect(duration(840.4)).toBe("840 ms");
});

test("longer durations are shown in seconds with one decimal", () => {
  expect(duration(1000)).toBe("1.0 s");
  expect(duration(2449)).toBe("2.4 s");
});

test("relative times read naturally in both languages", () => {
  const now = Date.UTC(2026, 0, 10, 12);
  expect(relativeTime(now - 10_000, now, "en")).toBe("now");
  expect(relativeTime(now - 5 * 60_000, now, "en")).toBe("5 minutes ago");
  expect(relativeTime(now - 3 * 3600_000, now, "en")).toBe("3 hours ago");
  expect(relativeTime(now - 86400_000, now, "en")).toBe("yesterday");
  expect(relativeTime(now - 5 * 60_000, now, "zh")).toBe("5分钟前");
});

test("long ids are shortened", () => {
  expect(shortId("abcdef0123456789")).toBe("abcdef01…");
  expect(shortId("abc")).toBe("abc");
});
