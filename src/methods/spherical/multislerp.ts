// multislerp: barycentric interpolation of N models on the hypersphere, optionally in task-vector
// space around the base (MergeKit multislerp.py, an easy_define method). One tangent projection at
// the normalised weighted mean, not an iterative Riemannian mean. Math in the working dtype:
//   X_i (-= base), w (/= sum w), n_i = ||X_i||, U_i = X_i / (n_i + eps), m = sum w_i U_i,
//   m /= ||m||, T_i = U_i - (U_i . m) m, τ = sum w_i T_i, L = ||τ|| + eps,
//   r = m cos L + τ (sin L / L), r *= sum n_i w_i (+ base).
// MergeKit orders the models by a Python set (hash order); Amalgam uses config order.
import { AmalgamError } from "../../errors.ts";
import type { F32Buf } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";
import { defineMethod } from "../types.ts";
import type { MergeContext } from "../types.ts";
import { mathIn, result, warnF16 } from "./kernel-ops.ts";

/** torch's sum of R(x_i * y_i) over a short vector (same kernel as its row sums). */
function smallSum(ctx: MergeContext, xs: readonly number[], ys: readonly number[]): number {
  const k = ctx.kernels;
  return result(k, (out) => k.call("torch_sum_prod_rows", out, k.f32Array(xs), k.f32Array(ys), 1, xs.length, 0, ctx.mode));
}

function multislerp(ctx: MergeContext): F32Buf {
  const k = ctx.kernels;
  const { dtype, mode, numel } = ctx;
  const bi = ctx.baseIndex;
  const models = ctx.inputs.filter((_, i) => i !== bi);
  if (models.length === 1) return models[0]!.buf;
  const eps = ctx.global["eps"] ?? 1e-8;
  const epsD = toDType(eps, dtype);
  const base = bi === undefined ? undefined : ctx.inputs[bi]!.buf;
  let w = models.map((inp) => {
    const v = inp.params["weight"];
    if (v === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": no "weight" for model ${inp.model}`);
    return toDType(v, dtype);
  });
  if (ctx.global["normalize_weights"]) {
    const s = smallSum(ctx, w, w.map(() => 1));
    w = w.map((x) => toDType(x / s, dtype));
  }
  warnF16(ctx, "multislerp");
  const xs = models.map((inp) => {
    if (!base) return inp.buf;
    const o = k.allocF32(numel);
    k.call("sph_sub", o.ptr, inp.buf.ptr, base.ptr, numel, mode);
    return o;
  });
  const norms = xs.map((x) => result(k, (out) => k.call("torch_norm_rows", out, x.ptr, 1, numel, mode)));
  const units = xs.map((x, i) => {
    const u = k.allocF32(numel);
    k.call("div_scalar", u.ptr, x.ptr, toDType(norms[i]! + epsD, dtype), numel, mode);
    return u;
  });
  const wsum = (bufs: readonly F32Buf[]): F32Buf => {
    const o = k.allocF32(numel);
    k.call("wsum", o.ptr, k.u32Array(bufs.map((b) => b.ptr)), k.f32Array(w), bufs.length, numel, mode);
    return o;
  };
  const mean = wsum(units);
  const meanNorm = result(k, (out) => k.call("torch_norm_rows", out, mean.ptr, 1, numel, mode));
  if (meanNorm < epsD) {
    if (xs.length !== 2) {
      throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": multislerp: the weighted sum of the input tensors is zero (antipodal vectors with weights that balance out); try different weights`);
    }
    const o = k.allocF32(numel);
    k.call("sph_comb2", o.ptr, xs[0]!.ptr, xs[1]!.ptr, k.f32Array([w[0]!]), k.f32Array([w[1]!]), k.f32Array([1]), 1, numel, 0, mode);
    if (base) k.call("sph_add", o.ptr, o.ptr, base.ptr, numel, mode);
    return o;
  }
  k.call("div_scalar", mean.ptr, mean.ptr, meanNorm, numel, mode);
  const tangents = units.map((u) => {
    const dot = result(k, (out) => k.call("torch_sum_prod_rows", out, u.ptr, mean.ptr, 1, numel, 0, mode));
    const tv = k.allocF32(numel);
    k.call("sph_sub_scaled", tv.ptr, u.ptr, mean.ptr, dot, numel, mode);
    return tv;
  });
  const tau = wsum(tangents);
  const tauNorm = toDType(result(k, (out) => k.call("torch_norm_rows", out, tau.ptr, 1, numel, mode)) + epsD, dtype);
  const cos = mathIn(dtype, Math.cos(tauNorm));
  const sinOver = toDType(mathIn(dtype, Math.sin(tauNorm)) / tauNorm, dtype);
  const res = k.allocF32(numel);
  k.call("sph_comb2", res.ptr, mean.ptr, tau.ptr, k.f32Array([cos]), k.f32Array([sinOver]), k.f32Array([1]), 1, numel, 0, mode);
  const avgNorm = smallSum(ctx, norms, w);
  k.call("mul_scalar", res.ptr, res.ptr, avgNorm, numel, mode);
  if (base) k.call("sph_add", res.ptr, res.ptr, base.ptr, numel, mode);
  return res;
}

export default defineMethod({
  name: "multislerp",
  cardName: "[Multi-SLERP](https://goddard.blog/posts/multislerp-wow-what-a-cool-idea)",
  base: "optional",
  global: [{ name: "normalize_weights", default: 1 }, { name: "eps", default: 1e-8 }],
  perModel: [{ name: "weight", required: true }],
  merge: multislerp,
});
