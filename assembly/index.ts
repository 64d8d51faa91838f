// The kernel ABI: every export takes pointers and lengths, returns an i32 status (0 = OK), and never
// allocates. The host (src/kernels) owns all memory above heapBase(). Mirrored by src/kernels/abi*.ts.
export { decode, encode, round_to } from "./convert";
export { wsum } from "./wsum";
export { wsum_stored, cast_stored } from "./wsum-stored";
export { mul_scalar, div_scalar } from "./scalar-ops";
export { rng_uniform, rng_bernoulli } from "./rng";
export * from "./family-spherical";
export * from "./family-gta";
export { gta_final_bf16 } from "./gta-final-bf16";
export * from "./family-misc";
export { svd_matmul, svd_matmul_tn, svd_transpose, svd_scale_rows } from "./svd-matmul";
export { svd_orthonormalize_rows, svd_gram_f64 } from "./svd-orthonormalize";
export { svd_jacobi_eigh } from "./svd-jacobi";
export { lora_merge } from "./lora-merge";

export function heapBase(): usize {
  return __heap_base;
}
export { diff_stats } from "./diff-stats";
