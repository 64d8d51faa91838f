// 2-norms the way torch 1.13's CPU kernels (AVX2 build) compute them, one result per vector,
// rounded to the working dtype (torch returns the norm in the tensor's dtype).
//
// torch_norm_rows: vectors along the contiguous last dimension (torch.norm(x, dim=-1), and the whole
// tensor when flattened; torch.linalg.norm(x.float())). torch's vectorised last-dim path: an
// 8-lane float32 accumulator takes fused multiply-adds of whole vectors (8 float32 values, or
// 16 bf16/f16 values as two halves of 8), its lanes are then added in order 0..7, the remaining
// size % width elements are added as rounded products (not fused), and the float32 square root is
// rounded to the dtype. This is bit-exact for a single vector (whole-tensor norms); for a matrix
// of several rows torch's float32 results differ from it in the last bit for some rows (a
// different per-row kernel that was not pinned down), which only shows in float32 working dtype.
//
// torch_norm_cols: vectors along dimension 0 (nuslerp's row_wise: x.transpose(0, -1) reduced over its
// last, strided, dimension). torch's generic reduction accumulates each vector in order: float32
// with fused multiply-adds, or, with `roundAcc` (bf16, whose generic accumulator type is bf16),
// every product and every partial sum rounded to the dtype.
import { OK } from "./convert";
import { roundMode, roundModex4 } from "./inline/round";
import { fma32, fma32x4 } from "./spherical-fma";

/** out[r] = R(||x[r, :]||) for r < rows; x is rows x cols, row-major. */
export function torch_norm_rows(out: usize, x: usize, rows: usize, cols: usize, mode: i32): i32 {
  const width: usize = mode == 0 ? 8 : 16;
  const full = cols - cols % width;
  for (let r: usize = 0; r < rows; r++) {
    const row = x + ((r * cols) << 2);
    let lo = f32x4.splat(0);
    let hi = f32x4.splat(0);
    for (let d: usize = 0; d < full; d += 8) {
      const a = v128.load(row + (d << 2));
      const b = v128.load(row + (d << 2), 16);
      lo = fma32x4(a, a, lo);
      hi = fma32x4(b, b, hi);
    }
    let acc = f32x4.extract_lane(lo, 0);
    acc += f32x4.extract_lane(lo, 1);
    acc += f32x4.extract_lane(lo, 2);
    acc += f32x4.extract_lane(lo, 3);
    acc += f32x4.extract_lane(hi, 0);
    acc += f32x4.extract_lane(hi, 1);
    acc += f32x4.extract_lane(hi, 2);
    acc += f32x4.extract_lane(hi, 3);
    for (let d = full; d < cols; d++) {
      const v = load<f32>(row + (d << 2));
      acc += v * v;
    }
    store<f32>(out + (r << 2), roundMode(sqrt<f32>(acc), mode));
  }
  return OK;
}

// One column block: `lanes` of 4 columns each (1..4), swept once over all rows.
// @ts-ignore: decorator
@inline function step4(acc: v128, v: v128, mode: i32, roundAcc: i32): v128 {
  return roundAcc ? roundModex4(f32x4.add(acc, roundModex4(f32x4.mul(v, v), mode)), mode) : fma32x4(v, v, acc);
}

/** out[c] = R(||x[:, c]||) for c < cols; x is rows x cols, row-major. */
export function torch_norm_cols(out: usize, x: usize, rows: usize, cols: usize, mode: i32, roundAcc: i32): i32 {
  let c: usize = 0;
  // 16 columns per sweep over the rows (each lane is one column's sequential accumulator)
  for (; c + 16 <= cols; c += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let r: usize = 0; r < rows; r++) {
      const p = x + ((r * cols + c) << 2);
      a0 = step4(a0, v128.load(p), mode, roundAcc);
      a1 = step4(a1, v128.load(p, 16), mode, roundAcc);
      a2 = step4(a2, v128.load(p, 32), mode, roundAcc);
      a3 = step4(a3, v128.load(p, 48), mode, roundAcc);
    }
    const o = out + (c << 2);
    v128.store(o, a0);
    v128.store(o, a1, 16);
    v128.store(o, a2, 32);
    v128.store(o, a3, 48);
  }
  for (; c + 4 <= cols; c += 4) {
    let acc = f32x4.splat(0);
    for (let r: usize = 0; r < rows; r++) acc = step4(acc, v128.load(x + ((r * cols + c) << 2)), mode, roundAcc);
    v128.store(out + (c << 2), acc);
  }
  for (; c < cols; c++) {
    let acc: f32 = 0;
    for (let r: usize = 0; r < rows; r++) {
      const v = load<f32>(x + ((r * cols + c) << 2));
      acc = roundAcc ? roundMode(acc + roundMode(v * v, mode), mode) : fma32(v, v, acc);
    }
    store<f32>(out + (c << 2), acc);
  }
  for (c = 0; c < cols; c++) store<f32>(out + (c << 2), roundMode(sqrt<f32>(load<f32>(out + (c << 2))), mode));
  return OK;
}
