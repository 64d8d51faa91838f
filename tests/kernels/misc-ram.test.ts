// RAM / RAM+ kernels: misc_ram_count, misc_ram_overlap and misc_ram_terms against plain references.
import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";

const R = roundRef;
const f = Math.fround;

function put(k: Kernels, values: Float32Array): number {
  const b = k.allocF32(values.length);
  k.f32(b).set(values);
  return b.ptr;
}

/** Task vectors with exact zeros, values around epsilon and specials. */
function taskVectors(count: number, n: number, mode: number): Float32Array[] {
  return Array.from({ length: count }, (_, m) =>
    testValues(n, 19 * n + m + 1).map((x, i) => R((i + m) % 3 === 0 ? 0 : (i + m) % 5 === 1 ? 1e-5 * (1 + ((i % 3) - 1) * 0.01) : x, mode)));
}

describe("misc_ram_count", () => {
  it("counts the task vectors above epsilon at each element", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      const eps = R(1e-5, mode);
      for (const count of [1, 2, 3, 6]) {
        for (const n of AWKWARD_LENGTHS) {
          k.reset();
          const tvs = taskVectors(count, n, mode);
          const cnt = k.allocF32(n);
          k.call("misc_ram_count", cnt.ptr, k.u32Array(tvs.map((t) => put(k, t))), count, n, eps);
          const want = new Float32Array(n).map((_, j) => tvs.filter((t) => Math.abs(t[j]!) > eps).length);
          expect(sameBits(k.f32(cnt), want), `mode ${mode} K ${count} n ${n}`).toBe(true);
        }
      }
    }
  });
});

describe("misc_ram_overlap", () => {
  it("counts a model's elements above epsilon that are shared and that are its alone", async () => {
    const k = await testKernels();
    const tvs = taskVectors(3, 4099, 1);
    const eps = R(1e-5, 1);
    const cnt = new Float32Array(4099).map((_, j) => tvs.filter((t) => Math.abs(t[j]!) > eps).length);
    for (const tv of tvs) {
      k.reset();
      const out = k.alloc(16);
      k.call("misc_ram_overlap", out, put(k, tv), put(k, cnt), 4099, eps);
      const [shared, unique] = new Float64Array(k.memory.buffer, out, 2);
      let s = 0;
      let u = 0;
      tv.forEach((v, j) => { if (Math.abs(v) > eps) { if (cnt[j]! > 1) s++; else if (cnt[j] === 1) u++; } });
      expect([shared, unique]).toEqual([s, u]);
    }
  });
});

describe("misc_ram_terms", () => {
  const variants = [
    { name: "ram", lam: 1, promote: 0 },
    { name: "ram+ (float32, as MergeKit)", lam: f(1.0123), promote: 1 },
    { name: "ram+ (working dtype)", lam: 1.0123, promote: 0 },
  ];
  for (const v of variants) {
    it(`computes each model's term: ${v.name}`, async () => {
      const k = await testKernels();
      for (const mode of MODES) {
        const eps = R(1e-5, mode);
        const lam = v.promote ? v.lam : R(v.lam, mode);
        for (const n of AWKWARD_LENGTHS) {
          k.reset();
          const tvs = taskVectors(3, n, mode);
          const cnt = new Float32Array(n).map((_, j) => tvs.filter((t) => Math.abs(t[j]!) > eps).length);
          const tv = tvs[1]!;
          const buf = put(k, tv);
          k.call("misc_ram_terms", buf, put(k, cnt), lam, n, eps, mode, v.promote);
          const want = tv.map((t, j) => {
            const c = cnt[j]!;
            const z = R(t * (Math.abs(t) > eps ? 1 : 0), mode);
            const u = f(z * (c === 1 ? 1 : 0));
            const o = R(R(z * (c > 1 ? 1 : 0), mode) / R(Math.max(c, 1), mode), mode);
            if (v.promote) return f(f(u * lam) + o);
            return lam === 1 ? R(u + o, mode) : R(R(u * lam, mode) + o, mode);
          });
          expect(sameBits(new Float32Array(k.memory.buffer, buf, n), want), `mode ${mode} n ${n}`).toBe(true);
        }
      }
    });
  }
});
