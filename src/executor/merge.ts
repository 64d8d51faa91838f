// The merge: plan, then for every output shard stream its header and its tensors, one tensor at
// a time (inputs read by byte range, merged by the method's kernels, encoded, written), then the
// index, config, tokenizer and card. Nothing is final until the sink commits.
import { parseMergeConfig } from "../config/parse-config.ts";
import type { MergeConfig } from "../config/types.ts";
import { DTYPES } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { Kernels } from "../kernels/kernels.ts";
import type { OutputSink, ResolveModel } from "../io/storage.ts";
import { writeWhole } from "../io/storage.ts";
import { modelCard } from "../output/model-card.ts";
import { outputModelConfig } from "../output/model-config.ts";
import { tokenizerFilesToCopy, MAX_SIDE_FILE_BYTES } from "../output/side-files.ts";
import { buildPlan } from "../plan/build-plan.ts";
import type { MergePlan, PlannedTensor } from "../plan/types.ts";
import type { MergeInput } from "../methods/types.ts";
import { loadInput } from "./load-input.ts";

export interface MergeProgress {
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly tensor: string;
}

export interface MergeOptions {
  readonly resolveModel: ResolveModel;
  readonly sink: OutputSink;
  /** The compiled kernel module (single-threaded SIMD build), or ready kernels. */
  readonly kernels: WebAssembly.Module | Kernels;
  /** Name shown in the model card's title (MergeKit uses the output directory's name). */
  readonly outputName?: string;
  readonly outShardSize?: number;
  readonly copyTokenizer?: boolean;
  readonly writeModelCard?: boolean;
  readonly randomSeed?: number;
  /** Apply the documented fixes of MergeKit's quirks instead of reproducing them (docs/compat.md). */
  readonly fixQuirks?: boolean;
  readonly onProgress?: (p: MergeProgress) => void;
  readonly onWarning?: (message: string) => void;
  readonly signal?: AbortSignal;
  /** Plan already built (e.g. by a dry run); otherwise built here. */
  readonly plan?: MergePlan;
}

export interface MergeResult {
  readonly plan: MergePlan;
  readonly files: readonly string[];
  /** Highest wasm memory in use, in bytes (the tensors in flight). */
  readonly peakKernelBytes: number;
}

function inputsOf(t: PlannedTensor): string {
  return t.sources.map((s) => s.model.ref.text).join(", ");
}

interface TensorRun {
  readonly seed: number;
  readonly fixQuirks: boolean;
  warn(m: string): void;
  quirk(id: string, description: string, tensor: string): void;
}

async function mergeTensor(k: Kernels, plan: MergePlan, t: PlannedTensor, run: TensorRun): Promise<{ ptr: number; bytes: number }> {
  k.reset();
  const inputs: MergeInput[] = [];
  for (const s of t.sources) {
    const { buf, shape } = await loadInput(k, s.tensor, t.workingDtype, t.shape, t.isEmbed);
    inputs.push({ buf, shape, params: s.params, isBase: s.isBase, model: s.model.ref.text });
  }
  const numel = t.shape.reduce((a, b) => a * b, 1);
  let out;
  try {
    out = plan.method.merge({
      kernels: k, tensor: t.name, shape: t.shape, numel, dtype: t.workingDtype, mode: DTYPES[t.workingDtype].code,
      inputs, baseIndex: t.baseIndex, global: t.global, isEmbed: t.isEmbed, seed: run.seed,
      modelIndices: t.sources.map((s) => plan.models.indexOf(s.model)), fixQuirks: run.fixQuirks,
      warn: run.warn, quirk: (id, description) => run.quirk(id, description, t.name),
    });
  } catch (e) {
    if (e instanceof AmalgamError) throw e;
    throw new AmalgamError("E_METHOD", `${plan.method.name} failed on tensor "${t.name}" (inputs ${inputsOf(t)}): ${(e as Error).message}`, { cause: e });
  }
  if (out.length !== numel) throw new AmalgamError("E_METHOD", `${plan.method.name} returned ${out.length} values for tensor "${t.name}", expected ${numel}`);
  const bytes = numel * DTYPES[t.outDtype].bytes;
  const dst = k.alloc(bytes);
  k.call("encode", dst, out.ptr, DTYPES[t.outDtype].code, numel);
  return { ptr: dst, bytes };
}

