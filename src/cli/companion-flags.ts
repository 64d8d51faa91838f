// The MergeOptions flags shared by the companion commands (multi, pytorch, moe, extract-lora), as
// MergeKit shares them through add_merge_options, turned into merge options for one run.
import type { MergeOptions, MergeProgress } from "../executor/merge.ts";
import { parseSize } from "./args.ts";
import type { FlagSpec, ParsedArgs } from "./args.ts";
import { parseSeed, parseThreads } from "./common-flags.ts";
import type { CliHost } from "./host.ts";
import type { JsonEvents } from "./json-events.ts";
import { MERGE_FLAGS, parseDevice } from "./merge-command.ts";
import { progressBar } from "./progress-bar.ts";

/** `amalgam merge`'s own features that the companion commands do not have. */
const MERGE_ONLY = new Set(["shard", "help", "dry-run", "json"]);

/** Every `amalgam merge` flag but the merge command's own features (parts, dry runs, its --json help). */
export const COMPANION_MERGE_FLAGS: readonly FlagSpec[] = MERGE_FLAGS.filter((f) => !MERGE_ONLY.has(f.name));

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

/**
 * The run's options. With `events` (--json) there is no text on stdout or stderr but -vv lines:
 * notes and warnings become `warning` events, progress `progress` events, and `quiet` is true.
 */
export async function runOptions(args: ParsedArgs, host: CliHost, label: string, events?: JsonEvents): Promise<RunOptions> {
  const quiet = args.flags["quiet"] === true || events !== undefined;
  const verbose = (args.flags["verbose"] as number | undefined) ?? 0;
  for (const n of args.notes) events ? events.warning(n) : host.stderr(`${n}\n`);
  const threads = parseThreads(args, host.defaultThreads);
  const useWorkers = threads > 1 && host.threadPool !== undefined;
  const module = await host.loadKernelModule(useWorkers);
  const showBar = !quiet && host.stderrIsTTY;
  const { device, note: deviceNote } = parseDevice(String(args.flags["device"] ?? "cpu"));
  if (deviceNote) events ? events.warning(deviceNote) : host.stderr(`${deviceNote}\n`);
  const bar = progressBar(host, showBar, label);
  const warn = (m: string) => (events ? events.warning(m) : host.stderr(`${bar.clearLine()}warning: ${m}\n`));
  return {
    quiet,
    verbose,
    showBar,
    warn,
    endBar: () => bar.end(),
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
        bar.draw(p);
      },
    },
  };
}
