// nearswap (MergeKit nearswap.py): w = clamp(t / clamp(|a - b|, min=floor), 0, 1),
// out = w * b + (1 - w) * a, a = base. torch computes `t / x` as x.reciprocal() * t, so
// w = R(R(1 / R(max(|R(a - b)|, floor))) * t); every op is rounded to the working dtype.
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

/** t and floor are already in the working dtype. NaN differences give NaN (max/min keep NaN). */
export function misc_nearswap(out: usize, a: usize, b: usize, t: f32, floor: f32, n: usize, mode: i32): i32 {
  const tv = f32x4.splat(t);
  const fv = f32x4.splat(floor);
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const av = v128.load(a + (i << 2));
    const bv = v128.load(b + (i << 2));
    const cl = f32x4.max(f32x4.abs(roundModex4(f32x4.sub(av, bv), mode)), fv);
    const w = f32x4.min(f32x4.max(roundModex4(f32x4.mul(roundModex4(f32x4.div(one, cl), mode), tv), mode), zero), one);
    const omw = roundModex4(f32x4.sub(one, w), mode);
    v128.store(out + (i << 2), roundModex4(f32x4.add(roundModex4(f32x4.mul(w, bv), mode), roundModex4(f32x4.mul(omw, av), mode)), mode));
  }
  for (; i < n; i++) {
    const av = load<f32>(a + (i << 2));
    const bv = load<f32>(b + (i << 2));
    const cl = max<f32>(abs<f32>(roundMode(av - bv, mode)), floor);
    const w = min<f32>(max<f32>(roundMode(roundMode(<f32>1 / cl, mode) * t, mode), 0), 1);
    const omw = roundMode(<f32>1 - w, mode);
    store<f32>(out + (i << 2), roundMode(roundMode(w * bv, mode) + roundMode(omw * av, mode), mode));
  }
  return OK;
}
