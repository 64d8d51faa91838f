// nearswap (MergeKit nearswap.py, easy_define): take the other model's value where it is within
// `t` of the base: w = clamp(t / clamp(|a - b|, min=1e-6), 0, 1), out = w b + (1 - w) a, a = base.
import { AmalgamError } from "../../errors.ts";
import { toDType } from "../../kernels/scalar.ts";
import { defineMethod } from "../types.ts";
import { baseInput, equalShapes, otherInputs, requireOthers } from "./input-rules.ts";

export default defineMethod({
  name: "nearswap",
  cardName: "[NearSwap](https://huggingface.co/alchemonaut/QuartetAnemoi-70B-t0.0001)",
  base: "required",
  global: [{ name: "t", required: true }],
  perModel: [],
  elementwise: true,
  outputShape(ctx) {
    requireOthers(ctx, "nearswap", 1, 1);
    return equalShapes(ctx, "nearswap");
  },
  merge(ctx) {
    const t = ctx.global["t"];
    if (t === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": nearswap needs the parameter "t"`);
    const k = ctx.kernels;
    const a = baseInput(ctx);
    const b = otherInputs(ctx)[0]!;
    const out = k.allocF32(ctx.numel);
    k.call("misc_nearswap", out.ptr, a.buf.ptr, b.buf.ptr, toDType(t, ctx.dtype), toDType(1e-6, ctx.dtype), ctx.numel, ctx.mode);
    return out;
  },
});
