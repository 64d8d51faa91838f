// `amalgam merge CONFIG OUT_DIR`: mergekit-yaml's command line.
import { merge } from "../executor/merge.ts";
import { DEVICE_CHOICES } from "../gpu/gpu-merge.ts";
import type { DeviceChoice } from "../gpu/gpu-merge.ts";
import { AmalgamError } from "../errors.ts";
import { formatHelp, parseSize } from "./args.ts";
import type { FlagSpec, ParsedArgs } from "./args.ts";
import { HELP_FLAG, jsonFlag, parseSeed, parseThreads } from "./common-flags.ts";
import type { CliHost } from "./host.ts";
import { fmtBytes } from "./progress.ts";
import { progressBar } from "./progress-bar.ts";
import { stagingName } from "../output/output-dir.ts";
import { buildPlan } from "../plan/build-plan.ts";
import { planSummaryText, summarizePlan } from "../inspect/plan-summary.ts";
import type { JsonEvents } from "./json-events.ts";
import { readConfig } from "./read-config.ts";
import { runCommand } from "./run-command.ts";

const IGNORED = "means nothing in Amalgam (accepted for MergeKit compatibility)";

export const MERGE_FLAGS: readonly FlagSpec[] = [
  { name: "out-shard-size", kind: "string", valueName: "SIZE", default: "5B", help: "largest output shard in bytes, K/M/B suffixes (default 5B)" },
  { name: "copy-tokenizer", kind: "boolean", negatable: true, default: true, help: "copy the donor's tokenizer and generation files (default on)" },
  { name: "write-model-card", kind: "boolean", negatable: true, default: true, help: "write README.md and mergekit_config.yml (default on)" },
  { name: "random-seed", kind: "string", valueName: "N", help: "seed for random methods (dare, della, ...)" },
  { name: "memory-budget", kind: "string", valueName: "SIZE", help: "bytes of tile buffers in flight, K/M/B suffixes (default 256M)" },
  { name: "direct-writes", kind: "boolean", negatable: true, default: true, help: "write output shards with direct I/O where the file system takes it (Linux): much less CPU; --no-direct-writes leaves the output in the page cache (default on)" },
  { name: "shard", kind: "string", valueName: "I/N", help: "compute only part I of N of the output shards (see \"amalgam assemble\")" },
  { name: "fix-quirks", kind: "boolean", negatable: true, default: false, help: "apply fixes for MergeKit's documented quirks instead of reproducing them (docs/compat.md)" },
  { name: "allow-crimes", kind: "boolean", negatable: true, default: false, help: "allow merging models of different architectures" },
  { name: "verbose", short: "v", kind: "count", default: 0, help: "more output (-v: plan summary, -vv: every tensor)" },
  { name: "quiet", kind: "boolean", negatable: true, default: false, help: "no progress bar" },
  { name: "overwrite", kind: "boolean", negatable: true, default: false, help: "write into a non-empty OUT_DIR (files of the same names are replaced, others left)" },
  { name: "resume", kind: "boolean", negatable: true, default: true, help: "resume an interrupted run of the same merge into OUT_DIR: verified finished shards are kept (default on)" },
  { name: "dry-run", kind: "boolean", default: false, help: "print the plan summary (models, output size, shards) and exit without merging" },
  jsonFlag("plan, progress, warning, result"),
  HELP_FLAG,
  { name: "lazy-unpickle", kind: "boolean", negatable: true, ignoredNote: IGNORED, help: "ignored: tensors are always read lazily" },
  { name: "clone-tensors", kind: "boolean", negatable: true, ignoredNote: IGNORED, help: "ignored: tensors are never shared" },
  { name: "low-cpu-memory", kind: "boolean", negatable: true, ignoredNote: IGNORED, help: "ignored: memory is always bounded by the tensors in flight" },
  { name: "cuda", kind: "boolean", negatable: true, ignoredNote: "is ignored; Amalgam reaches GPUs through WebGPU with --device gpu or auto", help: "ignored (see --device)" },
  { name: "safe-serialization", kind: "boolean", negatable: true, ignoredNote: "is always on: output is safetensors", help: "ignored: output is always safetensors" },
  { name: "trust-remote-code", kind: "boolean", negatable: true, ignoredNote: IGNORED, help: "ignored: no model code is run" },
  { name: "async-write", kind: "boolean", negatable: true, ignoredNote: IGNORED, help: "ignored" },
  { name: "read-to-gpu", kind: "boolean", negatable: true, ignoredNote: IGNORED, help: "ignored" },
  { name: "multi-gpu", kind: "boolean", negatable: true, ignoredNote: IGNORED, help: "ignored" },
  { name: "gpu-rich", kind: "boolean", negatable: true, ignoredNote: IGNORED, help: "ignored" },
  { name: "transformers-cache", kind: "string", valueName: "DIR", ignoredNote: IGNORED, help: "ignored: models are local directories" },
  { name: "lora-merge-cache", kind: "string", valueName: "DIR", ignoredNote: IGNORED, help: "ignored" },
  { name: "lora-merge-dtype", kind: "string", valueName: "DTYPE", ignoredNote: IGNORED, help: "ignored" },
  { name: "device", kind: "string", valueName: "DEV", default: "cpu", help: "cpu (default), gpu (WebGPU: Deno, browsers) or auto (a GPU adapter that is not a CPU/fallback one, for large tensors); outputs are identical (docs/gpu.md)" },
  { name: "threads", short: "j", kind: "string", valueName: "N", help: "worker threads for the kernels (default: the CPU count; 1 = no workers)" },
  { name: "num-threads", kind: "string", valueName: "N", help: "MergeKit's name for --threads" },
  { name: "write-threads", kind: "string", valueName: "N", ignoredNote: IGNORED, help: "ignored" },
];

