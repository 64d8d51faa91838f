// The WGSL prelude every GPU kernel starts with: the parameter block, the state words, and the
// arithmetic the WASM kernels use (assembly/inline/round.ts), made exact on any WebGPU device.
//
// Exactness rules (docs/gpu.md):
// - WGSL's f32 `+`, `-` and `*` are correctly rounded, but a device may fuse a*b+c into an FMA and
//   may flush subnormals to zero (lavapipe does). Every product goes through nc(), an OR with a
//   runtime zero, so no compiler can contract it with a following add; the "+0 +" that turns -0
//   into +0 uses a runtime zero too, so it cannot be folded away.
// - WGSL's division is only accurate to 2.5 ulp: div_rn() divides in integer arithmetic.
// - Rounding to bf16/f16 is done on u32 bit patterns, as the WASM kernels do.
// - Any subnormal, infinite or NaN input, and any product or sum whose result is below 2^-125 (where a
//   flushing device could differ), sets FLAG_INEXACT in S[0]; the host then redoes the tensor on the
//   CPU. So a GPU result is either bit-identical to the WASM path or not used.

/** Bytes of one kernel's parameter block (16 words). */
export const PARAMS_BYTES = 64;

/** State words: S[0] holds the flags; the selection kernels use per-task-vector slots above it. */
export const FLAG_INEXACT = 1;

export const WGSL_COMMON = /* wgsl */ `
struct Params {
  n: u32,      // elements in this chunk
  base: u32,   // index of the chunk's first element in the whole tensor
  mode: u32,   // working dtype: 0 f32, 1 bf16, 2 f16
  zero: u32,   // always 0, unknown to the compiler
  u0: u32, u1: u32, u2: u32, u3: u32,
  f0: f32, f1: f32, f2: f32, f3: f32,
  u4: u32, u5: u32, u6: u32, u7: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> S: array<atomic<u32>>;

const FLAG_INEXACT: u32 = ${FLAG_INEXACT}u;
const NONE: u32 = 0xffffffffu;

fn zf() -> f32 { return bitcast<f32>(P.zero); }
fn nc(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) | P.zero); }
fn raise_inexact() { atomicOr(&S[0], FLAG_INEXACT); }
fn mag(x: f32) -> u32 { return bitcast<u32>(x) & 0x7fffffffu; }
// subnormal, infinite or NaN
fn exceptional(x: f32) -> bool {
  let e = bitcast<u32>(x) & 0x7f800000u;
  return e == 0x7f800000u || (e == 0u && mag(x) != 0u);
}
// |x| < 2^-125: a product or sum this small may be flushed by the device
fn tiny(x: f32) -> bool { return mag(x) < 0x01000000u; }
fn check(x: f32) -> f32 {
  if (exceptional(x)) { raise_inexact(); }
  return x;
}
fn mul(a: f32, b: f32) -> f32 {
  let p = nc(a * b);
  if ((tiny(p) && mag(a) != 0u && mag(b) != 0u) || exceptional(p)) { raise_inexact(); }
  return p;
}
fn add(a: f32, b: f32) -> f32 {
  let s = nc(a + b);
  let cancels = (bitcast<u32>(a) ^ bitcast<u32>(b)) == 0x80000000u || (mag(a) == 0u && mag(b) == 0u);
  if ((tiny(s) && !cancels) || exceptional(s)) { raise_inexact(); }
  return s;
}
fn sub(a: f32, b: f32) -> f32 { return add(a, bitcast<f32>(bitcast<u32>(b) ^ 0x80000000u)); }

// Correctly rounded a / b for normal operands and normal results (anything else raises).
fn div_rn(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let s = (ua ^ ub) & 0x80000000u;
  let ea = (ua >> 23u) & 0xffu;
  let eb = (ub >> 23u) & 0xffu;
  if (ea == 0xffu || eb == 0xffu || eb == 0u) { raise_inexact(); return a / b; }
  if (ea == 0u) {
    if (mag(a) == 0u) { return bitcast<f32>(s); }
    raise_inexact();
    return a / b;
  }
  var ma = (ua & 0x7fffffu) | 0x800000u;
  let mb = (ub & 0x7fffffu) | 0x800000u;
  var e = i32(ea) - i32(eb) + 127;
  if (ma < mb) { ma = ma << 1u; e = e - 1; }
  // restoring division: 25 quotient bits (24 + the rounding bit), remainder for the sticky bit
  var q = 0u;
  var r = ma;
  for (var i = 0u; i < 25u; i = i + 1u) {
    q = q << 1u;
    if (r >= mb) { r = r - mb; q = q | 1u; }
    r = r << 1u;
  }
  let half = q & 1u;
  q = q >> 1u;
  if (half == 1u && (r != 0u || (q & 1u) == 1u)) { q = q + 1u; }
  if (q == 0x1000000u) { q = q >> 1u; e = e + 1; }
  if (e <= 1 || e >= 255) { raise_inexact(); return a / b; }
  return bitcast<f32>(s | (u32(e) << 23u) | (q & 0x7fffffu));
}

fn round_bf16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  if (mag(x) > 0x7f800000u) { return bitcast<f32>((b | 0x00400000u) & 0xffff0000u); }
  return bitcast<f32>((b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u);
}

// f16 rounding on the bits: normal range by the carry trick, overflow to infinity, and below
// 2^-14 to a multiple of 2^-24 (ties to even) with integer shifts.
fn round_f16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let a = b & 0x7fffffffu;
  let sign = b & 0x80000000u;
  if (a > 0x7f800000u) { return x; }
  if (a >= 0x477ff000u) { return bitcast<f32>(sign | 0x7f800000u); }
  if (a >= 0x38800000u) { return bitcast<f32>((b + 0x0fffu + ((b >> 13u) & 1u)) & 0xffffe000u); }
  let e = a >> 23u;
  if (e == 0u) { return bitcast<f32>(sign); }
  let m = (a & 0x7fffffu) | 0x800000u;
  // value = m * 2^(e - 150) = (m >> sh) * 2^-24 with sh = 126 - e (>= 14)
  let sh = 126u - e;
  if (sh > 25u) { return bitcast<f32>(sign); }
  var q = m >> sh;
  let rem = m & ((1u << sh) - 1u);
  let halfway = 1u << (sh - 1u);
  if (rem > halfway || (rem == halfway && (q & 1u) == 1u)) { q = q + 1u; }
  if (q == 0u) { return bitcast<f32>(sign); }
  // q * 2^-24 with q <= 1024: exact, and a normal f32
  return bitcast<f32>(sign | bitcast<u32>(f32(q) * 5.9604644775390625e-8));
}

fn round_mode(x: f32) -> f32 {
  if (P.mode == 1u) { return round_bf16(x); }
  if (P.mode == 2u) { return round_f16(x); }
  return x;
}

// R(x), flagging a rounding that overflowed
fn rnd(x: f32) -> f32 { return check(round_mode(x)); }
`;

/** Workgroup size of every kernel (the portable choice: compat mode allows at most 128). */
export const WORKGROUP_SIZE = 64;

/** The header of an elementwise kernel: a grid-stride loop over the chunk's P.n elements. */
export function gridStride(body: string): string {
  return /* wgsl */ `
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * ${WORKGROUP_SIZE}u;
  for (var i = gid.x; i < P.n; i = i + stride) {
${body}
  }
}`;
}
