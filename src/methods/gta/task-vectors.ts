// Task vectors of one tensor (MergeKit generalized_task_arithmetic.get_task_vectors): every
// non-base input minus the base, in the working dtype. The output has the base's shape;
// embedding inputs larger than the base were already cut to it by the executor, and any other
// input whose shape still differs from the base's is skipped with a warning.
import { AmalgamError } from "../../errors.ts";
import type { F32Buf } from "../../kernels/kernels.ts";
import type { MergeContext, MergeInput, PlanContext } from "../types.ts";

export interface TaskVector {
  /** Position in ctx.inputs (and ctx.modelIndices). */
  readonly index: number;
  readonly input: MergeInput;
  /** The input's own buffer, overwritten with its task vector. */
  readonly buf: F32Buf;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Output shape of the family: the base model's shape. */
export function baseShape(method: string, ctx: PlanContext): readonly number[] {
  if (ctx.baseIndex === undefined) {
    throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": merge_method "${method}" needs a base_model`);
  }
  return ctx.shapes[ctx.baseIndex]!;
}

export function baseInput(method: string, ctx: MergeContext): MergeInput {
  if (ctx.baseIndex === undefined) {
    throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": merge_method "${method}" needs a base_model`);
  }
  return ctx.inputs[ctx.baseIndex]!;
}

/**
 * Turns every usable non-base input into its task vector in place (the inputs are this tensor's
 * scratch) and returns them in input order.
 */
export function taskVectors(method: string, ctx: MergeContext): TaskVector[] {
  const base = baseInput(method, ctx);
  const out: TaskVector[] = [];
  ctx.inputs.forEach((input, index) => {
    if (index === ctx.baseIndex) return;
    if (!sameShape(input.shape, base.shape)) {
      ctx.warn(`${method}: skipping model ${input.model} for tensor "${ctx.tensor}": its shape ${JSON.stringify(input.shape)} differs from the base model's ${JSON.stringify(base.shape)}`);
      return;
    }
    ctx.kernels.call("task_vector", input.buf.ptr, input.buf.ptr, base.buf.ptr, ctx.numel, ctx.mode);
    out.push({ index, input, buf: input.buf });
  });
  return out;
}
