// Validation of an architecture layout (JSON data) into an ArchitectureDef, with errors that name
// the file and the field.
import { AmalgamError } from "../errors.ts";
import { DEFAULT_MODULE } from "./types.ts";
import type { ArchitectureDef, ModuleDef, WeightInfo } from "./types.ts";

/** Template variables a weight name may use. */
export const LAYER_VAR = "${layer_index}";
export const EXPERT_VAR = "${expert_index}";
const VAR_RE = /\$\{([^}]*)\}/g;

const MODULE_KEYS = ["num_layers_config_key", "num_experts_config_key", "pre_weights", "layer_templates", "post_weights"];
const TOP_KEYS = ["model_type", "architectures", "vocab_size_config_key", ...MODULE_KEYS];
const MODULAR_KEYS = ["kind", "model_type", "architectures", "vocab_size_config_key", "modules"];
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

function configKey(v: unknown, source: string, path: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !v) fail(source, path, "a config.json key");
  return v;
}

/** One module: its weights and config keys. `at` prefixes paths in messages ("" or "modules.x."). */
function moduleDef(raw: Record<string, unknown>, name: string, source: string, at: string, layersRequired: boolean): ModuleDef {
  const layerCountKey = configKey(raw["num_layers_config_key"], source, `${at}num_layers_config_key`);
  if (layersRequired && layerCountKey === undefined) fail(source, `${at}num_layers_config_key`, "a config.json key");
  const expertCountKey = configKey(raw["num_experts_config_key"], source, `${at}num_experts_config_key`);
  const lt = raw["layer_templates"] ?? { weights: [] };
  if (!isObject(lt) || Object.keys(lt).some((k) => k !== "weights")) fail(source, `${at}layer_templates`, "{weights: [...]}");
  const layerVars = expertCountKey ? [LAYER_VAR, EXPERT_VAR] : [LAYER_VAR];
  const def: ModuleDef = {
    name,
    layerCountKey,
    expertCountKey,
    preWeights: weights(raw["pre_weights"] ?? [], source, `${at}pre_weights`, []),
    layerWeights: weights(lt["weights"], source, `${at}layer_templates.weights`, layerVars),
    postWeights: weights(raw["post_weights"] ?? [], source, `${at}post_weights`, []),
  };
  for (const [i, w] of def.layerWeights.entries()) {
    if (!w.name.includes(LAYER_VAR)) fail(source, `${at}layer_templates.weights[${i}].name`, `a template containing ${LAYER_VAR} (got "${w.name}")`);
  }
  if (def.layerWeights.length && layerCountKey === undefined) fail(source, `${at}num_layers_config_key`, "a config.json key (the module has layer weights)");
  return def;
}

/**
 * Parses one layout (already decoded JSON); `source` names it in messages. A single-module layout
 * has its weights at the top level; `"kind": "modular"` has `modules: {name: {weights...}}`.
 */
export function parseArchitecture(raw: unknown, source: string): ArchitectureDef {
  if (!isObject(raw)) fail(source, "the top level", "a JSON object");
  const modular = raw["kind"] !== undefined;
  if (modular && raw["kind"] !== "modular") fail(source, "kind", `"modular" (or no "kind" for a single-module layout)`);
  const keys = modular ? MODULAR_KEYS : TOP_KEYS;
  for (const k of Object.keys(raw)) if (!keys.includes(k)) fail(source, k, `one of ${keys.join(", ")}`);
  const modelType = raw["model_type"];
  if (typeof modelType !== "string" || !modelType) fail(source, "model_type", "a non-empty string");
  const architectures = strings(raw["architectures"], source, "architectures");
  if (architectures.length === 0) fail(source, "architectures", "at least one architecture class name");
  const vocabSizeKey = configKey(raw["vocab_size_config_key"], source, "vocab_size_config_key") ?? "vocab_size";
  let modules: ModuleDef[];
  if (modular) {
    const m = raw["modules"];
    if (!isObject(m) || Object.keys(m).length === 0) fail(source, "modules", "an object of module name -> {pre_weights, layer_templates, post_weights, num_layers_config_key}");
    modules = Object.entries(m).map(([name, def]) => {
      if (!isObject(def)) fail(source, `modules.${name}`, "an object");
      for (const k of Object.keys(def)) if (!MODULE_KEYS.includes(k)) fail(source, `modules.${name}.${k}`, `one of ${MODULE_KEYS.join(", ")}`);
      return moduleDef(def, name, source, `modules.${name}.`, false);
    });
  } else {
    modules = [moduleDef(raw, DEFAULT_MODULE, source, "", true)];
  }
  const seen = new Set<string>();
  for (const mod of modules) {
    for (const w of [...mod.preWeights, ...mod.layerWeights, ...mod.postWeights]) {
      if (seen.has(w.name)) fail(source, `weight "${w.name}"`, "each weight listed once");
      seen.add(w.name);
    }
  }
  return { source, modelType, architectures, modules, vocabSizeKey };
}

/** A template's name for one layer (and expert). */
export function expandTemplate(template: string, layer: number, expert?: number): string {
  let s = template.replaceAll(LAYER_VAR, String(layer));
  if (expert !== undefined) s = s.replaceAll(EXPERT_VAR, String(expert));
  return s;
}
