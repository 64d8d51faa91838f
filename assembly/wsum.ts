// Weighted sum of K working tensors, as torch computes `(w[:,None] * stack(xs)).sum(0)`:
// each product is rounded to the working dtype, the K products are accumulated in float32 in
// input order, and the total is rounded once.
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

const BLOCK: usize = 2048; // elements per block: the f32 accumulator stays in L1

/**
 * out[i] = R(sum_k R(w[k] * x_k[i])). `ptrs` holds K u32 pointers to f32 arrays, `ws` K f32
 * weights (already rounded to the working dtype). out may alias no input.
 */
export function wsum(out: usize, ptrs: usize, ws: usize, k: i32, n: usize, mode: i32): i32 {
  for (let b: usize = 0; b < n; b += BLOCK) {
    const end = min<usize>(n, b + BLOCK);
    for (let j = 0; j < k; j++) {
      const x = <usize>load<u32>(ptrs + (<usize>j << 2));
      const w = load<f32>(ws + (<usize>j << 2));
      const wv = f32x4.splat(w);
      let i = b;
      if (j == 0) {
        // torch's sum starts from +0, so an all -0 column sums to +0: add the first product to +0.
        const z = f32x4.splat(0);
        for (; i + 4 <= end; i += 4) v128.store(out + (i << 2), f32x4.add(z, roundModex4(f32x4.mul(v128.load(x + (i << 2)), wv), mode)));
        for (; i < end; i++) store<f32>(out + (i << 2), <f32>0 + roundMode(load<f32>(x + (i << 2)) * w, mode));
      } else {
        for (; i + 4 <= end; i += 4) {
          const p = roundModex4(f32x4.mul(v128.load(x + (i << 2)), wv), mode);
          v128.store(out + (i << 2), f32x4.add(v128.load(out + (i << 2)), p));
        }
        for (; i < end; i++) store<f32>(out + (i << 2), load<f32>(out + (i << 2)) + roundMode(load<f32>(x + (i << 2)) * w, mode));
      }
    }
    let i = b;
    for (; i + 4 <= end; i += 4) v128.store(out + (i << 2), roundModex4(v128.load(out + (i << 2)), mode));
    for (; i < end; i++) store<f32>(out + (i << 2), roundMode(load<f32>(out + (i << 2)), mode));
  }
  return OK;
}
