// Validation of a MergeKit YAML config into a typed MergeConfig, with errors that name the
// config path, line and column, and say what was expected.
import { parseConfigDType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { parseModelRef } from "./model-ref.ts";
import type { ConditionalParameter, MergeConfig, ModelRef, ParameterEntry, ParameterSetting, ScalarOrGradient, SliceConfig, SourceConfig, ModuleConfig, TokenEmbeddingConfig, TokenizerConfig, TokenSource } from "./types.ts";
import { configError, parseYamlTree, where } from "./yaml-tree.ts";
import type { YMap, YNode } from "./yaml-tree.ts";

const TOP_KEYS = [
  "merge_method", "models", "slices", "modules", "base_model", "dtype", "out_dtype", "parameters",
  "tokenizer_source", "tokenizer", "chat_template", "name",
] as const;
const MODEL_KEYS = ["model", "parameters"] as const;
const SOURCE_KEYS = ["model", "layer_range", "parameters"] as const;
const SLICE_KEYS = ["sources", "base_model", "residual_weight", "parameters"] as const;

function describe(n: YNode): string {
  if (n.kind === "map") return "a mapping";
  if (n.kind === "seq") return n.items.length ? "a list" : "an empty list";
  return n.value === null ? "nothing" : JSON.stringify(n.value);
}

function asMap(n: YNode, what: string): YMap {
  if (n.kind !== "map") throw configError(n, `expected ${what}, got ${describe(n)}`, "E_CONFIG_TYPE");
  return n;
}

function checkKeys(m: YMap, allowed: readonly string[]): void {
  for (const [k, v] of m.entries) {
    if (!allowed.includes(k)) {
      throw configError(v, `unknown key "${k}"; expected one of: ${allowed.join(", ")}`, "E_CONFIG_UNKNOWN_KEY");
    }
  }
}

function get(m: YMap, key: string): YNode | undefined {
  for (const [k, v] of m.entries) if (k === key) return v;
  return undefined;
}

function isNull(n: YNode | undefined): boolean {
  return n === undefined || (n.kind === "scalar" && n.value === null);
}

/** A YAML number, or what pydantic coerces to a float (booleans, numeric strings). */
function asNumber(n: YNode, what: string): number {
  if (n.kind === "scalar") {
    if (typeof n.value === "number") return n.value;
    if (typeof n.value === "boolean") return n.value ? 1 : 0;
    if (typeof n.value === "string" && n.value.trim() !== "" && Number.isFinite(Number(n.value))) return Number(n.value);
  }
  throw configError(n, `expected ${what}, got ${describe(n)}`, "E_CONFIG_TYPE");
}

function asString(n: YNode, what: string): string {
  if (n.kind === "scalar" && typeof n.value === "string") return n.value;
  if (n.kind === "scalar" && typeof n.value === "number") return String(n.value);
  throw configError(n, `expected ${what}, got ${describe(n)}`, "E_CONFIG_TYPE");
}

const NUMBER_OR_LIST = "a number or a list of numbers";

function scalarOrGradient(n: YNode): ScalarOrGradient {
  if (n.kind === "seq") {
    if (n.items.length === 0) throw configError(n, `expected ${NUMBER_OR_LIST}, got an empty list`, "E_CONFIG_TYPE");
    return n.items.map((it) => asNumber(it, NUMBER_OR_LIST));
  }
  return asNumber(n, NUMBER_OR_LIST);
}

function parameterSetting(n: YNode): ParameterSetting {
  if (n.kind === "seq" && n.items.length > 0 && n.items.some((it) => it.kind === "map")) {
    const items: ConditionalParameter[] = n.items.map((it) => {
      const m = asMap(it, "a {filter, value} mapping (all items of a filtered list must be mappings)");
      checkKeys(m, ["filter", "value"]);
      const v = get(m, "value");
      if (v === undefined) throw configError(m, `missing "value"`);
      const f = get(m, "filter");
      return { value: scalarOrGradient(v), filter: isNull(f) ? undefined : asString(f!, "a filter string") };
    });
    return { kind: "conditional", items };
  }
  if (n.kind === "map") {
    // MergeKit's schema accepts a bare {filter, value} but fails at merge time; say so now.
    throw configError(n, `a single {filter, value} mapping must be written as a list item ("- filter: ...")`, "E_CONFIG_TYPE");
  }
  return { kind: "value", value: scalarOrGradient(n) };
}

function parameters(n: YNode | undefined): Map<string, ParameterEntry> {
  const out = new Map<string, ParameterEntry>();
  if (isNull(n)) return out;
  const m = asMap(n!, "a mapping of parameter names to values");
  for (const [k, v] of m.entries) {
    if (isNull(v)) continue; // `weight:` with no value is None in MergeKit: not set at this level
    out.set(k, { setting: parameterSetting(v), path: v.path, pos: v.pos });
  }
  return out;
}

function modelRef(n: YNode): ModelRef {
  if (n.kind === "map") {
    checkKeys(n, ["model", "lora", "override_architecture"]);
    const inner = get(n, "model");
    if (!inner) throw configError(n, `missing "model"`);
    let text: string;
    if (inner.kind === "map") {
      checkKeys(inner, ["path", "revision"]);
      const p = get(inner, "path");
      if (!p) throw configError(inner, `missing "path"`);
      text = asString(p, "a model path");
      const r = get(inner, "revision");
      if (!isNull(r)) text += `@${asString(r!, "a revision")}`;
    } else {
      text = asString(inner, "a model path");
    }
    const lora = get(n, "lora");
    if (!isNull(lora)) {
      if (lora!.kind === "map") {
        const p = get(lora!, "path");
        if (!p) throw configError(lora!, `missing "path"`);
        text += `+${asString(p, "a LoRA path")}`;
      } else {
        text += `+${asString(lora!, "a LoRA path")}`;
      }
    }
    return parseModelRef(text, where(n));
  }
  return parseModelRef(asString(n, "a model path or reference"), where(n));
}

function layerRange(n: YNode | undefined): readonly [number, number] | undefined {
  if (isNull(n)) return undefined;
  if (n!.kind !== "seq" || n!.items.length !== 2) throw configError(n!, `expected [start, end], got ${describe(n!)}`, "E_CONFIG_TYPE");
  const [a, b] = n!.items.map((it) => asNumber(it, "an integer layer index")) as [number, number];
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < a) {
    throw configError(n!, `expected [start, end] with integers 0 <= start <= end, got [${a}, ${b}]`, "E_CONFIG_TYPE");
  }
  return [a, b];
}

