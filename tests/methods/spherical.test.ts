// The spherical family (slerp, nuslerp, multislerp, karcher): MergeKit's golden outputs bit for
// bit, identities, and the documented quirks and errors.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AmalgamError } from "../../src/errors.ts";
import type { F32Buf } from "../../src/kernels/kernels.ts";
import { SPHERICAL_METHODS } from "../../src/methods/spherical/index.ts";
import type { MergeContext, MergeInput } from "../../src/methods/types.ts";
import { testKernels } from "../helpers/kernels.ts";
import { GOLDEN, runGolden, runMerge, tempDir } from "../helpers/run-merge.ts";
import { maxUlp, readTensors } from "../helpers/safetensors-read.ts";

const M = "models/tiny-bf16";

function sameTensors(dir: string, refDir: string): void {
  const ref = readTensors(refDir);
  const got = readTensors(dir);
  expect([...got.keys()].sort()).toEqual([...ref.keys()].sort());
  for (const [name, r] of ref) {
    const g = got.get(name)!;
    expect(g.dtype, name).toBe(r.dtype);
    expect(g.shape, name).toEqual(r.shape);
    expect(maxUlp(g, r), name).toBe(0);
  }
}

async function merged(yaml: string, extra: Parameters<typeof runMerge>[3] = {}) {
  const out = join(tempDir(), "out");
  const r = await runMerge(yaml, GOLDEN, out, extra);
  return { out, warnings: r.warnings };
}

describe("spherical methods on MergeKit's golden vectors", () => {
  for (const name of ["slerp", "nuslerp", "multislerp", "karcher"]) {
    it(`${name} is bit-identical to MergeKit`, async () => {
      const { out } = await runGolden(name);
      sameTensors(out, join(GOLDEN, "reference", name));
      expect(readFileSync(join(out, "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference", name, "model.safetensors")))).toBe(true);
    });
  }
});

describe("identities", () => {
  const slerpAt = (t: number) => `merge_method: slerp\nbase_model: ${M}/base\nmodels:\n  - model: ${M}/base\n  - model: ${M}/ft_dense\nparameters:\n  t: ${t}\n`;

  it("slerp at t = 0 gives the base and at t = 1 the other model", async () => {
    sameTensors((await merged(slerpAt(0))).out, join(GOLDEN, M, "base"));
    sameTensors((await merged(slerpAt(1))).out, join(GOLDEN, M, "ft_dense"));
  });

  it("nuslerp of a model with itself returns the model, within MergeKit's own bf16 rounding", async () => {
    // In bf16, sum(u*u) rounds to just below 1 for some vectors, so MergeKit takes the slerp
    // branch with a tiny angle and returns the model up to 1 ulp (5792 of 180800 values differ in
    // MergeKit's own output for ft_rows, flattened).
    const model = readTensors(join(GOLDEN, M, "ft_rows"));
    for (const flat of [true, false]) {
      const yaml = `merge_method: nuslerp\nparameters: {nuslerp_flatten: ${flat}}\nmodels:\n  - model: ${M}/ft_rows\n    parameters: {weight: 1}\n  - model: ${M}/ft_rows\n    parameters: {weight: 1}\n`;
      const got = readTensors((await merged(yaml)).out);
      for (const [name, r] of model) expect(maxUlp(got.get(name)!, r), name).toBeLessThanOrEqual(1);
    }
  });

  it("multislerp and karcher of a single model return it", async () => {
    sameTensors((await merged(`merge_method: multislerp\nmodels:\n  - model: ${M}/ft_sparse\n    parameters: {weight: 0.4}\n`)).out, join(GOLDEN, M, "ft_sparse"));
    sameTensors((await merged(`merge_method: karcher\nmodels:\n  - model: ${M}/ft_sparse\n`)).out, join(GOLDEN, M, "ft_sparse"));
  });

  it("multislerp with a base and one model returns the model (MergeKit drops the base)", async () => {
    const yaml = `merge_method: multislerp\nbase_model: ${M}/base\nmodels:\n  - model: ${M}/ft_dense\n    parameters: {weight: 1}\n`;
    sameTensors((await merged(yaml)).out, join(GOLDEN, M, "ft_dense"));
  });
});

