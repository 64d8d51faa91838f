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

// @ts-ignore: decorator
@inline function bump(hist: usize, bin: u32): void {
  const h = hist + (<usize>bin << 2);
  store<u32>(h, load<u32>(h) + 1);
}

/**
 * hist (32768 u32) += counts of key >> 16; lowOr (one u32) |= the OR of every key's low 16 bits
 * (zero: each high bin holds a single key, as for bfloat16 values, and no refinement is needed).
 * Two interleaved histograms would break the store-to-load chains, but a second 128 KiB table
 * costs more cache than it saves on clustered weights; four-way unrolling lets the loads run ahead.
 */
export function rank_hist_hi(hist: usize, x: usize, n: usize, lowOr: usize): i32 {
  let or: u32 = 0;
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const k0 = keyAt(x, i);
    const k1 = keyAt(x, i + 1);
    const k2 = keyAt(x, i + 2);
    const k3 = keyAt(x, i + 3);
    or |= k0 | k1 | k2 | k3;
    bump(hist, k0 >> 16);
    bump(hist, k1 >> 16);
    bump(hist, k2 >> 16);
    bump(hist, k3 >> 16);
  }
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
 * mask[i] = 1.0 when x[i] is selected, else 0.0. `sel` (seven u32): flags (SEL_LO, SEL_HI,
 * SEL_NONE), kLo, kHi, loFrom, loTo, hiFrom, hiTo. An element is kept when
 *   (no SEL_LO or key > kLo or key == kLo with its kLo-ordinal in [loFrom, loTo)) and
 *   (no SEL_HI or key < kHi or key == kHi with its kHi-ordinal in [hiFrom, hiTo));
 * SEL_NONE keeps nothing. `counts` (two u32) holds the ordinals of this piece's first kLo- and
 * kHi-equal elements (the equal elements before it) and is advanced past the piece.
 */
export function rank_mask(mask: usize, x: usize, n: usize, sel: usize, counts: usize): i32 {
  const flags = load<u32>(sel);
  if (flags & SEL_NONE) {
    memory.fill(mask, 0, n << 2);
    return OK;
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
  const allOnes = i32x4.splat(-1);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const k = v128.and(v128.load(x + (i << 2)), absv);
    let keep = allOnes;
    let special = i32x4.splat(0);
    if (hasLo) { keep = v128.and(keep, i32x4.gt_s(k, kLoV)); special = v128.or(special, i32x4.eq(k, kLoV)); }
    if (hasHi) { keep = v128.and(keep, i32x4.lt_s(k, kHiV)); special = v128.or(special, i32x4.eq(k, kHiV)); }
    if (v128.any_true(special)) {
      for (let j: usize = 0; j < 4; j++) {
        const kj = keyAt(x, i + j);
        const okLo = !hasLo || kj > kLo || (kj == kLo && inRange(cLo, loFrom, loTo));
        const okHi = !hasHi || kj < kHi || (kj == kHi && inRange(cHi, hiFrom, hiTo));
        store<f32>(mask + ((i + j) << 2), okLo && okHi ? 1 : 0);
        if (hasLo && kj == kLo) cLo++;
        if (hasHi && kj == kHi) cHi++;
      }
    } else {
      v128.store(mask + (i << 2), v128.and(keep, one));
    }
  }
  for (; i < n; i++) {
    const kj = keyAt(x, i);
    const okLo = !hasLo || kj > kLo || (kj == kLo && inRange(cLo, loFrom, loTo));
    const okHi = !hasHi || kj < kHi || (kj == kHi && inRange(cHi, hiFrom, hiTo));
    store<f32>(mask + (i << 2), okLo && okHi ? 1 : 0);
    if (hasLo && kj == kLo) cLo++;
    if (hasHi && kj == kHi) cHi++;
  }
  store<u32>(counts, cLo);
  store<u32>(counts, cHi, 4);
  return OK;
}
