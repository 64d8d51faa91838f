// The body of every tile worker: instantiate the shared module on the shared memory, then run
// jobs as the control word announces them until told to stop.
import { Kernels } from "../../src/kernels/kernels.ts";
import { runTileJob } from "../../src/executor/tile-job.ts";
import type { TileJob } from "../../src/executor/tile-job.ts";
import { CTRL_GEN, CTRL_LEN, STOP } from "./protocol.ts";
import type { WorkerReply, WorkerSetup } from "./protocol.ts";

export async function serveTileJobs(setup: WorkerSetup, post: (m: WorkerReply) => void): Promise<void> {
  const instance = await WebAssembly.instantiate(setup.module, { env: { memory: setup.memory } });
  const k = new Kernels(instance, setup.memory, setup.scratch);
  const ctrl = new Int32Array(setup.ctrl);
  const mailbox = new Uint8Array(setup.mailbox);
  const decoder = new TextDecoder();
  post({ ready: true });
  let seen = 0;
  for (;;) {
    Atomics.wait(ctrl, CTRL_GEN, seen);
    const gen = Atomics.load(ctrl, CTRL_GEN);
    // Atomics.wait can return "ok" with no new job (seen with Node 20 under load, while the main
    // thread grew the shared memory): only a new generation is a job, or the last one runs twice.
    if (gen === seen) continue;
    seen = gen;
    const len = Atomics.load(ctrl, CTRL_LEN);
    if (len === STOP) return;
    try {
      const job = JSON.parse(decoder.decode(mailbox.slice(0, len))) as TileJob;
      post({ result: runTileJob(k, job) });
    } catch (err) {
      const x = err as { code?: string; message?: string };
      post({ error: { code: x.code ?? "E_KERNEL", message: x.message ?? String(err) } });
    }
  }
}
