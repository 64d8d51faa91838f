// A small validator for the JSON Schema subset of src/inspect/json-event-schema.ts (tests only).
import type { JsonSchema } from "../../src/inspect/json-event-schema.ts";

function typeOk(type: NonNullable<JsonSchema["type"]>, v: unknown): boolean {
  switch (type) {
    case "null": return v === null;
    case "array": return Array.isArray(v);
    case "object": return typeof v === "object" && v !== null && !Array.isArray(v);
    case "integer": return typeof v === "number" && Number.isInteger(v);
    case "number": return typeof v === "number" && Number.isFinite(v);
    default: return typeof v === type;
  }
}

/** Errors of `value` against `schema` ([] = valid). `root` resolves `#/$defs/...` references. */
export function validate(schema: JsonSchema, value: unknown, root: JsonSchema = schema, path = "$"): string[] {
  if (schema.$ref) {
    const name = schema.$ref.replace("#/$defs/", "");
    const target = root.$defs?.[name];
    if (!target) return [`${path}: unknown $ref ${schema.$ref}`];
    return validate(target, value, root, path);
  }
  const errs: string[] = [];
  if (schema.type && !typeOk(schema.type, value)) return [`${path}: expected ${schema.type}, got ${JSON.stringify(value)?.slice(0, 80)}`];
  if (schema.const !== undefined && value !== schema.const) errs.push(`${path}: expected ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
  if (schema.enum && !schema.enum.includes(value as string)) errs.push(`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  if (schema.anyOf && !schema.anyOf.some((s) => validate(s, value, root, path).length === 0)) errs.push(`${path}: matches none of anyOf (${JSON.stringify(value)?.slice(0, 80)})`);
  if (schema.oneOf) {
    const results = schema.oneOf.map((s) => validate(s, value, root, path));
    const n = results.filter((r) => r.length === 0).length;
    if (n !== 1) {
      const best = results.reduce((a, b) => (b.length < a.length ? b : a));
      errs.push(`${path}: matches ${n} of oneOf${n === 0 ? `; closest: ${best.slice(0, 5).join("; ")}` : ""}`);
    }
  }
  if (schema.items && Array.isArray(value)) value.forEach((v, i) => errs.push(...validate(schema.items!, v, root, `${path}[${i}]`)));
  if (typeOk("object", value) && (schema.properties || schema.additionalProperties !== undefined)) {
    const o = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in o)) errs.push(`${path}: missing "${r}"`);
    for (const [k, v] of Object.entries(o)) {
      const p = schema.properties?.[k];
      if (p) errs.push(...validate(p, v, root, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}: unexpected "${k}"`);
      else if (typeof schema.additionalProperties === "object") errs.push(...validate(schema.additionalProperties, v, root, `${path}.${k}`));
    }
  }
  return errs;
}
