// The misc methods end to end: MergeKit's golden outputs bit for bit, --fix-quirks, properties
// and input errors.
import { execFile } from "node:child_process";
import { cpSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { AmalgamError } from "../../src/errors.ts";
import { roundBf16 } from "../../src/kernels/scalar.ts";
import arceeFusion from "../../src/methods/misc/arcee-fusion.ts";
import ram from "../../src/methods/misc/ram.ts";
import nearswap from "../../src/methods/misc/nearswap.ts";
import type { MergeContext, PlanContext } from "../../src/methods/types.ts";
import { testKernels } from "../helpers/kernels.ts";
import { nodeThreadPool } from "../../runtimes/node/thread-pool.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { GOLDEN, runGolden, runMerge, tempDir } from "../helpers/run-merge.ts";
import { maxUlp, readTensors, values } from "../helpers/safetensors-read.ts";
import type { ReadTensor } from "../helpers/safetensors-read.ts";

const MODELS = join(GOLDEN, "models", "tiny-bf16");

/** How MergeKit's model cards name the methods (reference/<name>/README.md in the vectors). */
const CARD_NAMES: Record<string, string> = {
  model_stock: "[Model Stock](https://arxiv.org/abs/2403.19522)",
  nearswap: "[NearSwap](https://huggingface.co/alchemonaut/QuartetAnemoi-70B-t0.0001)",
  arcee_fusion: "[Arcee Fusion](https://arcee.ai)",
  ram: "[Reinforced Agent Merging](https://arxiv.org/abs/2601.13572)",
  ramplus_tl: "[Reinforced Agent Merging Plus (Tensor-Local)](https://arxiv.org/abs/2601.13572)",
};

function expectIdentical(got: Map<string, ReadTensor>, ref: Map<string, ReadTensor>): void {
  expect([...got.keys()].sort()).toEqual([...ref.keys()].sort());
  for (const [t, r] of ref) {
    const g = got.get(t)!;
    expect(g.dtype, t).toBe(r.dtype);
    expect(g.shape, t).toEqual(r.shape);
    expect(maxUlp(g, r), t).toBe(0);
  }
}

async function merged(yaml: string, extra = {}): Promise<{ tensors: Map<string, ReadTensor>; warnings: string[] }> {
  const out = join(tempDir(), "out");
  const r = await runMerge(yaml, GOLDEN, out, extra);
  return { tensors: readTensors(out), warnings: r.warnings };
}

async function mergeError(yaml: string): Promise<AmalgamError> {
  try {
    await merged(yaml);
  } catch (e) {
    expect(e).toBeInstanceOf(AmalgamError);
    return e as AmalgamError;
  }
  throw new Error("the merge did not fail");
}

describe("golden vectors: model_stock, nearswap, arcee_fusion, ram, ramplus_tl", () => {
  for (const name of ["model_stock", "nearswap", "arcee_fusion", "ram", "ramplus_tl"]) {
    it(`${name} is bit-identical to MergeKit`, async () => {
      const { out } = await runGolden(name);
      expectIdentical(readTensors(out), readTensors(join(GOLDEN, "reference", name)));
      expect(readFileSync(join(out, "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference", name, "model.safetensors")))).toBe(true);
      expect(readFileSync(join(out, "README.md"), "utf8")).toContain(`This model was merged using the ${CARD_NAMES[name]} merge method using models/tiny-bf16/base as a base.`);
    });
  }
});

describe("tiles and threads", () => {
  it("nearswap (elementwise) is bit-identical in 64-element tiles and on worker threads", async () => {
    const ref = readTensors(join(GOLDEN, "reference", "nearswap"));
    expectIdentical(readTensors((await runGolden("nearswap", { tileElements: 64 })).out), ref);
    const kernels = await loadKernelModule(true);
    expectIdentical(readTensors((await runGolden("nearswap", { kernels, threadPool: nodeThreadPool, threadCount: 3, tileElements: 192 })).out), ref);
  });
  it("the whole-tensor misc methods give the same bytes with the threads build of the kernels", async () => {
    const kernels = await loadKernelModule(true);
    for (const name of ["model_stock", "arcee_fusion", "ram", "ramplus_tl"]) {
      expectIdentical(readTensors((await runGolden(name, { kernels })).out), readTensors(join(GOLDEN, "reference", name)));
    }
  });
});

