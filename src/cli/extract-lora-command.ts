// `amalgam extract-lora --model M --base-model B --out-path P`: mergekit-extract-lora's command line.
import { AmalgamError } from "../errors.ts";
import { DEFAULT_MAX_RANK, extractLora } from "../lora/extract-lora.ts";
import { DEFAULT_OVERSAMPLE, DEFAULT_POWER_ITERATIONS } from "../lora/randomized-svd.ts";
import { formatHelp } from "./args.ts";
import type { FlagSpec, ParsedArgs } from "./args.ts";
import { HELP_FLAG, jsonFlag, parseSeed } from "./common-flags.ts";
import { COMPANION_MERGE_FLAGS } from "./companion-flags.ts";
import { extractLoraResultData } from "./companion-results.ts";
import type { CliHost } from "./host.ts";
import { runCommand } from "./run-command.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "model", kind: "string", valueName: "M", help: "the fine-tuned model (required; path[@rev][+lora])" },
  { name: "base-model", kind: "string", valueName: "B", help: "the base model it was tuned from (required)" },
  { name: "out-path", kind: "string", valueName: "DIR", help: "where the adapter is written (required)" },
  { name: "max-rank", kind: "string", valueName: "R", default: String(DEFAULT_MAX_RANK), help: `largest rank of a module's factors (default ${DEFAULT_MAX_RANK})` },
  { name: "distribute-scale", kind: "boolean", negatable: true, default: true, help: "split the singular values as sqrt(s) into A and B (default on; off: A = s V^T, B = U)" },
  { name: "embed-lora", kind: "boolean", negatable: true, default: false, help: "decompose embeddings too (default: save them at full rank)" },
  { name: "save-module", kind: "string", valueName: "NAME", multiple: true, help: "save this module (full name or last component) at full rank; repeatable" },
  { name: "exclude-regex", short: "e", kind: "string", valueName: "RE", multiple: true, help: "leave out modules matching RE; repeatable" },
  { name: "include-regex", short: "i", kind: "string", valueName: "RE", multiple: true, help: "only modules matching RE; repeatable" },
  { name: "sv-epsilon", kind: "string", valueName: "X", default: "0", help: "drop singular values <= X (default 0: keep --max-rank)" },
  { name: "skip-undecomposable", kind: "boolean", negatable: true, default: false, help: "leave out modules that are not linear or embedding (norms) instead of saving them at full rank" },
  { name: "oversample", kind: "string", valueName: "N", default: String(DEFAULT_OVERSAMPLE), help: `randomized SVD: extra sketch columns (default ${DEFAULT_OVERSAMPLE})` },
  { name: "power-iterations", kind: "string", valueName: "N", default: String(DEFAULT_POWER_ITERATIONS), help: `randomized SVD: power iterations (default ${DEFAULT_POWER_ITERATIONS}; more is closer to the exact SVD)` },
  ...COMPANION_MERGE_FLAGS,
  jsonFlag("progress per module, warning, result"),
  HELP_FLAG,
];

export const EXTRACT_LORA_HELP = formatHelp(
  "amalgam extract-lora --model M --base-model B --out-path DIR [options]",
  `Extract a PEFT LoRA adapter from a fine-tune (MergeKit's mergekit-extract-lora). The difference of
every linear weight (and, with --embed-lora, embedding) between M and B is factored by a truncated
SVD (randomized, with power iterations, in the WebAssembly kernels) into lora_A / lora_B; biases
give lora_B.bias; embeddings, the output head and norms are saved at full rank (modules_to_save).
DIR gets adapter_model.safetensors, adapter_config.json (r = lora_alpha = the largest rank, smaller
ranks in rank_pattern / alpha_pattern) and README.md. Load it with PEFT, or merge it back with a
"model+adapter_dir" reference in any amalgam config.`,
  FLAGS,
);

