import { expect, test } from "vitest";
import { duration } from "./format";

test("durations under a second are shown in milliseconds", () => {
  expect(duration(0)).toBe("0 ms");
  expect(duration(840.4)).toBe("840 ms");
});

test("longer durations are shown in seconds with one decimal", () => {
  expect(duration(1000)).toBe("1.0 s");
  expect(duration(2449)).toBe("2.4 s");
});
