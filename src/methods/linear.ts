// linear: out = sum_i w_i x_i, divided by sum_i w_i when `normalize` (MergeKit linear.py).
import { AmalgamError } from "../errors.ts";
import { toDType } from "../kernels/scalar.ts";
import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { defineMethod } from "./types.ts";
import type { ParamValues } from "./types.ts";

/** Per-model weights rounded to the working dtype, as torch.tensor(weights, dtype=...) does. */
function weights(tensor: string, inputs: readonly { params: ParamValues; model: string }[], dtype: DType): number[] {
  return inputs.map((inp) => {
    const w = inp.params["weight"];
    if (w === undefined) throw new AmalgamError("E_CONFIG", `tensor "${tensor}": no "weight" for model ${inp.model}`);
    return toDType(w, dtype);
  });
}

/** weights.sum(0): float32 accumulation, rounded once to the working dtype; no zero guard. */
function weightSum(ws: readonly number[], dtype: DType): number {
  let s = 0;
  for (const w of ws) s = Math.fround(s + w);
  return toDType(s, dtype);
}

/** Scratch for wsum_stored's accumulator block (assembly/wsum-stored.ts WSUM_BLOCK floats). */
export const WSUM_BLOCK_BYTES = 2048 * 4;

export default defineMethod({
  name: "linear",
  cardName: "[Linear](https://arxiv.org/abs/2203.05482)",
  base: "unused",
  elementwise: true,
  global: [{ name: "normalize", default: 1 }],
  perModel: [{ name: "weight", required: true }],
  merge(ctx) {
    const k = ctx.kernels;
    const ws = weights(ctx.tensor, ctx.inputs, ctx.dtype);
    const out = k.allocF32(ctx.numel);
    const ptrs = k.u32Array(ctx.inputs.map((i) => i.buf.ptr));
    k.call("wsum", out.ptr, ptrs, k.f32Array(ws), ws.length, ctx.numel, ctx.mode);
    if (ctx.global["normalize"]) k.call("div_scalar", out.ptr, out.ptr, weightSum(ws, ctx.dtype), ctx.numel, ctx.mode);
    return out;
  },
  mergeStored(ctx) {
    const k = ctx.kernels;
    const ws = weights(ctx.tensor, ctx.inputs, ctx.dtype);
    const normalize = ctx.global["normalize"] ? 1 : 0;
    k.call("wsum_stored", ctx.out, DTYPES[ctx.outDtype].code, k.u32Array(ctx.inputs.map((i) => i.ptr)), k.u32Array(ctx.inputs.map((i) => DTYPES[i.dtype].code)),
      k.f32Array(ws), ws.length, ctx.numel, ctx.mode, normalize, normalize ? weightSum(ws, ctx.dtype) : 0, k.alloc(WSUM_BLOCK_BYTES));
    return true;
  },
});
