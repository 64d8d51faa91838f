// nuslerp: slerp with t = w1 / (w0 + w1), per tensor, per row or per column, optionally in
// task-vector space around a third (base) model (MergeKit nuslerp.py). Math in the working dtype,
// every torch op rounded:
//   u = v / clamp(||v||, min=1e-7); cos θ = sum(u0 * u1); θ = acos(clamp(cos θ, -1, 1));
//   res = (sin((1-t) θ) v0 + sin(t θ) v1) / sin θ, or (1-t) v0 + t v1 where |sin θ| < 1e-8.
// Vectors: the whole tensor (nuslerp_flatten, default), else each row x[i, :] (dim -1), or with
// nuslerp_row_wise each x[:, j] (dim 0).
import { AmalgamError } from "../../errors.ts";
import type { F32Buf } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";
import { defineMethod } from "../types.ts";
import type { MergeContext } from "../types.ts";
import { mathIn, results, warnF16 } from "./kernel-ops.ts";

const NORM_EPS = 1e-7;
const COLINEAR_EPS = 1e-8;

/** How a tensor of `numel` values splits into vectors: `count` vectors of length `len`. */
interface Layout {
  readonly rows: number;
  readonly cols: number;
  /** true: vectors are columns (dim 0); false: vectors are rows (contiguous). */
  readonly perCol: boolean;
}

function layoutOf(shape: readonly number[], numel: number, flatten: boolean, rowWise: boolean): Layout {
  if (flatten || shape.length <= 1) return { rows: 1, cols: numel, perCol: false };
  if (rowWise) {
    const rows = shape[0]!;
    return { rows, cols: rows === 0 ? 0 : numel / rows, perCol: true };
  }
  const cols = shape[shape.length - 1]!;
  return { rows: cols === 0 ? 0 : numel / cols, cols, perCol: false };
}

function nuslerpCore(ctx: MergeContext, t: number, v0: F32Buf, v1: F32Buf, lay: Layout): F32Buf {
  const k = ctx.kernels;
  const { dtype, mode } = ctx;
  const { rows, cols, perCol } = lay;
  const count = perCol ? cols : rows;
  const pc = perCol ? 1 : 0;
  const minNorm = toDType(NORM_EPS, dtype);
  const unit = (v: F32Buf): F32Buf => {
    const norms = results(k, count, (out) => {
      if (perCol) k.call("torch_norm_cols", out, v.ptr, rows, cols, mode, dtype === "BF16" ? 1 : 0);
      else k.call("torch_norm_rows", out, v.ptr, rows, cols, mode);
    }).map((x) => (x < minNorm ? minNorm : x));
    const u = k.allocF32(v.length);
    k.call("sph_div_by", u.ptr, v.ptr, k.f32Array([...norms]), rows, cols, pc, mode);
    return u;
  };
  const u0 = unit(v0);
  const u1 = unit(v1);
  const cos = results(k, count, (out) => {
    if (perCol) k.call("torch_sum_prod_cols", out, u0.ptr, u1.ptr, rows, cols, mode);
    else k.call("torch_sum_prod_rows", out, u0.ptr, u1.ptr, rows, cols, cols, mode);
  });
  const tOne = toDType(1 - t, dtype);
  const tT = toDType(t, dtype);
  const colinearEps = toDType(COLINEAR_EPS, dtype);
  const a: number[] = [];
  const b: number[] = [];
  const d: number[] = [];
  for (const c of cos) {
    const theta = mathIn(dtype, Math.acos(Math.min(1, Math.max(-1, c))));
    const sin = mathIn(dtype, Math.sin(theta));
    if (Math.abs(sin) < colinearEps) {
      a.push(tOne);
      b.push(tT);
      d.push(1);
    } else {
      a.push(mathIn(dtype, Math.sin(toDType(tOne * theta, dtype))));
      b.push(mathIn(dtype, Math.sin(toDType(tT * theta, dtype))));
      d.push(sin);
    }
  }
  const out = k.allocF32(v0.length);
  k.call("sph_comb2", out.ptr, v0.ptr, v1.ptr, k.f32Array(a), k.f32Array(b), k.f32Array(d), rows, cols, pc, mode);
  return out;
}

export default defineMethod({
  name: "nuslerp",
  cardName: "NuSLERP",
  base: "optional",
  global: [{ name: "nuslerp_flatten", default: 1 }, { name: "nuslerp_row_wise", default: 0 }],
  perModel: [{ name: "weight", required: true }],
  merge(ctx) {
    if (ctx.inputs.length === 1) return ctx.inputs[0]!.buf;
    const bi = ctx.baseIndex;
    if (bi !== undefined && ctx.inputs.length !== 3) {
      throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": nuslerp with a base model needs two other, distinct models (the base can not be one of the two models to merge); got ${ctx.inputs.map((i) => i.model).join(", ")}`);
    }
    const pair = ctx.inputs.filter((_, i) => i !== bi);
    if (pair.length !== 2) {
      throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": nuslerp merges exactly two models (plus an optional base), got ${pair.length}: ${pair.map((i) => i.model).join(", ")}`);
    }
    const w = pair.map((inp) => {
      const v = inp.params["weight"];
      if (v === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": no "weight" for model ${inp.model}`);
      return v;
    });
    const sum = w[0]! + w[1]!;
    const t = Math.abs(sum) < 1e-6 ? 0.5 : w[1]! / sum;
    warnF16(ctx, "nuslerp");
    const k = ctx.kernels;
    const lay = layoutOf(ctx.shape, ctx.numel, Boolean(ctx.global["nuslerp_flatten"]), Boolean(ctx.global["nuslerp_row_wise"]));
    if (bi === undefined) return nuslerpCore(ctx, t, pair[0]!.buf, pair[1]!.buf, lay);
    const base = ctx.inputs[bi]!.buf;
    const delta = (x: F32Buf): F32Buf => {
      const o = k.allocF32(ctx.numel);
      k.call("sph_sub", o.ptr, x.ptr, base.ptr, ctx.numel, ctx.mode);
      return o;
    };
    const res = nuslerpCore(ctx, t, delta(pair[0]!.buf), delta(pair[1]!.buf), lay);
    k.call("sph_add", res.ptr, base.ptr, res.ptr, ctx.numel, ctx.mode);
    return res;
  },
});
