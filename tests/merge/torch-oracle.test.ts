// Optional: the merged tensors recomputed by real torch (MergeKit's own arithmetic), for the
// dtypes the golden vectors do not cover. Runs when AMALGAM_TORCH_PYTHON names a python with
// torch and safetensors; skipped otherwise (CI has no torch).
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { referenceMerge } from "../helpers/torch-reference.ts";
import type { RefTrace } from "../helpers/torch-reference.ts";
import { makeModels } from "./harness.ts";

const PYTHON = process.env["AMALGAM_TORCH_PYTHON"];
const ORACLE = join(import.meta.dirname, "..", "fixtures", "torch-oracle.py");
const NAMES = { bf16: "bfloat16", fp16: "float16", fp32: "float32" } as const;
const DT = ["bf16", "fp16", "fp32"] as const;
const arch = { layers: 3, hidden: 21, intermediate: 37, heads: 3, kvHeads: 1, vocab: 37 };

describe.skipIf(!PYTHON)("torch recomputes what Amalgam wrote", () => {
  const fx = makeModels({
    b16: { variant: "ft_dense", arch, dtype: "bf16" },
    b16r: { variant: "ft_rows", arch, dtype: "bf16" },
    f16: { variant: "ft_sparse", arch, dtype: "fp16" },
    f16r: { variant: "ft_rows", arch, dtype: "fp16" },
    f32: { variant: "ft_rows", arch, dtype: "fp32" },
    f32d: { variant: "ft_dense", arch, dtype: "fp32" },
  });
  const configs: string[] = [];
  const pairs = [["b16", "b16r"], ["f16", "f16r"], ["f32", "f32d"], ["b16", "f16"], ["f16", "f32"], ["b16", "f16", "f32"]];
  for (const models of pairs) {
    for (const dtype of [undefined, ...DT]) {
      for (const out of [undefined, ...DT]) {
        const head = `${dtype ? `dtype: ${NAMES[dtype]}\n` : ""}${out ? `out_dtype: ${NAMES[out]}\n` : ""}`;
        const list = models.map((m, i) => `  - model: ${m}\n    parameters: {weight: [${0.3 + 0.2 * i}, ${0.7 - 0.15 * i}]}\n`).join("");
        configs.push(`${head}merge_method: linear\nmodels:\n${list}`);
        configs.push(`${head}merge_method: linear\nparameters: {normalize: false}\nmodels:\n${list}`);
      }
    }
  }
  for (const m of ["b16", "f16", "f32"]) {
    for (const dtype of [undefined, ...DT]) {
      configs.push(`${dtype ? `dtype: ${NAMES[dtype]}\n` : ""}merge_method: passthrough\nslices:\n  - sources:\n      - model: ${m}\n        layer_range: [0, 3]\n        parameters: {scale: [0.3, 1.7]}\n`);
    }
  }

  it(`${configs.length} configs over bf16/fp16/fp32 inputs, dtype and out_dtype`, async () => {
    const jobs: { out: string; tensors: RefTrace[]; label: string }[] = [];
    for (const yaml of configs) {
      const out = join(tempDir(), "m");
      await runMerge(yaml, fx.root, out);
      const tensors: RefTrace[] = [];
      referenceMerge(yaml, (p) => fx.models.get(p)!, (t) => tensors.push(t));
      jobs.push({ out, tensors, label: yaml.replace(/\n/g, " | ") });
    }
    const job = join(tempDir(), "job.json");
    writeFileSync(job, JSON.stringify({ root: fx.root, jobs }));
    const r = spawnSync(PYTHON!, [ORACLE, job], { encoding: "utf8" });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  }, 300_000);
});
