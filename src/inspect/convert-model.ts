// `amalgam convert`: a model's tensors re-encoded as bf16, f16 or f32 (round to nearest even), laid
// out and sharded as merge writes its output, with config.json's dtype updated and the other files
// copied. Streams one chunk of one tensor at a time through the cast_stored kernel.
import { DTYPES, isDType } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import type { Kernels } from "../kernels/kernels.ts";
import type { ModelFiles, ModelTensor } from "../io/model-files.ts";
import { SAFETENSORS_INDEX } from "../io/model-files.ts";
import { DEFAULT_JSON_LIMITS, parseBoundedJsonObject } from "../io/bounded-json.ts";
import { numel, readSafetensorsHeader } from "../io/safetensors-header.ts";
import { layoutFile, tensorBytes } from "../io/safetensors-writer.ts";
import type { TensorSpec } from "../io/safetensors-writer.ts";
import { writeWhole } from "../io/storage.ts";
import type { OutputSink } from "../io/storage.ts";
import { pythonJson } from "../output/python-json.ts";
import { MAX_SIDE_FILE_BYTES } from "../output/side-files.ts";
import { DEFAULT_SHARD_BYTES } from "../plan/build-plan.ts";

/** Elements per chunk in wasm memory (4 MB in, up to 4 MB out at f32). */
export const CONVERT_CHUNK_ELEMENTS = 1 << 20;
/** Weight files of other formats that are not copied alongside the converted safetensors. */
const WEIGHT_FILE = /\.(safetensors|bin|pt|pth|ckpt|gguf|h5|msgpack|onnx)$/;

export interface ConvertProgress {
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly tensor: string;
}

export interface ConvertOptions {
  readonly kernels: Kernels;
  readonly files: ModelFiles;
  readonly sink: OutputSink;
  readonly dtype: DType;
  /** Largest output shard in bytes; <= 0 means one file (default 5e9, as merge). */
  readonly outShardSize?: number;
  /** Other files of the model to copy unchanged (config.json is always rewritten). */
  readonly copyFiles: readonly string[];
  readonly chunkElements?: number;
  readonly onProgress?: (p: ConvertProgress) => void;
  readonly signal?: AbortSignal;
}

export interface ConvertReport {
  readonly model: string;
  readonly dtype: DType;
  readonly tensors: number;
  /** Tensors whose dtype changed (the others are copied byte for byte). */
  readonly converted: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly shards: readonly { readonly file: string; readonly tensors: number; readonly bytes: number }[];
  /** Every file written, shards first. */
  readonly files: readonly string[];
}

/** Which of a directory's file names are copied: everything but weights and the safetensors index. */
export function filesToCopy(names: readonly string[]): string[] {
  return names.filter((n) => !n.startsWith(".") && n !== SAFETENSORS_INDEX && n !== "config.json" && !WEIGHT_FILE.test(n)).sort();
}

/**
 * config.json with every `torch_dtype` / `dtype` value set to `dtype`, edited in the text so the rest
 * of the file stays byte for byte; `torch_dtype` is added when neither key is there (the file is
 * then written again in its key order, its numbers as they were: python-json.ts).
 */
export function convertedConfig(text: string, dtype: DType): string {
  const name = DTYPES[dtype].torch;
  const re = /("(?:torch_dtype|dtype)"\s*:\s*)(?:"[^"\\]*"|null)/g;
  if (re.test(text)) return text.replace(re, (_m, key: string) => `${key}${JSON.stringify(name)}`);
  const numberTexts = new Map<string, string>();
  const cfg = parseBoundedJsonObject(text, "config.json", "E_MODEL_CONFIG", DEFAULT_JSON_LIMITS, numberTexts);
  cfg["torch_dtype"] = name;
  return pythonJson(cfg, { indent: 2, sortKeys: false, numberTexts }) + "\n";
}

