// `amalgam inspect`: what a model is, from config.json, the safetensors headers and the tokenizer
// files only; no tensor data is read.
import { AmalgamError } from "../errors.ts";
import { openModelFiles } from "../io/model-files.ts";
import type { ModelFiles } from "../io/model-files.ts";
import { numel } from "../io/safetensors-header.ts";
import type { ModelDirectory } from "../io/storage.ts";
import { inferStructure } from "../plan/structure.ts";
import { flatStructure } from "./flat-structure.ts";
import type { FlatStructure } from "./flat-structure.ts";
import { groupOf } from "./layer-groups.ts";
import type { GroupRole } from "./layer-groups.ts";
import { loadTokenizer } from "./tokenizer-info.ts";
import type { Tokenizer, TokenizerSummary } from "./tokenizer-info.ts";

/** config.json keys shown by inspect when present (architecture sizes). */
export const SUMMARY_CONFIG_KEYS = [
  "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
  "max_position_embeddings", "tie_word_embeddings", "torch_dtype", "dtype", "rope_theta", "num_local_experts", "num_experts",
] as const;

export interface InspectTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly file: string;
  readonly role: GroupRole;
  readonly layer: number | null;
}

export interface InspectReport {
  readonly model: string;
  readonly architecture: string | null;
  readonly modelType: string | null;
  readonly layers: number;
  /** config.json key of the layer count, null when inferred from tensor names. */
  readonly layerCountKey: string | null;
  readonly layerPrefix: string | null;
  readonly parameters: number;
  /** Bytes of tensor data. */
  readonly bytes: number;
  readonly dtypes: readonly { readonly dtype: string; readonly tensors: number; readonly parameters: number }[];
  readonly shards: readonly { readonly file: string; readonly tensors: number; readonly bytes: number }[];
  /** Selected config.json values (SUMMARY_CONFIG_KEYS that are present). */
  readonly config: Readonly<Record<string, string | number | boolean | null>>;
  readonly tokenizer: TokenizerSummary | null;
  readonly tensors: readonly InspectTensor[];
  readonly warnings: readonly string[];
}

export interface OpenedModel {
  readonly files: ModelFiles;
  readonly structure: FlatStructure | undefined;
  readonly warnings: string[];
}

/** Headers and structure of a model; a structure that cannot be inferred becomes a warning. */
export async function openModel(dir: ModelDirectory): Promise<OpenedModel> {
  const files = await openModelFiles(dir);
  const warnings: string[] = [];
  let structure: FlatStructure | undefined;
  try {
    structure = flatStructure(inferStructure(files), files);
  } catch (e) {
    if (!(e instanceof AmalgamError)) throw e;
    warnings.push(`layer structure not inferred: ${e.message}`);
  }
  return { files, structure, warnings };
}

function archOf(config: Readonly<Record<string, unknown>>): string | null {
  const a = config["architectures"];
  return Array.isArray(a) && typeof a[0] === "string" ? a.join(", ") : null;
}

export function architectureOf(config: Readonly<Record<string, unknown>>): { architecture: string | null; modelType: string | null } {
  return { architecture: archOf(config), modelType: typeof config["model_type"] === "string" ? config["model_type"] : null };
}

export async function inspectModel(dir: ModelDirectory): Promise<InspectReport> {
  const { files, structure, warnings } = await openModel(dir);
  let tokenizer: Tokenizer | undefined;
  try {
    tokenizer = await loadTokenizer(dir);
  } catch (e) {
    if (!(e instanceof AmalgamError)) throw e;
    warnings.push(`tokenizer not read: ${e.message}`);
  }
  return summarize(dir.ref, files, structure, tokenizer?.summary ?? null, [...warnings]);
}

export function summarize(ref: string, files: ModelFiles, structure: FlatStructure | undefined, tokenizer: TokenizerSummary | null, warnings: string[]): InspectReport {
  const names = [...files.tensors.keys()].sort();
  const tensors: InspectTensor[] = names.map((n) => {
    const t = files.tensors.get(n)!;
    const g = groupOf(n, structure);
    return { name: n, dtype: t.dtype, shape: t.shape, file: t.file, role: g.role, layer: g.layer };
  });
  const dtypes = new Map<string, { tensors: number; parameters: number }>();
  const shards = new Map<string, { tensors: number; bytes: number }>();
  let parameters = 0;
  let bytes = 0;
  for (const n of names) {
    const t = files.tensors.get(n)!;
    const p = numel(t.shape);
    parameters += p;
    bytes += t.byteLength;
    const d = dtypes.get(t.dtype) ?? { tensors: 0, parameters: 0 };
    dtypes.set(t.dtype, { tensors: d.tensors + 1, parameters: d.parameters + p });
    const s = shards.get(t.file) ?? { tensors: 0, bytes: t.source.size };
    shards.set(t.file, { tensors: s.tensors + 1, bytes: s.bytes });
  }
  const config: Record<string, string | number | boolean | null> = {};
  for (const k of SUMMARY_CONFIG_KEYS) {
    const v = files.config[k];
    if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") config[k] = v;
  }
  const vocab = files.config["vocab_size"];
  const embed = tensors.find((t) => t.role === "pre" && t.shape.length === 2 && /embed/.test(t.name));
  if (typeof vocab === "number" && embed && embed.shape[0] !== vocab) {
    warnings.push(`config.json vocab_size is ${vocab} but ${embed.name} has ${embed.shape[0]} rows`);
  }
  if (tokenizer?.vocabSize != null && embed && tokenizer.vocabSize > embed.shape[0]!) {
    warnings.push(`the tokenizer has ${tokenizer.vocabSize} tokens but ${embed.name} has only ${embed.shape[0]} rows`);
  }
  return {
    model: ref,
    ...architectureOf(files.config),
    layers: structure?.numLayers ?? 0,
    layerCountKey: structure?.layerCountKey ?? null,
    layerPrefix: structure?.prefix ?? null,
    parameters,
    bytes,
    dtypes: [...dtypes].map(([dtype, v]) => ({ dtype, ...v })).sort((a, b) => b.parameters - a.parameters),
    shards: [...shards].map(([file, v]) => ({ file, ...v })).sort((a, b) => (a.file < b.file ? -1 : 1)),
    config,
    tokenizer,
    tensors,
    warnings,
  };
}
