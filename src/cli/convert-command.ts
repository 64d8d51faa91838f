import type { CliHost } from "./host.ts";
export async function convertCommand(_argv: readonly string[], _host: CliHost): Promise<number> { return 0; }
