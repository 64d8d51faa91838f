// Amalgam as a library inside your own Worker: `import { merge, r2Resolver, R2OutputSink } from
// "amalgam/runtimes/workers/mod.ts"` and import the kernels yourself
// (`import kernels from "amalgam/build/amalgam.wasm"`; wrangler bundles it as a CompiledWasm module).
export { merge } from "../../src/executor/merge.ts";
export type { MergeOptions, MergeProgress, MergeResult } from "../../src/executor/merge.ts";
export { parseMergeConfig } from "../../src/config/parse-config.ts";
export { buildPlan } from "../../src/plan/build-plan.ts";
export { AmalgamError, isAmalgamError } from "../../src/errors.ts";
export { Kernels } from "../../src/kernels/kernels.ts";
export { httpResolver } from "../../src/io/http-model.ts";
export type { ByteSource, FileWriter, ModelDirectory, OutputSink, ResolveModel } from "../../src/io/storage.ts";
export { r2Resolver, R2ModelDirectory, parseR2Ref, isR2Ref } from "./r2-model.ts";
export { R2OutputSink, DEFAULT_PART_SIZE, R2_MIN_PART } from "./r2-sink.ts";
export type { R2SinkOptions } from "./r2-sink.ts";
export { SafetensorsStreamSink } from "./stream-sink.ts";
export { workersResolver, WORKER_CONNECTIONS } from "./resolver.ts";
export { withIsolateKernels, kernelStats } from "./isolate-kernels.ts";
export { handleMerge, DEFAULT_WORKER_BUDGET, DEFAULT_MAX_WASM_BYTES } from "./merge-request.ts";
export type { WorkerEnv } from "./merge-request.ts";
export type { R2BucketLike } from "./r2-types.ts";
