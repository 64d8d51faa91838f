// The generalized task arithmetic family (MergeKit generalized_task_arithmetic.py): one definition
// configured by a sparsifier, a sign-consensus rule and two defaults. Per tensor:
//   d_m = x_m - base for each non-base model; d_m = sparsify(d_m); mixed = sum_m w_m d_m (with
//   TIES sign election when `consensus`); normalize by the weights; times lambda; base + mixed.
import { AmalgamError } from "../../errors.ts";
import { GTA_CONSENSUS, GTA_LAMBDA, GTA_NORMALIZE } from "../../kernels/abi-gta.ts";
import type { F32Buf } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";
import type { MergeContext, MethodDef, ParamSpec } from "../types.ts";
import { defineMethod } from "../types.ts";
import { sparsify } from "./sparsify.ts";
import type { Sparsification } from "./sparsify.ts";
import { baseInput, baseShape, taskVectors } from "./task-vectors.ts";

export interface GtaVariant {
  readonly name: string;
  readonly cardName: string;
  readonly sparsification?: Sparsification;
  /** TIES sign election by the sum of the weighted task vectors. */
  readonly consensus: boolean;
  readonly normalizeDefault: boolean;
  readonly rescaleDefault: boolean;
}

/** MergeKit treats |sum of weights| below this as zero (no normalization). */
const WEIGHT_SUM_EPS = 1e-8;

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
  const rescale = Boolean(ctx.global["rescale"]);
  const weights = tvs.map((tv) => {
    const w = tv.input.params["weight"];
    if (w === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": no "weight" for model ${tv.input.model}`);
    return w;
  });
  if (v.sparsification) {
    for (const tv of tvs) {
      const p = tv.input.params;
      sparsify(ctx, tv, v.sparsification, {
        method: v.name, density: p["density"] ?? 1, gamma: p["gamma"] ?? 0, epsilon: p["epsilon"] ?? 0, rescale,
      });
    }
  }
  const ws = weights.map((w) => toDType(w, ctx.dtype));
  // Without consensus the divisor is weights.sum(0): float32, rounded once.
  let div = 0;
  for (const w of ws) div = Math.fround(div + w);
  div = toDType(div, ctx.dtype);
  if (Math.abs(div) < toDType(WEIGHT_SUM_EPS, ctx.dtype)) div = 1;
  const lambda = ctx.global["lambda"] ?? 1;
  const flags = (v.consensus ? GTA_CONSENSUS : 0) | (ctx.global["normalize"] ? GTA_NORMALIZE : 0) | (lambda !== 1 ? GTA_LAMBDA : 0);
  k.call("gta_combine", base.buf.ptr, base.buf.ptr, k.u32Array(tvs.map((tv) => tv.buf.ptr)), k.f32Array(ws), tvs.length, ctx.numel, ctx.mode, flags, div, toDType(lambda, ctx.dtype));
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
  });
}
