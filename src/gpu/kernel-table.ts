// Every WGSL kernel with its bindings after the two shared ones (0: parameters, 1: state words):
// "r" = read-only storage, "rw" = read-write storage. An explicit table, so the pipeline layouts do
// not depend on which bindings a shader happens to use.
import { WGSL_DECODE, WGSL_ENCODE } from "./wgsl-convert.ts";
import { WGSL_GTA_ELECT, WGSL_GTA_FINISH, WGSL_GTA_SUM, WGSL_TASK_VECTOR } from "./wgsl-gta.ts";
import { WGSL_FIND_BINS, WGSL_FIND_IN_SEG, WGSL_FIND_SEG, WGSL_HIST_HI, WGSL_HIST_LO, WGSL_MASK_APPLY, WGSL_SEG_COUNT } from "./wgsl-select.ts";
import { WGSL_FMA_CHECK, WGSL_NP_AXPBY, WGSL_NP_LEAF, WGSL_NP_TREE, WGSL_SDOT_LANES } from "./wgsl-dot.ts";
import { WGSL_SCE_ELECT, WGSL_SCE_FINISH } from "./wgsl-sce.ts";
import { WGSL_BERNOULLI, WGSL_DELLA_RANK, WGSL_L1_ACC, WGSL_SCALE_ROUND } from "./wgsl-sparsify.ts";
import { WGSL_WSUM_FINISH, WGSL_WSUM_STEP } from "./wgsl-wsum.ts";

export type BindingAccess = "r" | "rw";

export interface GpuKernelSpec {
  readonly code: string;
  readonly bindings: readonly BindingAccess[];
}

export const GPU_KERNELS = {
  decode: { code: WGSL_DECODE, bindings: ["r", "rw"] },
  encode: { code: WGSL_ENCODE, bindings: ["r", "rw"] },
  wsum_step: { code: WGSL_WSUM_STEP, bindings: ["r", "rw"] },
  wsum_finish: { code: WGSL_WSUM_FINISH, bindings: ["rw"] },
  task_vector: { code: WGSL_TASK_VECTOR, bindings: ["rw", "r"] },
  gta_sum: { code: WGSL_GTA_SUM, bindings: ["r", "rw"] },
  gta_elect: { code: WGSL_GTA_ELECT, bindings: ["r", "r", "rw", "rw"] },
  gta_finish: { code: WGSL_GTA_FINISH, bindings: ["rw", "r", "r"] },
  hist_hi: { code: WGSL_HIST_HI, bindings: ["r", "rw"] },
  hist_lo: { code: WGSL_HIST_LO, bindings: ["r", "rw"] },
  find_bins: { code: WGSL_FIND_BINS, bindings: ["r"] },
  seg_count: { code: WGSL_SEG_COUNT, bindings: ["r", "rw"] },
  find_seg: { code: WGSL_FIND_SEG, bindings: ["r"] },
  find_in_seg: { code: WGSL_FIND_IN_SEG, bindings: ["r"] },
  mask_apply: { code: WGSL_MASK_APPLY, bindings: ["rw"] },
  l1_acc: { code: WGSL_L1_ACC, bindings: ["r", "rw"] },
  della_rank: { code: WGSL_DELLA_RANK, bindings: ["r", "r", "r", "rw"] },
  bernoulli: { code: WGSL_BERNOULLI, bindings: ["rw", "r", "r"] },
  scale_round: { code: WGSL_SCALE_ROUND, bindings: ["rw"] },
  sce_elect: { code: WGSL_SCE_ELECT, bindings: ["r", "r", "rw", "rw"] },
  sce_finish: { code: WGSL_SCE_FINISH, bindings: ["rw", "r", "r"] },
  sdot_lanes: { code: WGSL_SDOT_LANES, bindings: ["r", "r", "rw"] },
  np_leaf: { code: WGSL_NP_LEAF, bindings: ["r", "r", "rw"] },
  np_tree: { code: WGSL_NP_TREE, bindings: ["r", "rw"] },
  np_axpby: { code: WGSL_NP_AXPBY, bindings: ["r", "r", "rw"] },
  fma_check: { code: WGSL_FMA_CHECK, bindings: ["r", "r", "rw"] },
} as const satisfies Record<string, GpuKernelSpec>;

export type GpuKernelName = keyof typeof GPU_KERNELS;
