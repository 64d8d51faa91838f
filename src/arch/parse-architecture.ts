// Validation of an architecture layout (JSON data) into an ArchitectureDef, with errors that name
// the file and the field.
import { AmalgamError } from "../errors.ts";
import type { ArchitectureDef, WeightInfo } from "./types.ts";

/** Template variables a weight name may use. */
export const LAYER_VAR = "${layer_index}";
export const EXPERT_VAR = "${expert_index}";
const VAR_RE = /\$\{([^}]*)\}/g;

const TOP_KEYS = ["model_type", "architectures", "num_layers_config_key", "num_experts_config_key", "pre_weights", "layer_templates", "post_weights"];
const WEIGHT_KEYS = ["name", "is_embed", "optional", "aliases", "tied_names"];

function fail(source: string, path: string, expected: string): never {
  throw new AmalgamError("E_ARCH", `${source}: ${path}: expected ${expected}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function strings(v: unknown, source: string, path: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string" && s.length > 0)) fail(source, path, "a list of non-empty strings");
  return v as string[];
}

function checkVars(name: string, allowed: readonly string[], source: string, path: string): void {
  for (const m of name.matchAll(VAR_RE)) {
    if (!allowed.includes(m[0])) {
      fail(source, path, `${allowed.length ? `only ${allowed.join(" and ")}` : "no template variables"} in "${name}" (found ${m[0]})`);
    }
  }
}

function weight(v: unknown, source: string, path: string, vars: readonly string[]): WeightInfo {
  if (typeof v === "string") v = { name: v };
  if (!isObject(v)) fail(source, path, "a weight name or {name, is_embed?, optional?, aliases?, tied_names?}");
  for (const k of Object.keys(v)) if (!WEIGHT_KEYS.includes(k)) fail(source, `${path}.${k}`, `one of ${WEIGHT_KEYS.join(", ")}`);
  const name = v["name"];
  if (typeof name !== "string" || name.length === 0) fail(source, `${path}.name`, "a non-empty string");
  for (const k of ["is_embed", "optional"]) if (v[k] !== undefined && typeof v[k] !== "boolean") fail(source, `${path}.${k}`, "true or false");
  const aliases = strings(v["aliases"], source, `${path}.aliases`);
  const tiedNames = strings(v["tied_names"], source, `${path}.tied_names`);
  for (const n of [name, ...aliases]) checkVars(n, vars, source, `${path}.name`);
  for (const n of tiedNames) checkVars(n, vars, source, `${path}.tied_names`);
  return { name, isEmbed: v["is_embed"] === true, optional: v["optional"] === true, aliases, tiedNames };
}

function weights(v: unknown, source: string, path: string, vars: readonly string[]): WeightInfo[] {
  if (!Array.isArray(v)) fail(source, path, "a list of weights");
  return v.map((w, i) => weight(w, source, `${path}[${i}]`, vars));
}

/** Parses one layout (already decoded JSON); `source` names it in messages. */
export function parseArchitecture(raw: unknown, source: string): ArchitectureDef {
  if (!isObject(raw)) fail(source, "the top level", "a JSON object");
  for (const k of Object.keys(raw)) if (!TOP_KEYS.includes(k)) fail(source, k, `one of ${TOP_KEYS.join(", ")}`);
  const modelType = raw["model_type"];
  if (typeof modelType !== "string" || !modelType) fail(source, "model_type", "a non-empty string");
  const architectures = strings(raw["architectures"], source, "architectures");
  if (architectures.length === 0) fail(source, "architectures", "at least one architecture class name");
  const layerCountKey = raw["num_layers_config_key"];
  if (typeof layerCountKey !== "string" || !layerCountKey) fail(source, "num_layers_config_key", "a config.json key");
  const expertKey = raw["num_experts_config_key"];
  if (expertKey !== undefined && (typeof expertKey !== "string" || !expertKey)) fail(source, "num_experts_config_key", "a config.json key");
  const lt = raw["layer_templates"];
  if (!isObject(lt) || Object.keys(lt).some((k) => k !== "weights")) fail(source, "layer_templates", "{weights: [...]}");
  const layerVars = expertKey ? [LAYER_VAR, EXPERT_VAR] : [LAYER_VAR];
  const def: ArchitectureDef = {
    source,
    modelType,
    architectures,
    layerCountKey,
    expertCountKey: expertKey as string | undefined,
    preWeights: weights(raw["pre_weights"] ?? [], source, "pre_weights", []),
    layerWeights: weights(lt["weights"], source, "layer_templates.weights", layerVars),
    postWeights: weights(raw["post_weights"] ?? [], source, "post_weights", []),
  };
  for (const [i, w] of def.layerWeights.entries()) {
    if (!w.name.includes(LAYER_VAR)) fail(source, `layer_templates.weights[${i}].name`, `a template containing ${LAYER_VAR} (got "${w.name}")`);
  }
  const seen = new Set<string>();
  for (const w of [...def.preWeights, ...def.layerWeights, ...def.postWeights]) {
    if (seen.has(w.name)) fail(source, `weight "${w.name}"`, "each weight listed once");
    seen.add(w.name);
  }
  return def;
}

/** A template's name for one layer (and expert). */
export function expandTemplate(template: string, layer: number, expert?: number): string {
  let s = template.replaceAll(LAYER_VAR, String(layer));
  if (expert !== undefined) s = s.replaceAll(EXPERT_VAR, String(expert));
  return s;
}
