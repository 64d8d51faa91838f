// The last step of MergeKit's GTATask: weight the (sparsified) task vectors, elect signs, mix,
// normalize, scale by lambda and add to the base. Every op rounded as torch rounds it:
//   wd_m = R(d_m * w_m)
//   consensus: maj = R(sum_m wd_m) >= 0 ? +1 : -1;  keep_m = sign(wd_m) == maj
//              mixed = R(sum_m wd_m * keep_m);  div = R(sum_m w_m * keep_m);  div == 0 -> 1
//   otherwise: mixed = R(sum_m wd_m);  div = the host's R(sum_m w_m) (|div| < 1e-8 -> 1)
//   normalize: mixed = R(mixed / div);  lambda: mixed = R(mixed * lambda);  out = R(base + mixed)
// Sums accumulate in float32 in input order starting from +0 and round once (torch's sum(0)).
import { MODE_BF16, MODE_F16, MODE_F32, roundModex4, roundMode } from "./inline/round";
import { addMasked, divisor4, finish4, keep4, mix4, ptrAt, wAt } from "./inline/gta-mix";
import { OK } from "./convert";

// flags (mirrored in src/kernels/abi-gta.ts)
const GTA_CONSENSUS: i32 = 1;
const GTA_NORMALIZE: i32 = 2;
const GTA_LAMBDA: i32 = 4;

// Four weighted task-vector values: R(d * w) at byte offset `off` of task vector `p`.
// @ts-ignore: decorator
@inline function weighted4(p: usize, off: usize, w: v128, mode: i32): v128 {
  return roundModex4(f32x4.mul(v128.load(p + off), w), mode);
}

/**
 * out[i] for K task vectors (`deltas`: K u32 pointers) with weights `ws` (K f32, already in the
 * working dtype). `div` is used without consensus, `lambda` with GTA_LAMBDA. out may alias base.
 */
export function gta_combine(out: usize, base: usize, deltas: usize, ws: usize, k: i32, n: usize, mode: i32, flags: i32, div: f32, lambda: f32): i32 {
  // One copy of the loops per rounding mode, so the mode tests fold away.
  if (mode == MODE_BF16) combine(out, base, deltas, ws, k, n, MODE_BF16, flags, div, lambda);
  else if (mode == MODE_F16) combine(out, base, deltas, ws, k, n, MODE_F16, flags, div, lambda);
  else combine(out, base, deltas, ws, k, n, MODE_F32, flags, div, lambda);
  return OK;
}

/**
 * The vector loop for a constant K <= 4 (after inlining): pointers and weights in locals, each
 * weighted task vector computed once. Returns where the scalar tail starts.
 */
// @ts-ignore: decorator
@inline function combineSmall(out: usize, base: usize, deltas: usize, ws: usize, K: i32, n: usize, mode: i32, flags: i32, div: f32, lambda: f32): usize {
  const consensus = (flags & GTA_CONSENSUS) != 0;
  const normalize = (flags & GTA_NORMALIZE) != 0;
  const scale = (flags & GTA_LAMBDA) != 0;
  const zero = f32x4.splat(0);
  const divV = f32x4.splat(div);
  const lamV = f32x4.splat(lambda);
  const p0 = ptrAt(deltas, 0);
  const p1 = K > 1 ? ptrAt(deltas, 1) : p0;
  const p2 = K > 2 ? ptrAt(deltas, 2) : p0;
  const p3 = K > 3 ? ptrAt(deltas, 3) : p0;
  const w0 = f32x4.splat(wAt(ws, 0));
  const w1 = f32x4.splat(K > 1 ? wAt(ws, 1) : 0);
  const w2 = f32x4.splat(K > 2 ? wAt(ws, 2) : 0);
  const w3 = f32x4.splat(K > 3 ? wAt(ws, 3) : 0);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const off = i << 2;
    const wd0 = weighted4(p0, off, w0, mode);
    const wd1 = K > 1 ? weighted4(p1, off, w1, mode) : zero;
    const wd2 = K > 2 ? weighted4(p2, off, w2, mode) : zero;
    const wd3 = K > 3 ? weighted4(p3, off, w3, mode) : zero;
    const mixed = mix4(K, wd0, wd1, wd2, wd3, w0, w1, w2, w3, consensus, normalize, scale, divV, lamV, mode, true);
    v128.store(out + off, roundModex4(f32x4.add(v128.load(base + off), mixed), mode));
  }
  return i;
}

