// mergekit-moe: a sparse MoE from dense models. Attention, norms and embeddings come from the base
// model; each layer's MLP tensors from every expert (renamed per the output architecture), the
// optional shared expert's as they are, and one router per layer from gate vectors. The output
// is planned as passthrough copies (cast to the output dtype, `residual_scale` as the passthrough
// scale of down_proj, `noise_scale` as a noised view of the source) and written by the executor,
// so it shards, streams and commits like any merge.
import type { MergeConfig } from "../config/types.ts";
import { DTYPES, isDType, parseConfigDType } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { loadInput } from "../executor/load-input.ts";
import { merge } from "../executor/merge.ts";
import type { MergeOptions, MergeResult } from "../executor/merge.ts";
import { Kernels } from "../kernels/kernels.ts";
import { toDType } from "../kernels/scalar.ts";
import type { ModelFiles, ModelTensor } from "../io/model-files.ts";
import { writeWhole } from "../io/storage.ts";
import type { ByteSource, ModelDirectory, OutputSink } from "../io/storage.ts";
import { ComputedSource } from "../lora/computed-source.ts";
import { openModelRef } from "../lora/lora-model.ts";
import { Serial } from "../lora/serial.ts";
import { getMethod } from "../methods/registry.ts";
import { pythonJson } from "../output/python-json.ts";
import { tokenizerFilesToCopy, MAX_SIDE_FILE_BYTES } from "../output/side-files.ts";
import { DEFAULT_SHARD_BYTES, planShards } from "../plan/build-plan.ts";
import { inferStructure, layerWeightName, modelStructure, resolveLayout } from "../plan/structure.ts";
import type { WeightInfo } from "../plan/structure.ts";
import type { LoadedModel, MergePlan, PlannedTensor } from "../plan/types.ts";
import { streamKey } from "../random/stream-key.ts";
import { degenerateGateWarning, gateVectors, normals } from "./gate-vectors.ts";
import { selectArchitecture } from "./moe-architectures.ts";
import type { MoeArchitecture } from "./moe-architectures.ts";
import { checkMoeConfig } from "./moe-config.ts";
import type { ExpertConfig, MoeConfig } from "./moe-config.ts";
import { promptTokenizer } from "./prompt-tokenizer.ts";

export interface MoeOptions extends Omit<MergeOptions, "plan" | "modelFiles" | "kernels"> {
  readonly kernels: WebAssembly.Module;
  /** --i-understand-this-is-not-useful-without-training: allow every expert to be the same model. */
  readonly allowAllSame?: boolean;
}

export interface MoeResult extends MergeResult {
  readonly architecture: string;
  readonly experts: number;
  readonly sharedExperts: number;
}

/** One expert's source in the output (routed or shared). */
interface ExpertSource {
  readonly config: ExpertConfig;
  readonly model: LoadedModel;
  /** Index of its noise stream. */
  readonly index: number;
}

/** A model of tensors held in memory (routers, zero biases). */
function memoryModel(ref: string, tensors: readonly { name: string; dtype: DType; shape: readonly number[]; data: Uint8Array }[]): LoadedModel {
  const dir: ModelDirectory = {
    ref,
    has: async () => false,
    open: async (n) => { throw new AmalgamError("E_MODEL_NOT_FOUND", `${ref}/${n}: not a file`); },
    readFile: async (n) => { throw new AmalgamError("E_MODEL_NOT_FOUND", `${ref}/${n}: not a file`); },
  };
  const map = new Map<string, ModelTensor>();
  for (const t of tensors) {
    const src: ByteSource = { size: t.data.length, readInto: async (o, d) => { d.set(t.data.subarray(o, o + d.length)); } };
    map.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, offset: 0, byteLength: t.data.length, file: ref, source: src });
  }
  const files: ModelFiles = { dir, config: {}, tensors: map };
  return { ref: { path: ref, revision: undefined, lora: undefined, text: ref }, files, structure: inferStructure(files) };
}

