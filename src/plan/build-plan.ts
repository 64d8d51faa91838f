// From a config and the models' headers to the list of output tensors, each with its sources,
// resolved parameters, shape and dtypes, grouped into output shards. No tensor data is read.
import { evaluateSetting } from "../config/evaluate.ts";
import type { MergeConfig, ModelRef, ParameterMap, SourceConfig } from "../config/types.ts";
import { isDType, promote } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { openModelRef } from "../lora/lora-model.ts";
import type { ModelTensor } from "../io/model-files.ts";
import { layoutFile, tensorBytes } from "../io/safetensors-writer.ts";
import type { ResolveModel } from "../io/storage.ts";
import { getMethod } from "../methods/registry.ts";
import { rectifiedShape } from "../methods/shapes.ts";
import type { MethodDef, ParamSpec, ParamValues } from "../methods/types.ts";
import { inferStructure, isEmbedName, layerTensorName } from "./structure.ts";
import type { LoadedModel, MergePlan, PlannedShard, PlannedSource, PlannedTensor, TensorRole } from "./types.ts";

export interface PlanOptions {
  readonly resolveModel: ResolveModel;
  /** Largest output shard in bytes; <= 0 means one file. MergeKit's default is 5e9. */
  readonly outShardSize?: number;
  /** --fix-quirks: passed to MethodDef.outputDtype. */
  readonly fixQuirks?: boolean;
  /** The kernel module, for `model+lora` references (their weights are computed when read). */
  readonly kernelModule?: WebAssembly.Module;
}

export const DEFAULT_SHARD_BYTES = 5_000_000_000;

interface NormSource {
  readonly model: LoadedModel;
  readonly start: number;
  readonly end: number;
  readonly parameters: ParameterMap;
  readonly isBase: boolean;
  readonly path: string;
}
interface NormSlice {
  readonly sources: readonly NormSource[];
  readonly base: LoadedModel | undefined;
  readonly parameters: ParameterMap;
  readonly path: string;
}

function refKey(r: ModelRef): string {
  return r.text;
}

/** Resolves one parameter through MergeKit's precedence levels; undefined when no level sets it. */
function lookup(levels: readonly (ParameterMap | undefined)[], name: string, tensor: string, t: number): number | undefined {
  for (const level of levels) {
    const e = level?.get(name);
    if (!e) continue;
    const v = evaluateSetting(e.setting, tensor, t);
    if (v !== undefined) return v;
  }
  return undefined;
}

function resolveParams(specs: readonly ParamSpec[], levels: readonly (ParameterMap | undefined)[], tensor: string, t: number, requiredOk: boolean, describe: () => string): ParamValues {
  const out: Record<string, number | undefined> = {};
  for (const p of specs) {
    let v = lookup(levels, p.name, tensor, t);
    if (v === undefined) v = p.default;
    if (v === undefined && p.required && requiredOk) {
      throw new AmalgamError("E_CONFIG", `parameter "${p.name}" is required but not set for ${describe()}`);
    }
    out[p.name] = v;
  }
  return out;
}

async function loadModels(config: MergeConfig, resolve: ResolveModel, kernelModule: WebAssembly.Module | undefined): Promise<Map<string, LoadedModel>> {
  const refs: ModelRef[] = [];
  const seen = new Set<string>();
  const add = (r: ModelRef | undefined) => {
    if (r && !seen.has(refKey(r))) {
      seen.add(refKey(r));
      refs.push(r);
    }
  };
  for (const m of config.models ?? []) add(m.model);
  for (const s of config.slices ?? []) for (const src of s.sources) add(src.model);
  for (const s of config.slices ?? []) add(s.baseModel);
  add(config.baseModel);
  const out = new Map<string, LoadedModel>();
  for (const ref of refs) {
    const files = await openModelRef(ref, resolve, kernelModule);
    out.set(refKey(ref), { ref, files, structure: inferStructure(files) });
  }
  return out;
}

