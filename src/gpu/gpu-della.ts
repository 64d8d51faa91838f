// DELLA's per-row ranking on the GPU (della_rank) and the table of keep probabilities per rank,
// computed on the host with the float32 operations of assembly/gta-della.ts probAt: every
// intermediate is a float32 (or bf16) value, and a float64 +, -, * or / of two float32 values
// rounded once to float32 is the float32 operation's result (53 >= 2 * 24 + 2).
import type { DType } from "../dtype.ts";
import { toDType } from "../kernels/scalar.ts";
import type { GpuBufferLike } from "./webgpu-types.ts";
import type { GpuKernels } from "./gpu-kernels.ts";
import type { GpuTensor } from "./gpu-tensor.ts";
import { WORKGROUP_SIZE } from "./wgsl-common.ts";

/** Rows of MergeKit's per-row ranking (dim 1; a 1-D tensor is one row), as sparsify.ts rowLayout. */
export function dellaRows(shape: readonly number[], n: number): { rowLen: number; inner: number } {
  if (shape.length < 2) return { rowLen: n, inner: 1 };
  return { rowLen: shape[1]!, inner: shape.slice(2).reduce((a, b) => a * b, 1) };
}

/** p per rank 0..rowLen-1: low + rank_norm * 2 * eps, every op rounded to `work`. */
export function dellaTable(rowLen: number, low: number, eps: number, work: DType): Float32Array {
  const R = (x: number): number => toDType(x, work);
  const out = new Float32Array(Math.max(rowLen, 1));
  const maxR = R(R(rowLen - 1) + 1);
  const den = R(maxR - 1);
  for (let pos = 0; pos < rowLen; pos++) {
    let rn: number;
    if (rowLen === 1) {
      rn = 0.5;
    } else {
      const r = R(R(pos) + 1);
      rn = R(R(r - 1) / den);
      if (rn < 0) rn = 0;
      else if (rn > 1) rn = 1;
    }
    out[pos] = R(low + R(R(rn * 2) * eps));
  }
  return out;
}

/** Writes each element's rank in its row into `ranks` (one u32 buffer per chunk of `x`). */
export function dellaRanks(g: GpuKernels, x: GpuTensor, rowLen: number, inner: number, ranks: readonly GpuBufferLike[]): void {
  const cs = x.chunks;
  const span = rowLen * inner;
  const tiles = Math.ceil(rowLen / WORKGROUP_SIZE);
  cs.forEach((c, i) => {
    const prev = cs[i - 1]?.buf ?? c.buf;
    const next = cs[i + 1]?.buf ?? c.buf;
    const oLo = Math.floor(c.base / span);
    const oHi = Math.floor((c.base + c.n - 1) / span);
    const items = (oHi - oLo + 1) * inner * tiles;
    g.dispatch("della_rank", c, { u: [rowLen, inner, g.chunkElements, oLo, items] }, [prev, c.buf, next, ranks[i]!], false, items * WORKGROUP_SIZE);
  });
}
