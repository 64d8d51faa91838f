// arcee_fusion's kernels: misc_kl_terms, misc_fusion_importance, misc_fusion_apply,
// misc_order_keys + misc_select (quantiles by selection) and misc_sample_select (the
// deterministic subsample above 1e6 elements), against plain references.
import { describe, expect, it } from "vitest";
import { AWKWARD_LENGTHS, sameBits, testKernels, testValues } from "../helpers/kernels.ts";
import { MODES, roundRef } from "../helpers/reference.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { FUSION_SAMPLE_SIZE, fusionSample, quartiles } from "../../src/methods/misc/arcee-fusion.ts";
import { streamKey, uniformAt } from "../../src/random/stream-key.ts";

const R = roundRef;
const f = Math.fround;

function put(k: Kernels, values: Float32Array): number {
  const b = k.allocF32(values.length);
  k.f32(b).set(values);
  return b.ptr;
}

/** Probabilities like softmax outputs, a few exact zeros. */
function probs(n: number, seed: number, mode: number): Float32Array {
  return testValues(n, seed).map((x, i) => R(i % 13 === 4 ? 0 : Number.isFinite(x) ? Math.abs(x) % 0.2 : 0.01, mode));
}

describe("misc_kl_terms", () => {
  it("is R(p' R(log R(p' / q'))) with p' = R(p + eps), q' = R(q + eps)", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      const eps = R(1e-8, mode);
      for (const n of AWKWARD_LENGTHS) {
        k.reset();
        const p = probs(n, n + 1, mode);
        const q = probs(n, 2 * n + 9, mode);
        const out = k.allocF32(n);
        k.call("misc_kl_terms", out.ptr, put(k, p), put(k, q), eps, n, mode);
        const want = p.map((pv, i) => {
          const pi = R(pv + eps, mode);
          const qi = R(q[i]! + eps, mode);
          return R(pi * R(f(Math.log(R(pi / qi, mode))), mode), mode);
        });
        expect(sameBits(k.f32(out), want), `mode ${mode} n ${n}`).toBe(true);
      }
    }
  });
});

describe("misc_fusion_importance", () => {
  it("is R(|R(b - a)| * kl[row])", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const [rows, cols] of [[1, 1], [1, 70], [3, 17], [5, 64], [2, 2049]] as const) {
        k.reset();
        const n = rows * cols;
        const a = testValues(n, n + 3).map((x) => R(x, mode));
        const b = testValues(n, n + 4).map((x) => R(x, mode));
        const kl = new Float32Array(rows).map((_, r) => R(0.001 * (r + 1) - (r === 3 ? 0.01 : 0), mode));
        const out = k.allocF32(n);
        k.call("misc_fusion_importance", out.ptr, put(k, a), put(k, b), put(k, kl), rows, cols, mode);
        const want = a.map((av, i) => R(Math.abs(R(b[i]! - av, mode)) * kl[Math.floor(i / cols)]!, mode));
        expect(sameBits(k.f32(out), want), `mode ${mode} ${rows}x${cols}`).toBe(true);
      }
    }
  });
});

describe("misc_fusion_apply", () => {
  it("adds the masked delta, in float32 when promoting and in the dtype otherwise", async () => {
    const k = await testKernels();
    for (const mode of MODES) {
      for (const promote of [0, 1]) {
        for (const n of AWKWARD_LENGTHS) {
          k.reset();
          const a = testValues(n, n + 21).map((x) => R(x, mode));
          const b = testValues(n, n + 22).map((x) => R(x, mode));
          const imp = testValues(n, n + 23).map((x) => R(Math.abs(x), mode));
          const thr = R(0.5, mode);
          const out = k.allocF32(n);
          k.call("misc_fusion_apply", out.ptr, put(k, a), put(k, b), put(k, imp), thr, n, mode, promote);
          const want = a.map((av, i) => {
            const s = f(av + f(R(b[i]! - av, mode) * (imp[i]! >= thr ? 1 : 0)));
            return promote ? s : R(s, mode);
          });
          expect(sameBits(k.f32(out), want), `mode ${mode} promote ${promote} n ${n}`).toBe(true);
        }
      }
    }
  });
});

/** torch.sort's order: NaN last, -0 equal to +0. */
function torchSorted(x: Float32Array): number[] {
  return Array.from(x, (v) => (Object.is(v, -0) ? 0 : v)).sort((p, q) => (Number.isNaN(p) ? (Number.isNaN(q) ? 0 : 1) : Number.isNaN(q) ? -1 : p - q));
}

function selectAll(k: Kernels, x: Float32Array, ranks: number[]): number[] {
  const n = x.length;
  const keys = k.alloc(n * 4);
  k.call("misc_order_keys", keys, put(k, x), n);
  const cell = k.alloc(4);
  return ranks.map((r) => {
    k.call("misc_select", cell, keys, 0, n, r);
    return new Float32Array(k.memory.buffer, cell, 1)[0]!;
  });
}

