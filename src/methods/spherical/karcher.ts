// karcher: the Karcher (Riemannian) mean of the inputs' directions on the unit hypersphere,
// scaled by their mean norm (MergeKit karcher.py). Every input, the base included, weighs 1/N.
//   n_i = ||t_i.float()||, u_i = t_i / n_i (zero when n_i = 0); inputs with n_i <= tol are left out;
//   u = normalize(sum a_i u_i) (or u_first when its norm < tol); up to max_iter times:
//   T = sum a_i (θ_i / sin θ_i)(u_i - cos θ_i u) over θ_i >= tol (cos θ_i = clamp(u . u_i, -1, 1)),
//   stop when ||T|| < tol, else u = cos||T|| u + sin||T|| T/||T||, renormalised;
//   result = (sum_i a_i n_i) u.
// Quirks: MergeKit ignores `weight` (--fix-quirks uses it, normalised to sum 1), and its
// embedding rectification is a no-op, so differently sized embeddings fail (--fix-quirks merges
// their common submatrix like the other methods).
import { AmalgamError } from "../../errors.ts";
import type { F32Buf } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";
import { defineMethod } from "../types.ts";
import type { MergeContext, MergeInput } from "../types.ts";
import { copyOf, mathIn, norm32, result, warnF16, zeros } from "./kernel-ops.ts";

/** torch 1.13 computes a bf16 `torch.dot` of more than this many elements with oneDNN (float32 accumulation). */
const TORCH_NAIVE_DOT_MAX = 4096;

function alphasOf(ctx: MergeContext): number[] {
  const n = ctx.inputs.length;
  const weighted = ctx.inputs.some((i) => i.params["weight"] !== undefined);
  if (!weighted) return ctx.inputs.map(() => 1 / n);
  if (!ctx.fixQuirks) {
    ctx.quirk("karcher-ignores-weight", "karcher ignores per-model `weight`: MergeKit gives every input (the base included) the weight 1/N");
    return ctx.inputs.map(() => 1 / n);
  }
  ctx.quirk("karcher-ignores-weight", "karcher: per-model `weight` used as the Karcher mean's weights (normalised to sum 1; a model without a weight counts 1); MergeKit ignores them");
  const w = ctx.inputs.map((i) => i.params["weight"] ?? 1);
  const s = w.reduce((a, b) => a + b, 0);
  if (s === 0) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": karcher weights sum to zero`);
  return w.map((x) => x / s);
}

function checkRectify(ctx: MergeContext): void {
  const stored = (i: MergeInput) => i.sourceShape ?? i.shape;
  const cut = ctx.inputs.filter((i) => stored(i).length !== ctx.shape.length || stored(i).some((d, j) => d !== ctx.shape[j]));
  if (!cut.length) return;
  if (!ctx.fixQuirks) {
    const list = ctx.inputs.map((i) => `${i.model} ${JSON.stringify(stored(i))}`).join(", ");
    throw new AmalgamError("E_SHAPE", `tensor "${ctx.tensor}": MergeKit's karcher cannot merge embeddings of different sizes (${list}): its embedding rectification is a no-op, so torch fails on the shape mismatch; --fix-quirks merges the common ${ctx.shape.join("x")} submatrix`);
  }
  ctx.quirk("karcher-rectify-noop", `karcher: embeddings of different sizes merged on their common submatrix (MergeKit's karcher fails on them)`);
}

