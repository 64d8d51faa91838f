// mergekit-extract-lora: a PEFT LoRA adapter from the difference between a fine-tune and its
// base. For every decomposed module, delta = ft - base in the weights' dtype, then its leading
// singular triplets (randomized SVD in the kernels): A = diag(sqrt s) V^T, B = U diag(sqrt s)
// (or A = diag(s) V^T, B = U without --distribute-scale), cast back to that dtype. Rank =
// min(--max-rank, dims), cut to the singular values above --sv-epsilon when it is set.
// Embeddings and other modules are saved at full rank as the script decides (lora-modules.ts).
import { parseModelRef } from "../config/model-ref.ts";
import { DTYPES, isDType, promote } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { loadInput } from "../executor/load-input.ts";
import { Kernels } from "../kernels/kernels.ts";
import type { ModelFiles, ModelTensor } from "../io/model-files.ts";
import { layoutFile } from "../io/safetensors-writer.ts";
import type { TensorSpec } from "../io/safetensors-writer.ts";
import { writeWhole } from "../io/storage.ts";
import type { OutputSink, ResolveModel } from "../io/storage.ts";
import { streamKey } from "../random/stream-key.ts";
import { adapterConfigJson, loraCard } from "./adapter-files.ts";
import { isInputEmbedding, isOutputEmbedding, selectModules } from "./lora-modules.ts";
import type { ModulePlan } from "./lora-modules.ts";
import { openModelRef } from "./lora-model.ts";
import { randomizedSvd } from "./randomized-svd.ts";

export interface ExtractLoraOptions {
  readonly resolveModel: ResolveModel;
  readonly sink: OutputSink;
  readonly kernels: WebAssembly.Module;
  /** Fine-tuned model reference (`path[@rev][+lora]`). */
  readonly model: string;
  readonly baseModel: string;
  readonly maxRank?: number;
  readonly distributeScale?: boolean;
  readonly embedLora?: boolean;
  readonly saveModules?: readonly string[];
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly svEpsilon?: number;
  readonly skipUndecomposable?: boolean;
  /** Randomized SVD: extra sketch columns and power iterations (see randomized-svd.ts). */
  readonly oversample?: number;
  readonly powerIterations?: number;
  readonly randomSeed?: number;
  /** The command line, for the card. */
  readonly invocation?: string;
  /** The card's title (MergeKit: the output directory's name). */
  readonly outputName?: string;
  /** Whether a model path is a local directory (not linked to the Hub in the card). */
  readonly isLocal?: (path: string) => boolean;
  readonly onWarning?: (message: string) => void;
  readonly onProgress?: (p: { readonly done: number; readonly total: number; readonly module: string }) => void;
}

export interface ExtractLoraResult {
  readonly files: readonly string[];
  /** Rank of each decomposed module. */
  readonly ranks: ReadonlyMap<string, number>;
  readonly modulesToSave: readonly string[];
  readonly modules: readonly ModulePlan[];
}

interface OutTensor extends TensorSpec {
  readonly data: Uint8Array | ModelTensor;
}

export const DEFAULT_MAX_RANK = 128;

function regexes(list: readonly string[] | undefined, flag: string): RegExp[] {
  return (list ?? []).map((r) => {
    try {
      return new RegExp(r);
    } catch (e) {
      throw new AmalgamError("E_ARGS", `${flag}: "${r}" is not a valid regular expression (${(e as Error).message})`);
    }
  });
}

function floatDtype(t: ModelTensor, who: string): DType {
  if (!isDType(t.dtype)) throw new AmalgamError("E_DTYPE", `${who}: tensor "${t.name}" has dtype ${t.dtype}; only F32, BF16 and F16 weights can be decomposed`);
  return t.dtype;
}

/** The model's input embedding matrix (tied output heads fall back to it, as MergeKit's tied_names). */
function inputEmbedding(files: ModelFiles): ModelTensor | undefined {
  for (const t of files.tensors.values()) if (t.name.endsWith(".weight") && isInputEmbedding(t.name.slice(0, -7)) && t.shape.length === 2 && !/(wpe|position|token_type)/.test(t.name)) return t;
  return undefined;
}

