// The kernel ABI: every export takes pointers and lengths, returns an i32 status (0 = OK), and never
// allocates. The host (src/kernels) owns all memory above heapBase(). Mirrored by src/kernels/abi*.ts.
export { decode, encode, round_to } from "./convert";
export { wsum } from "./wsum";
export { wsum_stored, cast_stored } from "./wsum-stored";
export { mul_scalar, div_scalar } from "./scalar-ops";
export { rng_uniform, rng_bernoulli } from "./rng";
export * from "./family-spherical";
export * from "./family-gta";
export * from "./family-misc";

export function heapBase(): usize {
  return __heap_base;
}
export { diff_stats } from "./diff-stats";
