// misc_sub / misc_add / misc_mul, misc_nearswap, misc_seq_mean and misc_stock_mix against plain
// TypeScript references, for every rounding mode over awkward lengths.
import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";

const R = roundRef;
const f = Math.fround;

/** testValues already representable in the mode (working tensors always are). */
function working(n: number, seed: number, mode: number): Float32Array {
  return testValues(n, seed).map((x) => R(x, mode));
}

function put(k: Kernels, values: Float32Array): number {
  const b = k.allocF32(values.length);
  k.f32(b).set(values);
  return b.ptr;
}

describe("misc_sub / misc_add / misc_mul", () => {
  const ops = [
    ["misc_sub", (a: number, b: number) => a - b],
    ["misc_add", (a: number, b: number) => a + b],
    ["misc_mul", (a: number, b: number) => a * b],
  ] as const;
  for (const [name, op] of ops) {
    it(`${name} rounds each result to the working dtype`, async () => {
      const k = await testKernels();
      for (const mode of MODES) {
        for (const n of AWKWARD_LENGTHS) {
          k.reset();
          const a = working(n, n + 1, mode);
          const b = working(n, 3 * n + 2, mode);
          const out = k.allocF32(n);
          k.call(name, out.ptr, put(k, a), put(k, b), n, mode);
          const want = a.map((x, i) => R(op(x, b[i]!), mode));
          expect(sameBits(k.f32(out), want), `mode ${mode} n ${n}`).toBe(true);
        }
      }
    });
  }
});

/** nearswap as MergeKit computes it: t / x is x.reciprocal() * t in torch. */
function nearswapRef(a: number, b: number, t: number, floor: number, mode: number): number {
  const d = Math.abs(R(a - b, mode));
  const cl = Number.isNaN(d) ? d : Math.max(d, floor);
  let w = R(R(1 / cl, mode) * t, mode);
  if (!Number.isNaN(w)) w = Math.min(Math.max(w, 0), 1);
  return R(R(w * b, mode) + R(R(1 - w, mode) * a, mode), mode);
}

describe("misc_nearswap", () => {
  it("matches the reference for every mode and awkward length", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      const t = R(0.001, mode);
      const floor = R(1e-6, mode);
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const a = working(n, n + 5, mode);
        // b close to a for some elements, far for others
        const b = a.map((x, i) => R(i % 3 === 0 ? x + 0.0004 : i % 3 === 1 ? x : -x * 3, mode));
        const out = k.allocF32(n);
        k.call("misc_nearswap", out.ptr, put(k, a), put(k, b), t, floor, n, mode);
        const want = a.map((x, i) => nearswapRef(x, b[i]!, t, floor, mode));
        expect(sameBits(k.f32(out), want), `mode ${mode} n ${n}`).toBe(true);
      }
    }
  });
  it("takes b where |a - b| <= t and keeps a where the models are far apart", async () => {
    const k = await testKernels();
    const a = new Float32Array([1, 1, 1, 0.5]);
    const b = new Float32Array([1.0005, 3, 1, -2]);
    const out = k.allocF32(4);
    k.call("misc_nearswap", out.ptr, put(k, a), put(k, b), f(0.001), f(1e-6), 4, 0);
    const o = k.f32(out);
    expect(o[0]).toBe(b[0]);
    expect(Math.abs(o[1]! - 1)).toBeLessThan(0.001);
    expect(o[2]).toBe(1);
    expect(Math.abs(o[3]! - 0.5)).toBeLessThan(0.002);
  });
});

describe("misc_seq_mean", () => {
  it("is Python's sum() of the tensors (one rounded add at a time) divided by K", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const count of [1, 2, 3, 5]) {
        for (const n of AWKWARD_LENGTHS) {
          k.reset();
          const xs = Array.from({ length: count }, (_, i) => working(n, 7 * n + i + 1, mode));
          const out = k.allocF32(n);
          k.call("misc_seq_mean", out.ptr, k.u32Array(xs.map((x) => put(k, x))), count, n, mode);
          const want = new Float32Array(n).map((_, j) => {
            let acc = 0;
            for (const x of xs) acc = R(acc + x[j]!, mode);
            return R(acc / R(count, mode), mode);
          });
          expect(sameBits(k.f32(out), want), `mode ${mode} K ${count} n ${n}`).toBe(true);
        }
      }
    }
  });
});

describe("misc_stock_mix", () => {
  it("is R(R(t avg) + R(R(1 - t) w0)) with t per row", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const [rows, cols] of [[1, 0], [1, 1], [1, 67], [3, 5], [7, 33], [2, 2049]] as const) {
        k.reset();
        const n = rows * cols;
        const avg = working(n, n + 11, mode);
        const w0 = working(n, n + 12, mode);
        const t = new Float32Array(rows).map((_, r) => R(0.1 + 0.37 * r - (r === 2 ? 2 : 0), mode));
        const out = k.allocF32(n);
        k.call("misc_stock_mix", out.ptr, put(k, avg), put(k, w0), put(k, t), rows, cols, mode);
        const want = avg.map((x, i) => {
          const tr = t[Math.floor(i / cols)]!;
          return R(R(tr * x, mode) + R(R(1 - tr, mode) * w0[i]!, mode), mode);
        });
        expect(sameBits(k.f32(out), want), `mode ${mode} ${rows}x${cols}`).toBe(true);
      }
    }
  });
});
