// Kernel exports of the misc method family (assembly/family-misc.ts). Pointers are byte
// addresses of f32 arrays unless noted; `mode` is the working dtype's rounding mode.
export interface MiscKernelExports {
  misc_sub(out: number, a: number, b: number, n: number, mode: number): number;
  misc_add(out: number, a: number, b: number, n: number, mode: number): number;
  misc_mul(out: number, a: number, b: number, n: number, mode: number): number;
  misc_row_sum(out: number, x: number, rows: number, cols: number, mode: number): number;
  misc_row_norm(out: number, x: number, rows: number, cols: number, mode: number): number;
  /** ptrs: k u32 pointers. */
  misc_stack_sum(out: number, ptrs: number, k: number, n: number, mode: number): number;
  misc_softmax_rows(out: number, x: number, rows: number, cols: number, mode: number): number;
  misc_kl_terms(out: number, p: number, q: number, eps: number, n: number, mode: number): number;
  misc_fusion_importance(out: number, a: number, b: number, kl: number, rows: number, cols: number, mode: number): number;
  misc_fusion_apply(out: number, a: number, b: number, imp: number, thr: number, n: number, mode: number, promote: number): number;
  /** keys: n i32. */
  misc_order_keys(keys: number, x: number, n: number): number;
  /** out: one f32; keys: i32 order keys, reordered in [lo, hi). */
  misc_select(out: number, keys: number, lo: number, hi: number, k: number): number;
  /** state: 3 f64 (remaining, needed, written). */
  misc_sample_select(dst: number, src: number, u: number, n: number, state: number): number;
  /** ptrs: k u32 pointers. */
  misc_ram_count(cnt: number, ptrs: number, k: number, n: number, eps: number): number;
  /** out: 2 f64 (shared, unique). */
  misc_ram_overlap(out: number, tv: number, cnt: number, n: number, eps: number): number;
  misc_ram_terms(tv: number, cnt: number, lam: number, n: number, eps: number, mode: number, promote: number): number;
  /** ptrs: k u32 pointers. */
  misc_seq_mean(out: number, ptrs: number, k: number, n: number, mode: number): number;
  misc_stock_mix(out: number, avg: number, w0: number, t: number, rows: number, cols: number, mode: number): number;
  misc_nearswap(out: number, a: number, b: number, t: number, floor: number, n: number, mode: number): number;
}
