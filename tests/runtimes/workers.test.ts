// The Cloudflare Worker (runtimes/workers, bundled by scripts/bundle-workers.js) run for real in
// workerd through miniflare: models over HTTP Range from the local range server or from R2, output
// streamed back or written to R2 in MergeKit's layout, bytes compared with MergeKit's golden
// outputs and with the Node host.
import { createServer } from "node:http";
import type { Server } from "node:http";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kernelStats, withIsolateKernels } from "../../runtimes/workers/isolate-kernels.ts";
import type { R2BucketLike } from "../../runtimes/workers/r2-types.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { defaultResolver } from "../../runtimes/node/fs-model.ts";
import { bundleWorkers } from "../../scripts/bundle-workers.js";
import { GOLDEN, runMerge, tempDir } from "../helpers/run-merge.ts";
import { startRangeServer } from "../helpers/range-server.ts";
import type { RangeServer } from "../helpers/range-server.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const TOKEN = "test-token";
const auth = { authorization: `Bearer ${TOKEN}` };

/** The miniflare proxy of an R2 binding, with what the tests use of it. */
type TestBucket = Pick<R2BucketLike, "head" | "put" | "list"> & {
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
};

let server: RangeServer;
let failing: Server;
let failingUrl: string;
let mf: Miniflare;
let out: TestBucket;
let models: TestBucket;

/** Golden config text with its model paths pointed at `prefix` (a URL or an r2:// folder). */
function config(name: string, prefix: string): string {
  return readFileSync(join(GOLDEN, "configs", `${name}.yml`), "utf8").replaceAll("models/tiny-bf16/", `${prefix}/`);
}

async function merge(query: string, body: string, headers: Record<string, string> = auth): Promise<Response> {
  return (await mf.dispatchFetch(`http://worker/merge${query}`, { method: "POST", body, headers })) as unknown as Response;
}

async function r2Bytes(bucket: TestBucket, key: string): Promise<Buffer> {
  const o = await bucket.get(key);
  if (!o) throw new Error(`no R2 object ${key}`);
  return Buffer.from(await o.arrayBuffer());
}

async function keysUnder(bucket: TestBucket, prefix: string): Promise<string[]> {
  return (await bucket.list({ prefix })).objects.map((o) => o.key).sort();
}

beforeAll(async () => {
  server = await startRangeServer(join(GOLDEN, "models"));
  // serves the fixtures, but answers 404 to reads of ft_rows' tensor data: a merge fails midway
  failing = createServer(async (req, res) => {
    const range = /^bytes=(\d+)-/.exec(req.headers.range ?? "");
    if (req.url?.includes("ft_rows/model.safetensors") && range && Number(range[1]) > 4096) { res.writeHead(404).end(); return; }
    const r = await fetch(`${server.url}${req.url}`, { method: req.method, headers: req.headers.range ? { range: req.headers.range } : {} });
    const headers: Record<string, string> = {};
    r.headers.forEach((v, k) => { headers[k] = v; });
    res.writeHead(r.status, headers);
    res.end(Buffer.from(await r.arrayBuffer()));
  });
  await new Promise<void>((r) => failing.listen(0, "127.0.0.1", r));
  failingUrl = `http://127.0.0.1:${(failing.address() as { port: number }).port}`;
  const { script } = await bundleWorkers({ quiet: true });
  mf = new Miniflare({
    modules: true, scriptPath: script, modulesRoot: dirname(script),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2025-09-01", compatibilityFlags: ["enable_request_signal"], r2Buckets: ["OUT", "MODELS"], bindings: { AMALGAM_TOKEN: TOKEN },
  });
  await mf.ready;
  out = (await mf.getR2Bucket("OUT")) as unknown as TestBucket;
  models = (await mf.getR2Bucket("MODELS")) as unknown as TestBucket;
  for (const m of readdirSync(join(GOLDEN, "models", "tiny-bf16"))) {
    for (const f of readdirSync(join(GOLDEN, "models", "tiny-bf16", m))) {
      await models.put(`hub/tiny-bf16/${m}/${f}`, Uint8Array.from(readFileSync(join(GOLDEN, "models", "tiny-bf16", m, f))));
    }
  }
}, 60_000);

