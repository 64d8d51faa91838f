// Exact L1 norms for MergeKit's rescale, independent of summation order: |x| is split into its
// float32 exponent field and integer significand, and the significands are added as integers per
// exponent. Any split of a tensor into pieces, accumulated in any order and summed (stats_add),
// gives the same buckets; the host turns them into one correctly rounded float64 (l1Value in
// src/methods/gta/l1-sum.ts).
//
// An accumulator is L1_BANKS banks of L1_ENTRIES u64: entry e < 256 sums the significands of the
// elements whose exponent field is e (e = 255: +inf and NaN), entry 256 counts the NaNs. Banks
// take every fourth element, so consecutive adds to one exponent do not wait on each other.
import { OK } from "./convert";

const ABS: u32 = 0x7fffffff;
const ENTRIES: usize = 257;
const BANK_BYTES: usize = ENTRIES << 3;

// @ts-ignore: decorator
@inline function addOne(bank: usize, bits: u32): void {
  const a = bits & ABS;
  const e = a >> 23;
  const m = a & 0x7fffff;
  const s = e != 0 ? m | 0x800000 : m;
  const p = bank + (<usize>e << 3);
  store<u64>(p, load<u64>(p) + <u64>s);
  if (a > 0x7f800000) {
    const q = bank + (ENTRIES - 1) * 8;
    store<u64>(q, load<u64>(q) + 1);
  }
}

/** acc (4 banks x 257 u64, see above) += the buckets of |x[i]| for i < n. */
export function l1_accumulate(acc: usize, x: usize, n: usize): i32 {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    addOne(acc, load<u32>(x + (i << 2)));
    addOne(acc + BANK_BYTES, load<u32>(x + (i << 2), 4));
    addOne(acc + 2 * BANK_BYTES, load<u32>(x + (i << 2), 8));
    addOne(acc + 3 * BANK_BYTES, load<u32>(x + (i << 2), 12));
  }
  for (let b: usize = 0; i < n; i++, b++) addOne(acc + b * BANK_BYTES, load<u32>(x + (i << 2)));
  return OK;
}
