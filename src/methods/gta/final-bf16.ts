// The streamed final step in one kernel call per tile for the common bfloat16 case
// (assembly/gta-final-bf16.ts): the same bytes as stream.ts's chunked composition of decode,
// task vectors, rank masks, gta_combine and encode, without its float32 buffers.
import type { DType } from "../../dtype.ts";
import type { Kernels } from "../../kernels/kernels.ts";
import { f32FromBits as fromBits } from "../../kernels/scalar.ts";
import type { StreamTileContext } from "../types.ts";

/** What the fused step reads of a final pass's data (stream.ts's PassData). */
export interface FinalStepData {
  /** Input index of each task vector. */
  readonly tvs: readonly number[];
  readonly kinds: readonly string[];
  /** Rescale factor bits per task vector (null: none). */
  readonly factors: readonly (number | null)[];
  /** Bits of gta_combine's divisor and lambda, and its flags. */
  readonly div: number;
  readonly lambda: number;
  readonly flags: number;
}


const BF16: DType = "BF16";

/** Whether the work is in bfloat16 and the base and the task-vector inputs `tvs` are stored as bfloat16. */
export function allBf16(ctx: StreamTileContext, tvs: readonly number[]): boolean {
  return ctx.dtype === BF16 && ctx.inputs[ctx.baseIndex!]!.dtype === BF16 && tvs.every((input) => ctx.inputs[input]!.dtype === BF16);
}

/**
 * Runs a tile's final step with gta_final_bf16 when it applies, and says whether it did: every
 * dtype bfloat16 (working, output, base and task-vector inputs), every task vector unmasked or
 * rank-masked without a rescale factor, and the inputs holding either the models' weights (no
 * kept tiles) or their task vectors (tiles kept from an earlier pass: stream.ts's
 * holdsTaskVector holds for bfloat16). `sel`, `counts` and `ws` are tile()'s selection words,
 * running ordinals (advanced here over the whole tile) and weights.
 */
export function finalBf16(k: Kernels, ctx: StreamTileContext, d: FinalStepData, sel: number, counts: number, ws: number): boolean {
  const T = d.tvs.length;
  if (T === 0 || ctx.outDtype !== BF16 || ctx.kept === "write" || !allBf16(ctx, d.tvs)) return false;
  if (d.kinds.some((kind) => kind !== "none" && kind !== "rank") || d.factors.some((f) => f !== null && f !== undefined)) return false;
  const inputs = k.u32Array(d.tvs.map((input) => ctx.inputs[input]!.ptr));
  const ranked = k.u32Array(d.kinds.map((kind) => (kind === "rank" ? 1 : 0)));
  const fromWeights = ctx.kept === "read" ? 0 : 1;
  k.call("gta_final_bf16", ctx.out, ctx.inputs[ctx.baseIndex!]!.ptr, inputs, fromWeights, ws, T, ctx.numel, ranked, sel, counts, d.flags, fromBits(d.div), fromBits(d.lambda));
  return true;
}
