import { expect, test } from "vitest";
import { settle, type Result } from "./ipc";

test("an ok result passes through", async () => {
  const ok: Result<number[]> = { status: "ok", data: [1, 2] };
  expect(await settle(Promise.resolve(ok))).toEqual(ok);
});

test("an error result passes through", async () => {
  const error: Result<string> = { status: "error", error: "unknown peer" };
  expect(await settle(Promise.resolve(error))).toEqual(error);
});

test("a thrown Error becomes an error result with its message", async () => {
  expect(await settle<null>(Promise.reject(new Error("ipc down")))).toEqual({ status: "error", error: "ipc down" });
});

test("any other thrown value becomes an error result with its text", async () => {
  expect(await settle<null>(Promise.reject("store locked"))).toEqual({ status: "error", error: "store locked" });
  expect(await settle<null>(Promise.reject(42))).toEqual({ status: "error", error: "42" });
});
