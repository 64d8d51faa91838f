// The dispatch protocol between a thread pool and its tile workers (Node worker_threads and Web
// Workers alike): a per-worker control word pair in a SharedArrayBuffer — CTRL_GEN is bumped and
// notified for each job, CTRL_LEN holds the job's byte length in the shared mailbox (STOP ends the
// worker) — and results come back as messages.

export const CTRL_GEN = 0;
export const CTRL_LEN = 1;
export const STOP = -1;
/** Largest serialized job (a tile's parameters are a few hundred bytes). */
export const MAILBOX_BYTES = 1 << 20;

export interface WorkerSetup {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly scratch: { readonly start: number; readonly end: number };
  readonly ctrl: SharedArrayBuffer;
  readonly mailbox: SharedArrayBuffer;
}

export interface WorkerReply {
  readonly ready?: boolean;
  readonly result?: import("../../src/executor/tile-job.ts").TileResult;
  readonly error?: { readonly code: string; readonly message: string };
}