function vocabRows(files: ModelFiles): number | undefined {
  return inputEmbedding(files)?.shape[0];
}

export async function extractLora(options: ExtractLoraOptions): Promise<ExtractLoraResult> {
  try {
    return await extract(options);
  } catch (e) {
    await options.sink.abort().catch(() => {});
    throw e;
  }
}

async function extract(options: ExtractLoraOptions): Promise<ExtractLoraResult> {
  const warn = options.onWarning ?? (() => {});
  const maxRank = options.maxRank ?? DEFAULT_MAX_RANK;
  if (!Number.isInteger(maxRank) || maxRank < 1) throw new AmalgamError("E_ARGS", `--max-rank: expected a positive integer, got ${maxRank}`);
  const svEpsilon = options.svEpsilon ?? 0;
  const include = regexes(options.include, "--include-regex");
  const exclude = regexes(options.exclude, "--exclude-regex");
  const baseRef = parseModelRef(options.baseModel, "--base-model");
  const modelRef = parseModelRef(options.model, "--model");
  const base = await openModelRef(baseRef, options.resolveModel, options.kernels, "--base-model");
  let ft: ModelFiles | undefined;
  try {
    ft = await openModelRef(modelRef, options.resolveModel, options.kernels, "--model");
    const baseVocab = vocabRows(base);
    const ftVocab = vocabRows(ft);
    let embedLora = options.embedLora ?? false;
    if (embedLora && baseVocab !== ftVocab) {
      warn(`vocabulary size mismatch: the fine-tuned model has ${ftVocab} tokens, the base model ${baseVocab}; embeddings go to modules_to_save (--embed-lora is turned off)`);
      embedLora = false;
    }
    const shapes = new Map([...ft.tensors.values()].map((t) => [t.name, t.shape] as const));
    const selection = selectModules(shapes, { embedLora, saveModules: options.saveModules ?? [], include, exclude, skipUndecomposable: options.skipUndecomposable ?? false });
    for (const w of selection.warnings) warn(w);
    const k = await Kernels.instantiate(options.kernels);
    const out: OutTensor[] = [];
    const ranks = new Map<string, number>();
    const work = selection.modules.filter((m) => m.action.kind !== "skip");
    let done = 0;
    for (const m of work) {
      const ftW = ft.tensors.get(m.weight)!;
      if (m.action.kind === "save") {
        out.push({ name: `base_model.model.${m.weight}`, dtype: floatDtype(ftW, modelRef.text), shape: ftW.shape, data: ftW });
        if (m.bias) {
          const b = ft.tensors.get(m.bias)!;
          out.push({ name: `base_model.model.${m.bias}`, dtype: floatDtype(b, modelRef.text), shape: b.shape, data: b });
        }
      } else if (m.action.kind === "lora") {
        let baseW = base.tensors.get(m.weight);
        if (!baseW && isOutputEmbedding(m.module)) baseW = inputEmbedding(base);
        if (!baseW) throw new AmalgamError("E_TENSOR_MISSING", `tensor "${m.weight}" is in ${modelRef.text} but not in the base model ${baseRef.text}`);
        const r = await decompose(k, m, ftW, baseW, m.action.transpose, { maxRank, svEpsilon, distribute: options.distributeScale ?? true, oversample: options.oversample, powerIterations: options.powerIterations, seed: options.randomSeed ?? 0, warn });
        ranks.set(m.module, r.rank);
        const kind = m.action.transpose ? "lora_embedding" : "lora";
        const suffix = m.action.transpose ? "" : ".weight";
        out.push({ name: `base_model.model.${m.module}.${kind}_A${suffix}`, dtype: r.dtype, shape: r.aShape, data: r.a });
        out.push({ name: `base_model.model.${m.module}.${kind}_B${suffix}`, dtype: r.dtype, shape: r.bShape, data: r.b });
        if (m.bias) {
          const fb = ft.tensors.get(m.bias)!;
          const bb = base.tensors.get(m.bias);
          if (!bb) throw new AmalgamError("E_TENSOR_MISSING", `tensor "${m.bias}" is in ${modelRef.text} but not in the base model ${baseRef.text}`);
          const d = await biasDelta(k, fb, bb);
          out.push({ name: `base_model.model.${m.module}.lora_B.bias`, dtype: d.dtype, shape: fb.shape, data: d.bytes });
        }
      }
      options.onProgress?.({ done: ++done, total: work.length, module: m.module });
    }
    if (ranks.size === 0) throw new AmalgamError("E_CONFIG", "no module was decomposed (check --include-regex / --exclude-regex / --save-module)");
    const files: string[] = [];
    await writeAdapter(options.sink, out);
    files.push("adapter_model.safetensors");
    await writeWhole(options.sink, "adapter_config.json", adapterConfigJson({ baseModelPath: baseRef.path, ranks, modulesToSave: selection.modulesToSave }));
    files.push("adapter_config.json");
    const isLocal = options.isLocal ?? (() => true);
    await writeWhole(options.sink, "README.md", loraCard({
      name: options.outputName ?? "",
      baseModel: { path: baseRef.path, lora: baseRef.lora?.path, local: isLocal(baseRef.path) },
      model: { path: modelRef.path, lora: modelRef.lora?.path, local: isLocal(modelRef.path) },
      invocation: options.invocation ?? `amalgam extract-lora --model ${options.model} --base-model ${options.baseModel}`,
      baseVocab, finalVocab: ftVocab,
    }));
    files.push("README.md");
    await options.sink.commit();
    return { files, ranks, modulesToSave: selection.modulesToSave, modules: selection.modules };
  } finally {
    await base.dir.close?.().catch(() => {});
    await ft?.dir.close?.().catch(() => {});
  }
}