function normalizeSlices(config: MergeConfig, models: Map<string, LoadedModel>): NormSlice[] {
  const get = (r: ModelRef) => models.get(refKey(r))!;
  const base = config.baseModel ? get(config.baseModel) : undefined;
  if (config.models) {
    const sources: NormSource[] = config.models.map((m: SourceConfig) => {
      const lm = get(m.model);
      return { model: lm, start: 0, end: lm.structure.numLayers, parameters: m.parameters, isBase: lm === base, path: m.path };
    });
    if (base && !sources.some((s) => s.model === base)) {
      sources.push({ model: base, start: 0, end: base.structure.numLayers, parameters: new Map(), isBase: true, path: "base_model" });
    }
    return [{ sources, base, parameters: new Map(), path: "models" }];
  }
  return config.slices!.map((s) => {
    const sliceBase = s.baseModel ? get(s.baseModel) : base;
    const sources = s.sources.map((src) => {
      const lm = get(src.model);
      if (!src.layerRange) throw new AmalgamError("E_CONFIG", `${src.path}: "layer_range" is required in slices`);
      const [start, end] = src.layerRange;
      if (end > lm.structure.numLayers) {
        throw new AmalgamError("E_CONFIG", `${src.path}.layer_range: [${start}, ${end}] exceeds the ${lm.structure.numLayers} layers of ${lm.ref.text}`);
      }
      return { model: lm, start, end, parameters: src.parameters, isBase: lm === sliceBase, path: src.path };
    });
    if (sliceBase && !sources.some((x) => x.model === sliceBase)) {
      throw new AmalgamError("E_CONFIG", `${s.path}: base model ${sliceBase.ref.text} is not among the slice's sources; add it with the same layer_range`);
    }
    const len = sources[0]!.end - sources[0]!.start;
    for (const x of sources) {
      if (x.end - x.start !== len) {
        throw new AmalgamError("E_CONFIG", `${s.path}: all sources of a slice need the same number of layers (${sources[0]!.model.ref.text} has ${len}, ${x.model.ref.text} has ${x.end - x.start})`);
      }
    }
    return { sources, base: sliceBase, parameters: s.parameters, path: s.path };
  });
}

function findTensor(model: LoadedModel, name: string, isEmbed: boolean): ModelTensor | undefined {
  const t = model.files.tensors.get(name);
  if (t) return t;
  // Tied output embeddings: a model without lm_head uses its input embedding matrix.
  if (isEmbed && /(^|\.)lm_head\./.test(name)) {
    for (const pre of model.structure.pre) {
      if (isEmbedName(pre)) return model.files.tensors.get(pre);
    }
  }
  return undefined;
}

function storageDType(t: ModelTensor, model: LoadedModel): DType {
  if (!isDType(t.dtype)) {
    throw new AmalgamError("E_DTYPE", `${model.ref.text}: tensor "${t.name}" has dtype ${t.dtype}; only F32, BF16 and F16 tensors can be merged`);
  }
  return t.dtype;
}

/**
 * MergeKit's greedy sharding of tensors in write order: a shard is closed before a tensor that
 * would take it past `limit` bytes (<= 0: one file); names `model.safetensors` or
 * `model-0000i-of-0000N.safetensors`; data laid out as the safetensors library does.
 */
