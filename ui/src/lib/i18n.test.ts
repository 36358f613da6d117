import { afterEach, expect, test } from "vitest";
import { locale, setLanguage, t } from "./i18n.svelte";

afterEach(() => setLanguage(""));

test("looks up the current language and falls back to the key", () => {
  setLanguage("en");
  expect(t("common.known")).toBe("Known");
  setLanguage("zh");
  expect(locale.current).toBe("zh");
  expect(t("common.known")).toBe("已知");
  expect(t("common.nope")).toBe("common.nope");
});

test("a count of one takes the singular where a language has one", () => {
  setLanguage("en");
  expect(t("goals.stepsCount", { count: 1 })).toBe("1 step");
  expect(t("goals.stepsCount", { count: 2 })).toBe("2 steps");
  expect(t("goals.stepsCount", { count: 0 })).toBe("0 steps");
  setLanguage("zh");
  expect(t("goals.stepsCount", { count: 1 })).toBe("1 个步骤");
});
