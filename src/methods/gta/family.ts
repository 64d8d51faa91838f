// The generalized task arithmetic family (MergeKit generalized_task_arithmetic.py): one definition
// configured by a sparsifier, a sign-consensus rule and two defaults. Per tensor:
//   d_m = x_m - base for each non-base model; d_m = sparsify(d_m); mixed = sum_m w_m d_m (with
//   TIES sign election when `consensus`); normalize by the weights; times lambda; base + mixed.
import type { F32Buf } from "../../kernels/kernels.ts";
import type { MergeContext, MethodDef, ParamSpec } from "../types.ts";
import { defineMethod } from "../types.ts";
import { combineParams, sparsifyParams } from "./combine-params.ts";
import type { GtaVariant } from "./combine-params.ts";
import { sparsify } from "./sparsify.ts";
import { gtaStreamed } from "./stream.ts";
import { baseInput, baseShape, taskVectors } from "./task-vectors.ts";

function perModelParams(v: GtaVariant): ParamSpec[] {
  const out: ParamSpec[] = [{ name: "weight", required: true }, { name: "density", default: 1 }];
  if (v.sparsification === "magnitude_outliers") out.push({ name: "gamma", default: 0.01 });
  if (v.sparsification === "della_magprune") out.push({ name: "epsilon", default: 0.15 });
  return out;
}

function mergeGta(v: GtaVariant, ctx: MergeContext): F32Buf {
  const k = ctx.kernels;
  const base = baseInput(v.name, ctx);
  const tvs = taskVectors(v.name, ctx);
  if (tvs.length === 0) return base.buf;
  const c = combineParams(v, ctx.tensor, tvs.map((tv) => tv.input), ctx.global, ctx.dtype);
  if (v.sparsification) {
    for (const tv of tvs) sparsify(ctx, tv, v.sparsification, sparsifyParams(v, tv.input.params, ctx.global));
  }
  k.call("gta_combine", base.buf.ptr, base.buf.ptr, k.u32Array(tvs.map((tv) => tv.buf.ptr)), k.f32Array(c.ws), tvs.length, ctx.numel, ctx.mode, c.flags, c.div, c.lambda);
  return base.buf;
}

export function defineGtaMethod(v: GtaVariant): MethodDef {
  return defineMethod({
    name: v.name,
    cardName: v.cardName,
    base: "required",
    mixedDtype: "base",
    // Without sparsification or sign election each output element depends on its inputs alone.
    elementwise: v.sparsification === undefined && !v.consensus,
    global: [
      { name: "int8_mask", default: 0 },
      { name: "normalize", default: v.normalizeDefault ? 1 : 0 },
      { name: "rescale", default: v.rescaleDefault ? 1 : 0 },
      { name: "lambda", default: 1 },
    ],
    perModel: perModelParams(v),
    outputShape: (ctx) => baseShape(v.name, ctx),
    merge: (ctx) => mergeGta(v, ctx),
    streamed: gtaStreamed(v),
  });
}
