// Kernels of the misc method family (model_stock, nearswap, arcee_fusion, ram, ramplus_tl; see
// src/methods/misc/). Re-exported by index.ts; mirrored by src/kernels/abi-misc.ts.
export { misc_sub, misc_add, misc_mul } from "./misc-elementwise";
export { misc_row_sum, misc_row_norm, misc_stack_sum } from "./misc-reduce";
export { misc_softmax_rows } from "./misc-softmax";
export { misc_kl_terms, misc_fusion_importance, misc_fusion_apply, misc_order_keys, misc_select, misc_sample_select } from "./misc-fusion";
export { misc_ram_count, misc_ram_overlap, misc_ram_terms } from "./misc-ram";
export { misc_seq_mean, misc_stock_mix } from "./misc-stock";
export { misc_nearswap } from "./misc-nearswap";
