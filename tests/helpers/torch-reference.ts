// An independent, plain TypeScript model of what MergeKit (torch on CPU) writes for `linear` and
// `passthrough` merges of whole models. Written from ../shared/spec/mergekit.md (§1.1, §1.12, §2,
// §4.2, "Rounding facts"), one element at a time, without src/config, src/plan or src/methods:
//
//   load:        x = cast(stored, D)              D = dtype:, else the inputs' promoted dtype
//   linear:      w_i = D(f32(weight_i))           torch.tensor(weights, dtype=D)
//                p_i = D(w_i * x_i)                elementwise product, rounded to D
//                r   = D(Σ_f32 p_i)                reduction: float32 accumulator, rounded once
//                normalize: r = D(f32(r / D(Σ_f32 w_i)))
//   passthrough: r = x, or D(D(f32(scale)) * x)
//   save:        cast(r, out_dtype or D)
// plus the config semantics (gradients, filters, precedence, slices, t per slice, t = 0 for pre
// and post weights), the write order (lexicographic by group label = the largest resolved input
// name), greedy sharding, file names, the index and the safetensors layout.
import { parse } from "yaml";
import { bf16Bits, bf16Value, f16Bits, f16Value } from "../fixtures/make-model.ts";
import type { FixtureDType } from "../fixtures/make-model.ts";

export type RefDType = "BF16" | "F16" | "F32";

/** What the reference needs of an input model (a GeneratedModel fits). */
export interface RefModel {
  readonly numLayers: number;
  readonly tensors: ReadonlyMap<string, { readonly dtype: FixtureDType; readonly shape: readonly number[]; readonly values: Float32Array }>;
}

export interface RefTensor {
  readonly name: string;
  readonly dtype: RefDType;
  readonly shape: readonly number[];
  /** Little-endian bytes as saved. */
  readonly raw: Uint8Array;
  /** MergeKit's group label: the largest resolved input tensor name. */
  readonly label: string;
}

export interface RefMerge {
  /** In write order. */
  readonly tensors: readonly RefTensor[];
  readonly numLayers: number;
  /** torch dtype name written to config.json, when the config sets dtype/out_dtype. */
  readonly configDtype: string | undefined;
}

const FROM_FIXTURE: Record<FixtureDType, RefDType> = { bf16: "BF16", fp16: "F16", fp32: "F32" };
const BYTES: Record<RefDType, number> = { BF16: 2, F16: 2, F32: 4 };
const TORCH_NAME: Record<RefDType, string> = { BF16: "bfloat16", F16: "float16", F32: "float32" };

/** A number rounded as torch stores it in `d`: to float32 first, then to d (nearest even). */
export function roundTo(x: number, d: RefDType): number {
  const v = Math.fround(x);
  if (d === "BF16") return bf16Value(bf16Bits(v));
  if (d === "F16") return f16Value(f16Bits(v));
  return v;
}

function dtypeFromName(name: unknown): RefDType | undefined {
  if (name === undefined || name === null) return undefined;
  const n = String(name).replace(/^torch\./, "");
  if (n === "bfloat16") return "BF16";
  if (n === "float16") return "F16";
  if (n === "float32") return "F32";
  throw new Error(`reference: unknown dtype ${String(name)}`);
}

// ----------------------------------------------------------------------------------------------
// config semantics (spec §2.2, §2.3)
// ----------------------------------------------------------------------------------------------

type Setting = unknown;
type Params = Record<string, Setting> | undefined;

function evaluate(setting: Setting, name: string, t: number): number | undefined {
  if (typeof setting === "number") return setting;
  if (typeof setting === "boolean") return setting ? 1 : 0;
  if (Array.isArray(setting)) {
    if (setting.every((e) => typeof e === "number")) {
      const list = setting as number[];
      const scaled = t * (list.length - 1);
      const i0 = Math.trunc(scaled);
      const i1 = Math.min(list.length - 1, i0 + 1);
      const frac = scaled - i0;
      return (1 - frac) * list[i0]! + frac * list[i1]!;
    }
    for (const c of setting as { filter?: string | null; value: Setting }[]) {
      if (c.filter === undefined || c.filter === null || c.filter === "*" || name.includes(c.filter)) return evaluate(c.value, name, t);
    }
    return undefined;
  }
  throw new Error(`reference: unexpected setting ${JSON.stringify(setting)}`);
}

