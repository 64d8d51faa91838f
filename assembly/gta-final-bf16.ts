// The final step of a streamed task-arithmetic-family merge (src/methods/gta/stream.ts) in one
// pass over bfloat16 memory, for the common case: base, task vectors (or the models' weights),
// working dtype and output all bfloat16, each task vector unmasked or rank-masked, no rescale.
// The same bytes as the composition it replaces:
//   b   = decode(base)
//   d_m = decode(in_m)                                   (kept task vectors: fromWeights == 0)
//   d_m = task_vector_stored(in_m, BF16, b, MODE_BF16)   (the models' weights: R(x_m - b))
//   d_m = rank_mask_apply(d_m, sel_m, counts_m)          (ranked[m] != 0)
//   out = encode(gta_combine(b, d, ws, MODE_BF16, flags, div, lambda), BF16)
// with no float32 buffer in between. Vector and scalar code cover the same elements as in the
// composition (groups of 4 from element 0, then a scalar tail of n % 4), so even the kernels'
// vector/scalar differences (rank_mask_apply's SEL_NONE next to SEL_LO) carry over.
//
// Three steps are cheaper than in the composition and give the same bits:
//  1. Rounding without roundBf16's NaN branch ("fast") in blocks whose inputs (base and the K
//     inputs) hold no NaN, when the constants used (weights; div without consensus under
//     GTA_NORMALIZE; lambda under GTA_LAMBDA) are not NaN either. Every NaN that arises then comes
//     from operands that are not NaN (inf - inf, inf * 0, 0 / 0, inf / inf), for which WebAssembly
//     gives a canonical NaN (payload 0x400000, low 16 bits zero), as it does for every later op
//     whose NaN operands are all canonical. On such a NaN, and on every value that is not NaN,
//     the fast rounding gives roundBf16's bits. A block (BLOCK elements) runs fast while noting
//     its inputs' largest magnitude, and runs again with roundBf16 from the same ordinals when one
//     was NaN (for K > 4 its inputs are scanned first instead).
//  2. The majority sign from the unrounded sum: R(tot) >= 0 exactly when tot >= 0. Every term is
//     a bfloat16 value or NaN, so every partial sum is a multiple of 2^-133 (the least bfloat16
//     subnormal; a float32 below 2^-110 in magnitude holds such a sum exactly, one above is a
//     multiple of its ulp >= 2^-133). A nonzero tot is then at least 2^-133 in magnitude, and R,
//     monotone with 2^-133 representable, keeps it nonzero with its sign; R(±0) = ±0; NaN and
//     infinities compare the same before and after R.
//  3. No rounding in the encode: the combine's result is rounded already and R is idempotent
//     (a rounded NaN is quiet with zero low bits, which R keeps).
import { MODE_BF16, MODE_BF16_FAST, roundBf16, roundModex4 } from "./inline/round";
import { addMasked, divisor4, finish4, keep4, mix4, ptrAt, wAt } from "./inline/gta-mix";
import { keptEqual } from "./select-rank-stream";
import { OK } from "./convert";

// gta_combine flags (mirrored in src/kernels/abi-gta.ts)
const GTA_CONSENSUS: i32 = 1;
const GTA_NORMALIZE: i32 = 2;
const GTA_LAMBDA: i32 = 4;

// rank_mask selection flags and words (mirrored in src/kernels/abi-gta.ts)
const SEL_LO: u32 = 1;
const SEL_HI: u32 = 2;
const SEL_NONE: u32 = 4;
const SEL_BYTES: usize = 7 * 4;

const ABS: u32 = 0x7fffffff;

/** Elements per block: what is computed again when an input is NaN (1. above). */
const BLOCK: usize = 2048;

// @ts-ignore: decorator
@inline function selAt(sel: usize, m: i32): usize {
  return sel + <usize>m * SEL_BYTES;
}

// @ts-ignore: decorator
@inline function cntAt(counts: usize, m: i32): usize {
  return counts + (<usize>m << 3);
}

// @ts-ignore: decorator
@inline function rankedAt(ranked: usize, m: i32): bool {
  return load<u32>(ranked + (<usize>m << 2)) != 0;
}

/** Four bfloat16 values at element i of p as float32 lanes (decode). */
// @ts-ignore: decorator
@inline function load4(p: usize, i: usize): v128 {
  return i32x4.shl(v128.load16x4_u(p + (i << 1)), 16);
}

