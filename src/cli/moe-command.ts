// `amalgam moe CONFIG OUT_DIR`: mergekit-moe's command line.
import { AmalgamError } from "../errors.ts";
import { buildMoe } from "../moe/build-moe.ts";
import { parseMoeConfig } from "../moe/moe-config.ts";
import { formatHelp } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { HELP_FLAG, jsonFlag } from "./common-flags.ts";
import { COMPANION_MERGE_FLAGS, runOptions } from "./companion-flags.ts";
import { readConfigText } from "./read-config.ts";
import { moeResultData } from "./companion-results.ts";
import type { CliHost } from "./host.ts";
import { runCommand } from "./run-command.ts";
import { fmtBytes } from "./progress.ts";

const HIDDEN_ONLY = "only matters for gate_mode hidden, which Amalgam does not support";

const FLAGS: readonly FlagSpec[] = [
  { name: "i-understand-this-is-not-useful-without-training", kind: "boolean", default: false, help: "allow every expert to be the same model (for training afterwards)" },
  { name: "load-in-4bit", kind: "boolean", default: false, ignoredNote: HIDDEN_ONLY, help: "ignored (hidden-state gates only)" },
  { name: "load-in-8bit", kind: "boolean", default: false, ignoredNote: HIDDEN_ONLY, help: "ignored (hidden-state gates only)" },
  ...COMPANION_MERGE_FLAGS,
  jsonFlag("progress per tensor, warning, result"),
  HELP_FLAG,
];

export const MOE_HELP = formatHelp(
  "amalgam moe CONFIG OUT_DIR [options]",
  `Build a mixture of experts from dense models (MergeKit's mergekit-moe). Attention, norms and
embeddings come from base_model; every layer's MLP comes from each expert; one router per layer.

  base_model: path/to/base
  gate_mode: cheap_embed      # cheap_embed | random | uniform_random (hidden is not supported)
  dtype: bfloat16
  experts_per_token: 2
  experts:
    - source_model: path/to/code_model
      positive_prompts: ["Write a Python function"]
      negative_prompts: ["Tell me a story"]     # optional
      residual_scale: 1.0                       # optional: scales the expert's down_proj
      noise_scale: 0.0                          # optional: adds normal noise to its MLP weights
    - source_model: path/to/chat_model
      positive_prompts: ["How are you today?"]
  shared_experts: []          # DeepSeek: <= 1 without prompts; Qwen MoE: exactly 1
  architecture: mixtral       # optional prefix of: Mixtral, DeepSeek MoE, Qwen MoE, Qwen3 MoE

The output architecture is Mixtral when it fits (llama/mistral experts, no shared expert), else
DeepSeek MoE or Qwen MoE (Qwen2-MoE) for llama/mistral/qwen2 inputs with a shared expert, or Qwen3
MoE for qwen3 inputs. cheap_embed routers are the normalized sums of the base model's token
embeddings of each expert's prompts; random gates come from the seeded generator (--random-seed).
OUT_DIR gets the safetensors, config.json, the base model's tokenizer and mergekit_moe_config.yml.`,
  FLAGS,
);

export async function moeCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "moe", flags: FLAGS, help: MOE_HELP }, argv, host, async (args, events) => {
    if (args.positionals.length !== 2) throw new AmalgamError("E_ARGS", `moe: expected CONFIG and OUT_DIR, got ${args.positionals.length} argument(s); see "amalgam moe --help"`);
    const [configPath, outDir] = args.positionals as [string, string];
    const config = parseMoeConfig(await readConfigText(host, configPath), configPath);
    const run = await runOptions(args, host, "moe", events);
    const start = host.now();
    const r = await buildMoe(config, {
      ...run.merge,
      kernels: run.merge.kernels as WebAssembly.Module,
      resolveModel: host.resolveModel,
      sink: await host.createSink(outDir),
      outputName: host.baseName(outDir),
      allowAllSame: args.flags["i-understand-this-is-not-useful-without-training"] === true,
    });
    run.endBar();
    const seconds = (host.now() - start) / 1000;
    events?.result(true, moeResultData(outDir, r, seconds));
    if (!run.quiet) {
      host.stderr(`built a ${r.architecture} model with ${r.experts} expert(s)${r.sharedExperts ? ` and ${r.sharedExperts} shared` : ""}: ${r.plan.tensors.length} tensors (${fmtBytes(r.plan.totalBytes)}) in ${outDir} in ${seconds.toFixed(2)} s\n`);
      if (run.verbose >= 1) host.stderr(`files: ${r.files.join(", ")}\n`);
    }
    return 0;
  });
}
