// The task-arithmetic family and sce: MergeKit's golden outputs, MergeKit's own statistical rule
// for the random methods, and properties of the family on small inputs.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isAmalgamError } from "../../src/errors.ts";
import { layoutFile } from "../../src/io/safetensors-writer.ts";
import { nodeThreadPool } from "../../runtimes/node/thread-pool.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { GOLDEN, runGolden, runMerge, tempDir } from "../helpers/run-merge.ts";
import { maxUlp, readTensors, values } from "../helpers/safetensors-read.ts";
import type { ReadTensor } from "../helpers/safetensors-read.ts";

/** Deterministic methods and the reference each must equal bit for bit. */
const EXACT: readonly [string, string][] = [
  ["task_arithmetic", "reference"],
  ["ties", "reference-stable"],
  ["breadcrumbs", "reference-stable"],
  ["breadcrumbs_ties", "reference-stable"],
  ["sce", "reference-stable"],
];
const RANDOM = ["dare_ties", "dare_linear", "della", "della_linear"] as const;
const BASE_DIR = join(GOLDEN, "models", "tiny-bf16", "base");

function expectSameTensors(got: Map<string, ReadTensor>, want: Map<string, ReadTensor>, what: string): void {
  expect([...got.keys()].sort(), what).toEqual([...want.keys()].sort());
  for (const [name, w] of want) {
    const g = got.get(name)!;
    expect(g.dtype, `${what}: ${name}`).toBe(w.dtype);
    expect(g.shape, `${what}: ${name}`).toEqual(w.shape);
    expect(maxUlp(g, w), `${what}: ${name}`).toBe(0);
  }
}

/** Number of tensors whose bytes differ. */
function differing(a: Map<string, ReadTensor>, b: Map<string, ReadTensor>): number {
  let d = 0;
  for (const [name, t] of a) if (!Buffer.from(t.raw).equals(Buffer.from(b.get(name)!.raw))) d++;
  return d;
}

// ---- compare.py's statistics for random methods (delta_stats / stats_verdict), ported ----
interface DeltaStats {
  readonly frac_eq_base_ref: number;
  readonly frac_eq_base_cand: number;
  readonly delta_mean_ref: number;
  readonly delta_mean_cand: number;
  readonly delta_std_ref: number;
  readonly delta_std_cand: number;
  readonly sign_agree: number;
  readonly corr: number;
}

function deltaStats(ref: Map<string, ReadTensor>, cand: Map<string, ReadTensor>, base: Map<string, ReadTensor>): DeltaStats {
  let n = 0, eqR = 0, eqC = 0, sumR = 0, sumC = 0, sqR = 0, sqC = 0, bothNz = 0, signSame = 0, cross = 0;
  for (const [name, r] of ref) {
    const c = cand.get(name);
    const z = base.get(name);
    if (!c || !z || z.shape.join() !== r.shape.join()) continue;
    const a = values(r), b = values(c), zb = values(z);
    for (let i = 0; i < a.length; i++) {
      const dr = a[i]! - zb[i]!;
      const dc = b[i]! - zb[i]!;
      n++;
      if (dr === 0) eqR++;
      if (dc === 0) eqC++;
      sumR += dr; sumC += dc; sqR += dr * dr; sqC += dc * dc; cross += dr * dc;
      if (dr !== 0 && dc !== 0) {
        bothNz++;
        if (Math.sign(dr) === Math.sign(dc)) signSame++;
      }
    }
  }
  n = Math.max(n, 1);
  const mr = sumR / n, mc = sumC / n;
  const vr = Math.max(sqR / n - mr * mr, 0), vc = Math.max(sqC / n - mc * mc, 0);
  return {
    frac_eq_base_ref: eqR / n, frac_eq_base_cand: eqC / n, delta_mean_ref: mr, delta_mean_cand: mc,
    delta_std_ref: Math.sqrt(vr), delta_std_cand: Math.sqrt(vc), sign_agree: signSame / Math.max(bothNz, 1),
    corr: vr > 0 && vc > 0 ? (cross / n - mr * mc) / Math.sqrt(vr * vc) : NaN,
  };
}