// @ts-ignore: decorator
@inline function load1(p: usize, i: usize): f32 {
  return reinterpret<f32>((<u32>load<u16>(p + (i << 1))) << 16);
}

/** The rounding mode of a run: roundBf16x4, or without its NaN branch (MODE_BF16_FAST, 1. above). */
// @ts-ignore: decorator
@inline function rm(exact: bool): i32 {
  return exact ? MODE_BF16 : MODE_BF16_FAST;
}

// @ts-ignore: decorator
@inline function rnd(v: v128, exact: bool): v128 {
  return roundModex4(v, rm(exact));
}

/** The bfloat16 bits of R(v) in the low half of each lane. */
// @ts-ignore: decorator
@inline function bf16Bits4(v: v128, exact: bool): v128 {
  return i32x4.shr_u(rnd(v, exact), 16);
}

/** Stores four bfloat16 values (bf16Bits4 lanes) at element i of p. */
// @ts-ignore: decorator
@inline function store4(p: usize, i: usize, bits: v128): void {
  store<u64>(p + (i << 1), i64x2.extract_lane(i16x8.narrow_i32x4_u(bits, bits), 0));
}

/**
 * rank_mask_apply's vector step on four task-vector values: d * (1.0 or 0.0), the ordinals of
 * boundary-equal values read from `cnt` and, with `advance`, moved past these four.
 */
// @ts-ignore: decorator
@inline function rankMask4(d: v128, flags: u32, kLoV: v128, kHiV: v128, loFromV: v128, loToV: v128, hiFromV: v128, hiToV: v128, cnt: usize, advance: bool): v128 {
  const k = v128.and(d, i32x4.splat(ABS));
  // SEL_NONE only matters without SEL_LO, as in rank_mask_apply's vector loop
  let keep: v128;
  if (flags & SEL_LO) {
    let ok = i32x4.gt_s(k, kLoV);
    const eq = i32x4.eq(k, kLoV);
    const eqBits = i32x4.bitmask(eq);
    if (eqBits != 0) {
      const c = load<u32>(cnt);
      ok = v128.or(ok, keptEqual(eq, c, loFromV, loToV));
      if (advance) store<u32>(cnt, c + <u32>popcnt<i32>(eqBits));
    }
    keep = ok;
  } else {
    keep = i32x4.splat((flags & SEL_NONE) != 0 ? 0 : -1);
  }
  if (flags & SEL_HI) {
    let ok = i32x4.lt_s(k, kHiV);
    const eq = i32x4.eq(k, kHiV);
    const eqBits = i32x4.bitmask(eq);
    if (eqBits != 0) {
      const c = load<u32>(cnt, 4);
      ok = v128.or(ok, keptEqual(eq, c, hiFromV, hiToV));
      if (advance) store<u32>(cnt, c + <u32>popcnt<i32>(eqBits), 4);
    }
    keep = v128.and(keep, ok);
  }
  return f32x4.mul(d, v128.and(keep, f32x4.splat(1)));
}

/** rankMask4 with the selection read from memory (the loop for any K). */
// @ts-ignore: decorator
@inline function rankMaskAt4(d: v128, s: usize, cnt: usize, advance: bool): v128 {
  return rankMask4(d, load<u32>(s), i32x4.splat(load<u32>(s, 4)), i32x4.splat(load<u32>(s, 8)), i32x4.splat(load<u32>(s, 12)), i32x4.splat(load<u32>(s, 16)), i32x4.splat(load<u32>(s, 20)), i32x4.splat(load<u32>(s, 24)), cnt, advance);
}

/** rank_mask_apply's scalar step on one value. */
// @ts-ignore: decorator
@inline function rankMask1(v: f32, s: usize, cnt: usize, advance: bool): f32 {
  const flags = load<u32>(s);
  const hasLo = (flags & SEL_LO) != 0;
  const hasHi = (flags & SEL_HI) != 0;
  const kLo = load<u32>(s, 4);
  const kHi = load<u32>(s, 8);
  const cLo = load<u32>(cnt);
  const cHi = load<u32>(cnt, 4);
  const kj = reinterpret<u32>(v) & ABS;
  const okLo = !hasLo || kj > kLo || (kj == kLo && cLo >= load<u32>(s, 12) && cLo < load<u32>(s, 16));
  const okHi = !hasHi || kj < kHi || (kj == kHi && cHi >= load<u32>(s, 20) && cHi < load<u32>(s, 24));
  const m: f32 = (flags & SEL_NONE) == 0 && okLo && okHi ? 1 : 0;
  if (advance) {
    if (hasLo && kj == kLo) store<u32>(cnt, cLo + 1);
    if (hasHi && kj == kHi) store<u32>(cnt, cHi + 1, 4);
  }
  return v * m;
}

