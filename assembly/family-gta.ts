// Kernels of the gta method family (see src/methods/gta/). Re-exported by index.ts.
export { task_vector, task_vector_stored } from "./gta-task-vector";
export { mask_rank_range } from "./select-rank-range";
export { rank_hist_hi, rank_hist_lo, rank_count_eq, rank_mask, rank_mask_apply } from "./select-rank-stream";
export { mask_apply } from "./gta-mask";
export { l1_accumulate } from "./gta-l1";
export { stats_add } from "./gta-stats-add";
export { della_probs } from "./gta-della";
export { gta_combine } from "./gta-combine";
export { tv_variance } from "./gta-variance";
export { sum_squares } from "./gta-sum-squares";
export { sce_combine } from "./gta-sce-combine";
export { tv_bf16, rank_band_bf16 } from "./gta-tv-bf16";
