// SCE's selection statistic: torch.var(stack(tvs), dim=0, unbiased=False) in the working dtype.
// torch's CPU kernel runs Welford's update in float64 for every input dtype and rounds the
// result to float32, then to the tensor dtype; this does the same, in input order.
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

/**
 * out[i] = R(f32(var_m tvs_m[i])) over K inputs (`ptrs`: K u32 pointers), and
 * count (one u32) = number of out[i] != 0 (torch.count_nonzero; NaN counts).
 */
export function tv_variance(out: usize, ptrs: usize, k: i32, n: usize, mode: i32, count: usize): i32 {
  const kf = <f64>k;
  const kv = f64x2.splat(kf);
  let nz = i32x4.splat(0);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    let mean0 = f64x2.splat(0);
    let mean1 = f64x2.splat(0);
    let m20 = f64x2.splat(0);
    let m21 = f64x2.splat(0);
    for (let m = 0; m < k; m++) {
      const v = v128.load(<usize>load<u32>(ptrs + (<usize>m << 2)) + (i << 2));
      const x0 = f64x2.promote_low_f32x4(v);
      const x1 = f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 0, 1));
      const nf = f64x2.splat(<f64>(m + 1));
      const d0 = f64x2.sub(x0, mean0);
      const d1 = f64x2.sub(x1, mean1);
      mean0 = f64x2.add(mean0, f64x2.div(d0, nf));
      mean1 = f64x2.add(mean1, f64x2.div(d1, nf));
      m20 = f64x2.add(m20, f64x2.mul(d0, f64x2.sub(x0, mean0)));
      m21 = f64x2.add(m21, f64x2.mul(d1, f64x2.sub(x1, mean1)));
    }
    const lo = f32x4.demote_f64x2_zero(f64x2.div(m20, kv));
    const hi = f32x4.demote_f64x2_zero(f64x2.div(m21, kv));
    const r = roundModex4(f32x4.shuffle(lo, hi, 0, 1, 4, 5), mode);
    v128.store(out + (i << 2), r);
    nz = i32x4.sub(nz, f32x4.ne(r, f32x4.splat(0)));
  }
  let c = <u32>(i32x4.extract_lane(nz, 0) + i32x4.extract_lane(nz, 1) + i32x4.extract_lane(nz, 2) + i32x4.extract_lane(nz, 3));
  for (; i < n; i++) {
    let mean: f64 = 0;
    let m2: f64 = 0;
    for (let m = 0; m < k; m++) {
      const x = <f64>load<f32>(<usize>load<u32>(ptrs + (<usize>m << 2)) + (i << 2));
      const d = x - mean;
      mean += d / <f64>(m + 1);
      m2 += d * (x - mean);
    }
    const r = roundMode(<f32>(m2 / kf), mode);
    store<f32>(out + (i << 2), r);
    if (r != 0) c++;
  }
  store<u32>(count, c);
  return OK;
}