/** The (masked) task vector of input m at four elements: decoded, or R(x - b) from weights. */
// @ts-ignore: decorator
@inline function tvAt4(inputs: usize, m: i32, i: usize, b: v128, fromWeights: bool, ranked: usize, sel: usize, counts: usize, exact: bool, advance: bool): v128 {
  let d = load4(ptrAt(inputs, m), i);
  if (fromWeights) d = rnd(f32x4.sub(d, b), exact);
  if (rankedAt(ranked, m)) d = rankMaskAt4(d, selAt(sel, m), cntAt(counts, m), advance);
  return d;
}

// @ts-ignore: decorator
@inline function tvAt1(inputs: usize, m: i32, i: usize, b: f32, fromWeights: bool, ranked: usize, sel: usize, counts: usize, advance: bool): f32 {
  let d = load1(ptrAt(inputs, m), i);
  if (fromWeights) d = roundBf16(d - b);
  if (rankedAt(ranked, m)) d = rankMask1(d, selAt(sel, m), cntAt(counts, m), advance);
  return d;
}

/** Whether any of the bfloat16 values [s, e) of p is NaN. */
// @ts-ignore: decorator
@inline function hasNaN(p: usize, s: usize, e: usize): bool {
  const absv = i16x8.splat(0x7fff);
  let top = i16x8.splat(0);
  let i = s;
  for (; i + 8 <= e; i += 8) top = i16x8.max_u(top, v128.and(v128.load(p + (i << 1)), absv));
  if (v128.any_true(i16x8.gt_u(top, i16x8.splat(0x7f80)))) return true;
  for (; i < e; i++) {
    if ((<u32>load<u16>(p + (i << 1)) & 0x7fff) > 0x7f80) return true;
  }
  return false;
}

/**
 * out (bfloat16) = the final step above over n elements. base, out and the K inputs (`inputs`:
 * K u32 pointers) are bfloat16 and may be unaligned; out must not overlap an input. fromWeights
 * != 0: the inputs are the models' weights, else their task vectors. `ranked` (K u32): nonzero
 * where task vector m is masked by selection m of `sel` (K x 7 u32, rank_mask's words) with the
 * running ordinals `counts` (K x 2 u32), which are advanced past the n elements as rank_mask_apply
 * advances them. ws (K f32), flags, div and lambda as gta_combine's, whose mode is MODE_BF16.
 */
export function gta_final_bf16(out: usize, base: usize, inputs: usize, fromWeights: i32, ws: usize, k: i32, n: usize, ranked: usize, sel: usize, counts: usize, flags: i32, div: f32, lambda: f32): i32 {
  const raw = fromWeights != 0;
  const consensus = (flags & GTA_CONSENSUS) != 0;
  let constNaN = (!consensus && (flags & GTA_NORMALIZE) != 0 && isNaN(div)) || ((flags & GTA_LAMBDA) != 0 && isNaN(lambda));
  for (let m = 0; m < k; m++) constNaN = constNaN || isNaN(wAt(ws, m));
  for (let s: usize = 0; s < n; s += BLOCK) {
    const e = min(n, s + BLOCK);
    const e4 = s + ((e - s) & ~(<usize>3));
    if (k == 1) blockSmall(out, base, inputs, raw, ws, 1, ranked, sel, counts, flags, div, lambda, s, e4, constNaN);
    else if (k == 2) blockSmall(out, base, inputs, raw, ws, 2, ranked, sel, counts, flags, div, lambda, s, e4, constNaN);
    else if (k == 3) blockSmall(out, base, inputs, raw, ws, 3, ranked, sel, counts, flags, div, lambda, s, e4, constNaN);
    else if (k == 4) blockSmall(out, base, inputs, raw, ws, 4, ranked, sel, counts, flags, div, lambda, s, e4, constNaN);
    else {
      // K > 4: the inputs scanned for NaN first (no room to keep K pairs of ordinals for a second run)
      let exact = constNaN || hasNaN(base, s, e);
      for (let m = 0; m < k && !exact; m++) exact = hasNaN(ptrAt(inputs, m), s, e);
      if (exact) anyK(out, base, inputs, raw, ws, k, ranked, sel, counts, flags, div, lambda, s, e4, true);
      else anyK(out, base, inputs, raw, ws, k, ranked, sel, counts, flags, div, lambda, s, e4, false);
    }
    scalars(out, base, inputs, raw, ws, k, ranked, sel, counts, flags, div, lambda, e4, e);
  }
  return OK;
}

