// `amalgam multi CONFIG --intermediate-dir DIR [--out-path P]`: mergekit-multi's command line,
// plus --single-pass (no intermediate files).
import { AmalgamError } from "../errors.ts";
import { parseMultiConfig, stageLabel } from "../multi/multi-config.ts";
import { runMulti } from "../multi/run-multi.ts";
import { formatHelp } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { HELP_FLAG, jsonFlag } from "./common-flags.ts";
import { COMPANION_MERGE_FLAGS, runOptions } from "./companion-flags.ts";
import { readConfigText } from "./read-config.ts";
import { mergeRunData } from "./companion-results.ts";
import type { MultiStageData } from "./companion-results.ts";
import type { CliHost } from "./host.ts";
import { runCommand } from "./run-command.ts";
import { fmtBytes } from "./progress.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "intermediate-dir", short: "I", kind: "string", valueName: "DIR", help: "where named merges are written, one directory per name (required)" },
  { name: "out-path", kind: "string", valueName: "DIR", help: "where the unnamed final merge is written (required when there is one)" },
  { name: "lazy", kind: "boolean", negatable: true, default: true, help: "skip merges whose output already has config.json and weights (default on)" },
  { name: "single-pass", kind: "boolean", negatable: true, default: false, help: "evaluate intermediate merges tensor by tensor in memory instead of writing them" },
  ...COMPANION_MERGE_FLAGS,
  jsonFlag("stage start/merged/skipped, progress per tensor, warning, result"),
  HELP_FLAG,
];

export const MULTI_HELP = formatHelp(
  "amalgam multi CONFIG --intermediate-dir DIR [--out-path DIR] [options]",
  `Run a recipe of merges that feed each other (MergeKit's mergekit-multi). CONFIG holds several YAML
documents separated by "---", each a merge config with an optional "name:". A named merge is
written to DIR/<name>; a model path equal to another document's name reads that merge's output.
Merges run in dependency order; a cycle or a repeated name is an error; at most one document is
unnamed, and it is written to --out-path.

  name: stage1
  merge_method: linear
  models: [{model: a, parameters: {weight: 0.5}}, {model: b, parameters: {weight: 0.5}}]
  ---
  merge_method: task_arithmetic
  base_model: base
  models: [{model: stage1, parameters: {weight: 1.0}}]

--single-pass writes only the outputs no other merge reads (the final merge, and named merges
nothing depends on); the merges they read are evaluated tensor by tensor, never written, with the
same bytes a staged run produces.`,
  FLAGS,
);

export async function multiCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "multi", flags: FLAGS, help: MULTI_HELP }, argv, host, async (args, events) => {
    if (args.positionals.length !== 1) throw new AmalgamError("E_ARGS", `multi: expected CONFIG, got ${args.positionals.length} argument(s); see "amalgam multi --help"`);
    const intermediateDir = args.flags["intermediate-dir"];
    if (typeof intermediateDir !== "string" || !intermediateDir) throw new AmalgamError("E_ARGS", `multi: --intermediate-dir (-I) is required; see "amalgam multi --help"`);
    const outPath = typeof args.flags["out-path"] === "string" ? args.flags["out-path"] : undefined;
    const configPath = args.positionals[0]!;
    const multi = parseMultiConfig(await readConfigText(host, configPath), configPath, intermediateDir, host.joinPath);
    const run = await runOptions(args, host, "multi", events);
    const start = host.now();
    const stages: MultiStageData[] = [];
    const result = await runMulti(multi, {
      resolveModel: host.resolveModel,
      createSink: (d) => host.createSink(d),
      listDir: (d) => host.listDir(d),
      joinPath: host.joinPath,
      baseName: host.baseName,
      intermediateDir,
      outPath,
      lazy: args.flags["lazy"] !== false,
      singlePass: args.flags["single-pass"] === true,
      merge: run.merge,
      onStage: (e) => {
        const name = e.stage.name ?? null;
        events?.stage({ name, out: e.outDir, status: e.status });
        if (e.status === "skipped") stages.push({ name, status: "skipped", out: e.outDir });
        else if (e.status === "merged") stages.push({ name, status: "merged", evaluated: e.evaluated ?? [], ...mergeRunData(e.outDir, e.result!) });
        if (run.quiet) return;
        if (e.status === "skipped") {
          host.stderr(`skipped ${stageLabel(e.stage)}: ${e.outDir} already has a model (--no-lazy merges it again)\n`);
        } else if (e.status === "merged") {
          run.endBar();
          const p = e.result!.plan;
          const via = e.evaluated?.length ? ` (evaluated on the fly: ${e.evaluated.map((n) => `"${n}"`).join(", ")})` : "";
          host.stderr(`merged ${stageLabel(e.stage)}: ${p.tensors.length} tensors (${fmtBytes(p.totalBytes)}) with ${p.method.name} into ${e.outDir}${via}\n`);
        }
      },
    });
    const seconds = (host.now() - start) / 1000;
    events?.result(true, { out: outPath ?? null, intermediateDir, singlePass: args.flags["single-pass"] === true, stages, seconds });
    if (!run.quiet) host.stderr(`${result.written.length} merge(s) written, ${result.skipped.length} skipped, in ${seconds.toFixed(2)} s\n`);
    return 0;
  });
}