afterAll(async () => {
  await mf?.dispose();
  await new Promise((r) => failing?.close(r));
  await server?.close();
});

describe("Cloudflare Worker (workerd via miniflare)", () => {
  it("streams the golden linear merge of models over HTTP back as one safetensors file, byte-identical to MergeKit", async () => {
    const res = await merge("", config("linear", `${server.url}/tiny-bf16`));
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status, body.toString()).toBe(200);
    const ref = readFileSync(join(GOLDEN, "reference", "linear", "model.safetensors"));
    expect(res.headers.get("content-length")).toBe(String(ref.length));
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="model.safetensors"');
    expect(body.equals(ref)).toBe(true);
  });

  it("writes the golden passthrough merge to R2 in MergeKit's layout, every file byte-identical to the Node host's", async () => {
    const res = await merge("?out=r2://OUT/merges/passthrough", config("passthrough", `${server.url}/tiny-bf16`));
    const body = (await res.json()) as { files: string[]; keys: string[]; wasmMemoryBytes: number };
    expect(res.status, JSON.stringify(body)).toBe(200);
    const node = join(tempDir(), "passthrough");
    await runMerge(config("passthrough", `${server.url}/tiny-bf16`), GOLDEN, node, { resolveModel: defaultResolver(GOLDEN) });
    expect(body.files.slice().sort()).toEqual(readdirSync(node).sort());
    expect(await keysUnder(out, "merges/passthrough/")).toEqual(body.files.map((f) => `merges/passthrough/${f}`).sort());
    for (const f of body.files) expect((await r2Bytes(out, `merges/passthrough/${f}`)).equals(readFileSync(join(node, f))), f).toBe(true);
    expect((await r2Bytes(out, "merges/passthrough/model.safetensors")).equals(readFileSync(join(GOLDEN, "reference", "passthrough", "model.safetensors")))).toBe(true);
    expect(body.wasmMemoryBytes).toBeLessThanOrEqual(96 * 2 ** 20);
  });

  it("reads models from R2 (r2://MODELS/...) with ranged gets: linear streamed back equals MergeKit's", async () => {
    const res = await merge("", config("linear", "r2://MODELS/hub/tiny-bf16"));
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status, body.toString()).toBe(200);
    expect(body.equals(readFileSync(join(GOLDEN, "reference", "linear", "model.safetensors")))).toBe(true);
  });

  it("writes a sharded frankenmerge from R2 to R2 (shards + index), byte-identical to the Node host's", async () => {
    const res = await merge("?out=r2://OUT/merges/franken&shard_size=100K", config("frankenmerge", "r2://MODELS/hub/tiny-bf16"));
    const body = (await res.json()) as { files: string[] };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.files).toContain("model.safetensors.index.json");
    expect(body.files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    const node = join(tempDir(), "franken");
    const local = join(GOLDEN, "models", "tiny-bf16");
    await runMerge(config("frankenmerge", local), GOLDEN, node, { outShardSize: 100_000 });
    expect(body.files.slice().sort()).toEqual(readdirSync(node).sort());
    for (const f of body.files) {
      // the model card and mergekit_config.yml name the models as the config did
      const want = /\.(md|yml)$/.test(f) ? Buffer.from(readFileSync(join(node, f), "utf8").replaceAll(local, "r2://MODELS/hub/tiny-bf16")) : readFileSync(join(node, f));
      expect((await r2Bytes(out, `merges/franken/${f}`)).equals(want), f).toBe(true);
    }
  });

  it("a merge that fails midway leaves nothing under the R2 prefix and answers 502 with E_IO", async () => {
    const res = await merge("?out=r2://OUT/merges/failed", config("linear", `${failingUrl}/tiny-bf16`));
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBe(502);
    expect(body.error.code).toBe("E_IO");
    expect(body.error.message).toMatch(/ft_rows\/model\.safetensors/);
    expect(await keysUnder(out, "merges/failed")).toEqual([]);
  });

  it("a streamed merge that fails midway errors the response body instead of ending it short", async () => {
    const res = await merge("", config("linear", `${failingUrl}/tiny-bf16`));
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
  });

  it("answers bad requests with a JSON error and a stable code", async () => {
    const cases: [string, string, Record<string, string>, number, string][] = [
      ["", "merge_method: linear\nmodels: [", auth, 400, "E_CONFIG"],
      ["", "merge_method: nope\nmodels:\n  - model: r2://MODELS/x\n", auth, 400, "E_UNKNOWN_METHOD"],
      ["?out=r2://NOPE/x", config("linear", `${server.url}/tiny-bf16`), auth, 400, "E_ARGS"],
      ["?out=s3://x/y", config("linear", `${server.url}/tiny-bf16`), auth, 400, "E_ARGS"],
      ["", config("linear", `${server.url}/missing`), auth, 404, "E_MODEL_NOT_FOUND"],
      ["", config("linear", "r2://MODELS/missing"), auth, 404, "E_MODEL_NOT_FOUND"],
      ["?memory_budget=80M", config("linear", `${server.url}/tiny-bf16`), auth, 400, "E_ARGS"],
      ["", config("linear", `${server.url}/tiny-bf16`), {}, 401, "E_ARGS"],
    ];
    for (const [query, body, headers, status, code] of cases) {
      const res = await merge(query, body, headers);
      const json = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, json.error.code], `${query} ${json.error.message}`).toEqual([status, code]);
    }
    const usage = await mf.dispatchFetch("http://worker/", { headers: auth });
    expect(await usage.text()).toMatch(/POST \/merge/);
  });

  it("the Workers library example of docs/runtimes.md, bundled by esbuild, merges into R2 like MergeKit", async () => {
    const m = /<!-- example:workers -->\n```\w*\n([\s\S]*?)\n```/.exec(readFileSync(join(ROOT, "docs", "runtimes.md"), "utf8"));
    expect(m).not.toBeNull();
    const dir = tempDir();
    writeFileSync(join(dir, "worker.ts"), m![1]!);
    // what `npm i amalgam` gives a Worker project: the package exports "./workers" and "./amalgam.wasm"
    const pkg: Record<string, string> = { "amalgam/workers": join(ROOT, "runtimes", "workers", "mod.ts"), "amalgam/amalgam.wasm": join(ROOT, "build", "amalgam.wasm") };
    await build({
      entryPoints: [join(dir, "worker.ts")], outdir: join(dir, "dist"), bundle: true, format: "esm", platform: "browser",
      loader: { ".wasm": "copy" }, assetNames: "[name]", logLevel: "error",
      plugins: [{ name: "amalgam", setup: (b) => b.onResolve({ filter: /^amalgam\// }, (a) => ({ path: pkg[a.path]! })) }],
    });
    const example = new Miniflare({
      modules: true, scriptPath: join(dir, "dist", "worker.js"), modulesRoot: join(dir, "dist"),
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }], compatibilityDate: "2025-09-01", r2Buckets: ["OUT"],
    });
    try {
      const res = await example.dispatchFetch("http://worker/", { method: "POST", body: config("linear", `${server.url}/tiny-bf16`) });
      const body = (await res.json()) as { files: string[] };
      expect(res.status, JSON.stringify(body)).toBe(200);
      const bucket = (await example.getR2Bucket("OUT")) as unknown as TestBucket;
      expect((await r2Bytes(bucket, "merges/my-merge/model.safetensors")).equals(readFileSync(join(GOLDEN, "reference", "linear", "model.safetensors")))).toBe(true);
    } finally {
      await example.dispose();
    }
  });
});

describe("Worker kernel instance (its logic, run in Node)", () => {
  it("refuses to grow wasm memory past the cap with E_KERNEL naming AMALGAM_MAX_WASM_BYTES, then drops the instance", async () => {
    const module = await loadKernelModule();
    const cap = 2 * 1024 * 1024;
    const err = await withIsolateKernels(module, { maxWasmBytes: cap }, async (k) => { k.alloc(cap); }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_KERNEL" });
    expect((err as Error).message).toMatch(/AMALGAM_MAX_WASM_BYTES/);
    expect(kernelStats().peakWasmMemoryBytes).toBeLessThanOrEqual(cap);
    await withIsolateKernels(module, { maxWasmBytes: cap, keepBytes: 0 }, async (k) => { k.alloc(1024); });
    expect(kernelStats()).toMatchObject({ wasmMemoryBytes: 0, active: 0 });
  });
});
