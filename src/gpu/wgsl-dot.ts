// Dot products in the summation orders of the CPU path (assembly/spherical-blas-dot.ts,
// spherical-pairwise.ts), the parts that are independent of each other on the GPU and the short
// serial rest on the host (gpu-dot.ts):
//
//   sdot_lanes  OpenBLAS sdot's 64 accumulators over the first n & -64 elements: lane L takes
//               elements 64s + L, each step an exact fused multiply-add (wgsl-fma.ts); one
//               workgroup of 64, one dispatch per chunk in order, the lanes kept in a buffer
//   np_leaf     NumPy's pairwise sum of products over the 128-element leaves of the full
//               8192-element buffers: 8 accumulators (element i in i % 8), then
//               ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)); the products of u = v / norm
//   np_tree     per full buffer, its 64 leaves added as the balanced tree of the recursion
//   np_axpby    out = R(x*a + y*b), NumPy's float32 a*x + b*y (assembly/spherical-elementwise.ts)
//   fma_check   out = fma_x(a, b, c), elementwise (gpu-check.ts)
import { gridStride, WGSL_COMMON } from "./wgsl-common.ts";
import { WGSL_FMA } from "./wgsl-fma.ts";

/** Leaves per NumPy buffer and elements per leaf. */
export const NP_BUFSIZE = 8192;
export const NP_LEAF = 128;

/**
 * sdot_lanes: P.u0 = 64-element blocks of this chunk to take, P.u1 = first (lanes start at +0).
 * Bindings: x (read), y (read), lanes (64 f32).
 */
export const WGSL_SDOT_LANES = WGSL_COMMON + WGSL_FMA + /* wgsl */ `
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> lanes: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3u) {
  var acc = zf();
  if (P.u1 == 0u) { acc = lanes[lid.x]; }
  for (var s = 0u; s < P.u0; s = s + 1u) {
    let i = s * 64u + lid.x;
    acc = fma_x(x[i], y[i], acc);
  }
  lanes[lid.x] = acc;
}
`;

/**
 * np_leaf: leaf sums of products of u0 = x / P.f0 (when P.u0 & 1) and u1 = y / P.f1 (P.u0 & 2),
 * else x and y as they are; P.u1 = leaves of this chunk to take (from its start), whose sums go
 * to leaf[P.base / 128 + l]. Bindings: x (read), y (read), leaf.
 */
export const WGSL_NP_LEAF = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> leaf: array<f32>;

fn prod(i: u32) -> f32 {
  var a = x[i];
  var b = y[i];
  if ((P.u0 & 1u) != 0u) { a = div_rn(a, P.f0); }
  if ((P.u0 & 2u) != 0u) { b = div_rn(b, P.f1); }
  return mul(a, b);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 64u;
  for (var l = gid.x; l < P.u1; l = l + stride) {
    let b = l * ${NP_LEAF}u;
    var r: array<f32, 8>;
    for (var k = 0u; k < 8u; k = k + 1u) { r[k] = prod(b + k); }
    for (var i = 8u; i < ${NP_LEAF}u; i = i + 8u) {
      for (var k = 0u; k < 8u; k = k + 1u) { r[k] = add(r[k], prod(b + i + k)); }
    }
    leaf[P.base / ${NP_LEAF}u + l] = add(add(add(r[0], r[1]), add(r[2], r[3])), add(add(r[4], r[5]), add(r[6], r[7])));
  }
}
`;

/** np_tree: P.u0 = full buffers; out[b] = the pairwise tree of leaf[64b .. 64b + 63]. Bindings: leaf (read), out. */
export const WGSL_NP_TREE = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read> leaf: array<f32>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 64u;
  for (var b = gid.x; b < P.u0; b = b + stride) {
    var s: array<f32, 64>;
    for (var k = 0u; k < 64u; k = k + 1u) { s[k] = leaf[b * 64u + k]; }
    for (var w = 32u; w >= 1u; w = w / 2u) {
      for (var k = 0u; k < w; k = k + 1u) { s[k] = add(s[2u * k], s[2u * k + 1u]); }
    }
    sums[b] = s[0];
  }
}
`;

/** np_axpby: out = R(x * P.f0 + y * P.f1). Bindings: x (read), y (read), out. */
export const WGSL_NP_AXPBY = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
` + gridStride(/* wgsl */ `
    out[i] = rnd(add(mul(x[i], P.f0), mul(y[i], P.f1)));`);

/** fma_check: out = fma_x(a, b, c). Bindings: a (read), b (read), c. */
export const WGSL_FMA_CHECK = WGSL_COMMON + WGSL_FMA + /* wgsl */ `
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
` + gridStride(/* wgsl */ `
    c[i] = fma_x(a[i], b[i], c[i]);`);
