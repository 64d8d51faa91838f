import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";

/** MergeKit's sce erase-and-merge, one element at a time. */
function sceRef(base: Float32Array, ts: Float32Array[], ws: number[], mode: number, clampMin: number): Float32Array {
  const R = (x: number) => roundRef(x, mode);
  return base.map((b, i) => {
    let tot = 0;
    for (const t of ts) tot = Math.fround(tot + t[i]!);
    const maj = R(tot) >= 0 ? 1 : -1;
    let merged = 0;
    let den = 0;
    ts.forEach((t, m) => {
      const ew = ws[m]! * (Math.sign(t[i]!) === maj ? 1 : 0);
      merged = Math.fround(merged + R(t[i]! * ew));
      den = Math.fround(den + ew);
    });
    merged = R(merged);
    den = R(den);
    if (den < clampMin) den = clampMin;
    return R(b + R(merged / den));
  });
}

describe("sce_combine kernel", () => {
  it("matches the reference for K = 1..4, every mode and awkward length", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const K of [1, 2, 3, 4]) {
        for (const n of AWKWARD_LENGTHS) {
          k.reset();
          const base = testValues(n, n + 2).map((v) => roundRef(v, mode));
          const ts = Array.from({ length: K }, (_, j) => testValues(n, 71 * j + n).map((v, i) => ((i + 2 * j) % 4 === 0 ? 0 : roundRef(v, mode))));
          const ws = [0.4, 0.25, 0.35, 0].slice(0, K).map((w) => roundRef(w, mode));
          const clampMin = roundRef(1e-6, mode);
          const bb = k.allocF32(n);
          k.f32(bb).set(base);
          const bufs = ts.map((t) => { const b = k.allocF32(n); k.f32(b).set(t); return b; });
          const out = k.allocF32(n);
          k.call("sce_combine", out.ptr, bb.ptr, k.u32Array(bufs.map((b) => b.ptr)), k.f32Array(ws), K, n, mode, clampMin);
          expect(sameBits(k.f32(out), sceRef(base, ts, ws, mode, clampMin)), `mode ${mode} K ${K} n ${n}`).toBe(true);
        }
      }
    }
  });
});