describe("float32 output quirks", () => {
  it("arcee_fusion writes float32 and says so; --fix-quirks keeps bf16, the same values rounded once", async () => {
    const quirky = await runGolden("arcee_fusion");
    expect(quirky.warnings.some((w) => w.includes("quirk arcee-fusion-f32") && w.includes("--fix-quirks"))).toBe(true);
    const fixed = await runGolden("arcee_fusion", { fixQuirks: true });
    expect(fixed.warnings.some((w) => w.includes("quirk arcee-fusion-f32") && w.includes("kept in the working dtype"))).toBe(true);
    const ref = readTensors(join(GOLDEN, "reference", "arcee_fusion"));
    for (const [name, g] of readTensors(fixed.out)) {
      expect(g.dtype, name).toBe("BF16");
      const want = values(ref.get(name)!).map((v) => roundBf16(v));
      expect([...values(g)], name).toEqual([...want]);
    }
  });
  it("ramplus_tl writes float32; --fix-quirks keeps bf16, within two bf16 steps of MergeKit's values", async () => {
    const fixed = await runGolden("ramplus_tl", { fixQuirks: true });
    expect(fixed.warnings.some((w) => w.includes("quirk ramplus-f32"))).toBe(true);
    const ref = readTensors(join(GOLDEN, "reference", "ramplus_tl"));
    const base = readTensors(join(MODELS, "base"));
    for (const [name, g] of readTensors(fixed.out)) {
      expect(g.dtype, name).toBe("BF16");
      const r = values(ref.get(name)!);
      const b = values(base.get(name)!);
      // the lambda-scaled term, the sum and the add to the base each round to bf16 when fixed
      values(g).forEach((v, i) => expect(Math.abs(v - r[i]!), `${name}[${i}]`).toBeLessThanOrEqual((Math.abs(r[i]!) + Math.abs(b[i]!)) * 2 ** -6));
    }
  });
});

describe("--fix-quirks across --shard parts", () => {
  it("arcee_fusion in 2 parts with --fix-quirks assembles to the one-process bytes (bf16 output)", async () => {
    const cli = (args: string[]) => promisify(execFile)(process.execPath, [resolve(import.meta.dirname, "..", "..", "bin", "amalgam.js"), ...args], { cwd: GOLDEN });
    const root = tempDir();
    const whole = join(root, "whole", "merged");
    const parts = join(root, "parts", "merged");
    const flags = ["--out-shard-size", "200K", "--quiet", "--fix-quirks"];
    await cli(["merge", "configs/arcee_fusion.yml", whole, ...flags]);
    for (const i of [1, 2]) await cli(["merge", "configs/arcee_fusion.yml", parts, ...flags, "--shard", `${i}/2`]);
    await cli(["assemble", parts, "--quiet"]);
    const files = readdirSync(whole).sort();
    expect(readdirSync(parts).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(parts, f)).equals(readFileSync(join(whole, f))), f).toBe(true);
    expect([...readTensors(whole).values()].every((t) => t.dtype === "BF16")).toBe(true);
  });
});

describe("properties", () => {
  for (const [label, ft, params] of [["", "ft_dense", ""], [" (filter_wise)", "ft_rows", "parameters:\n  filter_wise: true\n"]] as const) {
    it(`model_stock of identical fine-tunes gives that fine-tune up to rounding${label}`, async () => {
      const dir = tempDir();
      for (const m of ["base", ft]) cpSync(join(MODELS, m), join(dir, m), { recursive: true });
      cpSync(join(MODELS, ft), join(dir, "ft_copy"), { recursive: true });
      const out = join(dir, "out");
      await runMerge(`merge_method: model_stock\nbase_model: base\n${params}models:\n  - model: ${ft}\n  - model: ft_copy\n`, dir, out);
      const want = readTensors(join(MODELS, ft));
      const base = readTensors(join(MODELS, "base"));
      for (const [name, g] of readTensors(out)) {
        // cos of identical task vectors is 1 up to bf16 rounding, so 1 - t is 0 or a step or two
        // of bf16 below 1: out = t ft + (1 - t) base, rounded
        const f = values(want.get(name)!);
        const b = values(base.get(name)!);
        let toFt = 0;
        let toBase = 0;
        values(g).forEach((v, i) => {
          expect(Math.abs(v - f[i]!), `${name}[${i}]`).toBeLessThanOrEqual((Math.abs(f[i]!) + Math.abs(b[i]!)) * 2 ** -6);
          toFt += Math.abs(v - f[i]!);
          toBase += Math.abs(v - b[i]!);
        });
        expect(toFt, name).toBeLessThan(toBase);
      }
    });
  }
  it("nearswap with t -> 0 returns the base", async () => {
    const { tensors } = await merged(`merge_method: nearswap\nbase_model: models/tiny-bf16/base\nparameters:\n  t: 1.0e-30\nmodels:\n  - model: models/tiny-bf16/ft_dense\n`);
    expectIdentical(tensors, readTensors(join(MODELS, "base")));
  });
  it("ram with one model is the base plus its task vector where |task vector| > epsilon", async () => {
    const { tensors } = await merged(`merge_method: ram\nbase_model: models/tiny-bf16/base\nparameters:\n  epsilon: 0.001\nmodels:\n  - model: models/tiny-bf16/ft_dense\n`);
    const base = readTensors(join(MODELS, "base"));
    const ft = readTensors(join(MODELS, "ft_dense"));
    const eps = roundBf16(0.001);
    let kept = 0;
    let dropped = 0;
    for (const [name, g] of tensors) {
      const b = values(base.get(name)!);
      const x = values(ft.get(name)!);
      const want = b.map((bv, i) => {
        const tv = roundBf16(x[i]! - bv);
        if (Math.abs(tv) > eps) kept++; else dropped++;
        return roundBf16(bv + (Math.abs(tv) > eps ? tv : 0));
      });
      expect([...values(g)], name).toEqual([...want]);
    }
    expect(kept).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
  });
});

