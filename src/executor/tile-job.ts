// One tile of an elementwise merge as plain data, so it can run on the main thread or be handed to
// a worker sharing the same wasm memory. Inputs sit in memory as stored bytes; the job decodes them,
// runs the method on the tile, and encodes the result to `out`.
import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import type { Kernels } from "../kernels/kernels.ts";
import { getMethod } from "../methods/registry.ts";
import type { MergeInput } from "../methods/types.ts";
import { runStreamStep } from "./streamed.ts";
import type { StreamStep } from "./streamed.ts";

export interface TileInput {
  /** Stored bytes of this input's tile. */
  readonly ptr: number;
  readonly dtype: DType;
  readonly params: Readonly<Record<string, number | undefined>>;
  readonly isBase: boolean;
  readonly model: string;
  readonly modelIndex: number;
}

export interface TileJob {
  readonly method: string;
  readonly tensor: string;
  /** Elements in this tile, and the tile's first element within the tensor. */
  readonly numel: number;
  readonly offset: number;
  readonly dtype: DType;
  readonly outDtype: DType;
  readonly inputs: readonly TileInput[];
  readonly baseIndex: number | undefined;
  readonly global: Readonly<Record<string, number | undefined>>;
  readonly isEmbed: boolean;
  readonly seed: number;
  readonly fixQuirks: boolean;
  /** Where the encoded output tile goes. */
  readonly out: number;
  /** A step of a streamed (multi-pass) merge instead of an elementwise tile (streamed.ts). */
  readonly stream?: StreamStep;
}

export interface TileResult {
  readonly warnings: readonly string[];
  readonly quirks: ReadonlyArray<readonly [string, string]>;
}

/**
 * Elements per pass inside a tile: small enough that a chunk's working buffers (K inputs, the
 * output, temporaries) stay in L2, so the method's kernel calls touch memory about once.
 */
export const CHUNK_ELEMENTS = 16384;

/** Runs one tile with `k` (whose allocator is this thread's scratch region). */
export function runTileJob(k: Kernels, job: TileJob): TileResult {
  if (job.stream) return runStreamStep(k, job, job.stream);
  const warnings: string[] = [];
  const quirks: [string, string][] = [];
  const mode = DTYPES[job.dtype].code;
  const method = getMethod(job.method);
  const outBytes = DTYPES[job.outDtype].bytes;
  if (method.mergeStored) {
    k.reset();
    const handled = method.mergeStored({
      kernels: k, tensor: job.tensor, numel: job.numel, dtype: job.dtype, mode, global: job.global,
      inputs: job.inputs.map((i) => ({ ptr: i.ptr, dtype: i.dtype, params: i.params, isBase: i.isBase, model: i.model })),
      out: job.out, outDtype: job.outDtype,
    });
    if (handled) return { warnings, quirks };
  }
  for (let c = 0; c < job.numel; c += CHUNK_ELEMENTS) {
    const n = Math.min(CHUNK_ELEMENTS, job.numel - c);
    k.reset();
    const inputs: MergeInput[] = job.inputs.map((inp) => {
      const buf = k.allocF32(n);
      k.call("decode", buf.ptr, inp.ptr + c * DTYPES[inp.dtype].bytes, DTYPES[inp.dtype].code, n);
      if (inp.dtype !== job.dtype) k.call("round_to", buf.ptr, buf.ptr, mode, n);
      return { buf, shape: [n], params: inp.params, isBase: inp.isBase, model: inp.model };
    });
    const out = method.merge({
      kernels: k, tensor: job.tensor, shape: [n], numel: n, dtype: job.dtype, mode,
      inputs, baseIndex: job.baseIndex, global: job.global, isEmbed: job.isEmbed, seed: job.seed,
      modelIndices: job.inputs.map((i) => i.modelIndex), fixQuirks: job.fixQuirks,
      warn: (m) => { if (!warnings.includes(m)) warnings.push(m); },
      quirk: (id, d) => { if (!quirks.some((q) => q[0] === id)) quirks.push([id, d]); },
    });
    k.call("encode", job.out + c * outBytes, out.ptr, DTYPES[job.outDtype].code, n);
  }
  return { warnings, quirks };
}
