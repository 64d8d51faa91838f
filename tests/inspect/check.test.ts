// check: the shipped examples pass; broken merges list every problem with a fix and fail; the
// memory estimate is what merge then reports; tokenizer differences name the tokens.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { testKernels } from "../helpers/kernels.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { nodeThreadPool } from "../../runtimes/node/thread-pool.ts";
import { Kernels } from "../../src/kernels/kernels.ts";
import { checkMerge } from "../../src/inspect/check-merge.ts";
import type { CheckReport } from "../../src/inspect/check-merge.ts";
import { cli } from "./cli-host.ts";
import { derivedModel, EXAMPLES, grownRows, ROOT } from "./fixtures.ts";

async function check(yaml: string, opts: { threads?: number; workers?: boolean; kernels?: Kernels; memoryBudget?: number } = {}): Promise<CheckReport> {
  return checkMerge(yaml, "test.yml", {
    resolveModel: fsResolver(ROOT), kernels: opts.kernels ?? (await testKernels()), threads: opts.threads ?? 1, workers: opts.workers ?? false, now: () => performance.now(),
    ...(opts.memoryBudget ? { memoryBudget: opts.memoryBudget } : {}),
  });
}

const linear = (a: string, b: string, extra = "") => `merge_method: linear\nmodels:\n  - model: ${a}\n    parameters: {weight: 0.5}\n  - model: ${b}\n    parameters: {weight: 0.5}\n${extra}`;

