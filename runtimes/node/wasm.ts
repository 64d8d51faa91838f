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

const cached = new Map<string, Promise<WebAssembly.Module>>();

export function wasmPath(name = "amalgam.wasm"): string {
  return join(packageRoot(), "build", name);
}

/** The single-threaded SIMD build, or with `threads` the build that imports a shared memory. */
export function loadKernelModule(threads = false): Promise<WebAssembly.Module> {
  const name = threads ? "amalgam-mt.wasm" : "amalgam.wasm";
  let m = cached.get(name);
  if (!m) {
    m = (async () => {
    const path = wasmPath(name);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch {
      throw new AmalgamError("E_KERNEL", `kernel module ${path} is missing; run "npm run build:wasm"`);
    }
    return WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    })();
    cached.set(name, m);
  }
  return m;
}
