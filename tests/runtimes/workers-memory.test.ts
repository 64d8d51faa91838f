// The Worker merges a GPT-2-small-sized model (124M parameters, bf16, 249 MB per input) within a
// production isolate's 128 MB, which local workerd does not enforce, so the test does: the Worker
// reports its wasm memory (`memory.buffer.byteLength`), and the test samples the isolate's JS heap
// through the V8 inspector (Runtime.getHeapUsage) while the merge runs. The bytes are checked
// against the Node host's merge of the same config.
import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { Miniflare } from "miniflare";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { R2BucketLike } from "../../runtimes/workers/r2-types.ts";
import { bundleWorkers } from "../../scripts/bundle-workers.js";
import { GPT2_SMALL, gpt2Parameters, writeGpt2Model } from "../fixtures/gpt2-model.ts";
import { startRangeServer } from "../helpers/range-server.ts";
import type { RangeServer } from "../helpers/range-server.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";

/** Production Workers: JS heap and wasm memory together. */
const ISOLATE_LIMIT = 128 * 1024 * 1024;
/** What the Worker's wasm memory may reach (leaves 32 MiB of the isolate for the JS heap). */
const WASM_LIMIT = 96 * 1024 * 1024;
const PART = 8 * 1024 * 1024;

interface HeapSample { usedSize: number; totalSize: number; embedderHeapUsedSize?: number; backingStorageSize?: number }