export const MERGE_HELP = formatHelp(
  "amalgam merge CONFIG OUT_DIR [options]",
  "Merge the models of a MergeKit YAML config into OUT_DIR (safetensors, config.json, tokenizer, model card).\nModel paths in the config are resolved against the current directory, as MergeKit does.",
  MERGE_FLAGS,
);

export async function mergeCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "merge", flags: MERGE_FLAGS, help: MERGE_HELP }, argv, host, (args, events) => runMerge(args, host, events));
}

async function runMerge(args: ParsedArgs, host: CliHost, events: JsonEvents | undefined): Promise<number> {
  if (args.positionals.length !== 2) {
    throw new AmalgamError("E_ARGS", `merge: expected CONFIG and OUT_DIR, got ${args.positionals.length} argument(s); see "amalgam merge --help"`);
  }
  const [configPath, outDir] = args.positionals as [string, string];
  const quiet = args.flags["quiet"] === true || events !== undefined;
  const verbose = (args.flags["verbose"] as number) ?? 0;
  for (const n of args.notes) events ? events.warning(n) : host.stderr(`${n}\n`);
  const outShardSize = parseSize(String(args.flags["out-shard-size"]), "--out-shard-size");
  const randomSeed = parseSeed(args);
  let part: { index: number; count: number } | undefined;
  if (args.flags["shard"] !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(String(args.flags["shard"]));
    if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) throw new AmalgamError("E_ARGS", `--shard: expected I/N with 1 <= I <= N (e.g. 2/4), got "${String(args.flags["shard"])}"`);
    part = { index: Number(m[1]), count: Number(m[2]) };
  }
  const config = await readConfig(host, configPath);
  const threads = parseThreads(args, host.defaultThreads);
  const { device, note: deviceNote } = parseDevice(String(args.flags["device"]));
  if (deviceNote) events ? events.warning(deviceNote) : host.stderr(`${deviceNote}\n`);
  let plan: Awaited<ReturnType<typeof buildPlan>> | undefined;
  if (args.flags["dry-run"] || events || verbose >= 1) {
    plan = await buildPlan(config, { resolveModel: host.resolveModel, outShardSize });
    const summary = summarizePlan(plan, part);
    events?.plan(summary);
    if (!events && !args.flags["dry-run"]) host.stderr(planSummaryText({ ...summary, warnings: [] }));
    if (args.flags["dry-run"]) {
      for (const m of plan.models) await m.files.dir.close?.();
      if (events) {
        for (const w of plan.warnings) events.warning(w);
        events.result(true, { dryRun: true, out: outDir, files: [], seconds: 0, threads: 0, peakKernelBytes: 0 });
      } else {
        host.stdout(`dry run: nothing written to ${outDir}\n${planSummaryText(summary)}`);
      }
      return 0;
    }
  }
  const useWorkers = threads > 1 && host.threadPool !== undefined;
  let module: Awaited<ReturnType<typeof host.loadKernelModule>>;
  let sink: Awaited<ReturnType<typeof host.createSink>>;
  try {
    module = await host.loadKernelModule(useWorkers);
    sink = await host.createSink(outDir, { staging: stagingName(part ?? "merge"), directWrites: args.flags["direct-writes"] !== false });
  } catch (e) {
    // merge() closes the plan's files once it has them; before that, they are ours to close
    if (plan) for (const m of plan.models) await m.files.dir.close?.().catch(() => {});
    throw e;
  }
  const start = host.now();
  const bar = progressBar(host, !quiet && host.stderrIsTTY);
  const result = await merge(config, {
    resolveModel: host.resolveModel,
    sink,
    kernels: module,
    outputName: host.baseName(outDir),
    outShardSize,
    copyTokenizer: args.flags["copy-tokenizer"] !== false,
    writeModelCard: args.flags["write-model-card"] !== false,
    randomSeed,
    fixQuirks: args.flags["fix-quirks"] === true,
    allowCrimes: args.flags["allow-crimes"] === true,
    threadPool: useWorkers ? host.threadPool : undefined,
    threadCount: threads,
    part,
    device,
    memoryBudget: args.flags["memory-budget"] !== undefined ? parseSize(String(args.flags["memory-budget"]), "--memory-budget") : undefined,
    plan,
    overwrite: args.flags["overwrite"] === true,
    resume: args.flags["resume"] !== false,
    onResume: (kept, total) => {
      const m = `resuming: ${kept.length} of ${total} shard(s) finished by an earlier run are verified and kept`;
      if (events) events.warning(m);
      else if (!quiet) host.stderr(`${m}\n`);
    },
    onWarning: (m) => (events ? events.warning(m) : host.stderr(`${bar.clearLine()}warning: ${m}\n`)),
    onProgress: (p) => {
      events?.progress(p);
      if (verbose >= 2) host.stderr(`merged ${p.tensor}\n`);
      bar.draw(p);
    },
  });
  bar.end();
  const secs = (host.now() - start) / 1000;
  events?.result(true, { dryRun: false, out: outDir, files: result.files, seconds: secs, threads: result.threads, peakKernelBytes: result.peakKernelBytes });
  if (!quiet) {
    if (part) host.stderr(`part ${part.index}/${part.count}: wrote ${result.files.filter((f) => f.endsWith(".safetensors")).join(", ") || "no shards (more parts than shards)"}; run "amalgam assemble ${outDir}" when every part is done\n`);
    else host.stderr(`merged ${result.plan.tensors.length} tensors (${fmtBytes(result.plan.totalBytes)}, ${result.plan.numLayers} layers) with ${result.plan.method.name} into ${outDir} in ${secs.toFixed(2)} s\n`);
    if (verbose >= 1) host.stderr(`files: ${result.files.join(", ")}\nthreads: ${result.threads}, kernel memory: ${fmtBytes(result.peakKernelBytes)}\n`);
    if (verbose >= 1 && result.gpu) host.stderr(`gpu: ${result.gpu.adapter}: ${result.gpu.tensors} tensor(s) on the GPU, ${result.gpu.redone} redone on the CPU\n`);
  }
  return 0;
}

/** --device: Amalgam's cpu|gpu|auto; MergeKit's torch device names (cuda, cuda:0, mps, ...) mean auto. */
export function parseDevice(value: string): { device: DeviceChoice; note?: string } {
  if ((DEVICE_CHOICES as readonly string[]).includes(value)) return { device: value as DeviceChoice };
  if (/^(cuda|mps|xpu|npu|hip)(:\d+)?$/.test(value)) {
    return { device: "auto", note: `note: --device ${value} is a torch device; Amalgam computes through WebGPU and treats it as --device auto` };
  }
  throw new AmalgamError("E_ARGS", `--device: expected cpu, gpu or auto, got "${value}"`);
}
