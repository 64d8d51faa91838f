import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";

/** torch's CPU var(dim=0, unbiased=False): Welford in float64, then float32, then the dtype. */
function varianceRef(xs: Float32Array[], mode: number): Float32Array {
  const n = xs[0]!.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let mean = 0;
    let m2 = 0;
    xs.forEach((x, m) => {
      const d = x[i]! - mean;
      mean += d / (m + 1);
      m2 += d * (x[i]! - mean);
    });
    out[i] = roundRef(m2 / xs.length, mode);
  }
  return out;
}

describe("tv_variance kernel", () => {
  it("matches Welford in float64 for K = 1..4 and counts the non-zeros", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const K of [1, 2, 3, 4]) {
        for (const n of AWKWARD_LENGTHS) {
          k.reset();
          const xs = Array.from({ length: K }, (_, j) => testValues(n, 31 * j + n + mode).map((v, i) => (i % 4 === j ? 0 : roundRef(v, mode))));
          if (K > 1 && n > 2) xs.forEach((x) => { x[1] = 0.5; }); // an all-equal column: variance 0
          const bufs = xs.map((x) => { const b = k.allocF32(n); k.f32(b).set(x); return b; });
          const out = k.allocF32(n);
          const count = k.alloc(4);
          k.call("tv_variance", out.ptr, k.u32Array(bufs.map((b) => b.ptr)), K, n, mode, count);
          const want = varianceRef(xs, mode);
          expect(sameBits(k.f32(out), want), `mode ${mode} K ${K} n ${n}`).toBe(true);
          expect(new Uint32Array(k.memory.buffer, count, 1)[0]).toBe(want.filter((v) => v !== 0).length);
        }
      }
    }
  });
});
