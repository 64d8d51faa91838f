// A tile worker for runtimes with Web Workers (Deno, Bun, browsers): the first message carries the
// setup; serveTileJobs does the rest.
import { serveTileJobs } from "./serve-jobs.ts";
import type { WorkerSetup } from "./protocol.ts";

interface WorkerScope {
  onmessage: ((e: MessageEvent<WorkerSetup>) => void) | null;
  postMessage(m: unknown): void;
  close(): void;
}
const scope = globalThis as unknown as WorkerScope;

scope.onmessage = (e: MessageEvent<WorkerSetup>) => {
  scope.onmessage = null;
  void serveTileJobs(e.data, (m) => scope.postMessage(m)).then(() => scope.close());
};
