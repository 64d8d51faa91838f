// Runs the CLI in-process with the Node host, capturing stdout and stderr.
import { runCli } from "../../../src/cli/main.ts";
import { nodeCliHost } from "../../../runtimes/node/cli.ts";

export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, nodeCliHost({ stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, stderrIsTTY: false, defaultThreads: 1 }));
  return { code, stdout, stderr };
}