interface Decomposition {
  readonly rank: number;
  readonly dtype: DType;
  readonly a: Uint8Array;
  readonly aShape: readonly number[];
  readonly b: Uint8Array;
  readonly bShape: readonly number[];
}

interface DecomposeOptions {
  readonly maxRank: number;
  readonly svEpsilon: number;
  readonly distribute: boolean;
  readonly oversample: number | undefined;
  readonly powerIterations: number | undefined;
  readonly seed: number;
  warn(message: string): void;
}

/** delta = ft - base (in the weights' dtype), transposed for embeddings, factored into A and B. */
async function decompose(k: Kernels, m: ModulePlan, ftW: ModelTensor, baseW: ModelTensor, transpose: boolean, o: DecomposeOptions): Promise<Decomposition> {
  k.reset();
  const dtype = promote(floatDtype(ftW, "--model"), floatDtype(baseW, "--base-model"));
  const mode = DTYPES[dtype].code;
  const [rows, cols] = baseW.shape as [number, number];
  const [fRows, fCols] = ftW.shape as [number, number];
  if (baseW.shape.length !== 2 || fCols !== cols || fRows < rows) {
    throw new AmalgamError("E_SHAPE", `module "${m.module}": fine-tuned ${JSON.stringify(ftW.shape)} and base ${JSON.stringify(baseW.shape)} weights differ in shape`);
  }
  if (fRows > rows) o.warn(`fine-tuned module "${m.module}" will have ${fRows - rows} rows truncated for weight decomposition`);
  // The fine-tune is cut to the base's rows (MergeKit without --extend-vocab).
  const f = (await loadInput(k, ftW, dtype, [rows, cols], true)).buf;
  const b = (await loadInput(k, baseW, dtype, [rows, cols], false)).buf;
  k.call("misc_sub", f.ptr, f.ptr, b.ptr, rows * cols, mode);
  let delta = f.ptr;
  let [mr, nc] = [rows, cols];
  if (transpose) {
    delta = k.alloc(rows * cols * 4);
    k.call("svd_transpose", delta, f.ptr, rows, cols);
    [mr, nc] = [cols, rows];
  }
  const want = Math.min(o.maxRank, mr, nc);
  const svd = randomizedSvd(k, delta, mr, nc, { rank: want, oversample: o.oversample, powerIterations: o.powerIterations, key: streamKey(o.seed, 0, m.weight, "extract-lora") });
  let rank = svd.rank;
  if (o.svEpsilon > 0) rank = Math.min(rank, svd.sigma.filter((s) => s > o.svEpsilon).length);
  // A = diag(sa) V^T (rank x nc); B = U diag(sb) (mr x rank), from U^T's rows.
  const sa = k.alloc(Math.max(1, rank) * 4);
  const sb = k.alloc(Math.max(1, rank) * 4);
  const bt = k.alloc(Math.max(1, rank * mr) * 4);
  const bm = k.alloc(Math.max(1, rank * mr) * 4);
  const aBytes = k.alloc(Math.max(1, rank * nc) * DTYPES[dtype].bytes);
  const bBytes = k.alloc(Math.max(1, rank * mr) * DTYPES[dtype].bytes);
  const sav = new Float32Array(k.memory.buffer, sa, rank);
  const sbv = new Float32Array(k.memory.buffer, sb, rank);
  for (let j = 0; j < rank; j++) {
    const s = svd.sigma[j]!;
    sav[j] = o.distribute ? Math.sqrt(s) : s;
    sbv[j] = o.distribute ? Math.sqrt(s) : 1;
  }
  k.call("svd_scale_rows", svd.vt, sa, rank, nc);
  new Uint8Array(k.memory.buffer).copyWithin(bt, svd.ut, svd.ut + rank * mr * 4);
  k.call("svd_scale_rows", bt, sb, rank, mr);
  k.call("svd_transpose", bm, bt, rank, mr);
  k.call("encode", aBytes, svd.vt, mode, rank * nc);
  k.call("encode", bBytes, bm, mode, rank * mr);
  const eb = DTYPES[dtype].bytes;
  return {
    rank, dtype,
    a: k.bytes(aBytes, rank * nc * eb).slice(), aShape: [rank, nc],
    b: k.bytes(bBytes, rank * mr * eb).slice(), bShape: [mr, rank],
  };
}

