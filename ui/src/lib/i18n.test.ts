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
