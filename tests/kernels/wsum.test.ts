import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef, wsumRef } from "../helpers/reference.ts";

describe("wsum kernel", () => {
  it("matches the reference for K = 1..4, every mode and awkward length", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const K of [1, 2, 3, 4]) {
        for (const n of AWKWARD_LENGTHS) {
          k.reset();
          const xs = Array.from({ length: K }, (_, j) => testValues(n, 97 * j + n + mode).map((x) => roundRef(x, mode)));
          const ws = [0.5, 0.3, -0.2, 1.7].slice(0, K).map((w) => roundRef(w, mode));
          const bufs = xs.map((x) => { const b = k.allocF32(n); k.f32(b).set(x); return b; });
          const out = k.allocF32(n);
          k.call("wsum", out.ptr, k.u32Array(bufs.map((b) => b.ptr)), k.f32Array(ws), K, n, mode);
          expect(sameBits(k.f32(out), wsumRef(xs, ws, mode)), `mode ${mode} K ${K} n ${n}`).toBe(true);
        }
      }
    }
  });
});

describe("scalar op kernels", () => {
  it("mul_scalar and div_scalar round each result", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const x = testValues(n, n + 5).map((v) => roundRef(v, mode));
        const s = roundRef(0.7, mode);
        const a = k.allocF32(n);
        k.f32(a).set(x);
        const o = k.allocF32(n);
        k.call("mul_scalar", o.ptr, a.ptr, s, n, mode);
        expect(sameBits(k.f32(o), x.map((v) => roundRef(Math.fround(v * s), mode)))).toBe(true);
        k.call("div_scalar", o.ptr, a.ptr, s, n, mode);
        expect(sameBits(k.f32(o), x.map((v) => roundRef(Math.fround(v / s), mode)))).toBe(true);
      }
    }
  });
});
