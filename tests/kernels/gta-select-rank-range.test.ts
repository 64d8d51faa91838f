import { describe, expect, it } from "vitest";
import { SELECT_SCRATCH_BYTES, TIE_INDEX_ASC, TIE_INDEX_DESC } from "../../src/kernels/abi-gta.ts";
import { AWKWARD_LENGTHS, testKernels, testValues } from "../helpers/kernels.ts";
import { roundRef } from "../helpers/reference.ts";

const bitsOf = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

/** Plain reference: a full sort by (|x| bits, index asc or desc), then ranks [lo, hi) kept. */
function rankRangeRef(x: Float32Array, lo: number, hi: number, tie: number): Float32Array {
  const key = bitsOf(x).map((b) => b & 0x7fffffff);
  const idx = Array.from({ length: x.length }, (_, i) => i);
  idx.sort((a, b) => key[a]! - key[b]! || (tie === TIE_INDEX_ASC ? a - b : b - a));
  const out = new Float32Array(x.length);
  for (let r = Math.max(0, lo); r < Math.min(hi, x.length); r++) out[idx[r]!] = 1;
  return out;
}

/** Value sets that stress the tie handling at both radix levels. */
function tieHeavy(n: number, kind: number, seed: number): Float32Array {
  const v = testValues(n, seed);
  if (kind === 0) return v;
  if (kind === 1) return v.map((x, i) => [0, -0, 1, -1, 0.5, 2, -2, 0.25][(i * 7 + (seed % 5)) % 8]! * (x < 0 ? -1 : 1));
  if (kind === 2) return v.map((x, i) => (1 + ((i * 13) % 5) * 2 ** -20) * (x < 0 ? -1 : 1)); // equal high 16 bits
  return v.map((x) => roundRef(x, 1)); // bf16 magnitudes: the low 16 bits all zero
}

describe("mask_rank_range kernel", () => {
  it("matches a full stable sort for every range, tie order and awkward length", async () => {
    const k = await testKernels();
    for (const n of AWKWARD_LENGTHS) {
      for (let kind = 0; kind < 4; kind++) {
        const x = tieHeavy(n, kind, n + kind);
        const ranges: [number, number][] = [[0, n], [0, 0], [n, n], [0, Math.floor(n / 2)], [Math.floor(n / 3), n], [Math.floor(n / 5), n - Math.floor(n / 7)], [n - 1, n], [1, n + 5], [3, 2]];
        for (const [lo, hi] of ranges) {
          for (const tie of [TIE_INDEX_ASC, TIE_INDEX_DESC]) {
            k.reset();
            const xb = k.allocF32(n);
            k.f32(xb).set(x);
            const mask = k.allocF32(n);
            const scratch = k.alloc(SELECT_SCRATCH_BYTES);
            k.call("mask_rank_range", mask.ptr, xb.ptr, n, Math.max(0, lo), Math.max(0, hi), tie, scratch);
            expect([...k.f32(mask)], `n ${n} kind ${kind} [${lo}, ${hi}) tie ${tie}`).toEqual([...rankRangeRef(x, lo, hi, tie)]);
          }
        }
      }
    }
  });

  it("keeps exactly hi - lo elements, with NaN ranked above infinity", async () => {
    const k = await testKernels();
    const x = new Float32Array([1, NaN, Infinity, -Infinity, 0, -0, 3, NaN]);
    const xb = k.allocF32(x.length);
    k.f32(xb).set(x);
    const mask = k.allocF32(x.length);
    const scratch = k.alloc(SELECT_SCRATCH_BYTES);
    k.call("mask_rank_range", mask.ptr, xb.ptr, x.length, x.length - 3, x.length, TIE_INDEX_DESC, scratch);
    // both NaNs, then of the two equal infinities the lower index
    expect([...k.f32(mask)]).toEqual([0, 1, 1, 0, 0, 0, 0, 1]);
  });
});
