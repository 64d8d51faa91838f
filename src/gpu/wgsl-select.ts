// Magnitude rank selection on the GPU, the same ranking as assembly/select-rank-range.ts:
// elements rank by the bits of |x| (a u32 key) ascending, and equal keys by index ascending or
// descending; ranks [lo, hi) are kept. Integer work only, so bit-identical by construction.
//
//   hist_hi      histogram of key >> 16 (32768 bins) over every chunk
//   find_bins    (one workgroup) level 0: the high bins of positions lo and hi;
//                level 1: the full boundary keys, their ordinals among equal keys, and which of
//                the equal keys (in index order) is the cut
//   hist_lo      histograms of key & 0xffff over the elements in the two high bins
//   seg_count    per segment of SEGMENT elements, how many elements equal each boundary key
//   find_seg     (one workgroup) the segment holding each cut, and the rest within it
//   find_in_seg  (one invocation, per chunk) the index of each cut element
//   mask_apply   x = keep ? x : x * 0 (a signed zero), elementwise
//
// State slot (SLOT_WORDS u32 at P.u7, one per task vector): see SLOT below. Positions lo and hi
// come in the parameters.
import { WGSL_COMMON } from "./wgsl-common.ts";

/** Elements per counting segment; chunk sizes are multiples of it. */
export const SEGMENT = 4096;
export const HI_BINS = 32768;
export const LO_BINS = 65536;
/** u32 words of the histogram buffer: the high histogram, then the low ones of the lo and hi cuts. */
export const HIST_WORDS = HI_BINS + 2 * LO_BINS;
/** u32 words of one task vector's selection state. */
export const SLOT_WORDS = 32;

/** Word offsets in a slot (all written by the kernels). */
export const SLOT = {
  binLo: 2, cumLo: 3, binHi: 4, cumHi: 5,
  kLo: 6, cntLo: 7, jLo: 8, kHi: 9, cntHi: 10, jHi: 11,
  segLo: 12, resLo: 13, segHi: 14, resHi: 15,
  pLo: 16, pHi: 17,
} as const;

/** P.u0 bits of the selection kernels. */
export const SEL_HAS_LO = 1;
export const SEL_HAS_HI = 2;
/** Equal keys rank by index descending (the lower index ranks higher: a top-k keeps it first). */
export const SEL_TIE_DESC = 4;
/** mask_apply: keep nothing. */
export const SEL_NONE = 8;

const SLOT_WGSL = Object.entries(SLOT).map(([k, v]) => `const ${k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase()).toUpperCase()}: u32 = ${v}u;`).join("\n");

const PRELUDE = WGSL_COMMON + /* wgsl */ `
${SLOT_WGSL}
const SEGMENT: u32 = ${SEGMENT}u;
const HI_BINS: u32 = ${HI_BINS}u;
const LO_BINS: u32 = ${LO_BINS}u;
fn has_lo() -> bool { return (P.u0 & ${SEL_HAS_LO}u) != 0u; }
fn has_hi() -> bool { return (P.u0 & ${SEL_HAS_HI}u) != 0u; }
fn tie_desc() -> bool { return (P.u0 & ${SEL_TIE_DESC}u) != 0u; }
fn st(i: u32) -> u32 { return atomicLoad(&S[P.u7 + i]); }
fn st_set(i: u32, v: u32) { atomicStore(&S[P.u7 + i], v); }
`;

/** hist_hi: bindings x (read), hist. */
export const WGSL_HIST_HI = PRELUDE + /* wgsl */ `
@group(0) @binding(2) var<storage, read> x: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 64u;
  for (var i = gid.x; i < P.n; i = i + stride) {
    atomicAdd(&hist[(x[i] & 0x7fffffffu) >> 16u], 1u);
  }
}
`;

/** hist_lo: bindings x (read), hist. */
export const WGSL_HIST_LO = PRELUDE + /* wgsl */ `
@group(0) @binding(2) var<storage, read> x: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 64u;
  let lo = has_lo();
  let hi = has_hi();
  var bin_lo = NONE;
  var bin_hi = NONE;
  if (lo) { bin_lo = st(BIN_LO); }
  if (hi) { bin_hi = st(BIN_HI); }
  for (var i = gid.x; i < P.n; i = i + stride) {
    let k = x[i] & 0x7fffffffu;
    let b = k >> 16u;
    if (b == bin_lo) { atomicAdd(&hist[HI_BINS + (k & 0xffffu)], 1u); }
    if (b == bin_hi) { atomicAdd(&hist[HI_BINS + LO_BINS + (k & 0xffffu)], 1u); }
  }
}
`;

