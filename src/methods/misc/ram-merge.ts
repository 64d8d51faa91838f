// The merge shared by ram and ramplus_tl (MergeKit ram.py): task vectors, the count of models
// whose |task vector| > epsilon at each element, unique elements kept whole (RAM+: scaled by a
// per-model lambda), shared elements averaged over their contributors, summed over the models.
import { toDType } from "../../kernels/scalar.ts";
import type { F32Buf } from "../../kernels/kernels.ts";
import type { MergeContext } from "../types.ts";
import { baseInput, clamp, otherInputs } from "./input-rules.ts";

/** RAM+ parameters; undefined for plain RAM. */
export interface RamPlus {
  readonly r: number;
  readonly alpha: number;
}

const f = Math.fround;

/**
 * RAM+'s lambda of one model, in float32 as torch computes it from int64 counts:
 * rho = shared / max(unique, epsilon), lambda = 1 + r * clamp(rho, 0, alpha).
 */
export function ramPlusLambda(shared: number, unique: number, epsilon: number, plus: RamPlus): number {
  const rho = f(f(shared) / Math.max(f(unique), f(epsilon)));
  return f(1 + f(f(plus.r) * clamp(rho, 0, f(plus.alpha))));
}

export function ramMerge(ctx: MergeContext, epsilon: number, plus: RamPlus | undefined): F32Buf {
  const k = ctx.kernels;
  const { numel: n, mode, dtype } = ctx;
  const base = baseInput(ctx);
  const others = otherInputs(ctx);
  if (others.length === 0) return base.buf;
  // MergeKit writes RAM+ in float32 (its float32 lambdas promote the sum); --fix-quirks keeps the dtype.
  const promote = plus !== undefined && !ctx.fixQuirks && dtype !== "F32";
  if (plus && dtype !== "F32") {
    ctx.quirk("ramplus-f32", ctx.fixQuirks
      ? "ramplus_tl output kept in the working dtype (MergeKit writes float32: its float32 lambdas promote the result)"
      : "ramplus_tl writes float32 tensors, as MergeKit does (its float32 lambdas promote the result)");
  }
  const eps = toDType(epsilon, dtype);
  const tvs = others.map((o) => {
    const tv = k.allocF32(n);
    k.call("misc_sub", tv.ptr, o.buf.ptr, base.buf.ptr, n, mode);
    return tv;
  });
  const ptrs = k.u32Array(tvs.map((t) => t.ptr));
  const cnt = k.allocF32(n);
  k.call("misc_ram_count", cnt.ptr, ptrs, tvs.length, n, eps);
  const stats = k.alloc(16);
  for (const tv of tvs) {
    let lam = 1;
    if (plus) {
      k.call("misc_ram_overlap", stats, tv.ptr, cnt.ptr, n, eps);
      const [shared, unique] = new Float64Array(k.memory.buffer, stats, 2);
      lam = ramPlusLambda(shared!, unique!, epsilon, plus);
      if (!promote) lam = toDType(lam, dtype);
    }
    k.call("misc_ram_terms", tv.ptr, cnt.ptr, lam, n, eps, mode, promote ? 1 : 0);
  }
  const outMode = promote ? 0 : mode;
  const sum = k.allocF32(n);
  k.call("misc_stack_sum", sum.ptr, ptrs, tvs.length, n, outMode);
  const out = k.allocF32(n);
  k.call("misc_add", out.ptr, base.buf.ptr, sum.ptr, n, outMode);
  return out;
}
