// sce (MergeKit merge_methods/sce.py): Select the elements whose task vectors vary most across
// models (top select_topk of the variance), Calculate per-model weights from the mean squared
// task vector, Erase the elements that disagree with the elected sign, and average what is left.
import { SELECT_SCRATCH_BYTES, TIE_INDEX_DESC } from "../../kernels/abi-gta.ts";
import type { F32Buf } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";
import type { MergeContext } from "../types.ts";
import { defineMethod } from "../types.ts";
import { applyMask } from "./rescale.ts";
import { baseInput, baseShape, taskVectors } from "./task-vectors.ts";
import type { TaskVector } from "./task-vectors.ts";

/** sce's floor for the per-element weight sum (clamp(min=1e-6)). */
const DENOMINATOR_MIN = 1e-6;
/** Below this total of the mean squares sce falls back to equal weights. */
const WEIGHT_SUM_MIN = 1e-6;

/** Zeroes every element outside the top select_topk of the variance across task vectors. */
function select(ctx: MergeContext, tvs: readonly TaskVector[], topk: number): void {
  const k = ctx.kernels;
  const n = ctx.numel;
  const mark = k.mark();
  const mask = k.allocF32(n);
  let keep = 0;
  if (topk > 0) {
    const variance = k.allocF32(n);
    const count = k.alloc(4);
    k.call("tv_variance", variance.ptr, k.u32Array(tvs.map((t) => t.buf.ptr)), tvs.length, n, ctx.mode, count);
    const nonzero = new Uint32Array(k.memory.buffer, count, 1)[0]!;
    // int(count_nonzero(var) * select_topk): an int64 tensor times a float is float32 in torch
    keep = Math.trunc(Math.fround(Math.fround(nonzero) * Math.fround(topk)));
    if (keep > 0) k.call("mask_rank_range", mask.ptr, variance.ptr, n, n - keep, n, TIE_INDEX_DESC, k.alloc(SELECT_SCRATCH_BYTES));
  }
  if (keep <= 0) k.f32(mask).fill(0);
  for (const tv of tvs) applyMask(k, tv.buf, mask, false, ctx.dtype, ctx.dtype);
  k.release(mark);
}

/** w_m = mean(t_m²) / sum_j mean(t_j²), in the working dtype (1/N when the sum is below 1e-6). */
function sceWeights(ctx: MergeContext, tvs: readonly TaskVector[]): number[] {
  const k = ctx.kernels;
  const n = ctx.numel;
  const res = k.alloc(8);
  const means = tvs.map((tv) => {
    k.call("sum_squares", res, tv.buf.ptr, n, ctx.mode);
    const sum = new Float64Array(k.memory.buffer, res, 1)[0]!;
    return toDType(Math.fround(Math.fround(sum) / n), ctx.dtype);
  });
  let total = 0;
  for (const m of means) total = Math.fround(total + m);
  total = toDType(total, ctx.dtype);
  if (Math.abs(total) < WEIGHT_SUM_MIN) return means.map(() => toDType(1 / means.length, ctx.dtype));
  return means.map((m) => toDType(m / total, ctx.dtype));
}

function mergeSce(ctx: MergeContext): F32Buf {
  const k = ctx.kernels;
  const base = baseInput("sce", ctx);
  const tvs = taskVectors("sce", ctx);
  if (tvs.length === 0) return base.buf;
  const topk = ctx.global["select_topk"] ?? 1;
  if (topk < 1) select(ctx, tvs, topk);
  let ws = sceWeights(ctx, tvs);
  if (tvs.some((tv) => tv.input.params["weight"] !== undefined)) {
    if (ctx.fixQuirks) {
      ws = ws.map((w, i) => toDType(w * toDType(tvs[i]!.input.params["weight"] ?? 1, ctx.dtype), ctx.dtype));
      ctx.quirk("sce-ignores-weight", "sce: MergeKit ignores per-model `weight`; applied it as a factor on sce's own per-model weights");
    } else {
      ctx.quirk("sce-ignores-weight", "sce: per-model `weight` is ignored, as MergeKit ignores it");
    }
  }
  k.call("sce_combine", base.buf.ptr, base.buf.ptr, k.u32Array(tvs.map((tv) => tv.buf.ptr)), k.f32Array(ws), tvs.length, ctx.numel, ctx.mode, toDType(DENOMINATOR_MIN, ctx.dtype));
  return base.buf;
}

export default defineMethod({
  name: "sce",
  cardName: "[SCE](https://arxiv.org/abs/2408.07990)",
  base: "required",
  global: [{ name: "select_topk", default: 1 }, { name: "int8_mask", default: 0 }],
  // MergeKit declares no per-model parameter; `weight` is read only to report (or, with
  // --fix-quirks, apply) it.
  perModel: [{ name: "weight" }],
  outputShape: (ctx) => baseShape("sce", ctx),
  merge: mergeSce,
});
