export { defaultResolver, fsResolver, FsModelDirectory } from "./fs-model.ts";
export { FsOutputSink } from "./fs-sink.ts";
export { loadKernelModule, wasmPath } from "./wasm.ts";
export { main, nodeCliHost } from "./cli.ts";
export { nodeThreadPool, defaultThreadCount } from "./thread-pool.ts";
