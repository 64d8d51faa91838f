// slerp: spherical interpolation between the base (t = 0) and one other model (t = 1), one angle
// per tensor (MergeKit slerp.py). MergeKit computes it in NumPy float32 on float32 copies:
//   u = v / ||v|| (norm = BLAS sdot, only when > 1e-8), dot = np.sum(u0 * u1) (pairwise);
//   |dot| > 0.9995: (1-t) v0 + t v1; else θ = arccos(dot) and sin θ in float32, then with NumPy
//   1.24's legacy promotion θt = θ·t, s0 = sin(θ - θt)/sin θ, s1 = sin θt / sin θ are float64,
//   cast to float32 to multiply the float32 arrays; the float32 result is cast to the dtype.
import { AmalgamError } from "../../errors.ts";
import { rectifiedShape } from "../shapes.ts";
import { defineMethod } from "../types.ts";
import type { MergeContext } from "../types.ts";
import type { F32Buf } from "../../kernels/kernels.ts";
import { result } from "./kernel-ops.ts";

const DOT_THRESHOLD = 0.9995;
const EPS = 1e-8;

function unit(ctx: MergeContext, v: F32Buf): F32Buf {
  const k = ctx.kernels;
  const norm = Math.fround(Math.sqrt(result(k, (out) => k.call("blas_sdot", out, v.ptr, v.ptr, v.length))));
  if (!(norm > EPS)) return v;
  const u = k.allocF32(v.length);
  k.call("div_scalar", u.ptr, v.ptr, norm, v.length, 0);
  return u;
}

export default defineMethod({
  name: "slerp",
  cardName: "[SLERP](https://en.wikipedia.org/wiki/Slerp)",
  base: "required",
  cardShowsBase: false,
  global: [{ name: "t", required: true }],
  perModel: [],
  outputShape(ctx) {
    if (ctx.shapes.length > 2) {
      throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": slerp merges exactly two models (the base and one other), got ${ctx.shapes.length}: ${ctx.models.join(", ")}`);
    }
    return rectifiedShape(ctx);
  },
  merge(ctx) {
    if (ctx.inputs.length === 1) return ctx.inputs[0]!.buf;
    const bi = ctx.baseIndex;
    if (bi === undefined || ctx.inputs.length !== 2) {
      throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": slerp needs the base model and exactly one other model`);
    }
    const t = ctx.global["t"];
    if (t === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": slerp needs "t"`);
    const k = ctx.kernels;
    const v0 = ctx.inputs[bi]!.buf;
    const v1 = ctx.inputs[1 - bi]!.buf;
    const n = ctx.numel;
    const u0 = unit(ctx, v0);
    const u1 = unit(ctx, v1);
    const dot = result(k, (out) => k.call("numpy_sum_prod", out, u0.ptr, u1.ptr, n));
    const out = k.allocF32(n);
    if (Math.abs(dot) > DOT_THRESHOLD) {
      k.call("numpy_axpby", out.ptr, v0.ptr, v1.ptr, Math.fround(1 - t), Math.fround(t), n, ctx.mode);
      return out;
    }
    const theta0 = Math.fround(Math.acos(dot));
    const sin0 = Math.fround(Math.sin(theta0));
    const thetaT = theta0 * t;
    const s0 = Math.sin(theta0 - thetaT) / sin0;
    const s1 = Math.sin(thetaT) / sin0;
    k.call("numpy_axpby", out.ptr, v0.ptr, v1.ptr, Math.fround(s0), Math.fround(s1), n, ctx.mode);
    return out;
  },
});
