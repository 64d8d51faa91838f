export interface WorkerBundle {
  /** dist/workers/worker.js */
  readonly script: string;
  /** dist/workers/amalgam.wasm, imported by the script as a module */
  readonly wasm: string;
}
export function bundleWorkers(options?: { outdir?: string; quiet?: boolean }): Promise<WorkerBundle>;
