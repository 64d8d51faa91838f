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
});
