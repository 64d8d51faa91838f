// Kernels of the spherical method family (see src/methods/spherical/). Re-exported by index.ts.
// Reductions are named after the library whose summation order they reproduce.
export { blas_sdot } from "./spherical-blas-dot";
export { numpy_sum_prod } from "./spherical-pairwise";
export { torch_norm_rows, torch_norm_cols } from "./spherical-norm";
export { torch_sum_prod_rows, torch_sum_prod_cols } from "./spherical-cascade";
export { numpy_axpby, sph_comb2, sph_div_by, sph_add, sph_sub, sph_sub_scaled, torch_dot_rounded } from "./spherical-elementwise";
