// The GPU side of a merge method: the same MergeContext as the WASM path, with the inputs as
// working tensors on the GPU. A method either declines a tensor (it then runs on the CPU) or
// records its kernels and returns the working result.
import type { MergeContext, ParamValues, PlanContext } from "../methods/types.ts";
import type { GpuKernels } from "./gpu-kernels.ts";
import type { GpuTensor } from "./gpu-tensor.ts";

export interface GpuMergeInput {
  readonly tensor: GpuTensor;
  readonly params: ParamValues;
  readonly isBase: boolean;
  readonly model: string;
}

export interface GpuMergeContext extends Omit<MergeContext, "kernels" | "inputs"> {
  readonly gpu: GpuKernels;
  readonly inputs: readonly GpuMergeInput[];
}

/** What a GPU method sees before any data is read: the plan's view plus the parameters. */
export interface GpuPlanContext extends PlanContext {
  readonly global: ParamValues;
  readonly params: readonly ParamValues[];
  /** Elements per GPU chunk (every chunk but a tensor's last has this many). */
  readonly chunkElements: number;
}

export interface GpuMethod {
  /**
   * --device auto: the smallest tensor (elements) for which the GPU path beat the CPU path when
   * measured (docs/gpu.md); Infinity when it never did.
   */
  readonly autoMinElements: number;
  /** Why this tensor stays on the CPU, or undefined when the GPU path covers it. */
  declines(ctx: GpuPlanContext): string | undefined;
  /** Selection slots (state words) the merge needs. */
  slots(ctx: GpuPlanContext): number;
  /**
   * Records the merge; returns the working result (may be one of the inputs). A method that needs
   * a value on the host in between (an L1 norm) reads it back and resolves later.
   */
  merge(ctx: GpuMergeContext): GpuTensor | Promise<GpuTensor>;
}
