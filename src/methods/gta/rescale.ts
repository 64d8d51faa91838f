// Applying a keep mask, with MergeKit's optional L1 rescale (sparsify.rescaled_masked_tensor):
//   masked = x * mask;  if rescale and both L1 norms >= 1e-7: masked *= R(|x|_1 / |masked|_1)
// computed in the sparsifier's work dtype, then rounded to the tensor's dtype.
import type { DType } from "../../dtype.ts";
import { DTYPES } from "../../dtype.ts";
import type { F32Buf, Kernels } from "../../kernels/kernels.ts";
import { toDType } from "../../kernels/scalar.ts";

/** MergeKit's eps below which a norm is treated as zero and no rescale happens. */
const RESCALE_EPS = 1e-7;

export function applyMask(k: Kernels, tv: F32Buf, mask: F32Buf, rescale: boolean, work: DType, dtype: DType): void {
  const n = tv.length;
  const sums = k.alloc(16);
  k.call("mask_apply", tv.ptr, tv.ptr, mask.ptr, n, sums);
  if (rescale) {
    const [l1, l1Masked] = new Float64Array(k.memory.buffer, sums, 2);
    // torch sums in float32 and rounds the 0-dim result to the work dtype
    const before = toDType(l1!, work);
    const after = toDType(l1Masked!, work);
    const eps = toDType(RESCALE_EPS, work);
    if (!(before < eps || after < eps)) {
      k.call("mul_scalar", tv.ptr, tv.ptr, toDType(before / after, work), n, DTYPES[work].code);
    }
  }
  if (work !== dtype) k.call("round_to", tv.ptr, tv.ptr, DTYPES[dtype].code, n);
}
