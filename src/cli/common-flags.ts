// Flags several commands share, and the values of --threads and --random-seed.
import { AmalgamError } from "../errors.ts";
import type { FlagSpec, ParsedArgs } from "./args.ts";

export const HELP_FLAG: FlagSpec = { name: "help", short: "h", kind: "boolean", default: false, help: "show this help" };

/** --json; `events` says what the command writes besides start and result or error. */
export function jsonFlag(events: string): FlagSpec {
  return { name: "json", kind: "boolean", default: false, help: `newline-delimited JSON events on stdout (${events})` };
}

/** --threads (or MergeKit's --num-threads where the command has it): 1 to 256, else the host's default. */
export function parseThreads(args: ParsedArgs, defaultThreads: number): number {
  const value = args.flags["threads"] ?? args.flags["num-threads"];
  if (value === undefined) return defaultThreads;
  const threads = Number(value);
  if (!Number.isSafeInteger(threads) || threads < 1 || threads > 256) throw new AmalgamError("E_ARGS", `--threads: expected an integer from 1 to 256, got "${String(value)}"`);
  return threads;
}

/** --random-seed: a non-negative integer, or undefined when not given. */
export function parseSeed(args: ParsedArgs): number | undefined {
  if (args.flags["random-seed"] === undefined) return undefined;
  const seed = Number(args.flags["random-seed"]);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new AmalgamError("E_ARGS", `--random-seed: expected a non-negative integer, got "${String(args.flags["random-seed"])}"`);
  return seed;
}
