// Magnitude rank selection in linear time: a two-level radix select on the float bits of |x|,
// then one marking pass. No sort.
//
// The keys are the bits of |x[i]| as u32 (the sign bit cleared), which order exactly like the
// magnitudes, with NaN above +inf (as torch's sort places NaN). Elements are ranked by key
// ascending; among equal keys by index ascending (tieHighFirst = 0) or descending (= 1).
//
// - ties/sce top-k ("larger |value| first, equal |value| -> lower index first"): keep ranks
//   [n - k, n) with tieHighFirst = 1.
// - breadcrumbs (MergeKit's ascending sort, made stable): keep ranks [n_bot, n - n_top) with
//   tieHighFirst = 0.
import { OK } from "./convert";
import { rank_hist_hi, rank_hist_lo } from "./select-rank-stream";

const HI_BINS: usize = 32768; // (|x| bits) >> 16 <= 0x7fff
const LO_BINS: usize = 65536;
const ABS: u32 = 0x7fffffff;

// @ts-ignore: decorator
@inline function keyAt(x: usize, i: usize): u32 {
  return load<u32>(x + (i << 2)) & ABS;
}

/** The bin holding ascending position p: (count of elements in lower bins) << 32 | bin. */
function findBin(hist: usize, bins: usize, p: usize): u64 {
  let cum: usize = 0;
  for (let b: usize = 0; b < bins; b++) {
    const c = <usize>load<u32>(hist + (b << 2));
    if (p < cum + c) return (<u64>cum << 32) | <u64>b;
    cum += c;
  }
  return (<u64>cum << 32) | <u64>(bins - 1);
}

/** hist = histogram of the low 16 key bits over the elements whose high 16 bits are `bin`. */
function lowHistogram(x: usize, n: usize, bin: u32, hist: usize): void {
  memory.fill(hist, 0, LO_BINS << 2);
  rank_hist_lo(hist, x, n, bin);
}

// @ts-ignore: decorator
@inline function keepOne(k: u32, hasLo: bool, kLo: u32, tLo: usize, cLo: usize, hasHi: bool, kHi: u32, tHi: usize, cHi: usize): bool {
  const okLo = !hasLo || k > kLo || (k == kLo && cLo >= tLo);
  const okHi = !hasHi || k < kHi || (k == kHi && cHi < tHi);
  return okLo && okHi;
}

/**
 * mask[i] = 1.0 when the rank of x[i] (see above) is in [lo, hi), else 0.0. `scratch` holds
 * 65536 u32 (256 KiB). Three to four passes over x.
 */
