// `deno run -A runtimes/deno/cli.ts merge CONFIG OUT [flags]`: the same CLI as Node. File I/O goes
// through Deno's node:fs (positional reads, which Deno.FsFile lacks); threads are Web Workers.
import { runCli } from "../../src/cli/main.ts";
import { nodeCliHost } from "../node/cli.ts";
import { webThreadPool } from "../web/thread-pool.ts";

declare const Deno: { args: string[]; exit(code: number): never };

export function denoCliHost() {
  return nodeCliHost({ threadPool: webThreadPool() });
}

if (import.meta.main) {
  const code = await runCli(Deno.args, denoCliHost());
  Deno.exit(code);
}
