// The random and rescaling steps of the task-arithmetic sparsifiers on the GPU (src/methods/gta/
// sparsify.ts, rescale.ts), integer work wherever the WASM path's result is exact:
//
//   l1_acc        exact L1 norm buckets (assembly/gta-l1.ts): per float32 exponent field, the sum
//                 of the integer significands of |x|, as a 64-bit (lo, hi) pair of u32 atomics
//   della_rank    DELLA's rank of each element in its row (stable ascending order of the |x| bits,
//                 as assembly/gta-della.ts's radix sort), by counting
//   bernoulli     the counter-based generator of assembly/rng.ts (splitmix64, in u32 pairs) and
//                 x = u < p ? x : x * 0 (a signed zero), p constant or DELLA's probability of the
//                 element's rank from a table the host computed
//   scale_round   masked *= factor rounded to the work dtype, then rounded to the tensor's dtype
import { gridStride, WGSL_COMMON, WORKGROUP_SIZE } from "./wgsl-common.ts";
import { WGSL_MUL_WIDE } from "./wgsl-mul-wide.ts";

/** u32 words of one L1 accumulator: 256 low words, then 256 high words (one per exponent field). */
export const L1_ACC_WORDS = 512;

/**
 * l1_acc: acc[P.u0 ..] += the buckets of |x[i]|, or with P.u1 != 0 of R(x[i] * x[i]) (sce's sum of
 * squares). Per workgroup in workgroup memory, then once per
 * non-empty bucket into the buffer. A carry out of a low word (detected from atomicAdd's old value)
 * adds one to the high word, so the sums are exact in any order. Infinite and NaN values raise the
 * inexact flag (the tensor is redone on the CPU). Bindings: x (read), acc.
 */
export const WGSL_L1_ACC = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read> x: array<u32>;
@group(0) @binding(3) var<storage, read_write> acc: array<atomic<u32>>;

var<workgroup> wlo: array<atomic<u32>, 256>;
var<workgroup> whi: array<atomic<u32>, 256>;

@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var e = lid.x; e < 256u; e = e + ${WORKGROUP_SIZE}u) {
    atomicStore(&wlo[e], 0u);
    atomicStore(&whi[e], 0u);
  }
  workgroupBarrier();
  let stride = nwg.x * ${WORKGROUP_SIZE}u;
  for (var i = gid.x; i < P.n; i = i + stride) {
    var a = x[i] & 0x7fffffffu;
    if (P.u1 != 0u) {
      let v = bitcast<f32>(a);
      a = bitcast<u32>(rnd(mul(v, v)));
    }
    let e = a >> 23u;
    if (e == 255u) {
      raise_inexact();
    } else {
      var s = a & 0x7fffffu;
      if (e != 0u) { s = s | 0x800000u; }
      if (s != 0u) {
        let old = atomicAdd(&wlo[e], s);
        if (old + s < old) { atomicAdd(&whi[e], 1u); }
      }
    }
  }
  workgroupBarrier();
  for (var e = lid.x; e < 256u; e = e + ${WORKGROUP_SIZE}u) {
    let lo = atomicLoad(&wlo[e]);
    let hi = atomicLoad(&whi[e]);
    if (lo != 0u) {
      let old = atomicAdd(&acc[P.u0 + e], lo);
      if (old + lo < old) { atomicAdd(&acc[P.u0 + 256u + e], 1u); }
    }
    if (hi != 0u) { atomicAdd(&acc[P.u0 + 256u + e], hi); }
  }
}
`;

/**
 * della_rank: rank[i] = the rank of x[i] in its row. The tensor is [outer, rowLen, inner] with rows
 * along the middle dim; P.u0 = rowLen, P.u1 = inner, P.u2 = the full chunk size (every chunk but
 * the last has it), P.u3 = the first row block (o) this chunk touches, P.u4 = the number of work
 * items (row blocks touched x inner x tiles per row). A row spans at most P.u2 elements (the host
 * declines longer ones), so it lies within this chunk and its neighbours. The rank counts the
 * row's elements with a smaller key, and those with the same key and a lower index: one workgroup
 * takes 64 positions of one row and compares them with the row's keys, 64 at a time through
 * workgroup memory. O(rowLen) per element.
 * Bindings: the previous, this and the next chunk of x (read; this one where there is none), rank.
 */
export const WGSL_DELLA_RANK = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read> xp: array<u32>;
@group(0) @binding(3) var<storage, read> xc: array<u32>;
@group(0) @binding(4) var<storage, read> xn: array<u32>;
@group(0) @binding(5) var<storage, read_write> rank: array<u32>;

var<workgroup> tile: array<u32, ${WORKGROUP_SIZE}>;

fn key_at(g: u32) -> u32 {
  if (g < P.base) { return xp[g + P.u2 - P.base] & 0x7fffffffu; }
  if (g >= P.base + P.n) { return xn[g - P.base - P.n] & 0x7fffffffu; }
  return xc[g - P.base] & 0x7fffffffu;
}

@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row_len = P.u0;
  let inner = P.u1;
  let tiles = (row_len + ${WORKGROUP_SIZE - 1}u) / ${WORKGROUP_SIZE}u;
  for (var item = wid.x; item < P.u4; item = item + nwg.x) {
    let t = item % tiles;
    let rr = item / tiles;
    let start = (P.u3 + rr / inner) * row_len * inner + rr % inner;
    let j = t * ${WORKGROUP_SIZE}u + lid.x;
    let g = start + j * inner;
    let mine = j < row_len && g >= P.base && g < P.base + P.n;
    var k = 0u;
    if (mine) { k = xc[g - P.base] & 0x7fffffffu; }
    var c = 0u;
    for (var t0 = 0u; t0 < row_len; t0 = t0 + ${WORKGROUP_SIZE}u) {
      let jt = t0 + lid.x;
      if (jt < row_len) { tile[lid.x] = key_at(start + jt * inner); }
      workgroupBarrier();
      let m = min(${WORKGROUP_SIZE}u, row_len - t0);
      for (var q = 0u; q < m; q = q + 1u) {
        let kt = tile[q];
        if (kt < k || (kt == k && t0 + q < j)) { c = c + 1u; }
      }
      workgroupBarrier();
    }
    if (mine) { rank[g - P.base] = c; }
  }
}
`;

