// Kernel exports of the gta method family (assembly/family-gta.ts); see each kernel's source for
// its exact arithmetic.
export interface GtaKernelExports {
  task_vector(out: number, x: number, base: number, n: number, mode: number): number;
  task_vector_stored(out: number, x: number, dtype: number, base: number, n: number, mode: number): number;
  mask_rank_range(mask: number, x: number, n: number, lo: number, hi: number, tieHighFirst: number, scratch: number): number;
  rank_hist_hi(hist: number, x: number, n: number, lowOr: number): number;
  rank_hist_lo(hist: number, x: number, n: number, bin: number): number;
  rank_count_eq(counts: number, x: number, n: number, kLo: number, kHi: number): number;
  rank_mask(mask: number, x: number, n: number, sel: number, counts: number): number;
  rank_mask_apply(out: number, x: number, n: number, sel: number, counts: number): number;
  mask_apply(out: number, x: number, mask: number, n: number): number;
  l1_accumulate(acc: number, x: number, n: number): number;
  stats_add(dst: number, src: number, n32: number, n64: number): number;
  della_probs(p: number, x: number, outer: number, rowLen: number, inner: number, low: number, eps: number, mode: number, scratch: number): number;
  gta_combine(out: number, base: number, deltas: number, ws: number, k: number, n: number, mode: number, flags: number, div: number, lambda: number): number;
  gta_final_bf16(out: number, base: number, inputs: number, fromWeights: number, ws: number, k: number, n: number, ranked: number, sel: number, counts: number, flags: number, div: number, lambda: number): number;
  tv_variance(out: number, ptrs: number, k: number, n: number, mode: number, count: number): number;
  sum_squares(res: number, x: number, n: number, mode: number): number;
  sce_combine(out: number, base: number, tvs: number, ws: number, k: number, n: number, mode: number, clampMin: number): number;
  tv_bf16(dst: number, x: number, base: number, n: number, hist: number, first: number, shift: number): number;
  rank_band_bf16(x: number, n: number, a: number, w: number, hot: number, above: number, band: number): number;
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

/** rank_hist_hi / rank_hist_lo histogram sizes (u32 bins). */
export const RANK_HI_BINS = 32768;
export const RANK_LO_BINS = 65536;

/** rank_mask selection flags (assembly/select-rank-stream.ts): a lower bound, an upper bound, nothing kept. */
export const SEL_LO = 1;
export const SEL_HI = 2;
export const SEL_NONE = 4;
/** u32 words of a rank_mask selection: flags, kLo, kHi, loFrom, loTo, hiFrom, hiTo. */
export const SEL_WORDS = 7;

/** One l1_accumulate accumulator: 4 banks of 257 u64 (assembly/gta-l1.ts). */
export const L1_BANKS = 4;
export const L1_ENTRIES = 257;
export const L1_WORDS64 = L1_BANKS * L1_ENTRIES;
export const L1_ACC_BYTES = L1_WORDS64 * 8;

/** Scratch bytes of della_probs for rows of `rowLen` elements. */
export function dellaScratchBytes(rowLen: number): number {
  return rowLen * 16 + 4096;
}