describe("amalgam check", () => {
  it("passes the shipped examples with exit code 0, a plan, an estimate and identical tokenizers", async () => {
    for (const ex of ["linear", "linear-gradient", "frankenmerge"]) {
      const r = await cli(["check", join("examples", `${ex}.yml`), "--threads", "1"]);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toMatch(/the merge would succeed/);
      expect(r.stdout).toMatch(/time\s+about/);
      const report = (await cli(["check", join("examples", `${ex}.yml`), "--json"])).result<CheckReport>();
      expect(report.ok).toBe(true);
      expect(report.problems).toEqual([]);
      expect(report.plan!.shards.length).toBe(1);
      expect(report.tokenizers.every((t) => t.compared && t.identical)).toBe(true);
      expect(report.time!.seconds).toBeGreaterThan(0);
    }
  });

  it("estimates exactly the kernel memory merge then uses (single thread and 2 worker threads)", async () => {
    for (const ex of ["linear", "linear-gradient", "frankenmerge"]) {
      const yaml = readFileSync(join(ROOT, "examples", `${ex}.yml`), "utf8");
      const one = await check(yaml, { kernels: await Kernels.instantiate(await loadKernelModule(false)) });
      const merged1 = await runMerge(yaml, ROOT, join(tempDir(), ex));
      expect(one.memory!.kernelBytes, ex).toBe(merged1.peakKernelBytes);
      const two = await check(yaml, { threads: 2, workers: true, kernels: await Kernels.instantiate(await loadKernelModule(true)) });
      const merged2 = await runMerge(yaml, ROOT, join(tempDir(), ex), { kernels: await loadKernelModule(true), threadPool: nodeThreadPool, threadCount: 2 });
      expect(two.memory!.kernelBytes, `${ex} threads`).toBe(merged2.peakKernelBytes);
      expect(two.memory!.processBytes).toBeGreaterThan(two.memory!.kernelBytes);
    }
  });

  it("estimates a streamed method's memory from its tiles, cache and statistics, close to what merge uses", async () => {
    // ties under small budgets streams the larger tensors in passes; the estimate counts the
    // statistics allowance (a sixteenth of the budget) that the method may or may not fill, but not
    // the temporaries of the small tensors merged whole (the 256 KiB selection scratch here)
    const yaml = `merge_method: ties\nbase_model: examples/models/base\nmodels:\n${["ft_dense", "ft_sparse", "ft_rows"].map((m) => `  - model: examples/models/${m}\n    parameters: {weight: 0.4, density: 0.5}\n`).join("")}dtype: bfloat16\n`;
    for (const memoryBudget of [200_000, 600_000]) {
      for (const threads of [1, 2]) {
        const workers = threads > 1;
        const est = (await check(yaml, { threads, workers, memoryBudget, kernels: await Kernels.instantiate(await loadKernelModule(workers)) })).memory!;
        const merged = await runMerge(yaml, ROOT, join(tempDir(), "ties"), { memoryBudget, ...(workers ? { kernels: await loadKernelModule(true), threadPool: nodeThreadPool, threadCount: 2 } : {}) });
        const what = `budget ${memoryBudget}, ${threads} thread(s)`;
        expect(est.streamedTensors, what).toBeGreaterThan(0);
        expect(est.exact, what).toBe(false);
        expect(Math.abs(est.kernelBytes - merged.peakKernelBytes), what).toBeLessThanOrEqual(memoryBudget / 4 + 512 * 1024);
        expect(est.processBytes, what).toBeGreaterThan(est.kernelBytes / 2);
      }
    }
  });

  it("times a streamed method through its streamed path and gives the kernels back as they were", async () => {
    const yaml = `merge_method: ties\nbase_model: examples/models/base\nmodels:\n${["ft_dense", "ft_sparse", "ft_rows"].map((m) => `  - model: examples/models/${m}\n    parameters: {weight: 0.4, density: 0.5}\n`).join("")}dtype: bfloat16\n`;
    const k = await Kernels.instantiate(await loadKernelModule(false));
    const heapStart = k.heapStart;
    const r = await check(yaml, { kernels: k, memoryBudget: 200_000 });
    expect(r.memory!.streamedTensors).toBeGreaterThan(0);
    expect(r.time!.mergeSeconds).toBeGreaterThan(0);
    expect(Number.isFinite(r.time!.seconds)).toBe(true);
    expect(k.heapStart).toBe(heapStart);
    // the same kernels then merge as fresh ones do
    const out = (dir: string) => readFileSync(join(dir, "model.safetensors"));
    const a = join(tempDir(), "a");
    const b = join(tempDir(), "b");
    await runMerge(yaml, ROOT, a, { kernels: k, memoryBudget: 200_000 });
    await runMerge(yaml, ROOT, b, { memoryBudget: 200_000 });
    expect(out(a).equals(out(b))).toBe(true);
  });

  it("lists every missing tensor of every model, with the fix, and fails", async () => {
    const a = derivedModel("ft_dense", (t) => { t.delete("model.layers.1.mlp.up_proj.weight"); });
    const b = derivedModel("ft_rows", (t) => { for (const n of ["model.layers.0.self_attn.q_proj.weight", "model.layers.2.self_attn.q_proj.weight", "model.norm.weight"]) t.delete(n); });
    const r = await check(linear(a, b));
    expect(r.ok).toBe(false);
    const missing = r.problems.filter((p) => p.code === "E_TENSOR_MISSING");
    expect(missing.map((p) => p.message)).toEqual([
      expect.stringMatching(/ft_rows lacks 3 tensors the merge needs: "model\.layers\.0\.self_attn\.q_proj\.weight", "model\.layers\.2\.self_attn\.q_proj\.weight", "model\.norm\.weight"$/),
    ]);
    // the first source decides a layer's tensors: what only the others have is left out, with a warning
    expect(r.warnings.join("\n")).toMatch(/ft_rows has 1 layer tensor the output will not contain.*layers\.1\.mlp\.up_proj/);
    expect(missing.every((p) => /same architecture/.test(p.fix))).toBe(true);
    expect(r.plan).toBeNull();
    const c = await cli(["check", join(tempDir(), "x.yml")]);
    expect(c.code).toBe(1);
  });

  it("reports shape mismatches (all of them) and non-float tensors", async () => {
    const b = derivedModel("ft_rows", (t) => {
      for (const l of [0, 1]) {
        const q = t.get(`model.layers.${l}.self_attn.q_proj.weight`)!;
        t.set(`model.layers.${l}.self_attn.q_proj.weight`, { dtype: q.dtype, shape: [32, 128], raw: q.raw });
      }
      t.set("model.layers.3.self_attn.rotary.inv_freq", { dtype: "I64", shape: [1], raw: new Uint8Array(8) });
    });
    const a = derivedModel("ft_dense", (t) => t.set("model.layers.3.self_attn.rotary.inv_freq", { dtype: "I64", shape: [1], raw: new Uint8Array(8) }));
    const r = await check(linear(a, b));
    expect(r.ok).toBe(false);
    const shape = r.problems.find((p) => p.code === "E_SHAPE")!;
    expect(shape.message).toMatch(/^2 tensors have different shapes: "model\.layers\.0\.self_attn\.q_proj\.weight": .*\[64, 64\].*\[32, 128\]/);
    expect(shape.fix).toMatch(/same size/);
    expect(r.problems.find((p) => p.code === "E_DTYPE")!.message).toMatch(/rotary\.inv_freq" is I64/);
  });

  it("names the tokens that differ and the vocabulary sizes, and still passes (the embeddings are cut)", async () => {
    const b = derivedModel("ft_rows", (t) => {
      t.set("model.embed_tokens.weight", grownRows(t.get("model.embed_tokens.weight")!, 8));
      t.set("lm_head.weight", grownRows(t.get("lm_head.weight")!, 8));
    }, {
      config: (c) => { c["vocab_size"] = 264; },
      tokenizer: (tok) => {
        const v = tok.model.vocab;
        delete v["<0x10>"];
        v["hello"] = 16;
        for (let i = 256; i < 264; i++) v[`<new${i}>`] = i;
      },
    });
    const r = await check(linear("examples/models/ft_dense", b));
    expect(r.ok, JSON.stringify(r.problems)).toBe(true);
    const tc = r.tokenizers[0]!;
    expect(tc).toMatchObject({ compared: true, identical: false, differing: 1, onlyA: 0, onlyB: 8 });
    expect(tc.examples[0]).toEqual({ id: 16, a: "<0x10>", b: "hello" });
    expect(r.warnings.join("\n")).toMatch(/tokenizers differ .*id 16: "<0x10>" vs "hello"/);
    expect(r.warnings.join("\n")).toMatch(/vocabulary sizes differ .*256.*264/);
    expect(r.models.map((m) => m.embedRows)).toEqual([256, 264]);
  });

  it("reports config errors, missing models, layer ranges and missing parameters with fixes", async () => {
    const bad = await check("merge_method: linear\nmodels: 3\n");
    expect(bad.problems[0]).toMatchObject({ code: "E_CONFIG_TYPE" });
    expect(bad.problems[0]!.message).toMatch(/line 2/);
    const missing = await check(linear("examples/models/ft_dense", "examples/models/nope"));
    expect(missing.problems.map((p) => p.code)).toEqual(["E_MODEL_NOT_FOUND"]);
    expect(missing.models[1]!.loaded).toBe(false);
    const range = await check("merge_method: passthrough\nslices:\n  - sources:\n      - model: examples/models/ft_dense\n        layer_range: [2, 7]\n");
    expect(range.problems[0]!.message).toMatch(/\[2, 7\] exceeds the 4 layers/);
    const noWeight = await check("merge_method: linear\nmodels:\n  - model: examples/models/ft_dense\n    parameters: {weight: 1}\n  - model: examples/models/ft_rows\n");
    expect(noWeight.problems[0]).toMatchObject({ code: "E_CONFIG", fix: expect.stringMatching(/top-level parameters/) });
    const method = await check("merge_method: lineer\nmodels:\n  - model: examples/models/ft_dense\n");
    expect(method.problems[0]).toMatchObject({ code: "E_UNKNOWN_METHOD" });
  });

  it("writes its text with problems and fixes, exit code 1", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "c.yml"), linear("examples/models/ft_dense", "examples/models/nope"));
    const r = await cli(["check", join(dir, "c.yml")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/the merge would fail \(1 problem\)/);
    expect(r.stdout).toMatch(/1\. \[E_MODEL_NOT_FOUND\].*\n\s+fix: check the model path/);
  });
});
