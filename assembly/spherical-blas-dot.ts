// BLAS sdot as NumPy's `x.dot(x)` (slerp's norms) and torch's float32 `torch.dot` (karcher) get it
// from OpenBLAS 0.3.21 on an AVX-512 machine (its SkylakeX kernel, which MergeKit's reference
// outputs were made with):
//   - the first n & -64 elements: 4 accumulators of 16 float32 lanes, element i in accumulator
//     (i / 16) % 4, lane i % 16, each step a fused multiply-add;
//   - each 16-lane accumulator folded to 8 lanes (low half + high half);
//   - up to n & -32: the same with 4 accumulators of 8 lanes;
//   - the accumulators summed ((a0 + a1) + a2) + a3, then lanes (0..3) + (4..7), then pairwise
//     (l0 + l1) + (l2 + l3);
//   - the last n % 32 products (rounded to float32) added in float64, the total rounded to float32.
import { OK } from "./convert";
import { fma32x4 } from "./spherical-fma";

// @ts-ignore: decorator
@inline function ld(p: usize, i: usize): v128 {
  return v128.load(p + (i << 2));
}

/** out[0] = sdot(x, y, n) (float32), computed as described above. */
export function blas_sdot(out: usize, x: usize, y: usize, n: usize): i32 {
  const n32 = n & ~(<usize>31);
  const n64 = n & ~(<usize>63);
  // 4 accumulators x 16 lanes = 16 vectors of 4 lanes; a<j><q> is accumulator j, lanes 4q..4q+3.
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a22 = f32x4.splat(0), a23 = f32x4.splat(0);
  let a30 = f32x4.splat(0), a31 = f32x4.splat(0), a32 = f32x4.splat(0), a33 = f32x4.splat(0);
  let i: usize = 0;
  for (; i < n64; i += 64) {
    a00 = fma32x4(ld(x, i), ld(y, i), a00); a01 = fma32x4(ld(x, i + 4), ld(y, i + 4), a01);
    a02 = fma32x4(ld(x, i + 8), ld(y, i + 8), a02); a03 = fma32x4(ld(x, i + 12), ld(y, i + 12), a03);
    a10 = fma32x4(ld(x, i + 16), ld(y, i + 16), a10); a11 = fma32x4(ld(x, i + 20), ld(y, i + 20), a11);
    a12 = fma32x4(ld(x, i + 24), ld(y, i + 24), a12); a13 = fma32x4(ld(x, i + 28), ld(y, i + 28), a13);
    a20 = fma32x4(ld(x, i + 32), ld(y, i + 32), a20); a21 = fma32x4(ld(x, i + 36), ld(y, i + 36), a21);
    a22 = fma32x4(ld(x, i + 40), ld(y, i + 40), a22); a23 = fma32x4(ld(x, i + 44), ld(y, i + 44), a23);
    a30 = fma32x4(ld(x, i + 48), ld(y, i + 48), a30); a31 = fma32x4(ld(x, i + 52), ld(y, i + 52), a31);
    a32 = fma32x4(ld(x, i + 56), ld(y, i + 56), a32); a33 = fma32x4(ld(x, i + 60), ld(y, i + 60), a33);
  }
  // fold 16 lanes to 8: b<j>0 = lanes 0..3, b<j>1 = lanes 4..7
  let b00 = f32x4.add(a00, a02), b01 = f32x4.add(a01, a03);
  let b10 = f32x4.add(a10, a12), b11 = f32x4.add(a11, a13);
  let b20 = f32x4.add(a20, a22), b21 = f32x4.add(a21, a23);
  let b30 = f32x4.add(a30, a32), b31 = f32x4.add(a31, a33);
  for (; i < n32; i += 32) {
    b00 = fma32x4(ld(x, i), ld(y, i), b00); b01 = fma32x4(ld(x, i + 4), ld(y, i + 4), b01);
    b10 = fma32x4(ld(x, i + 8), ld(y, i + 8), b10); b11 = fma32x4(ld(x, i + 12), ld(y, i + 12), b11);
    b20 = fma32x4(ld(x, i + 16), ld(y, i + 16), b20); b21 = fma32x4(ld(x, i + 20), ld(y, i + 20), b21);
    b30 = fma32x4(ld(x, i + 24), ld(y, i + 24), b30); b31 = fma32x4(ld(x, i + 28), ld(y, i + 28), b31);
  }
  let dot: f64 = 0;
  if (n32 > 0) {
    const s0 = f32x4.add(f32x4.add(f32x4.add(b00, b10), b20), b30);
    const s1 = f32x4.add(f32x4.add(f32x4.add(b01, b11), b21), b31);
    const h = f32x4.add(s0, s1);
    const l01 = f32x4.extract_lane(h, 0) + f32x4.extract_lane(h, 1);
    const l23 = f32x4.extract_lane(h, 2) + f32x4.extract_lane(h, 3);
    dot = <f64>(l01 + l23);
  }
  for (; i < n; i++) dot += <f64>(load<f32>(x + (i << 2)) * load<f32>(y + (i << 2)));
  store<f32>(out, <f32>dot);
  return OK;
}
