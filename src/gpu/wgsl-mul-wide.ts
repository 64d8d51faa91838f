// The 32 x 32 -> 64-bit unsigned product in WGSL (no u64 type): four 16-bit partial products,
// returned as (low word, high word). Shared by the exact FMA and the counter-based RNG.
export const WGSL_MUL_WIDE = /* wgsl */ `
fn u32_mul_wide(a: u32, b: u32) -> vec2u {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2u((p00 & 0xffffu) | (mid << 16u), a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}
`;
