// Applying a keep mask (1.0 / 0.0) to a task vector. The L1 norms MergeKit's rescale needs come
// from l1_accumulate (gta-l1.ts), exact whatever the order.
import { OK } from "./convert";

/**
 * out[i] = x[i] * mask[i] (torch's `tensor * mask`: exact, and -0 / NaN behave as torch's
 * multiply). out may alias x.
 */
export function mask_apply(out: usize, x: usize, mask: usize, n: usize): i32 {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(out + (i << 2), f32x4.mul(v128.load(x + (i << 2)), v128.load(mask + (i << 2))));
  }
  for (; i < n; i++) store<f32>(out + (i << 2), load<f32>(x + (i << 2)) * load<f32>(mask + (i << 2)));
  return OK;
}