export function planShards(tensors: readonly PlannedTensor[], limit: number): { shards: PlannedShard[]; totalBytes: number } {
  const groups: PlannedTensor[][] = [];
  let cur: PlannedTensor[] = [];
  let curBytes = 0;
  for (const t of tensors) {
    const n = tensorBytes({ name: t.name, dtype: t.outDtype, shape: t.shape });
    if (limit > 0 && cur.length > 0 && curBytes + n > limit) {
      groups.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(t);
    curBytes += n;
  }
  if (cur.length || groups.length === 0) groups.push(cur);
  const pad = (i: number) => String(i).padStart(5, "0");
  const shards: PlannedShard[] = groups.map((g, i) => {
    const layout = layoutFile(g.map((t) => ({ name: t.name, dtype: t.outDtype, shape: t.shape })));
    const byName = new Map(g.map((t) => [t.name, t]));
    return {
      file: groups.length === 1 ? "model.safetensors" : `model-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`,
      tensors: layout.order.map((s) => byName.get(s.name)!),
      layout,
    };
  });
  const totalBytes = tensors.reduce((a, t) => a + tensorBytes({ name: t.name, dtype: t.outDtype, shape: t.shape }), 0);
  return { shards, totalBytes };
}

export async function buildPlan(config: MergeConfig, options: PlanOptions): Promise<MergePlan> {
  const method: MethodDef = getMethod(config.mergeMethod, `${config.file}: merge_method`);
  const warnings: string[] = [];
  const models = await loadModels(config, options.resolveModel, options.kernelModule);
  const slices = normalizeSlices(config, models);
  if (method.base === "required" && slices.some((s) => !s.base)) {
    throw new AmalgamError("E_CONFIG", `${config.file}: merge_method "${method.name}" needs a base_model`);
  }

  const declared = new Set([...method.global, ...method.perModel].map((p) => p.name));
  const unused = new Set<string>();
  const noteParams = (m: ParameterMap) => { for (const k of m.keys()) if (!declared.has(k)) unused.add(k); };
  noteParams(config.parameters);
  for (const s of slices) { noteParams(s.parameters); for (const x of s.sources) noteParams(x.parameters); }
  if (unused.size) {
    warnings.push(`parameter(s) ${[...unused].map((u) => `"${u}"`).join(", ")} are not used by the ${method.name} method and are ignored (as MergeKit does)`);
  }

  const tensors: PlannedTensor[] = [];
  const plan1 = (name: string, role: TensorRole, t: number, slice: NormSlice, inputNames: readonly string[]) => {
    const isEmbed = isEmbedName(name);
    const sources: PlannedSource[] = [];
    slice.sources.forEach((src, i) => {
      const inName = inputNames[i]!;
      const tensor = findTensor(src.model, inName, isEmbed);
      if (!tensor) {
        throw new AmalgamError("E_TENSOR_MISSING", `tensor "${inName}" is needed for output "${name}" but is not present in model ${src.model.ref.text}`);
      }
      const params = resolveParams(method.perModel, [src.parameters, slice.parameters, config.parameters], inName, t, !src.isBase,
        () => `model ${src.model.ref.text} (${src.path}), tensor "${inName}"`);
      sources.push({ model: src.model, tensor, isBase: src.isBase, params });
    });
    const global = resolveParams(method.global, [slice.parameters, config.parameters], name, t, true, () => `tensor "${name}"`);
    const baseIdx = sources.findIndex((s) => s.isBase);
    const baseIndex = baseIdx >= 0 ? baseIdx : undefined;
    const ctx = { tensor: name, shapes: sources.map((s) => s.tensor.shape), models: sources.map((s) => s.model.ref.text), baseIndex, isEmbed };
    const shape = method.outputShape ? method.outputShape(ctx) : rectifiedShape(ctx);
    let working: DType | undefined = config.dtype;
    const stored = sources.map((s) => storageDType(s.tensor, s.model));
    if (!working && method.mixedDtype === "base" && baseIndex !== undefined) working = stored[baseIndex];
    if (!working) for (const d of stored) working = working ? promote(working, d) : d;
    const w = working!;
    const outDtype = config.outDtype ?? (method.outputDtype ? method.outputDtype(w, options.fixQuirks ?? false) : w);
    tensors.push({ name, role, t, sources, baseIndex, global, isEmbed, shape, workingDtype: w, outDtype });
  };

  const first = slices[0]!;
  const last = slices[slices.length - 1]!;
  const union = (slice: NormSlice, pick: (m: LoadedModel) => readonly string[]) => [...new Set(slice.sources.flatMap((s) => pick(s.model)))].sort();
  for (const name of union(first, (m) => m.structure.pre)) plan1(name, "pre", 0, first, first.sources.map(() => name));

  let outLayer = 0;
  const outPrefix = first.sources[0]!.model.structure.prefix;
  for (const slice of slices) {
    const len = slice.sources[0]!.end - slice.sources[0]!.start;
    for (let k = 0; k < len; k++) {
      const t = len === 1 ? 1 : k / (len - 1);
      const lead = slice.sources[0]!;
      const prefix = outPrefix ?? lead.model.structure.prefix;
      for (const rest of lead.model.structure.layers[lead.start + k] ?? []) {
        const inputs = slice.sources.map((s) => layerTensorName(s.model.structure.prefix ?? prefix!, s.start + k, rest));
        plan1(layerTensorName(prefix!, outLayer, rest), "layer", t, slice, inputs);
      }
      outLayer++;
    }
  }
  for (const name of union(last, (m) => m.structure.post)) plan1(name, "post", 0, last, last.sources.map(() => name));

  // Write order: MergeKit groups work by input tensor name and runs it in lexicographic order.
  const key = (p: PlannedTensor) => p.sources[0]!.tensor.name;
  tensors.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const { shards, totalBytes } = planShards(tensors, options.outShardSize ?? DEFAULT_SHARD_BYTES);

  const all = [...models.values()];
  const base = config.baseModel ? models.get(refKey(config.baseModel)) : undefined;
  const ordered = base ? [...all.filter((m) => m !== base), base] : all;
  const donor = base ?? all[0]!;
  return { config, method, models: ordered, base, donor, numLayers: outLayer, tensors, shards, totalBytes, warnings };
}
