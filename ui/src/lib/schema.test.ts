import { expect, test } from "vitest";
import { inputTemplate } from "./schema";

test("fills the input schema's properties with defaults or empty values", () => {
  const schema = JSON.stringify({
    type: "object",
    properties: {
      text: { type: "string" },
      lang: { type: "string", default: "en" },
      count: { type: "integer" },
      loud: { type: "boolean" },
      tags: { type: "array" },
      mode: { enum: ["fast", "slow"] },
      opts: { type: "object", properties: { depth: { type: "number" } } },
    },
  });
  expect(JSON.parse(inputTemplate(schema))).toEqual({
    text: "",
    lang: "en",
    count: 0,
    loud: false,
    tags: [],
    mode: "fast",
    opts: { depth: 0 },
  });
});

test("falls back to an empty object", () => {
  expect(inputTemplate("{}")).toBe("{}");
  expect(inputTemplate('{"type":"object"}')).toBe("{}");
  expect(inputTemplate("not json")).toBe("{}");
});
