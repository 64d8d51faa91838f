// DELLA's keep probabilities (MergeKit sparsify.della_magprune), per row along dim 1:
//   ranks = argsort(argsort(|x|)) + 1;  rank_norm = clamp((r - min r) / (max r - min r), 0, 1)
//   p = (density - eps) + rank_norm * 2 * eps
// every op rounded to the working precision `mode` as torch does. The ranks come from a stable
// LSD radix sort on the bits of |x| (ties: lower index, lower rank), linear per row.
import { roundMode } from "./inline/round";
import { OK } from "./convert";

const ABS: u32 = 0x7fffffff;

// @ts-ignore: decorator
@inline function probAt(pos: usize, den: f32, low: f32, eps: f32, single: bool, mode: i32): f32 {
  let rn: f32;
  if (single) {
    rn = 0.5;
  } else {
    const r = roundMode(roundMode(<f32>pos, mode) + 1, mode);
    rn = roundMode(roundMode(r - 1, mode) / den, mode);
    if (rn < 0) rn = 0;
    else if (rn > 1) rn = 1;
  }
  return roundMode(low + roundMode(roundMode(rn * 2, mode) * eps, mode), mode);
}

/**
 * p[e] for every element of a tensor viewed as [outer, rowLen, inner] (rows run along the middle
 * dim). `low` = density - epsilon and `eps` = epsilon, both already in the working dtype. A row of
 * one element gets rank_norm 0.5 (MergeKit divides 0 by 0 there and torch.bernoulli rejects the
 * NaN). scratch: 16 * rowLen + 4096 bytes (keys, two index buffers and the probability of each
 * rank, rowLen each, plus four 256-bin histograms; dellaScratchBytes in src/kernels/abi-gta.ts).
 */
export function della_probs(p: usize, x: usize, outer: usize, rowLen: usize, inner: usize, low: f32, eps: f32, mode: i32, scratch: usize): i32 {
  if (rowLen == 0) return OK;
  const keys = scratch;
  let src = scratch + (rowLen << 2);
  let dst = scratch + (rowLen << 3);
  const byRank = scratch + rowLen * 12;
  const hist = scratch + (rowLen << 4);
  // Every row has the same ranks 0..rowLen-1, so each rank's probability is computed once.
  const maxR = roundMode(roundMode(<f32>(rowLen - 1), mode) + 1, mode);
  const den = roundMode(maxR - 1, mode);
  for (let pos: usize = 0; pos < rowLen; pos++) {
    store<f32>(byRank + (pos << 2), probAt(pos, den, low, eps, rowLen == 1, mode));
  }
  const step = inner << 2;
  for (let o: usize = 0; o < outer; o++) {
    for (let r: usize = 0; r < inner; r++) {
      const start = ((o * rowLen * inner) + r) << 2;
      memory.fill(hist, 0, 4096);
      for (let j: usize = 0; j < rowLen; j++) {
        const k = load<u32>(x + start + j * step) & ABS;
        store<u32>(keys + (j << 2), k);
        store<u32>(src + (j << 2), <u32>j);
        for (let d: u32 = 0; d < 4; d++) {
          const h = hist + (<usize>d << 10) + (<usize>((k >> (d << 3)) & 255) << 2);
          store<u32>(h, load<u32>(h) + 1);
        }
      }
      for (let d: u32 = 0; d < 4; d++) {
        const hd = hist + (<usize>d << 10);
        // A digit shared by the whole row does not reorder anything.
        if (<usize>load<u32>(hd + (<usize>((load<u32>(keys) >> (d << 3)) & 255) << 2)) == rowLen) continue;
        let cum: u32 = 0;
        for (let b: usize = 0; b < 256; b++) {
          const c = load<u32>(hd + (b << 2));
          store<u32>(hd + (b << 2), cum);
          cum += c;
        }
        for (let j: usize = 0; j < rowLen; j++) {
          const idx = load<u32>(src + (j << 2));
          const h = hd + (<usize>((load<u32>(keys + (<usize>idx << 2)) >> (d << 3)) & 255) << 2);
          const at = load<u32>(h);
          store<u32>(h, at + 1);
          store<u32>(dst + (<usize>at << 2), idx);
        }
        const t = src;
        src = dst;
        dst = t;
      }
      for (let pos: usize = 0; pos < rowLen; pos++) {
        const j = <usize>load<u32>(src + (pos << 2));
        store<f32>(p + start + j * step, load<f32>(byRank + (pos << 2)));
      }
    }
  }
  return OK;
}
