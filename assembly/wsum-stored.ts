// Fused weighted sum straight from checkpoint bytes to output bytes: decode each input (cast to the
// working dtype when it is stored in another), R(w*x) per input, float32 sum in input order from
// +0, R(sum), optionally R(sum / div), encode. Same numbers as decode + wsum + div_scalar + encode,
// in one pass over memory. `acc` is a host-provided scratch block of BLOCK float32.
import { MODE_BF16, roundBf16, roundBf16Fastx4, roundBf16x4, roundModex4, roundMode } from "./inline/round";
import { loadStored1, loadStored4, storeStored1, storeStored8 } from "./inline/stored";
import { OK } from "./convert";

export const WSUM_BLOCK: usize = 2048;

/**
 * out (stored as outDtype) = R(R(sum_k R(w_k * R(x_k))) / div) when `normalize`, else without the
 * division. ptrs: K u32 pointers to stored inputs; dtypes: K i32 stored dtypes; ws: K f32.
 */
export function wsum_stored(out: usize, outDtype: i32, ptrs: usize, dtypes: usize, ws: usize, k: i32, n: usize, mode: i32, normalize: i32, div: f32, acc: usize): i32 {
  if (mode == MODE_BF16 && outDtype == MODE_BF16 && allBf16(dtypes, k)) return wsumBf16(out, ptrs, ws, k, n, normalize, div);
  const dv = f32x4.splat(div);
  const zero = f32x4.splat(0);
  for (let b: usize = 0; b < n; b += WSUM_BLOCK) {
    const end = min<usize>(n, b + WSUM_BLOCK);
    const len = end - b;
    for (let j = 0; j < k; j++) {
      const x = <usize>load<u32>(ptrs + (<usize>j << 2));
      const dt = load<i32>(dtypes + (<usize>j << 2));
      const cast = dt != mode;
      const w = load<f32>(ws + (<usize>j << 2));
      const wv = f32x4.splat(w);
      let i: usize = 0;
      for (; i + 4 <= len; i += 4) {
        let v = loadStored4(x, b + i, dt);
        if (cast) v = roundModex4(v, mode);
        const p = roundModex4(f32x4.mul(v, wv), mode);
        const prev = j == 0 ? zero : v128.load(acc + (i << 2));
        v128.store(acc + (i << 2), f32x4.add(prev, p));
      }
      for (; i < len; i++) {
        let v = loadStored1(x, b + i, dt);
        if (cast) v = roundMode(v, mode);
        const p = roundMode(v * w, mode);
        store<f32>(acc + (i << 2), (j == 0 ? <f32>0 : load<f32>(acc + (i << 2))) + p);
      }
    }
    let i: usize = 0;
    for (; i + 8 <= len; i += 8) {
      let a = roundModex4(v128.load(acc + (i << 2)), mode);
      let c = roundModex4(v128.load(acc + (i << 2), 16), mode);
      if (normalize) {
        a = roundModex4(f32x4.div(a, dv), mode);
        c = roundModex4(f32x4.div(c, dv), mode);
      }
      storeStored8(out, b + i, a, c, outDtype);
    }
    for (; i < len; i++) {
      let s = roundMode(load<f32>(acc + (i << 2)), mode);
      if (normalize) s = roundMode(s / div, mode);
      storeStored1(out, b + i, s, outDtype);
    }
  }
  return OK;
}

// @ts-ignore: decorator
@inline function allBf16(dtypes: usize, k: i32): bool {
  for (let j = 0; j < k; j++) if (load<i32>(dtypes + (<usize>j << 2)) != MODE_BF16) return false;
  return true;
}

/**
 * wsum_stored for bf16 inputs, bf16 working dtype and bf16 output (the common case): the same
 * operations in the same order, eight elements at a time with the sum in registers instead of the
 * accumulator block. A v128 of eight bf16 values is split into its even lanes (shifted up) and odd
 * lanes (masked): both are then float32 bit patterns, and the two halves of the result go back the
 * same way, with no widening or narrowing shuffles.
 */
