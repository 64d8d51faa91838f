// NumPy's float32 `np.sum(x * y)` (slerp's dot product of the unit vectors), NumPy 1.24:
// the reduction runs over buffers of 8192 elements, each summed pairwise, the buffer sums
// accumulated in float32 from 0. Pairwise sum of n products (numpy/core/src/umath/loops_utils.h):
//   n < 8: sequential from 0; n <= 128: 8 accumulators (element i in i % 8), combined
//   ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the n % 8 rest sequentially; otherwise split at
//   n2 = n/2 rounded down to a multiple of 8 and add the two halves' sums.
import { OK } from "./convert";

const NUMPY_BUFSIZE: usize = 8192;
const PW_BLOCKSIZE: usize = 128;

// @ts-ignore: decorator
@inline function prod(x: usize, y: usize, i: usize): f32 {
  return load<f32>(x + (i << 2)) * load<f32>(y + (i << 2));
}

function pairwise(x: usize, y: usize, n: usize): f32 {
  if (n < 8) {
    let r: f32 = 0;
    for (let i: usize = 0; i < n; i++) r += prod(x, y, i);
    return r;
  }
  if (n <= PW_BLOCKSIZE) {
    let r0 = f32x4.mul(v128.load(x), v128.load(y));
    let r1 = f32x4.mul(v128.load(x, 16), v128.load(y, 16));
    const end = n - (n & 7);
    let i: usize = 8;
    for (; i < end; i += 8) {
      r0 = f32x4.add(r0, f32x4.mul(v128.load(x + (i << 2)), v128.load(y + (i << 2))));
      r1 = f32x4.add(r1, f32x4.mul(v128.load(x + (i << 2), 16), v128.load(y + (i << 2), 16)));
    }
    let res = ((f32x4.extract_lane(r0, 0) + f32x4.extract_lane(r0, 1)) + (f32x4.extract_lane(r0, 2) + f32x4.extract_lane(r0, 3)))
      + ((f32x4.extract_lane(r1, 0) + f32x4.extract_lane(r1, 1)) + (f32x4.extract_lane(r1, 2) + f32x4.extract_lane(r1, 3)));
    for (; i < n; i++) res += prod(x, y, i);
    return res;
  }
  let n2 = n >> 1;
  n2 -= n2 & 7;
  return pairwise(x, y, n2) + pairwise(x + (n2 << 2), y + (n2 << 2), n - n2);
}

/** out[0] = NumPy's float32 sum of x[i]*y[i] over n elements. */
export function numpy_sum_prod(out: usize, x: usize, y: usize, n: usize): i32 {
  let acc: f32 = 0;
  for (let b: usize = 0; b < n; b += NUMPY_BUFSIZE) {
    const m = min<usize>(NUMPY_BUFSIZE, n - b);
    acc += pairwise(x + (b << 2), y + (b << 2), m);
  }
  store<f32>(out, acc);
  return OK;
}
