import type { OutputSink, ResolveModel } from "../io/storage.ts";
import type { TilePoolFactory } from "../executor/tile-pool.ts";

/** What a runtime gives the CLI: I/O, the kernel module, and its terminal. */
export interface CliHost {
  readonly resolveModel: ResolveModel;
  readTextFile(path: string): Promise<string>;
  /**
   * An atomic sink writing into the output directory (created if needed); `staging` names its
   * hidden staging folder there (see stagingName: parts of one merge each have their own);
   * `directWrites: false` keeps output writes in the page cache where the host would bypass it.
   */
  createSink(outDir: string, options?: { readonly staging?: string; readonly directWrites?: boolean }): Promise<OutputSink>;
  /** The kernel module: the threads build (shared memory) when `threads`, else the single-threaded one. */
  loadKernelModule(threads: boolean): Promise<WebAssembly.Module>;
  /** Worker threads, where the runtime has them. */
  readonly threadPool?: TilePoolFactory;
  /** Threads to use when --threads is not given. */
  readonly defaultThreads: number;
  /** File names in a directory ([] when it does not exist). */
  listDir(path: string): Promise<string[]>;
  removeFile(path: string): Promise<void>;
  joinPath(dir: string, name: string): string;
  /** Last path component of a directory (the model card's title). */
  baseName(path: string): string;
  stdout(text: string): void;
  stderr(text: string): void;
  readonly stderrIsTTY: boolean;
  readonly stderrColumns: number;
  now(): number;
}
