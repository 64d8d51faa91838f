// The spherical family's elementwise kernels against plain TypeScript references, over awkward
// lengths and every rounding mode (specials included).
import { describe, expect, it } from "vitest";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";

const f = Math.fround;

function put(k: Kernels, x: Float32Array): number {
  const b = k.allocF32(x.length);
  k.f32(b).set(x);
  return b.ptr;
}

function out(k: Kernels, n: number, fn: (o: number) => void): Float32Array {
  const b = k.allocF32(n);
  fn(b.ptr);
  return k.f32(b).slice();
}

function inputs(n: number, mode: number): [Float32Array, Float32Array] {
  return [testValues(n, 3 * n + mode).map((v) => roundRef(v, mode)), testValues(n, 5 * n + 11).map((v) => roundRef(v, mode))];
}

describe("spherical elementwise kernels", () => {
  it("numpy_axpby, sph_add, sph_sub and sph_sub_scaled", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const [x, y] = inputs(n, mode);
        const [px, py] = [put(k, x), put(k, y)];
        const a = f(0.65);
        const b = f(-0.35);
        const s = roundRef(0.7, mode);
        const axpby = out(k, n, (o) => k.call("numpy_axpby", o, px, py, a, b, n, mode));
        expect(sameBits(axpby, x.map((v, i) => roundRef(f(a * v) + f(b * y[i]!), mode))), `axpby n ${n} mode ${mode}`).toBe(true);
        const add = out(k, n, (o) => k.call("sph_add", o, px, py, n, mode));
        expect(sameBits(add, x.map((v, i) => roundRef(v + y[i]!, mode))), `add n ${n} mode ${mode}`).toBe(true);
        const sub = out(k, n, (o) => k.call("sph_sub", o, px, py, n, mode));
        expect(sameBits(sub, x.map((v, i) => roundRef(v - y[i]!, mode))), `sub n ${n} mode ${mode}`).toBe(true);
        const subs = out(k, n, (o) => k.call("sph_sub_scaled", o, px, py, s, n, mode));
        expect(sameBits(subs, x.map((v, i) => roundRef(v - roundRef(s * y[i]!, mode), mode))), `sub_scaled n ${n} mode ${mode}`).toBe(true);
      }
    }
  });

  it("sph_comb2 and sph_div_by per row and per column", async () => {
    const k = await testKernels();
    const shapes: [number, number][] = [[1, 0], [1, 1], [1, 7], [3, 5], [2, 8], [4, 9], [5, 33], [1, 4099], [7, 70]];
    for (const mode of MODES) {
      for (const [rows, cols] of shapes) {
        for (const perCol of [0, 1]) {
          k.reset();
          const n = rows * cols;
          const [x, y] = inputs(n, mode);
          const count = perCol ? cols : rows;
          const coef = (seed: number) => testValues(count, seed).map((v) => roundRef(v, mode));
          const [a, b, d] = [coef(rows + 1), coef(cols + 2), coef(rows * cols + 3)];
          const [px, py, pa, pb, pd] = [put(k, x), put(k, y), put(k, a), put(k, b), put(k, d)];
          const kk = (r: number, c: number) => (perCol ? c : r);
          const comb = out(k, n, (o) => k.call("sph_comb2", o, px, py, pa, pb, pd, rows, cols, perCol, mode));
          const combRef = x.map((v, i) => {
            const j = kk(Math.floor(i / cols), i % cols);
            const s = roundRef(roundRef(a[j]! * v, mode) + roundRef(b[j]! * y[i]!, mode), mode);
            return roundRef(s / d[j]!, mode);
          });
          expect(sameBits(comb, combRef), `comb2 ${rows}x${cols} perCol ${perCol} mode ${mode}`).toBe(true);
          const div = out(k, n, (o) => k.call("sph_div_by", o, px, pd, rows, cols, perCol, mode));
          expect(sameBits(div, x.map((v, i) => roundRef(v / d[kk(Math.floor(i / cols), i % cols)]!, mode))), `div_by ${rows}x${cols} perCol ${perCol} mode ${mode}`).toBe(true);
        }
      }
    }
  });
});