/**
 * Groups of four [s, e4) for a constant K <= 4: with the fast rounding, then again with roundBf16
 * from the same ordinals when an input was NaN (out overlaps no input, so the second run reads
 * what the first did).
 */
// @ts-ignore: decorator
@inline function blockSmall(out: usize, base: usize, inputs: usize, raw: bool, ws: usize, K: i32, ranked: usize, sel: usize, counts: usize, flags: i32, div: f32, lambda: f32, s: usize, e4: usize, constNaN: bool): void {
  if (constNaN) {
    small(out, base, inputs, raw, ws, K, ranked, sel, counts, flags, div, lambda, s, e4, true);
    return;
  }
  const s0 = load<u64>(cntAt(counts, 0));
  const s1 = K > 1 ? load<u64>(cntAt(counts, 1)) : 0;
  const s2 = K > 2 ? load<u64>(cntAt(counts, 2)) : 0;
  const s3 = K > 3 ? load<u64>(cntAt(counts, 3)) : 0;
  if (small(out, base, inputs, raw, ws, K, ranked, sel, counts, flags, div, lambda, s, e4, false)) {
    store<u64>(cntAt(counts, 0), s0);
    if (K > 1) store<u64>(cntAt(counts, 1), s1);
    if (K > 2) store<u64>(cntAt(counts, 2), s2);
    if (K > 3) store<u64>(cntAt(counts, 3), s3);
    small(out, base, inputs, raw, ws, K, ranked, sel, counts, flags, div, lambda, s, e4, true);
  }
}

/** One task vector's masked values in the K <= 4 loop, its selection in locals. */
// @ts-ignore: decorator
@inline function tvSmall4(x: v128, b: v128, raw: bool, exact: bool, rk: bool, f: u32, kLoV: v128, kHiV: v128, loFromV: v128, loToV: v128, hiFromV: v128, hiToV: v128, cnt: usize): v128 {
  let d = x;
  if (raw) d = rnd(f32x4.sub(d, b), exact);
  if (rk) d = rankMask4(d, f, kLoV, kHiV, loFromV, loToV, hiFromV, hiToV, cnt, true);
  return d;
}

// @ts-ignore: decorator
@inline function selWord(sel: usize, m: i32, w: usize): v128 {
  return i32x4.splat(load<u32>(selAt(sel, m) + (w << 2)));
}

/**
 * The loop for a constant K <= 4 (after inlining): pointers, weights and selections in locals,
 * each weighted task vector computed once (gta_combine's combineSmall). Returns whether an input
 * (base or x_m) held a NaN.
 */
