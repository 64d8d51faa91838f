// Amalgam as a Deno library: `import { merge, parseMergeConfig, ... } from ".../runtimes/deno/mod.ts"`.
export * from "../../src/index.ts";
export { fsResolver, FsModelDirectory } from "../node/fs-model.ts";
export { FsOutputSink } from "../node/fs-sink.ts";
export { loadKernelModule } from "../node/wasm.ts";
export { webThreadPool } from "../web/thread-pool.ts";
export { denoCliHost } from "./cli.ts";
