// Exact conversions between IEEE half-precision bits and float32 (scalar and 4-lane).

// @ts-ignore: decorator
@inline export function f16ToF32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e == 0) {
    // zero or subnormal: m * 2^-24 is exact in f32
    return reinterpret<f32>(reinterpret<u32>(<f32>m * 5.9604644775390625e-8) | sign);
  }
  if (e == 31) return reinterpret<f32>(sign | 0x7f800000 | (m << 13));
  return reinterpret<f32>(sign | ((e + 112) << 23) | (m << 13));
}

// x must already be representable in f16 (see roundF16); NaN maps to a quiet NaN.
// @ts-ignore: decorator
@inline export function f32ToF16Exact(x: f32): u32 {
  const b = reinterpret<u32>(x);
  const sign = (b >> 16) & 0x8000;
  const a = b & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >> 13) & 0x3ff);
  if (a == 0x7f800000) return sign | 0x7c00;
  if (a >= 0x38800000) return sign | ((a - 0x38000000) >> 13);
  return sign | <u32>(reinterpret<f32>(a) * 16777216.0);
}

// @ts-ignore: decorator
@inline export function f16ToF32x4(h: v128): v128 {
  // h: four u32 lanes holding f16 bits
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const em = v128.and(h, i32x4.splat(0x7fff));
  const e = v128.and(h, i32x4.splat(0x7c00));
  const normal = i32x4.add(i32x4.shl(em, 13), i32x4.splat(112 << 23));
  const special = v128.or(i32x4.shl(em, 13), i32x4.splat(0x7f800000));
  const sub = f32x4.mul(f32x4.convert_i32x4_u(em), f32x4.splat(5.9604644775390625e-8));
  let r = v128.bitselect(special, normal, i32x4.eq(e, i32x4.splat(0x7c00)));
  r = v128.bitselect(sub, r, i32x4.eq(e, i32x4.splat(0)));
  return v128.or(r, sign);
}

// @ts-ignore: decorator
@inline export function f32ToF16Exactx4(x: v128): v128 {
  const sign = v128.and(i32x4.shr_u(x, 16), i32x4.splat(0x8000));
  const a = v128.and(x, i32x4.splat(0x7fffffff));
  const nan = v128.or(i32x4.splat(0x7e00), v128.and(i32x4.shr_u(a, 13), i32x4.splat(0x3ff)));
  const normal = i32x4.shr_u(i32x4.sub(a, i32x4.splat(0x38000000)), 13);
  const sub = i32x4.trunc_sat_f32x4_u(f32x4.mul(a, f32x4.splat(16777216.0)));
  let r = v128.bitselect(normal, sub, i32x4.ge_u(a, i32x4.splat(0x38800000)));
  r = v128.bitselect(i32x4.splat(0x7c00), r, i32x4.eq(a, i32x4.splat(0x7f800000)));
  r = v128.bitselect(nan, r, i32x4.gt_u(a, i32x4.splat(0x7f800000)));
  return v128.or(r, sign);
}
