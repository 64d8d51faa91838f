// The companion kernels (assembly/svd-*.ts, assembly/lora-merge.ts) against plain TS references
// over awkward shapes, and the randomized SVD against exact singular values.
import { describe, expect, it } from "vitest";
import { randomizedSvd } from "../../src/lora/randomized-svd.ts";
import { streamKey } from "../../src/random/stream-key.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { testKernels, sameBits } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";
import { exactSingularValues, matrix } from "./helpers/exact-svd.ts";

const SHAPES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 17];

function put(k: Kernels, values: ArrayLike<number>): number {
  const p = k.alloc(Math.max(1, values.length) * 4);
  new Float32Array(k.memory.buffer, p, values.length).set(Array.from(values));
  return p;
}
function get(k: Kernels, p: number, n: number): Float32Array {
  return new Float32Array(k.memory.buffer, p, n).slice();
}
function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; out[i] = (s / 2 ** 32) * 2 - 1; }
  return out;
}

describe("svd kernels", () => {
  it("svd_matmul and svd_matmul_tn sum in index order, bit for bit, over awkward shapes", async () => {
    const k = await testKernels();
    const shapes: [number, number, number][] = [];
    for (const m of [1, 3, 4, 5, 9]) for (const kk of [1, 2, 4, 7, 9]) for (const n of SHAPES) shapes.push([m, kk, n]);
    shapes.push([6, 300, 5], [130, 9, 7], [131, 261, 3]); // several cache blocks (128 rows of b, 64 output rows)
    for (const [m, kk, n] of shapes) {
      k.reset();
      const a = rand(m * kk, m * 100 + kk), b = rand(kk * n, n + 7);
      const ref = new Float32Array(m * n);
      for (let i = 0; i < m; i++) for (let p = 0; p < kk; p++) for (let j = 0; j < n; j++) {
        ref[i * n + j] = Math.fround(ref[i * n + j]! + Math.fround(a[i * kk + p]! * b[p * n + j]!));
      }
      const out = k.alloc(Math.max(1, m * n) * 4);
      k.call("svd_matmul", out, put(k, a), put(k, b), m, kk, n, 0);
      expect(sameBits(get(k, out, m * n), ref), `matmul ${m}x${kk}x${n}`).toBe(true);
      // a^T.b with a stored transposed (kk x m)
      const at = new Float32Array(kk * m);
      for (let i = 0; i < m; i++) for (let p = 0; p < kk; p++) at[p * m + i] = a[i * kk + p]!;
      const out2 = k.alloc(Math.max(1, m * n) * 4);
      k.call("svd_matmul_tn", out2, put(k, at), put(k, b), kk, m, n, 0);
      expect(sameBits(get(k, out2, m * n), ref), `matmul_tn ${m}x${kk}x${n}`).toBe(true);
      // accumulate: out starts at ref and the terms are added in the same order
      const acc = ref.slice();
      for (let i = 0; i < m; i++) for (let p = 0; p < kk; p++) for (let j = 0; j < n; j++) {
        acc[i * n + j] = Math.fround(acc[i * n + j]! + Math.fround(a[i * kk + p]! * b[p * n + j]!));
      }
      k.call("svd_matmul", out, put(k, a), put(k, b), m, kk, n, 1);
      expect(sameBits(get(k, out, m * n), acc), `accumulate ${m}x${kk}x${n}`).toBe(true);
    }
  });

  it("transposes and scales rows", async () => {
    const k = await testKernels();
    for (const rows of SHAPES) for (const cols of [1, 4, 5, 33, 70]) {
      k.reset();
      const x = rand(rows * cols, rows + cols);
      const out = k.alloc(Math.max(1, rows * cols) * 4);
      k.call("svd_transpose", out, put(k, x), rows, cols);
      const t = get(k, out, rows * cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) expect(t[j * rows + i]).toBe(x[i * cols + j]);
      const s = rand(rows, 3);
      const px = put(k, x);
      k.call("svd_scale_rows", px, put(k, s), rows, cols);
      const y = get(k, px, rows * cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) expect(y[i * cols + j]).toBe(Math.fround(x[i * cols + j]! * s[i]!));
    }
  });

  it("orthonormalizes rows and zeroes dependent ones", async () => {
    const k = await testKernels();
    for (const cols of [5, 8, 31, 64]) {
      k.reset();
      const rows = 6;
      const x = rand(rows * cols, cols);
      // row 3 = 2 row0 - row1: dependent
      for (let j = 0; j < cols; j++) x[3 * cols + j] = 2 * x[j]! - x[cols + j]!;
      const p = put(k, x);
      k.call("svd_orthonormalize_rows", p, rows, cols, 1e-5);
      const q = get(k, p, rows * cols);
      const dot = (a: number, b: number) => { let s = 0; for (let j = 0; j < cols; j++) s += q[a * cols + j]! * q[b * cols + j]!; return s; };
      for (let a = 0; a < rows; a++) for (let b = 0; b < rows; b++) {
        const want = a === b && a !== 3 ? 1 : 0;
        expect(Math.abs(dot(a, b) - want), `${a},${b} (cols ${cols})`).toBeLessThan(1e-5);
      }
    }
  });

  it("gram_f64 and jacobi_eigh diagonalize symmetric matrices", async () => {
    const k = await testKernels();
    for (const n of [1, 2, 3, 7, 20]) {
      k.reset();
      const cols = 11;
      const x = rand(n * cols, n * 5 + 1);
      const g = k.alloc(n * n * 8);
      k.call("svd_gram_f64", g, put(k, x), n, cols);
      const gram = new Float64Array(k.memory.buffer, g, n * n).slice();
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += Math.fround(x[i * cols + c]! * x[j * cols + c]!);
        expect(Math.abs(gram[i * n + j]! - s)).toBeLessThan(1e-12);
      }
      const v = k.alloc(n * n * 8);
      expect(k.exports.svd_jacobi_eigh(g, v, n, 60)).toBe(0);
      const d = new Float64Array(k.memory.buffer, g, n * n);
      const vv = new Float64Array(k.memory.buffer, v, n * n);
      // gram . v_c = lambda_c v_c
      for (let c = 0; c < n; c++) for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += gram[i * n + j]! * vv[j * n + c]!;
        expect(Math.abs(s - d[c * n + c]! * vv[i * n + c]!)).toBeLessThan(1e-9);
      }
    }
  });

  it("lora_merge rounds the scaled delta, then the sum, to the weight dtype", async () => {
    const k = await testKernels();
    for (const mode of MODES) for (const n of [...SHAPES, 64, 65]) {
      k.reset();
      const w = Float32Array.from(rand(n, n + 1), (x) => roundRef(x, mode));
      const d = rand(n, n + 2);
      const out = k.alloc(Math.max(1, n) * 4);
      k.call("lora_merge", out, put(k, w), put(k, d), 0.37, n, mode);
      const ref = Float32Array.from(w, (x, i) => roundRef(x + roundRef(Math.fround(d[i]! * Math.fround(0.37)), mode), mode));
      expect(sameBits(get(k, out, n), ref), `mode ${mode} n ${n}`).toBe(true);
    }
  });
});

