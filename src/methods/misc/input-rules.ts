// Input rules shared by the misc methods: how many models besides the base, and MergeKit's
// easy_define shape rule (no embedding rectification: shapes must agree).
import { AmalgamError } from "../../errors.ts";
import { shapesDiffer } from "../shapes.ts";
import type { MergeContext, MergeInput, PlanContext } from "../types.ts";

function listModels(ctx: PlanContext): string {
  return ctx.models.map((m, i) => `${m} ${JSON.stringify(ctx.shapes[i])}`).join(", ");
}

/** Checks that the base is an input and that min..max other models are. */
export function requireOthers(ctx: PlanContext, method: string, min: number, max: number | undefined): void {
  if (ctx.baseIndex === undefined) {
    throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": ${method} needs the base model among its inputs (inputs: ${ctx.models.join(", ")})`);
  }
  const others = ctx.models.length - 1;
  const expected = max === undefined ? `at least ${min}` : min === max ? `exactly ${min}` : `${min} to ${max}`;
  if (others < min || (max !== undefined && others > max)) {
    throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": ${method} needs the base model plus ${expected} other model(s), got ${others} (inputs: ${ctx.models.join(", ")})`);
  }
}

/** MergeKit's easy_define methods: all inputs must have the same shape. */
export function equalShapes(ctx: PlanContext, method: string): readonly number[] {
  if (shapesDiffer(ctx.shapes)) {
    throw new AmalgamError("E_SHAPE", `tensor "${ctx.tensor}": ${method} needs inputs of one shape (it has no embedding rectification), got ${listModels(ctx)}`);
  }
  return ctx.shapes[0]!;
}

export function baseInput(ctx: MergeContext): MergeInput {
  if (ctx.baseIndex === undefined) throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": the base model's tensor is missing`);
  return ctx.inputs[ctx.baseIndex]!;
}

/** The non-base inputs in MergeKit's order (config order). */
export function otherInputs(ctx: MergeContext): MergeInput[] {
  return ctx.inputs.filter((inp) => !inp.isBase);
}

/** Rows and columns of a tensor seen as rows along its last dimension (0-D and 1-D: one row). */
export function lastDimRows(shape: readonly number[], numel: number): { rows: number; cols: number } {
  const cols = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  return { rows: cols === 0 ? 0 : numel / cols, cols };
}

/** torch.clamp(x, lo, hi) on a float: NaN stays NaN. */
export function clamp(x: number, lo: number, hi: number): number {
  return Number.isNaN(x) ? x : Math.min(Math.max(x, lo), hi);
}
