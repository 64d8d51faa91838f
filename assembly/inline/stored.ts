// Loading and storing 4 or 8 elements of a stored dtype (F32 / BF16 / F16) as float32 lanes, for
// kernels that read checkpoint bytes and write output bytes in the same pass.
import { MODE_BF16, MODE_F16, roundBf16, roundBf16x4, roundF16, roundF16x4 } from "./round";
import { f16ToF32, f16ToF32x4, f32ToF16Exact, f32ToF16Exactx4 } from "./f16";

// @ts-ignore: decorator
@inline export function loadStored4(src: usize, i: usize, dtype: i32): v128 {
  if (dtype == MODE_BF16) return i32x4.shl(v128.load16x4_u(src + (i << 1)), 16);
  if (dtype == MODE_F16) return f16ToF32x4(v128.load16x4_u(src + (i << 1)));
  return v128.load(src + (i << 2));
}

// @ts-ignore: decorator
@inline export function loadStored1(src: usize, i: usize, dtype: i32): f32 {
  if (dtype == MODE_BF16) return reinterpret<f32>((<u32>load<u16>(src + (i << 1))) << 16);
  if (dtype == MODE_F16) return f16ToF32(<u32>load<u16>(src + (i << 1)));
  return load<f32>(src + (i << 2));
}

/** Stores 8 float32 lanes (a, b) as `dtype`, rounding to nearest even. */
// @ts-ignore: decorator
@inline export function storeStored8(dst: usize, i: usize, a: v128, b: v128, dtype: i32): void {
  if (dtype == MODE_BF16) {
    v128.store(dst + (i << 1), i16x8.narrow_i32x4_u(i32x4.shr_u(roundBf16x4(a), 16), i32x4.shr_u(roundBf16x4(b), 16)));
  } else if (dtype == MODE_F16) {
    v128.store(dst + (i << 1), i16x8.narrow_i32x4_u(f32ToF16Exactx4(roundF16x4(a)), f32ToF16Exactx4(roundF16x4(b))));
  } else {
    v128.store(dst + (i << 2), a);
    v128.store(dst + (i << 2), b, 16);
  }
}

// @ts-ignore: decorator
@inline export function storeStored1(dst: usize, i: usize, x: f32, dtype: i32): void {
  if (dtype == MODE_BF16) store<u16>(dst + (i << 1), <u16>(reinterpret<u32>(roundBf16(x)) >> 16));
  else if (dtype == MODE_F16) store<u16>(dst + (i << 1), <u16>f32ToF16Exact(roundF16(x)));
  else store<f32>(dst + (i << 2), x);
}
