// Storage <-> working-buffer conversions. Working buffers are float32.
// dtype codes: 0 = F32, 1 = BF16, 2 = F16 (see src/kernels/abi.ts).
import { MODE_BF16, MODE_F16, roundMode, roundModex4, roundBf16, roundBf16x4, roundF16, roundF16x4 } from "./inline/round";
import { f16ToF32, f16ToF32x4, f32ToF16Exact, f32ToF16Exactx4 } from "./inline/f16";

export const OK: i32 = 0;
export const E_DTYPE: i32 = 1;

/** dst[i] = float32 value of src[i] stored as `dtype`; exact. src may be unaligned. */
export function decode(dst: usize, src: usize, dtype: i32, n: usize): i32 {
  let i: usize = 0;
  if (dtype == MODE_BF16) {
    for (; i + 4 <= n; i += 4) {
      v128.store(dst + (i << 2), i32x4.shl(v128.load16x4_u(src + (i << 1)), 16));
    }
    for (; i < n; i++) store<u32>(dst + (i << 2), (<u32>load<u16>(src + (i << 1))) << 16);
    return OK;
  }
  if (dtype == MODE_F16) {
    for (; i + 4 <= n; i += 4) {
      v128.store(dst + (i << 2), f16ToF32x4(v128.load16x4_u(src + (i << 1))));
    }
    for (; i < n; i++) store<f32>(dst + (i << 2), f16ToF32(<u32>load<u16>(src + (i << 1))));
    return OK;
  }
  if (dtype == 0) {
    memory.copy(dst, src, n << 2);
    return OK;
  }
  return E_DTYPE;
}

/** dst (stored as `dtype`) = src rounded to nearest even. dst may be unaligned. */
export function encode(dst: usize, src: usize, dtype: i32, n: usize): i32 {
  let i: usize = 0;
  if (dtype == MODE_BF16) {
    for (; i + 8 <= n; i += 8) {
      const a = i32x4.shr_u(roundBf16x4(v128.load(src + (i << 2))), 16);
      const b = i32x4.shr_u(roundBf16x4(v128.load(src + (i << 2), 16)), 16);
      v128.store(dst + (i << 1), i16x8.narrow_i32x4_u(a, b));
    }
    for (; i < n; i++) store<u16>(dst + (i << 1), <u16>(reinterpret<u32>(roundBf16(load<f32>(src + (i << 2)))) >> 16));
    return OK;
  }
  if (dtype == MODE_F16) {
    for (; i + 8 <= n; i += 8) {
      const a = f32ToF16Exactx4(roundF16x4(v128.load(src + (i << 2))));
      const b = f32ToF16Exactx4(roundF16x4(v128.load(src + (i << 2), 16)));
      v128.store(dst + (i << 1), i16x8.narrow_i32x4_u(a, b));
    }
    for (; i < n; i++) store<u16>(dst + (i << 1), <u16>f32ToF16Exact(roundF16(load<f32>(src + (i << 2)))));
    return OK;
  }
  if (dtype == 0) {
    memory.copy(dst, src, n << 2);
    return OK;
  }
  return E_DTYPE;
}

/** dst[i] = src[i] rounded to the working precision `mode` (in place allowed). */
export function round_to(dst: usize, src: usize, mode: i32, n: usize): i32 {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (i << 2), roundModex4(v128.load(src + (i << 2)), mode));
  for (; i < n; i++) store<f32>(dst + (i << 2), roundMode(load<f32>(src + (i << 2)), mode));
  return OK;
}
