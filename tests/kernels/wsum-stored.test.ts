import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";

const BYTES = [4, 2, 2];

/** Stores f32 values as `dtype` at an unaligned address; returns the pointer. */
function stored(k: Kernels, x: Float32Array, dtype: number, misalign: number): number {
  const tmp = k.allocF32(x.length);
  k.f32(tmp).set(x);
  const p = k.alloc(x.length * BYTES[dtype]! + 16) + misalign;
  k.call("encode", p, tmp.ptr, dtype, x.length);
  return p;
}

function bytesOf(k: Kernels, p: number, n: number, dtype: number): number[] {
  return [...k.bytes(p, n * BYTES[dtype]!)];
}

/**
 * The reference: decode each input (round_to when stored in another dtype), wsum, div_scalar when
 * normalizing, encode; returns where the encoded bytes are (at an odd address).
 */
function composed(k: Kernels, ptrs: readonly number[], dtypes: readonly number[], ws: readonly number[], n: number, mode: number, normalize: number, div: number, outDtype: number): number {
  const dec = ptrs.map((p, j) => {
    const b = k.allocF32(n);
    k.call("decode", b.ptr, p, dtypes[j]!, n);
    if (dtypes[j] !== mode) k.call("round_to", b.ptr, b.ptr, mode, n);
    return b;
  });
  const sum = k.allocF32(n);
  k.call("wsum", sum.ptr, k.u32Array(dec.map((d) => d.ptr)), k.f32Array(ws), ptrs.length, n, mode);
  if (normalize) k.call("div_scalar", sum.ptr, sum.ptr, div, n, mode);
  const want = k.alloc(n * 4 + 16) + 2;
  k.call("encode", want, sum.ptr, outDtype, n);
  return want;
}

/** wsum_stored on the same inputs; returns where its output is (at another odd address). */
function fused(k: Kernels, ptrs: readonly number[], dtypes: readonly number[], ws: readonly number[], n: number, mode: number, normalize: number, div: number, outDtype: number): number {
  const got = k.alloc(n * 4 + 16) + 1;
  k.call("wsum_stored", got, outDtype, k.u32Array(ptrs), k.u32Array(dtypes), k.f32Array(ws), ptrs.length, n, mode, normalize, div, k.alloc(2048 * 4));
  return got;
}

describe("wsum_stored (fused decode + weighted sum + normalize + encode)", () => {
  it("equals decode, round_to, wsum, div_scalar, encode for every dtype combination and awkward length", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const outDtype of MODES) {
        for (const K of [1, 3]) {
          for (const n of AWKWARD_LENGTHS) {
            for (const normalize of [0, 1]) {
              k.reset();
              const dtypes = Array.from({ length: K }, (_, j) => (mode + j + outDtype) % 3);
              const xs = dtypes.map((dt, j) => testValues(n, 31 * j + n + dt).map((v) => roundRef(v, dt)));
              const ws = [0.5, -0.3, 0.25].slice(0, K).map((w) => roundRef(w, mode));
              const ptrs = xs.map((x, j) => stored(k, x, dtypes[j]!, (j + n) % 4));
              const div = roundRef(0.7, mode);
              const want = composed(k, ptrs, dtypes, ws, n, mode, normalize, div, outDtype);
              const got = fused(k, ptrs, dtypes, ws, n, mode, normalize, div, outDtype);
              expect(bytesOf(k, got, n, outDtype), `mode ${mode} out ${outDtype} K ${K} n ${n} norm ${normalize}`).toEqual(bytesOf(k, want, n, outDtype));
            }
          }
        }
      }
    }
  });

  it("takes its bf16 path (bf16 inputs, working dtype and output) with the same bytes as the composition", async () => {
    // wsum_stored's eight-lane bf16 route: K = 1..5 inputs, every awkward length, odd addresses,
    // specials (NaN, infinities, -0, subnormals) among the values, weights with -0
    const k = await testKernels();
    const BF16 = 1;
    // nanFree: NaN inputs become infinities, so that every group takes the kernel's rounding
    // without the NaN branch, NaNs made by 0 * inf and inf - inf included
    for (const nanFree of [false, true]) for (const K of [1, 2, 3, 4, 5]) {
      for (const n of AWKWARD_LENGTHS) {
        for (const normalize of [0, 1]) {
          k.reset();
          const xs = Array.from({ length: K }, (_, j) => testValues(n, 17 * j + n + K).map((v) => roundRef(nanFree && Number.isNaN(v) ? (j % 2 ? Infinity : -Infinity) : v, BF16)));
          const ws = [0.5, -0.3, 0.25, -0, 3e-3].slice(0, K).map((w) => roundRef(w, BF16));
          const ptrs = xs.map((x, j) => stored(k, x, BF16, (2 * j + n) % 5));
          const dtypes = ptrs.map(() => BF16);
          const div = roundRef(0.7, BF16);
          const want = composed(k, ptrs, dtypes, ws, n, BF16, normalize, div, BF16);
          const got = fused(k, ptrs, dtypes, ws, n, BF16, normalize, div, BF16);
          expect(bytesOf(k, got, n, BF16), `K ${K} n ${n} norm ${normalize} nanFree ${nanFree}`).toEqual(bytesOf(k, want, n, BF16));
        }
      }
    }
  });

  it("cast_stored equals decode, round_to, encode", async () => {
    const k = await testKernels();
    for (const mode of MODES) for (const inDt of MODES) for (const outDt of MODES) {
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const x = testValues(n, n + inDt).map((v) => roundRef(v, inDt));
        const p = stored(k, x, inDt, n % 3);
        const b = k.allocF32(n);
        k.call("decode", b.ptr, p, inDt, n);
        k.call("round_to", b.ptr, b.ptr, mode, n);
        const want = k.alloc(n * 4 + 8);
        k.call("encode", want, b.ptr, outDt, n);
        const got = k.alloc(n * 4 + 8) + 3;
        k.call("cast_stored", got, outDt, p, inDt, n, mode);
        expect(bytesOf(k, got, n, outDt)).toEqual(bytesOf(k, want, n, outDt));
      }
    }
  });
});
