// How fast a streamed method (src/executor/streamed.ts) merges, for the time estimate: the largest
// streamed tensor of the plan is copied as a synthetic tensor of up to TIMING_ELEMENTS elements
// (whole rows, each source in its own stored dtype, the fine-tunes as small changes of the base)
// whose bytes come from memory, and merged by the streamed path on one thread, every pass
// included. The executor's regions (slot-layout.ts) are laid out above the kernels' heap start for
// the time of the run and given back after.
import { DTYPES } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { tileLayout } from "../executor/merge.ts";
import { mergeStreamed, planStreaming } from "../executor/streamed.ts";
import { layOutSlots, scratchRegionBytes } from "../executor/slot-layout.ts";
import { InlineTilePool } from "../executor/tile-pool.ts";
import type { ByteSource, FileWriter } from "../io/storage.ts";
import type { Kernels } from "../kernels/kernels.ts";
import type { MergePlan, PlannedTensor } from "../plan/types.ts";

/** Elements per tile of the timed merge. */
const TIMING_TILE = 1 << 18;

const numelOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Bytes in memory as a source. */
function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    readInto: async (offset, dest) => { dest.set(bytes.subarray(offset, offset + dest.length)); },
  };
}

/** A writer that keeps nothing. */
const discard: FileWriter = { write: async () => {}, close: async () => {} };

/**
 * Output elements times (inputs + 1) merged per second on one thread by the streamed path, timed
 * on a synthetic copy of the plan's largest streamed tensor (best of `runs`); undefined when the
 * plan streams nothing, or the method declines or fails on the copy.
 */
export async function timeStreamed(plan: MergePlan, k: Kernels, now: () => number, budget: number, elements: number, runs = 2): Promise<number | undefined> {
  const streaming = planStreaming(plan, budget, undefined);
  if (streaming.tensors.size === 0) return undefined;
  const big = [...streaming.tensors].reduce((a, b) => (numelOf(b.shape) > numelOf(a.shape) ? b : a));
  const cols = big.shape.length >= 2 ? big.shape[big.shape.length - 1]! : Math.min(numelOf(big.shape), elements);
  const rows = Math.max(1, Math.min(big.shape.length >= 2 ? numelOf(big.shape) / cols : 1, Math.floor(elements / cols)));
  const shape = big.shape.length >= 2 ? [rows, cols] : [cols];
  const n = numelOf(shape);
  const K = big.sources.length;
  const saved = k.heapStart;
  try {
    // the sources' bytes: base values, and each other source's own small changes of them
    k.reset();
    const vals = k.allocF32(n);
    const enc = k.alloc(n * 4);
    const sources = big.sources.map((s, j) => {
      const v = k.f32(vals);
      for (let i = 0; i < n; i++) {
        const base = Math.sin(i * 0.37) * 0.02;
        const h = Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b);
        v[i] = s.isBase ? base : base + (((h >>> 8) & 0xffff) / 65536 - 0.5) * 0.002 * ((h & 7) === 0 ? 0 : 1);
      }
      const dtype = s.tensor.dtype as DType;
      k.call("encode", enc, vals.ptr, DTYPES[dtype].code, n);
      const bytes = k.bytes(enc, n * DTYPES[dtype].bytes).slice();
      return { ...s, tensor: { ...s.tensor, shape, offset: 0, byteLength: bytes.length, source: memorySource(bytes) } };
    });
    const t: PlannedTensor = { ...big, shape, sources };
    // the executor's regions on one thread: slots, then a scratch region (merge.ts mergePlanned)
    k.reset();
    // tiles of at most TIMING_TILE elements: passes over several tiles, as in a real merge, in
    // a fraction of the memory
    const { slotCount, tile } = tileLayout(streaming.slotBudget, 1, K, n, Math.min(n, TIMING_TILE));
    const { slots, end } = layOutSlots(saved, slotCount, K, tile);
    const scratch = { start: end, end: end + scratchRegionBytes(K, tile, streaming.accBytes) };
    k.ensure(scratch.end);
    k.setHeapStart(scratch.end);
    const pool = InlineTilePool.create(k, scratch);
    let best = Infinity;
    for (let r = 0; r < runs; r++) {
      const start = now();
      const bytes = await mergeStreamed(t, plan, {
        k, pool, slots, tile, scratch: [scratch], statsBytes: streaming.statsBytes, hints: new Map(), cacheBytes: streaming.cacheBytes,
        seed: 0, fixQuirks: false, warn: () => {}, quirk: () => {},
      }, discard, () => {});
      if (bytes === undefined) return undefined;
      best = Math.min(best, now() - start);
    }
    return (n * (K + 1)) / Math.max(best / 1000, 1e-6);
  } catch {
    return undefined; // the estimate falls back to the whole-tensor kernels' rate
  } finally {
    k.setHeapStart(saved);
  }
}