function karcher(ctx: MergeContext): F32Buf {
  if (ctx.inputs.length === 1) return ctx.inputs[0]!.buf;
  checkRectify(ctx);
  warnF16(ctx, "karcher");
  const k = ctx.kernels;
  const { dtype, mode, numel } = ctx;
  const maxIter = Math.trunc(ctx.global["max_iter"] ?? 10);
  const tol = ctx.global["tol"] ?? 1e-5;
  const alphas = alphasOf(ctx);
  const norms: number[] = [];
  const units: F32Buf[] = [];
  for (const inp of ctx.inputs) {
    const n = norm32(k, inp.buf);
    norms.push(n);
    if (n === 0) {
      units.push(zeros(k, numel));
    } else {
      const u = k.allocF32(numel);
      k.call("div_scalar", u.ptr, inp.buf.ptr, toDType(n, dtype), numel, mode);
      units.push(u);
    }
  }
  const valid = norms.map((n, i) => (n > tol ? i : -1)).filter((i) => i >= 0);
  if (!valid.length) return zeros(k, numel);
  const alphaSum = valid.reduce((s, i) => s + alphas[i]!, 0);
  const a = valid.map((i) => alphas[i]! / alphaSum);
  const vu = valid.map((i) => units[i]!);
  const one = k.f32Array([1]);
  // acc = R(acc + R(c * x)): torch's `acc += c * x` with a scalar c already in the dtype.
  const addScaled = (acc: F32Buf, c: number, x: F32Buf) =>
    k.call("sph_comb2", acc.ptr, acc.ptr, x.ptr, one, k.f32Array([c]), one, 1, numel, 0, mode);

  let u = zeros(k, numel);
  vu.forEach((ui, j) => addScaled(u, toDType(a[j]!, dtype), ui));
  const normU = norm32(k, u);
  if (normU < tol) u = copyOf(k, vu[0]!);
  else k.call("div_scalar", u.ptr, u.ptr, toDType(normU, dtype), numel, mode);

  const T = k.allocF32(numel);
  const tmp = k.allocF32(numel);
  const dotOf = (x: F32Buf, y: F32Buf): number => {
    if (dtype === "BF16" && numel <= TORCH_NAIVE_DOT_MAX) return result(k, (out) => k.call("torch_dot_rounded", out, x.ptr, y.ptr, numel, mode));
    return toDType(result(k, (out) => k.call("blas_sdot", out, x.ptr, y.ptr, numel)), dtype);
  };
  for (let it = 0; it < maxIter; it++) {
    k.f32(T).fill(0);
    vu.forEach((ui, j) => {
      const dot = Math.min(1, Math.max(-1, dotOf(u, ui)));
      const theta = mathIn(dtype, Math.acos(dot));
      if (theta < tol) return;
      const ratio = toDType(theta / mathIn(dtype, Math.sin(theta)), dtype);
      const q = toDType(toDType(a[j]!, dtype) * ratio, dtype);
      k.call("sph_sub_scaled", tmp.ptr, ui.ptr, u.ptr, dot, numel, mode);
      addScaled(T, q, tmp);
    });
    const normT = norm32(k, T);
    if (normT < tol) break;
    k.call("div_scalar", tmp.ptr, T.ptr, toDType(normT, dtype), numel, mode);
    const c = toDType(Math.fround(Math.cos(normT)), dtype);
    const s = toDType(Math.fround(Math.sin(normT)), dtype);
    k.call("sph_comb2", u.ptr, u.ptr, tmp.ptr, k.f32Array([c]), k.f32Array([s]), one, 1, numel, 0, mode);
    const normU2 = norm32(k, u);
    if (normU2 > tol) k.call("div_scalar", u.ptr, u.ptr, toDType(normU2, dtype), numel, mode);
  }
  let scale = 0;
  alphas.forEach((al, i) => { scale += al * norms[i]!; });
  const out = k.allocF32(numel);
  k.call("mul_scalar", out.ptr, u.ptr, toDType(scale, dtype), numel, mode);
  return out;
}

export default defineMethod({
  name: "karcher",
  cardName: "[Karcher Mean](https://en.wikipedia.org/wiki/Karcher_mean)",
  base: "optional",
  global: [{ name: "max_iter", default: 10 }, { name: "tol", default: 1e-5 }],
  perModel: [{ name: "weight" }],
  merge: karcher,
});
