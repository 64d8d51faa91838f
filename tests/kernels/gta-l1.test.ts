// l1_accumulate (assembly/gta-l1.ts) with l1Value (src/methods/gta/l1-sum.ts): the correctly
// rounded float64 of the exact sum of |x|, whatever the split into pieces and their order.
import { describe, expect, it } from "vitest";
import { L1_ACC_BYTES } from "../../src/kernels/abi-gta.ts";
import { l1Acc, l1Value } from "../../src/methods/gta/l1-sum.ts";
import { AWKWARD_LENGTHS, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";

/** Exact sum of |x| as a rational n / 2^149, rounded to float64 by BigInt -> Number. */
function l1Ref(x: Float32Array): number {
  let nan = false;
  let inf = false;
  let total = 0n;
  for (const v of x) {
    if (Number.isNaN(v)) nan = true;
    else if (!Number.isFinite(v)) inf = true;
    else total += BigInt(Math.abs(v) * 2 ** 149); // exact: |v| * 2^149 is an integer below 2^277
  }
  if (nan) return NaN;
  if (inf) return Infinity;
  return Number(total) * 2 ** -149;
}

describe("l1_accumulate kernel", () => {
  it("sums |x| exactly, in any split and order", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const x = testValues(n, n + 11).map((v) => roundRef(v, mode)).map((v) => (Number.isFinite(v) ? v : 0.75));
        const xb = k.allocF32(Math.max(n, 1));
        k.f32(xb).set(x);
        const whole = l1Acc(k);
        k.call("l1_accumulate", whole, xb.ptr, n);
        const want = l1Ref(x);
        expect(l1Value(k, whole), `mode ${mode} n ${n}`).toBe(want);
        // pieces of 5 elements, last first, into one accumulator
        const parts = l1Acc(k);
        for (let a = Math.floor((n - 1) / 5) * 5; a >= 0 && n > 0; a -= 5) k.call("l1_accumulate", parts, xb.ptr + a * 4, Math.min(5, n - a));
        expect(l1Value(k, parts)).toBe(want);
        // two accumulators summed with stats_add
        const a1 = l1Acc(k);
        const a2 = l1Acc(k);
        const h = Math.floor(n / 3);
        k.call("l1_accumulate", a1, xb.ptr, h);
        k.call("l1_accumulate", a2, xb.ptr + h * 4, n - h);
        k.call("stats_add", a1, a2, 0, L1_ACC_BYTES / 8);
        expect(l1Value(k, a1)).toBe(want);
      }
    }
  });

  it("gives NaN with any NaN, else +inf with any infinity; subnormals and zeros count exactly", async () => {
    const k = await testKernels();
    const cases: [number[], number][] = [
      [[1, -Infinity, 2], Infinity],
      [[1, NaN, Infinity], NaN],
      [[1e-45, -1e-45, 0, -0], 2 ** -148],
      [[3e38, 3e38, -3e38], l1Ref(new Float32Array([3e38, 3e38, 3e38]))],
      [[], 0],
    ];
    for (const [vals, want] of cases) {
      k.reset();
      const x = new Float32Array(vals);
      const xb = k.allocF32(Math.max(x.length, 1));
      k.f32(xb).set(x);
      const acc = l1Acc(k);
      k.call("l1_accumulate", acc, xb.ptr, x.length);
      expect(l1Value(k, acc), vals.join(",")).toBe(want);
    }
  });
});
