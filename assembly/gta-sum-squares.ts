// SCE's per-model weight numerator: sum of R(x*x) (torch `tvs**2` in the working dtype), in float64.
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

/** res (one f64) = sum_i R(x[i] * x[i]). */
export function sum_squares(res: usize, x: usize, n: usize, mode: i32): i32 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (i << 2));
    const s = roundModex4(f32x4.mul(v, v), mode);
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(s));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(f32x4.shuffle(s, s, 2, 3, 0, 1)));
  }
  let sum = f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1) + f64x2.extract_lane(a1, 0) + f64x2.extract_lane(a1, 1);
  for (; i < n; i++) {
    const v = load<f32>(x + (i << 2));
    sum += <f64>roundMode(v * v, mode);
  }
  store<f64>(res, sum);
  return OK;
}
