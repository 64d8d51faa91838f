// `amalgam` on Node: wires the file system, the kernel module and the terminal into the CLI.
import { readdir, readFile, rm } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { runCli } from "../../src/cli/main.ts";
import type { CliHost } from "../../src/cli/host.ts";
import { defaultResolver } from "./fs-model.ts";
import { FsOutputSink } from "./fs-sink.ts";
import { loadKernelModule } from "./wasm.ts";
import { defaultThreadCount, nodeThreadPool } from "./thread-pool.ts";

/** The CLI host over node: APIs (also used by Deno and Bun, which provide them), with overrides. */
export function nodeCliHost(overrides: Partial<CliHost> = {}): CliHost {
  return {
    resolveModel: defaultResolver(process.cwd()),
    readTextFile: (p) => readFile(p, "utf8"),
    createSink: (dir, options) => FsOutputSink.create(dir, options),
    loadKernelModule,
    threadPool: nodeThreadPool,
    defaultThreads: defaultThreadCount(),
    baseName: (p) => basename(resolve(p)),
    listDir: (p) => readdir(p).catch(() => []),
    removeFile: (p) => rm(p, { force: true }),
    joinPath: (d, n) => join(d, n),
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    stderrIsTTY: process.stderr.isTTY === true,
    stderrColumns: process.stderr.columns ?? 80,
    now: () => performance.now(),
    ...overrides,
  };
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  // A reader that stops early (`| head`) closes the pipe: stop quietly instead of crashing.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
  const code = await runCli(argv, nodeCliHost());
  process.exitCode = code;
}
