// Loading the kernels in a browser: the .wasm files and the tile worker sit beside the bundle
// (dist/browser/), found relative to it. Threads need cross-origin isolation (COOP/COEP headers),
// which is what makes SharedArrayBuffer and a shared WebAssembly.Memory available.
import { AmalgamError } from "../../src/errors.ts";
import type { TilePoolFactory } from "../../src/executor/tile-pool.ts";
import { webThreadPool } from "../web/thread-pool.ts";

const cache = new Map<string, Promise<WebAssembly.Module>>();

/** Whether this page can run tile workers (cross-origin isolated, with Worker and SharedArrayBuffer). */
export function threadsAvailable(): boolean {
  return globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === "function" && typeof Worker === "function";
}

/** The single-threaded SIMD kernels, or with `threads` the build on a shared memory. */
export function loadKernelModule(threads = false, base: URL | string = new URL(".", import.meta.url)): Promise<WebAssembly.Module> {
  const url = new URL(threads ? "amalgam-mt.wasm" : "amalgam.wasm", base).href;
  let m = cache.get(url);
  if (!m) {
    m = (async () => {
      const res = await fetch(url);
      if (!res.ok) throw new AmalgamError("E_KERNEL", `kernel module ${url}: HTTP ${res.status}`);
      // compileStreaming needs Content-Type application/wasm; fall back when a server lacks it
      if (res.headers.get("content-type")?.startsWith("application/wasm")) return WebAssembly.compileStreaming(res);
      return WebAssembly.compile(await res.arrayBuffer());
    })();
    m.catch(() => cache.delete(url));
    cache.set(url, m);
  }
  return m;
}

/** Tile workers running the bundled tile-worker.js beside this module. */
export function browserThreadPool(base: URL | string = new URL(".", import.meta.url)): TilePoolFactory {
  return webThreadPool(new URL("tile-worker.js", base));
}
