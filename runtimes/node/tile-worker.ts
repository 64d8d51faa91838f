// A worker thread of the Node thread pool: instantiates the shared kernel module on the shared
// memory once, then waits on its control word (Atomics) for tile jobs and posts each result back.
import { parentPort, workerData } from "node:worker_threads";
import { Kernels } from "../../src/kernels/kernels.ts";
import { runTileJob } from "../../src/executor/tile-job.ts";
import type { TileJob } from "../../src/executor/tile-job.ts";
import type { WorkerSetup } from "./thread-pool.ts";
import { CTRL_GEN, CTRL_LEN, STOP } from "./thread-pool.ts";

const setup = workerData as WorkerSetup;
const instance = await WebAssembly.instantiate(setup.module, { env: { memory: setup.memory } });
const k = new Kernels(instance, setup.memory, setup.scratch);
const ctrl = new Int32Array(setup.ctrl);
const mailbox = new Uint8Array(setup.mailbox);
const decoder = new TextDecoder();
parentPort!.postMessage({ ready: true });
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, CTRL_GEN, seen);
  seen = Atomics.load(ctrl, CTRL_GEN);
  const len = Atomics.load(ctrl, CTRL_LEN);
  if (len === STOP) break;
  try {
    const job = JSON.parse(decoder.decode(mailbox.slice(0, len))) as TileJob;
    parentPort!.postMessage({ result: runTileJob(k, job) });
  } catch (e) {
    const err = e as { code?: string; message?: string };
    parentPort!.postMessage({ error: { code: err.code ?? "E_KERNEL", message: err.message ?? String(e) } });
  }
}
