// Magnitude rank selection over a tensor that arrives in pieces (tiles, chunks), in index order or
// not: the same ranking as mask_rank_range (select-rank-range.ts) split into its passes.
//
// Keys are the bits of |x[i]| as u32 (sign cleared): they order like the magnitudes, NaN above
// +inf. A selection keeps the elements whose rank lies in [lo, hi); the host finds from the two
// histograms below the boundary keys kLo, kHi and, among the elements equal to a boundary key,
// which ordinals (their position among the equal elements, by index ascending) are kept. Marking
// then needs, per piece, the number of boundary-equal elements before it (rank_count_eq), so any
// piece can be marked on its own.
//
// Histograms and counts are added to (never cleared here), so pieces can be accumulated in any
// order, on any thread, and summed.
import { OK } from "./convert";

const ABS: u32 = 0x7fffffff;

// rank_mask selection flags (mirrored in src/kernels/abi-gta.ts)
const SEL_LO: u32 = 1;
const SEL_HI: u32 = 2;
const SEL_NONE: u32 = 4;

// @ts-ignore: decorator
@inline function keyAt(x: usize, i: usize): u32 {
  return load<u32>(x + (i << 2)) & ABS;
}

/** hist[bin] += 1 (u32 bins). */
// @ts-ignore: decorator
@inline export function bump(hist: usize, bin: u32): void {
  const h = hist + (<usize>bin << 2);
  store<u32>(h, load<u32>(h) + 1);
}

/**
 * hist (32768 u32) += counts of key >> 16; lowOr (one u32) |= the OR of every key's low 16 bits
 * (zero: each high bin holds a single key, as for bfloat16 values, and no refinement is needed).
 */
export function rank_hist_hi(hist: usize, x: usize, n: usize, lowOr: usize): i32 {
  const absv = i32x4.splat(ABS);
  let orv = i32x4.splat(0);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const k = v128.and(v128.load(x + (i << 2)), absv);
    orv = v128.or(orv, k);
    const hi = i32x4.shr_u(k, 16);
    const b0 = <u32>i32x4.extract_lane(hi, 0);
    if (i32x4.all_true(i32x4.eq(hi, i32x4.splat(b0)))) {
      // four equal bins (zeros of a sparse task vector): one add instead of a chain of four
      const h = hist + (<usize>b0 << 2);
      store<u32>(h, load<u32>(h) + 4);
    } else {
      bump(hist, b0);
      bump(hist, <u32>i32x4.extract_lane(hi, 1));
      bump(hist, <u32>i32x4.extract_lane(hi, 2));
      bump(hist, <u32>i32x4.extract_lane(hi, 3));
    }
  }
  let or = <u32>(i32x4.extract_lane(orv, 0) | i32x4.extract_lane(orv, 1) | i32x4.extract_lane(orv, 2) | i32x4.extract_lane(orv, 3));
  for (; i < n; i++) {
    const k = keyAt(x, i);
    or |= k;
    bump(hist, k >> 16);
  }
  store<u32>(lowOr, load<u32>(lowOr) | (or & 0xffff));
  return OK;
}

/** hist (65536 u32) += counts of the low 16 key bits over the elements whose key >> 16 is `bin`. */
export function rank_hist_lo(hist: usize, x: usize, n: usize, bin: u32): i32 {
  const bv = i32x4.splat(bin);
  const absv = i32x4.splat(ABS);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const k = v128.and(v128.load(x + (i << 2)), absv);
    if (v128.any_true(i32x4.eq(i32x4.shr_u(k, 16), bv))) {
      for (let j: usize = 0; j < 4; j++) {
        const kj = keyAt(x, i + j);
        if (kj >> 16 == bin) bump(hist, kj & 0xffff);
      }
    }
  }
  for (; i < n; i++) {
    const k = keyAt(x, i);
    if (k >> 16 == bin) bump(hist, k & 0xffff);
  }
  return OK;
}

/** counts (two u32) += [number of keys equal to kLo, number equal to kHi]. */
export function rank_count_eq(counts: usize, x: usize, n: usize, kLo: u32, kHi: u32): i32 {
  const absv = i32x4.splat(ABS);
  const lov = i32x4.splat(kLo);
  const hiv = i32x4.splat(kHi);
  let cl = i32x4.splat(0);
  let ch = i32x4.splat(0);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const k = v128.and(v128.load(x + (i << 2)), absv);
    cl = i32x4.sub(cl, i32x4.eq(k, lov)); // eq lanes are -1
    ch = i32x4.sub(ch, i32x4.eq(k, hiv));
  }
  let a = <u32>(i32x4.extract_lane(cl, 0) + i32x4.extract_lane(cl, 1) + i32x4.extract_lane(cl, 2) + i32x4.extract_lane(cl, 3));
  let b = <u32>(i32x4.extract_lane(ch, 0) + i32x4.extract_lane(ch, 1) + i32x4.extract_lane(ch, 2) + i32x4.extract_lane(ch, 3));
  for (; i < n; i++) {
    const k = keyAt(x, i);
    if (k == kLo) a++;
    if (k == kHi) b++;
  }
  store<u32>(counts, load<u32>(counts) + a);
  store<u32>(counts, load<u32>(counts, 4) + b, 4);
  return OK;
}