export function mask_rank_range(mask: usize, x: usize, n: usize, lo: usize, hi: usize, tieHighFirst: i32, scratch: usize): i32 {
  if (hi > n) hi = n;
  if (lo >= hi || lo == 0 && hi == n) {
    const v: f32 = lo >= hi ? 0 : 1;
    const vv = f32x4.splat(v);
    let i: usize = 0;
    for (; i + 4 <= n; i += 4) v128.store(mask + (i << 2), vv);
    for (; i < n; i++) store<f32>(mask + (i << 2), v);
    return OK;
  }
  const hasLo = lo > 0;
  const hasHi = hi < n;

  // the high histogram, then a word for rank_hist_hi's OR of the low bits (unused here)
  memory.fill(scratch, 0, (HI_BINS + 1) << 2);
  rank_hist_hi(scratch, x, n, scratch + (HI_BINS << 2));
  const fLo = hasLo ? findBin(scratch, HI_BINS, lo) : 0;
  const fHi = hasHi ? findBin(scratch, HI_BINS, hi) : 0;
  const binLo = <u32>(fLo & 0xffffffff);
  const binHi = <u32>(fHi & 0xffffffff);

  // The key at each boundary position and its ordinal among equal keys.
  let kLo: u32 = 0;
  let tLo: usize = 0;
  let kHi: u32 = 0;
  let tHi: usize = 0;
  if (hasLo) {
    lowHistogram(x, n, binLo, scratch);
    const q = lo - <usize>(fLo >> 32);
    const g = findBin(scratch, LO_BINS, q);
    kLo = (binLo << 16) | <u32>(g & 0xffff);
    tLo = q - <usize>(g >> 32);
  }
  if (hasHi) {
    if (!hasLo || binHi != binLo) lowHistogram(x, n, binHi, scratch);
    const q = hi - <usize>(fHi >> 32);
    const g = findBin(scratch, LO_BINS, q);
    kHi = (binHi << 16) | <u32>(g & 0xffff);
    tHi = q - <usize>(g >> 32);
  }

  // Marking pass, in tie order, counting the elements equal to each boundary key.
  const one = f32x4.splat(1);
  const absv = i32x4.splat(ABS);
  const kLoV = i32x4.splat(kLo);
  const kHiV = i32x4.splat(kHi);
  const allOnes = i32x4.splat(-1);
  let cLo: usize = 0;
  let cHi: usize = 0;
  const n4 = n & ~(<usize>3);
  if (tieHighFirst == 0) {
    for (let i: usize = 0; i < n4; i += 4) {
      const k = v128.and(v128.load(x + (i << 2)), absv);
      let keep = allOnes;
      let special = i32x4.splat(0);
      if (hasLo) { keep = v128.and(keep, i32x4.gt_s(k, kLoV)); special = v128.or(special, i32x4.eq(k, kLoV)); }
      if (hasHi) { keep = v128.and(keep, i32x4.lt_s(k, kHiV)); special = v128.or(special, i32x4.eq(k, kHiV)); }
      if (v128.any_true(special)) {
        for (let j: usize = 0; j < 4; j++) {
          const kj = keyAt(x, i + j);
          store<f32>(mask + ((i + j) << 2), keepOne(kj, hasLo, kLo, tLo, cLo, hasHi, kHi, tHi, cHi) ? 1 : 0);
          if (kj == kLo) cLo++;
          if (kj == kHi) cHi++;
        }
      } else {
        v128.store(mask + (i << 2), v128.and(keep, one));
      }
    }
    for (let i = n4; i < n; i++) {
      const k = keyAt(x, i);
      store<f32>(mask + (i << 2), keepOne(k, hasLo, kLo, tLo, cLo, hasHi, kHi, tHi, cHi) ? 1 : 0);
      if (k == kLo) cLo++;
      if (k == kHi) cHi++;
    }
  } else {
    for (let i = n; i > n4;) {
      i--;
      const k = keyAt(x, i);
      store<f32>(mask + (i << 2), keepOne(k, hasLo, kLo, tLo, cLo, hasHi, kHi, tHi, cHi) ? 1 : 0);
      if (k == kLo) cLo++;
      if (k == kHi) cHi++;
    }
    for (let i = n4; i > 0;) {
      i -= 4;
      const k = v128.and(v128.load(x + (i << 2)), absv);
      let keep = allOnes;
      let special = i32x4.splat(0);
      if (hasLo) { keep = v128.and(keep, i32x4.gt_s(k, kLoV)); special = v128.or(special, i32x4.eq(k, kLoV)); }
      if (hasHi) { keep = v128.and(keep, i32x4.lt_s(k, kHiV)); special = v128.or(special, i32x4.eq(k, kHiV)); }
      if (v128.any_true(special)) {
        for (let j: usize = 4; j > 0;) {
          j--;
          const kj = keyAt(x, i + j);
          store<f32>(mask + ((i + j) << 2), keepOne(kj, hasLo, kLo, tLo, cLo, hasHi, kHi, tHi, cHi) ? 1 : 0);
          if (kj == kLo) cLo++;
          if (kj == kHi) cHi++;
        }
      } else {
        v128.store(mask + (i << 2), v128.and(keep, one));
      }
    }
  }
  return OK;
}