/** The reasons compare.py would give for STATS-SUSPECT (empty: STATS-OK), with a MergeKit-vs-MergeKit baseline. */
function statsVerdict(s: DeltaStats, b: DeltaStats): string[] {
  const reasons: string[] = [];
  const tolEq = 2 * Math.abs(b.frac_eq_base_cand - b.frac_eq_base_ref) + 0.01;
  const ratioB = b.delta_std_ref ? b.delta_std_cand / b.delta_std_ref : 1;
  const tolStd = 2 * Math.abs(ratioB - 1) + 0.05;
  const tolMean = 2 * Math.abs(b.delta_mean_cand - b.delta_mean_ref) + 0.05 * s.delta_std_ref;
  if (Math.abs(s.frac_eq_base_cand - s.frac_eq_base_ref) > tolEq) reasons.push(`frac_eq_base ${s.frac_eq_base_cand} vs ${s.frac_eq_base_ref}`);
  const ratio = s.delta_std_ref ? s.delta_std_cand / s.delta_std_ref : Infinity;
  if (Math.abs(ratio - 1) > tolStd) reasons.push(`delta_std ratio ${ratio}`);
  if (Math.abs(s.delta_mean_cand - s.delta_mean_ref) > tolMean) reasons.push(`delta_mean ${s.delta_mean_cand} vs ${s.delta_mean_ref}`);
  if (s.sign_agree < b.sign_agree - 0.05) reasons.push(`sign_agree ${s.sign_agree}`);
  if (!(s.corr >= b.corr - 0.05)) reasons.push(`corr ${s.corr}`);
  return reasons;
}

// ---- small fixture models ----
interface FixtureTensor {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/** Writes a one-layer float32 llama-shaped model (config.json + model.safetensors). */
/** A llama-named checkpoint with only some of llama's tensors: an unknown architecture, so its layout is inferred from names. */
function writeModel(dir: string, tensors: Record<string, FixtureTensor>): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ architectures: ["PartialLlamaForTests"], model_type: "partial_llama", num_hidden_layers: 1, hidden_size: 4, vocab_size: 6, torch_dtype: "float32" }));
  const layout = layoutFile(Object.entries(tensors).map(([name, t]) => ({ name, dtype: "F32" as const, shape: t.shape })));
  const parts = [layout.header, ...layout.order.map((s) => new Uint8Array(Float32Array.from(tensors[s.name]!.data).buffer))];
  writeFileSync(join(dir, "model.safetensors"), Buffer.concat(parts));
  return dir;
}

const seq = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe("gta family and sce: MergeKit's golden outputs", () => {
  for (const [name, reference] of EXACT) {
    it(`${name} is bit-identical to MergeKit's ${reference}`, async () => {
      const { out } = await runGolden(name);
      expectSameTensors(readTensors(out), readTensors(join(GOLDEN, reference, name)), name);
    });
  }

  for (const name of RANDOM) {
    it(`${name} passes compare.py's statistical rule against MergeKit`, async () => {
      const { out } = await runGolden(name);
      const ref = readTensors(join(GOLDEN, "reference", name));
      const base = readTensors(BASE_DIR);
      const baseline = deltaStats(ref, readTensors(join(GOLDEN, "reference-altseed", name)), base);
      const stats = deltaStats(ref, readTensors(out), base);
      expect(statsVerdict(stats, baseline)).toEqual([]);
    });
  }

  it("task_arithmetic is bit-identical in tiles and on worker threads", async () => {
    const ref = readTensors(join(GOLDEN, "reference", "task_arithmetic"));
    const { out } = await runGolden("task_arithmetic", { tileElements: 64 });
    expectSameTensors(readTensors(out), ref, "64-element tiles");
    const kernels = await loadKernelModule(true);
    const threaded = await runGolden("task_arithmetic", { kernels, threadPool: nodeThreadPool, threadCount: 3, tileElements: 128 });
    expectSameTensors(readTensors(threaded.out), ref, "3 threads");
  });

  it("whole-tensor methods give the same bytes with the threads build of the kernels", async () => {
    const kernels = await loadKernelModule(true);
    for (const name of ["ties", "dare_ties", "della", "sce"]) {
      const single = await runGolden(name);
      const threaded = await runGolden(name, { kernels, threadPool: nodeThreadPool, threadCount: 2 });
      expectSameTensors(readTensors(threaded.out), readTensors(single.out), name);
    }
  });

  it("breadcrumbs reports the gamma quirk on the tensors where int(gamma × numel) is 0", async () => {
    const { warnings } = await runGolden("breadcrumbs");
    const w = warnings.find((m) => m.includes("quirk breadcrumbs-gamma-zero"));
    expect(w).toBeDefined();
    expect(w).toContain("model.layers.0.input_layernorm.weight");
    expect(w).toContain("--fix-quirks");
  });
});

