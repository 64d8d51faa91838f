// Tile workers as Node worker_threads, over the shared dispatch pool (runtimes/web/dispatch-pool.ts).
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { AmalgamError } from "../../src/errors.ts";
import type { TilePoolFactory } from "../../src/executor/tile-pool.ts";
import { DispatchPool } from "../web/dispatch-pool.ts";
import type { WorkerReply } from "../web/protocol.ts";

/** The compiled worker script (dist/), also when this module runs from the TypeScript sources. */
function workerScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = here.includes(join("dist", "runtimes")) ? join(here, "tile-worker.js") : join(here, "..", "..", "dist", "runtimes", "node", "tile-worker.js");
  if (!existsSync(built)) throw new AmalgamError("E_KERNEL", `worker script ${built} is missing; run "npm run build:ts"`);
  return built;
}

export function defaultThreadCount(): number {
  return Math.max(1, Math.min(availableParallelism(), 16));
}

export const nodeThreadPool: TilePoolFactory = (init) => {
  const script = workerScript();
  return DispatchPool.start(init, () => {
    let worker: Worker | undefined;
    let onMsg: (m: WorkerReply) => void = () => {};
    let onErr: (e: Error) => void = () => {};
    return {
      post: (setup) => {
        worker = new Worker(script, { workerData: setup });
        worker.on("message", (m: WorkerReply) => onMsg(m));
        worker.on("error", (e) => onErr(e));
      },
      onMessage: (cb) => { onMsg = cb; },
      onError: (cb) => { onErr = cb; },
      terminate: async () => { await worker?.terminate(); },
    };
  });
};
