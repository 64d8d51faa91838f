// gta_final_bf16 against the composition it replaces in the streamed final step (decode,
// task_vector_stored or decode, rank_mask_apply, gta_combine in bf16, encode), chunk by chunk as
// src/methods/gta/stream.ts runs it: the same output bytes (NaN payloads included) and the same
// advanced ordinals.
import { describe, expect, it } from "vitest";
import { GTA_CONSENSUS, GTA_LAMBDA, GTA_NORMALIZE, SEL_HI, SEL_LO, SEL_NONE, SEL_WORDS } from "../../src/kernels/abi-gta.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { AWKWARD_LENGTHS, testKernels } from "../helpers/kernels.ts";
import { roundRef } from "../helpers/reference.ts";

const BF16 = 1;
/** The streamed final step's chunk (src/methods/gta/stream.ts CHUNK). */
const CHUNK = 16384;
const UNBOUNDED = 0xffffffff;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bf16Of(x: number): number {
  f32[0] = roundRef(x, BF16);
  return u32[0]! >>> 16;
}
function fromBf16(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

/** NaNs with payloads (quiet, signalling, all ones), infinities, ±0, subnormals, the largest finite. */
const NANS = [0x7fc0, 0xffc0, 0x7fc1, 0x7f81, 0xff81, 0x7fff, 0xffff, 0x7fa5];
const SPECIALS = [0x7f80, 0xff80, 0x0000, 0x8000, 0x0001, 0x8001, 0x007f, 0x807f, 0x0080, 0x7f7f, 0xff7f];

/** bf16 words: small values around `scale`, with specials every ~11th (NaNs only with `nan`). */
function words(n: number, seed: number, scale: number, nan: boolean): Uint16Array {
  const r = rng(seed);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const s = r();
    if (s % 11 === 5) {
      const pool = nan && s % 3 === 0 ? NANS : SPECIALS;
      out[i] = pool[(s >>> 5) % pool.length]!;
    } else {
      out[i] = bf16Of(((s & 0xffff) / 0x8000 - 1) * scale * 2 ** (((s >>> 16) % 9) - 4));
    }
  }
  return out;
}

/** Task vectors with many equal magnitudes: zeros of both signs and a few repeated values. */
function taskWords(n: number, seed: number, nan: boolean): Uint16Array {
  const r = rng(seed * 7 + 1);
  const w = words(n, seed, 0.01, nan);
  const pool = [0x0000, 0x8000, 0x3c00, 0xbc00, 0x3b80, 0x0001];
  for (let i = 0; i < n; i++) {
    const s = r();
    if (s % 3 === 0) w[i] = pool[(s >>> 4) % pool.length]!;
  }
  return w;
}

/** Raw weights: the base (a zero task vector), or the base plus a small or repeated change. */
function weightWords(base: Uint16Array, seed: number, nan: boolean): Uint16Array {
  const r = rng(seed * 13 + 5);
  const d = taskWords(base.length, seed, nan);
  return base.map((b, i) => {
    const s = r();
    if (s % 4 === 0) return b;
    if (s % 4 === 1) return d[i]!;
    return bf16Of(fromBf16(b) + fromBf16(d[i]!));
  });
}

interface Case {
  readonly base: Uint16Array;
  readonly inputs: readonly Uint16Array[];
  readonly fromWeights: boolean;
  readonly ws: readonly number[];
  readonly ranked: readonly boolean[];
  readonly sel: readonly (readonly number[])[];
  readonly counts: readonly number[];
  readonly flags: number;
  readonly div: number;
  readonly lambda: number;
}

/** Copies bf16 words to an address `odd` elements past a 16-byte boundary (unaligned when odd). */
function place(k: Kernels, w: Uint16Array, odd: number): number {
  const p = k.alloc(w.length * 2 + 64) + odd * 2;
  new Uint16Array(k.memory.buffer, p, w.length).set(w);
  return p;
}