describe("input rules", () => {
  it("model_stock needs the base and at least two other models", async () => {
    const e = await mergeError(`merge_method: model_stock\nbase_model: models/tiny-bf16/base\nmodels:\n  - model: models/tiny-bf16/ft_dense\n`);
    expect(e.code).toBe("E_METHOD");
    expect(e.message).toMatch(/tensor "[^"]+": model_stock needs the base model plus at least 2 other model\(s\), got 1/);
  });
  it("nearswap needs t", async () => {
    const e = await mergeError(`merge_method: nearswap\nbase_model: models/tiny-bf16/base\nmodels:\n  - model: models/tiny-bf16/ft_dense\n`);
    expect(e.code).toBe("E_CONFIG");
    expect(e.message).toContain('"t"');
  });
  it("nearswap and arcee_fusion take exactly one model besides the base", async () => {
    for (const method of ["nearswap", "arcee_fusion"]) {
      const e = await mergeError(`merge_method: ${method}\nbase_model: models/tiny-bf16/base\nparameters:\n  t: 0.1\nmodels:\n  - model: models/tiny-bf16/ft_dense\n  - model: models/tiny-bf16/ft_rows\n`);
      expect(e.code).toBe("E_METHOD");
      expect(e.message).toContain(`${method} needs the base model plus exactly 1 other model(s), got 2`);
    }
  });
  it("the easy_define methods reject mismatched shapes, embeddings included, naming tensor and models", () => {
    const ctx: PlanContext = {
      tensor: "model.embed_tokens.weight",
      shapes: [[256, 64], [260, 64]],
      models: ["base", "bigger_vocab"],
      baseIndex: 0,
      isEmbed: true,
    };
    for (const m of [ram, nearswap]) {
      let err: unknown;
      try { m.outputShape!(ctx); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(AmalgamError);
      expect((err as AmalgamError).code).toBe("E_SHAPE");
      expect((err as AmalgamError).message).toContain('tensor "model.embed_tokens.weight"');
      expect((err as AmalgamError).message).toContain("bigger_vocab [260,64]");
    }
  });
  it("ram with only the base returns the base", async () => {
    const { tensors } = await merged(`merge_method: ram\nbase_model: models/tiny-bf16/base\nmodels:\n  - model: models/tiny-bf16/base\n`);
    expectIdentical(tensors, readTensors(join(MODELS, "base")));
  });
});

describe("arcee_fusion above 1e6 elements", () => {
  it("samples 1e6 importances with the seeded generator; the mask matches the exact-quantile one closely", async () => {
    const k = await testKernels();
    const rows = 1200;
    const cols = 1000;
    const n = rows * cols;
    let s = 99;
    const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32 - 0.5; };
    const a = k.allocF32(n);
    const b = k.allocF32(n);
    const av = k.f32(a);
    for (let i = 0; i < n; i++) av[i] = roundBf16(rnd() * 0.2);
    const bv = k.f32(b);
    for (let i = 0; i < n; i++) bv[i] = roundBf16(av[i]! + rnd() * (i % 7 === 0 ? 0.05 : 0.005));
    const run = (fixQuirks: boolean, seed: number) => {
      const quirks: string[] = [];
      const ctx: MergeContext = {
        kernels: k, tensor: "model.layers.0.mlp.up_proj.weight", shape: [rows, cols], numel: n, dtype: "BF16", mode: 1,
        inputs: [
          { buf: a, shape: [rows, cols], params: {}, isBase: true, model: "base" },
          { buf: b, shape: [rows, cols], params: {}, isBase: false, model: "ft" },
        ],
        baseIndex: 0, global: {}, isEmbed: false, seed, modelIndices: [1, 0], fixQuirks,
        warn: () => {}, quirk: (id) => quirks.push(id),
      };
      const mark = k.mark();
      const out = arceeFusion.merge(ctx);
      const taken = new Uint8Array(n);
      const o = k.f32(out);
      const x = k.f32(a);
      for (let i = 0; i < n; i++) taken[i] = o[i] !== x[i] ? 1 : 0;
      k.release(mark);
      return { taken, quirks };
    };
    const exact = run(true, 0);
    expect(exact.quirks).toContain("arcee-fusion-sample");
    const sampled = run(false, 7);
    expect(sampled.quirks).toEqual(expect.arrayContaining(["arcee-fusion-sample", "arcee-fusion-f32"]));
    const again = run(false, 7);
    expect(again.taken).toEqual(sampled.taken);
    let te = 0;
    let ts = 0;
    let differ = 0;
    for (let i = 0; i < n; i++) { te += exact.taken[i]!; ts += sampled.taken[i]!; if (exact.taken[i] !== sampled.taken[i]) differ++; }
    expect(te).toBeGreaterThan(n * 0.01);
    expect(Math.abs(ts - te) / te).toBeLessThan(0.05);
    expect(differ / n).toBeLessThan(0.005);
  }, 60_000);
});
