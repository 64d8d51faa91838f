// sce's sum of squares on the GPU path: the host turns the exact sum (integer buckets) into the
// CPU's fround(float64 sum in four lanes), or refuses when the float64 rounding could change it.
import { describe, expect, it } from "vitest";
import { certifiedSum, f32OfScaled } from "../../src/gpu/certified-sum.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** x (a non-negative float32) in units of 2^-149, and its unit shift. */
function scaled(x: number): { v: bigint; shift: number } {
  f32[0] = x;
  const b = u32[0]!;
  const e = b >>> 23;
  const m = e ? (b & 0x7fffff) | 0x800000 : b & 0x7fffff;
  const shift = Math.max(e - 1, 0);
  return { v: BigInt(m) << BigInt(shift), shift };
}

/** assembly/gta-sum-squares.ts's order: lanes i % 4 in float64, then lanes 0..3, then the tail. */
function laneSum(xs: Float32Array): number {
  const lanes = [0, 0, 0, 0];
  const full = xs.length - (xs.length % 4);
  for (let i = 0; i < full; i++) lanes[i % 4] = lanes[i % 4]! + xs[i]!;
  let s = lanes[0]! + lanes[1]! + lanes[2]! + lanes[3]!;
  for (let i = full; i < xs.length; i++) s += xs[i]!;
  return s;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; };
}

describe("sce's certified sum of squares", () => {
  it("rounds big integers to float32 as Math.fround rounds", () => {
    const r = rng(3);
    for (let i = 0; i < 2000; i++) {
      const x = r() * 2 ** (Math.floor(r() * 80) - 40);
      const v = BigInt(Math.round(x * 2 ** 40)) << 109n; // x * 2^149, exact in float64
      expect(f32OfScaled(v)).toBe(Math.fround(Number(v) * 2 ** -149));
    }
    // ties to even
    expect(f32OfScaled((1n << 149n) + (1n << 125n))).toBe(1);
    expect(f32OfScaled((1n << 149n) + (3n << 125n))).toBe(1 + 2 ** -22);
  });

  for (const [name, quantize] of [["float32", false], ["bf16", true]] as const) {
    it(`equals fround(the CPU's float64 sum) whenever it answers (${name} terms)`, () => {
      const r = rng(name.length);
      let answered = 0;
      const trials = 300;
      for (let t = 0; t < trials; t++) {
        const n = 1 + Math.floor(r() * 3000);
        const xs = new Float32Array(n);
        let exact = 0n;
        let low = Infinity;
        for (let i = 0; i < n; i++) {
          let x = Math.fround(r() * 2 ** (Math.floor(r() * 30) - 20));
          if (quantize) { f32[0] = x; u32[0] = u32[0]! & 0xffff0000; x = f32[0]!; }
          xs[i] = x;
          const s = scaled(x);
          exact += s.v;
          if (s.v !== 0n) low = Math.min(low, s.shift);
        }
        const got = certifiedSum(exact, Number.isFinite(low) ? low : 0, n);
        if (got === undefined) continue;
        answered++;
        expect(got).toBe(Math.fround(laneSum(xs)));
      }
      expect(answered).toBeGreaterThan(trials * 0.95);
    });
  }
});
