// Applying a keep mask (1.0 / 0.0) to a task vector, with the two L1 norms MergeKit's rescale needs.
import { OK } from "./convert";

/**
 * out[i] = x[i] * mask[i] (torch's `tensor * mask`: exact, and -0 / NaN behave as torch's
 * multiply). sums (two f64) = [sum |x|, sum |out|], accumulated in float64. out may alias x.
 */
export function mask_apply(out: usize, x: usize, mask: usize, n: usize, sums: usize): i32 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let b0 = f64x2.splat(0);
  let b1 = f64x2.splat(0);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (i << 2));
    const o = f32x4.mul(v, v128.load(mask + (i << 2)));
    v128.store(out + (i << 2), o);
    const av = f32x4.abs(v);
    const ao = f32x4.abs(o);
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(av));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(f32x4.shuffle(av, av, 2, 3, 0, 1)));
    b0 = f64x2.add(b0, f64x2.promote_low_f32x4(ao));
    b1 = f64x2.add(b1, f64x2.promote_low_f32x4(f32x4.shuffle(ao, ao, 2, 3, 0, 1)));
  }
  let sa = f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1) + f64x2.extract_lane(a1, 0) + f64x2.extract_lane(a1, 1);
  let sb = f64x2.extract_lane(b0, 0) + f64x2.extract_lane(b0, 1) + f64x2.extract_lane(b1, 0) + f64x2.extract_lane(b1, 1);
  for (; i < n; i++) {
    const v = load<f32>(x + (i << 2));
    const o = v * load<f32>(mask + (i << 2));
    store<f32>(out + (i << 2), o);
    sa += <f64>abs<f32>(v);
    sb += <f64>abs<f32>(o);
  }
  store<f64>(sums, sa);
  store<f64>(sums, sb, 8);
  return OK;
}
