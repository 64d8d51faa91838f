// Structure-aware model directories for fuzzing: config.json, an optional
// model.safetensors.index.json and the shard files, each mutable as a JSON model or as bytes.
import { parseMergeConfig } from "../config/parse-config.ts";
import type { MergeConfig } from "../config/types.ts";
import { Obj, ODD_STRINGS, Raw, emitJson, weirdValue } from "./json-model.ts";
import type { JValue } from "./json-model.ts";
import { mutateText } from "./mutate-bytes.ts";
import type { Rng } from "./rng.ts";
import { mutateSafetensorsGenome, randomTensors, renderSafetensors, validGenome } from "./safetensors-case.ts";
import type { SafetensorsGenome, TensorSpec } from "./safetensors-case.ts";

export const MODEL_REF = "fuzz";
export const INDEX_FILE = "model.safetensors.index.json";

export interface ModelGenome {
  readonly config: Obj;
  readonly index: Obj | undefined;
  readonly shards: ReadonlyArray<readonly [string, SafetensorsGenome]>;
  /** Raw text replacing the rendered JSON of a file (after text havoc). */
  readonly rawText: ReadonlyMap<string, string>;
}

/** The files of a model directory, as the fuzz input. */
export type ModelInput = ReadonlyMap<string, Uint8Array>;

export const JSON_DICTIONARY = ["{", "}", "[", "]", ",", ":", "\"", "null", "true", "-1", "1e400", "\\u0000", "__proto__", "\"weight_map\"", "\"num_hidden_layers\"", "../", "/", "\\", "..", ".safetensors"];

export const ODD_SHARD_NAMES = [
  "../model.safetensors", "/etc/passwd", "..", ".", "", "a/b.safetensors", "a\\b.safetensors", "C:model.safetensors", "\\\\host\\share\\x.safetensors",
  "model.bin", "x\u0000.safetensors", ".hidden.safetensors", "config.json", "m".repeat(300) + ".safetensors", "model-00001-of-00002.safetensors ", "%2e%2e%2fx.safetensors",
  "model.safetensors.index.json", "\u202emodel.safetensors", "model.safetensors/",
];

export function randomConfig(rng: Rng, layers: number): Obj {
  // Mostly an unknown architecture (layout inferred from names); sometimes one with layout data.
  const arch = rng.chance(0.8) ? ["FuzzForCausalLM", "fuzz"] : rng.pick([["LlamaForCausalLM", "llama"], ["MixtralForCausalLM", "mixtral"], ["Qwen2MoeForCausalLM", "qwen2_moe"]]);
  const pairs: [string, JValue][] = [
    ["architectures", [arch[0]!]],
    ["model_type", arch[1]!],
    [rng.pick(["num_hidden_layers", "n_layer", "num_layers", "n_layers"]), layers],
    ["hidden_size", 4],
    ["torch_dtype", rng.pick(["bfloat16", "float32", "float16"])],
  ];
  if (rng.chance(0.3)) pairs.push(["rope_scaling", new Obj([["type", "linear"], ["factor", 2]])]);
  if (arch[1] !== "fuzz" || rng.chance(0.1)) pairs.push([rng.pick(["num_local_experts", "num_experts"]), rng.small(4)]);
  if (rng.chance(0.2)) pairs.push(["tie_word_embeddings", rng.chance(0.5)]);
  return new Obj(pairs);
}

/** A valid model: `shardCount` 0 means one model.safetensors and no index. */
export function validModel(rng: Rng, shardCount: number): ModelGenome {
  const tensors = randomTensors(rng, 12).filter((t) => ["F32", "BF16", "F16"].includes(t.dtype));
  if (tensors.length === 0) tensors.push({ name: "model.layers.0.mlp.down_proj.weight", dtype: "BF16", shape: [2, 2] });
  let maxLayer = -1;
  for (const t of tensors) {
    const m = /^(.*?)\.(\d+)\.(.+)$/.exec(t.name);
    if (m) maxLayer = Math.max(maxLayer, Number(m[2]));
  }
  const config = randomConfig(rng, maxLayer + 1 + rng.small(2));
  if (shardCount === 0) return { config, index: undefined, shards: [["model.safetensors", validGenome(rng, tensors)]], rawText: new Map() };
  const pad = (i: number) => String(i).padStart(5, "0");
  const groups: TensorSpec[][] = Array.from({ length: shardCount }, () => []);
  for (const t of tensors) groups[rng.int(shardCount)]!.push(t);
  const names = groups.map((_, i) => `model-${pad(i + 1)}-of-${pad(shardCount)}.safetensors`);
  const wm: [string, JValue][] = [];
  groups.forEach((g, i) => { for (const t of g) wm.push([t.name, names[i]!]); });
  const index = new Obj([["metadata", new Obj([["total_size", 0]])], ["weight_map", new Obj(wm)]]);
  return { config, index, shards: groups.map((g, i) => [names[i]!, validGenome(rng, g)] as const), rawText: new Map() };
}

export function renderModel(g: ModelGenome, rng?: Rng): Map<string, Uint8Array> {
  const enc = new TextEncoder();
  const files = new Map<string, Uint8Array>();
  const text = (name: string, v: Obj) => enc.encode(g.rawText.get(name) ?? emitJson(v, rng));
  files.set("config.json", text("config.json", g.config));
  if (g.index) files.set(INDEX_FILE, text(INDEX_FILE, g.index));
  for (const [name, s] of g.shards) files.set(name, renderSafetensors(s, rng));
  return files;
}

function clone(v: JValue): JValue {
  if (v instanceof Obj) return new Obj(v.pairs.map(([k, x]) => [k, clone(x)]));
  if (Array.isArray(v)) return v.map(clone);
  return v;
}

