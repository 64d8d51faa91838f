// Kernel exports of the gta method family (assembly/family-gta.ts); see each kernel's source for
// its exact arithmetic.
export interface GtaKernelExports {
  task_vector(out: number, x: number, base: number, n: number, mode: number): number;
  mask_rank_range(mask: number, x: number, n: number, lo: number, hi: number, tieHighFirst: number, scratch: number): number;
  mask_apply(out: number, x: number, mask: number, n: number, sums: number): number;
  della_probs(p: number, x: number, outer: number, rowLen: number, inner: number, low: number, eps: number, mode: number, scratch: number): number;
  gta_combine(out: number, base: number, deltas: number, ws: number, k: number, n: number, mode: number, flags: number, div: number, lambda: number): number;
  tv_variance(out: number, ptrs: number, k: number, n: number, mode: number, count: number): number;
  sum_squares(res: number, x: number, n: number, mode: number): number;
  sce_combine(out: number, base: number, tvs: number, ws: number, k: number, n: number, mode: number, clampMin: number): number;
}

/** gta_combine flags (assembly/gta-combine.ts). */
export const GTA_CONSENSUS = 1;
export const GTA_NORMALIZE = 2;
export const GTA_LAMBDA = 4;

/**
 * mask_rank_range tie orders: elements rank by |x| ascending, and equal |x| by index ascending
 * (TIE_INDEX_ASC: the lower index ranks lower) or descending (TIE_INDEX_DESC: the lower index
 * ranks higher, so a top-k keeps it first).
 */
export const TIE_INDEX_ASC = 0;
export const TIE_INDEX_DESC = 1;

/** Scratch bytes of mask_rank_range (a 65536-bin u32 histogram). */
export const SELECT_SCRATCH_BYTES = 65536 * 4;

/** Scratch bytes of della_probs for rows of `rowLen` elements. */
export function dellaScratchBytes(rowLen: number): number {
  return rowLen * 16 + 4096;
}
