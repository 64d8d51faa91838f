// The sample-and-band selection (src/methods/gta/rank-band.ts) against the full histogram: the
// same stage 1 and selection words whenever it answers, and no answer (the driver then counts
// the full histogram) when the sample misleads it.
import { describe, expect, it } from "vitest";
import { RANK_HI_BINS, TIE_INDEX_ASC, TIE_INDEX_DESC } from "../../src/kernels/abi-gta.ts";
import { BAND_BINS, bandOf, bandStage, inSample, nextHint, predictedBand, SAMPLE_SHIFT } from "../../src/methods/gta/rank-band.ts";
import { selection, stageOne } from "../../src/methods/gta/rank-select.ts";
import type { RankRange } from "../../src/methods/gta/sparsify.ts";

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}

/** bfloat16 magnitude keys of a Gaussian-like task vector (some exact zeros, runs of equal keys). */
function keys(n: number, seed: number): Uint16Array {
  const r = rng(seed);
  const out = new Uint16Array(n);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < n; i++) {
    const z = r() < 0.1 ? 0 : (r() + r() + r() - 1.5) * 0.01;
    f[0] = z;
    out[i] = (u[0]! >>> 16) & 0x7fff;
  }
  return out;
}

/** Full and sample histograms, and the band's counts, as the kernels count them. */
function counts(k: Uint16Array, band?: { a: number; w: number }) {
  const full = new Uint32Array(RANK_HI_BINS);
  const sample = new Uint32Array(RANK_HI_BINS);
  const inBand = new Uint32Array(band?.w ?? 0);
  let above = 0;
  k.forEach((key, i) => {
    full[key]!++;
    if (inSample(i, SAMPLE_SHIFT)) sample[key]!++;
    if (band) {
      if (key >= band.a + band.w) above++;
      else if (key >= band.a) inBand[key - band.a]!++;
    }
  });
  return { full, sample, inBand, above };
}

describe("sample-and-band magnitude selection", () => {
  const n = 300_000;
  const ranges: readonly RankRange[] = [
    { lo: n - 150_000, hi: n + 5, tie: TIE_INDEX_DESC }, // ties: the top half
    { lo: n - 900, hi: n, tie: TIE_INDEX_DESC }, // a small top-k
    { lo: 100_000, hi: 280_000, tie: TIE_INDEX_ASC }, // breadcrumbs: both boundaries
    { lo: 1, hi: n, tie: TIE_INDEX_ASC },
  ];

  it("gives the full histogram's stage 1 and selection whenever the boundaries are inside the band", async () => {
    for (const [seed, r] of ranges.entries()) {
      const k = keys(n, seed + 1);
      const { full, sample } = counts(k);
      const band = bandOf(r, n, sample);
      expect(band, `range ${seed}`).toBeDefined();
      expect(band!.w).toBeLessThan(BAND_BINS);
      expect(band!.hot).toBeGreaterThanOrEqual(band!.a);
      expect(band!.hot).toBeLessThan(band!.a + band!.w);
      const c = counts(k, band);
      const found = bandStage(r, n, band!, c.above, c.inBand);
      expect(found, `range ${seed}`).toBeDefined();
      const want = stageOne(r, n, full);
      expect(found!.stage).toEqual(want);
      expect(selection(r, found!.stage, found!.hist, {})).toEqual(selection(r, want, full, {}));
    }
  });

  it("answers nothing when the sample misleads it: sampled elements small, the rest large", () => {
    const k = keys(n, 9).map((key, i) => (inSample(i, SAMPLE_SHIFT) ? key & 0x1fff : key | 0x3c00));
    const r = ranges[0]!;
    const { sample } = counts(k);
    const band = bandOf(r, n, sample)!;
    expect(band).toBeDefined();
    const c = counts(k, band);
    expect(bandStage(r, n, band, c.above, c.inBand)).toBeUndefined();
  });

  it("declines a band wider than BAND_BINS and an empty sample", () => {
    // uniform keys over the whole range: the margin spans thousands of keys
    const k = new Uint16Array(n).map((_, i) => (i * 7919) % RANK_HI_BINS);
    expect(bandOf(ranges[2]!, n, counts(k).sample)).toBeUndefined();
    expect(bandOf(ranges[0]!, n, new Uint32Array(RANK_HI_BINS))).toBeUndefined();
  });

  it("predicts a band around the last boundaries, as wide as they moved (and declines one too wide)", () => {
    const first = nextHint([15000], undefined);
    expect(predictedBand(first)).toEqual({ a: 15000 - first.margin, w: 2 * first.margin + 1, hot: 15000 });
    // a boundary that did not move gets the narrowest band; one that moved by 10 keys, 2 x 10 + slack
    const still = nextHint([15000], first);
    const moved = nextHint([15010], still);
    expect(still.margin).toBeLessThan(first.margin);
    expect(moved.margin).toBe(still.margin + 20);
    expect(predictedBand(moved)!.a).toBe(15010 - moved.margin);
    // two boundaries: one band over both; clamped at the key range's ends
    expect(predictedBand({ keys: [3, 32760], margin: 8 })).toBeUndefined();
    expect(predictedBand({ keys: [2, 40], margin: 8 })).toEqual({ a: 0, w: 49, hot: 2 });
    expect(predictedBand({ keys: [32765], margin: 8 })).toEqual({ a: 32757, w: 11, hot: 32765 });
  });

  it("rejects counts that do not add up (a kernel error, not a wrong answer)", () => {
    const band = { a: 10, w: 4, hot: 10 };
    expect(() => bandStage(ranges[0]!, 100, band, 90, new Uint32Array([5, 5, 5, 5]))).toThrow(/do not add up/);
  });
});