function dtypeOf(n: YNode | undefined, key: string) {
  if (isNull(n)) return undefined;
  return parseConfigDType(asString(n!, `a dtype name`), where(n!) || key);
}

function modelList(node: YNode): SourceConfig[] {
  if (node.kind !== "seq" || node.items.length === 0) {
    throw configError(node, `expected a non-empty list of models, got ${describe(node)}`, "E_CONFIG_TYPE");
  }
  return node.items.map((it) => {
    const m = asMap(it, "a mapping with a \"model\" key");
    checkKeys(m, MODEL_KEYS);
    const mn = get(m, "model");
    if (isNull(mn)) throw configError(m, `missing "model"`);
    return { model: modelRef(mn!), layerRange: undefined, parameters: parameters(get(m, "parameters")), path: m.path, pos: m.pos };
  });
}

function sliceList(node: YNode): SliceConfig[] {
  if (node.kind !== "seq" || node.items.length === 0) {
    throw configError(node, `expected a non-empty list of slices, got ${describe(node)}`, "E_CONFIG_TYPE");
  }
  return node.items.map((it) => {
    const s = asMap(it, "a mapping with a \"sources\" key");
    checkKeys(s, SLICE_KEYS);
    const srcNode = get(s, "sources");
    if (isNull(srcNode) || srcNode!.kind !== "seq" || srcNode!.items.length === 0) {
      throw configError(srcNode ?? s, `expected a non-empty list of sources`, "E_CONFIG_TYPE");
    }
    const sources = srcNode!.items.map((x) => {
      const m = asMap(x, "a mapping with \"model\" and \"layer_range\"");
      checkKeys(m, SOURCE_KEYS);
      const mn = get(m, "model");
      if (isNull(mn)) throw configError(m, `missing "model"`);
      const lr = layerRange(get(m, "layer_range"));
      if (!lr) throw configError(m, `missing "layer_range" (every source of a slice needs [start, end])`);
      return { model: modelRef(mn!), layerRange: lr, parameters: parameters(get(m, "parameters")), path: m.path, pos: m.pos };
    });
    const b = get(s, "base_model");
    return { sources, baseModel: isNull(b) ? undefined : modelRef(b!), parameters: parameters(get(s, "parameters")), path: s.path, pos: s.pos };
  });
}