// @ts-ignore: decorator
@inline function combine(out: usize, base: usize, deltas: usize, ws: usize, k: i32, n: usize, mode: i32, flags: i32, div: f32, lambda: f32): void {
  const consensus = (flags & GTA_CONSENSUS) != 0;
  const normalize = (flags & GTA_NORMALIZE) != 0;
  const scale = (flags & GTA_LAMBDA) != 0;
  const zero = f32x4.splat(0);
  const divV = f32x4.splat(div);
  const lamV = f32x4.splat(lambda);
  let i: usize = 0;
  if (k == 1) i = combineSmall(out, base, deltas, ws, 1, n, mode, flags, div, lambda);
  else if (k == 2) i = combineSmall(out, base, deltas, ws, 2, n, mode, flags, div, lambda);
  else if (k == 3) i = combineSmall(out, base, deltas, ws, 3, n, mode, flags, div, lambda);
  else if (k == 4) i = combineSmall(out, base, deltas, ws, 4, n, mode, flags, div, lambda);
  for (; i + 4 <= n; i += 4) {
    const off = i << 2;
    let mixed = zero;
    let dv = divV;
    if (consensus) {
      let tot = zero;
      for (let m = 0; m < k; m++) {
        tot = f32x4.add(tot, weighted4(ptrAt(deltas, m), off, f32x4.splat(wAt(ws, m)), mode));
      }
      const majPos = f32x4.ge(roundModex4(tot, mode), zero);
      dv = zero;
      for (let m = 0; m < k; m++) {
        const wv = f32x4.splat(wAt(ws, m));
        const wd = weighted4(ptrAt(deltas, m), off, wv, mode);
        const mk = keep4(wd, majPos);
        mixed = addMasked(mixed, wd, mk);
        dv = addMasked(dv, wv, mk);
      }
      mixed = roundModex4(mixed, mode);
      dv = divisor4(dv, mode);
    } else {
      for (let m = 0; m < k; m++) {
        mixed = f32x4.add(mixed, weighted4(ptrAt(deltas, m), off, f32x4.splat(wAt(ws, m)), mode));
      }
      mixed = roundModex4(mixed, mode);
    }
    mixed = finish4(mixed, dv, normalize, scale, lamV, mode);
    v128.store(out + off, roundModex4(f32x4.add(v128.load(base + off), mixed), mode));
  }
  for (; i < n; i++) {
    const off = i << 2;
    let mixed: f32 = 0;
    let dv = div;
    if (consensus) {
      let tot: f32 = 0;
      for (let m = 0; m < k; m++) tot += roundMode(load<f32>(ptrAt(deltas, m) + off) * wAt(ws, m), mode);
      const majPos = roundMode(tot, mode) >= 0;
      dv = 0;
      for (let m = 0; m < k; m++) {
        const w = wAt(ws, m);
        const wd = roundMode(load<f32>(ptrAt(deltas, m) + off) * w, mode);
        const mk: f32 = (majPos ? wd > 0 : wd < 0) ? 1 : 0;
        mixed += wd * mk;
        dv += w * mk;
      }
      mixed = roundMode(mixed, mode);
      dv = roundMode(dv, mode);
      if (dv == 0) dv = 1;
    } else {
      for (let m = 0; m < k; m++) mixed += roundMode(load<f32>(ptrAt(deltas, m) + off) * wAt(ws, m), mode);
      mixed = roundMode(mixed, mode);
    }
    if (normalize) mixed = roundMode(mixed / dv, mode);
    if (scale) mixed = roundMode(mixed * lambda, mode);
    store<f32>(out + off, roundMode(load<f32>(base + off) + mixed, mode));
  }
}
