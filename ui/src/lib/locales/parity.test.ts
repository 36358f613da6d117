import { expect, test } from "vitest";
import { sections } from "./index";

// Every string exists in both languages, with the same {placeholders}.
test.each(Object.keys(sections))("section %s has the same keys and placeholders in en and zh", (name) => {
  const { en, zh } = sections[name];
  expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
  const params = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const key of Object.keys(en)) expect([key, params(zh[key] ?? "")]).toEqual([key, params(en[key])]);
});