describe("randomized SVD", () => {
  it("gives the exact singular values (NumPy's) when the sketch spans the range", async () => {
    const k = await testKernels();
    const a = matrix(12, 9, (i, j) => Math.sin(1 + i * 0.7 + j * 1.3 * ((i % 3) + 1)));
    const numpy = [4.42220780350297, 3.9519124985596084, 3.508092419458221, 2.325592897112729, 1.0677609351816921, 0.9883754876515158, 0, 0, 0];
    const r = randomizedSvd(k, put(k, a), 12, 9, { rank: 9, key: streamKey(0, 0, "t", "svd") });
    for (let i = 0; i < 9; i++) expect(Math.abs(r.sigma[i]! - numpy[i]!), `sigma ${i}`).toBeLessThan(2e-5);
    // U diag(s) V^T reproduces A
    const ut = get(k, r.ut, 9 * 12), vt = get(k, r.vt, 9 * 9);
    for (let i = 0; i < 12; i++) for (let j = 0; j < 9; j++) {
      let s = 0;
      for (let c = 0; c < 9; c++) s += ut[c * 12 + i]! * r.sigma[c]! * vt[c * 9 + j]!;
      expect(Math.abs(s - a[i * 9 + j]!)).toBeLessThan(2e-5);
    }
  });

  it.each([
    [40, 60, 5, 0], [64, 48, 8, 1], [33, 70, 4, 2], [100, 80, 10, 2],
  ])("a %ix%i matrix at rank %i (%i power iterations) is within a few %% of the optimal rank-r error", async (m, n, rank, q) => {
    const k = await testKernels();
    // decaying spectrum plus noise, like a fine-tune's delta
    const base = matrix(m, n, (i, j) => Math.sin(i * 0.37 + j * 0.11) * Math.cos(j * 0.23 - i * 0.05));
    const a = Float32Array.from(base, (x, idx) => x + 0.05 * Math.sin(idx * 12.9898) * Math.exp(-(idx % n) / n));
    const exact = exactSingularValues(a, m, n);
    const fro2 = exact.reduce((s, x) => s + x * x, 0);
    const optimal = Math.sqrt(Math.max(0, fro2 - exact.slice(0, rank).reduce((s, x) => s + x * x, 0)));
    const r = randomizedSvd(k, put(k, a), m, n, { rank, powerIterations: q, key: streamKey(1, 0, "x", "svd") });
    const ut = get(k, r.ut, r.rank * m), vt = get(k, r.vt, r.rank * n);
    let err = 0;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < r.rank; c++) s += ut[c * m + i]! * r.sigma[c]! * vt[c * n + j]!;
      err += (s - a[i * n + j]!) ** 2;
    }
    expect(Math.sqrt(err)).toBeLessThanOrEqual(optimal * (q === 0 ? 1.3 : 1.02) + 1e-4);
    for (let i = 0; i < rank; i++) expect(Math.abs(r.sigma[i]! - exact[i]!) / exact[0]!).toBeLessThan(q === 0 ? 0.05 : 2e-3);
  });
});