/** Float32 values stored as `dtype` bytes, rounded as torch's `.to(dtype)`. */
function encode(k: Kernels, values: Float32Array, dtype: DType): Uint8Array {
  const mark = k.mark();
  const src = k.alloc(values.length * 4);
  new Float32Array(k.memory.buffer, src, values.length).set(values);
  const dst = k.alloc(values.length * DTYPES[dtype].bytes);
  k.call("encode", dst, src, DTYPES[dtype].code, values.length);
  const out = k.bytes(dst, values.length * DTYPES[dtype].bytes).slice();
  k.release(mark);
  return out;
}

/** `tensor + randn_like(tensor) * noise_scale` in the tensor's dtype (moe/common.py noise_and_scale). */
function noised(t: ModelTensor, scale: number, key: ReturnType<typeof streamKey>, k: Kernels, serial: Serial): ModelTensor {
  const dtype = t.dtype as DType;
  const source = new ComputedSource(t.byteLength, `the noised tensor "${t.name}"`, () => serial.run(async () => {
    k.reset();
    const buf = (await loadInput(k, t, dtype, t.shape, false)).buf;
    const noise = normals(k, key, buf.length);
    const s = toDType(scale, dtype);
    const v = new Float32Array(k.memory.buffer, buf.ptr, buf.length);
    const out = new Float32Array(buf.length);
    for (let i = 0; i < v.length; i++) out[i] = toDType(v[i]! + toDType(toDType(noise[i]!, dtype) * s, dtype), dtype);
    return encode(k, out, dtype);
  }));
  return { ...t, offset: 0, file: `${t.file}+noise`, source };
}

function modelType(m: LoadedModel): string {
  const t = m.files.config["model_type"];
  return typeof t === "string" ? t : "unknown";
}

function configDtype(cfg: Readonly<Record<string, unknown>>): DType | undefined {
  const d = cfg["torch_dtype"] ?? cfg["dtype"];
  if (typeof d !== "string") return undefined;
  try {
    return parseConfigDType(d, "config.json");
  } catch {
    return undefined;
  }
}

/** An OutputSink that writes the extra files just before committing. */
function withFiles(sink: OutputSink, files: () => Promise<readonly (readonly [string, Uint8Array | string])[]>, written: string[]): OutputSink {
  return {
    // the output directory's checks and resume work on the wrapped sink's directory
    ...(sink.localPath !== undefined ? { localPath: sink.localPath } : {}),
    ...(sink.store !== undefined ? { store: sink.store } : {}),
    create: (n) => sink.create(n),
    abort: () => sink.abort(),
    commit: async () => {
      for (const [n, d] of await files()) {
        await writeWhole(sink, n, d);
        written.push(n);
      }
      await sink.commit();
    },
  };
}