function wsumBf16(out: usize, ptrs: usize, ws: usize, k: i32, n: usize, normalize: i32, div: f32): i32 {
  const dv = f32x4.splat(div);
  const zero = f32x4.splat(0);
  const hi = i32x4.splat(0xffff0000);
  // NaN weights or divisor: every group takes the rounding with the NaN branch
  let anyNaN = div != div;
  for (let j = 0; j < k; j++) { const w = load<f32>(ws + (<usize>j << 2)); if (w != w) anyNaN = true; }
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) {
    // First without the NaN branch of the rounding (MODE_BF16_FAST): exact when no input is a NaN,
    // since the only NaNs the operations can then make are canonical ones (0 * inf, inf - inf, 0 / 0),
    // which it rounds as roundBf16x4 does. A group with a NaN input is done again with the branch.
    let nan = v128.splat<i32>(0);
    let se = zero;
    let so = zero;
    for (let j = 0; j < k; j++) {
      const raw = v128.load(<usize>load<u32>(ptrs + (<usize>j << 2)) + (i << 1));
      nan = v128.or(nan, i16x8.gt_u(v128.and(raw, i16x8.splat(0x7fff)), i16x8.splat(0x7f80)));
      const wv = f32x4.splat(load<f32>(ws + (<usize>j << 2)));
      se = f32x4.add(se, roundBf16Fastx4(f32x4.mul(i32x4.shl(raw, 16), wv)));
      so = f32x4.add(so, roundBf16Fastx4(f32x4.mul(v128.and(raw, hi), wv)));
    }
    if (anyNaN || v128.any_true(nan)) {
      se = zero;
      so = zero;
      for (let j = 0; j < k; j++) {
        const raw = v128.load(<usize>load<u32>(ptrs + (<usize>j << 2)) + (i << 1));
        const wv = f32x4.splat(load<f32>(ws + (<usize>j << 2)));
        se = f32x4.add(se, roundBf16x4(f32x4.mul(i32x4.shl(raw, 16), wv)));
        so = f32x4.add(so, roundBf16x4(f32x4.mul(v128.and(raw, hi), wv)));
      }
      se = roundBf16x4(se);
      so = roundBf16x4(so);
      if (normalize) {
        se = roundBf16x4(f32x4.div(se, dv));
        so = roundBf16x4(f32x4.div(so, dv));
      }
    } else {
      se = roundBf16Fastx4(se);
      so = roundBf16Fastx4(so);
      if (normalize) {
        se = roundBf16Fastx4(f32x4.div(se, dv));
        so = roundBf16Fastx4(f32x4.div(so, dv));
      }
    }
    v128.store(out + (i << 1), v128.or(i32x4.shr_u(se, 16), v128.and(so, hi)));
  }
  // four more on four lanes, the last n % 4 as scalars: the split of wsum and encode, so that the
  // NaNs an operation creates (whose sign x86 gives differently to scalar and vector code) match
  if (i + 4 <= n) {
    let s = zero;
    for (let j = 0; j < k; j++) {
      const x = i32x4.shl(v128.load16x4_u(<usize>load<u32>(ptrs + (<usize>j << 2)) + (i << 1)), 16);
      s = f32x4.add(s, roundBf16x4(f32x4.mul(x, f32x4.splat(load<f32>(ws + (<usize>j << 2))))));
    }
    s = roundBf16x4(s);
    if (normalize) s = roundBf16x4(f32x4.div(s, dv));
    v128.store64_lane(out + (i << 1), i16x8.narrow_i32x4_u(i32x4.shr_u(s, 16), i32x4.shr_u(s, 16)), 0);
    i += 4;
  }
  for (; i < n; i++) {
    let s: f32 = 0;
    for (let j = 0; j < k; j++) {
      const x = reinterpret<f32>((<u32>load<u16>(<usize>load<u32>(ptrs + (<usize>j << 2)) + (i << 1))) << 16);
      s += roundBf16(x * load<f32>(ws + (<usize>j << 2)));
    }
    s = roundBf16(s);
    if (normalize) s = roundBf16(s / div);
    store<u16>(out + (i << 1), <u16>(reinterpret<u32>(s) >> 16));
  }
  return OK;
}

/** out (stored as outDtype) = R(x) for x stored as inDtype: a dtype cast through the working dtype. */
export function cast_stored(out: usize, outDtype: i32, x: usize, inDtype: i32, n: usize, mode: i32): i32 {
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) {
    const a = roundModex4(loadStored4(x, i, inDtype), mode);
    const c = roundModex4(loadStored4(x, i + 4, inDtype), mode);
    storeStored8(out, i, a, c, outDtype);
  }
  for (; i < n; i++) storeStored1(out, i, roundMode(loadStored1(x, i, inDtype), mode), outDtype);
  return OK;
}