/** `modules: {name: {models | slices, parameters?}}` (multi-module architectures). */
function moduleMap(node: YNode): Map<string, ModuleConfig> {
  const out = new Map<string, ModuleConfig>();
  for (const [name, v] of asMap(node, "a mapping of module names to {models | slices, parameters}").entries) {
    const m = asMap(v, "a mapping with \"models\" or \"slices\"");
    checkKeys(m, ["models", "slices", "parameters"]);
    const mn = get(m, "models");
    const sn = get(m, "slices");
    if (isNull(mn) === isNull(sn)) throw configError(m, `exactly one of "models" or "slices" must be given`, "E_CONFIG");
    out.set(name, {
      models: isNull(mn) ? undefined : modelList(mn!), slices: isNull(sn) ? undefined : sliceList(sn!),
      parameters: parameters(get(m, "parameters")), path: m.path,
    });
  }
  if (out.size === 0) throw configError(node, `expected at least one module`, "E_CONFIG");
  return out;
}

/** `union`, `base`, or a model reference. */
function tokenizerSource(n: YNode): TokenizerConfig["source"] {
  if (n.kind === "scalar" && (n.value === "union" || n.value === "base")) return { kind: n.value };
  return { kind: "model", model: modelRef(n) };
}

/** A token's embedding source: a model reference, `{kind: model_token, ...}` or `{kind: zero}`. */
function tokenSource(n: YNode): TokenSource {
  if (n.kind === "map" && get(n, "kind") !== undefined) {
    const kind = asString(get(n, "kind")!, "\"model_token\" or \"zero\"");
    if (kind === "zero") {
      checkKeys(n, ["kind"]);
      return { kind: "zero" };
    }
    if (kind !== "model_token") throw configError(get(n, "kind")!, `expected "model_token" or "zero", got ${JSON.stringify(kind)}`, "E_CONFIG_TYPE");
    checkKeys(n, ["kind", "model", "token", "token_id"]);
    const m = get(n, "model");
    if (isNull(m)) throw configError(n, `missing "model"`);
    const tokNode = get(n, "token");
    const idNode = get(n, "token_id");
    if (isNull(tokNode) === isNull(idNode)) throw configError(n, `exactly one of "token" and "token_id" must be given`, "E_CONFIG");
    let tokenId: number | undefined;
    if (!isNull(idNode)) {
      tokenId = asNumber(idNode!, "a token id");
      if (!Number.isInteger(tokenId) || tokenId < 0) throw configError(idNode!, `expected a non-negative integer token id, got ${tokenId}`, "E_CONFIG_TYPE");
    }
    return { kind: "model_token", model: modelRef(m!), token: isNull(tokNode) ? undefined : asString(tokNode!, "a token"), tokenId };
  }
  return { kind: "model", model: modelRef(n) };
}

