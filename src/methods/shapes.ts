import { AmalgamError } from "../errors.ts";
import type { PlanContext } from "./types.ts";

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * MergeKit's shape rule for most methods: inputs must agree, except embedding-like 2-D weights of
 * different vocabulary sizes, which are cut to their common top-left submatrix ("rectify").
 */
export function rectifiedShape(ctx: PlanContext): readonly number[] {
  const first = ctx.shapes[0]!;
  if (ctx.shapes.every((s) => same(s, first))) return first;
  if (ctx.isEmbed && ctx.shapes.every((s) => s.length === 2)) {
    return [Math.min(...ctx.shapes.map((s) => s[0]!)), Math.min(...ctx.shapes.map((s) => s[1]!))];
  }
  const list = ctx.shapes.map((s, i) => `${ctx.models[i]} ${JSON.stringify(s)}`).join(", ");
  throw new AmalgamError("E_SHAPE", `tensor "${ctx.tensor}": input shapes differ (${list})`);
}

export function shapesDiffer(shapes: readonly (readonly number[])[]): boolean {
  const first = shapes[0]!;
  return !shapes.every((s) => same(s, first));
}
