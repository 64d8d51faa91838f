// From a config and the models' headers to the list of output tensors, each with its sources,
// resolved parameters, shape and dtypes, grouped into output shards. No tensor data is read.
import { evaluateSetting } from "../config/evaluate.ts";
import { DEFAULT_MODULE } from "../arch/types.ts";
import type { MergeConfig, ModelRef, ParameterMap, SliceConfig, SourceConfig } from "../config/types.ts";
import { where } from "../config/yaml-tree.ts";
import { isDType, promote } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { openModelFiles } from "../io/model-files.ts";
import { withLoraOf } from "../lora/lora-model.ts";
import type { ModelFiles, ModelTensor } from "../io/model-files.ts";
import { layoutFile, tensorBytes } from "../io/safetensors-writer.ts";
import type { ModelDirectory, ResolveModel } from "../io/storage.ts";
import { getMethod } from "../methods/registry.ts";
import { rectifiedShape } from "../methods/shapes.ts";
import type { MethodDef, ParamSpec, ParamValues } from "../methods/types.ts";
import { resolveChatTemplate } from "../tokenizer/chat-template.ts";
import { planTokenizer } from "../tokenizer/tokenizer-plan.ts";
import { layerWeightName, moduleOf, modelStructure, resolveLayout, unusedTensorsWarning } from "./structure.ts";
import type { ModuleStructure, WeightInfo } from "./structure.ts";
import type { LayerCount, LoadedModel, MergePlan, PlannedShard, PlannedSource, PlannedTensor, TensorRole } from "./types.ts";

export interface PlanOptions {
  readonly resolveModel: ResolveModel;
  /** Largest output shard in bytes; <= 0 means one file. MergeKit's default is 5e9. */
  readonly outShardSize?: number;
  /** --fix-quirks: passed to MethodDef.outputDtype. */
  readonly fixQuirks?: boolean;
  /** Merge models whose architectures differ (MergeKit's --allow-crimes). */
  readonly allowCrimes?: boolean;
  /** The kernel module, for `model+lora` references (their weights are computed when read). */
  readonly kernelModule?: WebAssembly.Module;
}

export const DEFAULT_SHARD_BYTES = 5_000_000_000;

interface NormSource {
  readonly model: LoadedModel;
  /** The model's module this source reads. */
  readonly mod: ModuleStructure;
  readonly start: number;
  readonly end: number;
  readonly parameters: ParameterMap;
  readonly isBase: boolean;
  /** Config path and position, for messages. */
  readonly where: string;
}
interface NormSlice {
  readonly sources: readonly NormSource[];
  readonly base: LoadedModel | undefined;
  readonly parameters: ParameterMap;
  /** `modules.<m>.parameters` (empty without `modules:`). */
  readonly moduleParameters: ParameterMap;
  readonly where: string;
}

/** What one module's slices come from: the top level, or a `modules:` entry. */
interface SliceSpec {
  readonly models: readonly SourceConfig[] | undefined;
  readonly slices: readonly SliceConfig[] | undefined;
  readonly parameters: ParameterMap;
  readonly path: string;
}