/** Tensors in name order grouped into shards of at most `limit` bytes (the planner's rule). */
export function shardGroups(specs: readonly TensorSpec[], limit: number): TensorSpec[][] {
  const groups: TensorSpec[][] = [];
  let cur: TensorSpec[] = [];
  let bytes = 0;
  for (const s of specs) {
    const n = tensorBytes(s);
    if (limit > 0 && cur.length > 0 && bytes + n > limit) {
      groups.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(s);
    bytes += n;
  }
  if (cur.length || groups.length === 0) groups.push(cur);
  return groups;
}

export async function convertModel(o: ConvertOptions): Promise<ConvertReport> {
  try {
    return await convertInto(o);
  } catch (e) {
    await o.sink.abort().catch(() => {});
    throw e;
  }
}

async function convertInto(o: ConvertOptions): Promise<ConvertReport> {
  const k = o.kernels;
  const names = [...o.files.tensors.keys()].sort();
  for (const n of names) {
    const t = o.files.tensors.get(n)!;
    if (!isDType(t.dtype)) throw new AmalgamError("E_UNSUPPORTED", `${o.files.dir.ref}: tensor "${n}" is ${t.dtype}; convert handles F32, BF16 and F16 tensors only`);
  }
  const specs: TensorSpec[] = names.map((n) => ({ name: n, dtype: o.dtype, shape: o.files.tensors.get(n)!.shape }));
  const groups = shardGroups(specs, o.outShardSize ?? DEFAULT_SHARD_BYTES);
  // keep the source's header metadata (format: pt) so a round trip gives the same bytes
  const firstFile = [...new Set(names.map((n) => o.files.tensors.get(n)!.file))].sort()[0];
  let metadata: Record<string, string> = { format: "pt" };
  if (firstFile) {
    const src = o.files.tensors.get(names.find((n) => o.files.tensors.get(n)!.file === firstFile)!)!.source;
    const h = await readSafetensorsHeader(`${o.files.dir.ref}/${firstFile}`, src);
    if (Object.keys(h.metadata).length) metadata = { ...h.metadata };
  }
  const pad = (i: number) => String(i).padStart(5, "0");
  const chunk = Math.max(64, o.chunkElements ?? CONVERT_CHUNK_ELEMENTS);
  const mark = k.mark();
  const inBuf = k.alloc(chunk * 4);
  const outBuf = k.alloc(chunk * 4);
  const outCode = DTYPES[o.dtype].code;
  const files: string[] = [];
  const shards: { file: string; tensors: number; bytes: number }[] = [];
  const weightMap: Record<string, string> = {};
  const bytesTotal = specs.reduce((a, s) => a + tensorBytes(s), 0);
  let bytesIn = 0;
  let bytesDone = 0;
  let converted = 0;
  let done = 0;
  try {
    for (const [gi, group] of groups.entries()) {
      const file = groups.length === 1 ? "model.safetensors" : `model-${pad(gi + 1)}-of-${pad(groups.length)}.safetensors`;
      const layout = layoutFile(group, metadata);
      const w = await o.sink.create(file);
      await w.write(layout.header);
      for (const spec of layout.order) {
        if (o.signal?.aborted) throw new AmalgamError("E_ABORTED", "convert aborted");
        const t: ModelTensor = o.files.tensors.get(spec.name)!;
        const from = DTYPES[t.dtype as DType];
        const n = numel(t.shape);
        if (t.dtype !== o.dtype) converted++;
        for (let off = 0; off < n; off += chunk) {
          const len = Math.min(chunk, n - off);
          await t.source.readInto(t.offset + off * from.bytes, k.bytes(inBuf, len * from.bytes));
          if (t.dtype === o.dtype) {
            await w.write(k.bytes(inBuf, len * from.bytes));
          } else {
            k.call("cast_stored", outBuf, outCode, inBuf, from.code, len, outCode);
            await w.write(k.bytes(outBuf, len * DTYPES[o.dtype].bytes));
          }
        }
        bytesIn += t.byteLength;
        bytesDone += tensorBytes(spec);
        weightMap[spec.name] = file;
        o.onProgress?.({ tensorsDone: ++done, tensorsTotal: names.length, bytesDone, bytesTotal, tensor: spec.name });
      }
      await w.close();
      files.push(file);
      shards.push({ file, tensors: group.length, bytes: layout.totalBytes });
    }
    if (groups.length > 1) {
      const ordered: Record<string, string> = {};
      for (const n of names) ordered[n] = weightMap[n]!;
      await writeWhole(o.sink, SAFETENSORS_INDEX, JSON.stringify({ metadata: { total_size: bytesTotal }, weight_map: ordered }, null, 2));
      files.push(SAFETENSORS_INDEX);
    }
    const configText = new TextDecoder().decode(await o.files.dir.readFile("config.json"));
    await writeWhole(o.sink, "config.json", convertedConfig(configText, o.dtype));
    files.push("config.json");
    for (const f of o.copyFiles) {
      if (f === "config.json") continue;
      const data = await o.files.dir.readFile(f);
      if (data.length > MAX_SIDE_FILE_BYTES) throw new AmalgamError("E_IO", `${o.files.dir.ref}/${f}: ${data.length} bytes, over the ${MAX_SIDE_FILE_BYTES}-byte limit for copied files`);
      await writeWhole(o.sink, f, data);
      files.push(f);
    }
    await o.sink.commit();
  } finally {
    k.release(mark);
  }
  return { model: o.files.dir.ref, dtype: o.dtype, tensors: names.length, converted, bytesIn, bytesOut: bytesTotal, shards, files };
}