describe("quirks, warnings and errors", () => {
  const karcherWeighted = `merge_method: karcher\nmodels:\n  - model: ${M}/ft_dense\n    parameters: {weight: 3}\n  - model: ${M}/ft_sparse\n    parameters: {weight: 1}\n  - model: ${M}/ft_rows\n    parameters: {weight: 1}\nparameters:\n  max_iter: 20\n  tol: 1.0e-6\n`;

  it("karcher ignores weights like MergeKit (with a quirk warning); --fix-quirks uses them", async () => {
    const plain = await merged(karcherWeighted);
    sameTensors(plain.out, join(GOLDEN, "reference", "karcher"));
    expect(plain.warnings.some((w) => w.includes("karcher-ignores-weight"))).toBe(true);
    const fixed = await merged(karcherWeighted, { fixQuirks: true });
    expect(fixed.warnings.some((w) => w.includes("karcher-ignores-weight"))).toBe(true);
    const a = readTensors(fixed.out).get("model.layers.0.mlp.up_proj.weight")!;
    const b = readTensors(plain.out).get("model.layers.0.mlp.up_proj.weight")!;
    expect(maxUlp(a, b)).toBeGreaterThan(0);
  });

  it("float16 working dtype merges and warns that MergeKit cannot", async () => {
    const yaml = `merge_method: nuslerp\ndtype: float16\nmodels:\n  - model: ${M}/ft_dense\n    parameters: {weight: 0.6}\n  - model: ${M}/ft_rows\n    parameters: {weight: 0.4}\n`;
    const r = await merged(yaml);
    expect(r.warnings.some((w) => w.includes("float16"))).toBe(true);
    expect([...readTensors(r.out).values()].every((t) => t.dtype === "F16")).toBe(true);
  });

  it("nuslerp with a base needs two other models; slerp takes two models", async () => {
    const nu = `merge_method: nuslerp\nbase_model: ${M}/base\nmodels:\n  - model: ${M}/base\n    parameters: {weight: 0.5}\n  - model: ${M}/ft_rows\n    parameters: {weight: 0.5}\n`;
    await expect(merged(nu)).rejects.toMatchObject({ code: "E_METHOD" });
    const sl = `merge_method: slerp\nbase_model: ${M}/base\nmodels:\n  - model: ${M}/ft_rows\n  - model: ${M}/ft_dense\nparameters: {t: 0.5}\n`;
    await expect(merged(sl)).rejects.toMatchObject({ code: "E_METHOD" });
  });

  it("karcher on embeddings of different sizes fails like MergeKit, or merges the common block with --fix-quirks", async () => {
    const k = await testKernels();
    const karcher = SPHERICAL_METHODS.find((m) => m.name === "karcher")!;
    const shape = [2, 3];
    const buf = (vals: number[]): F32Buf => { const b = k.allocF32(vals.length); k.f32(b).set(vals); return b; };
    const inputs: MergeInput[] = [
      { buf: buf([1, 2, 3, 4, 5, 6]), shape, sourceShape: [2, 3], params: {}, isBase: false, model: "a" },
      { buf: buf([2, 1, 3, 5, 4, 6]), shape, sourceShape: [4, 3], params: {}, isBase: false, model: "b" },
    ];
    const quirks: string[] = [];
    const ctx = (fixQuirks: boolean): MergeContext => ({
      kernels: k, tensor: "model.embed_tokens.weight", shape, numel: 6, dtype: "BF16", mode: 1, inputs, baseIndex: undefined,
      global: { max_iter: 10, tol: 1e-5 }, isEmbed: true, seed: 0, modelIndices: [0, 1], fixQuirks, warn: () => {}, quirk: (id) => quirks.push(id),
    });
    expect(() => karcher.merge(ctx(false))).toThrow(AmalgamError);
    const out = karcher.merge(ctx(true));
    expect(out.length).toBe(6);
    expect(quirks).toContain("karcher-rectify-noop");
    expect([...k.f32(out)].every((v) => Number.isFinite(v) && v > 0)).toBe(true);
  });
});
