// A CLI host over the real Node runtime that captures stdout and stderr (tests only).
import { nodeCliHost } from "../../runtimes/node/cli.ts";
import type { CliHost } from "../../src/cli/host.ts";
import { runCli } from "../../src/cli/main.ts";

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as newline-delimited JSON (for --json runs). */
  events(): Record<string, unknown>[];
  /** The `data` of the result event. */
  result<T>(): T;
}

export async function cli(argv: readonly string[], overrides: Partial<CliHost> = {}): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const host = nodeCliHost({ stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, stderrIsTTY: false, ...overrides });
  const code = await runCli(argv, host);
  const events = () => stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    code, stdout, stderr, events,
    result<T>() {
      const r = events().find((e) => e["type"] === "result");
      if (!r) throw new Error(`no result event in:\n${stdout}\n${stderr}`);
      return r["data"] as T;
    },
  };
}
