// Keeping the ranks [lo, hi) of a task vector by magnitude, in place on the GPU: the same choice as
// the WASM mask_rank_range + mask_apply (see wgsl-select.ts for the passes).
import type { GpuKernels } from "./gpu-kernels.ts";
import type { GpuTensor } from "./gpu-tensor.ts";
import { HIST_WORDS, SEGMENT, SEL_HAS_HI, SEL_HAS_LO, SEL_NONE, SEL_TIE_DESC } from "./wgsl-select.ts";

/**
 * Zeroes (to a signed zero) every element of `x` whose rank is outside [lo, hi). Ranks order |x|
 * ascending, equal |x| by index ascending, or descending when `tieDesc`. `slot` is this task
 * vector's selection slot in the state buffer (distinct per task vector of a tensor).
 */
export function selectRankRange(g: GpuKernels, x: GpuTensor, lo: number, hi: number, tieDesc: boolean, slot: number): void {
  const n = x.numel;
  if (hi > n) hi = n;
  const u7 = g.slotOffset(slot);
  if (lo >= hi) {
    for (const c of x.chunks) g.dispatch("mask_apply", c, { u: [SEL_NONE, 0, 0, 0, 0, 0, 0, u7] }, [c.buf]);
    return;
  }
  if (lo <= 0 && hi === n) return;
  const sel = (lo > 0 ? SEL_HAS_LO : 0) | (hi < n ? SEL_HAS_HI : 0) | (tieDesc ? SEL_TIE_DESC : 0);
  const nseg = Math.ceil(n / SEGMENT);
  const hist = g.buffer(HIST_WORDS * 4);
  const seg = g.buffer(nseg * 8);
  const whole = { n, base: 0 };
  const u = (u1: number) => ({ u: [sel, u1, lo, hi, 0, 0, 0, u7] });
  g.clear(hist);
  for (const c of x.chunks) g.dispatch("hist_hi", c, u(0), [c.buf, hist]);
  g.dispatch("find_bins", whole, u(0), [hist], true);
  for (const c of x.chunks) g.dispatch("hist_lo", c, u(0), [c.buf, hist]);
  g.dispatch("find_bins", whole, u(1), [hist], true);
  g.clear(seg);
  for (const c of x.chunks) g.dispatch("seg_count", c, u(0), [c.buf, seg]);
  g.dispatch("find_seg", whole, u(nseg), [seg], true);
  for (const c of x.chunks) g.dispatch("find_in_seg", c, u(0), [c.buf], true);
  for (const c of x.chunks) g.dispatch("mask_apply", c, u(0), [c.buf]);
  g.release(hist, seg);
}
