import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";

describe("mask_apply kernel", () => {
  it("multiplies by the mask", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const x = testValues(n, n + 9).map((v) => roundRef(v, mode));
        const m = Float32Array.from({ length: n }, (_, i) => ((i * 5) % 3 === 0 ? 0 : 1));
        const want = x.map((v, i) => v * m[i]!);
        const xb = k.allocF32(n);
        const mb = k.allocF32(n);
        k.f32(xb).set(x);
        k.f32(mb).set(m);
        k.call("mask_apply", xb.ptr, xb.ptr, mb.ptr, n);
        expect(sameBits(k.f32(xb), want), `mode ${mode} n ${n}`).toBe(true);
      }
    }
  });
  it("keeps torch's signed zeros and NaN", async () => {
    const k = await testKernels();
    const x = new Float32Array([-3, 2, NaN, -1, 5]);
    const xb = k.allocF32(5);
    k.f32(xb).set(x);
    const mb = k.allocF32(5);
    k.f32(mb).set([0, 0, 0, 1, 1]);
    const out = k.allocF32(5);
    k.call("mask_apply", out.ptr, xb.ptr, mb.ptr, 5);
    expect([...k.f32(out)]).toEqual([-0, 0, NaN, -1, 5]);
    expect(Object.is(k.f32(out)[0], -0)).toBe(true);
  });
});
