// Embedding matrices permuted into the output vocabulary before the merge method runs (MergeKit's
// PermutedEmbeddings). Each model's matrix becomes a virtual float32 tensor whose rows are read on
// demand: the model's own row for a token it has, else the token's default row, which is
//   - the row named in `tokenizer.tokens` (a model's row of the token or of another token, or zero);
//   - otherwise the one model's row when exactly one model has the token, the base model's when it
//     has it, the mean of the models that have it, or zero (with a warning) when none has it.
// `force` makes every model take the default. Padding rows are the mean of the model's real rows.
// Rows are in the working dtype, computed with torch's rounding (each add and the division rounded).
import type { ModelRef, TokenEmbeddingConfig } from "../config/types.ts";
import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import type { ModelTensor } from "../io/model-files.ts";
import type { ByteSource } from "../io/storage.ts";
import { toDType } from "../kernels/scalar.ts";

/** One model's input to an embedding tensor. */
export interface EmbeddingInput {
  readonly ref: ModelRef;
  /** The stored [rows, hidden] matrix. */
  readonly tensor: ModelTensor;
  /** Output token id -> the model's row, or -1 when the model lacks the token. */
  readonly permutation: Int32Array;
  /** The model's own vocabulary (token -> id), for `model_token` sources given by text. */
  readonly vocab: ReadonlyMap<string, number>;
}

/** How a token's default row is made (none: every model has the token and none is forced). */
const Default = { None: 0, Copy: 1, Mean: 2, Zero: 3 } as const;

/** Bytes read from a model per request at most. */
const READ_CHUNK_BYTES = 4 << 20;
/** Default rows kept for reuse across the models of a tensor, in bytes at most. */
const ROW_CACHE_BYTES = 64 << 20;

export interface PermutationPlan {
  readonly tensor: string;
  readonly inputs: readonly EmbeddingInput[];
  /** Output vocabulary: token -> id, real size and padded size. */
  readonly vocab: ReadonlyMap<string, number>;
  readonly size: number;
  readonly paddedSize: number;
  readonly tokens: ReadonlyMap<string, TokenEmbeddingConfig>;
  /** Index into `inputs` of the base model, if it is an input. */
  readonly baseIndex: number | undefined;
  readonly working: DType;
}

/** Stored little-endian values (`bytes`, freshly allocated so aligned) into `out` at `at`, in the working dtype. */
function decodeInto(bytes: Uint8Array, dtype: DType, working: DType, out: Float32Array, at: number, n: number): void {
  if (dtype === "F32") {
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n), at);
  } else if (dtype === "BF16") {
    const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    const dst = new Uint32Array(out.buffer, out.byteOffset + at * 4, n);
    for (let i = 0; i < n; i++) dst[i] = src[i]! << 16;
  } else {
    const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) out[at + i] = f16(src[i]!);
  }
  if (dtype !== working) for (let i = at; i < at + n; i++) out[i] = toDType(out[i]!, working);
}

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The default rows of one embedding tensor and a virtual tensor per model. */
export class PermutedEmbeddings {
  readonly hidden: number;
  private readonly kind: Uint8Array;
  private readonly copyFrom: Int32Array;
  private readonly copyRow: Int32Array;
  private readonly forced: Uint8Array;
  private readonly cache = new Map<number, Promise<Float32Array>>();
  private readonly maxCached: number;
  private readonly padRows = new Map<number, Promise<Float32Array>>();
  /** Output tokens no model has (their rows are zero). */
  readonly missing: readonly string[];

