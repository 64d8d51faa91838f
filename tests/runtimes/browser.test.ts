// The browser host (runtimes/browser, bundled by scripts/bundle-browser.js) in headless Chromium
// (Debian's chromium, driven by playwright-core): the page is served with COOP/COEP headers next to
// the fixture models (HTTP Range), merges by URL with and without threads and from local folders,
// and its output (OPFS, and the downloaded file) must equal MergeKit's and the Node host's bytes.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleBrowser } from "../../scripts/bundle-browser.js";
import { GOLDEN, runMerge, tempDir } from "../helpers/run-merge.ts";
import { startRangeServer } from "../helpers/range-server.ts";
import type { RangeServer } from "../helpers/range-server.ts";

/** Debian's package, or CHROMIUM_PATH. */
const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".map": "application/json" };

let dist: string;
let models: RangeServer;
let server: Server;
let origin: string;
let browser: Browser;
/** Extra documents served at given paths (the docs example). */
const extra = new Map<string, { type: string; body: string }>();
const shots = tempDir("amalgam-browser-");

/**
 * Serves dist/browser at / with COOP/COEP (cross-origin isolated, so threads), the same files
 * without those headers under /plain/, and the fixture models under /models/ (proxied to the range
 * server, Range requests and all).
 */
function startPageServer(): Promise<Server> {
  const s = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const plain = url.pathname.startsWith("/plain/");
    const path = plain ? url.pathname.slice("/plain".length) : url.pathname;
    const isolation: Record<string, string> = plain ? {} : { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
    if (path.startsWith("/models/")) {
      const r = await fetch(`${models.url}${path.slice("/models".length)}`, { method: req.method, headers: req.headers.range ? { range: req.headers.range } : {} });
      const headers: Record<string, string> = { ...isolation };
      r.headers.forEach((v, k) => { if (k !== "connection" && k !== "keep-alive") headers[k] = v; });
      res.writeHead(r.status, headers);
      res.end(Buffer.from(await r.arrayBuffer()));
      return;
    }
    const doc = extra.get(path);
    if (doc) { res.writeHead(200, { ...isolation, "content-type": doc.type }).end(doc.body); return; }
    const file = join(dist, normalize(path === "/" ? "/index.html" : path));
    if (!file.startsWith(dist) || !existsSync(file)) { res.writeHead(404, isolation).end(); return; }
    res.writeHead(200, { ...isolation, "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  return new Promise((r) => s.listen(0, "127.0.0.1", () => r(s)));
}

function golden(name: string, prefix: string): string {
  return readFileSync(join(GOLDEN, "configs", `${name}.yml`), "utf8").replaceAll("models/tiny-bf16/", prefix);
}

async function openPage(path = "/index.html"): Promise<Page> {
  const page = await browser.newPage({ acceptDownloads: true });
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${origin}${path}`);
  return page;
}

/** Pastes a config, clicks Merge and waits for the page to finish; returns its log on failure. */
async function mergeOnPage(page: Page, config: string, outName: string): Promise<void> {
  await page.fill("#config", config);
  await page.fill("#out-name", outName);
  await page.click("#merge");
  await page.waitForFunction(() => document.body.dataset["state"] === "done" || document.body.dataset["state"] === "error", undefined, { timeout: 30_000 });
  const state = await page.evaluate(() => document.body.dataset["state"]);
  if (state !== "done") throw new Error(`the page's merge failed: ${await page.textContent("#log")}`);
}

/** A file of the page's OPFS output folder. */
async function opfsFile(page: Page, dir: string, name: string): Promise<Buffer> {
  const dataUrl = await page.evaluate(async ([d, n]) => {
    const root = await navigator.storage.getDirectory();
    const f = await (await (await root.getDirectoryHandle(d!)).getFileHandle(n!)).getFile();
    return new Promise<string>((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result as string);
      r.onerror = () => reject(r.error);
      r.readAsDataURL(f);
    });
  }, [dir, name]);
  return Buffer.from(dataUrl.slice(dataUrl.indexOf(",") + 1), "base64");
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (what .ci/run does), or set CHROMIUM_PATH`);
  dist = await bundleBrowser({ quiet: true });
  models = await startRangeServer(join(GOLDEN, "models"));
  server = await startPageServer();
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
  await models?.close();
});

describe("browser page (headless Chromium)", () => {
  it("merges linear by URL with worker threads when cross-origin isolated; OPFS file and download equal MergeKit's bytes", async () => {
    const page = await openPage();
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const before = models.stats.ranges.length;
    await mergeOnPage(page, golden("linear", `${origin}/models/tiny-bf16/`), "linear");
    expect(Number(await page.evaluate(() => document.body.dataset["threads"]))).toBeGreaterThan(1);
    expect(models.stats.ranges.length).toBeGreaterThan(before);
    const ref = readFileSync(join(GOLDEN, "reference", "linear", "model.safetensors"));
    expect((await opfsFile(page, "linear", "model.safetensors")).equals(ref)).toBe(true);
    // the same files as the Node host, config.json byte for byte
    const node = join(tempDir(), "linear");
    await runMerge(golden("linear", "models/tiny-bf16/"), GOLDEN, node);
    expect((await page.evaluate(() => document.body.dataset["files"]))!.split(",").sort()).toEqual(readdirSync(node).sort());
    expect((await opfsFile(page, "linear", "config.json")).equals(readFileSync(join(node, "config.json")))).toBe(true);
    // the Download button hands the OPFS file to the browser's download
    const [download] = await Promise.all([page.waitForEvent("download"), page.click('button[data-file="model.safetensors"]')]);
    expect(download.suggestedFilename()).toBe("model.safetensors");
    expect(readFileSync((await download.path())!).equals(ref)).toBe(true);
    await page.screenshot({ path: join(shots, "page.png"), fullPage: true });
    console.log(`screenshot: ${join(shots, "page.png")}`);
    await page.close();
  });

  it("merges passthrough by URL on one thread when threads are off", async () => {
    const page = await openPage();
    await page.uncheck("#threads");
    await mergeOnPage(page, golden("passthrough", `${origin}/models/tiny-bf16/`), "passthrough");
    expect(await page.evaluate(() => document.body.dataset["threads"])).toBe("1");
    expect((await opfsFile(page, "passthrough", "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference", "passthrough", "model.safetensors")))).toBe(true);
    await page.close();
  });

  it("merges a frankenmerge from local folders chosen with <input webkitdirectory>", async () => {
    const page = await openPage();
    await page.setInputFiles("#folders", join(GOLDEN, "models", "tiny-bf16"));
    expect(await page.textContent("#model-list")).toContain("tiny-bf16/ft_dense");
    await mergeOnPage(page, golden("frankenmerge", ""), "franken");
    expect((await opfsFile(page, "franken", "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference", "frankenmerge", "model.safetensors")))).toBe(true);
    await page.close();
  });

  it("without COOP/COEP the page is not isolated, offers no threads, and still merges on one thread", async () => {
    const page = await openPage("/plain/index.html");
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
    expect(await page.isDisabled("#threads")).toBe(true);
    await mergeOnPage(page, golden("linear", `${origin}/plain/models/tiny-bf16/`), "linear-plain");
    expect(await page.evaluate(() => document.body.dataset["threads"])).toBe("1");
    expect((await opfsFile(page, "linear-plain", "model.safetensors")).equals(readFileSync(join(GOLDEN, "reference", "linear", "model.safetensors")))).toBe(true);
    await page.close();
  });

  it("shows a config error with its code and leaves no output folder behind", async () => {
    const page = await openPage();
    await page.fill("#config", "merge_method: linear\nmodels:\n  - model: nowhere\n");
    await page.fill("#out-name", "failed");
    await page.click("#merge");
    await page.waitForFunction(() => document.body.dataset["state"] === "error");
    expect(await page.textContent("#log")).toMatch(/E_MODEL_NOT_FOUND: .*model "nowhere"/);
    const left = await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const names: string[] = [];
      for await (const k of (root as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(k);
      return names;
    });
    expect(left).not.toContain("failed");
    await page.close();
  });

  it("the browser library example of docs/runtimes.md runs as a module script and writes MergeKit's bytes to OPFS", async () => {
    const m = /<!-- example:browser -->\n```\w*\n([\s\S]*?)\n```/.exec(readFileSync(join(import.meta.dirname, "..", "..", "docs", "runtimes.md"), "utf8"));
    expect(m).not.toBeNull();
    extra.set("/example.html", { type: "text/html", body: '<!doctype html><meta charset="utf-8"><body><script type="module" src="./example.js"></script></body>' });
    extra.set("/example.js", { type: "text/javascript", body: `${m![1]!}\ndocument.title = "merged with " + result.threads;\n` });
    extra.set("/my-merge.yml", { type: "text/yaml", body: golden("linear", `${origin}/models/tiny-bf16/`) });
    const errors: string[] = [];
    const page = await browser.newPage({ acceptDownloads: true });
    page.on("pageerror", (e) => errors.push(e.message));
    const download = page.waitForEvent("download");
    await page.goto(`${origin}/example.html`);
    await page.waitForFunction(() => document.title.startsWith("merged"), undefined, { timeout: 30_000 }).catch(() => {
      throw new Error(`the example did not finish: ${errors.join("; ") || "no page error"}`);
    });
    expect(Number((await page.title()).split(" ").pop())).toBeGreaterThan(1);
    const ref = readFileSync(join(GOLDEN, "reference", "linear", "model.safetensors"));
    expect((await opfsFile(page, "my-merge", "model.safetensors")).equals(ref)).toBe(true);
    expect(readFileSync((await (await download).path())!).equals(ref)).toBe(true);
    await page.close();
  });

  it("--device gpu in the browser: Chromium's WebGPU (SwiftShader, a CPU adapter) merges linear, ties and slerp with every tensor on the GPU, MergeKit's bytes", async () => {
    const gpuBrowser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"] });
    try {
      for (const [name, reference] of [["linear", "reference"], ["ties", "reference-stable"], ["slerp", "reference"]] as const) {
        extra.set(`/gpu-${name}.yml`, { type: "text/yaml", body: golden(name, `${origin}/models/tiny-bf16/`) });
        const page = await gpuBrowser.newPage();
        await page.goto(`${origin}/index.html`);
        // a string, not a function: vitest would rewrite a function's import() for Node
        const r = (await page.evaluate(`(async () => {
          const lib = await import(location.origin + "/amalgam.js");
          const sink = await lib.DirectorySink.opfs("gpu-${name}");
          const yaml = await (await fetch("/gpu-${name}.yml")).text();
          const result = await lib.merge(lib.parseMergeConfig(yaml, "${name}.yml"), { resolveModel: lib.httpResolver(), sink, kernels: await lib.loadKernelModule(false), device: "gpu" });
          return { gpu: result.gpu ? { onGpu: result.gpu.tensors, redone: result.gpu.redone, adapter: result.gpu.adapter } : null };
        })()`)) as { gpu: { onGpu: number; redone: number; adapter: string } | null };
        expect(r.gpu, name).not.toBeNull();
        expect(r.gpu!.onGpu, `${name} on ${r.gpu!.adapter}`).toBe(39);
        expect(r.gpu!.redone, name).toBe(0);
        expect((await opfsFile(page, `gpu-${name}`, "model.safetensors")).equals(readFileSync(join(GOLDEN, reference, name, "model.safetensors"))), name).toBe(true);
        await page.close();
      }
    } finally {
      await gpuBrowser.close();
    }
  });
});
