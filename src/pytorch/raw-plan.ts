// mergekit-pytorch: merges of arbitrary state dicts. Inputs are single `.safetensors` / `.bin`
// files with no architecture; every tensor name of the listed models is merged on its own with the
// method, gradients at t = 0. Parameters follow merge_raw_pytorch.py, including its quirk: a
// per-model value is looked up with `if value := ...`, so 0 counts as missing (--fix-quirks: 0 is used).
import { evaluateSetting } from "../config/evaluate.ts";
import type { MergeConfig, ModelRef, ParameterMap } from "../config/types.ts";
import { isDType, promote } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { readTensorTable } from "../io/model-files.ts";
import type { ModelTensor } from "../io/model-files.ts";
import type { ModelDirectory, ResolveModel } from "../io/storage.ts";
import { getMethod } from "../methods/registry.ts";
import { rectifiedShape } from "../methods/shapes.ts";
import type { ParamSpec, ParamValues } from "../methods/types.ts";
import { DEFAULT_SHARD_BYTES, planShards } from "../plan/build-plan.ts";
import { DEFAULT_MODULE } from "../arch/types.ts";
import type { ModelStructure } from "../plan/structure.ts";
import type { LoadedModel, MergePlan, PlannedSource, PlannedTensor } from "../plan/types.ts";

/** What to do with a tensor some inputs lack: MergeKit errors unless -i (skip) or -u (merge what exists). */
export type MissingTensors = "error" | "intersection" | "union";

export interface RawPlanOptions {
  readonly resolveModel: ResolveModel;
  readonly outShardSize?: number;
  readonly missing?: MissingTensors;
  /** Use per-model parameters that are 0 (MergeKit treats them as missing). */
  readonly fixQuirks?: boolean;
}

const NO_STRUCTURE: ModelStructure = {
  architecture: undefined,
  modules: [{ name: DEFAULT_MODULE, numLayers: 0, layerCountKey: undefined, prefix: undefined, layers: [], pre: [], post: [] }],
  unused: [],
};

/** Splits `dir/name` at the last slash ("." for a bare name). */
export function splitFilePath(path: string): { dir: string; name: string } {
  const i = path.lastIndexOf("/");
  if (i < 0) return { dir: ".", name: path };
  return { dir: path.slice(0, i) || "/", name: path.slice(i + 1) };
}

/** Opens one weights file (safetensors or torch .bin) as a model without config or structure. */
export async function openRawModel(ref: ModelRef, resolveModel: ResolveModel): Promise<LoadedModel> {
  const path = ref.text;
  const { dir: dirPath, name } = splitFilePath(path);
  if (!name) throw new AmalgamError("E_MODEL_NOT_FOUND", `"${path}": expected a .safetensors or .bin file, not a directory`);
  let dir: ModelDirectory;
  try {
    dir = await resolveModel(dirPath);
  } catch (e) {
    throw new AmalgamError("E_MODEL_NOT_FOUND", `"${path}": cannot open its directory ${dirPath} (${(e as Error).message})`, { cause: e });
  }
  if (!(await dir.has(name))) throw new AmalgamError("E_MODEL_NOT_FOUND", `"${path}": no such file (mergekit-pytorch inputs are single .safetensors or .bin files)`);
  const source = await dir.open(name);
  const table = await readTensorTable(path, name, source);
  const tensors = new Map<string, ModelTensor>();
  for (const [n, e] of table) tensors.set(n, { ...e, file: name, source });
  return { ref, files: { dir, config: {}, tensors }, structure: NO_STRUCTURE };
}

interface RawInput {
  readonly model: LoadedModel;
  /** Per-model parameters; undefined for a base model that is not listed under `models`. */
  readonly parameters: ParameterMap | undefined;
  readonly isBase: boolean;
}

