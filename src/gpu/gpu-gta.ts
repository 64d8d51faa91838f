// The task-arithmetic family on the GPU: task vectors, magnitude top-k (TIES), sign election and
// the combine, with the weights, divisor and flags of src/methods/gta/family.ts. Variants whose
// sparsifier needs the CPU (random draws, DELLA, breadcrumbs, L1 rescale) decline.
import { AmalgamError } from "../errors.ts";
import { GTA_CONSENSUS, GTA_LAMBDA, GTA_NORMALIZE } from "../kernels/abi-gta.ts";
import { toDType } from "../kernels/scalar.ts";
import type { GpuMergeContext, GpuMergeInput, GpuMethod, GpuPlanContext } from "./gpu-method.ts";
import { selectRankRange } from "./gpu-select.ts";
import type { GpuTensor } from "./gpu-tensor.ts";

/** The two ways a covered variant differs (src/methods/gta/variants.ts). */
export interface GpuGtaVariant {
  readonly name: string;
  readonly magnitude: boolean;
  readonly consensus: boolean;
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

function mergeGta(v: GpuGtaVariant, ctx: GpuMergeContext): GpuTensor {
  const g = ctx.gpu;
  if (ctx.baseIndex === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": merge_method "${v.name}" needs a base_model`);
  const base = ctx.inputs[ctx.baseIndex]!;
  const tvs: { input: GpuMergeInput; index: number }[] = [];
  ctx.inputs.forEach((input, index) => {
    if (index === ctx.baseIndex) return;
    base.tensor.chunks.forEach((c, i) => g.dispatch("task_vector", c, { mode: ctx.mode }, [input.tensor.chunks[i]!.buf, c.buf]));
    tvs.push({ input, index });
  });
  if (tvs.length === 0) return base.tensor;
  const weights = tvs.map((tv) => {
    const w = tv.input.params["weight"];
    if (w === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": no "weight" for model ${tv.input.model}`);
    return w;
  });
  if (v.magnitude) {
    tvs.forEach((tv, slot) => {
      const density = tv.input.params["density"] ?? 1;
      if (density >= 1) return;
      const n = ctx.numel;
      const keep = Math.trunc(density * n);
      if (keep <= 0) {
        // the warning of src/methods/gta/sparsify.ts magnitude()
        ctx.warn(`${v.name}: int(density × numel) is 0 for model ${tv.input.model} on tensor "${ctx.tensor}" (density ${density}, ${n} elements); its task vector is dropped (MergeKit stops with an AssertionError)`);
        selectRankRange(g, tv.input.tensor, 0, 0, false, slot);
        return;
      }
      // the `keep` largest |delta|, equal |delta| lower index first (TIE_INDEX_DESC, as sparsify.ts)
      selectRankRange(g, tv.input.tensor, n - keep, n, true, slot);
    });
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

/**
 * --device auto thresholds (docs/gpu.md). ties: 5.7x faster than one WASM thread at 11.5 M
 * elements on an H200, with about 1 ms of fixed cost per tensor against the CPU's ~50 ns per
 * element, so the GPU pays from roughly 2^18 elements. task_arithmetic is elementwise: the CPU
 * runs it in tiles on every core, like linear, so auto keeps it there.
 */
const AUTO_MIN_ELEMENTS_SELECTING = 1 << 18;

export function gpuGta(v: GpuGtaVariant): GpuMethod {
  return {
    autoMinElements: v.magnitude || v.consensus ? AUTO_MIN_ELEMENTS_SELECTING : Infinity,
    declines(ctx) {
      if (ctx.baseIndex === undefined) return "no base model";
      const baseShape = ctx.shapes[ctx.baseIndex]!;
      if (ctx.shapes.some((s) => !sameShape(s, baseShape))) return "inputs of different shapes";
      if (v.magnitude && ctx.global["rescale"] && taskIndices(ctx).some((i) => (ctx.params[i]!["density"] ?? 1) < 1)) {
        return "rescale needs float64 L1 norms (CPU only)";
      }
      return undefined;
    },
    slots: (ctx) => taskIndices(ctx).length,
    merge: (ctx) => mergeGta(v, ctx),
  };
}