/** The composition of the streamed final step, chunk by chunk; returns the output words and the advanced counts. */
function composition(k: Kernels, c: Case): { out: Uint16Array; counts: number[] } {
  const n = c.base.length;
  const K = c.inputs.length;
  const mark = k.mark();
  const base = place(k, c.base, 1);
  const inputs = c.inputs.map((w, m) => place(k, w, m % 2));
  const out = place(k, new Uint16Array(n), 1);
  const sel = k.u32Array(c.sel.flat());
  const counts = k.u32Array(c.counts);
  const ws = k.f32Array(c.ws);
  for (let at = 0; at < n; at += CHUNK) {
    const len = Math.min(CHUNK, n - at);
    const chunk = k.mark();
    const b = k.allocF32(len);
    k.call("decode", b.ptr, base + at * 2, BF16, len);
    const tvs = inputs.map((p, m) => {
      const tv = k.allocF32(len);
      if (c.fromWeights) k.call("task_vector_stored", tv.ptr, p + at * 2, BF16, b.ptr, len, BF16);
      else k.call("decode", tv.ptr, p + at * 2, BF16, len);
      if (c.ranked[m]) k.call("rank_mask_apply", tv.ptr, tv.ptr, len, sel + m * SEL_WORDS * 4, counts + m * 8);
      return tv;
    });
    k.call("gta_combine", b.ptr, b.ptr, k.u32Array(tvs.map((t) => t.ptr)), ws, K, len, BF16, c.flags, c.div, c.lambda);
    k.call("encode", out + at * 2, b.ptr, BF16, len);
    k.release(chunk);
  }
  const res = { out: new Uint16Array(k.memory.buffer, out, n).slice(), counts: [...new Uint32Array(k.memory.buffer, counts, K * 2)] };
  k.release(mark);
  return res;
}

/** gta_final_bf16 over pieces of `split` elements (the whole tensor by default). */
function fused(k: Kernels, c: Case, split = Infinity): { out: Uint16Array; counts: number[] } {
  const n = c.base.length;
  const K = c.inputs.length;
  const mark = k.mark();
  const base = place(k, c.base, 0);
  const inputs = c.inputs.map((w, m) => place(k, w, (m + 1) % 2));
  const out = place(k, new Uint16Array(n).fill(0x1234), 1);
  const sel = k.u32Array(c.sel.flat());
  const counts = k.u32Array(c.counts);
  const ranked = k.u32Array(c.ranked.map((r) => (r ? 1 : 0)));
  const ws = k.f32Array(c.ws);
  for (let at = 0; at === 0 || at < n; at += split) {
    const len = Math.min(split, n - at);
    const ptrs = k.u32Array(inputs.map((p) => p + at * 2));
    k.call("gta_final_bf16", out + at * 2, base + at * 2, ptrs, c.fromWeights ? 1 : 0, ws, K, len, ranked, sel, counts, c.flags, c.div, c.lambda);
  }
  const res = { out: new Uint16Array(k.memory.buffer, out, n).slice(), counts: [...new Uint32Array(k.memory.buffer, counts, K * 2)] };
  k.release(mark);
  return res;
}

/** The task vectors the composition masks (for picking boundary keys that occur). */
function taskVectors(c: Pick<Case, "base" | "inputs" | "fromWeights">): Float32Array[] {
  return c.inputs.map((w) => Float32Array.from(w, (h, i) => (c.fromWeights ? roundRef(fromBf16(h) - fromBf16(c.base[i]!), BF16) : fromBf16(h))));
}

function keyOf(x: number): number {
  f32[0] = x;
  return (u32[0]! & 0x7fffffff) >>> 0;
}

