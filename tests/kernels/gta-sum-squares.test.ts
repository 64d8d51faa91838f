import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";

describe("sum_squares kernel", () => {
  it("sums the squares rounded to the working dtype, in float64", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const x = testValues(n, n + 17).map((v) => roundRef(v, mode)).map((v) => (Math.abs(v) < 100 ? v : 0.75));
        let want = 0;
        for (const v of x) want += roundRef(Math.fround(v * v), mode);
        const xb = k.allocF32(n);
        k.f32(xb).set(x);
        const res = k.alloc(8);
        k.call("sum_squares", res, xb.ptr, n, mode);
        const got = new Float64Array(k.memory.buffer, res, 1)[0]!;
        expect(Math.abs(got - want), `mode ${mode} n ${n}`).toBeLessThanOrEqual(want * 1e-12);
      }
    }
  });
});