describe("misc_order_keys + misc_select", () => {
  it("finds every rank of small arrays with duplicates, zeros of both signs, infinities and NaN", async () => {
    const k = await testKernels();
    for (const n of AWKWARD_LENGTHS.filter((m) => m > 0 && m <= 70)) {
      k.reset();
      const x = testValues(n, n + 31).map((v, i) => (i % 4 === 0 ? f(Math.round(v * 3)) : v));
      const ranks = Array.from({ length: n }, (_, r) => r);
      const got = selectAll(k, x, ranks);
      const sorted = torchSorted(x);
      got.forEach((v, r) => expect(Object.is(v, sorted[r]) || (Number.isNaN(v) && Number.isNaN(sorted[r]!)), `n ${n} rank ${r}: ${v} vs ${sorted[r]}`).toBe(true));
    }
  });
  it("selects quantiles of large arrays with many ties", async () => {
    const k = await testKernels();
    for (const n of [2047, 2048, 4099, 100_000]) {
      k.reset();
      const x = testValues(n, n).map((v) => R(Number.isFinite(v) ? Math.abs(v) % 0.01 : v, 1));
      const sorted = torchSorted(x);
      const ranks = [0, Math.floor((n - 1) / 4), Math.floor((n - 1) / 2), n - 1, 17 % n];
      const got = selectAll(k, x, ranks);
      ranks.forEach((r, i) => expect(Object.is(got[i], sorted[r]) || (Number.isNaN(got[i]!) && Number.isNaN(sorted[r]!))).toBe(true));
    }
  });
  it("keeps lower ranks left and higher ranks right of the selected one", async () => {
    const k = await testKernels();
    const n = 5001;
    const x = testValues(n, 77).map((v) => (Number.isFinite(v) ? v : 0));
    const keys = k.alloc(n * 4);
    k.call("misc_order_keys", keys, put(k, x), n);
    const cell = k.alloc(4);
    k.call("misc_select", cell, keys, 0, n, 2500);
    const kv = new Int32Array(k.memory.buffer, keys, n);
    const mid = kv[2500]!;
    for (let i = 0; i < 2500; i++) expect(kv[i]! <= mid).toBe(true);
    for (let i = 2501; i < n; i++) expect(kv[i]! >= mid).toBe(true);
  });
});

describe("misc_sample_select", () => {
  it("takes exactly the requested number, in index order, the same for any block size", async () => {
    const k = await testKernels();
    const n = 10_000;
    const size = 1234;
    const src = new Float32Array(n).map((_, i) => i);
    const key = streamKey(5, 1, "w", "fusion-sample");
    const run = (block: number) => {
      k.reset();
      const s = put(k, src);
      const dst = k.allocF32(size);
      const u = k.allocF32(block);
      const state = k.alloc(24);
      new Float64Array(k.memory.buffer, state, 3).set([n, size, 0]);
      for (let start = 0; start < n; start += block) {
        const len = Math.min(block, n - start);
        k.call("rng_uniform", u.ptr, key.lo, key.hi, start, len);
        k.call("misc_sample_select", dst.ptr, s + start * 4, u.ptr, len, state);
      }
      expect(new Float64Array(k.memory.buffer, state, 3)[2]).toBe(size);
      return [...k.f32(dst)];
    };
    const whole = run(n);
    expect(run(97)).toEqual(whole);
    expect(whole.every((v, i) => i === 0 || v > whole[i - 1]!)).toBe(true);
    // the plain algorithm S over the same uniforms
    const want: number[] = [];
    let needed = size;
    for (let i = 0; i < n && needed > 0; i++) {
      if ((n - i) * uniformAt(key, i) < needed) { want.push(i); needed--; }
    }
    expect(whole).toEqual(want);
  });
  it("includes each element with probability size / n", async () => {
    const k = await testKernels();
    const n = 200;
    const size = 50;
    const hits = new Float64Array(n);
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      k.reset();
      const src = put(k, new Float32Array(n).map((_, i) => i));
      const dst = k.allocF32(size);
      const u = k.allocF32(n);
      const key = streamKey(t, 0, "x", "fusion-sample");
      k.call("rng_uniform", u.ptr, key.lo, key.hi, 0, n);
      const state = k.alloc(24);
      new Float64Array(k.memory.buffer, state, 3).set([n, size, 0]);
      k.call("misc_sample_select", dst.ptr, src, u.ptr, n, state);
      for (const v of k.f32(dst)) hits[v]!++;
    }
    // binomial(2000, 0.25): sd ~ 19.4; 6 sd bound
    for (const h of hits) expect(Math.abs(h - trials * 0.25)).toBeLessThan(120);
  });
});

describe("arcee_fusion quantiles above 1e6 elements", () => {
  it("estimates the exact quartiles from a deterministic 1e6-element sample", async () => {
    const k = await testKernels();
    const n = 3_000_017;
    // |pseudo-normal| importances rounded to bf16: many ties, like real importance scores
    let s = 12345;
    const x = new Float32Array(n).map(() => {
      let acc = 0;
      for (let j = 0; j < 4; j++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; acc += s / 2 ** 32; }
      return R(Math.abs(acc - 2) * 1e-4, 1);
    });
    const buf = k.allocF32(n);
    k.f32(buf).set(x);
    const exact = quartiles(k, { ptr: put(k, x), length: n });
    const mark = k.mark();
    const sample = fusionSample(k, buf, FUSION_SAMPLE_SIZE, 42, 1, "model.layers.0.mlp.up_proj.weight");
    expect(sample.length).toBe(FUSION_SAMPLE_SIZE);
    const first = k.f32(sample).slice(0, 1000);
    const est = quartiles(k, sample);
    for (let i = 0; i < 3; i++) expect(Math.abs(est[i]! - exact[i]!) / exact[i]!).toBeLessThan(0.01);
    // same seed, same sample; another seed, another sample
    k.release(mark);
    expect([...k.f32(fusionSample(k, buf, FUSION_SAMPLE_SIZE, 42, 1, "model.layers.0.mlp.up_proj.weight")).slice(0, 1000)]).toEqual([...first]);
    k.release(mark);
    expect([...k.f32(fusionSample(k, buf, FUSION_SAMPLE_SIZE, 43, 1, "model.layers.0.mlp.up_proj.weight")).slice(0, 1000)]).not.toEqual([...first]);
  }, 60_000);
});