/** The most frequent key of x (a boundary with many equal values), or a key of some element. */
function commonKey(x: Float32Array, pick: number): number {
  if (x.length === 0) return pick & 0x7fff0000;
  if (pick % 3 === 0) return keyOf(x[pick % x.length]!);
  const count = new Map<number, number>();
  for (const v of x) count.set(keyOf(v), (count.get(keyOf(v)) ?? 0) + 1);
  return [...count.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[pick % Math.min(2, count.size)]![0];
}

/** Selection words of variant v for task vector x (rank-select's shapes, plus SEL_NONE with SEL_LO). */
function selectionOf(x: Float32Array, v: number, seed: number): number[] {
  const r = rng(seed);
  const t = r() % 9;
  const e = t + (r() % 12);
  const kLo = commonKey(x, r());
  let kHi = commonKey(x, r());
  if (kHi < kLo) kHi = kLo;
  switch (v % 7) {
    case 0: return [0, 0, 0, 0, 0, 0, 0];
    case 1: return [SEL_NONE, 0, 0, 0, 0, 0, 0];
    case 2: return [SEL_LO, kLo, 0, t, UNBOUNDED, 0, 0];
    case 3: return [SEL_HI, 0, kHi, 0, 0, 0, t];
    case 4: return [SEL_LO | SEL_HI, kLo, kHi, 0, e - t, e - t, UNBOUNDED];
    case 5: return [SEL_LO | SEL_HI, kLo, kHi, t, UNBOUNDED, 0, e];
    default: return [SEL_NONE | SEL_LO, kLo, 0, t, e, 0, 0];
  }
}

const WEIGHTS = [0.5, 0.3, -0.2, 1, 0.7, -1.25].map((w) => roundRef(w, BF16));

function makeCase(n: number, K: number, fromWeights: boolean, flags: number, seed: number, nan: boolean): Case {
  const r = rng(seed * 31 + 7);
  const base = words(n, seed, 0.05, nan);
  const inputs = Array.from({ length: K }, (_, m) => (fromWeights ? weightWords(base, seed + 101 * m, nan) : taskWords(n, seed + 101 * m, nan)));
  const ranked = Array.from({ length: K }, () => r() % 4 !== 0);
  const tvs = taskVectors({ base, inputs, fromWeights });
  const sel = tvs.map((x, m) => (ranked[m] ? selectionOf(x, r(), seed + m) : new Array<number>(SEL_WORDS).fill(0)));
  // mid-stream ordinals: the selection's counts start anywhere
  const counts = Array.from({ length: K * 2 }, () => r() % 7);
  const ws = WEIGHTS.slice(0, K);
  let div = 0;
  for (const w of ws) div = Math.fround(div + w);
  div = roundRef(div, BF16);
  if (Math.abs(div) < 1e-8) div = 1;
  return { base, inputs, fromWeights, ws, ranked, sel, counts, flags, div, lambda: roundRef(0.9, BF16) };
}

function expectSame(k: Kernels, c: Case, what: string): void {
  const want = composition(k, c);
  const got = fused(k, c);
  const firstDiff = got.out.findIndex((h, i) => h !== want.out[i]);
  expect(firstDiff, `${what}: first differing element ${firstDiff} (fused ${got.out[firstDiff]?.toString(16)}, composition ${want.out[firstDiff]?.toString(16)})`).toBe(-1);
  expect(got.counts, `${what}: counts`).toEqual(want.counts);
}

describe("gta_final_bf16 kernel", () => {
  it("equals the composition for K = 1..6, both input kinds, every flag combination and length", async () => {
    const k = await testKernels();
    for (const K of [1, 2, 3, 4, 5, 6]) {
      for (const fromWeights of [false, true]) {
        for (let flags = 0; flags < 8; flags++) {
          for (const n of AWKWARD_LENGTHS) {
            k.reset();
            const seed = n * 64 + K * 8 + flags + (fromWeights ? 4096 : 0);
            // NaN inputs in every other case: their blocks round with roundBf16, the rest without its NaN branch
            expectSame(k, makeCase(n, K, fromWeights, flags, seed, seed % 2 === 0), `K ${K} fromWeights ${fromWeights} flags ${flags} n ${n}`);
          }
        }
      }
    }
  });

  it("equals the composition across chunks (ordinals carried), and split into any pieces", async () => {
    const k = await testKernels();
    for (const n of [CHUNK + 13, 2 * CHUNK + 5, 3 * 2048 + 3]) {
      for (const K of [1, 3, 6]) {
        for (const fromWeights of [false, true]) {
          for (const flags of [GTA_CONSENSUS | GTA_NORMALIZE | GTA_LAMBDA, GTA_NORMALIZE]) {
            k.reset();
            const seed = n + K * 8 + flags + (fromWeights ? 4096 : 0);
            const c = makeCase(n, K, fromWeights, flags, seed, K === 3);
            expectSame(k, c, `K ${K} fromWeights ${fromWeights} flags ${flags} n ${n}`);
            const whole = fused(k, c);
            for (const split of [CHUNK, 4100, 4 * 511]) {
              const pieces = fused(k, c, split);
              expect(pieces.out, `split ${split}`).toEqual(whole.out);
              expect(pieces.counts, `split ${split}`).toEqual(whole.counts);
            }
          }
        }
      }
    }
  });

  it("equals the composition where NaNs arise from inputs that hold none (inf - inf, inf * 0, 0 / 0, overflow)", async () => {
    const k = await testKernels();
    const n = 4099;
    for (const fromWeights of [false, true]) {
      for (let flags = 0; flags < 8; flags++) {
        for (const K of [1, 2, 3, 5]) {
          k.reset();
          const r = rng(flags * 17 + K + (fromWeights ? 99 : 0));
          const big = [0x7f80, 0xff80, 0x7f7f, 0xff7f, 0x7f00, 0x0000, 0x8000, 0x0001];
          const pick = () => big[r() % big.length]!;
          const base = Uint16Array.from({ length: n }, pick);
          const inputs = Array.from({ length: K }, () => Uint16Array.from({ length: n }, pick));
          const c = makeCase(n, K, fromWeights, flags, 5, false);
          // weights past 1 overflow; div 0 without consensus divides by zero; lambda 0 times inf
          const ws = [2, -3, 0.5, 1e30, -1].slice(0, K).map((w) => roundRef(w, BF16));
          for (const [div, lambda] of [[0, 0], [c.div, 2], [-0, 1e38]] as const) {
            expectSame(k, { ...c, base, inputs, ws, div: roundRef(div, BF16), lambda: roundRef(lambda, BF16), sel: c.sel.map((s) => s.map((w, i) => (i === 1 || i === 2 ? 0x7f800000 : w))) }, `K ${K} fromWeights ${fromWeights} flags ${flags} div ${div} lambda ${lambda}`);
          }
        }
      }
    }
  });

  it("equals the composition with NaN constants (weights, divisor, lambda)", async () => {
    const k = await testKernels();
    for (const K of [1, 2, 4, 5]) {
      for (let flags = 0; flags < 8; flags++) {
        k.reset();
        const c = makeCase(1000, K, K % 2 === 0, flags, K * 8 + flags, false);
        expectSame(k, { ...c, ws: c.ws.map((w, m) => (m === K - 1 ? NaN : w)) }, `K ${K} flags ${flags} NaN weight`);
        expectSame(k, { ...c, div: NaN, lambda: NaN }, `K ${K} flags ${flags} NaN div and lambda`);
      }
    }
  });

  it("many equal keys at the boundary: all-zero task vectors keep ordinals [from, to) of each chunk", async () => {
    const k = await testKernels();
    const n = CHUNK + 2 * 2048 + 7;
    for (const fromWeights of [false, true]) {
      k.reset();
      const base = words(n, 3, 0.05, false);
      const inputs = [new Uint16Array(n), new Uint16Array(n).fill(0x8000), words(n, 4, 0.01, false)].map((w) => (fromWeights ? base.map((b, i) => (i % 5 === 0 ? w[i]! : b)) : w));
      const x = taskVectors({ base, inputs, fromWeights });
      const sel = [
        [SEL_LO, 0, 0, 1000, UNBOUNDED, 0, 0],
        [SEL_LO | SEL_HI, 0, 0, 5, 9000, 7, 20000],
        [SEL_LO, commonKey(x[2]!, 1), 0, 0, 3, 0, 0],
      ];
      const c: Case = { base, inputs, fromWeights, ws: WEIGHTS.slice(0, 3), ranked: [true, true, true], sel, counts: [17, 0, 2, 3, 0, 0], flags: GTA_CONSENSUS | GTA_NORMALIZE, div: 1, lambda: 1 };
      expectSame(k, c, `fromWeights ${fromWeights}`);
    }
  });
});