/**
 * find_bins (one workgroup of 64). P.u1 = level (0 high, 1 low). Level 0 writes BIN_*, CUM_*;
 * level 1 writes K_*, CNT_* and J_* (the cut's position among equal keys in index order; J = CNT
 * means no equal key is kept on that side).
 */
export const WGSL_FIND_BINS = PRELUDE + /* wgsl */ `
@group(0) @binding(2) var<storage, read> hist: array<u32>;

var<workgroup> part: array<u32, 64>;
var<workgroup> pref: array<u32, 64>;
var<workgroup> found_bin: u32;
var<workgroup> found_cum: u32;

// The first bin b of hist[off, off + bins) with p < (count below b) + hist[b].
fn find_bin(off: u32, bins: u32, p: u32, lid: u32) {
  let per = bins / 64u;
  var s = 0u;
  for (var b = 0u; b < per; b = b + 1u) { s = s + hist[off + lid * per + b]; }
  part[lid] = s;
  if (lid == 0u) { found_bin = bins - 1u; found_cum = 0u; }
  workgroupBarrier();
  if (lid == 0u) {
    var c = 0u;
    for (var t = 0u; t < 64u; t = t + 1u) { pref[t] = c; c = c + part[t]; }
    found_cum = c;
  }
  workgroupBarrier();
  let c0 = pref[lid];
  if (p >= c0 && p - c0 < part[lid]) {
    var c = c0;
    for (var b = 0u; b < per; b = b + 1u) {
      let h = hist[off + lid * per + b];
      if (p - c < h) {
        found_bin = lid * per + b;
        found_cum = c;
        break;
      }
      c = c + h;
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3u) {
  let lid = lid3.x;
  if (P.u1 == 0u) {
    if (has_lo()) {
      find_bin(0u, HI_BINS, P.u2, lid);
      if (lid == 0u) { st_set(BIN_LO, found_bin); st_set(CUM_LO, found_cum); }
      workgroupBarrier();
    }
    if (has_hi()) {
      find_bin(0u, HI_BINS, P.u3, lid);
      if (lid == 0u) { st_set(BIN_HI, found_bin); st_set(CUM_HI, found_cum); }
    }
    return;
  }
  if (has_lo()) {
    let q = P.u2 - st(CUM_LO);
    find_bin(HI_BINS, LO_BINS, q, lid);
    if (lid == 0u) {
      let cnt = hist[HI_BINS + found_bin];
      let t = q - found_cum;
      st_set(K_LO, (st(BIN_LO) << 16u) | found_bin);
      st_set(CNT_LO, cnt);
      // kept: ordinal >= t, i.e. ascending position >= t (ties ascending) or <= cnt - 1 - t
      st_set(J_LO, select(t, cnt - 1u - t, tie_desc()));
    }
    workgroupBarrier();
  }
  if (has_hi()) {
    let q = P.u3 - st(CUM_HI);
    find_bin(HI_BINS + LO_BINS, LO_BINS, q, lid);
    if (lid == 0u) {
      let cnt = hist[HI_BINS + LO_BINS + found_bin];
      let t = q - found_cum;
      st_set(K_HI, (st(BIN_HI) << 16u) | found_bin);
      st_set(CNT_HI, cnt);
      // kept: ordinal < t, i.e. ascending position < t (ties ascending) or >= cnt - t
      st_set(J_HI, select(t, cnt - t, tie_desc()));
    }
  }
}
`;

/** seg_count: bindings x (read), seg (2 words per segment of the whole tensor: lo, hi). */
export const WGSL_SEG_COUNT = PRELUDE + /* wgsl */ `
@group(0) @binding(2) var<storage, read> x: array<u32>;
@group(0) @binding(3) var<storage, read_write> seg: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 64u;
  var k_lo = NONE;
  var k_hi = NONE;
  if (has_lo()) { k_lo = st(K_LO); }
  if (has_hi()) { k_hi = st(K_HI); }
  for (var i = gid.x; i < P.n; i = i + stride) {
    let k = x[i] & 0x7fffffffu;
    let s = (P.base + i) / SEGMENT;
    if (k == k_lo) { atomicAdd(&seg[2u * s], 1u); }
    if (k == k_hi) { atomicAdd(&seg[2u * s + 1u], 1u); }
  }
}
`;

