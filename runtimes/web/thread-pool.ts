// Tile workers as Web Workers (Deno, Bun; browsers when crossOriginIsolated).
import type { TilePoolFactory } from "../../src/executor/tile-pool.ts";
import { DispatchPool } from "./dispatch-pool.ts";
import type { WorkerReply } from "./protocol.ts";

/** `workerUrl`: the tile worker module (tile-worker.ts, or its built .js in browsers). */
export function webThreadPool(workerUrl: URL | string = new URL("./tile-worker.ts", import.meta.url)): TilePoolFactory {
  return (init) => DispatchPool.start(init, () => {
    const w = new Worker(workerUrl, { type: "module" });
    return {
      post: (setup) => w.postMessage(setup),
      onMessage: (cb) => { w.onmessage = (e: MessageEvent<WorkerReply>) => cb(e.data); },
      onError: (cb) => { w.onerror = (e) => { e.preventDefault?.(); cb(new Error(e.message)); }; },
      terminate: () => w.terminate(),
    };
  });
}
