import { describe, expect, it } from "vitest";
import { dellaScratchBytes } from "../../src/kernels/abi-gta.ts";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";

/** DELLA's probabilities with a full stable sort per row. */
function dellaRef(x: Float32Array, outer: number, rowLen: number, inner: number, low: number, eps: number, mode: number): Float32Array {
  const R = (v: number) => roundRef(v, mode);
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const p = new Float32Array(x.length);
  const maxR = R(R(rowLen - 1) + 1);
  const den = R(maxR - 1);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < inner; r++) {
      const at = (j: number) => o * rowLen * inner + j * inner + r;
      const idx = Array.from({ length: rowLen }, (_, j) => j);
      idx.sort((a, b) => (bits[at(a)]! & 0x7fffffff) - (bits[at(b)]! & 0x7fffffff) || a - b);
      idx.forEach((j, pos) => {
        let rn = 0.5;
        if (rowLen > 1) rn = Math.min(1, Math.max(0, R(R(R(R(pos) + 1) - 1) / den)));
        p[at(j)] = R(low + R(R(rn * 2) * eps));
      });
    }
  }
  return p;
}

describe("della_probs kernel", () => {
  it("matches a full stable sort per row for 1-D, 2-D and 3-D layouts in every mode", async () => {
    const k = await testKernels();
    const layouts: [number, number, number][] = [];
    for (const n of AWKWARD_LENGTHS.slice(0, 40)) layouts.push([1, n, 1], [3, n, 1], [2, n, 3]);
    layouts.push([1, 2049, 1], [2, 300, 1], [1, 4099, 1]);
    for (const mode of MODES) {
      const low = roundRef(0.5 - 0.15, mode);
      const eps = roundRef(0.15, mode);
      for (const [outer, rowLen, inner] of layouts) {
        k.reset();
        const n = outer * rowLen * inner;
        // bf16-like values with many ties, plus full f32 values
        const x = testValues(n, n + mode).map((v, i) => (i % 3 === 0 ? roundRef(v, 1) : i % 7 === 0 ? 0 : v));
        const xb = k.allocF32(n);
        k.f32(xb).set(x);
        const p = k.allocF32(n);
        const scratch = k.alloc(dellaScratchBytes(rowLen));
        k.call("della_probs", p.ptr, xb.ptr, outer, rowLen, inner, low, eps, mode, scratch);
        expect(sameBits(k.f32(p), dellaRef(x, outer, rowLen, inner, low, eps, mode)), `mode ${mode} [${outer}, ${rowLen}, ${inner}]`).toBe(true);
      }
    }
  });
  it("spans [density - eps, density + eps] from the smallest to the largest magnitude", async () => {
    const k = await testKernels();
    const x = new Float32Array([0.3, -5, 0.1, 2]);
    const xb = k.allocF32(4);
    k.f32(xb).set(x);
    const p = k.allocF32(4);
    k.call("della_probs", p.ptr, xb.ptr, 1, 4, 1, Math.fround(0.4), Math.fround(0.1), 0, k.alloc(dellaScratchBytes(4)));
    const got = [...k.f32(p)];
    expect(got[2]).toBeCloseTo(0.4, 6);
    expect(got[1]).toBeCloseTo(0.6, 6);
    expect(got[0]! < got[3]!).toBe(true);
  });
});
