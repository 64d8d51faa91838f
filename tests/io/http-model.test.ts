// Models served over HTTP: only the needed byte ranges travel, and the bytes match local merges.
import { readFileSync, statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { merge } from "../../src/executor/merge.ts";
import { httpResolver } from "../../src/io/http-model.ts";
import { FsOutputSink } from "../../runtimes/node/fs-sink.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { GOLDEN, tempDir } from "../helpers/run-merge.ts";
import { startRangeServer } from "../helpers/range-server.ts";
import type { RangeServer } from "../helpers/range-server.ts";

let server: RangeServer;
beforeAll(async () => { server = await startRangeServer(join(GOLDEN, "models")); });
afterAll(async () => { await server.close(); });

async function mergeRemote(yaml: string, out: string, opts: { endpoint?: string } = {}) {
  return merge(parseMergeConfig(yaml, "remote.yml"), {
    resolveModel: httpResolver({ maxConnections: 3, ...opts }),
    sink: await FsOutputSink.create(out),
    kernels: await loadKernelModule(),
    outputName: "linear",
  });
}

describe("remote models over HTTP Range", () => {
  it("a linear merge of URL models equals MergeKit's output", async () => {
    const yaml = readFileSync(join(GOLDEN, "configs", "linear.yml"), "utf8").replaceAll("models/tiny-bf16/", `${server.url}/tiny-bf16/`);
    const out = join(tempDir(), "linear");
    await mergeRemote(yaml, out);
    expect(readFileSync(join(out, "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference", "linear", "model.safetensors")))).toBe(true);
  });

  it("a frankenmerge of half the layers fetches about half the bytes, never whole files", async () => {
    const before = server.stats.bytes;
    const yaml = `merge_method: passthrough\nslices:\n  - sources:\n      - model: ${server.url}/tiny-bf16/ft_dense\n        layer_range: [0, 2]\n`;
    const out = join(tempDir(), "half");
    await mergeRemote(yaml, out);
    const sent = server.stats.bytes - before;
    const dir = join(GOLDEN, "models", "tiny-bf16", "ft_dense");
    const modelBytes = statSync(join(dir, "model.safetensors")).size;
    const sideBytes = readdirSync(dir).filter((f) => !f.endsWith(".safetensors")).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
    const outBytes = statSync(join(out, "model.safetensors")).size; // what the merge needed (same dtype)
    const tensorBytes = sent - sideBytes;
    expect(tensorBytes).toBeLessThan(0.65 * modelBytes);
    expect(tensorBytes).toBeGreaterThanOrEqual(outBytes - 8 * 1024); // the header differs in size
    expect(server.stats.ranges.some((r) => r.endsWith(`0-${modelBytes - 1}`))).toBe(false);
  });

  it("resolves org/name@revision against an endpoint", async () => {
    const yaml = `merge_method: passthrough\nmodels:\n  - model: tiny-bf16/ft_rows@v1.0\n`;
    const out = join(tempDir(), "hub");
    await mergeRemote(yaml, out, { endpoint: `${server.url}/hub` });
    expect(server.stats.revisions).toContain("v1.0");
    const local = readFileSync(join(GOLDEN, "models", "tiny-bf16", "ft_rows", "model.safetensors"));
    expect(readFileSync(join(out, "model.safetensors")).equals(local)).toBe(true); // passthrough of one model is the model
  });

  it("a missing remote model gives E_MODEL_NOT_FOUND naming the file", async () => {
    const yaml = `merge_method: passthrough\nmodels:\n  - model: ${server.url}/nope\n`;
    await expect(mergeRemote(yaml, join(tempDir(), "x"))).rejects.toThrow(/nope.*config\.json/);
  });
});
