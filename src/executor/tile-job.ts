// One tile of an elementwise merge as plain data, so it can run on the main thread or be handed to
// a worker sharing the same wasm memory. Inputs sit in memory as stored bytes; the job decodes them,
// runs the method on the tile, and encodes the result to `out`.
import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import type { Kernels } from "../kernels/kernels.ts";
import { getMethod } from "../methods/registry.ts";
import type { MergeInput } from "../methods/types.ts";

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
}

export interface TileResult {
  readonly warnings: readonly string[];
  readonly quirks: ReadonlyArray<readonly [string, string]>;
}

/** Runs one tile with `k` (whose allocator is this thread's scratch region). */
export function runTileJob(k: Kernels, job: TileJob): TileResult {
  k.reset();
  const warnings: string[] = [];
  const quirks: [string, string][] = [];
  const mode = DTYPES[job.dtype].code;
  const inputs: MergeInput[] = job.inputs.map((inp) => {
    const buf = k.allocF32(job.numel);
    k.call("decode", buf.ptr, inp.ptr, DTYPES[inp.dtype].code, job.numel);
    if (inp.dtype !== job.dtype) k.call("round_to", buf.ptr, buf.ptr, mode, job.numel);
    return { buf, shape: [job.numel], params: inp.params, isBase: inp.isBase, model: inp.model };
  });
  const out = getMethod(job.method).merge({
    kernels: k, tensor: job.tensor, shape: [job.numel], numel: job.numel, dtype: job.dtype, mode,
    inputs, baseIndex: job.baseIndex, global: job.global, isEmbed: job.isEmbed, seed: job.seed,
    modelIndices: job.inputs.map((i) => i.modelIndex), fixQuirks: job.fixQuirks,
    warn: (m) => warnings.push(m), quirk: (id, d) => quirks.push([id, d]),
  });
  k.call("encode", job.out, out.ptr, DTYPES[job.outDtype].code, job.numel);
  return { warnings, quirks };
}