describe("gta family: properties", () => {
  const models = (params: string[]) =>
    ["ft_dense", "ft_sparse", "ft_rows"].slice(0, params.length).map((m, i) => `  - model: models/tiny-bf16/${m}\n    parameters: {${params[i]}}\n`).join("");
  const merge = async (yaml: string, extra = {}) => {
    const out = join(tempDir(), "out");
    const r = await runMerge(yaml, GOLDEN, out, extra);
    return { tensors: readTensors(out), warnings: r.warnings };
  };
  const base = () => readTensors(BASE_DIR);

  it("task_arithmetic with weight 0 is the base", async () => {
    const { tensors } = await merge(`merge_method: task_arithmetic\nbase_model: models/tiny-bf16/base\nmodels:\n${models(["weight: 0", "weight: 0"])}`);
    expectSameTensors(tensors, base(), "weight 0");
  });

  it("ties with density 1 and one model equals task_arithmetic", async () => {
    for (const [w, norm] of [["0.7", "false"], ["1", "true"]] as const) {
      const ta = await merge(`merge_method: task_arithmetic\nbase_model: models/tiny-bf16/base\nparameters: {normalize: ${norm}}\nmodels:\n${models([`weight: ${w}`])}`);
      const ties = await merge(`merge_method: ties\nbase_model: models/tiny-bf16/base\nparameters: {normalize: ${norm}}\nmodels:\n${models([`weight: ${w}, density: 1`])}`);
      expectSameTensors(ties.tensors, ta.tensors, `weight ${w}`);
    }
  });

  it("a base listed among the models, or alone, contributes no task vector", async () => {
    const unlisted = await merge(`merge_method: task_arithmetic\nbase_model: models/tiny-bf16/base\nmodels:\n${models(["weight: 0.5"])}`);
    const listed = await merge(`merge_method: task_arithmetic\nbase_model: models/tiny-bf16/base\nmodels:\n  - model: models/tiny-bf16/base\n    parameters: {weight: 0.9}\n${models(["weight: 0.5"])}`);
    expectSameTensors(listed.tensors, unlisted.tensors, "base listed");
    const alone = await merge(`merge_method: ties\nbase_model: models/tiny-bf16/base\nmodels:\n  - model: models/tiny-bf16/base\n    parameters: {weight: 1}\n`);
    expectSameTensors(alone.tensors, base(), "base alone");
  });

  it("weights summing to zero are not normalized (the divisor becomes 1)", async () => {
    const ms = models(["weight: 0.5", "weight: -0.5"]);
    const norm = await merge(`merge_method: task_arithmetic\nbase_model: models/tiny-bf16/base\nparameters: {normalize: true}\nmodels:\n${ms}`);
    const plain = await merge(`merge_method: task_arithmetic\nbase_model: models/tiny-bf16/base\nmodels:\n${ms}`);
    expectSameTensors(norm.tensors, plain.tensors, "zero weight sum");
    const ties = await merge(`merge_method: ties\nbase_model: models/tiny-bf16/base\nmodels:\n${models(["weight: 0.5, density: 0.5", "weight: -0.5, density: 0.5"])}`);
    for (const t of ties.tensors.values()) expect(values(t).every(Number.isFinite)).toBe(true);
  });

  it("int8_mask is accepted and changes nothing", async () => {
    const ms = models(["weight: 0.5, density: 0.5", "weight: 0.3, density: 0.7"]);
    const a = await merge(`merge_method: ties\nbase_model: models/tiny-bf16/base\nparameters: {int8_mask: true}\nmodels:\n${ms}`);
    const b = await merge(`merge_method: ties\nbase_model: models/tiny-bf16/base\nmodels:\n${ms}`);
    expectSameTensors(a.tensors, b.tensors, "int8_mask");
    expect(a.warnings.join("\n")).not.toContain("int8_mask");
  });

  it("density 0 drops every task vector; ties warns where MergeKit would assert", async () => {
    for (const method of ["dare_linear", "dare_ties", "della", "ties"]) {
      const { tensors, warnings } = await merge(`merge_method: ${method}\nbase_model: models/tiny-bf16/base\n# oracle-args: --random-seed 3\nmodels:\n${models(["weight: 0.5, density: 0", "weight: 0.5, density: 0"])}`, { randomSeed: 3 });
      expectSameTensors(tensors, base(), `${method} density 0`);
      if (method === "ties") expect(warnings.some((w) => w.includes("AssertionError") && w.includes("ft_dense"))).toBe(true);
    }
  });

  it("random masks are the same for the same seed and differ for another", async () => {
    for (const method of ["dare_ties", "della_linear"]) {
      const ms = models(["weight: 0.5, density: 0.5", "weight: 0.5, density: 0.6"]);
      const yaml = `merge_method: ${method}\nbase_model: models/tiny-bf16/base\nmodels:\n${ms}`;
      const a = await merge(yaml, { randomSeed: 5 });
      const b = await merge(yaml, { randomSeed: 5 });
      const c = await merge(yaml, { randomSeed: 6 });
      expect(differing(a.tensors, b.tensors), method).toBe(0);
      expect(differing(a.tensors, c.tensors), method).toBeGreaterThan(30);
    }
  });

  it("della rejects density ± epsilon outside (0, 1) naming the tensor and the model", async () => {
    const yaml = `merge_method: della\nbase_model: models/tiny-bf16/base\nmodels:\n${models(["weight: 0.5, density: 0.5, epsilon: 0.5"])}`;
    const err = await merge(yaml).then(() => undefined, (e: unknown) => e);
    expect(isAmalgamError(err) && err.code).toBe("E_CONFIG");
    expect(String((err as Error).message)).toMatch(/tensor ".+".*ft_dense/);
  });

  it("breadcrumbs keeps the task vector under --fix-quirks when int(gamma × numel) is 0", async () => {
    const yaml = `merge_method: breadcrumbs\nbase_model: models/tiny-bf16/base\nmodels:\n${models(["weight: 1, density: 0.7, gamma: 0.01"])}`;
    const norm = "model.layers.0.input_layernorm.weight";
    const quirky = await merge(yaml);
    expect(maxUlp(quirky.tensors.get(norm)!, base().get(norm)!)).toBe(0);
    const fixed = await merge(yaml, { fixQuirks: true });
    expect(maxUlp(fixed.tensors.get(norm)!, base().get(norm)!)).toBeGreaterThan(0);
    expect(fixed.warnings.some((w) => w.includes("quirk breadcrumbs-gamma-zero") && !w.includes("(--fix-quirks applies the fix)"))).toBe(true);
    // with n_top = 0 fixed, 70% of the task vector survives: the smallest 30% of |delta| are dropped
    const d = values(fixed.tensors.get(norm)!).map((v, i) => v - values(base().get(norm)!)[i]!);
    const ft = readTensors(join(GOLDEN, "models", "tiny-bf16", "ft_dense"));
    const full = values(ft.get(norm)!).map((v, i) => v - values(base().get(norm)!)[i]!);
    expect(d.filter((v) => v !== 0).length).toBeLessThanOrEqual(Math.trunc(0.7 * 64));
    expect(d.filter((v) => v !== 0).length).toBeGreaterThan(0);
    expect(full.filter((v) => v !== 0).length).toBeGreaterThanOrEqual(d.filter((v) => v !== 0).length);
  });

  it("sce ignores weight as MergeKit does, and applies it under --fix-quirks", async () => {
    const plain = await merge(`merge_method: sce\nbase_model: models/tiny-bf16/base\nparameters: {select_topk: 0.5}\nmodels:\n  - model: models/tiny-bf16/ft_dense\n  - model: models/tiny-bf16/ft_rows\n`);
    const yaml = `merge_method: sce\nbase_model: models/tiny-bf16/base\nparameters: {select_topk: 0.5}\nmodels:\n${models(["weight: 0.9", "weight: 0.1"]).replace("ft_sparse", "ft_rows")}`;
    const weighted = await merge(yaml);
    expectSameTensors(weighted.tensors, plain.tensors, "weights ignored");
    expect(weighted.warnings.some((w) => w.includes("quirk sce-ignores-weight"))).toBe(true);
    const fixed = await merge(yaml, { fixQuirks: true });
    expect(differing(fixed.tensors, plain.tensors)).toBeGreaterThan(10);
  });
});

