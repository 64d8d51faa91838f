// `amalgam check CONFIG`: whether a merge would succeed, without merging; exit code 0 if so, 1 if not.
import { AmalgamError } from "../errors.ts";
import { Kernels } from "../kernels/kernels.ts";
import { checkMerge } from "../inspect/check-merge.ts";
import { timeWrites } from "../inspect/merge-estimate.ts";
import { checkText } from "../inspect/check-text.ts";
import { formatHelp, parseSize } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { HELP_FLAG, jsonFlag, parseThreads } from "./common-flags.ts";
import type { CliHost } from "./host.ts";
import { runCommand } from "./run-command.ts";
import { readConfigText } from "./read-config.ts";

/** Bytes written to OUT_DIR to time the disk (then removed). */
const WRITE_SAMPLE_BYTES = 32_000_000;

const FLAGS: readonly FlagSpec[] = [
  { name: "out-shard-size", kind: "string", valueName: "SIZE", default: "5B", help: "output shard size, as for merge" },
  { name: "threads", short: "j", kind: "string", valueName: "N", help: "threads the merge would use (default: the CPU count)" },
  { name: "memory-budget", kind: "string", valueName: "SIZE", help: "tile buffer budget the merge would use (default 256M)" },
  { name: "no-estimate", kind: "boolean", default: false, help: "skip the time estimate (it reads a sample of the inputs, times the kernels and, with OUT_DIR, a write)" },
  { name: "allow-crimes", kind: "boolean", negatable: true, default: false, help: "accepted, as for merge" },
  jsonFlag("the report is the result event"),
  HELP_FLAG,
];

export const CHECK_HELP = formatHelp(
  "amalgam check CONFIG [OUT_DIR] [options]",
  "Check a merge without running it: the config, that every needed tensor exists in every model with a\ncompatible shape and dtype, vocabularies and tokenizers (which tokens differ), the output's size and\nshards, and an estimate of time and peak memory on this machine (with OUT_DIR, the write speed there\nis timed with a 32 MB file that is removed again). Problems are listed with what to change.\nExit code 0: the merge would succeed; 1: it would not.",
  FLAGS,
);

export async function checkCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "check", flags: FLAGS, help: CHECK_HELP }, argv, host, async (args, events) => {
    if (args.positionals.length < 1 || args.positionals.length > 2) throw new AmalgamError("E_ARGS", `check: expected CONFIG [OUT_DIR], got ${args.positionals.length} argument(s); see "amalgam check --help"`);
    const [path, outDir] = args.positionals as [string, string | undefined];
    const threads = parseThreads(args, host.defaultThreads);
    const workers = threads > 1 && host.threadPool !== undefined;
    const kernels = args.flags["no-estimate"] ? undefined : await Kernels.instantiate(await host.loadKernelModule(workers));
    const report = await checkMerge(await readConfigText(host, path), path, {
      resolveModel: host.resolveModel,
      outShardSize: parseSize(String(args.flags["out-shard-size"]), "--out-shard-size"),
      memoryBudget: args.flags["memory-budget"] !== undefined ? parseSize(String(args.flags["memory-budget"]), "--memory-budget") : undefined,
      kernels,
      threads,
      workers,
      now: () => host.now(),
      measureWriteRate: outDir !== undefined && kernels ? async () => timeWrites(await host.createSink(outDir), WRITE_SAMPLE_BYTES, () => host.now()) : undefined,
    });
    if (events) {
      if (report.plan) events.plan(report.plan);
      for (const w of report.warnings) events.warning(w);
      events.result(report.ok, report);
    } else {
      host.stdout(checkText(report));
    }
    return report.ok ? 0 : 1;
  });
}
