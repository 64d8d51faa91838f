// The last step of gta_combine on four lanes, shared by gta_combine (assembly/gta-combine.ts) and
// the fused bfloat16 final step (assembly/gta-final-bf16.ts): from the weighted task vectors
// wd_m = R(d_m * w_m), the sign election, the mix, the divisor, normalize and lambda, every op
// rounded with roundModex4(mode). The sum is not yet added to the base.
import { roundModex4 } from "./round";

// @ts-ignore: decorator
@inline export function ptrAt(ptrs: usize, m: i32): usize {
  return <usize>load<u32>(ptrs + (<usize>m << 2));
}

// @ts-ignore: decorator
@inline export function wAt(ws: usize, m: i32): f32 {
  return load<f32>(ws + (<usize>m << 2));
}

/** 1 where wd's sign is the elected one (positive where majPos is set, negative elsewhere), else 0. */
// @ts-ignore: decorator
@inline export function keep4(wd: v128, majPos: v128): v128 {
  const zero = f32x4.splat(0);
  return v128.and(v128.bitselect(f32x4.gt(wd, zero), f32x4.lt(wd, zero), majPos), f32x4.splat(1));
}

/** acc + v * mask (mask 1 or 0 per lane). */
// @ts-ignore: decorator
@inline export function addMasked(acc: v128, v: v128, mask: v128): v128 {
  return f32x4.add(acc, f32x4.mul(v, mask));
}

/** The rounded sum of the kept weights, with 0 replaced by 1. */
// @ts-ignore: decorator
@inline export function divisor4(dv: v128, mode: i32): v128 {
  const r = roundModex4(dv, mode);
  return v128.bitselect(f32x4.splat(1), r, f32x4.eq(r, f32x4.splat(0)));
}

/** Normalize by the divisor and scale by lambda, as the flags say. */
// @ts-ignore: decorator
@inline export function finish4(mixed: v128, dv: v128, normalize: bool, scale: bool, lamV: v128, mode: i32): v128 {
  if (normalize) mixed = roundModex4(f32x4.div(mixed, dv), mode);
  if (scale) mixed = roundModex4(f32x4.mul(mixed, lamV), mode);
  return mixed;
}

/**
 * The mix of K <= 4 weighted task vectors (a constant K after inlining; unused ones are zero)
 * with weights w_m: with consensus, the elected sign from R(sum wd) >= 0 (`signRounded`) or from
 * the unrounded sum where the caller knows the two agree; otherwise `div` as given.
 */
// @ts-ignore: decorator
@inline export function mix4(K: i32, wd0: v128, wd1: v128, wd2: v128, wd3: v128, w0: v128, w1: v128, w2: v128, w3: v128, consensus: bool, normalize: bool, scale: bool, divV: v128, lamV: v128, mode: i32, signRounded: bool): v128 {
  const zero = f32x4.splat(0);
  let mixed = zero;
  let dv = divV;
  if (consensus) {
    let tot = f32x4.add(zero, wd0);
    if (K > 1) tot = f32x4.add(tot, wd1);
    if (K > 2) tot = f32x4.add(tot, wd2);
    if (K > 3) tot = f32x4.add(tot, wd3);
    const majPos = f32x4.ge(signRounded ? roundModex4(tot, mode) : tot, zero);
    dv = zero;
    let mk = keep4(wd0, majPos);
    mixed = addMasked(mixed, wd0, mk);
    dv = addMasked(dv, w0, mk);
    if (K > 1) {
      mk = keep4(wd1, majPos);
      mixed = addMasked(mixed, wd1, mk);
      dv = addMasked(dv, w1, mk);
    }
    if (K > 2) {
      mk = keep4(wd2, majPos);
      mixed = addMasked(mixed, wd2, mk);
      dv = addMasked(dv, w2, mk);
    }
    if (K > 3) {
      mk = keep4(wd3, majPos);
      mixed = addMasked(mixed, wd3, mk);
      dv = addMasked(dv, w3, mk);
    }
    mixed = roundModex4(mixed, mode);
    dv = divisor4(dv, mode);
  } else {
    mixed = f32x4.add(mixed, wd0);
    if (K > 1) mixed = f32x4.add(mixed, wd1);
    if (K > 2) mixed = f32x4.add(mixed, wd2);
    if (K > 3) mixed = f32x4.add(mixed, wd3);
    mixed = roundModex4(mixed, mode);
  }
  return finish4(mixed, dv, normalize, scale, lamV, mode);
}
