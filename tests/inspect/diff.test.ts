// diff: a model against itself reports zero change; against a fine-tune it matches a plain
// TypeScript computation over the decoded tensors; chunking does not change the numbers.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTensors, values } from "../helpers/safetensors-read.ts";
import { testKernels } from "../helpers/kernels.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { diffModels } from "../../src/inspect/diff-models.ts";
import type { DiffReport } from "../../src/inspect/diff-models.ts";
import { openModel } from "../../src/inspect/model-summary.ts";
import { diffStatsRef } from "./diff-reference.ts";
import { derivedModel, EXAMPLES, grownRows } from "./fixtures.ts";

async function diff(a: string, b: string, chunkElements?: number, match?: (n: string) => boolean): Promise<DiffReport> {
  const resolve = fsResolver("/");
  const [ma, mb] = [await openModel(await resolve(a)), await openModel(await resolve(b))];
  try {
    return await diffModels(ma, mb, { kernels: await testKernels(), chunkElements, match });
  } finally {
    await ma.files.dir.close?.();
    await mb.files.dir.close?.();
  }
}

const close = (got: number | null, want: number) => Math.abs(got! - want) <= 1e-12 * Math.max(1, Math.abs(want));

describe("amalgam diff", () => {
  it("a model against itself: identical, nothing changed, rel L2 0, cosine 1 everywhere", async () => {
    for (const m of ["base", "ft_sparse"]) {
      const r = await diff(join(EXAMPLES, m), join(EXAMPLES, m));
      expect(r.identical).toBe(true);
      expect(r.tensors.length).toBe(39);
      for (const t of [...r.tensors, ...r.layers, r.total]) {
        expect(t.changed).toBe(0);
        expect(t.changedFraction).toBe(0);
        expect(t.relL2).toBe(0);
        expect(t.cosine).toBeCloseTo(1, 12);
      }
      expect(r.layers.map((g) => g.group)).toEqual(["pre", "layer 0", "layer 1", "layer 2", "layer 3", "post"]);
    }
  });

  it("base against a fine-tune matches a plain computation, per tensor and per layer", async () => {
    const a = join(EXAMPLES, "base");
    const b = join(EXAMPLES, "ft_sparse");
    const r = await diff(a, b);
    expect(r.identical).toBe(false);
    const ta = readTensors(a);
    const tb = readTensors(b);
    const perLayer = new Map<string, number[]>();
    for (const t of r.tensors) {
      const [changed, dd, aa, bb, ab, mx] = diffStatsRef(values(ta.get(t.name)!), values(tb.get(t.name)!));
      expect(t.status).toBe("compared");
      expect(t.changed, t.name).toBe(changed);
      expect(t.changedFraction).toBe(changed! / t.elements);
      expect(close(t.relL2, Math.sqrt(dd!) / Math.sqrt(aa!)), `${t.name} relL2 ${t.relL2}`).toBe(true);
      expect(close(t.cosine, ab! / Math.sqrt(aa! * bb!)), `${t.name} cosine`).toBe(true);
      expect(t.maxAbsDiff).toBe(mx);
      const key = t.role === "layer" ? `layer ${t.layer}` : t.role;
      const s = perLayer.get(key) ?? [0, 0, 0, 0, 0, 0];
      perLayer.set(key, [s[0]! + changed!, s[1]! + dd!, s[2]! + aa!, s[3]! + bb!, s[4]! + ab!, s[5]! + t.elements]);
    }
    for (const g of r.layers) {
      const [changed, dd, aa, bb, ab, n] = perLayer.get(g.group)!;
      expect(g.changed).toBe(changed);
      expect(g.elements).toBe(n);
      expect(close(g.relL2, Math.sqrt(dd!) / Math.sqrt(aa!))).toBe(true);
      expect(close(g.cosine, ab! / Math.sqrt(aa! * bb!))).toBe(true);
    }
    // ft_sparse changes about a tenth of the elements (a sparse fine-tune)
    expect(r.total.changedFraction!).toBeGreaterThan(0.05);
    expect(r.total.changedFraction!).toBeLessThan(0.2);
  });

  it("chunked streaming gives the same counts and (to rounding) the same sums for any chunk size", async () => {
    const a = join(EXAMPLES, "base");
    const b = join(EXAMPLES, "ft_dense");
    const whole = await diff(a, b);
    for (const chunk of [64, 100, 4096]) {
      const r = await diff(a, b, chunk);
      r.tensors.forEach((t, i) => {
        const w = whole.tensors[i]!;
        expect(t.changed).toBe(w.changed);
        expect(t.maxAbsDiff).toBe(w.maxAbsDiff);
        expect(close(t.relL2, w.relL2!)).toBe(true);
        expect(close(t.cosine, w.cosine!)).toBe(true);
      });
    }
  });

  it("reports tensors only in one model, shape and dtype mismatches, and compares the common rows of a grown embedding", async () => {
    const b = derivedModel("base", (t) => {
      t.set("model.embed_tokens.weight", grownRows(t.get("model.embed_tokens.weight")!, 8));
      t.delete("model.layers.3.mlp.up_proj.weight");
      t.set("extra.bias", { dtype: "F32", shape: [2], raw: new Uint8Array(8) });
      const q = t.get("model.layers.0.self_attn.q_proj.weight")!;
      t.set("model.layers.0.self_attn.q_proj.weight", { dtype: q.dtype, shape: [32, 128], raw: q.raw });
      // the same values stored as f32: dtype differs, nothing changes
      const n = t.get("model.norm.weight")!;
      const f32 = new Uint8Array(n.raw.length * 2);
      for (let i = 0; i < n.raw.length / 2; i++) { f32[i * 4 + 2] = n.raw[i * 2]!; f32[i * 4 + 3] = n.raw[i * 2 + 1]!; }
      t.set("model.norm.weight", { dtype: "F32", shape: n.shape, raw: f32 });
      t.set("model.layers.1.self_attn.rotary.inv_freq", { dtype: "I64", shape: [1], raw: new Uint8Array(8) });
    });
    const r = await diff(join(EXAMPLES, "base"), b);
    const by = (n: string) => r.tensors.find((t) => t.name === n)!;
    expect(r.identical).toBe(false);
    expect(r.onlyA).toEqual(["model.layers.3.mlp.up_proj.weight"]);
    // in output order: layer 1's tensor before the post-layer one
    expect(r.onlyB).toEqual(["model.layers.1.self_attn.rotary.inv_freq", "extra.bias"]);
    expect(by("model.embed_tokens.weight")).toMatchObject({ status: "partial", rowsCompared: 256, changed: 0, relL2: 0, elements: 256 * 64 });
    expect(by("model.layers.0.self_attn.q_proj.weight").status).toBe("shape-mismatch");
    expect(by("model.norm.weight")).toMatchObject({ status: "compared", dtypeA: "BF16", dtypeB: "F32", changed: 0 });
    expect(r.mismatched).toEqual(expect.arrayContaining(["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.norm.weight"]));
    // a tensor that is not floating point: compared by its bytes, element by element
    const c = derivedModel("base", (t) => t.set("model.layers.1.self_attn.rotary.inv_freq", { dtype: "I64", shape: [2], raw: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]) }));
    expect((await diff(c, c)).identical).toBe(true);
    const d = derivedModel("base", (t) => t.set("model.layers.1.self_attn.rotary.inv_freq", { dtype: "I64", shape: [2], raw: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]) }));
    const cd = await diff(c, d);
    expect(cd.identical).toBe(false);
    expect(cd.tensors.find((t) => t.name.endsWith("inv_freq"))).toMatchObject({ status: "not-float", elements: 2, changed: 1, relL2: null, cosine: null });
  });

  it("--tensor restricts the comparison", async () => {
    const r = await diff(join(EXAMPLES, "base"), join(EXAMPLES, "ft_rows"), undefined, (n) => n.includes("layers.2."));
    expect(r.tensors.length).toBe(9);
    expect(r.layers.map((g) => g.group)).toEqual(["layer 2"]);
  });
});
