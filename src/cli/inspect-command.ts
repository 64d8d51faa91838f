import type { CliHost } from "./host.ts";
export async function inspectCommand(_argv: readonly string[], _host: CliHost): Promise<number> { return 0; }