describe("gta family: shapes", () => {
  const H = 4;
  const dir = tempDir("amalgam-gta-shapes-");
  const tensors = (vocab: number, mlpCols: number, shift: number) => ({
    "model.embed_tokens.weight": { shape: [vocab, H], data: seq(vocab * H, (i) => i * 0.25 + shift) },
    "model.layers.0.mlp.up_proj.weight": { shape: [2, mlpCols], data: seq(2 * mlpCols, (i) => i - shift) },
    "model.layers.0.input_layernorm.weight": { shape: [H], data: seq(H, (i) => 1 + i * shift) },
    "model.norm.weight": { shape: [H], data: seq(H, () => 1) },
    "lm_head.weight": { shape: [vocab, H], data: seq(vocab * H, (i) => -i * 0.5 + shift) },
  });
  writeModel(join(dir, "base"), tensors(6, H, 0));
  writeModel(join(dir, "big"), tensors(8, H, 1));
  writeModel(join(dir, "odd"), tensors(6, H + 1, 2));

  it("cuts larger embeddings to the base's rows and skips other mismatched tensors with a warning", async () => {
    const out = join(dir, "out");
    const r = await runMerge(`merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: big\n    parameters: {weight: 1}\n  - model: odd\n    parameters: {weight: 1}\n`, dir, out);
    const got = readTensors(out);
    expect(got.get("model.embed_tokens.weight")!.shape).toEqual([6, H]);
    // embed: base + (big - base) + (odd - base) = big + odd - base, on the first 6 rows
    const emb = values(got.get("model.embed_tokens.weight")!);
    for (let i = 0; i < 6 * H; i++) expect(emb[i]).toBe(i * 0.25 + 1 + i * 0.25 + 2 - i * 0.25);
    // up_proj: odd's [2, 5] is skipped, so the result is big's
    expect([...values(got.get("model.layers.0.mlp.up_proj.weight")!)]).toEqual(seq(2 * H, (i) => i - 1));
    expect(r.warnings.some((w) => w.includes("skipping model odd") && w.includes("model.layers.0.mlp.up_proj.weight"))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).vocab_size).toBe(6);
  });
});

describe("task-arithmetic family: mixed input dtypes without dtype:", () => {
  it("works in the base model's dtype, as MergeKit casts every model to the base dtype", async () => {
    const { buildPlan } = await import("../../src/plan/build-plan.ts");
    const { parseMergeConfig } = await import("../../src/config/parse-config.ts");
    const { fsResolver } = await import("../../runtimes/node/fs-model.ts");
    const { makeModels } = await import("../merge/harness.ts");
    const fx = makeModels({ base: { variant: "base", dtype: "fp16" }, ft: { variant: "ft_dense", dtype: "bf16" } });
    const yaml = `merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: ft\n    parameters: {weight: 0.5}\n`;
    const plan = await buildPlan(parseMergeConfig(yaml), { resolveModel: fsResolver(fx.root) });
    expect(new Set(plan.tensors.map((t) => t.workingDtype))).toEqual(new Set(["F16"]));
    const linear = await buildPlan(parseMergeConfig(yaml.replace("task_arithmetic", "linear").replace("base_model: base\n", "")), { resolveModel: fsResolver(fx.root) });
    expect(new Set(linear.tensors.map((t) => t.workingDtype))).toEqual(new Set(["BF16"]));
  });
});
