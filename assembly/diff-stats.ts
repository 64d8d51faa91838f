// Difference statistics of two stored tensors (F32 / BF16 / F16, possibly different dtypes), for
// `amalgam diff`: one pass over both, float64 accumulators. The host calls it per chunk and adds
// the chunks' results.
import { loadStored1, loadStored4 } from "./inline/stored";
import { OK } from "./convert";

/** f64 slots written to `out` by diff_stats (src/kernels/abi-tools.ts mirrors this). */
export const DIFF_STATS_SLOTS: i32 = 6;

/**
 * out[0] = count of i with a[i] != b[i] (NaN against NaN counts as equal, -0 against +0 too);
 * out[1] = sum (a-b)^2; out[2] = sum a^2; out[3] = sum b^2; out[4] = sum a*b; out[5] = max |a-b|.
 * Values are decoded exactly to f32 and promoted to f64; the sums run in 4 lanes (elements i mod 4)
 * added together at the end, then the scalar tail. `out` is 6 f64, 8-byte aligned; a, b may be
 * unaligned.
 */
export function diff_stats(a: usize, aDtype: i32, b: usize, bDtype: i32, n: usize, out: usize): i32 {
  if (aDtype < 0 || aDtype > 2 || bDtype < 0 || bDtype > 2) return 1;
  let cnt = i32x4.splat(0);
  let dd0 = f64x2.splat(0), dd1 = f64x2.splat(0);
  let aa0 = f64x2.splat(0), aa1 = f64x2.splat(0);
  let bb0 = f64x2.splat(0), bb1 = f64x2.splat(0);
  let ab0 = f64x2.splat(0), ab1 = f64x2.splat(0);
  let mx = f64x2.splat(0);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const x = loadStored4(a, i, aDtype);
    const y = loadStored4(b, i, bDtype);
    const bothNan = v128.and(f32x4.ne(x, x), f32x4.ne(y, y));
    cnt = i32x4.sub(cnt, v128.andnot(f32x4.ne(x, y), bothNan));
    const x0 = f64x2.promote_low_f32x4(x);
    const x1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3));
    const y0 = f64x2.promote_low_f32x4(y);
    const y1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(y, y, 2, 3, 2, 3));
    const d0 = f64x2.sub(x0, y0);
    const d1 = f64x2.sub(x1, y1);
    dd0 = f64x2.add(dd0, f64x2.mul(d0, d0));
    dd1 = f64x2.add(dd1, f64x2.mul(d1, d1));
    aa0 = f64x2.add(aa0, f64x2.mul(x0, x0));
    aa1 = f64x2.add(aa1, f64x2.mul(x1, x1));
    bb0 = f64x2.add(bb0, f64x2.mul(y0, y0));
    bb1 = f64x2.add(bb1, f64x2.mul(y1, y1));
    ab0 = f64x2.add(ab0, f64x2.mul(x0, y0));
    ab1 = f64x2.add(ab1, f64x2.mul(x1, y1));
    mx = f64x2.max(mx, f64x2.max(f64x2.abs(d0), f64x2.abs(d1)));
  }
  let changed: f64 = <f64>(i32x4.extract_lane(cnt, 0) + i32x4.extract_lane(cnt, 1) + i32x4.extract_lane(cnt, 2) + i32x4.extract_lane(cnt, 3));
  let dd = lanes(dd0, dd1);
  let aa = lanes(aa0, aa1);
  let bb = lanes(bb0, bb1);
  let ab = lanes(ab0, ab1);
  let m = max<f64>(f64x2.extract_lane(mx, 0), f64x2.extract_lane(mx, 1));
  if (f64x2.extract_lane(mx, 0) != f64x2.extract_lane(mx, 0) || f64x2.extract_lane(mx, 1) != f64x2.extract_lane(mx, 1)) m = NaN;
  for (; i < n; i++) {
    const x = <f64>loadStored1(a, i, aDtype);
    const y = <f64>loadStored1(b, i, bDtype);
    if (x != y && !(x != x && y != y)) changed += 1;
    const d = x - y;
    dd += d * d;
    aa += x * x;
    bb += y * y;
    ab += x * y;
    const ad = abs<f64>(d);
    if (ad != ad || m != m) m = NaN;
    else m = max<f64>(m, ad);
  }
  store<f64>(out, changed);
  store<f64>(out, dd, 8);
  store<f64>(out, aa, 16);
  store<f64>(out, bb, 24);
  store<f64>(out, ab, 32);
  store<f64>(out, m, 40);
  return OK;
}

/** (lo lane 0 + lo lane 1) + (hi lane 0 + hi lane 1): elements 0, 1, 2, 3 mod 4. */
// @ts-ignore: decorator
@inline function lanes(lo: v128, hi: v128): f64 {
  return (f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1)) + (f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1));
}
