// Dot products with the CPU path's exact summation orders (wgsl-dot.ts): the GPU computes the
// independent parts (sdot's 64 FMA chains, NumPy's 128-element leaves and full 8192-element
// buffers), the host reads them back with the last few elements and finishes the serial rest with
// the same float32 operations as the WASM kernels (a float64 + or * of float32 values rounded once
// to float32 is the float32 operation's result).
import type { GpuKernels } from "./gpu-kernels.ts";
import type { GpuTensor } from "./gpu-tensor.ts";
import type { GpuBufferLike } from "./webgpu-types.ts";
import { NP_BUFSIZE, NP_LEAF } from "./wgsl-dot.ts";

const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);

/** round32(a*b + c) with one rounding (assembly/spherical-fma.ts fma32). */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bv = s - p;
  const e = (p - (s - bv)) + (c - bv);
  if (e !== 0 && !Number.isNaN(e)) {
    f64[0] = s;
    if ((i64[0]! & 1n) === 0n) {
      i64[0] = i64[0]! + ((s < 0) !== (e < 0) ? -1n : 1n);
      return Math.fround(f64[0]!);
    }
  }
  return Math.fround(s);
}

/** Elements [start, end) of a working tensor, read back from its chunks. */
export async function readRange(g: GpuKernels, t: GpuTensor, start: number, end: number): Promise<Float32Array> {
  const out = new Float32Array(Math.max(end - start, 0));
  for (const c of t.chunks) {
    const lo = Math.max(start, c.base);
    const hi = Math.min(end, c.base + c.n);
    if (lo >= hi) continue;
    const bytes = await g.readBack(c.buf, (hi - lo) * 4, (lo - c.base) * 4);
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, hi - lo), lo - start);
  }
  return out;
}

/** Records OpenBLAS sdot's 64 chains over x·y into `lanes` (64 f32). */
export function sdotLanes(g: GpuKernels, x: GpuTensor, y: GpuTensor, lanes: GpuBufferLike): void {
  const n64 = x.numel - (x.numel % 64);
  let first = true;
  x.chunks.forEach((c, i) => {
    const blocks = Math.max(0, Math.min(c.n, n64 - c.base)) / 64;
    if (blocks <= 0 && !first) return;
    g.dispatch("sdot_lanes", c, { u: [blocks, first ? 1 : 0] }, [c.buf, y.chunks[i]!.buf, lanes], true);
    first = false;
  });
}

/** sdot from its 64 lanes and the elements from n & -64 on (assembly/spherical-blas-dot.ts). */
export function sdotFinish(lanes: Float32Array, x: Float32Array, y: Float32Array, n: number): number {
  const R = Math.fround;
  const n64 = n - (n % 64);
  const n32 = n - (n % 32);
  // b[j][q][r]: accumulator j, half q (lanes 4q..4q+3 of 8), lane r
  const b = [0, 1, 2, 3].map((j) => [0, 1].map((q) => [0, 1, 2, 3].map((r) => R(lanes[16 * j + 4 * q + r]! + lanes[16 * j + 4 * q + 8 + r]!))));
  let i = n64;
  for (; i < n32; i += 32) {
    for (let j = 0; j < 4; j++) for (let q = 0; q < 2; q++) for (let r = 0; r < 4; r++) {
      const k = i - n64 + 8 * j + 4 * q + r;
      b[j]![q]![r] = fma32(x[k]!, y[k]!, b[j]![q]![r]!);
    }
  }
  let dot = 0;
  if (n32 > 0) {
    const s = [0, 1].map((q) => [0, 1, 2, 3].map((r) => R(R(R(b[0]![q]![r]! + b[1]![q]![r]!) + b[2]![q]![r]!) + b[3]![q]![r]!)));
    const h = [0, 1, 2, 3].map((r) => R(s[0]![r]! + s[1]![r]!));
    dot = R(R(h[0]! + h[1]!) + R(h[2]! + h[3]!));
  }
  for (; i < n; i++) dot += R(x[i - n64]! * y[i - n64]!);
  return R(dot);
}

/** NumPy's pairwise float32 sum of p[start .. start + n) (assembly/spherical-pairwise.ts). */
export function pairwise(p: Float32Array, start: number, n: number): number {
  const R = Math.fround;
  if (n < 8) {
    let r = 0;
    for (let i = 0; i < n; i++) r = R(r + p[start + i]!);
    return r;
  }
  if (n <= NP_LEAF) {
    const r = Array.from(p.subarray(start, start + 8));
    const end = n - (n & 7);
    let i = 8;
    for (; i < end; i += 8) for (let k = 0; k < 8; k++) r[k] = R(r[k]! + p[start + i + k]!);
    let res = R(R(R(r[0]! + r[1]!) + R(r[2]! + r[3]!)) + R(R(r[4]! + r[5]!) + R(r[6]! + r[7]!)));
    for (; i < n; i++) res = R(res + p[start + i]!);
    return res;
  }
  let n2 = n >> 1;
  n2 -= n2 & 7;
  return R(pairwise(p, start, n2) + pairwise(p, start + n2, n - n2));
}

/**
 * Records NumPy's np.sum(u0 * u1) with u = v / norm (or v where `norm` is undefined) over the full
 * 8192-element buffers; returns the function that finishes it once the results can be read.
 */
export function numpyDot(g: GpuKernels, v0: GpuTensor, v1: GpuTensor, norm0: number | undefined, norm1: number | undefined): () => Promise<number> {
  const n = v0.numel;
  const full = Math.floor(n / NP_BUFSIZE);
  const leavesPerBuf = NP_BUFSIZE / NP_LEAF;
  const flags = (norm0 !== undefined ? 1 : 0) | (norm1 !== undefined ? 2 : 0);
  const leaf = g.buffer(Math.max(full * leavesPerBuf, 1) * 4);
  const sums = g.buffer(Math.max(full, 1) * 4);
  if (full > 0) {
    v0.chunks.forEach((c, i) => {
      const leaves = Math.max(0, Math.min(c.n, full * NP_BUFSIZE - c.base)) / NP_LEAF;
      if (leaves <= 0) return;
      g.dispatch("np_leaf", c, { u: [flags, leaves], f: [norm0 ?? 1, norm1 ?? 1] }, [c.buf, v1.chunks[i]!.buf, leaf], false, leaves);
    });
    g.dispatch("np_tree", { n: full, base: 0 }, { u: [full] }, [leaf, sums]);
  }
  return async () => {
    const bufSums = full > 0 ? new Float32Array((await g.readBack(sums, full * 4)).buffer) : new Float32Array(0);
    g.release(leaf, sums);
    let acc = 0;
    for (const s of bufSums) acc = Math.fround(acc + s);
    const rest = full * NP_BUFSIZE;
    if (rest < n) {
      const a = await readRange(g, v0, rest, n);
      const b = await readRange(g, v1, rest, n);
      const p = new Float32Array(n - rest);
      for (let i = 0; i < p.length; i++) {
        const u0 = norm0 !== undefined ? Math.fround(a[i]! / norm0) : a[i]!;
        const u1 = norm1 !== undefined ? Math.fround(b[i]! / norm1) : b[i]!;
        p[i] = Math.fround(u0 * u1);
      }
      acc = Math.fround(acc + pairwise(p, 0, p.length));
    }
    return acc;
  };
}
