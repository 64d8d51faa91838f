// arcee_fusion (MergeKit arcee_fusion.py): take the other model's value where its importance
// |b - a| * KL(softmax(b) || softmax(a)) (per last-dim row) reaches median + 1.5 * IQR of all
// importances. Quantiles are found by selection; above 1e6 elements MergeKit estimates them from
// a random 1e6-element sample, drawn here with the counter-based generator (docs/random.md).
import type { F32Buf, Kernels } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";
import { streamKey } from "../../random/stream-key.ts";
import { rectifiedShape } from "../shapes.ts";
import { defineMethod } from "../types.ts";
import type { MergeContext } from "../types.ts";
import { baseInput, lastDimRows, otherInputs, requireOthers } from "./input-rules.ts";

/** MergeKit's sample size, and the size above which it samples. */
export const FUSION_SAMPLE_SIZE = 1_000_000;
/** Uniforms drawn per kernel call while sampling. */
const SAMPLE_BLOCK = 65_536;

/**
 * A uniformly random subset of exactly `size` of the n values at `src` (selection sampling over
 * the stream of (seed, model index, tensor, "fusion-sample")), in index order.
 */
export function fusionSample(k: Kernels, src: F32Buf, size: number, seed: number, modelIndex: number, tensor: string): F32Buf {
  const n = src.length;
  const key = streamKey(seed, modelIndex, tensor, "fusion-sample");
  const dst = k.allocF32(size);
  const u = k.allocF32(Math.min(SAMPLE_BLOCK, n));
  const state = k.alloc(24);
  new Float64Array(k.memory.buffer, state, 3).set([n, size, 0]);
  for (let start = 0; start < n; start += SAMPLE_BLOCK) {
    const len = Math.min(SAMPLE_BLOCK, n - start);
    k.call("rng_uniform", u.ptr, key.lo, key.hi, start, len);
    k.call("misc_sample_select", dst.ptr, src.ptr + start * 4, u.ptr, len, state);
  }
  return dst;
}

/** torch's `sorted[(q * (n - 1)).long()]` index, q a float32 tensor. */
function quantileIndex(q: number, n: number): number {
  return Math.trunc(Math.fround(Math.fround(q) * Math.fround(n - 1)));
}

/** The values of rank floor(q (n - 1)) for q = 0.25, 0.5, 0.75 of the n values in `values`. */
export function quartiles(k: Kernels, values: F32Buf): [number, number, number] {
  const n = values.length;
  const keys = k.alloc(n * 4);
  k.call("misc_order_keys", keys, values.ptr, n);
  const cell = k.alloc(4);
  const at = (lo: number, hi: number, idx: number) => {
    k.call("misc_select", cell, keys, lo, hi, idx);
    return new Float32Array(k.memory.buffer, cell, 1)[0]!;
  };
  const [i1, i2, i3] = [quantileIndex(0.25, n), quantileIndex(0.5, n), quantileIndex(0.75, n)];
  // after selecting the median, lower ranks lie left of it and higher ranks right of it
  const med = at(0, n, i2);
  const q1 = i1 < i2 ? at(0, i2, i1) : med;
  const q3 = i3 > i2 ? at(i2 + 1, n, i3) : med;
  return [q1, med, q3];
}

function importance(ctx: MergeContext, a: F32Buf, b: F32Buf): F32Buf {
  const k = ctx.kernels;
  const { numel: n, mode } = ctx;
  const { rows, cols } = lastDimRows(ctx.shape, n);
  const p = k.allocF32(n);
  const q = k.allocF32(n);
  k.call("misc_softmax_rows", p.ptr, b.ptr, rows, cols, mode);
  k.call("misc_softmax_rows", q.ptr, a.ptr, rows, cols, mode);
  const terms = k.allocF32(n);
  k.call("misc_kl_terms", terms.ptr, p.ptr, q.ptr, toDType(1e-8, ctx.dtype), n, mode);
  const kl = k.allocF32(rows);
  k.call("misc_row_sum", kl.ptr, terms.ptr, rows, cols, mode);
  k.call("misc_fusion_importance", p.ptr, a.ptr, b.ptr, kl.ptr, rows, cols, mode);
  return p;
}

export default defineMethod({
  name: "arcee_fusion",
  cardName: "[Arcee Fusion](https://arcee.ai)",
  base: "required",
  global: [],
  perModel: [],
  outputDtype: (working, fixQuirks) => (fixQuirks ? working : "F32"),
  outputShape(ctx) {
    requireOthers(ctx, "arcee_fusion", 1, 1);
    return rectifiedShape(ctx);
  },
  merge(ctx) {
    const k = ctx.kernels;
    const { numel: n, mode, dtype } = ctx;
    const a = baseInput(ctx);
    const other = otherInputs(ctx)[0]!;
    const out = k.allocF32(n);
    if (n === 0) return out;
    const imp = importance(ctx, a.buf, other.buf);
    let values = imp;
    if (n > FUSION_SAMPLE_SIZE) {
      if (ctx.fixQuirks) {
        ctx.quirk("arcee-fusion-sample", `arcee_fusion quantiles computed exactly over every element (MergeKit estimates them from a random ${FUSION_SAMPLE_SIZE}-element sample above ${FUSION_SAMPLE_SIZE} elements)`);
      } else {
        ctx.quirk("arcee-fusion-sample", `arcee_fusion estimates its quantiles from a random ${FUSION_SAMPLE_SIZE}-element sample of tensors above ${FUSION_SAMPLE_SIZE} elements, as MergeKit does (drawn with Amalgam's seeded generator, so the bytes differ from MergeKit's)`);
        values = fusionSample(k, imp, FUSION_SAMPLE_SIZE, ctx.seed, ctx.modelIndices[ctx.inputs.indexOf(other)]!, ctx.tensor);
      }
    }
    const [q1, med, q3] = quartiles(k, values);
    const r = (x: number) => toDType(x, dtype);
    const thr = r(med + r(1.5 * r(q3 - q1)));
    const promote = !ctx.fixQuirks && dtype !== "F32";
    if (dtype !== "F32") {
      ctx.quirk("arcee-fusion-f32", ctx.fixQuirks
        ? "arcee_fusion output kept in the working dtype (MergeKit writes float32: its float32 mask promotes the result)"
        : "arcee_fusion writes float32 tensors, as MergeKit does (its float32 mask promotes the result)");
    }
    k.call("misc_fusion_apply", out.ptr, a.buf.ptr, other.buf.ptr, imp.ptr, thr, n, mode, promote ? 1 : 0);
    return out;
  },
});
