#!/usr/bin/env node
// Bundles the browser host with esbuild into dist/browser/: amalgam.js (the library, one ES
// module), app.js + index.html (the page), tile-worker.js (threads) and both .wasm builds, all
// side by side so they find each other by relative URL. Serve the folder with COOP/COEP headers
// (Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp) for threads.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Builds the browser bundle; returns the output folder. */
export async function bundleBrowser({ outdir = join(root, "dist", "browser"), quiet = false } = {}) {
  mkdirSync(outdir, { recursive: true });
  for (const w of ["amalgam.wasm", "amalgam-mt.wasm"]) {
    const src = join(root, "build", w);
    if (!existsSync(src)) throw new Error(`${src} is missing; run "npm run build:wasm" first`);
    copyFileSync(src, join(outdir, w));
  }
  copyFileSync(join(root, "runtimes", "browser", "index.html"), join(outdir, "index.html"));
  // separate builds, no code splitting: each bundle finds the .wasm and worker files beside itself
  const entries = [
    [join(root, "runtimes", "browser", "mod.ts"), "amalgam"],
    [join(root, "runtimes", "browser", "app.ts"), "app"],
    [join(root, "runtimes", "web", "tile-worker.ts"), "tile-worker"],
  ];
  for (const [entry, name] of entries) {
    await build({
      entryPoints: { [name]: entry },
      outdir,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      sourcemap: true,
      logLevel: "warning",
    });
  }
  if (!quiet) {
    for (const f of ["amalgam.js", "app.js", "tile-worker.js", "index.html", "amalgam.wasm", "amalgam-mt.wasm"]) {
      const bytes = readFileSync(join(outdir, f));
      console.log(`browser: ${relative(root, join(outdir, f))} ${bytes.length} bytes sha256:${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}`);
    }
  }
  return outdir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await bundleBrowser();
}
