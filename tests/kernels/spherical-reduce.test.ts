// The spherical family's reduction kernels: against plain TypeScript references over awkward
// lengths and every rounding mode, and against answers recorded from the real NumPy/OpenBLAS/torch.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";
import {
  blasSdotRef, dotRoundedRef, fma32Exact, numpySumProdRef, torchNormColsRef, torchNormRowsRef, torchSumProdColsRef, torchSumProdRowsRef,
} from "./spherical-reference.ts";

/** Moderate values (no overflow in sums of squares) so every accumulation order is visible. */
function moderate(n: number, seed: number, mode: number): Float32Array {
  return testValues(n, seed).map((v) => (Number.isFinite(v) ? roundRef(Math.max(-1e3, Math.min(1e3, v)), mode) : roundRef(0.5, mode)));
}

function put(k: Kernels, x: Float32Array): number {
  const b = k.allocF32(x.length);
  k.f32(b).set(x);
  return b.ptr;
}

function run(k: Kernels, count: number, fn: (out: number) => void): Float32Array {
  const out = k.allocF32(count);
  fn(out.ptr);
  return k.f32(out).slice();
}

const SHAPES: readonly (readonly [number, number])[] = [[1, 1], [1, 9], [3, 5], [7, 5], [2, 8], [9, 12], [5, 33], [64, 64], [17, 70], [300, 17], [70, 4]];

describe("exact fma reference", () => {
  it("agrees with float64 where the sum is exact and rounds ties to even", () => {
    expect(fma32Exact(3, 5, 7)).toBe(22);
    expect(fma32Exact(1 + 2 ** -23, 1 + 2 ** -23, -1)).toBe(Math.fround(2 ** -22 + 2 ** -46));
    expect(fma32Exact(1, 1, 2 ** -24)).toBe(1);
    expect(fma32Exact(1, 1 + 2 ** -23, 2 ** -24)).toBe(1 + 2 ** -22);
  });
});

describe("blas_sdot and numpy_sum_prod", () => {
  it("match the references for every awkward length, specials included", async () => {
    const k = await testKernels();
    for (const n of AWKWARD_LENGTHS) {
      for (const gen of [(s: number) => moderate(n, s, 0), (s: number) => testValues(n, s)]) {
        k.reset();
        const x = gen(n + 3);
        const y = gen(2 * n + 7);
        const px = put(k, x);
        const py = put(k, y);
        const sdot = run(k, 1, (o) => k.call("blas_sdot", o, px, py, n));
        expect(sameBits(sdot, new Float32Array([blasSdotRef(x, y)])), `sdot n ${n}`).toBe(true);
        const sum = run(k, 1, (o) => k.call("numpy_sum_prod", o, px, py, n));
        expect(sameBits(sum, new Float32Array([numpySumProdRef(x, y)])), `np.sum n ${n}`).toBe(true);
      }
    }
  });
});

describe("torch reductions", () => {
  it("torch_norm_rows and torch_sum_prod_rows match the references (rows and single vectors)", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      const shapes = [...SHAPES, ...AWKWARD_LENGTHS.map((n) => [1, n] as const)];
      for (const [rows, cols] of shapes) {
        k.reset();
        const x = moderate(rows * cols, rows + 31 * cols + mode, mode);
        const y = moderate(rows * cols, rows + 17 * cols + 5, mode);
        const px = put(k, x);
        const py = put(k, y);
        const norms = run(k, rows, (o) => k.call("torch_norm_rows", o, px, rows, cols, mode));
        expect(sameBits(norms, torchNormRowsRef(x, rows, cols, mode)), `norm rows ${rows}x${cols} mode ${mode}`).toBe(true);
        const sums = run(k, rows, (o) => k.call("torch_sum_prod_rows", o, px, py, rows, cols, cols, mode));
        expect(sameBits(sums, torchSumProdRowsRef(x, y, rows, cols, cols, mode)), `sum rows ${rows}x${cols} mode ${mode}`).toBe(true);
        const shared = run(k, rows, (o) => k.call("torch_sum_prod_rows", o, px, py, rows, cols, 0, mode));
        expect(sameBits(shared, torchSumProdRowsRef(x, y, rows, cols, 0, mode)), `sum rows, shared y, ${rows}x${cols} mode ${mode}`).toBe(true);
      }
    }
  });

  it("torch_norm_cols and torch_sum_prod_cols match the references", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const [rows, cols] of [...SHAPES, [40, 37], [3, 100]] as const) {
        k.reset();
        const x = moderate(rows * cols, rows + 13 * cols + mode, mode);
        const y = moderate(rows * cols, rows + 11 * cols + 3, mode);
        const px = put(k, x);
        const py = put(k, y);
        for (const roundAcc of [0, 1]) {
          const norms = run(k, cols, (o) => k.call("torch_norm_cols", o, px, rows, cols, mode, roundAcc));
          expect(sameBits(norms, torchNormColsRef(x, rows, cols, mode, roundAcc === 1)), `norm cols ${rows}x${cols} mode ${mode} roundAcc ${roundAcc}`).toBe(true);
        }
        const sums = run(k, cols, (o) => k.call("torch_sum_prod_cols", o, px, py, rows, cols, mode));
        expect(sameBits(sums, torchSumProdColsRef(x, y, rows, cols, mode)), `sum cols ${rows}x${cols} mode ${mode}`).toBe(true);
      }
    }
  });

  it("torch_dot_rounded rounds every product and partial sum", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const x = moderate(n, n + 1, mode);
        const y = moderate(n, n + 2, mode);
        const d = run(k, 1, (o) => k.call("torch_dot_rounded", o, put(k, x), put(k, y), n, mode));
        expect(sameBits(d, new Float32Array([dotRoundedRef(x, y, mode)])), `n ${n} mode ${mode}`).toBe(true);
      }
    }
  });
});