function intFlag(args: ParsedArgs, name: string, min: number): number {
  const v = Number(args.flags[name]);
  if (!Number.isSafeInteger(v) || v < min) throw new AmalgamError("E_ARGS", `--${name}: expected an integer >= ${min}, got "${String(args.flags[name])}"`);
  return v;
}

function list(args: ParsedArgs, name: string): string[] {
  const v = args.flags[name];
  return Array.isArray(v) ? [...(v as readonly string[])] : [];
}

export async function extractLoraCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "extract-lora", flags: FLAGS, help: EXTRACT_LORA_HELP }, argv, host, async (args, events) => {
    if (args.positionals.length) throw new AmalgamError("E_ARGS", `extract-lora: unexpected argument "${args.positionals[0]}"; see "amalgam extract-lora --help"`);
    for (const f of ["model", "base-model", "out-path"]) {
      if (typeof args.flags[f] !== "string" || !args.flags[f]) throw new AmalgamError("E_ARGS", `extract-lora: --${f} is required; see "amalgam extract-lora --help"`);
    }
    const svEpsilon = Number(args.flags["sv-epsilon"]);
    if (!Number.isFinite(svEpsilon) || svEpsilon < 0) throw new AmalgamError("E_ARGS", `--sv-epsilon: expected a number >= 0, got "${String(args.flags["sv-epsilon"])}"`);
    const quiet = args.flags["quiet"] === true || events !== undefined;
    const warn = (m: string) => (events ? events.warning(m) : host.stderr(`warning: ${m}\n`));
    for (const n of args.notes) events ? events.warning(n) : host.stderr(`${n}\n`);
    const model = args.flags["model"] as string;
    const baseModel = args.flags["base-model"] as string;
    const outPath = args.flags["out-path"] as string;
    const local = new Set<string>();
    for (const ref of [model, baseModel]) {
      for (const p of ref.split("+").map((x) => x.split("@")[0]!)) if ((await host.listDir(p)).length) local.add(p);
    }
    const start = host.now();
    const verbose = (args.flags["verbose"] as number | undefined) ?? 0;
    const result = await extractLora({
      resolveModel: host.resolveModel,
      sink: await host.createSink(outPath),
      kernels: await host.loadKernelModule(false),
      model, baseModel,
      maxRank: intFlag(args, "max-rank", 1),
      distributeScale: args.flags["distribute-scale"] !== false,
      embedLora: args.flags["embed-lora"] === true,
      saveModules: list(args, "save-module"),
      include: list(args, "include-regex"),
      exclude: list(args, "exclude-regex"),
      svEpsilon,
      skipUndecomposable: args.flags["skip-undecomposable"] === true,
      overwrite: args.flags["overwrite"] === true,
      oversample: intFlag(args, "oversample", 0),
      powerIterations: intFlag(args, "power-iterations", 0),
      randomSeed: parseSeed(args),
      invocation: ["amalgam", "extract-lora", ...argv].join(" "),
      outputName: host.baseName(outPath),
      isLocal: (p) => local.has(p),
      onWarning: warn,
      onProgress: (p) => {
        // Modules, not tensors: the byte counts are 0 (a module's cost is its SVD, not its size).
        events?.progress({ tensorsDone: p.done, tensorsTotal: p.total, bytesDone: 0, bytesTotal: 0, tensor: p.module });
        if (verbose >= 1) host.stderr(`extract-lora: ${p.done}/${p.total} ${p.module}\n`);
      },
    });
    const seconds = (host.now() - start) / 1000;
    events?.result(true, extractLoraResultData(outPath, result, seconds));
    if (!quiet) {
      const ranks = [...result.ranks.values()];
      host.stderr(`extracted ${ranks.length} LoRA module(s) (rank ${Math.min(...ranks)}-${Math.max(...ranks)}) and ${result.modules.filter((m) => m.action.kind === "save").length} full-rank module(s) into ${outPath} in ${seconds.toFixed(2)} s\n`);
    }
    return 0;
  });
}
