// diff_stats against a plain TypeScript reference: every dtype pair, awkward lengths, unaligned inputs.
import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { DIFF_STATS_SLOTS } from "../../src/kernels/abi-tools.ts";
import { diffStatsRef } from "./diff-reference.ts";

const BYTES = [4, 2, 2];

function stored(k: Kernels, x: Float32Array, dtype: number, misalign: number): number {
  const tmp = k.allocF32(x.length);
  k.f32(tmp).set(x);
  const p = k.alloc(x.length * BYTES[dtype]! + 16) + misalign;
  k.call("encode", p, tmp.ptr, dtype, x.length);
  return p;
}

function close(got: number, want: number): boolean {
  if (Number.isNaN(want)) return Number.isNaN(got);
  if (!Number.isFinite(want)) return got === want;
  return Math.abs(got - want) <= 1e-12 * Math.max(Math.abs(want), 1e-300);
}

describe("diff_stats kernel", () => {
  it("matches the plain reference for every dtype pair and awkward length (finite values)", async () => {
    const k = await testKernels();
    for (const da of MODES) for (const db of MODES) for (const n of AWKWARD_LENGTHS) {
      k.reset();
      // finite values of moderate size: sums stay finite; some elements equal, some not
      const x = testValues(n, n + 3 * da).map((v) => (Number.isFinite(v) && Math.abs(v) < 1e4 ? roundRef(v, da) : 0.5));
      const y = x.map((v, i) => (i % 3 === 0 ? v : roundRef(v * 1.01 + 2 ** -10, db)));
      for (let i = 0; i < n; i++) if (i % 3 === 0) x[i] = roundRef(x[i]!, db); // equal in both dtypes
      for (let i = 0; i < n; i++) if (i % 3 === 0) y[i] = x[i]!;
      const pa = stored(k, x, da, (n + 1) % 4);
      const pb = stored(k, y, db, (n + 2) % 4);
      const out = k.alloc(DIFF_STATS_SLOTS * 8);
      k.call("diff_stats", pa, da, pb, db, n, out);
      const got = [...new Float64Array(k.memory.buffer, out, DIFF_STATS_SLOTS)];
      const want = diffStatsRef(x, y);
      expect(got[0], `count ${da}/${db} n ${n}`).toBe(want[0]);
      expect(got[5], `max ${da}/${db} n ${n}`).toBe(want[5]);
      for (let s = 1; s < 5; s++) expect(close(got[s]!, want[s]!), `slot ${s} ${da}/${db} n ${n}: ${got[s]} vs ${want[s]}`).toBe(true);
    }
  });

  it("counts NaN against NaN and -0 against +0 as unchanged; NaN elsewhere makes the sums and max NaN", async () => {
    const k = await testKernels();
    for (const n of [4, 5, 9, 2049]) {
      k.reset();
      const x = new Float32Array(n).fill(1);
      const y = new Float32Array(n).fill(1);
      x[0] = NaN; y[0] = NaN;
      x[n - 1] = -0; y[n - 1] = 0;
      const out = k.alloc(DIFF_STATS_SLOTS * 8);
      k.call("diff_stats", stored(k, x, 0, 1), 0, stored(k, y, 0, 3), 0, n, out);
      const got = new Float64Array(k.memory.buffer, out, DIFF_STATS_SLOTS);
      expect(got[0]).toBe(0);
      expect(Number.isNaN(got[1]!)).toBe(true);
      expect(Number.isNaN(got[5]!)).toBe(true);
      x[0] = 1; y[0] = 1; x[1] = NaN;
      k.call("diff_stats", stored(k, x, 1, 0), 1, stored(k, y, 2, 1), 2, n, out);
      expect(new Float64Array(k.memory.buffer, out, DIFF_STATS_SLOTS)[0]).toBe(1);
    }
  });

  it("a tensor against itself: nothing changed, zero difference, sums of squares equal", async () => {
    const k = await testKernels();
    const x = testValues(1001, 5).map((v) => (Number.isFinite(v) ? v : 0));
    const p = stored(k, x, 1, 0);
    const out = k.alloc(DIFF_STATS_SLOTS * 8);
    k.call("diff_stats", p, 1, p, 1, x.length, out);
    const got = new Float64Array(k.memory.buffer, out, DIFF_STATS_SLOTS);
    expect([got[0], got[1], got[5]]).toEqual([0, 0, 0]);
    expect(got[2]).toBe(got[3]);
    expect(got[2]).toBe(got[4]);
  });

  it("refuses an unknown dtype code", async () => {
    const k = await testKernels();
    const out = k.alloc(DIFF_STATS_SLOTS * 8);
    expect(() => k.call("diff_stats", out, 3, out, 0, 0, out)).toThrow(/status 1/);
  });
});