  constructor(readonly plan: PermutationPlan) {
    const { inputs, size } = plan;
    const hidden = inputs[0]!.tensor.shape[1]!;
    for (const x of inputs) {
      if (x.tensor.shape.length !== 2 || x.tensor.shape[1] !== hidden) {
        throw new AmalgamError("E_SHAPE", `tensor "${plan.tensor}": embedding sizes differ (${inputs.map((y) => `${y.ref.text} ${JSON.stringify(y.tensor.shape)}`).join(", ")}); vocabulary merging needs the same hidden size`);
      }
    }
    this.hidden = hidden;
    this.maxCached = Math.max(16, Math.floor(ROW_CACHE_BYTES / (hidden * 4)));
    this.kind = new Uint8Array(size);
    this.copyFrom = new Int32Array(size).fill(-1);
    this.copyRow = new Int32Array(size).fill(-1);
    this.forced = new Uint8Array(size);
    const tokenOf: string[] = new Array<string>(size);
    for (const [tok, id] of plan.vocab) tokenOf[id] = tok;
    const missing: string[] = [];
    const indexOf = (ref: ModelRef, path: string) => {
      const i = inputs.findIndex((x) => x.ref.text === ref.text);
      if (i < 0) throw new AmalgamError("E_CONFIG", `${path}: model ${ref.text} is not an input of tensor "${plan.tensor}" (inputs: ${inputs.map((x) => x.ref.text).join(", ")})`);
      return i;
    };
    for (let id = 0; id < size; id++) {
      const tok = tokenOf[id];
      const cfg = tok === undefined ? undefined : plan.tokens.get(tok);
      if (cfg?.force) this.forced[id] = 1;
      const src = cfg?.source;
      if (src) {
        if (src.kind === "zero") {
          this.kind[id] = Default.Zero;
        } else if (src.kind === "model") {
          const i = indexOf(src.model, `${cfg!.path}.source`);
          const row = inputs[i]!.permutation[id]!;
          if (row < 0) throw new AmalgamError("E_CONFIG", `${cfg!.path}.source: token ${JSON.stringify(tok)} is not in model ${src.model.text}`);
          this.setCopy(id, i, row);
        } else {
          const i = indexOf(src.model, `${cfg!.path}.source.model`);
          const x = inputs[i]!;
          const row = src.tokenId ?? x.vocab.get(src.token!);
          if (row === undefined) throw new AmalgamError("E_CONFIG", `${cfg!.path}.source.token: token ${JSON.stringify(src.token)} is not in model ${src.model.text}`);
          if (row >= x.tensor.shape[0]!) throw new AmalgamError("E_CONFIG", `${cfg!.path}.source: token id ${row} is out of range for model ${src.model.text} (${x.tensor.shape[0]} rows)`);
          this.setCopy(id, i, row);
        }
        continue;
      }
      let count = 0;
      let only = -1;
      for (let i = 0; i < inputs.length; i++) if (inputs[i]!.permutation[id]! >= 0) { count++; only = i; }
      if (count === inputs.length && !cfg?.force) continue;
      if (count === 1) this.setCopy(id, only, inputs[only]!.permutation[id]!);
      else if (count === 0) { this.kind[id] = Default.Zero; missing.push(tok ?? `<id ${id}>`); }
      else if (plan.baseIndex !== undefined && inputs[plan.baseIndex]!.permutation[id]! >= 0) this.setCopy(id, plan.baseIndex, inputs[plan.baseIndex]!.permutation[id]!);
      else this.kind[id] = Default.Mean;
    }
    this.missing = missing;
  }

  private setCopy(id: number, input: number, row: number): void {
    this.kind[id] = Default.Copy;
    this.copyFrom[id] = input;
    this.copyRow[id] = row;
  }

  /** Input i as a float32 [paddedSize, hidden] tensor in the working dtype. */
  virtualTensor(i: number): ModelTensor {
    const real = this.plan.inputs[i]!.tensor;
    const byteLength = this.plan.paddedSize * this.hidden * 4;
    const source: ByteSource = { size: byteLength, readInto: (offset, dest) => this.readInto(i, offset, dest) };
    return { name: real.name, dtype: "F32", shape: [this.plan.paddedSize, this.hidden], offset: 0, byteLength, file: real.file, source };
  }

  /** Reads `n` stored rows from `row` of input i into `out` at row `at` (working dtype). */
  private async readStored(i: number, row: number, n: number, out: Float32Array, at: number): Promise<void> {
    const t = this.plan.inputs[i]!.tensor;
    const dtype = t.dtype as DType;
    const w = DTYPES[dtype].bytes;
    const bytes = new Uint8Array(n * this.hidden * w);
    await t.source.readInto(t.offset + row * this.hidden * w, bytes);
    decodeInto(bytes, dtype, this.plan.working, out, at * this.hidden, n * this.hidden);
  }

  private defaultRow(id: number): Promise<Float32Array> {
    let p = this.cache.get(id);
    if (p) return p;
    p = this.computeDefault(id);
    if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(id, p);
    return p;
  }

