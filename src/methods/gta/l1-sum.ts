// Exact L1 norms (assembly/gta-l1.ts): the integer buckets l1_accumulate fills, turned into the
// correctly rounded float64 of the exact sum. Any split of a tensor into tiles or chunks, summed in
// any order, gives the same value, so whole-tensor and streamed merges rescale identically.
import { L1_BANKS, L1_ENTRIES, L1_WORDS64 } from "../../kernels/abi-gta.ts";
import type { Kernels } from "../../kernels/kernels.ts";

/**
 * The float64 value (correctly rounded) of sum_e bucket[e] * 2^(max(e, 1) - 150), the exact L1 norm
 * whose significand sums per exponent field e < 255 are `bucket` (the GPU path's l1_acc fills the
 * same buckets).
 */
export function l1FromBuckets(bucket: (e: number) => bigint): number {
  let total = 0n;
  // exponent field e: significand * 2^(max(e, 1) - 150), i.e. (significand << max(e - 1, 0)) * 2^-149
  for (let e = 0; e < 255; e++) {
    const v = bucket(e);
    if (v !== 0n) total += v << BigInt(Math.max(e - 1, 0));
  }
  return Number(total) * 2 ** -149;
}

/** sum |x| of the elements accumulated at `acc` (8-byte aligned): NaN if any is NaN, else +inf if any is infinite. */
export function l1Value(k: Kernels, acc: number): number {
  const w = new BigUint64Array(k.memory.buffer, acc, L1_WORDS64);
  let special = 0n;
  let nan = 0n;
  for (let b = 0; b < L1_BANKS; b++) {
    special += w[b * L1_ENTRIES + 255]!;
    nan += w[b * L1_ENTRIES + 256]!;
  }
  if (nan > 0n) return NaN;
  if (special > 0n) return Infinity;
  return l1FromBuckets((e) => {
    let v = 0n;
    for (let b = 0; b < L1_BANKS; b++) v += w[b * L1_ENTRIES + e]!;
    return v;
  });
}

/** A zeroed accumulator from the allocator of `k`. */
export function l1Acc(k: Kernels): number {
  const p = k.alloc(L1_WORDS64 * 8);
  new BigUint64Array(k.memory.buffer, p, L1_WORDS64).fill(0n);
  return p;
}
