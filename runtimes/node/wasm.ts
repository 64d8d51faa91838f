// Loads the compiled kernels (build/*.wasm) once per process.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { AmalgamError } from "../../src/errors.ts";

/** The package root: runtimes/node/ in the sources, dist/runtimes/node/ when built. */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join("dist", "runtimes")}`) ? join(here, "..", "..", "..") : join(here, "..", "..");
}

let cached: Promise<WebAssembly.Module> | undefined;

export function wasmPath(name = "amalgam.wasm"): string {
  return join(packageRoot(), "build", name);
}

export function loadKernelModule(): Promise<WebAssembly.Module> {
  cached ??= (async () => {
    const path = wasmPath();
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch {
      throw new AmalgamError("E_KERNEL", `kernel module ${path} is missing; run "npm run build:wasm"`);
    }
    return WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  })();
  return cached;
}
