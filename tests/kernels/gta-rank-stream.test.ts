// The streamed rank selection (assembly/select-rank-stream.ts with src/methods/gta/rank-select.ts)
// against plain references and against mask_rank_range on the whole tensor, for any split into
// pieces; stats_add against plain sums.
import { describe, expect, it } from "vitest";
import { RANK_HI_BINS, RANK_LO_BINS, SELECT_SCRATCH_BYTES, TIE_INDEX_ASC, TIE_INDEX_DESC } from "../../src/kernels/abi-gta.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { selection, stageOne, trivialRange, trivialSelection } from "../../src/methods/gta/rank-select.ts";
import type { Selection } from "../../src/methods/gta/rank-select.ts";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { roundRef } from "../helpers/reference.ts";

const keysOf = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length), (b) => (b & 0x7fffffff) >>> 0);

/** Value sets that stress the tie handling at both radix levels. */
function tieHeavy(n: number, kind: number, seed: number): Float32Array {
  const v = testValues(n, seed);
  if (kind === 0) return v;
  if (kind === 1) return v.map((x, i) => [0, -0, 1, -1, 0.5, 2, -2, 0.25][(i * 7 + (seed % 5)) % 8]! * (x < 0 ? -1 : 1));
  if (kind === 2) return v.map((x, i) => (1 + ((i * 13) % 5) * 2 ** -20) * (x < 0 ? -1 : 1)); // equal high 16 bits
  if (kind === 3) return v.map((x) => roundRef(x, 1)); // bf16 magnitudes: the low 16 bits all zero
  return v.map((x) => roundRef(x, 2)); // f16 magnitudes
}

/** Piece boundaries: sizes cycling through `sizes` (the last piece may be shorter). */
function pieces(n: number, sizes: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 0, i = 0; at < n; i++) {
    const len = Math.min(sizes[i % sizes.length]!, n - at);
    out.push([at, at + len]);
    at += len;
  }
  return out;
}

