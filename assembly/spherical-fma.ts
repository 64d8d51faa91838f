// Exact float32 fused multiply-add, emulated in float64 (wasm has no fma instruction).
//
// torch's AVX2 kernels and OpenBLAS's sdot are compiled with FMA contraction, so their float32
// accumulators compute round32(a*b + c) with one rounding. The product of two float32 values is
// exact in float64; the float64 sum may round, so it is rounded to odd (Boldo & Melquiond: with
// 53 >= 2*24 + 2 bits, round-to-odd then round-to-nearest gives the correctly rounded result).

// @ts-ignore: decorator
@inline export function fma32(a: f32, b: f32, c: f32): f32 {
  const p = <f64>a * <f64>b;
  const q = <f64>c;
  const s = p + q;
  const bv = s - p;
  const e = (p - (s - bv)) + (q - bv);
  let bits = reinterpret<i64>(s);
  // e is NaN when s is not finite (inf/NaN inputs): then s is already the fma's result.
  if (e != 0 && e == e && (bits & 1) == 0) bits += (bits ^ reinterpret<i64>(e)) < 0 ? -1 : 1;
  return <f32>reinterpret<f64>(bits);
}

// Two lanes of fma32 on float64 lanes holding float32 values; returns the rounded-to-odd sums.
// @ts-ignore: decorator
@inline function fmaOdd2(a: v128, b: v128, c: v128): v128 {
  const p = f64x2.mul(a, b);
  const s = f64x2.add(p, c);
  const bv = f64x2.sub(s, p);
  const e = f64x2.add(f64x2.sub(p, f64x2.sub(s, bv)), f64x2.sub(c, bv));
  const inexact = v128.and(f64x2.ne(e, f64x2.splat(0)), f64x2.eq(e, e)); // NaN e: s not finite, keep it
  const even = i64x2.eq(v128.and(s, i64x2.splat(1)), i64x2.splat(0));
  const away = i64x2.shr_s(v128.xor(s, e), 63); // 0 when e has the sign of s, -1 otherwise
  const adj = i64x2.add(i64x2.shl(away, 1), i64x2.splat(1));
  return i64x2.add(s, v128.and(adj, v128.and(inexact, even)));
}

/** Four lanes of fma32(a, b, c). */
// @ts-ignore: decorator
@inline export function fma32x4(a: v128, b: v128, c: v128): v128 {
  const lo = fmaOdd2(f64x2.promote_low_f32x4(a), f64x2.promote_low_f32x4(b), f64x2.promote_low_f32x4(c));
  const ah = v128.shuffle<f32>(a, a, 2, 3, 2, 3);
  const bh = v128.shuffle<f32>(b, b, 2, 3, 2, 3);
  const ch = v128.shuffle<f32>(c, c, 2, 3, 2, 3);
  const hi = fmaOdd2(f64x2.promote_low_f32x4(ah), f64x2.promote_low_f32x4(bh), f64x2.promote_low_f32x4(ch));
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}
