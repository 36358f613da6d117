// Pure helpers for virtualised lists (see ../components/VirtualList.svelte): rows have measured
// (or estimated) heights; a prefix sum gives each row's top, and a binary search finds the rows
// that intersect the viewport. Everything here is O(log n) per lookup and O(n) per rebuild.

/** `offsets[i]` is the top of row `i`; `offsets[n]` is the total height. */
export function prefixSums(heights: ArrayLike<number>): Float64Array {
  const offsets = new Float64Array(heights.length + 1);
  for (let i = 0; i < heights.length; i++) offsets[i + 1] = offsets[i] + heights[i];
  return offsets;
}

/** The total height of the rows behind `offsets`. */
export function totalHeight(offsets: Float64Array): number {
  return offsets[offsets.length - 1] ?? 0;
}

/**
 * The index of the row that contains vertical position `y`: the last row whose top is at or
 * above `y`, clamped to the rows that exist (0 when there are none).
 */
export function rowAt(offsets: Float64Array, y: number): number {
  const n = offsets.length - 1;
  if (n <= 0) return 0;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (offsets[mid] <= y) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** A half-open range of row indices `[start, end)`. */
export interface Range {
  start: number;
  end: number;
}

/**
 * The rows to render for a viewport of `height` pixels scrolled to `top`, plus `overscan` pixels
 * above and below (so fast scrolling does not show blank space).
 */
export function visibleRange(offsets: Float64Array, top: number, height: number, overscan = 0): Range {
  const n = offsets.length - 1;
  if (n <= 0) return { start: 0, end: 0 };
  const start = rowAt(offsets, Math.max(0, top - overscan));
  const bottom = top + Math.max(0, height) + overscan;
  let end = rowAt(offsets, bottom) + 1;
  // A row that starts exactly at the bottom edge is not visible.
  if (end - 1 > start && offsets[end - 1] >= bottom) end -= 1;
  return { start, end: Math.min(n, Math.max(end, start + 1)) };
}

/** The scroll position that shows the end of the content. */
export function bottomTop(total: number, height: number): number {
  return Math.max(0, total - height);
}

/** Whether a scroll container is (within `threshold` pixels) scrolled to the end. */
export function isAtBottom(scrollTop: number, scrollHeight: number, clientHeight: number, threshold = 4): boolean {
  return scrollHeight - scrollTop - clientHeight <= threshold;
}
