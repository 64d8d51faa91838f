// Kernel exports of the companion tools (assembly/svd-*.ts, assembly/lora-*.ts): the randomized
// SVD of extract-lora and the LoRA merge of `model+lora` references. Pointers are byte addresses
// of row-major float32 matrices unless noted.
export interface CompanionKernelExports {
  /** out (m x n) = a (m x k) . b (k x n); accumulate != 0 adds to out. */
  svd_matmul(out: number, a: number, b: number, m: number, k: number, n: number, accumulate: number): number;
  /** out (m x n) = a^T . b, a (k x m), b (k x n); accumulate != 0 adds to out. */
  svd_matmul_tn(out: number, a: number, b: number, k: number, m: number, n: number, accumulate: number): number;
  svd_transpose(out: number, x: number, rows: number, cols: number): number;
  /** s: one float32 per row. */
  svd_scale_rows(x: number, s: number, rows: number, cols: number): number;
  svd_orthonormalize_rows(x: number, rows: number, cols: number, tol: number): number;
  /** out: rows x rows float64. */
  svd_gram_f64(out: number, x: number, rows: number, cols: number): number;
  /** a, v: n x n float64; status 2 when the sweeps did not converge. */
  svd_jacobi_eigh(a: number, v: number, n: number, sweeps: number): number;
  lora_merge(out: number, w: number, d: number, scale: number, n: number, mode: number): number;
}
