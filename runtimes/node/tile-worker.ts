// A worker thread of the Node thread pool (setup arrives as workerData).
import { parentPort, workerData } from "node:worker_threads";
import { serveTileJobs } from "../web/serve-jobs.ts";
import type { WorkerSetup } from "../web/protocol.ts";

await serveTileJobs(workerData as WorkerSetup, (m) => parentPort!.postMessage(m));
