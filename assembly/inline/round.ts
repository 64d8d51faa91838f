// Rounding of float32 values to the precision of a narrower working dtype, staying in float32.
//
// torch's CPU kernels compute bf16/f16 elementwise ops in float32 and round every result back to
// the tensor dtype (round-to-nearest-even). The kernels emulate that by keeping working tensors as
// float32 arrays whose values are exactly representable in the working dtype, and by rounding
// every op's result with these helpers. MODE_F32 is the identity.

export const MODE_F32: i32 = 0;
export const MODE_BF16: i32 = 1;
export const MODE_F16: i32 = 2;
/**
 * Kernel-internal (never a host dtype code): bfloat16 rounding without roundBf16's NaN branch,
 * for values known to be no NaN or a canonical one (assembly/gta-final-bf16.ts says when); the
 * scalar roundMode treats it as MODE_BF16.
 */
export const MODE_BF16_FAST: i32 = 3;

// Smallest f16 normal (2^-14) and the first magnitude that rounds to f16 infinity (65504 + 16).
const F16_MIN_NORMAL: f32 = 6.103515625e-5;
const F16_OVERFLOW: f32 = 65520.0;

// @ts-ignore: decorator
@inline export function roundBf16(x: f32): f32 {
  const b = reinterpret<u32>(x);
  if (x != x) return reinterpret<f32>((b | 0x00400000) & 0xffff0000); // quiet NaN, keep sign
  return reinterpret<f32>((b + 0x7fff + ((b >> 16) & 1)) & 0xffff0000);
}

// @ts-ignore: decorator
@inline export function roundF16(x: f32): f32 {
  if (x != x) return x;
  const a = abs<f32>(x);
  if (a >= F16_OVERFLOW) return copysign<f32>(Infinity, x);
  if (a < F16_MIN_NORMAL) {
    // Below the normal range the f16 quantum is 2^-24; adding 0.5 puts x where the f32 ulp is
    // 2^-24, so the add rounds x to that quantum (ties to even), and the subtract is exact.
    const m = copysign<f32>(0.5, x);
    return copysign<f32>((x + m) - m, x);
  }
  const b = reinterpret<u32>(x);
  return reinterpret<f32>((b + 0x0fff + ((b >> 13) & 1)) & 0xffffe000);
}

// @ts-ignore: decorator
@inline export function roundMode(x: f32, mode: i32): f32 {
  if (mode == MODE_BF16 || mode == MODE_BF16_FAST) return roundBf16(x);
  if (mode == MODE_F16) return roundF16(x);
  return x;
}

// @ts-ignore: decorator
@inline export function roundBf16x4(v: v128): v128 {
  const lsb = v128.and(i32x4.shr_u(v, 16), i32x4.splat(1));
  const r = v128.and(i32x4.add(i32x4.add(v, i32x4.splat(0x7fff)), lsb), i32x4.splat(0xffff0000));
  const q = v128.and(v128.or(v, i32x4.splat(0x00400000)), i32x4.splat(0xffff0000));
  return v128.bitselect(q, r, f32x4.ne(v, v));
}

// @ts-ignore: decorator
@inline export function roundF16x4(v: v128): v128 {
  const a = f32x4.abs(v);
  const lsb = v128.and(i32x4.shr_u(v, 13), i32x4.splat(1));
  const normal = v128.and(i32x4.add(i32x4.add(v, i32x4.splat(0x0fff)), lsb), i32x4.splat(0xffffe000));
  const sign = v128.and(v, i32x4.splat(0x80000000));
  const half = v128.or(f32x4.splat(0.5), sign);
  const sub = v128.or(f32x4.sub(f32x4.add(v, half), half), sign);
  const inf = v128.or(f32x4.splat(Infinity), sign);
  let r = v128.bitselect(sub, normal, f32x4.lt(a, f32x4.splat(F16_MIN_NORMAL)));
  r = v128.bitselect(inf, r, f32x4.ge(a, f32x4.splat(F16_OVERFLOW)));
  return v128.bitselect(v, r, f32x4.ne(v, v));
}

// @ts-ignore: decorator
@inline export function roundBf16Fastx4(v: v128): v128 {
  const lsb = v128.and(i32x4.shr_u(v, 16), i32x4.splat(1));
  return v128.and(i32x4.add(i32x4.add(v, i32x4.splat(0x7fff)), lsb), i32x4.splat(0xffff0000));
}

// @ts-ignore: decorator
@inline export function roundModex4(v: v128, mode: i32): v128 {
  if (mode == MODE_BF16) return roundBf16x4(v);
  if (mode == MODE_BF16_FAST) return roundBf16Fastx4(v);
  if (mode == MODE_F16) return roundF16x4(v);
  return v;
}