function tokenizerConfig(n: YNode): TokenizerConfig {
  const m = asMap(n, "a mapping with \"source\", \"tokens\" or \"pad_to_multiple_of\"");
  checkKeys(m, ["source", "tokens", "pad_to_multiple_of"]);
  const src = get(m, "source");
  const tokens = new Map<string, TokenEmbeddingConfig>();
  const tn = get(m, "tokens");
  if (!isNull(tn)) {
    for (const [tok, v] of asMap(tn!, "a mapping of tokens to {source, force}").entries) {
      if (isNull(v)) {
        tokens.set(tok, { source: undefined, force: false, path: v.path });
        continue;
      }
      const e = asMap(v, "a mapping with \"source\" and/or \"force\"");
      checkKeys(e, ["source", "force"]);
      const s = get(e, "source");
      const f = get(e, "force");
      if (!isNull(f) && !(f!.kind === "scalar" && typeof f!.value === "boolean")) throw configError(f!, `expected true or false, got ${describe(f!)}`, "E_CONFIG_TYPE");
      tokens.set(tok, { source: isNull(s) ? undefined : tokenSource(s!), force: !isNull(f) && (f as { value: unknown }).value === true, path: v.path });
    }
  }
  const pad = get(m, "pad_to_multiple_of");
  let padToMultipleOf: number | undefined;
  if (!isNull(pad)) {
    padToMultipleOf = asNumber(pad!, "a positive integer");
    if (!Number.isInteger(padToMultipleOf) || padToMultipleOf < 1) throw configError(pad!, `expected a positive integer, got ${padToMultipleOf}`, "E_CONFIG_TYPE");
  }
  return { source: isNull(src) ? { kind: "union" } : tokenizerSource(src!), tokens, padToMultipleOf, path: m.path };
}

/** Parses and validates MergeKit YAML. `file` names the config in messages. */
export function parseMergeConfig(text: string, file = "config"): MergeConfig {
  const root = parseYamlTree(text, file);
  if (isNull(root)) throw new AmalgamError("E_CONFIG", `${file}: the config is empty`);
  const top = asMap(root, "a mapping at the top level of the config");
  checkKeys(top, TOP_KEYS);
  const mm = get(top, "merge_method");
  if (isNull(mm)) throw new AmalgamError("E_CONFIG", `${file}: missing "merge_method"`);
  const mergeMethod = asString(mm!, "a merge method name");

  const modelsNode = get(top, "models");
  const slicesNode = get(top, "slices");
  const modulesNode = get(top, "modules");
  const given = [modelsNode, slicesNode, modulesNode].filter((n) => !isNull(n)).length;
  if (given !== 1) {
    throw new AmalgamError("E_CONFIG", `${file}: exactly one of "models", "slices" or "modules" must be given (found ${given})`);
  }
  const models = isNull(modelsNode) ? undefined : modelList(modelsNode!);
  const slices = isNull(slicesNode) ? undefined : sliceList(slicesNode!);
  const modules = isNull(modulesNode) ? undefined : moduleMap(modulesNode!);

  const base = get(top, "base_model");
  const tok = get(top, "tokenizer");
  const tsrc = get(top, "tokenizer_source");
  if (!isNull(tok) && !isNull(tsrc)) {
    throw configError(tsrc!, `"tokenizer_source" and "tokenizer" cannot both be given; use tokenizer.source`, "E_CONFIG");
  }
  let tokenizer: TokenizerConfig | undefined;
  if (!isNull(tok)) tokenizer = tokenizerConfig(tok!);
  else if (!isNull(tsrc)) tokenizer = { source: tokenizerSource(tsrc!), tokens: new Map(), padToMultipleOf: undefined, path: tsrc!.path };
  const ct = get(top, "chat_template");
  const chatTemplate = isNull(ct) ? undefined : asString(ct!, "a chat template name or Jinja template");

  return {
    mergeMethod,
    methodPos: mm!.pos,
    models,
    slices,
    modules,
    baseModel: isNull(base) ? undefined : modelRef(base!),
    dtype: dtypeOf(get(top, "dtype"), "dtype"),
    outDtype: dtypeOf(get(top, "out_dtype"), "out_dtype"),
    parameters: parameters(get(top, "parameters")),
    tokenizer,
    chatTemplate,
    text,
    file,
  };
}

