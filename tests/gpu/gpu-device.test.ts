// --device choices without a GPU (Node has no navigator.gpu): gpu is an error naming the fix, auto
// falls back to the CPU without creating a device, and the CLI parses MergeKit's torch names.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.ts";
import { isAmalgamError } from "../../src/errors.ts";
import { GPU_METHODS, GpuMerger } from "../../src/gpu/gpu-merge.ts";
import type { GpuAdapterLike, GpuLike } from "../../src/gpu/webgpu-types.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { nodeCliHost } from "../../runtimes/node/cli.ts";
import { GOLDEN, runGolden, tempDir } from "../helpers/run-merge.ts";
import { maxUlp, readTensors } from "../helpers/safetensors-read.ts";

async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  const host = nodeCliHost({
    resolveModel: fsResolver(GOLDEN), readTextFile: async (p) => readFileSync(join(GOLDEN, p), "utf8"),
    stdout: () => {}, stderr: (t) => { stderr += t; }, stderrIsTTY: false, defaultThreads: 1,
  });
  return { code: await runCli(args, host), stderr };
}

function fakeGpu(adapter: GpuAdapterLike | null): GpuLike & { deviceRequests: number } {
  const gpu = { deviceRequests: 0, requestAdapter: async () => adapter };
  return gpu;
}

function fallbackAdapter(counter: { deviceRequests: number }): GpuAdapterLike {
  return {
    info: { description: "a CPU adapter", isFallbackAdapter: true },
    limits: { maxStorageBufferBindingSize: 1 << 27, maxBufferSize: 1 << 28, maxComputeWorkgroupsPerDimension: 65535, minUniformBufferOffsetAlignment: 256, maxStorageBuffersPerShaderStage: 8 },
    requestDevice: async () => { counter.deviceRequests++; throw new Error("no device in this test"); },
  };
}

describe("--device without a usable GPU", () => {
  it("cpu opens nothing", async () => {
    expect(await GpuMerger.open({ device: "cpu" })).toBeUndefined();
  });

  it("gpu without navigator.gpu is E_GPU naming Deno and --device cpu", async () => {
    const err = await GpuMerger.open({ device: "gpu" }).catch((e: unknown) => e);
    expect(isAmalgamError(err) && err.code).toBe("E_GPU");
    expect(String(err)).toMatch(/navigator\.gpu.*Deno.*--device cpu/);
  });

  it("gpu without an adapter is E_GPU; auto quietly uses the CPU", async () => {
    const err = await GpuMerger.open({ device: "gpu", gpu: fakeGpu(null) }).catch((e: unknown) => e);
    expect(isAmalgamError(err) && err.code).toBe("E_GPU");
    expect(await GpuMerger.open({ device: "auto", gpu: fakeGpu(null) })).toBeUndefined();
  });

  it("auto skips a fallback adapter without asking for a device", async () => {
    const counter = { deviceRequests: 0 };
    expect(await GpuMerger.open({ device: "auto", gpu: fakeGpu(fallbackAdapter(counter)) })).toBeUndefined();
    expect(counter.deviceRequests).toBe(0);
  });

  it("a merge with --device auto and no GPU gives the CPU's bytes", async () => {
    const { out } = await runGolden("ties", { device: "auto" });
    const ref = readTensors(join(GOLDEN, "reference-stable", "ties"));
    const got = readTensors(out);
    for (const [name, r] of ref) expect(maxUlp(got.get(name)!, r), name).toBe(0);
  });
});

describe("--device on the command line", () => {
  it("rejects an unknown device with E_ARGS", async () => {
    const r = await cli(["merge", "configs/ties.yml", join(tempDir(), "o"), "--device", "tpu"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[E_ARGS\]: --device: expected cpu, gpu or auto, got "tpu"/);
  });

  it("takes MergeKit's torch device names as auto, with a note", async () => {
    const out = join(tempDir(), "o");
    const r = await cli(["merge", "configs/ties.yml", out, "--device", "cuda:0", "--quiet"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/--device cuda:0 is a torch device; .* --device auto/);
    expect(readFileSync(join(out, "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference-stable", "ties", "model.safetensors")))).toBe(true);
  });

  it("--device gpu under Node (no navigator.gpu) fails with E_GPU and exit code 1", async () => {
    const r = await cli(["merge", "configs/linear.yml", join(tempDir(), "o"), "--device", "gpu"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[E_GPU\]/);
  });
});

describe("--device auto policy (measured, docs/gpu.md)", () => {
  it("keeps the elementwise methods on the CPU and sends large selecting ones to the GPU", () => {
    expect(GPU_METHODS["linear"]!.autoMinElements).toBe(Infinity);
    expect(GPU_METHODS["task_arithmetic"]!.autoMinElements).toBe(Infinity);
    expect(GPU_METHODS["ties"]!.autoMinElements).toBeLessThan(2048 * 5632);
    expect(GPU_METHODS["ties"]!.autoMinElements).toBeGreaterThan(2048);
  });
});
