// passthrough: the one input, times `scale` when set (MergeKit passthrough.py).
import { AmalgamError } from "../errors.ts";
import { toDType } from "../kernels/scalar.ts";
import { defineMethod } from "./types.ts";

export default defineMethod({
  name: "passthrough",
  cardName: "Passthrough",
  base: "unused",
  elementwise: true,
  global: [],
  perModel: [{ name: "scale" }],
  outputShape(ctx) {
    if (ctx.shapes.length !== 1) {
      throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": passthrough takes exactly one input, got ${ctx.shapes.length} (${ctx.models.join(", ")})`);
    }
    return ctx.shapes[0]!;
  },
  merge(ctx) {
    const inp = ctx.inputs[0]!;
    const scale = inp.params["scale"];
    if (scale === undefined) return inp.buf;
    const out = ctx.kernels.allocF32(ctx.numel);
    ctx.kernels.call("mul_scalar", out.ptr, inp.buf.ptr, toDType(scale, ctx.dtype), ctx.numel, ctx.mode);
    return out;
  },
});
