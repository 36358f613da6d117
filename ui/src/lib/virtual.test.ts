import { expect, test } from "vitest";
import { bottomTop, isAtBottom, prefixSums, rowAt, totalHeight, visibleRange } from "./virtual";

test("prefix sums give each row's top and the total", () => {
  const offsets = prefixSums([10, 20, 30]);
  expect([...offsets]).toEqual([0, 10, 30, 60]);
  expect(totalHeight(offsets)).toBe(60);
  expect([...prefixSums([])]).toEqual([0]);
  expect(totalHeight(prefixSums([]))).toBe(0);
});

test("rowAt finds the row containing a position", () => {
  const offsets = prefixSums([10, 20, 30]);
  expect(rowAt(offsets, -5)).toBe(0);
  expect(rowAt(offsets, 0)).toBe(0);
  expect(rowAt(offsets, 9.9)).toBe(0);
  expect(rowAt(offsets, 10)).toBe(1);
  expect(rowAt(offsets, 29)).toBe(1);
  expect(rowAt(offsets, 30)).toBe(2);
  expect(rowAt(offsets, 1000)).toBe(2);
  expect(rowAt(prefixSums([]), 10)).toBe(0);
});

test("visibleRange covers the viewport plus overscan", () => {
  const offsets = prefixSums(new Array(100).fill(10));
  expect(visibleRange(offsets, 0, 50)).toEqual({ start: 0, end: 5 });
  expect(visibleRange(offsets, 55, 50)).toEqual({ start: 5, end: 11 });
  expect(visibleRange(offsets, 100, 50, 20)).toEqual({ start: 8, end: 17 });
  // Scrolled past the end: the last rows.
  expect(visibleRange(offsets, 995, 50)).toEqual({ start: 99, end: 100 });
  expect(visibleRange(prefixSums([]), 0, 50)).toEqual({ start: 0, end: 0 });
});

test("visibleRange handles mixed heights", () => {
  const offsets = prefixSums([100, 5, 5, 5, 300, 10]);
  // 0-100 row 0, 100-105 row 1, 105-110 row 2, 110-115 row 3, 115-415 row 4, 415-425 row 5
  expect(visibleRange(offsets, 102, 10)).toEqual({ start: 1, end: 4 });
  expect(visibleRange(offsets, 200, 100)).toEqual({ start: 4, end: 5 });
  expect(visibleRange(offsets, 400, 100)).toEqual({ start: 4, end: 6 });
});

test("10,000 rows: a window of a few dozen rows, found fast", () => {
  const heights = Array.from({ length: 10_000 }, (_, i) => 40 + (i % 7) * 13);
  const started = performance.now();
  const offsets = prefixSums(heights);
  const total = totalHeight(offsets);
  const range = visibleRange(offsets, bottomTop(total, 800), 800, 400);
  expect(performance.now() - started).toBeLessThan(50);
  expect(range.end).toBe(10_000);
  expect(range.end - range.start).toBeLessThan(60);
  expect(offsets[range.start]).toBeLessThanOrEqual(total - 800 - 400);
});

test("isAtBottom and bottomTop", () => {
  expect(isAtBottom(900, 1000, 100)).toBe(true);
  expect(isAtBottom(897, 1000, 100)).toBe(true);
  expect(isAtBottom(800, 1000, 100)).toBe(false);
  expect(bottomTop(1000, 100)).toBe(900);
  expect(bottomTop(50, 100)).toBe(0);
});
