// tv_bf16 and rank_band_bf16 (assembly/gta-tv-bf16.ts) against the kernels they replace (decode,
// task_vector_stored, encode, rank_hist_hi) and plain references, over awkward lengths, odd
// element offsets and special values.
import { describe, expect, it } from "vitest";
import { RANK_HI_BINS } from "../../src/kernels/abi-gta.ts";
import { inSample } from "../../src/methods/gta/rank-band.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { AWKWARD_LENGTHS, testKernels, testValues } from "../helpers/kernels.ts";

/** bfloat16 bits of test values (truncated: any 16-bit pattern is a valid input, NaNs included). */
function bf16Bits(n: number, seed: number): Uint16Array {
  const v = testValues(n, seed);
  const u = new Uint32Array(v.buffer);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = u[i]! >>> 16;
  // a signalling NaN, a NaN with a payload, and runs of equal values
  if (n > 3) out[3] = 0x7f81;
  if (n > 7) out[7] = 0xffc1;
  for (let i = 20; i < Math.min(n, 40); i++) out[i] = 0x3f80;
  return out;
}

/** Element-wise equality without a deep diff (histograms are 32768 bins). */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function put16(k: Kernels, bits: Uint16Array, offsetElements: number): number {
  const p = k.alloc((bits.length + offsetElements) * 2 + 16) + offsetElements * 2;
  new Uint16Array(k.memory.buffer, p, bits.length).set(bits);
  return p;
}

/** The composition tv_bf16 replaces: decode both, task_vector_stored in bf16, encode, rank_hist_hi. */
function composed(k: Kernels, x: Uint16Array, base: Uint16Array): { tv: Uint16Array; hist: Uint32Array } {
  const n = x.length;
  const mark = k.mark();
  const xp = put16(k, x, 0);
  const bp = put16(k, base, 0);
  const bf = k.allocF32(Math.max(n, 1));
  k.call("decode", bf.ptr, bp, 1, n);
  const tv = k.allocF32(Math.max(n, 1));
  k.call("task_vector_stored", tv.ptr, xp, 1, bf.ptr, n, 1);
  const out = k.alloc(n * 2 + 16);
  k.call("encode", out, tv.ptr, 1, n);
  const hist = k.alloc(RANK_HI_BINS * 4);
  const lowOr = k.alloc(4);
  k.bytes(hist, RANK_HI_BINS * 4).fill(0);
  k.bytes(lowOr, 4).fill(0);
  k.call("rank_hist_hi", hist, tv.ptr, n, lowOr);
  expect(new Uint32Array(k.memory.buffer, lowOr, 1)[0]).toBe(0);
  const r = { tv: new Uint16Array(k.memory.buffer, out, n).slice(), hist: new Uint32Array(k.memory.buffer, hist, RANK_HI_BINS).slice() };
  k.release(mark);
  return r;
}

describe("tv_bf16", () => {
  it("equals decode + task_vector_stored + encode and rank_hist_hi, in place or not, at odd offsets", async () => {
    const k = await testKernels();
    for (const n of [...AWKWARD_LENGTHS, 16384 + 13]) {
      for (const off of [0, 1, 3]) {
        const x = bf16Bits(n, n + 7);
        const base = bf16Bits(n, n * 3 + 1);
        const want = composed(k, x, base);
        const mark = k.mark();
        const xp = put16(k, x, off);
        const bp = put16(k, base, off + 2);
        const hist = k.alloc(RANK_HI_BINS * 4);
        k.bytes(hist, RANK_HI_BINS * 4).fill(0);
        // in place: the stored model bytes become its task vector
        k.call("tv_bf16", xp, xp, bp, n, hist, 0, 0);
        expect(same(new Uint16Array(k.memory.buffer, xp, n), want.tv)).toBe(true);
        expect(same(new Uint32Array(k.memory.buffer, hist, RANK_HI_BINS), want.hist)).toBe(true);
        // histogram only, input untouched
        const x2 = put16(k, x, off);
        k.bytes(hist, RANK_HI_BINS * 4).fill(0);
        k.call("tv_bf16", 0, x2, bp, n, hist, 0, 0);
        expect(same(new Uint16Array(k.memory.buffer, x2, n), x)).toBe(true);
        expect(same(new Uint32Array(k.memory.buffer, hist, RANK_HI_BINS), want.hist)).toBe(true);
        k.release(mark);
      }
    }
  });

  it("counts exactly the sampled vectors, by tensor index, whatever the split into pieces", async () => {
    const k = await testKernels();
    const n = 50000 + 5;
    const x = bf16Bits(n, 11);
    const base = bf16Bits(n, 12);
    const { tv } = composed(k, x, base);
    for (const shift of [1, 4, 7]) {
      const want = new Uint32Array(RANK_HI_BINS);
      for (let i = 0; i < n; i++) if (inSample(i, shift)) want[tv[i]! & 0x7fff]!++;
      const sampledCount = want.reduce((a, b) => a + b, 0);
      expect(sampledCount).toBeGreaterThan(n / 2 ** shift / 2);
      expect(sampledCount).toBeLessThan((n / 2 ** shift) * 2);
      const xp = put16(k, x, 0);
      const bp = put16(k, base, 0);
      const hist = k.alloc(RANK_HI_BINS * 4);
      k.bytes(hist, RANK_HI_BINS * 4).fill(0);
      // pieces at multiples of 8 elements, out of order
      const cuts = [0, 64, 8192, 8200, 30000, n];
      for (let p = cuts.length - 2; p >= 0; p--) {
        const a = cuts[p]!;
        k.call("tv_bf16", 0, xp + a * 2, bp + a * 2, cuts[p + 1]! - a, hist, a, shift);
      }
      expect(same(new Uint32Array(k.memory.buffer, hist, RANK_HI_BINS), want)).toBe(true);
    }
  });
});

describe("rank_band_bf16", () => {
  it("counts keys above the band and each key in it (the hot key too), over awkward lengths and offsets", async () => {
    const k = await testKernels();
    for (const n of [...AWKWARD_LENGTHS, 4096 * 8 * 2 + 21, 70000]) {
      const x = bf16Bits(n, n + 3);
      for (const [a, w, hot] of [[0, 1, 0], [0x3f7f, 3, 0x3f80], [0x3000, 2048, 0x3000], [0x7fff, 1, 0x7fff], [0x7f80, 128, 0x7fc1], [0, 32767, 0], [1, 32767, 0x3f80]] as const) {
        const mark = k.mark();
        const xp = put16(k, x, n % 3);
        const above = k.alloc(4);
        new Uint32Array(k.memory.buffer, above, 1)[0] = 5;
        const band = k.alloc((w + 1) * 4);
        k.bytes(band, (w + 1) * 4).fill(0);
        k.call("rank_band_bf16", xp, n, a, w, hot, above, band);
        let wantAbove = 5;
        const wantBand = new Uint32Array(w);
        for (const b of x) {
          const key = b & 0x7fff;
          if (key >= a + w) wantAbove++;
          else if (key >= a) wantBand[key - a]!++;
        }
        expect(new Uint32Array(k.memory.buffer, above, 1)[0]).toBe(wantAbove);
        expect(same(new Uint32Array(k.memory.buffer, band, w), wantBand)).toBe(true);
        k.release(mark);
      }
    }
  });
});
