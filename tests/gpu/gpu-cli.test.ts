// `amalgam merge --device gpu` under Deno (lavapipe in CI) writes MergeKit's golden bytes for
// linear, ties, breadcrumbs_ties and slerp with every tensor on the GPU, and for the random methods
// (dare_ties, della) the same bytes as --device cpu; every other golden config writes the CPU
// path's bytes (on the GPU or declined to the CPU); --device auto keeps a CPU (fallback) adapter out.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { GOLDEN, runGolden, tempDir } from "../helpers/run-merge.ts";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "..", "..");
const DENO = join(ROOT, "node_modules", ".bin", "deno");
const env = { ...process.env, NO_COLOR: "1", XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), "amalgam-xdg-")) };

async function denoMerge(name: string, device: string, extra: readonly string[] = []): Promise<{ out: string; stderr: string }> {
  const out = join(tempDir(), name);
  const r = await run(DENO, ["run", "-A", join(ROOT, "runtimes", "deno", "cli.ts"), "merge", `configs/${name}.yml`, out, "--device", device, "-v", ...extra], { cwd: GOLDEN, env });
  return { out, stderr: r.stderr };
}

/** Every golden config not checked one by one below. */
const OTHERS = readdirSync(join(GOLDEN, "configs")).map((f) => f.replace(/\.yml$/, ""))
  .filter((n) => !["linear", "ties", "breadcrumbs_ties", "slerp", "dare_ties", "della", "sce"].includes(n)).sort();

describe("amalgam merge --device under Deno", () => {
  for (const [name, reference] of [["linear", "reference"], ["ties", "reference-stable"], ["breadcrumbs_ties", "reference-stable"], ["slerp", "reference"]] as const) {
    it(`--device gpu: ${name} equals MergeKit's golden output byte for byte, every tensor on the GPU`, async () => {
      const { out, stderr } = await denoMerge(name, "gpu");
      expect(stderr).toMatch(/gpu: .*: 39 tensor\(s\) on the GPU, 0 redone on the CPU/);
      expect(readFileSync(join(out, "model.safetensors")).equals(readFileSync(join(GOLDEN, reference, name, "model.safetensors")))).toBe(true);
    });
  }

  for (const name of ["dare_ties", "della"]) {
    it(`--device gpu: ${name} (random draws) writes the same bytes as --device cpu, every tensor on the GPU`, async () => {
      const gpu = await denoMerge(name, "gpu");
      const cpu = await denoMerge(name, "cpu");
      expect(gpu.stderr).toMatch(/gpu: .*: 39 tensor\(s\) on the GPU, 0 redone on the CPU/);
      expect(readFileSync(join(gpu.out, "model.safetensors")).equals(readFileSync(join(cpu.out, "model.safetensors")))).toBe(true);
    });
  }

  it(`--device gpu: every other golden config (${OTHERS.length}) writes the CPU path's bytes, on the GPU where the method has kernels`, async () => {
    const onGpu: string[] = [];
    for (const name of OTHERS) {
      const seed = /oracle-args:.*--random-seed (\d+)/.exec(readFileSync(join(GOLDEN, "configs", `${name}.yml`), "utf8"))?.[1];
      const gpu = await denoMerge(name, "gpu", seed ? ["--random-seed", seed] : []);
      const cpu = await runGolden(name);
      expect(readFileSync(join(gpu.out, "model.safetensors")).equals(readFileSync(join(cpu.out, "model.safetensors"))), name).toBe(true);
      expect(gpu.stderr, name).toMatch(/gpu: .*: (0|39) tensor\(s\) on the GPU, 0 redone on the CPU/);
      if (/: 39 tensor/.test(gpu.stderr)) onGpu.push(name);
    }
    expect(onGpu).toEqual(["breadcrumbs", "dare_linear", "della_linear", "task_arithmetic"]);
  });

  it("--device gpu: sce with select_topk < 1 stays on the CPU (float64 variance) and writes MergeKit's golden bytes", async () => {
    const { out, stderr } = await denoMerge("sce", "gpu");
    expect(stderr).toMatch(/gpu: .*: 0 tensor\(s\) on the GPU, 0 redone on the CPU/);
    expect(readFileSync(join(out, "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference-stable", "sce", "model.safetensors")))).toBe(true);
  });

  it("--device auto leaves a fallback (CPU) adapter alone and gives the same bytes", async () => {
    const { out, stderr } = await denoMerge("ties", "auto");
    expect(stderr).not.toMatch(/tensor\(s\) on the GPU/);
    expect(readFileSync(join(out, "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference-stable", "ties", "model.safetensors")))).toBe(true);
  });
});
