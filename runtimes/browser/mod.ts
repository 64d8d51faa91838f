// Amalgam in the browser, as one ES module (dist/browser/amalgam.js):
//   import { merge, parseMergeConfig, httpResolver, localFilesResolver, DirectorySink,
//            loadKernelModule, browserThreadPool, threadsAvailable } from "./amalgam.js";
export { merge } from "../../src/executor/merge.ts";
export type { MergeOptions, MergeProgress, MergeResult } from "../../src/executor/merge.ts";
export { parseMergeConfig } from "../../src/config/parse-config.ts";
export { buildPlan } from "../../src/plan/build-plan.ts";
export { AmalgamError, isAmalgamError } from "../../src/errors.ts";
export { listMethods } from "../../src/methods/registry.ts";
export { httpResolver, isUrlRef, isHubRef } from "../../src/io/http-model.ts";
export type { ByteSource, FileWriter, ModelDirectory, OutputSink, ResolveModel } from "../../src/io/storage.ts";
export { localFilesResolver, LocalModelDirectory, filesFromInput, filesFromDirectoryHandle, modelFolders } from "./file-model.ts";
export type { LocalFile } from "./file-model.ts";
export { DirectorySink, downloadBlob } from "./directory-sink.ts";
export { loadKernelModule, browserThreadPool, threadsAvailable } from "./kernels.ts";
