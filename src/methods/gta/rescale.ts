// Applying a keep mask, with MergeKit's optional L1 rescale (sparsify.rescaled_masked_tensor):
//   masked = x * mask;  if rescale and both L1 norms >= 1e-7: masked *= R(|x|_1 / |masked|_1)
// computed in the sparsifier's work dtype, then rounded to the tensor's dtype. The norms are exact
// sums (l1-sum.ts), so a streamed merge that accumulates them tile by tile gets the same factor.
import type { DType } from "../../dtype.ts";
import { DTYPES } from "../../dtype.ts";
import type { F32Buf, Kernels } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";
import { l1Acc, l1Value } from "./l1-sum.ts";

/** MergeKit's eps below which a norm is treated as zero and no rescale happens. */
const RESCALE_EPS = 1e-7;

/**
 * The factor masked values are multiplied by, in the work dtype, from the two L1 norms (torch sums
 * in float32 and rounds the 0-dim result to the work dtype); undefined when either is below eps.
 */
export function rescaleFactor(l1: number, l1Masked: number, work: DType): number | undefined {
  const before = toDType(l1, work);
  const after = toDType(l1Masked, work);
  const eps = toDType(RESCALE_EPS, work);
  if (before < eps || after < eps) return undefined;
  return toDType(before / after, work);
}

/** masked *= factor in the work dtype (when there is one), then rounded to the tensor's dtype. */
export function finishMasked(k: Kernels, tv: number, n: number, factor: number | undefined, work: DType, dtype: DType): void {
  if (factor !== undefined) k.call("mul_scalar", tv, tv, factor, n, DTYPES[work].code);
  if (work !== dtype) k.call("round_to", tv, tv, DTYPES[dtype].code, n);
}

export function applyMask(k: Kernels, tv: F32Buf, mask: F32Buf, rescale: boolean, work: DType, dtype: DType): void {
  const n = tv.length;
  let factor: number | undefined;
  if (rescale) {
    const before = l1Acc(k);
    const after = l1Acc(k);
    k.call("l1_accumulate", before, tv.ptr, n);
    k.call("mask_apply", tv.ptr, tv.ptr, mask.ptr, n);
    k.call("l1_accumulate", after, tv.ptr, n);
    factor = rescaleFactor(l1Value(k, before), l1Value(k, after), work);
  } else {
    k.call("mask_apply", tv.ptr, tv.ptr, mask.ptr, n);
  }
  finishMasked(k, tv.ptr, n, factor, work, dtype);
}