interface KnownAnswers {
  readonly lengths: number[];
  readonly shapes: [number, number][];
  readonly [key: string]: unknown;
}

function gen(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = BigInt(seed) & 0x7fffffffn;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245n + 12345n) & 0x7fffffffn;
    out[i] = Number(s) / 2 ** 31 * 2 - 1;
  }
  return out;
}

function hex(v: number): string {
  const a = new Float32Array([v]);
  return new Uint32Array(a.buffer)[0]!.toString(16).padStart(8, "0");
}

describe("known answers of NumPy, OpenBLAS and torch", () => {
  const kat = JSON.parse(readFileSync(join(import.meta.dirname, "spherical-known-answers.json"), "utf8")) as KnownAnswers;
  const list = (key: string) => kat[key] as (string | null)[];
  const lists = (key: string) => kat[key] as string[][];

  it("vector reductions reproduce the libraries' float32 bits", async () => {
    const k = await testKernels();
    kat.lengths.forEach((n, i) => {
      k.reset();
      const x = gen(n, n);
      const y = gen(n, n + 1000);
      const xb = x.map((v) => roundRef(v, 1));
      const yb = y.map((v) => roundRef(v, 1));
      const [px, py, pxb, pyb] = [put(k, x), put(k, y), put(k, xb), put(k, yb)];
      const one = (fn: (o: number) => void) => hex(run(k, 1, fn)[0]!);
      expect(one((o) => k.call("blas_sdot", o, px, py, n)), `sdot n ${n}`).toBe(list("sdot")[i]);
      expect(one((o) => k.call("numpy_sum_prod", o, px, py, n)), `np.sum n ${n}`).toBe(list("npsum")[i]);
      expect(one((o) => k.call("torch_norm_rows", o, px, 1, n, 0)), `norm n ${n}`).toBe(list("normF32")[i]);
      expect(one((o) => k.call("torch_sum_prod_rows", o, px, py, 1, n, n, 0)), `sum n ${n}`).toBe(list("sumF32")[i]);
      expect(one((o) => k.call("torch_norm_rows", o, pxb, 1, n, 1)), `bf16 norm n ${n}`).toBe(list("normBF16")[i]);
      expect(one((o) => k.call("torch_sum_prod_rows", o, pxb, pyb, 1, n, n, 1)), `bf16 sum n ${n}`).toBe(list("sumBF16")[i]);
      const dot = list("dotBF16")[i];
      if (dot) expect(one((o) => k.call("torch_dot_rounded", o, pxb, pyb, n, 1)), `bf16 dot n ${n}`).toBe(dot);
    });
  });

  it("row and column reductions of matrices reproduce torch's bits", async () => {
    const k = await testKernels();
    kat.shapes.forEach(([rows, cols], i) => {
      k.reset();
      const x = gen(rows * cols, rows * 7 + cols);
      const y = gen(rows * cols, rows * 7 + cols + 99);
      const xb = x.map((v) => roundRef(v, 1));
      const yb = y.map((v) => roundRef(v, 1));
      const [px, py, pxb, pyb] = [put(k, x), put(k, y), put(k, xb), put(k, yb)];
      const many = (count: number, fn: (o: number) => void) => Array.from(run(k, count, fn), hex);
      const what = `${rows}x${cols}`;
      // torch's multi-row norm kernel is not reproduced (see spherical-norm.ts); a single row is.
      if (rows === 1) expect(many(rows, (o) => k.call("torch_norm_rows", o, px, rows, cols, 0)), `rows norm ${what}`).toEqual(lists("rowsNormF32")[i]);
      expect(many(rows, (o) => k.call("torch_sum_prod_rows", o, px, py, rows, cols, cols, 0)), `rows sum ${what}`).toEqual(lists("rowsSumF32")[i]);
      expect(many(cols, (o) => k.call("torch_norm_cols", o, px, rows, cols, 0, 0)), `cols norm ${what}`).toEqual(lists("colsNormF32")[i]);
      expect(many(cols, (o) => k.call("torch_sum_prod_cols", o, px, py, rows, cols, 0)), `cols sum ${what}`).toEqual(lists("colsSumF32")[i]);
      expect(many(cols, (o) => k.call("torch_norm_cols", o, pxb, rows, cols, 1, 1)), `bf16 cols norm ${what}`).toEqual(lists("colsNormBF16")[i]);
      expect(many(cols, (o) => k.call("torch_sum_prod_cols", o, pxb, pyb, rows, cols, 1)), `bf16 cols sum ${what}`).toEqual(lists("colsSumBF16")[i]);
    });
  });
});