/**
 * bernoulli: keep x[i] when uniform(key, global index) < p, else x[i] * 0; p = P.f0, or when
 * P.u2 != 0, table[rank[i]]. P.u0/P.u1 = key lo/hi. Bindings: x, rank (read), table (read); any
 * buffers when P.u2 == 0.
 */
export const WGSL_BERNOULLI = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read_write> x: array<u32>;
@group(0) @binding(3) var<storage, read> rank: array<u32>;
@group(0) @binding(4) var<storage, read> table: array<f32>;

${WGSL_MUL_WIDE}// the low 64 bits of a * b
fn mul64(a: vec2u, b: vec2u) -> vec2u {
  let w = u32_mul_wide(a.x, b.x);
  return vec2u(w.x, w.y + a.x * b.y + a.y * b.x);
}
fn add64(a: vec2u, b: vec2u) -> vec2u {
  let lo = a.x + b.x;
  return vec2u(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}
// z ^ (z >> s), 0 < s < 32
fn xorshr(z: vec2u, s: u32) -> vec2u {
  return vec2u(z.x ^ ((z.x >> s) | (z.y << (32u - s))), z.y ^ (z.y >> s));
}
fn uniform_at(key: vec2u, i: u32) -> f32 {
  var z = add64(key, mul64(vec2u(i, 0u), vec2u(0x7f4a7c15u, 0x9e3779b9u)));
  z = mul64(xorshr(z, 30u), vec2u(0x1ce4e5b9u, 0xbf58476du));
  z = mul64(xorshr(z, 27u), vec2u(0x133111ebu, 0x94d049bbu));
  z = xorshr(z, 31u);
  // the top 24 bits, times 2^-24: both exact
  return f32(z.y >> 8u) * 5.9604644775390625e-8;
}
` + gridStride(/* wgsl */ `
    var pi = P.f0;
    if (P.u2 != 0u) { pi = table[rank[i]]; }
    if (!(uniform_at(vec2u(P.u0, P.u1), P.base + i) < pi)) { x[i] = x[i] & 0x80000000u; }`);

/**
 * scale_round: x = R_mode(R_u1(x * P.f0)) when P.u0 != 0, else R_mode(x); P.u1 = the work dtype's
 * code (assembly/scalar-ops.ts mul_scalar, then round_to). Bindings: x.
 */
export const WGSL_SCALE_ROUND = WGSL_COMMON + /* wgsl */ `
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

fn round_code(v: f32, code: u32) -> f32 {
  if (code == 1u) { return round_bf16(v); }
  if (code == 2u) { return round_f16(v); }
  return v;
}
` + gridStride(/* wgsl */ `
    var v = x[i];
    if (P.u0 != 0u) { v = check(round_code(mul(v, P.f0), P.u1)); }
    x[i] = rnd(v);`);
