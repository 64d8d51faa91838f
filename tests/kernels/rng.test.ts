import { describe, expect, it } from "vitest";
import { streamKey, uniformAt } from "../../src/random/stream-key.ts";
import { AWKWARD_LENGTHS, testKernels } from "../helpers/kernels.ts";

describe("counter-based generator", () => {
  it("rng_uniform matches the TypeScript reference at any start offset", async () => {
    const k = await testKernels();
    const key = streamKey(42, 1, "model.layers.0.mlp.up_proj.weight", "dare-mask");
    for (const n of AWKWARD_LENGTHS.slice(0, 40)) {
      for (const start of [0, 5, 2 ** 33 + 3]) {
        k.reset();
        const out = k.allocF32(n);
        k.call("rng_uniform", out.ptr, key.lo, key.hi, start, n);
        const got = k.f32(out);
        for (let j = 0; j < n; j++) expect(got[j]).toBe(uniformAt(key, start + j));
      }
    }
  });
  it("a tile computed alone equals the same range of the whole stream", async () => {
    const k = await testKernels();
    const key = streamKey(0, 0, "t", "x");
    const whole = k.allocF32(1000);
    k.call("rng_uniform", whole.ptr, key.lo, key.hi, 0, 1000);
    const tile = k.allocF32(333);
    k.call("rng_uniform", tile.ptr, key.lo, key.hi, 400, 333);
    expect([...k.f32(tile)]).toEqual([...k.f32(whole).slice(400, 733)]);
  });
  it("rng_bernoulli keeps about p of the elements, with scalar or per-element p", async () => {
    const k = await testKernels();
    const key = streamKey(7, 2, "w", "m");
    const n = 100_000;
    const out = k.allocF32(n);
    const p = k.f32Array([0.3]);
    k.call("rng_bernoulli", out.ptr, key.lo, key.hi, 0, p, 0, n);
    const kept = k.f32(out).reduce((a, b) => a + b, 0);
    expect(Math.abs(kept / n - 0.3)).toBeLessThan(0.01);
    const u = k.allocF32(n);
    k.call("rng_uniform", u.ptr, key.lo, key.hi, 0, n);
    const ps = k.allocF32(n);
    k.f32(ps).fill(0.3);
    const out2 = k.allocF32(n);
    k.call("rng_bernoulli", out2.ptr, key.lo, key.hi, 0, ps.ptr, 1, n);
    expect([...k.f32(out2)]).toEqual([...k.f32(out)]);
    expect([...k.f32(out)].every((m, i) => m === (k.f32(u)[i]! < Math.fround(0.3) ? 1 : 0))).toBe(true);
  });
  it("keys differ by seed, model, tensor and purpose", () => {
    const base = streamKey(1, 0, "a", "p");
    for (const other of [streamKey(2, 0, "a", "p"), streamKey(1, 1, "a", "p"), streamKey(1, 0, "b", "p"), streamKey(1, 0, "a", "q")]) {
      expect(other).not.toEqual(base);
    }
  });
});
