// Kernel exports of the spherical method family (assembly/family-spherical.ts). Pointers are byte
// offsets of f32 arrays in wasm memory; `mode` is the rounding mode (0 f32, 1 bf16, 2 f16).
export interface SphericalKernelExports {
  /** out[0] = OpenBLAS (SkylakeX) float32 sdot of x and y. */
  blas_sdot(out: number, x: number, y: number, n: number): number;
  /** out[0] = NumPy 1.24's float32 `np.sum(x * y)` (8192-element buffers, pairwise). */
  numpy_sum_prod(out: number, x: number, y: number, n: number): number;
  /** out[r] = R(||x[r, :]||), torch's vectorised last-dim norm. */
  torch_norm_rows(out: number, x: number, rows: number, cols: number, mode: number): number;
  /** out[c] = R(||x[:, c]||), torch's generic (strided) norm; roundAcc: accumulate in the dtype. */
  torch_norm_cols(out: number, x: number, rows: number, cols: number, mode: number, roundAcc: number): number;
  /** out[r] = R(sum_c R(x[r, c] * y[r * yRowStride + c])), torch's cascade sum. */
  torch_sum_prod_rows(out: number, x: number, y: number, rows: number, cols: number, yRowStride: number, mode: number): number;
  /** out[c] = R(sum_r R(x[r, c] * y[r, c])), torch's cascade sum over dim 0. */
  torch_sum_prod_cols(out: number, x: number, y: number, rows: number, cols: number, mode: number): number;
  /** out[0] = torch's CPU bf16 dot (n <= 4096): acc = R(acc + R(x*y)). */
  torch_dot_rounded(out: number, x: number, y: number, n: number, mode: number): number;
  /** out = R(f32(a*x) + f32(b*y)). */
  numpy_axpby(out: number, x: number, y: number, a: number, b: number, n: number, mode: number): number;
  /** out = R(R(R(a_k*x) + R(b_k*y)) / d_k), k = row (perCol 0) or column (perCol 1). */
  sph_comb2(out: number, x: number, y: number, a: number, b: number, d: number, rows: number, cols: number, perCol: number, mode: number): number;
  /** out = R(x / s_k), k = row (perCol 0) or column (perCol 1). */
  sph_div_by(out: number, x: number, s: number, rows: number, cols: number, perCol: number, mode: number): number;
  sph_add(out: number, x: number, y: number, n: number, mode: number): number;
  sph_sub(out: number, x: number, y: number, n: number, mode: number): number;
  /** out = R(x - R(s*y)). */
  sph_sub_scaled(out: number, x: number, y: number, s: number, n: number, mode: number): number;
}
