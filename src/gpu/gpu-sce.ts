// sce on the GPU when it selects nothing (select_topk >= 1, the default): task vectors, the
// per-model weights from the sums of squares, and the erase-and-merge step (wgsl-sce.ts).
//
// The CPU sums R(t*t) in float64 in a fixed order of four lanes (assembly/gta-sum-squares.ts) and
// uses fround(sum). The GPU computes the exact sum instead (l1_acc's integer buckets of R(t*t)),
// and the host bounds the float64 sum's rounding error: n non-negative terms in lanes of at most
// ceil(n/4), the lanes and tail added after, are within (ceil(n/4) + 8) * 2^-52 of the exact sum.
// When the float32 rounding is the same at both ends of that interval it is fround(sum) on the
// CPU; and when every partial sum is exact in float64 (see certifiedSum) the sum is exact. Otherwise
// (float32 data: a few tensors in a thousand, more for very large ones) the tensor is flagged and
// redone on the CPU. select_topk < 1 needs the variance across models in float64 (torch's Welford
// update), which has no exact float32 or integer form here: sce declines such tensors.
import { AmalgamError } from "../errors.ts";
import { toDType } from "../kernels/scalar.ts";
import type { GpuMergeContext, GpuMethod, GpuPlanContext } from "./gpu-method.ts";
import type { GpuTensor } from "./gpu-tensor.ts";
import { certifiedSum } from "./certified-sum.ts";
import { L1_ACC_WORDS } from "./wgsl-sparsify.ts";

/** sce.ts: the floor of the per-element weight sum and the threshold for equal weights. */
const DENOMINATOR_MIN = 1e-6;
const WEIGHT_SUM_MIN = 1e-6;
/** The exact sum (units of 2^-149) of one accumulator's buckets, and the lowest non-empty bucket's unit. */
function bucketTotal(words: Uint32Array, at: number): { total: bigint; lowShift: number } {
  let total = 0n;
  let lowShift = -1;
  for (let e = 0; e < 255; e++) {
    const v = (BigInt(words[at + 256 + e]!) << 32n) | BigInt(words[at + e]!);
    if (v === 0n) continue;
    if (lowShift < 0) lowShift = Math.max(e - 1, 0);
    total += v << BigInt(Math.max(e - 1, 0));
  }
  return { total, lowShift: Math.max(lowShift, 0) };
}

async function mergeSce(ctx: GpuMergeContext): Promise<GpuTensor> {
  const g = ctx.gpu;
  if (ctx.baseIndex === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": merge_method "sce" needs a base_model`);
  const base = ctx.inputs[ctx.baseIndex]!;
  const tvs = ctx.inputs.filter((_, i) => i !== ctx.baseIndex);
  for (const tv of tvs) base.tensor.chunks.forEach((c, i) => g.dispatch("task_vector", c, { mode: ctx.mode }, [tv.tensor.chunks[i]!.buf, c.buf]));
  if (tvs.length === 0) return base.tensor;
  const n = ctx.numel;
  // sceWeights in src/methods/gta/sce.ts, with the sums of squares certified as above
  const acc = g.buffer(tvs.length * L1_ACC_WORDS * 4);
  g.clear(acc);
  tvs.forEach((tv, m) => { for (const c of tv.tensor.chunks) g.dispatch("l1_acc", c, { mode: ctx.mode, u: [m * L1_ACC_WORDS, 1] }, [c.buf, acc]); });
  const bytes = await g.readBack(acc, tvs.length * L1_ACC_WORDS * 4);
  g.release(acc);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const sums = tvs.map((_, m) => {
    const b = bucketTotal(words, m * L1_ACC_WORDS);
    return certifiedSum(b.total, b.lowShift, n);
  });
  if (sums.some((s) => s === undefined)) {
    g.markInexact();
    return base.tensor;
  }
  const means = sums.map((s) => toDType(Math.fround(s! / n), ctx.dtype));
  let total = 0;
  for (const m of means) total = Math.fround(total + m);
  total = toDType(total, ctx.dtype);
  let ws = Math.abs(total) < WEIGHT_SUM_MIN ? means.map(() => toDType(1 / means.length, ctx.dtype)) : means.map((m) => toDType(m / total, ctx.dtype));
  if (tvs.some((tv) => tv.params["weight"] !== undefined)) {
    if (ctx.fixQuirks) {
      ws = ws.map((w, i) => toDType(w * toDType(tvs[i]!.params["weight"] ?? 1, ctx.dtype), ctx.dtype));
      ctx.quirk("sce-ignores-weight", "sce: MergeKit ignores per-model `weight`; applied it as a factor on sce's own per-model weights");
    } else {
      ctx.quirk("sce-ignores-weight", "sce: per-model `weight` is ignored, as MergeKit ignores it");
    }
  }
  const chunks = base.tensor.chunks;
  const tot = chunks.map((c) => g.buffer(c.n * 4));
  const merged = chunks.map((c) => g.buffer(c.n * 4));
  const den = chunks.map((c) => g.buffer(c.n * 4));
  tvs.forEach((tv, m) => chunks.forEach((c, i) => g.dispatch("gta_sum", c, { mode: ctx.mode, u: [m === 0 ? 1 : 0], f: [1] }, [tv.tensor.chunks[i]!.buf, tot[i]!])));
  tvs.forEach((tv, m) => chunks.forEach((c, i) => g.dispatch("sce_elect", c, { mode: ctx.mode, u: [m === 0 ? 1 : 0], f: [ws[m]!] }, [tv.tensor.chunks[i]!.buf, tot[i]!, merged[i]!, den[i]!])));
  chunks.forEach((c, i) => g.dispatch("sce_finish", c, { mode: ctx.mode, f: [toDType(DENOMINATOR_MIN, ctx.dtype)] }, [c.buf, merged[i]!, den[i]!]));
  g.release(...tot, ...merged, ...den);
  return base.tensor;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export const gpuSce: GpuMethod = {
  // not measured: auto keeps sce on the CPU
  autoMinElements: Infinity,
  declines(ctx: GpuPlanContext) {
    if (ctx.baseIndex === undefined) return "no base model";
    const baseShape = ctx.shapes[ctx.baseIndex]!;
    if (ctx.shapes.some((s) => !sameShape(s, baseShape))) return "inputs of different shapes";
    if ((ctx.global["select_topk"] ?? 1) < 1) return "select_topk < 1 needs the float64 variance across models (CPU only)";
    return undefined;
  },
  slots: () => 0,
  merge: (ctx) => mergeSce(ctx),
};
