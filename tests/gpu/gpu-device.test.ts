// --device choices without a GPU (Node has no navigator.gpu): gpu is an error naming the fix, auto
// falls back to the CPU without creating a device, and the CLI parses MergeKit's torch names.
import { describe, expect, it } from "vitest";
import { isAmalgamError } from "../../src/errors.ts";
import { GpuMerger } from "../../src/gpu/gpu-merge.ts";
import type { GpuAdapterLike, GpuLike } from "../../src/gpu/webgpu-types.ts";
import { runGolden } from "../helpers/run-merge.ts";
import { readTensors, maxUlp } from "../helpers/safetensors-read.ts";
import { join } from "node:path";
import { GOLDEN } from "../helpers/run-merge.ts";

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
