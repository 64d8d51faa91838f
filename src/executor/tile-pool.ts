// Where tile jobs run: on the calling thread (InlineTilePool), or on a host's worker threads that
// share the wasm memory (runtimes/node/thread-pool.ts). Any pool gives the same bytes.
import type { Kernels } from "../kernels/kernels.ts";
import type { TileJob, TileResult } from "./tile-job.ts";
import { runTileJob } from "./tile-job.ts";

export interface TilePool {
  /** Jobs that can run at once. */
  readonly threads: number;
  run(job: TileJob): Promise<TileResult>;
  close(): Promise<void>;
}

/** What a pool factory gets: the module, the shared memory and one scratch region per thread. */
export interface TilePoolInit {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly scratch: readonly { readonly start: number; readonly end: number }[];
}

export type TilePoolFactory = (init: TilePoolInit) => Promise<TilePool>;

/** Runs jobs synchronously on the calling thread. */
export class InlineTilePool implements TilePool {
  readonly threads = 1;
  private constructor(private readonly k: Kernels) {}

  /** Runs on `kernels`' own instance, confined to the first scratch region. */
  static create(kernels: Kernels, region: { readonly start: number; readonly end: number }): InlineTilePool {
    return new InlineTilePool(kernels.withRegion(region));
  }

  async run(job: TileJob): Promise<TileResult> {
    return runTileJob(this.k, job);
  }

  async close(): Promise<void> {}
}