/** Samples the user Worker's V8 heap every `ms` over the inspector until stopped. */
async function heapSampler(mf: Miniflare, ms = 100) {
  const url = await mf.getInspectorURL();
  const list = (await (await fetch(new URL("/json/list", url.href.replace(/^ws/, "http")))).json()) as { id: string; webSocketDebuggerUrl: string }[];
  const target = list.find((t) => t.id === "core:user:");
  if (!target) throw new Error(`no user Worker among inspector targets ${list.map((t) => t.id).join(", ")}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((res, rej) => { ws.once("open", res); ws.once("error", rej); });
  const samples: HeapSample[] = [];
  let id = 0;
  ws.on("message", (d) => {
    const m = JSON.parse(String(d)) as { result?: HeapSample };
    if (m.result && typeof m.result.usedSize === "number") samples.push(m.result);
  });
  const timer = setInterval(() => ws.send(JSON.stringify({ id: ++id, method: "Runtime.getHeapUsage" })), ms);
  return {
    samples,
    async stop() {
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 50));
      ws.close();
    },
  };
}

/** The ETag R2 (like S3) gives a multipart object: md5 of the parts' md5s, then "-<parts>". */
function multipartEtag(bytes: Uint8Array, part: number): string {
  const sums: Buffer[] = [];
  for (let off = 0; off < bytes.length; off += part) sums.push(createHash("md5").update(bytes.subarray(off, off + part)).digest());
  return `${createHash("md5").update(Buffer.concat(sums)).digest("hex")}-${sums.length}`;
}

let dir: string;
let server: RangeServer;
let mf: Miniflare;
let yaml: string;
let expected: Buffer;

beforeAll(async () => {
  dir = tempDir("amalgam-gpt2-");
  const t0 = Date.now();
  writeGpt2Model(join(dir, "a"), 1);
  writeGpt2Model(join(dir, "b"), 2);
  const config = (a: string, b: string) => `merge_method: linear\nmodels:\n  - model: ${a}\n    parameters: {weight: 0.7}\n  - model: ${b}\n    parameters: {weight: 0.3}\n`;
  await runMerge(config("a", "b"), dir, join(dir, "node-out"));
  expected = readFileSync(join(dir, "node-out", "model.safetensors"));
  console.log(`generated 2 x ${gpt2Parameters(GPT2_SMALL)} parameters and merged them on Node in ${Date.now() - t0} ms`);
  server = await startRangeServer(dir);
  yaml = config(`${server.url}/a`, `${server.url}/b`);
  const { script } = await bundleWorkers({ quiet: true });
  mf = new Miniflare({
    modules: true, scriptPath: script, modulesRoot: dirname(script),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2025-09-01", compatibilityFlags: ["enable_request_signal"], r2Buckets: ["OUT"], inspectorPort: 0,
  });
  await mf.ready;
}, 240_000);

afterAll(async () => {
  await mf?.dispose();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Logs the numbers and returns the isolate's largest footprint: V8's reserved heap plus the array
 * buffers' backing stores, which include the wasm memory (checked: after a merge of 1.18 MB wasm
 * memory, backingStorageSize was 1.20 MB).
 */
function report(what: string, ms: number, wasm: number, heap: HeapSample[]): number {
  const max = (f: (s: HeapSample) => number) => Math.max(0, ...heap.map(f));
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  const total = max((s) => s.totalSize + (s.backingStorageSize ?? 0));
  console.log(`${what}: ${ms} ms; wasm memory ${mb(wasm)} MiB; JS heap used ≤ ${mb(max((s) => s.usedSize))} MiB, reserved ≤ ${mb(max((s) => s.totalSize))} MiB; ` +
    `array buffers incl. wasm ≤ ${mb(max((s) => s.backingStorageSize ?? 0))} MiB; isolate total ≤ ${mb(total)} MiB (${heap.length} samples)`);
  return total;
}

describe("Worker memory on a GPT-2-small-sized merge (124M parameters, bf16)", () => {
  it("streams the merge back: wasm memory ≤ 96 MiB, JS heap + array buffers ≤ 128 MiB, bytes equal Node's", async () => {
    const sampler = await heapSampler(mf);
    const requests = server.stats.requests;
    const t0 = Date.now();
    const res = await mf.dispatchFetch("http://worker/merge", { method: "POST", body: yaml });
    expect(res.status).toBe(200);
    const got = Buffer.from(await res.arrayBuffer());
    const ms = Date.now() - t0;
    await sampler.stop();
    const stats = (await (await mf.dispatchFetch("http://worker/stats")).json()) as { peakWasmMemoryBytes: number };
    const isolate = report("streamed", ms, stats.peakWasmMemoryBytes, sampler.samples);
    console.log(`HTTP requests to the model server: ${server.stats.requests - requests}`);
    expect(got.length).toBe(expected.length);
    expect(got.equals(expected)).toBe(true);
    expect(sampler.samples.length).toBeGreaterThan(10);
    expect(stats.peakWasmMemoryBytes).toBeLessThanOrEqual(WASM_LIMIT);
    expect(isolate).toBeGreaterThan(stats.peakWasmMemoryBytes);
    expect(isolate).toBeLessThanOrEqual(ISOLATE_LIMIT);
  });

  it("writes the merge to R2 in 8 MiB parts: wasm memory ≤ 96 MiB, JS heap + array buffers ≤ 128 MiB, bytes equal Node's", async () => {
    const sampler = await heapSampler(mf);
    const t0 = Date.now();
    const res = await mf.dispatchFetch("http://worker/merge?out=r2://OUT/gpt2-linear", { method: "POST", body: yaml });
    const body = (await res.json()) as { keys: string[]; wasmMemoryBytes: number; peakKernelBytes: number };
    const ms = Date.now() - t0;
    await sampler.stop();
    expect(res.status, JSON.stringify(body)).toBe(200);
    const isolate = report("to R2", ms, body.wasmMemoryBytes, sampler.samples);
    expect(body.keys).toEqual(["gpt2-linear/model.safetensors", "gpt2-linear/config.json", "gpt2-linear/README.md", "gpt2-linear/mergekit_config.yml"]);
    const bucket = (await mf.getR2Bucket("OUT")) as unknown as R2BucketLike;
    const head = await bucket.head("gpt2-linear/model.safetensors");
    expect(head?.size).toBe(expected.length);
    // the object's multipart ETag covers every byte of every part (a 249 MB read-back would take 20 s)
    expect(head?.etag).toBe(multipartEtag(expected, PART));
    expect(body.wasmMemoryBytes).toBeLessThanOrEqual(WASM_LIMIT);
    expect(body.peakKernelBytes).toBeLessThanOrEqual(WASM_LIMIT);
    expect(isolate).toBeGreaterThan(body.wasmMemoryBytes);
    expect(isolate).toBeLessThanOrEqual(ISOLATE_LIMIT);
  });
});
