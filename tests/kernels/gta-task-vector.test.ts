import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";

describe("task_vector kernel", () => {
  it("rounds x - base to the working dtype, in place or not", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const x = testValues(n, n + 3).map((v) => roundRef(v, mode));
        const b = testValues(n, n + 41).map((v) => roundRef(v, mode));
        const want = x.map((v, i) => roundRef(v - b[i]!, mode));
        const xb = k.allocF32(n);
        const bb = k.allocF32(n);
        const out = k.allocF32(n);
        k.f32(xb).set(x);
        k.f32(bb).set(b);
        k.call("task_vector", out.ptr, xb.ptr, bb.ptr, n, mode);
        expect(sameBits(k.f32(out), want), `mode ${mode} n ${n}`).toBe(true);
        k.call("task_vector", xb.ptr, xb.ptr, bb.ptr, n, mode);
        expect(sameBits(k.f32(xb), want), `in place, mode ${mode} n ${n}`).toBe(true);
      }
    }
  });

  it("task_vector_stored equals decode, round_to and task_vector for every stored dtype and mode", async () => {
    const k = await testKernels();
    for (const dtype of MODES) {
      for (const mode of MODES) {
        for (const n of AWKWARD_LENGTHS) {
          k.reset();
          // stored values of `dtype` (specials included), encoded by the kernels' own encoder
          const src = k.allocF32(Math.max(n, 1));
          k.f32(src).set(testValues(n, n * 3 + dtype));
          const bytes = dtype === 0 ? 4 : 2;
          const stored = k.alloc(Math.max(n, 1) * bytes);
          k.call("encode", stored, src.ptr, dtype, n);
          const b = k.allocF32(Math.max(n, 1));
          k.f32(b).set(testValues(n, n + 41).map((v) => roundRef(v, mode)));
          const want = k.allocF32(Math.max(n, 1));
          k.call("decode", want.ptr, stored, dtype, n);
          if (dtype !== mode) k.call("round_to", want.ptr, want.ptr, mode, n);
          k.call("task_vector", want.ptr, want.ptr, b.ptr, n, mode);
          const got = k.allocF32(Math.max(n, 1));
          k.call("task_vector_stored", got.ptr, stored, dtype, b.ptr, n, mode);
          expect(sameBits(k.f32(got).slice(0, n), k.f32(want).slice(0, n)), `dtype ${dtype} mode ${mode} n ${n}`).toBe(true);
        }
      }
    }
  });
});
