// The parameters of the family's last step (gta_combine) and of its sparsifiers, from a variant
// and the per-model and global parameters: shared by the whole-tensor and streamed paths.
import { AmalgamError } from "../../errors.ts";
import type { DType } from "../../dtype.ts";
import { GTA_CONSENSUS, GTA_LAMBDA, GTA_NORMALIZE } from "../../kernels/abi-gta.ts";
import { toDType } from "../../kernels/scalar.ts";
import type { ParamValues } from "../types.ts";
import type { Sparsification, SparsifyParams } from "./sparsify.ts";

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

/** gta_combine's arguments besides the data: weights in the working dtype, divisor, lambda, flags. */
export interface CombineParams {
  readonly ws: readonly number[];
  readonly div: number;
  readonly lambda: number;
  readonly flags: number;
}

/** The arguments of gta_combine for the task vectors of `models` (their per-model parameters). */
export function combineParams(v: GtaVariant, tensor: string, models: readonly { readonly params: ParamValues; readonly model: string }[], global: ParamValues, dtype: DType): CombineParams {
  const ws = models.map((m) => {
    const w = m.params["weight"];
    if (w === undefined) throw new AmalgamError("E_CONFIG", `tensor "${tensor}": no "weight" for model ${m.model}`);
    return toDType(w, dtype);
  });
  // Without consensus the divisor is weights.sum(0): float32, rounded once.
  let div = 0;
  for (const w of ws) div = Math.fround(div + w);
  div = toDType(div, dtype);
  if (Math.abs(div) < toDType(WEIGHT_SUM_EPS, dtype)) div = 1;
  const lambda = global["lambda"] ?? 1;
  const flags = (v.consensus ? GTA_CONSENSUS : 0) | (global["normalize"] ? GTA_NORMALIZE : 0) | (lambda !== 1 ? GTA_LAMBDA : 0);
  return { ws, div, lambda: toDType(lambda, dtype), flags };
}

/** The sparsifier parameters of one model. */
export function sparsifyParams(v: Pick<GtaVariant, "name">, params: ParamValues, global: ParamValues): SparsifyParams {
  return { method: v.name, density: params["density"] ?? 1, gamma: params["gamma"] ?? 0, epsilon: params["epsilon"] ?? 0, rescale: Boolean(global["rescale"]) };
}
