// A model's layer structure, inferred from tensor names (`<prefix>.<layer>.<rest>`) and the
// layer count in config.json. Non-layer tensors are split into pre-weights (embeddings, taken
// from the first slice) and post-weights (final norm, lm_head, taken from the last slice).
import { AmalgamError } from "../errors.ts";
import type { ModelFiles } from "../io/model-files.ts";

/** config.json keys that hold the layer count, in the order they are looked up. */
export const LAYER_COUNT_KEYS = ["num_hidden_layers", "n_layer", "num_layers", "n_layers"] as const;

const LAYER_RE = /^(.*?)\.(\d+)\.(.+)$/;
const PRE_RE = /(^|\.)(embed_tokens|embed_in|wte|wpe|word_embeddings|position_embeddings|token_type_embeddings|embeddings|embed_positions)(\.|$)/;
const EMBED_RE = /(^|\.)(embed_tokens|embed_in|embed_out|wte|word_embeddings|lm_head)(\.|$)/;

export interface LayerName {
  readonly prefix: string;
  readonly index: number;
  readonly rest: string;
}

export function parseLayerName(name: string): LayerName | undefined {
  const m = LAYER_RE.exec(name);
  if (!m) return undefined;
  return { prefix: m[1]!, index: Number(m[2]), rest: m[3]! };
}

export function layerTensorName(prefix: string, index: number, rest: string): string {
  return `${prefix}.${index}.${rest}`;
}

/** Embedding-like weights (vocabulary rows): embeddings and output heads. */
export function isEmbedName(name: string): boolean {
  return EMBED_RE.test(name);
}

export interface ModelStructure {
  readonly numLayers: number;
  /** config.json key holding the layer count (undefined when inferred from names). */
  readonly layerCountKey: string | undefined;
  /** The layer prefix, e.g. `model.layers`. */
  readonly prefix: string | undefined;
  /** Per layer index, the `rest` names present, in sorted order. */
  readonly layers: ReadonlyArray<readonly string[]>;
  readonly pre: readonly string[];
  readonly post: readonly string[];
}

export function inferStructure(files: ModelFiles): ModelStructure {
  const ref = files.dir.ref;
  const byLayer = new Map<number, string[]>();
  let prefix: string | undefined;
  const pre: string[] = [];
  const post: string[] = [];
  const names = [...files.tensors.keys()].sort();
  for (const name of names) {
    const l = parseLayerName(name);
    if (l && (prefix === undefined || l.prefix === prefix)) {
      prefix = l.prefix;
      let list = byLayer.get(l.index);
      if (!list) byLayer.set(l.index, (list = []));
      list.push(l.rest);
    } else if (l) {
      throw new AmalgamError("E_UNSUPPORTED", `${ref}: tensors use two layer prefixes ("${prefix}" and "${l.prefix}"); multi-module models are not supported yet`);
    } else if (PRE_RE.test(name)) {
      pre.push(name);
    } else {
      post.push(name);
    }
  }
  const inferred = byLayer.size ? Math.max(...byLayer.keys()) + 1 : 0;
  let numLayers = inferred;
  let layerCountKey: string | undefined;
  for (const key of LAYER_COUNT_KEYS) {
    const v = files.config[key];
    if (typeof v === "number") {
      if (!Number.isInteger(v) || v < 0) throw new AmalgamError("E_MODEL_CONFIG", `${ref}/config.json: "${key}" is ${v}, expected a non-negative integer`);
      numLayers = v;
      layerCountKey = key;
      break;
    }
  }
  if (numLayers < inferred) {
    throw new AmalgamError("E_MODEL_CONFIG", `${ref}: config.json says ${layerCountKey} = ${numLayers}, but tensors exist for layer ${inferred - 1}`);
  }
  const layers: string[][] = [];
  for (let i = 0; i < numLayers; i++) layers.push(byLayer.get(i) ?? []);
  return { numLayers, layerCountKey, prefix, layers, pre, post };
}
