// Reading (and parsing) the CONFIG argument of a command; E_ARGS when the file cannot be read.
import { parseMergeConfig } from "../config/parse-config.ts";
import type { MergeConfig } from "../config/types.ts";
import { AmalgamError } from "../errors.ts";
import type { CliHost } from "./host.ts";

export async function readConfigText(host: CliHost, path: string): Promise<string> {
  try {
    return await host.readTextFile(path);
  } catch (e) {
    throw new AmalgamError("E_ARGS", `cannot read config ${path}: ${(e as Error).message}`);
  }
}

export async function readConfig(host: CliHost, path: string): Promise<MergeConfig> {
  return parseMergeConfig(await readConfigText(host, path), path);
}
