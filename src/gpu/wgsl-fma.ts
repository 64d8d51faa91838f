// An exact float32 fused multiply-add in integer arithmetic, for the dot products that torch's and
// OpenBLAS's kernels compute with FMA chains (assembly/spherical-fma.ts emulates the same in
// float64). WGSL's fma() may or may not be fused, so it is not used.
//
// fma_x(a, b, c) = round_nearest_even(a*b + c) for normal (or zero) operands: the 48-bit product of
// the significands and c's significand are placed with their top bit at bit 61 of a 64-bit integer
// (vec2u: x = low word, y = high word), the smaller-exponent one shifted right (bits shifted out
// of it only below the other's lowest bit, kept as a sticky bit), added or subtracted, and rounded
// to 24 bits. Subnormal, infinite or NaN operands, and results below 2^-125 or overflowing, raise
// the inexact flag (the tensor is redone on the CPU), as the other arithmetic of wgsl-common.ts.
import { WGSL_MUL_WIDE } from "./wgsl-mul-wide.ts";

export const WGSL_FMA = /* wgsl */ `
fn u64_shl(v: vec2u, s: u32) -> vec2u {
  if (s == 0u) { return v; }
  if (s >= 64u) { return vec2u(0u, 0u); }
  if (s >= 32u) { return vec2u(0u, v.x << (s - 32u)); }
  return vec2u(v.x << s, (v.y << s) | (v.x >> (32u - s)));
}
fn u64_shr(v: vec2u, s: u32) -> vec2u {
  if (s == 0u) { return v; }
  if (s >= 64u) { return vec2u(0u, 0u); }
  if (s >= 32u) { return vec2u(v.y >> (s - 32u), 0u); }
  return vec2u((v.x >> s) | (v.y << (32u - s)), v.y >> s);
}
fn u64_add(a: vec2u, b: vec2u) -> vec2u {
  let lo = a.x + b.x;
  return vec2u(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}
fn u64_sub(a: vec2u, b: vec2u) -> vec2u {
  return vec2u(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}
fn u64_lt(a: vec2u, b: vec2u) -> bool { return a.y < b.y || (a.y == b.y && a.x < b.x); }
fn u64_zero(a: vec2u) -> bool { return a.x == 0u && a.y == 0u; }
// index of the highest set bit (a != 0)
fn u64_top(a: vec2u) -> u32 {
  if (a.y != 0u) { return 63u - countLeadingZeros(a.y); }
  return 31u - countLeadingZeros(a.x);
}
${WGSL_MUL_WIDE}
// sign | round((s + sticky) * 2^e) as a float32; s != 0
fn fma_pack(sign: u32, s: vec2u, e: i32, sticky: bool) -> f32 {
  let t = u64_top(s);
  var q: u32;
  var ex: i32;
  if (t <= 23u) {
    q = s.x << (23u - t);
    ex = e - i32(23u - t);
  } else {
    let sh = t - 23u;
    q = u64_shr(s, sh).x;
    let rem = u64_sub(s, u64_shl(u64_shr(s, sh), sh));
    let half = u64_shl(vec2u(1u, 0u), sh - 1u);
    let above = u64_lt(half, rem) || ((rem.x == half.x && rem.y == half.y) && (sticky || (q & 1u) == 1u));
    if (above) { q = q + 1u; }
    ex = e + i32(sh);
    if (q == 0x1000000u) { q = 0x800000u; ex = ex + 1; }
  }
  let biased = ex + 150;
  if (biased < 2 || biased >= 255) { raise_inexact(); return bitcast<f32>(sign); }
  return bitcast<f32>(sign | (u32(biased) << 23u) | (q & 0x7fffffu));
}

fn fma_x(a: f32, b: f32, c: f32) -> f32 {
  if (exceptional(a) || exceptional(b) || exceptional(c)) { raise_inexact(); return a * b + c; }
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let uc = bitcast<u32>(c);
  let sp = (ua ^ ub) & 0x80000000u;
  if (mag(a) == 0u || mag(b) == 0u) { return add(bitcast<f32>(sp), c); }
  let p = u32_mul_wide((ua & 0x7fffffu) | 0x800000u, (ub & 0x7fffffu) | 0x800000u);
  let tp = u64_top(p);
  let x = u64_shl(p, 61u - tp);
  let ex = i32((ua >> 23u) & 0xffu) + i32((ub >> 23u) & 0xffu) - 300 - i32(61u - tp);
  if (mag(c) == 0u) { return fma_pack(sp, x, ex, false); }
  let y = u64_shl(vec2u((uc & 0x7fffffu) | 0x800000u, 0u), 38u);
  let ey = i32((uc >> 23u) & 0xffu) - 188;
  let sc = uc & 0x80000000u;
  var big = x;
  var small = y;
  var eb = ex;
  var es = ey;
  var sb = sp;
  var ss = sc;
  if (ey > ex || (ey == ex && u64_lt(x, y))) {
    big = y; small = x; eb = ey; es = ex; sb = sc; ss = sp;
  }
  let d = u32(eb - es);
  var sticky = false;
  if (d > 0u) {
    let kept = u64_shr(small, d);
    sticky = !u64_zero(u64_sub(small, u64_shl(kept, d))) || d >= 64u;
    small = kept;
  }
  var s: vec2u;
  if (sb == ss) {
    s = u64_add(big, small);
  } else {
    s = u64_sub(big, small);
    if (sticky) { s = u64_sub(s, vec2u(1u, 0u)); }
  }
  if (u64_zero(s) && !sticky) { return zf(); }
  return fma_pack(sb, s, eb, sticky);
}
`;
