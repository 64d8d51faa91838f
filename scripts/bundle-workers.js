#!/usr/bin/env node
// Bundles the Cloudflare Worker (runtimes/workers/worker.ts) with esbuild into dist/workers/:
// worker.js (an ES module) and amalgam.wasm beside it, imported as a module — which is how
// workerd, miniflare and wrangler (CompiledWasm rule) load it. Prints each file's size and hash.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Builds the Worker bundle; returns the paths of the script and the wasm module. */
export async function bundleWorkers({ outdir = join(root, "dist", "workers"), quiet = false } = {}) {
  const wasm = join(root, "build", "amalgam.wasm");
  if (!existsSync(wasm)) throw new Error(`${wasm} is missing; run "npm run build:wasm" first`);
  await build({
    entryPoints: [join(root, "runtimes", "workers", "worker.ts")],
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    loader: { ".wasm": "copy" },
    assetNames: "[name]",
    logLevel: "warning",
  });
  const files = { script: join(outdir, "worker.js"), wasm: join(outdir, "amalgam.wasm") };
  if (!quiet) {
    for (const f of Object.values(files)) {
      const bytes = readFileSync(f);
      console.log(`workers: ${relative(root, f)} ${bytes.length} bytes sha256:${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}`);
    }
  }
  return files;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await bundleWorkers();
}