/** Runs a whole merge into `options.sink`. */
export async function merge(config: MergeConfig | string, options: MergeOptions): Promise<MergeResult> {
  const cfg = typeof config === "string" ? parseMergeConfig(config) : config;
  const warn = options.onWarning ?? (() => {});
  const plan = options.plan ?? (await buildPlan(cfg, { resolveModel: options.resolveModel, outShardSize: options.outShardSize }));
  for (const w of plan.warnings) warn(w);
  const k = options.kernels instanceof Kernels ? options.kernels : await Kernels.instantiate(options.kernels);
  const sink = options.sink;
  const files: string[] = [];
  const seed = options.randomSeed ?? 0;
  const seenWarnings = new Set<string>();
  const quirks = new Map<string, { description: string; tensors: string[] }>();
  const run: TensorRun = {
    seed,
    fixQuirks: options.fixQuirks ?? false,
    warn: (m) => { if (!seenWarnings.has(m)) { seenWarnings.add(m); warn(m); } },
    quirk: (id, description, tensor) => {
      let q = quirks.get(id);
      if (!q) quirks.set(id, (q = { description, tensors: [] }));
      if (!q.tensors.includes(tensor)) q.tensors.push(tensor);
    },
  };
  try {
    let done = 0;
    let bytesDone = 0;
    const weightMap: Record<string, string> = {};
    for (const shard of plan.shards) {
      const w = await sink.create(shard.file);
      await w.write(shard.layout.header);
      for (let i = 0; i < shard.tensors.length; i++) {
        if (options.signal?.aborted) throw new AmalgamError("E_ABORTED", "merge aborted");
        const t = shard.tensors[i]!;
        const { ptr, bytes } = await mergeTensor(k, plan, t, run);
        if (bytes !== shard.layout.sizes[i]) throw new AmalgamError("E_OUTPUT", `tensor "${t.name}": ${bytes} bytes, layout expected ${shard.layout.sizes[i]}`);
        await w.write(k.bytes(ptr, bytes));
        done++;
        bytesDone += bytes;
        options.onProgress?.({ tensorsDone: done, tensorsTotal: plan.tensors.length, bytesDone, bytesTotal: plan.totalBytes, tensor: t.name });
      }
      await w.close();
      files.push(shard.file);
      for (const t of shard.tensors) weightMap[t.name] = shard.file;
    }
    if (plan.shards.length > 1) {
      const ordered: Record<string, string> = {};
      for (const t of plan.tensors) ordered[t.name] = weightMap[t.name]!;
      const index = { metadata: { total_size: plan.totalBytes, mergekit_version: "0.1.4" }, weight_map: ordered };
      await writeWhole(sink, "model.safetensors.index.json", JSON.stringify(index, null, 2));
      files.push("model.safetensors.index.json");
    }
    await writeWhole(sink, "config.json", outputModelConfig(plan));
    files.push("config.json");
    if (options.copyTokenizer ?? true) {
      for (const f of await tokenizerFilesToCopy(plan.donor.files.dir)) {
        const data = await plan.donor.files.dir.readFile(f);
        if (data.length > MAX_SIDE_FILE_BYTES) throw new AmalgamError("E_IO", `${plan.donor.ref.text}/${f}: ${data.length} bytes, over the ${MAX_SIDE_FILE_BYTES}-byte limit`);
        await writeWhole(sink, f, data);
        files.push(f);
      }
    }
    if (options.writeModelCard ?? true) {
      await writeWhole(sink, "README.md", modelCard(plan, options.outputName ?? "merge", new Set()));
      await writeWhole(sink, "mergekit_config.yml", plan.config.text);
      files.push("README.md", "mergekit_config.yml");
    }
    for (const [id, q] of quirks) {
      const list = q.tensors.length > 6 ? `${q.tensors.slice(0, 6).join(", ")} and ${q.tensors.length - 6} more` : q.tensors.join(", ");
      warn(`${q.description} [quirk ${id}; ${q.tensors.length} tensor(s): ${list}]${run.fixQuirks ? "" : " (--fix-quirks applies the fix)"}`);
    }
    await sink.commit();
  } catch (e) {
    await sink.abort().catch(() => {});
    throw e;
  }
  return { plan, files, peakKernelBytes: k.peakBytes };
}