/** One structural mutation of the index (names, map shape, missing or extra shards). */
export function mutateIndex(rng: Rng, g: ModelGenome): ModelGenome {
  const index = g.index ? (clone(g.index) as Obj) : new Obj([["weight_map", new Obj([])]]);
  let shards = [...g.shards];
  const wmv = index.get("weight_map");
  const wm = wmv instanceof Obj ? wmv : undefined;
  const rawText = new Map(g.rawText);
  switch (rng.int(11)) {
    case 0: // an odd shard name for one tensor
      if (wm && wm.pairs.length) rng.pick(wm.pairs)[1] = rng.pick(ODD_SHARD_NAMES);
      break;
    case 1: // an odd tensor name
      if (wm && wm.pairs.length) rng.pick(wm.pairs)[0] = rng.pick(ODD_STRINGS);
      break;
    case 2: // a shard file goes missing
      if (shards.length) shards.splice(rng.int(shards.length), 1);
      break;
    case 3: // a tensor listed in the wrong shard or in a shard that does not exist
      if (wm && wm.pairs.length) rng.pick(wm.pairs)[1] = shards.length && rng.chance(0.5) ? rng.pick(shards)[0] : `model-0000${rng.int(10)}-of-00002.safetensors`;
      break;
    case 4: // a duplicate key
      if (wm && wm.pairs.length) { const p = rng.pick(wm.pairs); wm.pairs.push([p[0], rng.chance(0.5) ? p[1] : rng.pick(ODD_SHARD_NAMES)]); }
      break;
    case 5: // weight_map of the wrong type, empty, or missing
      if (rng.chance(0.6)) index.set("weight_map", rng.chance(0.5) ? weirdValue(rng) : new Obj([]));
      else index.delete("weight_map");
      break;
    case 6: // a value that is not a string
      if (wm && wm.pairs.length) rng.pick(wm.pairs)[1] = weirdValue(rng);
      break;
    case 7: // the index is not an object, or metadata is odd
      if (rng.chance(0.5)) rawText.set(INDEX_FILE, emitJson(weirdValue(rng)));
      else index.set("metadata", weirdValue(rng));
      break;
    case 8: // many entries
      if (wm) for (let i = 0, n = rng.pick([100, 2000]); i < n; i++) wm.pairs.push([`many.${i}`, shards.length ? shards[0]![0] : "x.safetensors"]);
      break;
    case 9: // a shard's header is mutated
      if (shards.length) { const i = rng.int(shards.length); shards[i] = [shards[i]![0], mutateSafetensorsGenome(rng, shards[i]![1], 1)]; }
      break;
    default: // text havoc on the index
      rawText.set(INDEX_FILE, mutateText(rng, emitJson(index), { dictionary: JSON_DICTIONARY, maxLength: 1 << 20 }));
      break;
  }
  shards = shards.slice();
  return { config: g.config, index, shards, rawText };
}

/** One structural mutation of config.json (layer counts, types, nesting). */
export function mutateConfig(rng: Rng, g: ModelGenome): ModelGenome {
  const config = clone(g.config) as Obj;
  const rawText = new Map(g.rawText);
  let shards = g.shards;
  switch (rng.int(8)) {
    case 0: // a layer count of the wrong size or type
      config.set(rng.pick(["num_hidden_layers", "n_layer", "num_layers", "n_layers", "num_local_experts", "num_experts"]), rng.chance(0.5)
        ? rng.pick<JValue>([-1, 1.5, 0, 10_000, 10_001, 2 ** 31, 2 ** 53, 1e300, new Raw("1e400"), new Raw("-0"), "32", null, true])
        : weirdValue(rng));
      break;
    case 1: // prototype keys, or another architecture
      if (rng.chance(0.5)) config.pairs.push([rng.pick(["__proto__", "constructor", "toString", "hasOwnProperty"]), weirdValue(rng)]);
      else config.set("architectures", rng.chance(0.7) ? [rng.pick(["LlamaForCausalLM", "MixtralForCausalLM", "Gemma3ForConditionalGeneration", "LlavaForConditionalGeneration", "x"])] : weirdValue(rng));
      break;
    case 2: // deep nesting
      config.set("rope_scaling", new Raw(rng.pick([10, 63, 64, 65, 200]) > 64 ? "[".repeat(200) + "]".repeat(200) : "{\"a\":".repeat(60) + "1" + "}".repeat(60)));
      break;
    case 3: // not an object at the top
      rawText.set("config.json", emitJson(weirdValue(rng)));
      break;
    case 4: // a duplicate key
      if (config.pairs.length) config.pairs.push([rng.pick(config.pairs)[0], weirdValue(rng)]);
      break;
    case 5: // tensor names with a large layer index
      shards = [["model.safetensors", validGenome(rng, [{ name: `model.layers.${rng.pick([9_999, 10_000, 123_456_789, 2 ** 53])}.mlp.weight`, dtype: "F32", shape: [1] }])]];
      break;
    case 6: // many keys
      for (let i = 0, n = rng.pick([100, 5000]); i < n; i++) config.pairs.push([`k${i}`, i]);
      break;
    default: // text havoc
      rawText.set("config.json", mutateText(rng, emitJson(config), { dictionary: JSON_DICTIONARY, maxLength: 1 << 20 }));
      break;
  }
  return { config, index: g.index, shards, rawText };
}

let planConfig: MergeConfig | undefined;
/** `merge_method: passthrough` over the fuzzed model, to run planning on what was accepted. */
export function passthroughConfig(): MergeConfig {
  planConfig ??= parseMergeConfig(`merge_method: passthrough\nmodels:\n  - model: ${MODEL_REF}\n`, "fuzz-plan.yml");
  return planConfig;
}