interface Source {
  readonly model: string;
  readonly range: readonly [number, number];
  readonly parameters: Params;
}
interface Slice {
  readonly sources: readonly Source[];
  readonly parameters: Params;
}
interface Config {
  readonly method: string;
  readonly slices: readonly Slice[];
  readonly base: string | undefined;
  readonly parameters: Params;
  readonly dtype: RefDType | undefined;
  readonly outDtype: RefDType | undefined;
}

function normalize(text: string, models: (ref: string) => RefModel): Config {
  const c = parse(text) as Record<string, unknown>;
  const base = c["base_model"] as string | undefined;
  let slices: Slice[];
  if (c["models"]) {
    const list = c["models"] as { model: string; parameters?: Params }[];
    const sources: Source[] = list.map((m) => ({ model: m.model, range: [0, models(m.model).numLayers], parameters: m.parameters }));
    if (base && !list.some((m) => m.model === base)) sources.push({ model: base, range: [0, models(base).numLayers], parameters: undefined });
    slices = [{ sources, parameters: undefined }];
  } else {
    slices = (c["slices"] as { sources: { model: string; layer_range: [number, number]; parameters?: Params }[]; parameters?: Params }[]).map((s) => ({
      sources: s.sources.map((x) => ({ model: x.model, range: x.layer_range, parameters: x.parameters })),
      parameters: s.parameters,
    }));
  }
  return {
    method: String(c["merge_method"]),
    slices,
    base,
    parameters: c["parameters"] as Params,
    dtype: dtypeFromName(c["dtype"]),
    outDtype: dtypeFromName(c["out_dtype"]),
  };
}

/** ConfigReader.parameter: source level (per-model lookups only), slice level, top level. */
function parameter(cfg: Config, slice: Slice, name: string, tensor: string, t: number, model: string | undefined): number | undefined {
  if (model !== undefined) {
    for (const s of slice.sources) {
      if (s.model === model && s.parameters && name in s.parameters) {
        const v = evaluate(s.parameters[name], tensor, t);
        if (v !== undefined) return v;
      }
    }
  }
  if (slice.parameters && name in slice.parameters) {
    const v = evaluate(slice.parameters[name], tensor, t);
    if (v !== undefined) return v;
  }
  if (cfg.parameters && name in cfg.parameters) {
    const v = evaluate(cfg.parameters[name], tensor, t);
    if (v !== undefined) return v;
  }
  return undefined;
}

// ----------------------------------------------------------------------------------------------
// the merge
// ----------------------------------------------------------------------------------------------

const LAYER_WEIGHTS = [
  "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
  "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight",
];
const EMBED = "model.embed_tokens.weight";
const LM_HEAD = "lm_head.weight";

function encode(values: Float64Array | Float32Array, d: RefDType): Uint8Array {
  const out = new Uint8Array(values.length * BYTES[d]);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = Math.fround(values[i]!);
    if (d === "F32") dv.setFloat32(i * 4, v, true);
    else dv.setUint16(i * 2, d === "BF16" ? bf16Bits(v) : f16Bits(v), true);
  }
  return out;
}

