// linear: out = sum_i w_i x_i, divided by sum_i w_i when `normalize` (MergeKit linear.py).
import { AmalgamError } from "../errors.ts";
import { toDType } from "../kernels/scalar.ts";
import { defineMethod } from "./types.ts";

export default defineMethod({
  name: "linear",
  cardName: "[Linear](https://arxiv.org/abs/2203.05482)",
  base: "unused",
  elementwise: true,
  global: [{ name: "normalize", default: 1 }],
  perModel: [{ name: "weight", required: true }],
  merge(ctx) {
    const k = ctx.kernels;
    const ws = ctx.inputs.map((inp) => {
      const w = inp.params["weight"];
      if (w === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": no "weight" for model ${inp.model}`);
      return toDType(w, ctx.dtype);
    });
    const out = k.allocF32(ctx.numel);
    const ptrs = k.u32Array(ctx.inputs.map((i) => i.buf.ptr));
    k.call("wsum", out.ptr, ptrs, k.f32Array(ws), ws.length, ctx.numel, ctx.mode);
    if (ctx.global["normalize"]) {
      // weights.sum(0): float32 accumulation, rounded once to the working dtype; no zero guard.
      let s = 0;
      for (const w of ws) s = Math.fround(s + w);
      k.call("div_scalar", out.ptr, out.ptr, toDType(s, ctx.dtype), ctx.numel, ctx.mode);
    }
    return out;
  },
});
