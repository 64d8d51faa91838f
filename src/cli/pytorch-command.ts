// `amalgam pytorch CONFIG OUT_DIR`: mergekit-pytorch's command line (raw state-dict merges).
import { parseMergeConfig } from "../config/parse-config.ts";
import { merge } from "../executor/merge.ts";
import { AmalgamError } from "../errors.ts";
import { buildRawPlan } from "../pytorch/raw-plan.ts";
import type { MissingTensors } from "../pytorch/raw-plan.ts";
import { formatHelp } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { HELP_FLAG, jsonFlag } from "./common-flags.ts";
import { COMPANION_MERGE_FLAGS, runOptions } from "./companion-flags.ts";
import { readConfigText } from "./read-config.ts";
import { mergeRunData } from "./companion-results.ts";
import type { CliHost } from "./host.ts";
import { runCommand } from "./run-command.ts";
import { fmtBytes } from "./progress.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "tensor-intersection", short: "i", kind: "boolean", default: false, help: "only merge tensors that every input has (others are left out)" },
  { name: "tensor-union", short: "u", kind: "boolean", default: false, help: "merge every tensor any input has, from the inputs that have it" },
  ...COMPANION_MERGE_FLAGS,
  jsonFlag("progress per tensor, warning, result"),
  HELP_FLAG,
];

export const PYTORCH_HELP = formatHelp(
  "amalgam pytorch CONFIG OUT_DIR [options]",
  `Merge arbitrary state dicts (MergeKit's mergekit-pytorch): diffusion models, encoders, anything.
Each model in the config is one .safetensors or .bin file; there is no architecture: every tensor
name is merged on its own with the config's method (gradients use their first value). A tensor
missing from some input is an error unless -i or -u. OUT_DIR gets model.safetensors (sharded with
an index above --out-shard-size) and nothing else. Integer and boolean buffers are left out.

  merge_method: linear
  models:
    - model: a/diffusion_pytorch_model.safetensors
      parameters: {weight: 0.6}
    - model: b/diffusion_pytorch_model.bin
      parameters: {weight: 0.4}
  dtype: float16

As in mergekit-pytorch, a per-model parameter of 0 counts as not set (it falls back to the
top-level value or the default); --fix-quirks uses the 0.`,
  FLAGS,
);

export async function pytorchCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "pytorch", flags: FLAGS, help: PYTORCH_HELP }, argv, host, async (args, events) => {
    if (args.positionals.length !== 2) {
      throw new AmalgamError("E_ARGS", `pytorch: expected CONFIG and OUT_DIR, got ${args.positionals.length} argument(s); see "amalgam pytorch --help"`);
    }
    const [configPath, outDir] = args.positionals as [string, string];
    const run = await runOptions(args, host, "pytorch", events);
    const inter = args.flags["tensor-intersection"] === true;
    const union = args.flags["tensor-union"] === true;
    if (inter && union) run.warn("both -i and -u given: -i wins, as in MergeKit");
    const missing: MissingTensors = inter ? "intersection" : union ? "union" : "error";
    const config = parseMergeConfig(await readConfigText(host, configPath), configPath);
    const plan = await buildRawPlan(config, { resolveModel: host.resolveModel, outShardSize: run.merge.outShardSize, missing, fixQuirks: run.merge.fixQuirks });
    const start = host.now();
    const result = await merge(config, { ...run.merge, plan, modelFiles: false, resolveModel: host.resolveModel, sink: await host.createSink(outDir), outputName: host.baseName(outDir) });
    run.endBar();
    const seconds = (host.now() - start) / 1000;
    events?.result(true, { ...mergeRunData(outDir, result), models: plan.models.length, seconds });
    if (!run.quiet) {
      host.stderr(`merged ${plan.tensors.length} tensors (${fmtBytes(plan.totalBytes)}) of ${plan.models.length} state dicts with ${plan.method.name} into ${outDir} in ${seconds.toFixed(2)} s\n`);
      if (run.verbose >= 1) host.stderr(`files: ${result.files.join(", ")}\n`);
    }
    return 0;
  });
}
