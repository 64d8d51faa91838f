import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { merge } from "../../src/executor/merge.ts";
import type { MergeOptions, MergeResult } from "../../src/executor/merge.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { FsOutputSink } from "../../runtimes/node/fs-sink.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";

export const GOLDEN = resolve(import.meta.dirname, "..", "golden");

import { tempDir } from "./temp-dirs.ts";

export { tempDir };

/** Runs a merge of YAML text with model paths resolved against `cwd`, into `out`. */
export async function runMerge(yaml: string, cwd: string, out: string, extra: Partial<MergeOptions> = {}): Promise<MergeResult & { warnings: string[] }> {
  const warnings: string[] = [];
  const result = await merge(parseMergeConfig(yaml, "test.yml"), {
    resolveModel: fsResolver(cwd),
    sink: await FsOutputSink.create(out),
    kernels: await loadKernelModule(),
    outputName: out.split("/").pop(),
    onWarning: (m) => warnings.push(m),
    ...extra,
  });
  return { ...result, warnings };
}

/** Merges golden config `name` into a fresh directory and returns the directory. */
export async function runGolden(name: string, extra: Partial<MergeOptions> = {}): Promise<{ out: string; warnings: string[] }> {
  const out = join(tempDir(), name);
  const yaml = readFileSync(join(GOLDEN, "configs", `${name}.yml`), "utf8");
  const seedLine = /oracle-args:.*--random-seed (\d+)/.exec(yaml);
  const r = await runMerge(yaml, GOLDEN, out, { randomSeed: seedLine ? Number(seedLine[1]) : undefined, ...extra });
  return { out, warnings: r.warnings };
}
