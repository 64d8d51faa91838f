// A PEFT LoRA adapter directory: adapter_config.json plus adapter_model.safetensors (or .bin).
// Tensors are `base_model.model.<module>.lora_A.weight` / `.lora_B.weight` (linear),
// `.lora_embedding_A` / `.lora_embedding_B` (embeddings), `.lora_B.bias`, and full weights of
// modules_to_save under their model names. The scale of a module is alpha / r (alpha / sqrt(r)
// with rslora), r and alpha taken from rank_pattern / alpha_pattern when a pattern matches.
import { isDType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { readJsonObject } from "../io/json-file.ts";
import { readTensorTable } from "../io/model-files.ts";
import type { ModelTensor } from "../io/model-files.ts";
import type { ModelDirectory } from "../io/storage.ts";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = ["adapter_model.safetensors", "adapter_model.bin"] as const;
const PREFIX = "base_model.model.";
/** Longer rank_pattern keys are refused (they are regexes, matched against every module). */
const MAX_PATTERN_LENGTH = 1024;

export interface LoraModule {
  /** Module name in the model, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly module: string;
  readonly a: ModelTensor;
  readonly b: ModelTensor;
  /** lora_embedding_A/B: the delta is (B.A)^T. */
  readonly embedding: boolean;
  readonly bias: ModelTensor | undefined;
  readonly rank: number;
  readonly scale: number;
}

export interface LoraAdapter {
  readonly dir: ModelDirectory;
  readonly modules: ReadonlyMap<string, LoraModule>;
  /** Full tensors that replace (or add) model tensors, by model tensor name. */
  readonly saved: ReadonlyMap<string, ModelTensor>;
  /** The adapter stores deltas transposed (GPT-2 Conv1D layers). */
  readonly fanInFanOut: boolean;
}

function num(cfg: Record<string, unknown>, key: string, where: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new AmalgamError("E_MODEL_CONFIG", `${where}: "${key}" must be a number`);
  return v;
}

function patterns(cfg: Record<string, unknown>, key: string, where: string): [RegExp, number][] {
  const v = cfg[key];
  if (v === undefined || v === null) return [];
  if (typeof v !== "object" || Array.isArray(v)) throw new AmalgamError("E_MODEL_CONFIG", `${where}: "${key}" must be an object`);
  return Object.entries(v as Record<string, unknown>).map(([p, x]) => {
    if (typeof x !== "number") throw new AmalgamError("E_MODEL_CONFIG", `${where}: ${key}["${p}"] must be a number`);
    if (p.length > MAX_PATTERN_LENGTH) throw new AmalgamError("E_MODEL_CONFIG", `${where}: ${key} pattern longer than ${MAX_PATTERN_LENGTH} characters`);
    try {
      return [new RegExp(`^(.*\\.)?(${p})$`), x];
    } catch {
      throw new AmalgamError("E_MODEL_CONFIG", `${where}: ${key} key "${p}" is not a valid regular expression`);
    }
  });
}

/** Reads an adapter's config and tensor table (no tensor data). */
export async function openLoraAdapter(dir: ModelDirectory): Promise<LoraAdapter> {
  const where = `${dir.ref}/${ADAPTER_CONFIG}`;
  if (!(await dir.has(ADAPTER_CONFIG))) throw new AmalgamError("E_MODEL_NOT_FOUND", `${dir.ref}: no ${ADAPTER_CONFIG} (is this a PEFT LoRA adapter?)`);
  const cfg = await readJsonObject(dir, ADAPTER_CONFIG);
  const type = cfg["peft_type"] ?? "LORA";
  if (type !== "LORA") throw new AmalgamError("E_UNSUPPORTED", `${where}: peft_type ${JSON.stringify(type)} is not supported; only LORA adapters can be applied`);
  if (cfg["use_dora"] === true) throw new AmalgamError("E_UNSUPPORTED", `${where}: DoRA adapters (use_dora) are not supported`);
  const r = num(cfg, "r", where, 8);
  const alpha = num(cfg, "lora_alpha", where, 8);
  const rslora = cfg["use_rslora"] === true;
  const rankPattern = patterns(cfg, "rank_pattern", where);
  const alphaPattern = patterns(cfg, "alpha_pattern", where);
  let file: string | undefined;
  for (const f of ADAPTER_WEIGHTS) if (await dir.has(f)) { file = f; break; }
  if (!file) throw new AmalgamError("E_MODEL_NOT_FOUND", `${dir.ref}: no ${ADAPTER_WEIGHTS.join(" or ")}`);
  const source = await dir.open(file);
  const table = await readTensorTable(`${dir.ref}/${file}`, file, source);
  const parts = new Map<string, { a?: ModelTensor; b?: ModelTensor; bias?: ModelTensor; embedding?: boolean }>();
  const saved = new Map<string, ModelTensor>();
  for (const [name, e] of table) {
    const t: ModelTensor = { ...e, file, source };
    if (!name.startsWith(PREFIX)) throw new AmalgamError("E_MODEL_CONFIG", `${dir.ref}/${file}: tensor "${name}" does not start with "${PREFIX}" (not a PEFT adapter layout)`);
    if (!isDType(e.dtype)) throw new AmalgamError("E_DTYPE", `${dir.ref}/${file}: tensor "${name}" has dtype ${e.dtype}; LoRA weights must be F32, BF16 or F16`);
    const rest = name.slice(PREFIX.length);
    const m = /^(.+)\.(lora_A\.weight|lora_B\.weight|lora_B\.bias|lora_embedding_A|lora_embedding_B)$/.exec(rest);
    if (!m) {
      saved.set(rest.replace(/\.base_layer\.(weight|bias)$/, ".$1"), t);
      continue;
    }
    const entry = parts.get(m[1]!) ?? {};
    parts.set(m[1]!, entry);
    const kind = m[2]!;
    if (kind === "lora_B.bias") entry.bias = t;
    else if (kind.endsWith("A") || kind === "lora_A.weight") entry.a = t;
    else entry.b = t;
    if (kind.startsWith("lora_embedding")) entry.embedding = true;
  }
  const modules = new Map<string, LoraModule>();
  for (const [module, p] of parts) {
    if (!p.a || !p.b) throw new AmalgamError("E_MODEL_CONFIG", `${dir.ref}/${file}: module "${module}" has lora_${p.a ? "A" : "B"} but not lora_${p.a ? "B" : "A"}`);
    const rank = rankPattern.find(([re]) => re.test(module))?.[1] ?? r;
    const a = alphaPattern.find(([re]) => re.test(module))?.[1] ?? alpha;
    if (p.a.shape.length !== 2 || p.b.shape.length !== 2 || p.a.shape[0] !== rank || p.b.shape[1] !== rank) {
      throw new AmalgamError("E_SHAPE", `${dir.ref}/${file}: module "${module}" has A ${JSON.stringify(p.a.shape)} and B ${JSON.stringify(p.b.shape)}, which do not fit its rank ${rank} (r / rank_pattern)`);
    }
    if (rank === 0) continue; // an empty adapter: no delta
    modules.set(module, { module, a: p.a, b: p.b, embedding: p.embedding ?? false, bias: p.bias, rank, scale: rslora ? a / Math.sqrt(rank) : a / rank });
  }
  return { dir, modules, saved, fanInFanOut: cfg["fan_in_fan_out"] === true };
}