function sameLength(sources: readonly NormSource[], where: string): void {
  const len = sources[0]!.end - sources[0]!.start;
  for (const x of sources) {
    if (x.end - x.start !== len) {
      throw new AmalgamError("E_CONFIG", `${where}: all sources of a slice need the same number of layers (${sources[0]!.model.ref.text} has ${len}, ${x.model.ref.text} has ${x.end - x.start})`);
    }
  }
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

async function loadModels(config: MergeConfig, resolve: ResolveModel, allowCrimes: boolean, warnings: string[], kernelModule: WebAssembly.Module | undefined): Promise<Map<string, LoadedModel>> {
  // Each reference with the config place that first names it (for "no such model" messages).
  const refs = new Map<string, { ref: ModelRef; at: string }>();
  const add = (r: ModelRef | undefined, at: string) => {
    if (r && !refs.has(refKey(r))) refs.set(refKey(r), { ref: r, at });
  };
  const specs = [config, ...(config.modules?.values() ?? [])];
  for (const spec of specs) for (const m of spec.models ?? []) add(m.model, where(m));
  for (const spec of specs) for (const s of spec.slices ?? []) for (const src of s.sources) add(src.model, where(src));
  for (const spec of specs) for (const s of spec.slices ?? []) add(s.baseModel, where({ path: `${s.path}.base_model`, pos: s.pos }));
  add(config.baseModel, "base_model");
  const out = new Map<string, LoadedModel>();
  const opened: { files: { dir: ModelDirectory } }[] = [];
  const read: { ref: ModelRef; files: ModelFiles }[] = [];
  try {
    for (const { ref, at } of refs.values()) {
      let dir;
      try {
        dir = await resolve(ref.revision ? `${ref.path}@${ref.revision}` : ref.path);
      } catch (e) {
        if (e instanceof AmalgamError) throw new AmalgamError(e.code, `${at}: ${e.message}`, { cause: e });
        throw e;
      }
      opened.push({ files: { dir } });
      let files = await openModelFiles(dir);
      if (ref.lora) {
        // model+adapter: the adapter's weights are folded in as tensors are read
        try {
          files = await withLoraOf(files, ref, resolve, kernelModule);
        } catch (e) {
          if (e instanceof AmalgamError) throw new AmalgamError(e.code, `${at}: ${e.message}`, { cause: e });
          throw e;
        }
        opened[opened.length - 1] = { files };
      }
      read.push({ ref, files });
    }
    // One layout for every model; the donor (base model, else the first) decides under --allow-crimes.
    const donorIndex = config.baseModel ? read.findIndex((m) => refKey(m.ref) === refKey(config.baseModel!)) : 0;
    const layout = resolveLayout(read.map((m) => ({ ref: m.ref.text, config: m.files.config })), donorIndex, allowCrimes);
    warnings.push(...layout.warnings);
    for (const { ref, files } of read) {
      const structure = modelStructure(files, layout);
      const unusedNames = unusedTensorsWarning(ref.text, structure);
      if (unusedNames) warnings.push(unusedNames);
      out.set(refKey(ref), { ref, files, structure });
    }
  } catch (e) {
    await closeModels(opened); // the models opened before the failure
    throw e;
  }
  return out;
}

/**
 * `requireBaseInSlices`: whether a slice must list its base model among its sources. MergeKit does
 * not check; methods that read the base fail later without it, while linear and passthrough simply
 * do not use it (a base_model there only donates config.json and the tokenizer).
 */
function normalizeSlices(config: MergeConfig, spec: SliceSpec, module: string, models: Map<string, LoadedModel>, requireBaseInSlices: boolean): NormSlice[] {
  const get = (r: ModelRef) => models.get(refKey(r))!;
  const modOf = (lm: LoadedModel) => moduleOf(lm.ref.text, lm.structure, module);
  const inModule = module === DEFAULT_MODULE ? "" : ` (module ${module})`;
  const base = config.baseModel ? get(config.baseModel) : undefined;
  const moduleParameters = spec.parameters;
  if (spec.models) {
    const sources: NormSource[] = spec.models.map((m: SourceConfig) => {
      const lm = get(m.model);
      return { model: lm, mod: modOf(lm), start: 0, end: modOf(lm).numLayers, parameters: m.parameters, isBase: lm === base, where: where(m) };
    });
    if (base && !sources.some((s) => s.model === base)) {
      sources.push({ model: base, mod: modOf(base), start: 0, end: modOf(base).numLayers, parameters: new Map(), isBase: true, where: "base_model" });
    }
    sameLength(sources, `${spec.path}${inModule}`);
    return [{ sources, base, parameters: new Map(), moduleParameters, where: spec.path }];
  }
  return spec.slices!.map((s) => {
    const sliceBase = s.baseModel ? get(s.baseModel) : base;
    const sources = s.sources.map((src) => {
      const lm = get(src.model);
      const mod = modOf(lm);
      if (!src.layerRange) throw new AmalgamError("E_CONFIG", `${where(src)}: "layer_range" is required in slices`);
      const [start, end] = src.layerRange;
      if (end > mod.numLayers) {
        throw new AmalgamError("E_CONFIG", `${where(src)}: layer_range [${start}, ${end}] exceeds the ${mod.numLayers} layers of ${lm.ref.text}${inModule}`);
      }
      return { model: lm, mod, start, end, parameters: src.parameters, isBase: lm === sliceBase, where: where(src) };
    });
    if (requireBaseInSlices && sliceBase && !sources.some((x) => x.model === sliceBase)) {
      throw new AmalgamError("E_CONFIG", `${where(s)}: base model ${sliceBase.ref.text} is not among the slice's sources; add it with the same layer_range`);
    }
    sameLength(sources, where(s));
    return { sources, base: sliceBase, parameters: s.parameters, moduleParameters, where: where(s) };
  });
}

/**
 * The slices of each module of the layout (the donor's): from `modules.<name>` when the config has
 * `modules:`, else the top-level `models` (every module) or `slices` (single-module layouts only).
 */
function moduleSliceLists(config: MergeConfig, donor: LoadedModel, models: Map<string, LoadedModel>, requireBaseInSlices: boolean): { mod: ModuleStructure; slices: NormSlice[] }[] {
  const mods = donor.structure.modules;
  const names = mods.map((m) => m.name).join(", ");
  const arch = donor.structure.architecture?.architectures[0] ?? "the model";
  if (config.modules) {
    for (const [name, spec] of config.modules) {
      if (!mods.some((m) => m.name === name)) throw new AmalgamError("E_CONFIG", `${spec.path}: ${arch} has no module "${name}" (its modules: ${names})`);
    }
    return mods.map((mod) => {
      const spec = config.modules!.get(mod.name);
      if (!spec) throw new AmalgamError("E_CONFIG", `${config.file}: modules: no entry for module "${mod.name}" of ${arch} (its modules: ${names})`);
      return { mod, slices: normalizeSlices(config, spec, mod.name, models, requireBaseInSlices) };
    });
  }
  if (config.slices && mods.length > 1) {
    throw new AmalgamError("E_CONFIG", `${config.file}: ${arch} has several modules (${names}); use the "modules:" syntax instead of "slices:"`);
  }
  const spec: SliceSpec = { models: config.models, slices: config.slices, parameters: new Map(), path: config.models ? "models" : "slices" };
  return mods.map((mod) => ({ mod, slices: normalizeSlices(config, spec, mod.name, models, requireBaseInSlices) }));
}

/** A weight's tensor in a model under its name or an alias (`names` are already expanded). */
function findTensor(model: LoadedModel, names: readonly string[]): ModelTensor | undefined {
  for (const n of names) {
    const t = model.files.tensors.get(n);
    if (t) return t;
  }
  return undefined;
}

function storageDType(t: ModelTensor, model: LoadedModel): DType {
  if (!isDType(t.dtype)) {
    throw new AmalgamError("E_DTYPE", `${model.ref.text}: tensor "${t.name}" has dtype ${t.dtype}; only F32, BF16 and F16 tensors can be merged`);
  }
  return t.dtype;
}

async function closeModels(models: Iterable<{ readonly files: { readonly dir: { close?(): Promise<void> } } }>): Promise<void> {
  for (const m of models) await m.files.dir.close?.().catch(() => {});
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
  const method: MethodDef = getMethod(config.mergeMethod, config.methodPos ? where({ path: "merge_method", pos: config.methodPos }) : `${config.file}: merge_method`);
  const warnings: string[] = [];
  const models = await loadModels(config, options.resolveModel, options.allowCrimes ?? false, warnings, options.kernelModule);
  try {
    return await planLoaded(config, options, method, models, warnings);
  } catch (e) {
    await closeModels(models.values()); // a failed plan leaves no files open
    throw e;
  }
}

async function planLoaded(config: MergeConfig, options: PlanOptions, method: MethodDef, models: Map<string, LoadedModel>, warnings: string[]): Promise<MergePlan> {
  const loaded = [...models.values()];
  const donorModel = config.baseModel ? models.get(refKey(config.baseModel))! : loaded[0]!;
  const moduleSlices = moduleSliceLists(config, donorModel, models, method.base !== "unused");
  const slices = moduleSlices.flatMap((m) => m.slices);
  if (method.base === "required" && slices.some((s) => !s.base)) {
    throw new AmalgamError("E_CONFIG", `${config.file}: merge_method "${method.name}" needs a base_model`);
  }

  const declared = new Set([...method.global, ...method.perModel].map((p) => p.name));
  const unused = new Set<string>();
  const noteParams = (m: ParameterMap) => { for (const k of m.keys()) if (!declared.has(k)) unused.add(k); };
  noteParams(config.parameters);
  for (const s of slices) { noteParams(s.parameters); noteParams(s.moduleParameters); for (const x of s.sources) noteParams(x.parameters); }
  if (unused.size) {
    warnings.push(`parameter(s) ${[...unused].map((u) => `"${u}"`).join(", ")} are not used by the ${method.name} method and are ignored (as MergeKit does)`);
  }

  // Vocabulary merging: the donor's tokenizer first, then the others in config order.
  const vocabPlan = config.tokenizer
    ? await planTokenizer(config, [donorModel, ...loaded.filter((m) => m !== donorModel)], options.resolveModel, warnings)
    : undefined;
  // "auto" counts templates in model order (config order, base last): the first of the most common wins.
  const modelOrder = config.baseModel ? [...loaded.filter((m) => m !== donorModel), donorModel] : loaded;
  const chatTemplate = config.chatTemplate === undefined ? undefined
    : await resolveChatTemplate(config.chatTemplate, modelOrder.map((m) => m.files.dir), `${config.file}: chat_template`);

  const tensors: PlannedTensor[] = [];
  /** Per model, optional tensors it lacks that other inputs have. */
  const skipped = new Map<string, string[]>();
  // `inputNames(i)`: the weight's name, aliases and tied names in source i. An optional weight is
  // written when any source has it under its name or an alias; the others fall back to a tied name.
  const plan1 = (name: string, role: TensorRole, t: number, slice: NormSlice, weight: WeightInfo, inputNames: (i: number) => { names: readonly string[]; tied: readonly string[] }) => {
    const isEmbed = weight.isEmbed;
    const found = slice.sources.map((src, i) => findTensor(src.model, inputNames(i).names));
    if (weight.optional && found.every((f) => f === undefined)) return;
    const sources: PlannedSource[] = [];
    slice.sources.forEach((src, i) => {
      const { names, tied } = inputNames(i);
      const inName = names[0]!;
      const tensor = found[i] ?? findTensor(src.model, tied);
      if (!tensor && weight.optional && !src.isBase) {
        // MergeKit merges an optional weight over the inputs that have it.
        let list = skipped.get(src.model.ref.text);
        if (!list) skipped.set(src.model.ref.text, (list = []));
        list.push(inName);
        return;
      }
      if (!tensor) {
        const also = [...names.slice(1), ...tied];
        throw new AmalgamError("E_TENSOR_MISSING", `tensor "${inName}" is needed for output "${name}" but is not present in model ${src.model.ref.text}${also.length ? ` (nor ${also.map((a) => `"${a}"`).join(", ")})` : ""}`);
      }
      const params = resolveParams(method.perModel, [src.parameters, slice.parameters, slice.moduleParameters, config.parameters], inName, t, !src.isBase,
        () => `model ${src.model.ref.text} (${src.where}), tensor "${inName}"`);
      sources.push({ model: src.model, tensor, isBase: src.isBase, params });
    });
    const global = resolveParams(method.global, [slice.parameters, slice.moduleParameters, config.parameters], name, t, true, () => `tensor "${name}"`);
    const baseIdx = sources.findIndex((s) => s.isBase);
    const baseIndex = baseIdx >= 0 ? baseIdx : undefined;
    // With a merged vocabulary every embedding input is permuted to [output vocabulary, hidden].
    const vocabShape = vocabPlan && isEmbed && sources.every((s) => s.tensor.shape.length === 2) ? [vocabPlan.output.paddedSize, sources[0]!.tensor.shape[1]!] : undefined;
    const ctx = { tensor: name, shapes: sources.map((s) => vocabShape ?? s.tensor.shape), models: sources.map((s) => s.model.ref.text), baseIndex, isEmbed };
    const shape = method.outputShape ? method.outputShape(ctx) : rectifiedShape(ctx);
    if (isEmbed && !vocabShape && sources.some((s) => s.tensor.shape.length !== shape.length || s.tensor.shape.some((d, i) => d !== shape[i]))) {
      const list = sources.map((s) => `${s.model.ref.text} ${JSON.stringify(s.tensor.shape)}`).join(", ");
      warnings.push(`"${name}": input shapes differ (${list}); using the common submatrix ${JSON.stringify(shape)} as MergeKit does (set tokenizer_source to merge vocabularies instead)`);
    }
    let working: DType | undefined = config.dtype;
    const stored = sources.map((s) => storageDType(s.tensor, s.model));
    if (!working && method.mixedDtype === "base" && baseIndex !== undefined) working = stored[baseIndex];
    if (!working) for (const d of stored) working = working ? promote(working, d) : d;
    const w = working!;
    const outDtype = config.outDtype ?? (method.outputDtype ? method.outputDtype(w, options.fixQuirks ?? false) : w);
    let inputs = sources;
    if (vocabShape) {
      const p = vocabPlan!.permute(name, sources, baseIndex, w);
      if (p.warning && !warnings.includes(p.warning)) warnings.push(p.warning);
      inputs = sources.map((s, i) => ({ ...s, tensor: p.tensors[i]! }));
    }
    tensors.push({ name, role, t, sources: inputs, baseIndex, global, isEmbed, shape, workingDtype: w, outDtype });
  };

  // Pre- and post-weights: the layout's (the same for every model of a known architecture), or the
  // union of the inferred ones by name.
  const union = (slice: NormSlice, pick: (m: ModuleStructure) => readonly WeightInfo[]) => {
    const byName = new Map<string, WeightInfo>();
    for (const s of slice.sources) for (const w of pick(s.mod)) if (!byName.has(w.name)) byName.set(w.name, w);
    return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  };
  const fixed = (w: WeightInfo) => () => ({ names: [w.name, ...w.aliases], tied: w.tiedNames });
  const layerCounts: LayerCount[] = [];
  for (const { mod, slices: modSlices } of moduleSlices) {
    const first = modSlices[0]!;
    const last = modSlices[modSlices.length - 1]!;
    for (const w of union(first, (m) => m.pre)) plan1(w.name, "pre", 0, first, w, fixed(w));
    let outLayer = 0;
    const outMod = first.sources[0]!.mod;
    for (const slice of modSlices) {
      const len = slice.sources[0]!.end - slice.sources[0]!.start;
      for (let k = 0; k < len; k++) {
        const t = len === 1 ? 1 : k / (len - 1);
        const lead = slice.sources[0]!;
        const outStructure = outMod.prefix !== undefined || lead.mod.prefix === undefined ? outMod : lead.mod;
        for (const w of lead.mod.layers[lead.start + k] ?? []) {
          const inputs = (i: number) => {
            const s = slice.sources[i]!;
            const at = (n: string) => layerWeightName(s.mod, n, s.start + k);
            return { names: [w.name, ...w.aliases].map(at), tied: w.tiedNames.map(at) };
          };
          plan1(layerWeightName(outStructure, w.name, outLayer), "layer", t, slice, w, inputs);
        }
        outLayer++;
      }
    }
    for (const w of union(last, (m) => m.post)) plan1(w.name, "post", 0, last, w, fixed(w));
    layerCounts.push({ module: mod.name, key: mod.layerCountKey, count: outLayer });
  }
  for (const [ref, names] of skipped) {
    const shown = names.slice(0, 4).map((n) => `"${n}"`).join(", ");
    warnings.push(`${ref} lacks ${names.length} optional tensor(s) that other inputs have (${shown}${names.length > 4 ? ` and ${names.length - 4} more` : ""}); those are merged from the inputs that have them`);
  }

  // Write order: MergeKit runs (and saves) tensors in lexicographic order of their group label,
  // which is the largest resolved input name among the sources (GatherTensors.group_label).
  const key = (p: PlannedTensor) => p.sources.reduce((m, s) => (s.tensor.name > m ? s.tensor.name : m), "");
  tensors.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const { shards, totalBytes } = planShards(tensors, options.outShardSize ?? DEFAULT_SHARD_BYTES);

  const all = [...models.values()];
  const base = config.baseModel ? models.get(refKey(config.baseModel)) : undefined;
  const ordered = base ? [...all.filter((m) => m !== base), base] : all;
  const donor = base ?? all[0]!;
  return {
    config, method, models: ordered, base, donor, numLayers: layerCounts.reduce((a, c) => a + c.count, 0), layerCounts, tensors, shards, totalBytes, warnings,
    tokenizer: vocabPlan?.output, chatTemplate,
  };
}