/** Builds the plan of a raw state-dict merge (warnings name the tensors left out and why). */
export async function buildRawPlan(config: MergeConfig, options: RawPlanOptions): Promise<MergePlan> {
  const opened = new Map<string, LoadedModel>();
  try {
    return await planRaw(config, options, opened);
  } catch (e) {
    for (const m of opened.values()) await m.files.dir.close?.().catch(() => {});
    throw e;
  }
}

async function planRaw(config: MergeConfig, options: RawPlanOptions, opened: Map<string, LoadedModel>): Promise<MergePlan> {
  if (config.slices || !config.models) throw new AmalgamError("E_CONFIG", `${config.file}: mergekit-pytorch configs list "models:" (files), not "slices:"`);
  const method = getMethod(config.mergeMethod, `${config.file}: merge_method`);
  const warnings: string[] = [];
  if (config.tokenizer !== undefined || config.chatTemplate !== undefined) warnings.push(`${config.file}: tokenizer settings mean nothing for raw state dicts and are ignored`);
  if (config.modules) throw new AmalgamError("E_CONFIG", `${config.file}: mergekit-pytorch configs list "models:" (files), not "modules:"`);
  const fix = options.fixQuirks ?? false;
  const open = async (ref: ModelRef) => {
    let m = opened.get(ref.text);
    if (!m) opened.set(ref.text, (m = await openRawModel(ref, options.resolveModel)));
    return m;
  };
  const inputs: RawInput[] = [];
  const baseText = config.baseModel?.text;
  for (const m of config.models) {
    if (inputs.some((i) => i.model.ref.text === m.model.text)) continue; // MergeKit keys inputs by path
    inputs.push({ model: await open(m.model), parameters: m.parameters, isBase: m.model.text === baseText });
  }
  if (config.baseModel && !inputs.some((i) => i.isBase)) inputs.push({ model: await open(config.baseModel), parameters: undefined, isBase: true });
  const base = inputs.find((i) => i.isBase)?.model;
  if (method.base === "required" && !base) throw new AmalgamError("E_CONFIG", `${config.file}: merge_method "${method.name}" needs a base_model`);

  // Only the listed models' names are merged (a tensor only the base has is not).
  const names = [...new Set(inputs.filter((i) => i.parameters !== undefined).flatMap((i) => [...i.model.files.tensors.keys()]))].sort();
  const missing = options.missing ?? "error";
  const tensors: PlannedTensor[] = [];
  const skippedMissing: string[] = [];
  const skippedDtype: string[] = [];
  const zeroQuirk = new Set<string>();
  for (const name of names) {
    const present = inputs.filter((i) => i.model.files.tensors.has(name));
    if (present.length < inputs.length) {
      if (missing === "intersection") { skippedMissing.push(name); continue; }
      if (missing === "error") {
        const lacking = inputs.filter((i) => !present.includes(i)).map((i) => i.model.ref.text);
        throw new AmalgamError("E_TENSOR_MISSING", `tensor "${name}" is missing from ${lacking.join(", ")} (found in ${present.map((i) => i.model.ref.text).join(", ")}); -i merges only tensors every model has, -u merges what exists`);
      }
    }
    const stored = present.map((i) => i.model.files.tensors.get(name)!);
    if (!stored.every((t) => isDType(t.dtype))) { skippedDtype.push(`${name} (${stored.map((t) => t.dtype).join("/")})`); continue; }
    const baseIdx = present.findIndex((i) => i.isBase);
    const baseIndex = baseIdx >= 0 ? baseIdx : undefined;
    if (method.base === "required" && baseIndex === undefined) {
      throw new AmalgamError("E_TENSOR_MISSING", `tensor "${name}" is not in the base model ${base!.ref.text}, which ${method.name} needs`);
    }
    const sources: PlannedSource[] = present.map((i, k) => ({
      model: i.model, tensor: stored[k]!, isBase: i.isBase,
      params: i.parameters === undefined ? {} : perModelParams(method.perModel, i.parameters, config.parameters, name, i.model.ref.text, fix, (p) => zeroQuirk.add(`${p} of ${i.model.ref.text}`)),
    }));
    const global = globalParams(method.global, config.parameters, name, `${config.file}`);
    const ctx = { tensor: name, shapes: stored.map((t) => t.shape), models: present.map((i) => i.model.ref.text), baseIndex, isEmbed: false };
    const shape = method.outputShape ? method.outputShape(ctx) : rectifiedShape(ctx);
    let working: DType | undefined = config.dtype;
    const dts = stored.map((t) => t.dtype as DType);
    if (!working && method.mixedDtype === "base" && baseIndex !== undefined) working = dts[baseIndex];
    if (!working) for (const d of dts) working = working ? promote(working, d) : d;
    const outDtype = config.outDtype ?? (method.outputDtype ? method.outputDtype(working!, fix) : working!);
    tensors.push({ name, role: "pre", t: 0, sources, baseIndex, global, isEmbed: false, shape, workingDtype: working!, outDtype });
  }
  if (skippedMissing.length) warnings.push(`-i: ${skippedMissing.length} tensor(s) missing from some model were left out: ${list(skippedMissing)}`);
  if (skippedDtype.length) warnings.push(`${skippedDtype.length} non-float tensor(s) (integer or boolean buffers) cannot be merged and were left out: ${list(skippedDtype)}`);
  if (zeroQuirk.size) warnings.push(`per-model parameter(s) set to 0 were treated as not set, as mergekit-pytorch does (\`if value := ...\`): ${list([...zeroQuirk])}; --fix-quirks uses the 0`);
  if (!tensors.length) throw new AmalgamError("E_CONFIG", `${config.file}: no tensor to merge`);
  const { shards, totalBytes } = planShards(tensors, options.outShardSize ?? DEFAULT_SHARD_BYTES);
  const models = [...inputs.filter((i) => !i.isBase), ...inputs.filter((i) => i.isBase)].map((i) => i.model);
  return { config, method, models, base, donor: inputs[0]!.model, numLayers: 0, layerCounts: [], tensors, shards, totalBytes, warnings, tokenizer: undefined, chatTemplate: undefined };
}

