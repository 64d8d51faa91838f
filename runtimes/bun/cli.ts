// `bun runtimes/bun/cli.ts merge CONFIG OUT [flags]`: the same CLI as Node, threads as Web Workers.
import { runCli } from "../../src/cli/main.ts";
import { nodeCliHost } from "../node/cli.ts";
import { webThreadPool } from "../web/thread-pool.ts";

export function bunCliHost() {
  return nodeCliHost({ threadPool: webThreadPool() });
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2), bunCliHost());
}
