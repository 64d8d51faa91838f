// The task-arithmetic family on the GPU: task vectors, the sparsifiers (gpu-sparsify.ts), sign
// election and the combine, with the weights, divisor and flags of src/methods/gta/family.ts.
import { AmalgamError } from "../errors.ts";
import { GTA_CONSENSUS, GTA_LAMBDA, GTA_NORMALIZE } from "../kernels/abi-gta.ts";
import { toDType } from "../kernels/scalar.ts";
import type { Sparsification } from "../methods/gta/sparsify.ts";
import { sparsifyParams } from "../methods/gta/combine-params.ts";
import { dellaRows } from "./gpu-della.ts";
import type { GpuMergeContext, GpuMethod, GpuPlanContext } from "./gpu-method.ts";
import { sparsifyAll } from "./gpu-sparsify.ts";
import type { GpuTaskVector } from "./gpu-sparsify.ts";
import type { GpuTensor } from "./gpu-tensor.ts";

/** The two ways a covered variant differs (src/methods/gta/variants.ts). */
export interface GpuGtaVariant {
  readonly name: string;
  readonly sparsification?: Sparsification;
  readonly consensus: boolean;
  /**
   * --device auto: the smallest tensor (elements) sent to a real GPU; Infinity where the GPU path
   * was not measured faster (docs/gpu.md).
   */
  readonly autoMinElements: number;
}

/** As family.ts: |sum of weights| below this is treated as zero. */
const WEIGHT_SUM_EPS = 1e-8;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function taskIndices(ctx: GpuPlanContext): number[] {
  const out: number[] = [];
  ctx.shapes.forEach((_, i) => { if (i !== ctx.baseIndex) out.push(i); });
  return out;
}

async function mergeGta(v: GpuGtaVariant, ctx: GpuMergeContext): Promise<GpuTensor> {
  const g = ctx.gpu;
  if (ctx.baseIndex === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": merge_method "${v.name}" needs a base_model`);
  const base = ctx.inputs[ctx.baseIndex]!;
  const tvs: GpuTaskVector[] = [];
  ctx.inputs.forEach((input, index) => {
    if (index === ctx.baseIndex) return;
    base.tensor.chunks.forEach((c, i) => g.dispatch("task_vector", c, { mode: ctx.mode }, [input.tensor.chunks[i]!.buf, c.buf]));
    tvs.push({ input, index, slot: tvs.length });
  });
  if (tvs.length === 0) return base.tensor;
  const weights = tvs.map((tv) => {
    const w = tv.input.params["weight"];
    if (w === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": no "weight" for model ${tv.input.model}`);
    return w;
  });
  if (v.sparsification) {
    await sparsifyAll(ctx, v.sparsification, tvs, tvs.map((tv) => sparsifyParams({ name: v.name }, tv.input.params, ctx.global)));
  }
  const ws = weights.map((w) => toDType(w, ctx.dtype));
  let div = 0;
  for (const w of ws) div = Math.fround(div + w);
  div = toDType(div, ctx.dtype);
  if (Math.abs(div) < toDType(WEIGHT_SUM_EPS, ctx.dtype)) div = 1;
  const lambda = ctx.global["lambda"] ?? 1;
  const flags = (v.consensus ? GTA_CONSENSUS : 0) | (ctx.global["normalize"] ? GTA_NORMALIZE : 0) | (lambda !== 1 ? GTA_LAMBDA : 0);
  const chunks = base.tensor.chunks;
  const mixed = chunks.map((c) => g.buffer(c.n * 4));
  const dv = v.consensus ? chunks.map((c) => g.buffer(c.n * 4)) : mixed;
  if (v.consensus) {
    const tot = chunks.map((c) => g.buffer(c.n * 4));
    tvs.forEach((tv, m) => chunks.forEach((c, i) => g.dispatch("gta_sum", c, { mode: ctx.mode, u: [m === 0 ? 1 : 0], f: [ws[m]!] }, [tv.input.tensor.chunks[i]!.buf, tot[i]!])));
    tvs.forEach((tv, m) => chunks.forEach((c, i) => g.dispatch("gta_elect", c, { mode: ctx.mode, u: [m === 0 ? 1 : 0], f: [ws[m]!] }, [tv.input.tensor.chunks[i]!.buf, tot[i]!, mixed[i]!, dv[i]!])));
    g.release(...tot);
  } else {
    tvs.forEach((tv, m) => chunks.forEach((c, i) => g.dispatch("gta_sum", c, { mode: ctx.mode, u: [m === 0 ? 1 : 0], f: [ws[m]!] }, [tv.input.tensor.chunks[i]!.buf, mixed[i]!])));
  }
  chunks.forEach((c, i) => g.dispatch("gta_finish", c, { mode: ctx.mode, u: [flags], f: [div, toDType(lambda, ctx.dtype)] }, [c.buf, mixed[i]!, dv[i]!]));
  g.release(...mixed);
  if (v.consensus) g.release(...dv);
  return base.tensor;
}

export function gpuGta(v: GpuGtaVariant): GpuMethod {
  return {
    autoMinElements: v.autoMinElements,
    declines(ctx) {
      if (ctx.baseIndex === undefined) return "no base model";
      const baseShape = ctx.shapes[ctx.baseIndex]!;
      if (ctx.shapes.some((s) => !sameShape(s, baseShape))) return "inputs of different shapes";
      if (v.sparsification === "della_magprune") {
        const n = baseShape.reduce((a, b) => a * b, 1);
        const { rowLen, inner } = dellaRows(baseShape, n);
        if (rowLen * inner > ctx.chunkElements) return "a DELLA row is longer than a GPU chunk";
      }
      return undefined;
    },
    slots: (ctx) => taskIndices(ctx).length,
    merge: (ctx) => mergeGta(v, ctx),
  };
}
