// torch.softmax over the last dim as torch's CPU kernel computes it (SoftMaxKernel.cpp,
// `_vec_softmax_lastdim`, x86 AVX2 build: 8 float32 lanes).
//
// bf16/f16 (the reduced-precision path): the row is read as float32, m = max; for the first
// cols - cols % 8 elements e = exp(x - m) with the vectorized exp and summed in 8 lanes (lane =
// index % 8), the lanes reduced as a tree ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)); the leftover
// elements use the scalar exp and are added to that sum in order. out = R(e * (1 / sum)), the
// only rounding to the dtype.
// f32: every element uses the vectorized exp; the sum starts from the first 8 values, adds each
// next 8, adds the leftover k < 8 values into lanes 0..k-1, then reduces by the same tree (rows
// shorter than 8 add lanes 0..cols-1 in order); out = e * (1 / sum).
//
// The vectorized exp is SLEEF's expf (u10), which torch's Vectorized<float>::exp calls; it is
// within 1 ulp but not correctly rounded, so it is reproduced here operation by operation, its
// fused multiply-adds emulated exactly in float64. The scalar exp (std::exp) is taken as
// correctly rounded.
import { MODE_F32, roundMode } from "./inline/round";
import { OK } from "./convert";

/** fmaf(a, b, c) rounded once: the product is exact in f64; the f64 sum is corrected when it
 * lands exactly on a float32 rounding midpoint (the only case where rounding twice can differ). */
// @ts-ignore: decorator
@inline function fmaf(a: f32, b: f32, c: f32): f32 {
  const p = <f64>a * <f64>b;
  const q = <f64>c;
  let s = p + q;
  const bits = reinterpret<u64>(s);
  // 29 low bits 1000...0: s is a midpoint between two float32 values; below 2^-126 (float32
  // subnormals) the midpoint is elsewhere, so take the exact path there too
  if ((bits & 0x1fffffff) == 0x10000000 || abs<f64>(s) < 1.1754943508222875e-38) {
    const bv = s - p;
    const err = (p - (s - bv)) + (q - bv);
    // round to odd: an inexact f64 sum moves one ulp towards the exact sum, so the final
    // rounding to f32 (29 bits shorter) cannot double-round
    if (err != 0 && (bits & 1) == 0) s = reinterpret<f64>((err > 0) == (s > 0) ? bits + 1 : bits - 1);
  }
  return <f32>s;
}

// SLEEF xexpf constants: 1/ln 2, ln 2 split in a high and a low part, the minimax polynomial.
const R_LN2F: f32 = 1.442695040888963407359924681001892137426645954152985934135449406931;
const L2UF: f32 = 0.693145751953125;
const L2LF: f32 = 1.428606765330187045e-06;

// @ts-ignore: decorator
@inline function pow2i(q: i32): f32 {
  return reinterpret<f32>((q + 0x7f) << 23);
}

/** SLEEF's expf (u10), as torch's AVX2 Vectorized<float>::exp computes it. */
function sleefExpf(d: f32): f32 {
  if (d != d) return d;
  if (d < -104) return 0;
  if (d > 100) return Infinity;
  const q = <i32>nearest<f32>(d * R_LN2F);
  const qf = <f32>q;
  let s = fmaf(qf, -L2UF, d);
  s = fmaf(qf, -L2LF, s);
  let u: f32 = 0.000198527617612853646278381;
  u = fmaf(u, s, 0.00139304355252534151077271);
  u = fmaf(u, s, 0.00833336077630519866943359);
  u = fmaf(u, s, 0.0416664853692054748535156);
  u = fmaf(u, s, 0.166666671633720397949219);
  u = fmaf(u, s, 0.5);
  u = <f32>1 + fmaf(s * s, u, s);
  const h = q >> 1;
  return u * pow2i(h) * pow2i(q - h);
}

/** exp correctly rounded to float32 (torch's scalar std::exp path). */
// @ts-ignore: decorator
@inline function scalarExpf(d: f32): f32 {
  return <f32>Math.exp(<f64>d);
}

// @ts-ignore: decorator
@inline function treeSum(v0: f32, v1: f32, v2: f32, v3: f32, v4: f32, v5: f32, v6: f32, v7: f32): f32 {
  return ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7));
}

/** Softmax of one row: writes e = exp(x - max) to out and returns 1 / sum(e). */
function expRow(out: usize, x: usize, cols: usize, mode: i32): f32 {
  let m: f32 = -Infinity;
  for (let i: usize = 0; i < cols; i++) m = max<f32>(m, load<f32>(x + (i << 2)));
  const vecEnd = mode == MODE_F32 ? cols : cols - (cols & 7);
  let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0, l4: f32 = 0, l5: f32 = 0, l6: f32 = 0, l7: f32 = 0;
  let i: usize = 0;
  for (; i + 8 <= vecEnd; i += 8) {
    const p = x + (i << 2);
    const o = out + (i << 2);
    let e = sleefExpf(load<f32>(p) - m); store<f32>(o, e); l0 += e;
    e = sleefExpf(load<f32>(p, 4) - m); store<f32>(o, e, 4); l1 += e;
    e = sleefExpf(load<f32>(p, 8) - m); store<f32>(o, e, 8); l2 += e;
    e = sleefExpf(load<f32>(p, 12) - m); store<f32>(o, e, 12); l3 += e;
    e = sleefExpf(load<f32>(p, 16) - m); store<f32>(o, e, 16); l4 += e;
    e = sleefExpf(load<f32>(p, 20) - m); store<f32>(o, e, 20); l5 += e;
    e = sleefExpf(load<f32>(p, 24) - m); store<f32>(o, e, 24); l6 += e;
    e = sleefExpf(load<f32>(p, 28) - m); store<f32>(o, e, 28); l7 += e;
  }
  // f32 only: the last k < 8 elements go into lanes 0..k-1
  for (; i < vecEnd; i++) {
    const e = sleefExpf(load<f32>(x + (i << 2)) - m);
    store<f32>(out + (i << 2), e);
    const lane = <i32>(i & 7);
    if (lane == 0) l0 += e;
    else if (lane == 1) l1 += e;
    else if (lane == 2) l2 += e;
    else if (lane == 3) l3 += e;
    else if (lane == 4) l4 += e;
    else if (lane == 5) l5 += e;
    else l6 += e;
  }
  let sum: f32;
  if (mode == MODE_F32 && cols < 8) {
    sum = l0;
    if (cols > 1) sum += l1;
    if (cols > 2) sum += l2;
    if (cols > 3) sum += l3;
    if (cols > 4) sum += l4;
    if (cols > 5) sum += l5;
    if (cols > 6) sum += l6;
  } else {
    sum = treeSum(l0, l1, l2, l3, l4, l5, l6, l7);
  }
  for (i = vecEnd; i < cols; i++) {
    const e = scalarExpf(load<f32>(x + (i << 2)) - m);
    store<f32>(out + (i << 2), e);
    sum += e;
  }
  return <f32>1 / sum;
}

/** out[r, :] = R(softmax(x[r, :])) for a [rows, cols] tensor; out may alias x. */
export function misc_softmax_rows(out: usize, x: usize, rows: usize, cols: usize, mode: i32): i32 {
  for (let r: usize = 0; r < rows; r++) {
    const o = out + r * cols * 4;
    const inv = expRow(o, x + r * cols * 4, cols, mode);
    for (let i: usize = 0; i < cols; i++) store<f32>(o + (i << 2), roundMode(load<f32>(o + (i << 2)) * inv, mode));
  }
  return OK;
}
