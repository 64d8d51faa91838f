// Stored checkpoint bytes <-> float32 working values on the GPU (assembly/convert.ts). Stored
// bf16/f16 tensors are uploaded as they are, two elements per u32 word, little-endian.
import { gridStride, WGSL_COMMON } from "./wgsl-common.ts";

const F16 = /* wgsl */ `
fn f16_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return bitcast<f32>(bitcast<u32>(f32(m) * 5.9604644775390625e-8) | sign); }
  if (e == 31u) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

// x already on the f16 grid (round_f16)
fn f32_to_f16_exact(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u | ((a >> 13u) & 0x3ffu); }
  if (a == 0x7f800000u) { return sign | 0x7c00u; }
  if (a >= 0x38800000u) { return sign | ((a - 0x38000000u) >> 13u); }
  return sign | u32(bitcast<f32>(a) * 16777216.0);
}
`;

/**
 * decode: dst[i] = the working value of stored element i (P.u0 = stored dtype code), rounded to the
 * working dtype when the stored dtype differs. Exceptional inputs raise FLAG_INEXACT.
 */
export const WGSL_DECODE = WGSL_COMMON + F16 + /* wgsl */ `
@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

fn load_stored(i: u32) -> f32 {
  if (P.u0 == 1u) {
    let w = src[i >> 1u];
    return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u));
  }
  if (P.u0 == 2u) {
    let w = src[i >> 1u];
    return f16_to_f32(select(w & 0xffffu, w >> 16u, (i & 1u) == 1u));
  }
  return bitcast<f32>(src[i]);
}
` + gridStride(/* wgsl */ `
    var v = check(load_stored(i));
    if (P.u0 != P.mode) { v = rnd(v); }
    dst[i] = v;`);

/**
 * encode: stored words of the output dtype (P.u0) from float32 values, rounded to nearest even.
 * One invocation per u32 word (P.u1 words), so two bf16/f16 elements never race.
 */
export const WGSL_ENCODE = WGSL_COMMON + F16 + /* wgsl */ `
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

// bit operations only: exact for every input, infinities and NaN included, so nothing is flagged
fn enc16(x: f32) -> u32 {
  if (P.u0 == 1u) { return bitcast<u32>(round_bf16(x)) >> 16u; }
  return f32_to_f16_exact(round_f16(x));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 64u;
  for (var w = gid.x; w < P.u1; w = w + stride) {
    if (P.u0 == 0u) {
      dst[w] = bitcast<u32>(src[w]);
    } else {
      let i = w * 2u;
      var hi = 0u;
      if (i + 1u < P.n) { hi = enc16(src[i + 1u]); }
      dst[w] = enc16(src[i]) | (hi << 16u);
    }
  }
}
`;
