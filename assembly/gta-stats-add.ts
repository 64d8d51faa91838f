// Summing statistics accumulators (histograms, counts, L1 buckets) of several threads or tiles.
import { OK } from "./convert";

/**
 * dst += src over an accumulator of n32 u32 words followed, at the next multiple of 8 bytes, by
 * n64 u64 words. Integer adds wrap (the counts stay far below 2^32 and 2^64).
 */
export function stats_add(dst: usize, src: usize, n32: usize, n64: usize): i32 {
  let i: usize = 0;
  for (; i + 4 <= n32; i += 4) v128.store(dst + (i << 2), i32x4.add(v128.load(dst + (i << 2)), v128.load(src + (i << 2))));
  for (; i < n32; i++) store<u32>(dst + (i << 2), load<u32>(dst + (i << 2)) + load<u32>(src + (i << 2)));
  const off: usize = ((n32 << 2) + 7) & ~(<usize>7);
  const d = dst + off;
  const s = src + off;
  let j: usize = 0;
  for (; j + 2 <= n64; j += 2) v128.store(d + (j << 3), i64x2.add(v128.load(d + (j << 3)), v128.load(s + (j << 3))));
  for (; j < n64; j++) store<u64>(d + (j << 3), load<u64>(d + (j << 3)) + load<u64>(s + (j << 3)));
  return OK;
}
