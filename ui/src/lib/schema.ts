// Helpers for the JSON Schemas skills declare.

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  default?: unknown;
  enum?: unknown[];
  examples?: unknown[];
};

function sample(schema: Schema | undefined): unknown {
  if (!schema || typeof schema !== "object") return null;
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  switch (type) {
    case "string":
      return "";
    case "number":
    case "integer":
      return 0;
    case "boolean":
      return false;
    case "array":
      return [];
    case "object":
      return schema.properties ? template(schema.properties) : {};
    default:
      return schema.properties ? template(schema.properties) : null;
  }
}

function template(properties: Record<string, Schema>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, sample(value)]));
}

/**
 * A starting input for a skill: its input schema's properties with defaults or empty values of
 * their types, as pretty JSON; `{}` when the schema has no properties or cannot be read.
 */
export function inputTemplate(schemaText: string): string {
  try {
    const schema = JSON.parse(schemaText) as Schema;
    if (schema && typeof schema === "object" && schema.properties && Object.keys(schema.properties).length > 0) {
      return JSON.stringify(template(schema.properties), null, 2);
    }
  } catch {
    // Not JSON: start from an empty object.
  }
  return "{}";
}

/** How one input field is edited in the call form. */
export type FieldKind = "text" | "number" | "integer" | "boolean" | "choice" | "json";

/** One top-level property of a skill's input, as the call form shows it. */
export type Field = {
  name: string;
  kind: FieldKind;
  required: boolean;
  description: string;
  /** The allowed values of a `choice`. */
  options: unknown[];
};

/** What the form holds per field: text (numbers, JSON, a choice's index) or a checkbox. */
export type FormState = Record<string, string | boolean>;

/** A problem with the input: where (a JSON Pointer, as the peer's validator reports it) and what. */
export type Problem = { path: string; message: string };

type FieldSchema = Schema & { description?: unknown };

function kindOf(schema: FieldSchema | undefined): FieldKind {
  if (!schema || typeof schema !== "object") return "json";
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return "choice";
  const types = (Array.isArray(schema.type) ? schema.type : [schema.type]).filter((t) => t !== "null");
  if (types.length !== 1) return "json";
  switch (types[0]) {
    case "string":
      return "text";
    case "number":
      return "number";
    case "integer":
      return "integer";
    case "boolean":
      return "boolean";
    default:
      return "json";
  }
}

/**
 * The fields of a form for an input schema: one per top-level property, in the schema's order;
 * `null` when the schema is not an object with properties (the JSON view is then the only one).
 */
export function formFields(schemaText: string): Field[] | null {
  let schema: (Schema & { required?: unknown }) | null;
  try {
    schema = JSON.parse(schemaText);
  } catch {
    return null;
  }
  if (!schema || typeof schema !== "object" || !schema.properties || typeof schema.properties !== "object") {
    return null;
  }
  const properties = Object.entries(schema.properties);
  if (properties.length === 0) return null;
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  return properties.map(([name, property]) => {
    const field = property as FieldSchema | undefined;
    return {
      name,
      kind: kindOf(field),
      required: required.has(name),
      description: typeof field?.description === "string" ? field.description : "",
      options: Array.isArray(field?.enum) ? field.enum : [],
    };
  });
}

/** The form's state for an input (JSON text); `null` when the input is not a JSON object. */
export function inputToForm(fields: Field[], inputText: string): FormState | null {
  let input: unknown;
  try {
    input = JSON.parse(inputText);
  } catch {
    return null;
  }
  if (!input || typeof input !== "object" || Array.isArray(input)) return null;
  const values = input as Record<string, unknown>;
  const state: FormState = {};
  for (const field of fields) {
    const value = values[field.name];
    switch (field.kind) {
      case "boolean":
        state[field.name] = value === true;
        break;
      case "choice": {
        const index = field.options.findIndex((o) => JSON.stringify(o) === JSON.stringify(value));
        state[field.name] = index < 0 ? "" : String(index);
        break;
      }
      case "text":
        state[field.name] = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
        break;
      case "number":
      case "integer":
        state[field.name] = value === undefined || value === null ? "" : String(value);
        break;
      default:
        state[field.name] = value === undefined ? "" : JSON.stringify(value, null, 2);
    }
  }
  return state;
}

/**
 * The input (pretty JSON text) the form describes, and the problems only the form can see (a
 * field's JSON that does not parse). Empty optional fields are left out; a number that does not
 * parse is sent as text, for the schema check to name.
 */
export function formToInput(fields: Field[], state: FormState): { input: string; problems: Problem[] } {
  const input: Record<string, unknown> = {};
  const problems: Problem[] = [];
  for (const field of fields) {
    const raw = state[field.name];
    if (field.kind === "boolean") {
      input[field.name] = raw === true;
      continue;
    }
    const text = typeof raw === "string" ? raw : "";
    if (text.trim() === "" && field.kind !== "text") continue;
    if (text === "" && !field.required) continue;
    switch (field.kind) {
      case "text":
        input[field.name] = text;
        break;
      case "number":
      case "integer": {
        const n = Number(text.trim());
        input[field.name] = Number.isFinite(n) ? n : text;
        break;
      }
      case "choice":
        input[field.name] = field.options[Number(text)];
        break;
      default:
        try {
          input[field.name] = JSON.parse(text);
        } catch (e) {
          problems.push({ path: `/${field.name}`, message: `not valid JSON: ${e instanceof Error ? e.message : e}` });
        }
    }
  }
  return { input: JSON.stringify(input, null, 2), problems };
}

/** The problems that concern one field: at or below it, or its absence. */
export function problemsOf(field: string, problems: Problem[]): Problem[] {
  const pointer = `/${field.replaceAll("~", "~0").replaceAll("/", "~1")}`;
  return problems.filter(
    (p) =>
      p.path === pointer ||
      p.path.startsWith(`${pointer}/`) ||
      (p.path === "" && p.message.includes(`property ${JSON.stringify(field)}`)),
  );
}
