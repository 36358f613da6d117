import { expect, test } from "vitest";
import { formFields, formToInput, inputTemplate, inputToForm, problemsOf } from "./schema";

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

test("a form has one field per property, typed by the schema; none without properties", () => {
  const schema = JSON.stringify({
    type: "object",
    required: ["a"],
    properties: {
      a: { type: "string", description: "the a" },
      n: { type: ["integer", "null"] },
      x: { type: "number" },
      ok: { type: "boolean" },
      pick: { enum: [1, "two"] },
      deep: { type: "array" },
      loose: {},
    },
  });
  expect(formFields(schema)?.map((f) => [f.name, f.kind, f.required])).toEqual([
    ["a", "text", true],
    ["n", "integer", false],
    ["x", "number", false],
    ["ok", "boolean", false],
    ["pick", "choice", false],
    ["deep", "json", false],
    ["loose", "json", false],
  ]);
  expect(formFields(schema)?.[0].description).toBe("the a");
  for (const none of ["{}", '{"type": "string"}', "not json", '{"properties": {}}']) {
    expect(formFields(none)).toBeNull();
  }
});

test("form and JSON carry the same input both ways; empty optional fields are left out", () => {
  const fields = formFields(
    JSON.stringify({
      required: ["a"],
      properties: { a: { type: "string" }, b: { type: "string" }, n: { type: "integer" }, ok: { type: "boolean" }, pick: { enum: [1, "two"] }, deep: { type: "object" } },
    }),
  )!;
  const input = { a: "", n: 3, ok: true, pick: "two", deep: { k: [1] } };
  const state = inputToForm(fields, JSON.stringify(input))!;
  expect(state).toMatchObject({ a: "", b: "", n: "3", ok: true, pick: "1" });
  const back = formToInput(fields, state);
  expect(back.problems).toEqual([]);
  expect(JSON.parse(back.input)).toEqual(input);
  expect(inputToForm(fields, "[1]")).toBeNull();
  expect(inputToForm(fields, "{oops")).toBeNull();
  // A number that does not parse goes as text, for the schema check to name; bad JSON is the form's.
  const bad = formToInput(fields, { ...state, n: "three", deep: "{k:" });
  expect(JSON.parse(bad.input).n).toBe("three");
  expect(bad.problems.map((p) => p.path)).toEqual(["/deep"]);
});

test("problems are matched to their field, including a missing one and escaped names", () => {
  const problems = [
    { path: "", message: 'missing required property "a/b"' },
    { path: "/a~1b/0", message: "too short" },
    { path: "/ab", message: "other" },
  ];
  expect(problemsOf("a/b", problems).map((p) => p.message)).toEqual(['missing required property "a/b"', "too short"]);
  expect(problemsOf("a", problems)).toEqual([]);
});