// @ts-ignore: decorator
@inline function small(out: usize, base: usize, inputs: usize, raw: bool, ws: usize, K: i32, ranked: usize, sel: usize, counts: usize, flags: i32, div: f32, lambda: f32, s: usize, e4: usize, exact: bool): bool {
  const consensus = (flags & GTA_CONSENSUS) != 0;
  const normalize = (flags & GTA_NORMALIZE) != 0;
  const scale = (flags & GTA_LAMBDA) != 0;
  const zero = f32x4.splat(0);
  const divV = f32x4.splat(div);
  const lamV = f32x4.splat(lambda);
  const p0 = ptrAt(inputs, 0);
  const p1 = K > 1 ? ptrAt(inputs, 1) : p0;
  const p2 = K > 2 ? ptrAt(inputs, 2) : p0;
  const p3 = K > 3 ? ptrAt(inputs, 3) : p0;
  const w0 = f32x4.splat(wAt(ws, 0));
  const w1 = f32x4.splat(K > 1 ? wAt(ws, 1) : 0);
  const w2 = f32x4.splat(K > 2 ? wAt(ws, 2) : 0);
  const w3 = f32x4.splat(K > 3 ? wAt(ws, 3) : 0);
  const r0 = rankedAt(ranked, 0);
  const r1 = K > 1 && rankedAt(ranked, 1);
  const r2 = K > 2 && rankedAt(ranked, 2);
  const r3 = K > 3 && rankedAt(ranked, 3);
  const m1 = K > 1 ? 1 : 0;
  const m2 = K > 2 ? 2 : 0;
  const m3 = K > 3 ? 3 : 0;
  const f0 = load<u32>(selAt(sel, 0));
  const f1 = load<u32>(selAt(sel, m1));
  const f2 = load<u32>(selAt(sel, m2));
  const f3 = load<u32>(selAt(sel, m3));
  const kLo0 = selWord(sel, 0, 1), kHi0 = selWord(sel, 0, 2), lf0 = selWord(sel, 0, 3), lt0 = selWord(sel, 0, 4), hf0 = selWord(sel, 0, 5), ht0 = selWord(sel, 0, 6);
  const kLo1 = selWord(sel, m1, 1), kHi1 = selWord(sel, m1, 2), lf1 = selWord(sel, m1, 3), lt1 = selWord(sel, m1, 4), hf1 = selWord(sel, m1, 5), ht1 = selWord(sel, m1, 6);
  const kLo2 = selWord(sel, m2, 1), kHi2 = selWord(sel, m2, 2), lf2 = selWord(sel, m2, 3), lt2 = selWord(sel, m2, 4), hf2 = selWord(sel, m2, 5), ht2 = selWord(sel, m2, 6);
  const kLo3 = selWord(sel, m3, 1), kHi3 = selWord(sel, m3, 2), lf3 = selWord(sel, m3, 3), lt3 = selWord(sel, m3, 4), hf3 = selWord(sel, m3, 5), ht3 = selWord(sel, m3, 6);
  const c0 = cntAt(counts, 0);
  const c1 = cntAt(counts, m1);
  const c2 = cntAt(counts, m2);
  const c3 = cntAt(counts, m3);
  const absV = i32x4.splat(ABS);
  // the largest |input| bits: above infinity's where some input is NaN
  let top = i32x4.splat(0);
  for (let i = s; i < e4; i += 4) {
    const b = load4(base, i);
    const x0 = load4(p0, i);
    const x1 = K > 1 ? load4(p1, i) : zero;
    const x2 = K > 2 ? load4(p2, i) : zero;
    const x3 = K > 3 ? load4(p3, i) : zero;
    top = i32x4.max_u(top, v128.and(b, absV));
    top = i32x4.max_u(top, v128.and(x0, absV));
    if (K > 1) top = i32x4.max_u(top, v128.and(x1, absV));
    if (K > 2) top = i32x4.max_u(top, v128.and(x2, absV));
    if (K > 3) top = i32x4.max_u(top, v128.and(x3, absV));
    const wd0 = rnd(f32x4.mul(tvSmall4(x0, b, raw, exact, r0, f0, kLo0, kHi0, lf0, lt0, hf0, ht0, c0), w0), exact);
    const wd1 = K > 1 ? rnd(f32x4.mul(tvSmall4(x1, b, raw, exact, r1, f1, kLo1, kHi1, lf1, lt1, hf1, ht1, c1), w1), exact) : zero;
    const wd2 = K > 2 ? rnd(f32x4.mul(tvSmall4(x2, b, raw, exact, r2, f2, kLo2, kHi2, lf2, lt2, hf2, ht2, c2), w2), exact) : zero;
    const wd3 = K > 3 ? rnd(f32x4.mul(tvSmall4(x3, b, raw, exact, r3, f3, kLo3, kHi3, lf3, lt3, hf3, ht3, c3), w3), exact) : zero;
    // the elected sign from the unrounded sum (2. above)
    const mixed = mix4(K, wd0, wd1, wd2, wd3, w0, w1, w2, w3, consensus, normalize, scale, divV, lamV, rm(exact), false);
    store4(out, i, bf16Bits4(f32x4.add(b, mixed), exact));
  }
  return v128.any_true(i32x4.gt_u(top, i32x4.splat(0x7f800000)));
}