export async function buildMoe(config: MoeConfig, options: MoeOptions): Promise<MoeResult> {
  const warn = options.onWarning ?? (() => {});
  const fix = options.fixQuirks ?? false;
  checkMoeConfig(config, { allowAllSame: options.allowAllSame ?? false, fixQuirks: fix });
  const opened = new Map<string, LoadedModel>();
  const open = async (ref: ExpertConfig["sourceModel"]) => {
    let m = opened.get(ref.text);
    if (!m) {
      const files = await openModelRef(ref, options.resolveModel, options.kernels);
      opened.set(ref.text, (m = { ref, files, structure: inferStructure(files) }));
    }
    return m;
  };
  try {
    const base = await open(config.baseModel);
    const experts: ExpertSource[] = [];
    for (const [i, e] of config.experts.entries()) experts.push({ config: e, model: await open(e.sourceModel), index: i });
    const shared: ExpertSource[] = [];
    for (const [i, e] of config.sharedExperts.entries()) shared.push({ config: e, model: await open(e.sourceModel), index: experts.length + i });
    const sharedPrompted = config.sharedExperts.some((e) => e.positivePrompts.length > 0);
    const choice = selectArchitecture(config.architecture, {
      sharedExperts: shared.length, sharedPrompted, gateMode: config.gateMode,
      modelTypes: [base, ...experts.map((e) => e.model), ...shared.map((e) => e.model)].map(modelType),
    });
    if ("error" in choice) throw new AmalgamError("E_CONFIG", `${config.file}: ${choice.error}`);
    const arch = choice.arch;
    for (const w of choice.warnings) warn(w);
    if (arch.powerOfTwo && (experts.length & (experts.length - 1)) !== 0) {
      warn(`the model has ${experts.length} experts, which is not a power of two; it will not be usable in llama.cpp`);
    }
    const k = await Kernels.instantiate(options.kernels);
    const outDtype = config.dtype ?? configDtype(base.files.config);
    // The base's weights in its layout's order (MergeKit: the architecture's all_weights()).
    const layout = modelStructure(base.files, resolveLayout([{ ref: base.ref.text, config: base.files.config }], 0, false));
    if (layout.modules.length !== 1) throw new AmalgamError("E_UNSUPPORTED", `${base.ref.text}: a multi-module base model (${layout.modules.map((m) => m.name).join(", ")}) cannot become a MoE`);
    const mod = layout.modules[0]!;
    const layers = mod.numLayers;
    const weights: WeightInfo[] = [
      ...mod.pre,
      ...mod.layers.flatMap((ws, i) => ws.map((w) => ({ ...w, name: layerWeightName(mod, w.name, i), aliases: w.aliases.map((a) => layerWeightName(mod, a, i)) }))),
      ...mod.post,
    ];
    const find = (m: LoadedModel, w: WeightInfo) => [w.name, ...w.aliases].map((n) => m.files.tensors.get(n)).find((t) => t !== undefined);
    const embedWeight = mod.pre.find((w) => w.isEmbed);
    const embed = embedWeight ? find(base, embedWeight) : undefined;
    const hiddenCfg = base.files.config["hidden_size"];
    const hidden = typeof hiddenCfg === "number" ? hiddenCfg : embed?.shape[1];
    if (!hidden) throw new AmalgamError("E_MODEL_CONFIG", `${base.ref.text}: no hidden_size in config.json and no embedding to read it from`);

    // Routers.
    const needGates = [...config.experts, ...(sharedPrompted || config.gateMode === "random" || config.gateMode === "uniform_random" ? config.sharedExperts : [])];
    let tokenize: ((s: string) => number[]) | undefined;
    if (config.gateMode === "cheap_embed") tokenize = await promptTokenizer(base.files.dir);
    const gates = await gateVectors({
      mode: config.gateMode, layers, hidden, experts: needGates, seed: options.randomSeed ?? 0, kernels: k, tokenize,
      embeddingRows: async (ids) => {
        if (!embed || !isDType(embed.dtype)) throw new AmalgamError("E_TENSOR_MISSING", `${base.ref.text}: no token embedding matrix for gate_mode cheap_embed`);
        const rows = new Map<number, Float32Array>();
        const eb = DTYPES[embed.dtype].bytes;
        for (const id of ids) {
          if (!Number.isInteger(id) || id < 0 || id >= embed.shape[0]!) throw new AmalgamError("E_MODEL_CONFIG", `${base.ref.text}: token id ${id} is outside the ${embed.shape[0]}-row embedding`);
          k.reset();
          const raw = k.alloc(hidden * eb);
          await embed.source.readInto(embed.offset + id * hidden * eb, k.bytes(raw, hidden * eb));
          const f = k.alloc(hidden * 4);
          k.call("decode", f, raw, DTYPES[embed.dtype].code, hidden);
          rows.set(id, new Float32Array(k.memory.buffer, f, hidden).slice());
        }
        return rows;
      },
    });
    const warnGates = degenerateGateWarning(gates, layers, needGates.length, hidden);
    if (warnGates) warn(warnGates);

    // Output tensors, in MergeKit's write order: base weights (MLP ones per expert), then routers.
    const memory: { name: string; dtype: DType; shape: readonly number[]; data: Uint8Array }[] = [];
    const planned: { name: string; model: LoadedModel | "memory"; tensor: string | ModelTensor; scale?: number }[] = [];
    const serial = new Serial();
    const skipped: string[] = [];
    let residualQuirk = false;
    const expertTensor = (src: ExpertSource, w: WeightInfo, outName: string): ModelTensor => {
      const t = find(src.model, w);
      if (!t) throw new AmalgamError("E_TENSOR_MISSING", `tensor "${w.name}" is needed for ${outName} but is not in expert model ${src.model.ref.text}`);
      return src.config.noiseScale !== undefined ? noised(t, src.config.noiseScale, streamKey(options.randomSeed ?? 0, src.index, outName, "moe-noise"), k, serial) : t;
    };
    const expertScale = (src: ExpertSource, name: string, outName: string): number | undefined => {
      if (src.config.residualScale === undefined || !name.includes("down_proj")) return undefined;
      // MergeKit's Mixtral tests the renamed tensor (".w2"), so residual_scale never applies there.
      if (!outName.includes("down_proj") && !fix) { residualQuirk = true; return undefined; }
      return src.config.residualScale;
    };
    for (const w of weights) {
      const name = w.name;
      const bt = find(base, w);
      if (!bt) {
        if (w.optional) continue; // a tied output head
        throw new AmalgamError("E_TENSOR_MISSING", `tensor "${name}" is not in the base model ${base.ref.text}`);
      }
      if (!isDType(bt.dtype)) { skipped.push(`${name} (${bt.dtype})`); continue; }
      if (name.includes(".mlp.")) {
        for (const src of experts) {
          const out = arch.expertName(name, src.index);
          planned.push({ name: out, model: src.model, tensor: expertTensor(src, w, out), scale: expertScale(src, name, out) });
        }
        if (arch.sharedName && shared[0]) {
          const out = arch.sharedName(name);
          planned.push({ name: out, model: shared[0].model, tensor: expertTensor(shared[0], w, out), scale: expertScale(shared[0], name, out) });
        }
      } else {
        planned.push({ name, model: base, tensor: bt });
        const m = arch.attentionBiases ? /^(.*\.self_attn\.(q|k|v)_proj)\.weight$/.exec(name) : null;
        if (m && !base.files.tensors.has(`${m[1]}.bias`)) {
          // Qwen2-MoE has q/k/v biases; dense llama/mistral inputs do not: zeros, as MergeKit writes.
          const dtype = outDtype ?? bt.dtype;
          memory.push({ name: `${m[1]}.bias`, dtype, shape: [bt.shape[0]!], data: new Uint8Array(bt.shape[0]! * DTYPES[dtype].bytes) });
          planned.push({ name: `${m[1]}.bias`, model: "memory", tensor: `${m[1]}.bias` });
        }
      }
    }
    const e = experts.length;
    const g = needGates.length;
    const routerDtype = outDtype ?? "F32";
    for (let l = 0; l < layers; l++) {
      const rows = gates.subarray(l * g * hidden, (l * g + e) * hidden);
      memory.push({ name: arch.routerName(l), dtype: routerDtype, shape: [e, hidden], data: encode(k, rows, routerDtype) });
      planned.push({ name: arch.routerName(l), model: "memory", tensor: arch.routerName(l) });
      if (arch.sharedRouterName && g > e) {
        const sr = gates.subarray((l * g + e) * hidden, (l * g + g) * hidden);
        memory.push({ name: arch.sharedRouterName(l), dtype: routerDtype, shape: [g - e, hidden], data: encode(k, sr, routerDtype) });
        planned.push({ name: arch.sharedRouterName(l), model: "memory", tensor: arch.sharedRouterName(l) });
      }
    }
    if (skipped.length) warn(`${skipped.length} non-float tensor(s) of the base model were left out: ${skipped.join(", ")}`);
    if (residualQuirk) warn(`residual_scale is not applied to Mixtral experts, as in MergeKit (it looks for "down_proj" in the renamed ".w2" tensors); --fix-quirks applies it`);

    const mem = memoryModel("(routers)", memory);
    const passthrough = getMethod("passthrough");
    const tensors: PlannedTensor[] = planned.map((p) => {
      const model = p.model === "memory" ? mem : p.model;
      const tensor = typeof p.tensor === "string" ? mem.files.tensors.get(p.tensor)! : p.tensor;
      const working = tensor.dtype as DType;
      return {
        name: p.name, role: "layer", t: 0, isEmbed: false, shape: tensor.shape, baseIndex: undefined, global: {},
        sources: [{ model, tensor, isBase: false, params: { scale: p.scale } }],
        workingDtype: working, outDtype: outDtype ?? working,
      };
    });
    const seen = new Set<string>();
    for (const t of tensors) {
      if (seen.has(t.name)) throw new AmalgamError("E_OUTPUT", `two output tensors are named "${t.name}"`);
      seen.add(t.name);
    }
    const { shards, totalBytes } = planShards(tensors, options.outShardSize ?? DEFAULT_SHARD_BYTES);
    const mergeConfig: MergeConfig = {
      mergeMethod: "passthrough", models: undefined, slices: undefined, modules: undefined, baseModel: config.baseModel, dtype: outDtype, outDtype: undefined,
      parameters: new Map(), tokenizer: undefined, chatTemplate: undefined, text: config.text, file: config.file,
    };
    const models = [...opened.values(), mem];
    const plan: MergePlan = {
      config: mergeConfig, method: passthrough, models, base, donor: base, numLayers: layers,
      layerCounts: [{ module: mod.name, key: mod.layerCountKey, count: layers }], tensors, shards, totalBytes, warnings: [], tokenizer: undefined, chatTemplate: undefined,
    };
    const extra: string[] = [];
    const sink = withFiles(options.sink, async () => {
      const files: [string, Uint8Array | string][] = [["config.json", outputConfig(arch, base, experts.length, shared.length, config.expertsPerToken, outDtype)]];
      if (options.copyTokenizer ?? true) {
        for (const f of await tokenizerFilesToCopy(base.files.dir)) {
          const data = await base.files.dir.readFile(f);
          if (data.length > MAX_SIDE_FILE_BYTES) throw new AmalgamError("E_IO", `${base.ref.text}/${f}: ${data.length} bytes, over the ${MAX_SIDE_FILE_BYTES}-byte limit`);
          files.push([f, data]);
        }
      }
      if (options.writeModelCard ?? true) files.push(["mergekit_moe_config.yml", config.text]);
      return files;
    }, extra);
    const result = await merge(mergeConfig, { ...options, kernels: options.kernels, plan, modelFiles: false, sink });
    return { ...result, files: [...result.files, ...extra], architecture: arch.name, experts: experts.length, sharedExperts: shared.length };
  } finally {
    for (const m of opened.values()) await m.files.dir.close?.().catch(() => {});
  }
}

/** The output config.json: the base model's config with the architecture's MoE keys and dtype. */
function outputConfig(arch: MoeArchitecture, base: LoadedModel, experts: number, shared: number, ept: number, dtype: DType | undefined): string {
  const cfg = arch.outputConfig(structuredClone(base.files.config) as Record<string, unknown>, experts, shared, ept);
  if (dtype) {
    cfg["torch_dtype"] = DTYPES[dtype].torch;
    if (!arch.pythonJson) cfg["dtype"] = DTYPES[dtype].torch;
  }
  const numberTexts = base.files.configNumbers;
  return arch.pythonJson ? pythonJson(cfg, { indent: 4, sortKeys: false, numberTexts }) : pythonJson(cfg, { indent: 2, sortKeys: true, numberTexts }) + "\n";
}

