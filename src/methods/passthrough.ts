// passthrough: the one input, times `scale` when set (MergeKit passthrough.py).
import { AmalgamError } from "../errors.ts";
import { toDType } from "../kernels/scalar.ts";
import { DTYPES } from "../dtype.ts";
import { WSUM_BLOCK_BYTES } from "./linear.ts";
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
  mergeStored(ctx) {
    const k = ctx.kernels;
    const inp = ctx.inputs[0]!;
    const scale = inp.params["scale"];
    const outCode = DTYPES[ctx.outDtype].code;
    // Scaled inputs take the chunked path: a one-input weighted sum starts from +0 and would turn
    // -0 products into +0, where torch's `t * scale` keeps -0.
    if (scale !== undefined) return false;
    k.call("cast_stored", ctx.out, outCode, inp.ptr, DTYPES[inp.dtype].code, ctx.numel, ctx.mode);
    return true;
  },
});