/** Selects ranks [lo, hi) of x piece by piece, as the streamed driver and its tile jobs do. */
function streamedMask(k: Kernels, x: Float32Array, lo: number, hi: number, tie: number, split: readonly number[]): Float32Array {
  const n = x.length;
  const r = { lo, hi, tie };
  const xb = k.allocF32(Math.max(n, 1));
  k.f32(xb).set(x);
  const mask = k.allocF32(Math.max(n, 1));
  const parts = pieces(n, split);
  let sel: Selection;
  const trivial = trivialRange(r, n);
  if (trivial) {
    sel = trivialSelection(trivial);
  } else {
    const hist = k.alloc(RANK_HI_BINS * 4);
    const lowOr = k.alloc(4);
    k.bytes(hist, RANK_HI_BINS * 4).fill(0);
    k.bytes(lowOr, 4).fill(0);
    // pieces in reverse order: histograms do not depend on it
    for (const [a, b] of [...parts].reverse()) k.call("rank_hist_hi", hist, xb.ptr + a * 4, b - a, lowOr);
    const h = new Uint32Array(k.memory.buffer, hist, RANK_HI_BINS).slice();
    const s1 = stageOne(r, n, h);
    let lows: { lo?: Uint32Array; hi?: Uint32Array } = {};
    if (new Uint32Array(k.memory.buffer, lowOr, 1)[0] !== 0) {
      const low = (bin: number | undefined) => {
        if (bin === undefined) return undefined;
        const p = k.alloc(RANK_LO_BINS * 4);
        k.bytes(p, RANK_LO_BINS * 4).fill(0);
        for (const [a, b] of parts) k.call("rank_hist_lo", p, xb.ptr + a * 4, b - a, bin);
        return new Uint32Array(k.memory.buffer, p, RANK_LO_BINS).slice();
      };
      lows = { lo: low(s1.lo?.bin), hi: low(s1.hi?.bin) };
    }
    sel = selection(r, s1, h, lows);
  }
  const selPtr = k.u32Array(sel.words);
  // counts of boundary keys per piece, then each piece marked from the sum of those before it
  const counts = parts.map(([a, b]) => {
    const c = k.alloc(8);
    k.bytes(c, 8).fill(0);
    k.call("rank_count_eq", c, xb.ptr + a * 4, b - a, sel.words[1]!, sel.words[2]!);
    return [...new Uint32Array(k.memory.buffer, c, 2)];
  });
  const prefix = [0, 0];
  parts.forEach(([a, b], i) => {
    const c = k.u32Array(sel.needsOrdinals ? prefix : [0, 0]);
    k.call("rank_mask", mask.ptr + a * 4, xb.ptr + a * 4, b - a, selPtr, c);
    prefix[0]! += counts[i]![0]!;
    prefix[1]! += counts[i]![1]!;
  });
  return k.f32(mask).slice(0, n);
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Plain reference: a full sort by (|x| bits, index asc or desc), then ranks [lo, hi) kept. */
function rankRangeRef(x: Float32Array, lo: number, hi: number, tie: number): Float32Array {
  const key = keysOf(x);
  const idx = Array.from({ length: x.length }, (_, i) => i);
  idx.sort((a, b) => key[a]! - key[b]! || (tie === TIE_INDEX_ASC ? a - b : b - a));
  const out = new Float32Array(x.length);
  for (let r = Math.max(0, lo); r < Math.min(hi, x.length); r++) out[idx[r]!] = 1;
  return out;
}

describe("streamed rank selection kernels", () => {
  it("rank_hist_hi, rank_hist_lo and rank_count_eq add to what they are given", async () => {
    const k = await testKernels();
    for (const n of AWKWARD_LENGTHS) {
      k.reset();
      // every fourth length all zeros (runs of one bin take rank_hist_hi's shortcut)
      const x = n % 4 === 3 ? new Float32Array(n) : tieHeavy(n, n % 5, n + 3);
      const keys = keysOf(x);
      const xb = k.allocF32(Math.max(n, 1));
      k.f32(xb).set(x);
      const hist = k.alloc(RANK_HI_BINS * 4);
      const h = new Uint32Array(k.memory.buffer, hist, RANK_HI_BINS);
      h.fill(1);
      const lowOr = k.alloc(4);
      new Uint32Array(k.memory.buffer, lowOr, 1)[0] = 0x10000; // high bits are kept
      k.call("rank_hist_hi", hist, xb.ptr, n, lowOr);
      const want = new Uint32Array(RANK_HI_BINS).fill(1);
      let or = 0;
      for (const key of keys) { want[key >>> 16]!++; or |= key & 0xffff; }
      expect(sameWords(new Uint32Array(k.memory.buffer, hist, RANK_HI_BINS), want), `n ${n}`).toBe(true);
      expect(new Uint32Array(k.memory.buffer, lowOr, 1)[0]).toBe((0x10000 | or) >>> 0);
      const bin = n ? keys[Math.floor(n / 2)]! >>> 16 : 0;
      const lo = k.alloc(RANK_LO_BINS * 4);
      new Uint32Array(k.memory.buffer, lo, RANK_LO_BINS).fill(2);
      k.call("rank_hist_lo", lo, xb.ptr, n, bin);
      const wantLo = new Uint32Array(RANK_LO_BINS).fill(2);
      for (const key of keys) if (key >>> 16 === bin) wantLo[key & 0xffff]!++;
      expect(sameWords(new Uint32Array(k.memory.buffer, lo, RANK_LO_BINS), wantLo), `n ${n}`).toBe(true);
      const kLo = n ? keys[0]! : 0;
      const kHi = n ? keys[n - 1]! : 1;
      const counts = k.u32Array([5, 7]);
      k.call("rank_count_eq", counts, xb.ptr, n, kLo, kHi);
      expect([...new Uint32Array(k.memory.buffer, counts, 2)]).toEqual([5 + keys.filter((q) => q === kLo).length, 7 + keys.filter((q) => q === kHi).length]);
    }
  });

  it("pieces marked from the counts before them equal mask_rank_range on the whole tensor", async () => {
    const k = await testKernels();
    const splits: readonly (readonly number[])[] = [[1 << 20], [64], [7, 1, 30], [3]];
    for (const n of [0, 1, 2, 3, 5, 8, 13, 31, 64, 65, 67, 70, 2047, 2049, 5000]) {
      for (let kind = 0; kind < 5; kind++) {
        const x = tieHeavy(n, kind, n * 5 + kind);
        const ranges: [number, number][] = [[0, n], [0, 0], [n, n], [0, Math.floor(n / 2)], [Math.floor(n / 3), n], [Math.floor(n / 5), n - Math.floor(n / 7)], [n - 1, n], [1, n + 5], [3, 2]];
        for (const [lo, hi] of ranges) {
          for (const tie of [TIE_INDEX_ASC, TIE_INDEX_DESC]) {
            k.reset();
            const xb = k.allocF32(Math.max(n, 1));
            k.f32(xb).set(x);
            const whole = k.allocF32(Math.max(n, 1));
            k.call("mask_rank_range", whole.ptr, xb.ptr, n, Math.max(0, lo), Math.max(0, hi), tie, k.alloc(SELECT_SCRATCH_BYTES));
            const want = k.f32(whole).slice(0, n);
            if (n <= 200) expect([...want]).toEqual([...rankRangeRef(x, lo, hi, tie)]);
            for (const split of splits) {
              if (n > 1000 && split[0] === 3) continue; // thousands of kernel calls: the other splits cover it
              const got = streamedMask(k, x, Math.max(0, lo), Math.max(0, hi), tie, split);
              expect([...got], `n ${n} kind ${kind} [${lo}, ${hi}) tie ${tie} split ${split.join("/")}`).toEqual([...want]);
            }
          }
        }
      }
    }
  });

  it("rank_mask_apply equals rank_mask then mask_apply, advancing the same counts", async () => {
    const k = await testKernels();
    for (const n of AWKWARD_LENGTHS) {
      for (let kind = 0; kind < 5; kind++) {
        k.reset();
        const x = tieHeavy(n, kind, n + 17);
        const keys = keysOf(x);
        const xb = k.allocF32(Math.max(n, 1));
        k.f32(xb).set(x);
        const kLo = n ? keys[Math.floor(n / 3)]! : 0;
        const kHi = n ? Math.max(kLo, keys[Math.floor(n / 2)]!) : 0;
        const sels = [
          [1, kLo, 0, 2, 5, 0, 0], [2, 0, kHi, 0, 0, 1, 0xffffffff], [3, kLo, kHi, 1, 3, 0, 2], [4, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0],
        ];
        for (const words of sels) {
          const sel = k.u32Array(words);
          const mask = k.allocF32(Math.max(n, 1));
          const c1 = k.u32Array([1, 0]);
          k.call("rank_mask", mask.ptr, xb.ptr, n, sel, c1);
          const want = k.allocF32(Math.max(n, 1));
          k.call("mask_apply", want.ptr, xb.ptr, mask.ptr, n);
          const got = k.allocF32(Math.max(n, 1));
          const c2 = k.u32Array([1, 0]);
          k.call("rank_mask_apply", got.ptr, xb.ptr, n, sel, c2);
          expect(sameBits(k.f32(got).slice(0, n), k.f32(want).slice(0, n)), `n ${n} kind ${kind} sel ${words.join(",")}`).toBe(true);
          expect([...new Uint32Array(k.memory.buffer, c2, 2)]).toEqual([...new Uint32Array(k.memory.buffer, c1, 2)]);
        }
      }
    }
  });

  it("rank_mask keeps nothing with SEL_NONE and everything with no bound", async () => {
    const k = await testKernels();
    for (const n of AWKWARD_LENGTHS) {
      k.reset();
      const xb = k.allocF32(Math.max(n, 1));
      k.f32(xb).set(testValues(n, 4));
      const mask = k.allocF32(Math.max(n, 1));
      for (const t of ["all", "none"] as const) {
        k.call("rank_mask", mask.ptr, xb.ptr, n, k.u32Array(trivialSelection(t).words), k.u32Array([0, 0]));
        expect(k.f32(mask).slice(0, n).every((v) => v === (t === "all" ? 1 : 0))).toBe(true);
      }
    }
  });
});

describe("stats_add kernel", () => {
  it("adds u32 words, then u64 words at the next multiple of 8 bytes", async () => {
    const k = await testKernels();
    for (const n32 of [0, 1, 3, 4, 5, 9]) {
      for (const n64 of [0, 1, 2, 3, 5]) {
        k.reset();
        const bytes = Math.ceil((n32 * 4) / 8) * 8 + n64 * 8;
        const dst = k.alloc(bytes + 8);
        const src = k.alloc(bytes + 8);
        const d32 = new Uint32Array(k.memory.buffer, dst, n32);
        const s32 = new Uint32Array(k.memory.buffer, src, n32);
        const off = Math.ceil((n32 * 4) / 8) * 8;
        const d64 = new BigUint64Array(k.memory.buffer, dst + off, n64);
        const s64 = new BigUint64Array(k.memory.buffer, src + off, n64);
        for (let i = 0; i < n32; i++) { d32[i] = 0xfffffff0 + i; s32[i] = i * 3 + 1; }
        for (let i = 0; i < n64; i++) { d64[i] = 0xffffffffn + BigInt(i); s64[i] = (1n << 40n) + BigInt(i); }
        const sentinel = new Uint32Array(k.memory.buffer, dst + bytes, 2);
        sentinel.fill(77);
        k.call("stats_add", dst, src, n32, n64);
        for (let i = 0; i < n32; i++) expect(new Uint32Array(k.memory.buffer, dst, n32)[i]).toBe((0xfffffff0 + i + i * 3 + 1) >>> 0);
        for (let i = 0; i < n64; i++) expect(new BigUint64Array(k.memory.buffer, dst + off, n64)[i]).toBe(0xffffffffn + (1n << 40n) + 2n * BigInt(i));
        expect([...new Uint32Array(k.memory.buffer, dst + bytes, 2)]).toEqual([77, 77]);
      }
    }
  });
});