interface Input {
  readonly model: string;
  readonly resolved: string;
  readonly stored: RefDType;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** What the reference decided for one output tensor (for checking its arithmetic elsewhere, e.g. in torch). */
export interface RefTrace {
  readonly name: string;
  readonly method: string;
  readonly inputs: readonly { readonly model: string; readonly tensor: string; readonly param: number | undefined }[];
  readonly normalize: boolean;
  readonly dtype: RefDType | undefined;
  readonly outDtype: RefDType | undefined;
}

/** Runs a linear or passthrough config on the given models the way MergeKit would. */
export function referenceMerge(text: string, models: (ref: string) => RefModel, trace?: (t: RefTrace) => void): RefMerge {
  const cfg = normalize(text, models);
  if (cfg.method !== "linear" && cfg.method !== "passthrough") throw new Error(`reference: ${cfg.method} is not modelled`);
  const out: RefTensor[] = [];

  const load = (model: string, name: string, fallback: string | undefined): Input | undefined => {
    const m = models(model);
    for (const n of fallback ? [name, fallback] : [name]) {
      const t = m.tensors.get(n);
      if (t) return { model, resolved: n, stored: FROM_FIXTURE[t.dtype], shape: t.shape, values: t.values };
    }
    return undefined;
  };

  const planTensor = (outName: string, inNames: readonly string[], slice: Slice, t: number, optional: boolean, tied: string | undefined) => {
    if (optional && !slice.sources.some((s, i) => models(s.model).tensors.has(inNames[i]!))) return;
    const inputs = slice.sources.map((s, i) => {
      const x = load(s.model, inNames[i]!, tied);
      if (!x) throw new Error(`reference: ${inNames[i]} missing in ${s.model}`);
      return x;
    });
    const D: RefDType = cfg.dtype ?? inputs.map((x) => x.stored).reduce((a, b) => (a === b ? a : "F32"));
    const O: RefDType = cfg.outDtype ?? D;
    // rectify_embed_sizes: embeddings of different vocabulary sizes are cut to the common top-left block.
    let shape = inputs[0]!.shape;
    let xsFull = inputs.map((x) => x.values);
    if (outName === EMBED || outName === LM_HEAD) {
      const rows = Math.min(...inputs.map((x) => x.shape[0]!));
      const cols = Math.min(...inputs.map((x) => x.shape[1]!));
      shape = [rows, cols];
      xsFull = inputs.map((x) => {
        const c = x.shape[1]!;
        const v = new Float32Array(rows * cols);
        for (let r = 0; r < rows; r++) v.set(x.values.subarray(r * c, r * c + cols), r * cols);
        return v;
      });
    }
    const n = shape.reduce((a, b) => a * b, 1);
    const xs = xsFull.map((x) => x.map((v) => roundTo(v, D)));
    const res = new Float64Array(n);
    if (cfg.method === "linear") {
      const ws = slice.sources.map((s, i) => {
        const w = parameter(cfg, slice, "weight", inNames[i]!, t, s.model);
        if (w === undefined) throw new Error(`reference: no weight for ${s.model} ${inNames[i]}`);
        return roundTo(w, D);
      });
      const norm = parameter(cfg, slice, "normalize", outName, t, undefined) ?? 1;
      let wsum = 0;
      for (const w of ws) wsum = Math.fround(wsum + w);
      const divisor = roundTo(wsum, D);
      for (let e = 0; e < n; e++) {
        let acc = 0;
        for (let k = 0; k < xs.length; k++) acc = Math.fround(acc + roundTo(ws[k]! * xs[k]![e]!, D));
        let r = roundTo(acc, D);
        if (norm) r = roundTo(r / divisor, D);
        res[e] = r;
      }
    } else {
      if (inputs.length !== 1) throw new Error("reference: passthrough takes one input");
      const scale = parameter(cfg, slice, "scale", inNames[0]!, t, slice.sources[0]!.model);
      const sc = scale === undefined ? undefined : roundTo(scale, D);
      for (let e = 0; e < n; e++) res[e] = sc === undefined ? xs[0]![e]! : roundTo(sc * xs[0]![e]!, D);
    }
    if (trace) {
      const param = (i: number) => parameter(cfg, slice, cfg.method === "linear" ? "weight" : "scale", inNames[i]!, t, slice.sources[i]!.model);
      trace({
        name: outName, method: cfg.method, dtype: cfg.dtype, outDtype: cfg.outDtype,
        inputs: inputs.map((x, i) => ({ model: x.model, tensor: x.resolved, param: param(i) })),
        normalize: cfg.method === "linear" && (parameter(cfg, slice, "normalize", outName, t, undefined) ?? 1) !== 0,
      });
    }
    const label = inputs.map((x) => x.resolved).reduce((a, b) => (a > b ? a : b));
    out.push({ name: outName, dtype: O, shape, raw: encode(res, O), label });
  };

  const first = cfg.slices[0]!;
  const last = cfg.slices[cfg.slices.length - 1]!;
  planTensor(EMBED, first.sources.map(() => EMBED), first, 0, false, undefined);
  let layer = 0;
  for (const slice of cfg.slices) {
    const len = slice.sources[0]!.range[1] - slice.sources[0]!.range[0];
    for (const s of slice.sources) if (s.range[1] - s.range[0] !== len) throw new Error("reference: slice lengths differ");
    for (let k = 0; k < len; k++) {
      const t = len > 1 ? k / (len - 1) : 1;
      for (const w of LAYER_WEIGHTS) {
        planTensor(`model.layers.${layer}.${w}`, slice.sources.map((s) => `model.layers.${s.range[0] + k}.${w}`), slice, t, false, undefined);
      }
      layer++;
    }
  }
  planTensor("model.norm.weight", last.sources.map(() => "model.norm.weight"), last, 0, false, undefined);
  planTensor(LM_HEAD, last.sources.map(() => LM_HEAD), last, 0, true, EMBED);

  // The executor runs (and saves) in lexicographic order of group labels; equal labels (a layer
  // used twice) are ordered by output name here, which MergeKit leaves to hash order.
  const order = [...out].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const od = cfg.outDtype ?? cfg.dtype;
  return { tensors: order, numLayers: layer, configDtype: od ? TORCH_NAME[od] : undefined };
}

// ----------------------------------------------------------------------------------------------
// output files (spec §4.2)
// ----------------------------------------------------------------------------------------------

/** safetensors' on-disk order: dtype descending (F32 > BF16 > F16), then name. */
const DTYPE_RANK: Record<RefDType, number> = { F32: 3, BF16: 2, F16: 1 };

export function referenceFile(tensors: readonly RefTensor[]): Uint8Array {
  const sorted = [...tensors].sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let json = `{"__metadata__":{"format":"pt"}`;
  let off = 0;
  for (const t of sorted) {
    json += `,${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${off},${off + t.raw.length}]}`;
    off += t.raw.length;
  }
  json += "}";
  const hb = new TextEncoder().encode(json);
  const hlen = Math.ceil(hb.length / 8) * 8;
  const file = new Uint8Array(8 + hlen + off);
  new DataView(file.buffer).setUint32(0, hlen, true);
  file.fill(0x20, 8, 8 + hlen);
  file.set(hb, 8);
  let p = 8 + hlen;
  for (const t of sorted) {
    file.set(t.raw, p);
    p += t.raw.length;
  }
  return file;
}

export interface RefShards {
  /** File name -> its tensors, in shard order. */
  readonly files: ReadonlyMap<string, readonly RefTensor[]>;
  /** model.safetensors.index.json's text, when there is more than one shard. */
  readonly index: string | undefined;
}

/** TensorWriter: greedy shards over the write order; `maxShardSize <= 0` means one file. */
export function referenceShards(tensors: readonly RefTensor[], maxShardSize: number): RefShards {
  const shards: RefTensor[][] = [];
  let cur: RefTensor[] = [];
  let size = 0;
  for (const t of tensors) {
    if (maxShardSize > 0 && cur.length > 0 && size + t.raw.length > maxShardSize) {
      shards.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(t);
    size += t.raw.length;
  }
  if (cur.length) shards.push(cur);
  const pad = (i: number) => String(i).padStart(5, "0");
  const files = new Map<string, RefTensor[]>();
  shards.forEach((s, i) => files.set(shards.length === 1 ? "model.safetensors" : `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`, s));
  if (shards.length === 1) return { files, index: undefined };
  const weightMap: Record<string, string> = {};
  for (const [f, ts] of files) for (const t of ts) weightMap[t.name] = f;
  const total = tensors.reduce((a, t) => a + t.raw.length, 0);
  return { files, index: JSON.stringify({ metadata: { total_size: total, mergekit_version: "0.1.4" }, weight_map: weightMap }, null, 2) };
}
