// A tile pool over any kind of worker (Node worker_threads, Web Workers): jobs go through the
// shared mailbox and control word (protocol.ts), results come back as messages.
import { AmalgamError } from "../../src/errors.ts";
import type { ErrorCode } from "../../src/errors.ts";
import type { TileJob, TileResult } from "../../src/executor/tile-job.ts";
import type { TilePool, TilePoolInit } from "../../src/executor/tile-pool.ts";
import { CTRL_GEN, CTRL_LEN, MAILBOX_BYTES, STOP } from "./protocol.ts";
import type { WorkerReply, WorkerSetup } from "./protocol.ts";

/** What the pool needs of one worker, whatever the runtime. */
export interface WorkerEndpoint {
  post(setup: WorkerSetup): void;
  onMessage(cb: (m: WorkerReply) => void): void;
  onError(cb: (e: Error) => void): void;
  terminate(): Promise<void> | void;
}

interface Slot {
  readonly w: WorkerEndpoint;
  readonly ctrl: Int32Array;
  readonly mailbox: Uint8Array;
  pending: { resolve: (r: TileResult) => void; reject: (e: Error) => void } | undefined;
}

export class DispatchPool implements TilePool {
  private readonly idle: Slot[] = [];
  private readonly waiting: ((s: Slot) => void)[] = [];
  private readonly encoder = new TextEncoder();
  private failure: Error | undefined;

  private constructor(private readonly slots: Slot[]) {
    this.idle.push(...slots);
  }

  /** Starts one worker per scratch region with `spawn` and waits until each is ready. */
  static async start(init: TilePoolInit, spawn: () => WorkerEndpoint): Promise<DispatchPool> {
    const slots: Slot[] = [];
    const ready: Promise<void>[] = [];
    let pool: DispatchPool | undefined;
    for (const region of init.scratch) {
      const ctrl = new SharedArrayBuffer(16);
      const mailbox = new SharedArrayBuffer(MAILBOX_BYTES);
      const w = spawn();
      const slot: Slot = { w, ctrl: new Int32Array(ctrl), mailbox: new Uint8Array(mailbox), pending: undefined };
      let readyResolve!: () => void;
      let readyReject!: (e: Error) => void;
      ready.push(new Promise<void>((res, rej) => { readyResolve = res; readyReject = rej; }));
      w.onMessage((m) => {
        if (m.ready) return readyResolve();
        const p = slot.pending;
        slot.pending = undefined;
        if (!p) return;
        if (m.error) p.reject(new AmalgamError(m.error.code as ErrorCode, m.error.message));
        else p.resolve(m.result!);
      });
      w.onError((e) => {
        readyReject(e);
        pool?.fail(new AmalgamError("E_KERNEL", `worker thread failed: ${e.message}`));
      });
      w.post({ module: init.module, memory: init.memory, scratch: region, ctrl, mailbox });
      slots.push(slot);
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(slots.map((s) => s.w.terminate()));
      throw new AmalgamError("E_KERNEL", `worker threads did not start: ${(e as Error).message}`);
    }
    pool = new DispatchPool(slots);
    return pool;
  }

  get threads(): number {
    return this.slots.length;
  }

  private acquire(): Promise<Slot> {
    const s = this.idle.pop();
    return s ? Promise.resolve(s) : new Promise((r) => this.waiting.push(r));
  }

  private release(s: Slot): void {
    const next = this.waiting.shift();
    if (next) next(s);
    else this.idle.push(s);
  }

  async run(job: TileJob): Promise<TileResult> {
    if (this.failure) throw this.failure;
    const s = await this.acquire();
    try {
      const bytes = this.encoder.encode(JSON.stringify(job));
      if (bytes.length > MAILBOX_BYTES) throw new AmalgamError("E_KERNEL", `tile job for "${job.tensor}" is ${bytes.length} bytes, over the ${MAILBOX_BYTES}-byte mailbox`);
      s.mailbox.set(bytes);
      const done = new Promise<TileResult>((resolve, reject) => { s.pending = { resolve, reject }; });
      Atomics.store(s.ctrl, CTRL_LEN, bytes.length);
      Atomics.add(s.ctrl, CTRL_GEN, 1);
      Atomics.notify(s.ctrl, CTRL_GEN);
      return await done;
    } finally {
      this.release(s);
    }
  }

  async close(): Promise<void> {
    for (const s of this.slots) {
      Atomics.store(s.ctrl, CTRL_LEN, STOP);
      Atomics.add(s.ctrl, CTRL_GEN, 1);
      Atomics.notify(s.ctrl, CTRL_GEN);
    }
    await Promise.all(this.slots.map((s) => s.w.terminate()));
  }

  private fail(e: Error): void {
    this.failure = e;
    for (const s of this.slots) s.pending?.reject(e);
  }
}
