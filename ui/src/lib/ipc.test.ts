import { afterEach, expect, test } from "vitest";
import { errorText, settle, type Answer } from "./ipc";
import { setLanguage } from "./i18n.svelte";
import { failure } from "./ipcmock";

afterEach(() => setLanguage("en"));

test("an ok result passes through", async () => {
  const ok: Answer<number[]> = { status: "ok", data: [1, 2] };
  expect(await settle(Promise.resolve(ok))).toEqual(ok);
});

test("an error result becomes its text with its code", async () => {
  const error: Answer<string> = { status: "error", error: failure("unknown peer bob", "runtime.not_found", "not_found") };
  expect(await settle(Promise.resolve(error))).toEqual({ status: "error", error: "unknown peer bob", code: "runtime.not_found" });
});

test("errors are told in the UI's language: by code where it has a sentence, else framed by kind", () => {
  const offline = failure("the peer did not answer; it may be offline", "peer.offline", "timeout");
  const refused = failure("TRUST_TIER_TOO_LOW: needs internal", "call.failed", "refused");
  expect(errorText(offline)).toBe("The peer did not answer; it may be offline.");
  expect(errorText(refused)).toBe("TRUST_TIER_TOO_LOW: needs internal");
  setLanguage("zh");
  expect(errorText(offline)).toBe("对方没有回应，可能已离线。");
  expect(errorText(refused)).toBe("对方拒绝了请求：TRUST_TIER_TOO_LOW: needs internal");
});

test("a thrown Error becomes an error result with its message", async () => {
  expect(await settle<null>(Promise.reject(new Error("ipc down")))).toEqual({ status: "error", error: "ipc down", code: "ipc" });
});

test("any other thrown value becomes an error result with its text", async () => {
  expect(await settle<null>(Promise.reject("store locked"))).toEqual({ status: "error", error: "store locked", code: "ipc" });
  expect(await settle<null>(Promise.reject(42))).toEqual({ status: "error", error: "42", code: "ipc" });
});
