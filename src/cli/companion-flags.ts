// The MergeOptions flags shared by the companion commands (multi, pytorch, moe, extract-lora), as
// MergeKit shares them through add_merge_options, turned into merge options for one run.
import { AmalgamError } from "../errors.ts";
import type { MergeOptions, MergeProgress } from "../executor/merge.ts";
import { parseSize } from "./args.ts";
import type { FlagSpec, ParsedArgs } from "./args.ts";
import type { CliHost } from "./host.ts";
import type { JsonEvents } from "./json-events.ts";
import { MERGE_FLAGS, parseDevice } from "./merge-command.ts";
import { progressLine } from "./progress.ts";

/** `amalgam merge`'s own features that the companion commands do not have. */
const MERGE_ONLY = new Set(["shard", "help", "dry-run", "json"]);

/** Every `amalgam merge` flag but the merge command's own features (parts, dry runs, its --json help). */
export const COMPANION_MERGE_FLAGS: readonly FlagSpec[] = MERGE_FLAGS.filter((f) => !MERGE_ONLY.has(f.name));

/** --json of a companion command; `events` lists what it writes besides start and result or error. */
export function jsonFlag(events: string): FlagSpec {
  return { name: "json", kind: "boolean", default: false, help: `newline-delimited JSON events on stdout (${events})` };
}

export const HELP_FLAG: FlagSpec = { name: "help", short: "h", kind: "boolean", default: false, help: "show this help" };

/** Options of one run, derived from the flags. */
export interface RunOptions {
  readonly quiet: boolean;
  readonly verbose: number;
  readonly showBar: boolean;
  /** Merge options without resolveModel, sink, and outputName. */
  readonly merge: Omit<MergeOptions, "resolveModel" | "sink" | "outputName">;
  warn(message: string): void;
  /** Ends a progress bar line, if one is drawn. */
  endBar(): void;
}

export function parseSeed(args: ParsedArgs): number | undefined {
  if (args.flags["random-seed"] === undefined) return undefined;
  const seed = Number(args.flags["random-seed"]);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new AmalgamError("E_ARGS", `--random-seed: expected a non-negative integer, got "${String(args.flags["random-seed"])}"`);
  return seed;
}

/**
 * The run's options. With `events` (--json) there is no text on stdout or stderr but -vv lines:
 * notes and warnings become `warning` events, progress `progress` events, and `quiet` is true.
 */
export async function runOptions(args: ParsedArgs, host: CliHost, label: string, events?: JsonEvents): Promise<RunOptions> {
  const quiet = args.flags["quiet"] === true || events !== undefined;
  const verbose = (args.flags["verbose"] as number | undefined) ?? 0;
  let drawn = false;
  const warn = (m: string) => (events ? events.warning(m) : host.stderr(`${drawn ? "\r\x1b[K" : ""}warning: ${m}\n`));
  for (const n of args.notes) events ? events.warning(n) : host.stderr(`${n}\n`);
  const threadsArg = args.flags["threads"] ?? args.flags["num-threads"];
  let threads = host.defaultThreads;
  if (threadsArg !== undefined) {
    threads = Number(threadsArg);
    if (!Number.isSafeInteger(threads) || threads < 1 || threads > 256) throw new AmalgamError("E_ARGS", `--threads: expected an integer from 1 to 256, got "${String(threadsArg)}"`);
  }
  const useWorkers = threads > 1 && host.threadPool !== undefined;
  const module = await host.loadKernelModule(useWorkers);
  const showBar = !quiet && host.stderrIsTTY;
  const { device, note: deviceNote } = parseDevice(String(args.flags["device"] ?? "cpu"));
  if (deviceNote) events ? events.warning(deviceNote) : host.stderr(`${deviceNote}\n`);
  const start = host.now();
  let lastDraw = 0;
  return {
    quiet,
    verbose,
    showBar,
    warn,
    endBar: () => {
      if (drawn) host.stderr("\n");
      drawn = false;
    },
    merge: {
      kernels: module,
      outShardSize: parseSize(String(args.flags["out-shard-size"] ?? "5B"), "--out-shard-size"),
      copyTokenizer: args.flags["copy-tokenizer"] !== false,
      writeModelCard: args.flags["write-model-card"] !== false,
      randomSeed: parseSeed(args),
      fixQuirks: args.flags["fix-quirks"] === true,
      allowCrimes: args.flags["allow-crimes"] === true,
      overwrite: args.flags["overwrite"] === true,
      device,
      threadPool: useWorkers ? host.threadPool : undefined,
      threadCount: threads,
      memoryBudget: args.flags["memory-budget"] !== undefined ? parseSize(String(args.flags["memory-budget"]), "--memory-budget") : undefined,
      onWarning: warn,
      onProgress: (p: MergeProgress) => {
        events?.progress(p);
        if (verbose >= 2) host.stderr(`${label}: merged ${p.tensor}\n`);
        if (!showBar) return;
        const now = host.now();
        if (now - lastDraw < 100 && p.tensorsDone < p.tensorsTotal) return;
        lastDraw = now;
        drawn = true;
        host.stderr(`\r\x1b[K${label} ${progressLine(p, (now - start) / 1000, host.stderrColumns - label.length - 1)}`);
      },
    },
  };
}

/** Reads a config file named on the command line (E_ARGS when it cannot be read). */
export async function readConfigText(host: CliHost, path: string): Promise<string> {
  try {
    return await host.readTextFile(path);
  } catch (e) {
    throw new AmalgamError("E_ARGS", `cannot read config ${path}: ${(e as Error).message}`);
  }
}