function list(xs: readonly string[]): string {
  return xs.length > 6 ? `${xs.slice(0, 6).join(", ")} and ${xs.length - 6} more` : xs.join(", ");
}

function level(map: ParameterMap | undefined, param: string, tensor: string): number | undefined {
  const e = map?.get(param);
  return e ? evaluateSetting(e.setting, tensor, 0) : undefined;
}

function globalParams(specs: readonly ParamSpec[], top: ParameterMap, tensor: string, file: string): ParamValues {
  const out: Record<string, number | undefined> = {};
  for (const p of specs) {
    let v = level(top, p.name, tensor);
    if (v === undefined) {
      if (p.required) throw new AmalgamError("E_CONFIG", `${file}: parameter "${p.name}" is required but not set for tensor "${tensor}"`);
      v = p.default;
    }
    out[p.name] = v;
  }
  return out;
}

function perModelParams(specs: readonly ParamSpec[], own: ParameterMap, top: ParameterMap, tensor: string, model: string, fix: boolean, zero: (p: string) => void): ParamValues {
  const out: Record<string, number | undefined> = {};
  const set = (v: number | undefined, p: string) => {
    if (v === 0 && !fix) { zero(p); return false; }
    return v !== undefined;
  };
  for (const p of specs) {
    const a = level(own, p.name, tensor);
    let v: number | undefined;
    if (set(a, p.name)) v = a;
    else {
      const b = level(top, p.name, tensor);
      if (set(b, p.name)) v = b;
      else if (p.required) throw new AmalgamError("E_CONFIG", `parameter "${p.name}" is required but not set for model ${model}, tensor "${tensor}"${a === 0 || b === 0 ? " (a 0 counts as not set in mergekit-pytorch; --fix-quirks uses it)" : ""}`);
      else v = p.default;
    }
    out[p.name] = v;
  }
  return out;
}