/**
 * The loop for any K: each task vector computed again where needed (gta_combine's generic loop);
 * under consensus the first computation leaves the ordinals alone, the second advances them.
 */
// @ts-ignore: decorator
@inline function anyK(out: usize, base: usize, inputs: usize, raw: bool, ws: usize, k: i32, ranked: usize, sel: usize, counts: usize, flags: i32, div: f32, lambda: f32, s: usize, e4: usize, exact: bool): void {
  const consensus = (flags & GTA_CONSENSUS) != 0;
  const normalize = (flags & GTA_NORMALIZE) != 0;
  const scale = (flags & GTA_LAMBDA) != 0;
  const zero = f32x4.splat(0);
  const divV = f32x4.splat(div);
  const lamV = f32x4.splat(lambda);
  for (let i = s; i < e4; i += 4) {
    const b = load4(base, i);
    let mixed = zero;
    let dv = divV;
    if (consensus) {
      let tot = zero;
      for (let m = 0; m < k; m++) {
        tot = f32x4.add(tot, rnd(f32x4.mul(tvAt4(inputs, m, i, b, raw, ranked, sel, counts, exact, false), f32x4.splat(wAt(ws, m))), exact));
      }
      const majPos = f32x4.ge(tot, zero);
      dv = zero;
      for (let m = 0; m < k; m++) {
        const wv = f32x4.splat(wAt(ws, m));
        const wd = rnd(f32x4.mul(tvAt4(inputs, m, i, b, raw, ranked, sel, counts, exact, true), wv), exact);
        const mk = keep4(wd, majPos);
        mixed = addMasked(mixed, wd, mk);
        dv = addMasked(dv, wv, mk);
      }
      mixed = rnd(mixed, exact);
      dv = divisor4(dv, rm(exact));
    } else {
      for (let m = 0; m < k; m++) {
        mixed = f32x4.add(mixed, rnd(f32x4.mul(tvAt4(inputs, m, i, b, raw, ranked, sel, counts, exact, true), f32x4.splat(wAt(ws, m))), exact));
      }
      mixed = rnd(mixed, exact);
    }
    mixed = finish4(mixed, dv, normalize, scale, lamV, rm(exact));
    store4(out, i, bf16Bits4(f32x4.add(b, mixed), exact));
  }
}

/** Elements [s, e) one at a time with roundBf16 (gta_combine's and rank_mask_apply's tails). */
// @ts-ignore: decorator
@inline function scalars(out: usize, base: usize, inputs: usize, raw: bool, ws: usize, k: i32, ranked: usize, sel: usize, counts: usize, flags: i32, div: f32, lambda: f32, s: usize, e: usize): void {
  const consensus = (flags & GTA_CONSENSUS) != 0;
  const normalize = (flags & GTA_NORMALIZE) != 0;
  const scale = (flags & GTA_LAMBDA) != 0;
  for (let i = s; i < e; i++) {
    const b = load1(base, i);
    let mixed: f32 = 0;
    let dv = div;
    if (consensus) {
      let tot: f32 = 0;
      for (let m = 0; m < k; m++) tot += roundBf16(tvAt1(inputs, m, i, b, raw, ranked, sel, counts, false) * wAt(ws, m));
      const majPos = tot >= 0;
      dv = 0;
      for (let m = 0; m < k; m++) {
        const w = wAt(ws, m);
        const wd = roundBf16(tvAt1(inputs, m, i, b, raw, ranked, sel, counts, true) * w);
        const mk: f32 = (majPos ? wd > 0 : wd < 0) ? 1 : 0;
        mixed += wd * mk;
        dv += w * mk;
      }
      mixed = roundBf16(mixed);
      dv = roundBf16(dv);
      if (dv == 0) dv = 1;
    } else {
      for (let m = 0; m < k; m++) mixed += roundBf16(tvAt1(inputs, m, i, b, raw, ranked, sel, counts, true) * wAt(ws, m));
      mixed = roundBf16(mixed);
    }
    if (normalize) mixed = roundBf16(mixed / dv);
    if (scale) mixed = roundBf16(mixed * lambda);
    store<u16>(out + (i << 1), <u16>(reinterpret<u32>(roundBf16(b + mixed)) >> 16));
  }
}