// @ts-ignore: decorator
@inline function inRange(a: u32, from: u32, to: u32): bool {
  return a >= from && a < to;
}

/**
 * Lanes of `eq` (-1 where a key equals the boundary) that are kept: their ordinal, `before` plus
 * the equal lanes to their left, lies in [from, to).
 */
// @ts-ignore: decorator
@inline export function keptEqual(eq: v128, before: u32, from: v128, to: v128): v128 {
  const zero = i32x4.splat(0);
  const one = i32x4.neg(eq); // 1 where equal
  let inc = i32x4.add(one, i32x4.shuffle(zero, one, 0, 4, 5, 6));
  inc = i32x4.add(inc, i32x4.shuffle(zero, inc, 0, 0, 4, 5)); // inclusive prefix count
  const ord = i32x4.add(i32x4.splat(before), i32x4.sub(inc, one));
  return v128.and(eq, v128.and(i32x4.ge_u(ord, from), i32x4.lt_u(ord, to)));
}

/**
 * mask[i] = 1.0 when x[i] is selected, else 0.0. `sel` (seven u32): flags (SEL_LO, SEL_HI,
 * SEL_NONE), kLo, kHi, loFrom, loTo, hiFrom, hiTo. An element is kept when
 *   (no SEL_LO or key > kLo or key == kLo with its kLo-ordinal in [loFrom, loTo)) and
 *   (no SEL_HI or key < kHi or key == kHi with its kHi-ordinal in [hiFrom, hiTo));
 * SEL_NONE keeps nothing. `counts` (two u32) holds the ordinals of this piece's first kLo- and
 * kHi-equal elements (the equal elements before it) and is advanced past the piece.
 */
export function rank_mask(mask: usize, x: usize, n: usize, sel: usize, counts: usize): i32 {
  mark(mask, x, n, sel, counts, false);
  return OK;
}

/**
 * out[i] = x[i] * (1.0 or 0.0) with the selection of rank_mask: mask_apply of rank_mask's mask in
 * the same pass (same bytes: -0 for dropped negatives, NaN for dropped infinities). out may alias x.
 */
export function rank_mask_apply(out: usize, x: usize, n: usize, sel: usize, counts: usize): i32 {
  mark(out, x, n, sel, counts, true);
  return OK;
}

// @ts-ignore: decorator
@inline function mark(mask: usize, x: usize, n: usize, sel: usize, counts: usize, apply: bool): void {
  const flags = load<u32>(sel);
  if (flags & SEL_NONE) {
    if (!apply) {
      memory.fill(mask, 0, n << 2);
      return;
    }
  }
  const hasLo = (flags & SEL_LO) != 0;
  const hasHi = (flags & SEL_HI) != 0;
  const kLo = load<u32>(sel, 4);
  const kHi = load<u32>(sel, 8);
  const loFrom = load<u32>(sel, 12);
  const loTo = load<u32>(sel, 16);
  const hiFrom = load<u32>(sel, 20);
  const hiTo = load<u32>(sel, 24);
  let cLo = load<u32>(counts);
  let cHi = load<u32>(counts, 4);
  const one = f32x4.splat(1);
  const absv = i32x4.splat(ABS);
  const kLoV = i32x4.splat(kLo);
  const kHiV = i32x4.splat(kHi);
  const loFromV = i32x4.splat(loFrom);
  const loToV = i32x4.splat(loTo);
  const hiFromV = i32x4.splat(hiFrom);
  const hiToV = i32x4.splat(hiTo);
  const none = (flags & SEL_NONE) != 0;
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const xv = v128.load(x + (i << 2));
    const k = v128.and(xv, absv);
    let keep = i32x4.splat(none ? 0 : -1);
    if (hasLo) {
      let ok = i32x4.gt_s(k, kLoV);
      const eq = i32x4.eq(k, kLoV);
      if (v128.any_true(eq)) {
        ok = v128.or(ok, keptEqual(eq, cLo, loFromV, loToV));
        cLo += <u32>popcnt<i32>(i32x4.bitmask(eq));
      }
      keep = ok;
    }
    if (hasHi) {
      let ok = i32x4.lt_s(k, kHiV);
      const eq = i32x4.eq(k, kHiV);
      if (v128.any_true(eq)) {
        ok = v128.or(ok, keptEqual(eq, cHi, hiFromV, hiToV));
        cHi += <u32>popcnt<i32>(i32x4.bitmask(eq));
      }
      keep = v128.and(keep, ok);
    }
    const m = v128.and(keep, one);
    v128.store(mask + (i << 2), apply ? f32x4.mul(xv, m) : m);
  }
  for (; i < n; i++) {
    const kj = keyAt(x, i);
    const okLo = !hasLo || kj > kLo || (kj == kLo && inRange(cLo, loFrom, loTo));
    const okHi = !hasHi || kj < kHi || (kj == kHi && inRange(cHi, hiFrom, hiTo));
    const m: f32 = !none && okLo && okHi ? 1 : 0;
    store<f32>(mask + (i << 2), apply ? load<f32>(x + (i << 2)) * m : m);
    if (hasLo && kj == kLo) cLo++;
    if (hasHi && kj == kHi) cHi++;
  }
  store<u32>(counts, cLo);
  store<u32>(counts, cHi, 4);
}
