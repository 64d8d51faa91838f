import { describe, expect, it } from "vitest";
import { GTA_CONSENSUS, GTA_LAMBDA, GTA_NORMALIZE } from "../../src/kernels/abi-gta.ts";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";

/** MergeKit's GTATask mixing step, one element at a time. */
function combineRef(base: Float32Array, ds: Float32Array[], ws: number[], mode: number, flags: number, div: number, lambda: number): Float32Array {
  const R = (x: number) => roundRef(x, mode);
  return base.map((b, i) => {
    const wd = ds.map((d, m) => R(d[i]! * ws[m]!));
    let mixed = 0;
    let dv = div;
    if (flags & GTA_CONSENSUS) {
      let tot = 0;
      for (const v of wd) tot = Math.fround(tot + v);
      const maj = R(tot) >= 0 ? 1 : -1;
      dv = 0;
      wd.forEach((v, m) => {
        const keep = Math.sign(v) === maj ? 1 : 0;
        mixed = Math.fround(mixed + v * keep);
        dv = Math.fround(dv + ws[m]! * keep);
      });
      mixed = R(mixed);
      dv = R(dv);
      if (dv === 0) dv = 1;
    } else {
      for (const v of wd) mixed = Math.fround(mixed + v);
      mixed = R(mixed);
    }
    if (flags & GTA_NORMALIZE) mixed = R(mixed / dv);
    if (flags & GTA_LAMBDA) mixed = R(mixed * lambda);
    return R(b + mixed);
  });
}

describe("gta_combine kernel", () => {
  it("matches the reference for every flag combination, K = 1..5, every mode and length", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const K of [1, 2, 3, 4, 5]) {
        for (let flags = 0; flags < 8; flags++) {
          for (const n of AWKWARD_LENGTHS) {
            k.reset();
            const base = testValues(n, n + 1).map((v) => roundRef(v, mode));
            // sparse task vectors (zeros), with opposite signs and some specials
            const ds = Array.from({ length: K }, (_, j) => testValues(n, 53 * j + n + flags).map((v, i) => ((i + j) % 3 === 0 ? 0 : roundRef(v, mode))));
            const ws = [0.5, 0.3, -0.2, 0.7, 0.1].slice(0, K).map((w) => roundRef(w, mode));
            const div = roundRef(ws.reduce((a, b) => Math.fround(a + b), 0), mode);
            const lambda = roundRef(0.9, mode);
            const bb = k.allocF32(n);
            k.f32(bb).set(base);
            const bufs = ds.map((d) => { const b = k.allocF32(n); k.f32(b).set(d); return b; });
            const out = k.allocF32(n);
            k.call("gta_combine", out.ptr, bb.ptr, k.u32Array(bufs.map((b) => b.ptr)), k.f32Array(ws), K, n, mode, flags, div, lambda);
            expect(sameBits(k.f32(out), combineRef(base, ds, ws, mode, flags, div, lambda)), `mode ${mode} K ${K} flags ${flags} n ${n}`).toBe(true);
          }
        }
      }
    }
  });
  it("a weight sum of zero under consensus divides by one", async () => {
    const k = await testKernels();
    const base = k.allocF32(1);
    const d0 = k.allocF32(1);
    const d1 = k.allocF32(1);
    k.f32(d0).set([2]);
    k.f32(d1).set([2]);
    const out = k.allocF32(1);
    k.call("gta_combine", out.ptr, base.ptr, k.u32Array([d0.ptr, d1.ptr]), k.f32Array([1, -1]), 2, 1, 0, GTA_CONSENSUS | GTA_NORMALIZE, 1, 1);
    // weighted deltas +2 and -2 sum to 0, so the majority is +; only the first survives: 2 / 1
    expect(k.f32(out)[0]).toBe(2);
  });
});
