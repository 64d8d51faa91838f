// SCE's erase-and-merge step (MergeKit sce.py), every op rounded as torch rounds it:
//   maj = R(sum_m t_m) >= 0 ? +1 : -1;  e_m = sign(t_m) == maj;  ew_m = w_m * e_m
//   merged = R(sum_m R(t_m * ew_m));  den = max(R(sum_m ew_m), clampMin)
//   out = R(base + R(merged / den))
// Sums accumulate in float32 in input order starting from +0 and round once.
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

/**
 * K task vectors (`tvs`: K u32 pointers), their weights `ws` (K f32 in the working dtype) and
 * `clampMin` (1e-6 in the working dtype). out may alias base.
 */
export function sce_combine(out: usize, base: usize, tvs: usize, ws: usize, k: i32, n: usize, mode: i32, clampMin: f32): i32 {
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  const minV = f32x4.splat(clampMin);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const off = i << 2;
    let tot = zero;
    for (let m = 0; m < k; m++) tot = f32x4.add(tot, v128.load(<usize>load<u32>(tvs + (<usize>m << 2)) + off));
    const majPos = f32x4.ge(roundModex4(tot, mode), zero);
    let merged = zero;
    let den = zero;
    for (let m = 0; m < k; m++) {
      const t = v128.load(<usize>load<u32>(tvs + (<usize>m << 2)) + off);
      const keep = v128.bitselect(f32x4.gt(t, zero), f32x4.lt(t, zero), majPos);
      const ew = f32x4.mul(f32x4.splat(load<f32>(ws + (<usize>m << 2))), v128.and(keep, one));
      merged = f32x4.add(merged, roundModex4(f32x4.mul(t, ew), mode));
      den = f32x4.add(den, ew);
    }
    merged = roundModex4(merged, mode);
    den = roundModex4(den, mode);
    den = v128.bitselect(minV, den, f32x4.lt(den, minV));
    const fin = roundModex4(f32x4.div(merged, den), mode);
    v128.store(out + off, roundModex4(f32x4.add(v128.load(base + off), fin), mode));
  }
  for (; i < n; i++) {
    const off = i << 2;
    let tot: f32 = 0;
    for (let m = 0; m < k; m++) tot += load<f32>(<usize>load<u32>(tvs + (<usize>m << 2)) + off);
    const majPos = roundMode(tot, mode) >= 0;
    let merged: f32 = 0;
    let den: f32 = 0;
    for (let m = 0; m < k; m++) {
      const t = load<f32>(<usize>load<u32>(tvs + (<usize>m << 2)) + off);
      const ew = load<f32>(ws + (<usize>m << 2)) * <f32>((majPos ? t > 0 : t < 0) ? 1 : 0);
      merged += roundMode(t * ew, mode);
      den += ew;
    }
    merged = roundMode(merged, mode);
    den = roundMode(den, mode);
    if (den < clampMin) den = clampMin;
    store<f32>(out + off, roundMode(load<f32>(base + off) + roundMode(merged / den, mode), mode));
  }
  return OK;
}
