// Task vectors of bfloat16 models in bfloat16, straight from the stored bytes, and the magnitude
// statistics the streamed rank selection takes from stored bfloat16 task vectors.
//
// A bfloat16 magnitude key (the value's 16 bits with the sign cleared) is the high half of the
// float32 key rank_hist_hi bins, with a zero low half: one key per histogram bin.
import { roundBf16, roundBf16x4 } from "./inline/round";
import { OK } from "./convert";
import { bump } from "./select-rank-stream";

const KEY: u32 = 0x7fff;

/** bump for each of the eight 16-bit lanes of k. */
// @ts-ignore: decorator
@inline function bump8(hist: usize, k: v128): void {
  bump(hist, <u32>i16x8.extract_lane_u(k, 0));
  bump(hist, <u32>i16x8.extract_lane_u(k, 1));
  bump(hist, <u32>i16x8.extract_lane_u(k, 2));
  bump(hist, <u32>i16x8.extract_lane_u(k, 3));
  bump(hist, <u32>i16x8.extract_lane_u(k, 4));
  bump(hist, <u32>i16x8.extract_lane_u(k, 5));
  bump(hist, <u32>i16x8.extract_lane_u(k, 6));
  bump(hist, <u32>i16x8.extract_lane_u(k, 7));
}

/**
 * Whether the 8-element vector `v` (element index / 8 within the tensor) is in the sample that
 * keeps one vector in 2^shift, by a multiplicative hash of its index (shift 0: every vector).
 */
// @ts-ignore: decorator
@inline function sampled(v: u32, shift: u32): bool {
  return shift == 0 || (v * 0x9e3779b1) >>> (32 - shift) == 0;
}

// The float32 lanes of bfloat16 values: the low (0) or high (1) four of eight.
// @ts-ignore: decorator
@inline function widenLo(x: v128): v128 {
  return i32x4.shl(i32x4.extend_low_i16x8_u(x), 16);
}
// @ts-ignore: decorator
@inline function widenHi(x: v128): v128 {
  return i32x4.shl(i32x4.extend_high_i16x8_u(x), 16);
}

/**
 * The task vectors of `n` bfloat16 values x against the bfloat16 base, in bfloat16:
 * t = R(x - base), the bytes of decode + task_vector_stored + encode. When `dst` is not 0 the
 * task vector is stored there as bfloat16 (dst may alias x). When `hist` is not 0, the magnitude
 * keys of the sampled vectors are counted into it (32768 u32, as rank_hist_hi's high histogram);
 * `first` is the tensor index of element 0 (a multiple of 8), `shift` the sample rate (0: all).
 */
export function tv_bf16(dst: usize, x: usize, base: usize, n: usize, hist: usize, first: usize, shift: u32): i32 {
  const keyv = i16x8.splat(<i16>KEY);
  const v0 = <u32>(first >> 3);
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) {
    const xv = v128.load(x + (i << 1));
    const bv = v128.load(base + (i << 1));
    const lo = roundBf16x4(f32x4.sub(widenLo(xv), widenLo(bv)));
    const hi = roundBf16x4(f32x4.sub(widenHi(xv), widenHi(bv)));
    const t = i16x8.narrow_i32x4_u(i32x4.shr_u(lo, 16), i32x4.shr_u(hi, 16));
    if (dst != 0) v128.store(dst + (i << 1), t);
    if (hist != 0 && sampled(v0 + <u32>(i >> 3), shift)) {
      const k = v128.and(t, keyv);
      const k0 = <u32>i16x8.extract_lane_u(k, 0);
      if (i16x8.all_true(i16x8.eq(k, i16x8.splat(<i16>k0)))) {
        // eight equal keys (zeros of a sparse task vector): one add
        const h = hist + (<usize>k0 << 2);
        store<u32>(h, load<u32>(h) + 8);
      } else {
        bump8(hist, k);
      }
    }
  }
  for (; i < n; i++) {
    const xs = reinterpret<f32>((<u32>load<u16>(x + (i << 1))) << 16);
    const bs = reinterpret<f32>((<u32>load<u16>(base + (i << 1))) << 16);
    const t = reinterpret<u32>(roundBf16(xs - bs)) >> 16;
    if (dst != 0) store<u16>(dst + (i << 1), <u16>t);
    if (hist != 0 && sampled(v0 + <u32>(i >> 3), shift)) bump(hist, t & KEY);
  }
  return OK;
}

/** Vectors counted in 16-bit lanes before they are added into 32-bit ones. */
const FLUSH: usize = 4096 * 8;

// @ts-ignore: decorator
@inline function sumLanes(v: v128): u32 {
  return <u32>(i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3));
}

/**
 * Over `n` stored bfloat16 values x: above (one u32) += the number whose magnitude key is above
 * the band [a, a + w), and band (w + 1 u32) += the counts of the keys in the band, by key - a;
 * band[w] is a spill bin that gets an arbitrary count. 1 <= w < 32768 and a + w <= 32768.
 * `hot`, a key in the band expected to be frequent (zero in a sparse task vector), is counted
 * with vector compares instead of one memory update per element.
 */
export function rank_band_bf16(x: usize, n: usize, a: u32, w: u32, hot: u32, above: usize, band: usize): i32 {
  const b = a + w - 1;
  const keyv = i16x8.splat(<i16>KEY);
  const av = i16x8.splat(<i16>a);
  const bv = i16x8.splat(<i16>b);
  const wv = i16x8.splat(<i16>w);
  const hv = i16x8.splat(<i16>hot);
  let accAbove = i32x4.splat(0);
  let accHot = i32x4.splat(0);
  let i: usize = 0;
  while (i + 8 <= n) {
    const end = min<usize>(n, i + FLUSH);
    let cAbove = i16x8.splat(0);
    let cHot = i16x8.splat(0);
    for (; i + 8 <= end; i += 8) {
      const k = v128.and(v128.load(x + (i << 1)), keyv);
      cAbove = i16x8.sub(cAbove, i16x8.gt_u(k, bv)); // true lanes are -1
      const isHot = i16x8.eq(k, hv);
      cHot = i16x8.sub(cHot, isHot);
      const inb = v128.andnot(v128.and(i16x8.ge_u(k, av), i16x8.le_u(k, bv)), isHot);
      if (v128.any_true(inb)) {
        // no branch per lane: lanes outside the band, or hot, count into the spill bin w
        bump8(band, v128.bitselect(i16x8.sub(k, av), wv, inb));
      }
    }
    accAbove = i32x4.add(accAbove, i32x4.extadd_pairwise_i16x8_u(cAbove));
    accHot = i32x4.add(accHot, i32x4.extadd_pairwise_i16x8_u(cHot));
  }
  let countAbove = sumLanes(accAbove);
  let countHot = sumLanes(accHot);
  for (; i < n; i++) {
    const kj = <u32>load<u16>(x + (i << 1)) & KEY;
    if (kj > b) countAbove++;
    else if (kj == hot) countHot++;
    else if (kj >= a) bump(band, kj - a);
  }
  store<u32>(above, load<u32>(above) + countAbove);
  const h = band + (<usize>(hot - a) << 2);
  store<u32>(h, load<u32>(h) + countHot);
  return OK;
}
