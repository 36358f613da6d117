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
