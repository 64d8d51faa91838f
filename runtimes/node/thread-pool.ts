// Worker threads for tiled merges on Node: one compiled module and one shared memory for all,
// each worker confined to its scratch region. Jobs are dispatched through a per-worker control word
// (Atomics.store + notify; the worker blocks in Atomics.wait) and a shared mailbox holding the job;
// completion comes back as a message so the main thread's event loop keeps doing I/O meanwhile.
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { AmalgamError } from "../../src/errors.ts";
import type { ErrorCode } from "../../src/errors.ts";
import type { TileJob, TileResult } from "../../src/executor/tile-job.ts";
import type { TilePool, TilePoolFactory, TilePoolInit } from "../../src/executor/tile-pool.ts";

export const CTRL_GEN = 0;
export const CTRL_LEN = 1;
export const STOP = -1;
/** Largest serialized job (a tile's parameters are a few hundred bytes). */
const MAILBOX_BYTES = 1 << 20;

export interface WorkerSetup {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly scratch: { readonly start: number; readonly end: number };
  readonly ctrl: SharedArrayBuffer;
  readonly mailbox: SharedArrayBuffer;
}

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

interface Slot {
  readonly worker: Worker;
  readonly ctrl: Int32Array;
  readonly mailbox: Uint8Array;
  pending: { resolve: (r: TileResult) => void; reject: (e: Error) => void } | undefined;
}

class NodeThreadPool implements TilePool {
  private readonly idle: Slot[] = [];
  private readonly waiting: ((s: Slot) => void)[] = [];
  private readonly encoder = new TextEncoder();
  private failure: Error | undefined;

  constructor(private readonly slots: Slot[]) {
    this.idle.push(...slots);
  }

  get threads(): number {
    return this.slots.length;
  }

  private acquire(): Promise<Slot> {
    const s = this.idle.pop();
    return s ? Promise.resolve(s) : new Promise((r) => this.waiting.push(r));
  }

  private releaseSlot(s: Slot): void {
    const next = this.waiting.shift();
    if (next) next(s);
    else this.idle.push(s);
  }

  async run(job: TileJob): Promise<TileResult> {
    if (this.failure) throw this.failure;
    const s = await this.acquire();
    const bytes = this.encoder.encode(JSON.stringify(job));
    if (bytes.length > MAILBOX_BYTES) throw new AmalgamError("E_KERNEL", `tile job for "${job.tensor}" is ${bytes.length} bytes, over the mailbox`);
    s.mailbox.set(bytes);
    const done = new Promise<TileResult>((resolve, reject) => { s.pending = { resolve, reject }; });
    Atomics.store(s.ctrl, CTRL_LEN, bytes.length);
    Atomics.add(s.ctrl, CTRL_GEN, 1);
    Atomics.notify(s.ctrl, CTRL_GEN);
    try {
      return await done;
    } finally {
      this.releaseSlot(s);
    }
  }

  async close(): Promise<void> {
    for (const s of this.slots) {
      Atomics.store(s.ctrl, CTRL_LEN, STOP);
      Atomics.add(s.ctrl, CTRL_GEN, 1);
      Atomics.notify(s.ctrl, CTRL_GEN);
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  fail(e: Error): void {
    this.failure = e;
    for (const s of this.slots) s.pending?.reject(e);
  }
}

/** A factory for the executor: starts one worker per scratch region. */
export const nodeThreadPool: TilePoolFactory = async (init: TilePoolInit) => {
  const script = workerScript();
  const slots: Slot[] = [];
  let pool: NodeThreadPool | undefined;
  const ready: Promise<void>[] = [];
  for (const region of init.scratch) {
    const ctrl = new SharedArrayBuffer(16);
    const mailbox = new SharedArrayBuffer(MAILBOX_BYTES);
    const setup: WorkerSetup = { module: init.module, memory: init.memory, scratch: region, ctrl, mailbox };
    const worker = new Worker(script, { workerData: setup });
    const slot: Slot = { worker, ctrl: new Int32Array(ctrl), mailbox: new Uint8Array(mailbox), pending: undefined };
    ready.push(new Promise((resolve, reject) => {
      worker.once("error", reject);
      worker.once("message", () => resolve());
    }));
    worker.on("message", (m: { result?: TileResult; error?: { code: string; message: string }; ready?: boolean }) => {
      if (m.ready) return;
      const p = slot.pending;
      slot.pending = undefined;
      if (!p) return;
      if (m.error) p.reject(new AmalgamError(m.error.code as ErrorCode, m.error.message));
      else p.resolve(m.result!);
    });
    worker.on("error", (e) => pool?.fail(new AmalgamError("E_KERNEL", `worker thread failed: ${e.message}`)));
    slots.push(slot);
  }
  await Promise.all(ready);
  pool = new NodeThreadPool(slots);
  return pool;
};