/** find_seg (one workgroup of 64): P.u1 = segments in the tensor. Bindings: seg (read). */
export const WGSL_FIND_SEG = PRELUDE + /* wgsl */ `
@group(0) @binding(2) var<storage, read> seg: array<u32>;

var<workgroup> part: array<u32, 64>;
var<workgroup> pref: array<u32, 64>;

// Writes the segment holding the j-th (ascending) element equal to the side's key, and the rest.
fn find(side: u32, j: u32, cnt: u32, lid: u32, out_seg: u32, out_res: u32) {
  let nseg = P.u1;
  let per = (nseg + 63u) / 64u;
  let start = min(lid * per, nseg);
  let end = min(start + per, nseg);
  var s = 0u;
  for (var b = start; b < end; b = b + 1u) { s = s + seg[2u * b + side]; }
  part[lid] = s;
  workgroupBarrier();
  if (lid == 0u) {
    var c = 0u;
    for (var t = 0u; t < 64u; t = t + 1u) { pref[t] = c; c = c + part[t]; }
    st_set(out_seg, NONE);
  }
  workgroupBarrier();
  let c0 = pref[lid];
  if (j < cnt && j >= c0 && j - c0 < part[lid]) {
    var c = c0;
    for (var b = start; b < end; b = b + 1u) {
      let h = seg[2u * b + side];
      if (j - c < h) {
        st_set(out_seg, b);
        st_set(out_res, j - c);
        break;
      }
      c = c + h;
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3u) {
  let lid = lid3.x;
  if (has_lo()) { find(0u, st(J_LO), st(CNT_LO), lid, SEG_LO, RES_LO); }
  if (has_hi()) { find(1u, st(J_HI), st(CNT_HI), lid, SEG_HI, RES_HI); }
}
`;

/** find_in_seg (per chunk; invocation 0 does the work): bindings x (read). Writes P_LO / P_HI. */
export const WGSL_FIND_IN_SEG = PRELUDE + /* wgsl */ `
@group(0) @binding(2) var<storage, read> x: array<u32>;

fn scan(key: u32, sg: u32, res: u32, out: u32) {
  if (sg == NONE) { return; }
  let first = sg * SEGMENT;
  if (first < P.base || first >= P.base + P.n) { return; }
  let end = min(first + SEGMENT, P.base + P.n);
  var c = 0u;
  for (var g = first; g < end; g = g + 1u) {
    if ((x[g - P.base] & 0x7fffffffu) == key) {
      if (c == res) { st_set(out, g); return; }
      c = c + 1u;
    }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x != 0u) { return; }
  if (has_lo()) { scan(st(K_LO), st(SEG_LO), st(RES_LO), P_LO); }
  if (has_hi()) { scan(st(K_HI), st(SEG_HI), st(RES_HI), P_HI); }
}
`;

/** mask_apply: x = keep ? x : signed zero. Bindings: x. */
export const WGSL_MASK_APPLY = PRELUDE + /* wgsl */ `
@group(0) @binding(2) var<storage, read_write> x: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 64u;
  let none = (P.u0 & ${SEL_NONE}u) != 0u;
  let lo = has_lo();
  let hi = has_hi();
  let desc = tie_desc();
  var k_lo = 0u;
  var p_lo = 0u;
  var k_hi = 0u;
  var p_hi = 0u;
  if (lo) { k_lo = st(K_LO); p_lo = st(P_LO); }
  if (hi) {
    k_hi = st(K_HI);
    p_hi = NONE;
    if (st(J_HI) < st(CNT_HI)) { p_hi = st(P_HI); }
  }
  for (var i = gid.x; i < P.n; i = i + stride) {
    let v = x[i];
    let k = v & 0x7fffffffu;
    let g = P.base + i;
    var keep = !none;
    if (lo) { keep = keep && (k > k_lo || (k == k_lo && select((g >= p_lo), (g <= p_lo), desc))); }
    if (hi) { keep = keep && (k < k_hi || (k == k_hi && select((g < p_hi), (g >= p_hi), desc))); }
    if (!keep) { x[i] = v & 0x80000000u; }
  }
}
`;