/** The bias task vector ft - base, in the biases' dtype. */
async function biasDelta(k: Kernels, ft: ModelTensor, base: ModelTensor): Promise<{ dtype: DType; bytes: Uint8Array }> {
  k.reset();
  const dtype = promote(floatDtype(ft, "--model"), floatDtype(base, "--base-model"));
  const n = ft.byteLength / DTYPES[ft.dtype as DType].bytes;
  if (base.byteLength / DTYPES[base.dtype as DType].bytes !== n) throw new AmalgamError("E_SHAPE", `bias "${ft.name}": fine-tuned ${JSON.stringify(ft.shape)} and base ${JSON.stringify(base.shape)} differ in shape`);
  const f = (await loadInput(k, ft, dtype, ft.shape, false)).buf;
  const b = (await loadInput(k, base, dtype, base.shape, false)).buf;
  const mode = DTYPES[dtype].code;
  k.call("misc_sub", f.ptr, f.ptr, b.ptr, n, mode);
  const out = k.alloc(n * DTYPES[dtype].bytes);
  k.call("encode", out, f.ptr, mode, n);
  return { dtype, bytes: k.bytes(out, n * DTYPES[dtype].bytes).slice() };
}

async function writeAdapter(sink: OutputSink, tensors: readonly OutTensor[]): Promise<void> {
  const layout = layoutFile(tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })));
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const w = await sink.create("adapter_model.safetensors");
  await w.write(layout.header);
  for (let i = 0; i < layout.order.length; i++) {
    const t = byName.get(layout.order[i]!.name)!;
    if (t.data instanceof Uint8Array) {
      await w.write(t.data);
      continue;
    }
    // A full-rank module: copied from the fine-tuned model in chunks.
    const src = t.data;
    const CHUNK = 16 * 1024 * 1024;
    for (let off = 0; off < src.byteLength; off += CHUNK) {
      const b = new Uint8Array(Math.min(CHUNK, src.byteLength - off));
      await src.source.readInto(src.offset + off, b);
      await w.write(b);
    }
  }
  await w.close();
}