  private async computeDefault(id: number): Promise<Float32Array> {
    const h = this.hidden;
    const out = new Float32Array(h);
    const kind = this.kind[id]!;
    if (kind === Default.Copy) {
      await this.readStored(this.copyFrom[id]!, this.copyRow[id]!, 1, out, 0);
    } else if (kind === Default.Mean) {
      const w = this.plan.working;
      const row = new Float32Array(h);
      let count = 0;
      for (let i = 0; i < this.plan.inputs.length; i++) {
        const r = this.plan.inputs[i]!.permutation[id]!;
        if (r < 0) continue;
        await this.readStored(i, r, 1, row, 0);
        for (let k = 0; k < h; k++) out[k] = toDType(out[k]! + row[k]!, w);
        count++;
      }
      for (let k = 0; k < h; k++) out[k] = toDType(out[k]! / count, w);
    }
    return out;
  }

  /** Rows [r0, r0 + n) of input i's permuted matrix into `out` (n * hidden floats). */
  private async rows(i: number, r0: number, n: number, out: Float32Array): Promise<void> {
    const h = this.hidden;
    const perm = this.plan.inputs[i]!.permutation;
    const size = this.plan.size;
    const maxRun = Math.max(1, Math.floor(READ_CHUNK_BYTES / (h * DTYPES[this.plan.inputs[i]!.tensor.dtype as DType].bytes)));
    let k = 0;
    while (k < n) {
      const r = r0 + k;
      if (r >= size) {
        out.set(await this.padRow(i), k * h);
        k++;
        continue;
      }
      const own = perm[r]!;
      if (own >= 0 && !this.forced[r]) {
        let run = 1;
        while (k + run < n && run < maxRun && r + run < size && perm[r + run] === own + run && !this.forced[r + run]) run++;
        await this.readStored(i, own, run, out, k);
        k += run;
        continue;
      }
      out.set(await this.defaultRow(r), k * h);
      k++;
    }
  }

  /** The mean of input i's real rows (Hewitt initialisation of padding rows), rounded once. */
  private padRow(i: number): Promise<Float32Array> {
    let p = this.padRows.get(i);
    if (!p) {
      p = (async () => {
        const h = this.hidden;
        const acc = new Float32Array(h);
        const step = Math.max(1, Math.floor(READ_CHUNK_BYTES / (h * 4)));
        const buf = new Float32Array(step * h);
        for (let r = 0; r < this.plan.size; r += step) {
          const n = Math.min(step, this.plan.size - r);
          await this.rows(i, r, n, buf);
          for (let j = 0; j < n; j++) for (let c = 0; c < h; c++) acc[c] = acc[c]! + buf[j * h + c]!;
        }
        const out = new Float32Array(h);
        for (let c = 0; c < h; c++) out[c] = toDType(acc[c]! / this.plan.size, this.plan.working);
        return out;
      })();
      this.padRows.set(i, p);
    }
    return p;
  }

  private async readInto(i: number, offset: number, dest: Uint8Array): Promise<void> {
    const total = this.plan.paddedSize * this.hidden * 4;
    if (offset % 4 || dest.length % 4 || offset < 0 || offset + dest.length > total) {
      throw new AmalgamError("E_IO", `tensor "${this.plan.tensor}" of ${this.plan.inputs[i]!.ref.text} (permuted): read of ${dest.length} bytes at ${offset} is outside or misaligned`);
    }
    const h = this.hidden;
    const first = offset / 4;
    const end = first + dest.length / 4;
    // wasm memory views are 4-byte aligned; other destinations go through a DataView
    const aligned = dest.byteOffset % 4 === 0 ? new Float32Array(dest.buffer, dest.byteOffset, dest.byteLength / 4) : undefined;
    const view = aligned ? undefined : new DataView(dest.buffer, dest.byteOffset, dest.byteLength);
    const stepRows = Math.max(1, Math.floor(READ_CHUNK_BYTES / (h * 4)));
    const buf = new Float32Array(stepRows * h);
    for (let r = Math.floor(first / h); r * h < end; r += stepRows) {
      const n = Math.min(stepRows, Math.ceil(end / h) - r);
      await this.rows(i, r, n, buf);
      const lo = Math.max(first, r * h);
      const hi = Math.min(end, (r + n) * h);
      if (aligned) aligned.set(buf.subarray(lo - r * h, hi - r * h), lo - first);
      else for (let e = lo; e < hi; e++) view!.setFloat32((e - first) * 4, buf[e - r * h]!, true);
    }
  }
}
